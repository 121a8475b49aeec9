"""The run workflow's activities as test fakes: same names and contracts, no database, no Jira.

They record what the workflow asked for. Batches of a held phase wait until released, heartbeating
meanwhile so that a pause or cancel reaches them, so a test can act mid-batch without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.heartbeat import heartbeating
from migrayt.contracts.execution import (
    BatchInput,
    CreateItemsInput,
    CreateItemsResult,
    NotificationsInput,
    NotificationsResult,
    PhaseBatchInput,
    PhaseBatchResult,
    PreflightInput,
    PreflightResult,
    RunEventInput,
    RunEventResult,
)
from migrayt.contracts.runs import PhaseCounters
from migrayt.contracts.savepoints import WriteSavepointInput, WriteSavepointResult
from migrayt.contracts.schedules import DeltaPlan, DeltaPrepareInput, SourceChangesInput

Batch = tuple[str, int, int]  # phase, tier, start
Bounds = tuple[str, int, int, int]  # phase, tier, start, end


class FakeRunActivities:
    def __init__(
        self,
        tier_sizes: list[int],
        hold: Iterable[str | Batch] = (),
        hold_event: str | None = None,
        refuse: Iterable[str] = (),
        fail: Iterable[str] = (),
        settled: str | None = None,
    ) -> None:
        self.tier_sizes = tier_sizes
        # Phases all of whose batches wait until released, and single batches that do.
        self.held_phases = {h for h in hold if isinstance(h, str)}
        self.held_batches = {h for h in hold if not isinstance(h, str)}
        # Phases whose batches fail for good (as a plugin's batch that Jira refuses outright).
        self.refused_phases = set(refuse)
        # Phases whose items all fail (the run ends INCOMPLETE), and the status its row settles at when it ends
        # (as record_run_event settles a run whose every failure was accepted already).
        self.failing_phases = set(fail)
        self.settled = settled
        # A run event whose recording waits (as a slow database would) until `release_event`.
        self.held_event = hold_event
        self._event_released = asyncio.Event()
        self.events: list[RunEventInput] = []
        self.savepoints: list[WriteSavepointInput] = []
        # Run events and savepoints, in the order the workflow asked for them ("savepoint:<reason>").
        self.timeline: list[str] = []
        # "mute" and "restore", in the order the workflow asked for them (not in `timeline`: runs before the
        # notifications patch make neither).
        self.notifications: list[str] = []
        self.fail_preflight = False
        self.started: list[Batch] = []
        self.finished: list[Batch] = []
        self.cut: list[Batch] = []
        # Each batch started, with its end (a batch redone after a cut is here again).
        self.sent: list[Bounds] = []
        # Batches asked for in the run's content order (a range over the whole work list, not a tier's).
        self.content_ordered: list[Batch] = []
        # ("started" | "finished" | "cut", batch), in the order they happened across every phase.
        self.log: list[tuple[str, Batch]] = []
        self._released = asyncio.Event()
        self._changed = asyncio.Condition()

    @property
    def activities(self) -> list[Callable]:
        return [
            self.preflight,
            self.create_items,
            self.run_phase_batch,
            self.record_run_event,
            self.write_savepoint,
            self.mute_notifications,
            self.restore_notifications,
        ]

    # --- what a test waits on and looks at -------------------------------------------------------

    async def wait_until(self, condition: Callable[[], bool], within: float = 30.0) -> None:
        """Wakes on each call the workflow makes; `within` only bounds a test whose workflow never gets there."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            raise AssertionError(f"the workflow never got there; run events recorded: {self.actions}") from None

    def release(self) -> None:
        """Held batches (those waiting and those to come) finish."""
        self._released.set()

    def release_event(self) -> None:
        self._event_released.set()

    @property
    def actions(self) -> list[str]:
        return [e.action for e in self.events]

    def event(self, action: str) -> RunEventInput:
        return next(e for e in self.events if e.action == action)

    @staticmethod
    def starts(batches: list[Batch], phase: str) -> list[int]:
        return [start for p, _, start in batches if p == phase]

    def bounds(self, phase: str) -> list[tuple[int, int]]:
        """(start, end) of each batch of the phase the workflow started, in the order it started them."""
        return [(start, end) for p, _, start, end in self.sent if p == phase]

    # --- the activities --------------------------------------------------------------------------

    @activity.defn(name="mute_notifications")
    async def mute_notifications(self, input: NotificationsInput) -> NotificationsResult:
        await self._note(self.notifications, "mute")
        return NotificationsResult(muted=True, original="Default Notification Scheme")

    @activity.defn(name="restore_notifications")
    async def restore_notifications(self, input: NotificationsInput) -> NotificationsResult:
        await self._note(self.notifications, "restore")
        return NotificationsResult(restored=True, original="Default Notification Scheme")

    @activity.defn(name="preflight")
    async def preflight(self, input: PreflightInput) -> PreflightResult:
        if self.fail_preflight:
            raise ApplicationError("the mapping plan does not fit Jira", type="BadMapping", non_retryable=True)
        return PreflightResult(tier_sizes=self.tier_sizes, items_total=sum(self.tier_sizes))

    @activity.defn(name="create_items")
    async def create_items(self, input: CreateItemsInput) -> CreateItemsResult:
        return CreateItemsResult(counters=await self._batch("create_items", input))

    @activity.defn(name="run_phase_batch")
    async def run_phase_batch(self, input: PhaseBatchInput) -> PhaseBatchResult:
        return PhaseBatchResult(counters=await self._batch(input.phase, input))

    @activity.defn(name="record_run_event")
    async def record_run_event(self, event: RunEventInput) -> RunEventResult:
        self.timeline.append(event.action)
        await self._note(self.events, event)
        if event.action == self.held_event:
            async with heartbeating(interval=0.1):
                await self._event_released.wait()
        if not event.finished:
            return RunEventResult(recorded=True)
        return RunEventResult(recorded=True, status=self.settled or event.status)

    @activity.defn(name="write_savepoint")
    async def write_savepoint(self, input: WriteSavepointInput) -> WriteSavepointResult:
        self.timeline.append(f"savepoint:{input.reason}")
        await self._note(self.savepoints, input)
        return WriteSavepointResult(name=f"savepoint-{len(self.savepoints)}.json", records=0)

    async def _batch(self, phase: str, input: BatchInput) -> PhaseCounters:
        batch = (phase, input.tier, input.start)
        if getattr(input, "content_order", False):
            self.content_ordered.append(batch)
        self.log.append(("started", batch))
        self.sent.append((phase, input.tier, input.start, input.end))
        await self._note(self.started, batch)
        if phase in self.held_phases or batch in self.held_batches:
            try:
                # Cancellation reaches an activity only in a heartbeat's answer.
                async with heartbeating(interval=0.1):
                    await self._released.wait()
            except asyncio.CancelledError:
                self.log.append(("cut", batch))
                await self._note(self.cut, batch)
                raise
        if phase in self.refused_phases:
            self.log.append(("finished", batch))
            await self._note(self.finished, batch)
            raise ApplicationError(
                f"{phase}: refused (HTTP 403): no permission", type="PluginRefused", non_retryable=True
            )
        self.log.append(("finished", batch))
        await self._note(self.finished, batch)
        size = input.end - input.start
        if phase in self.failing_phases:
            return PhaseCounters(total=size, failed=size)
        return PhaseCounters(total=size, created=size)

    async def _note(self, into: list, what: object) -> None:
        async with self._changed:
            into.append(what)
            self._changed.notify_all()


class FakeDeltaActivities(FakeRunActivities):
    """A delta sync's activities: its prepare (the changed items, as tiers) and its source-changes batch."""

    @property
    def activities(self) -> list[Callable]:
        return [*super().activities, self.delta_prepare, self.delta_source_changes]

    @activity.defn(name="delta_prepare")
    async def delta_prepare(self, input: DeltaPrepareInput) -> DeltaPlan:
        return DeltaPlan(tier_sizes=self.tier_sizes, items_total=sum(self.tier_sizes))

    @activity.defn(name="delta_source_changes")
    async def delta_source_changes(self, input: SourceChangesInput) -> PhaseBatchResult:
        return PhaseBatchResult(counters=await self._batch("source_changes", input))
