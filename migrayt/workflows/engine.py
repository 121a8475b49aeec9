"""The run engine both the migration run and the delta sync are built on. Orchestration only.

It goes through a list of phases from the registry (migrayt/contracts/phases.py) — each phase's batches in a
sliding window, `concurrency` at a time — and owns what every run shares: the controls (pause/resume/cancel
signals, PAUSED only once nothing writes any more, their audit events: migrayt/workflows/controls.py, shared
with the validation) and the progress query, pause and cancel cutting the batches under way, search
attributes, continue-as-new. A workflow
on it says only how it starts, what it carries over when it continues as new, and what it returns.

Side by side (a run's `phase_schedule`), the registry's `beside` phases next to each other run at once, each its
own window and its own cursor in the checkpoint (`_run_side_by_side`); otherwise one phase after the other.

In content order (heaviest items first, activities/execution/work_list.py) a run's first batch is the heaviest item
alone, then `batch_size` each (`batch_end`). A batch is over only once its slowest item is, and Jira paces the writes to
one issue: a first batch of the 50 heaviest items would hold the heaviest item's comments (which wait for the same
batch's files, side by side) until the files of all 50 are up, and its thread — the run's floor — would start
minutes late. Alone in the first batch, its files go up first and its comments begin seconds into the phase, while
the window of `concurrency` batches fills with the next heaviest. (A ramp of 1, 2, 4, 8, 16 items started the next
heaviest threads a little sooner too, but made three times the batches of a small run: 18% more CPU for a test run.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, get_type_hints

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from migrayt.activities.execution.notifications import NotificationActivities
    from migrayt.activities.execution.run_events import RunEventActivities
    from migrayt.activities.execution.savepoints import SavepointActivities
    from migrayt.contracts.execution import (
        BatchResult,
        NotificationsInput,
        PreflightInput,
        PreflightResult,
        RunEventInput,
        RunEventResult,
    )
    from migrayt.contracts.phases import Phase, PhaseKind, batched, run_phase_batch, side_by_side_groups
    from migrayt.contracts.phases import phase as registered
    from migrayt.contracts.runs import (
        FINAL_STATUSES,
        PhaseCounters,
        PhaseCursor,
        RunCheckpoint,
        RunProgress,
        RunStatus,
    )
    from migrayt.contracts.savepoints import WriteSavepointInput
    from migrayt.temporal.search_attributes import PHASE, STATUS
    from migrayt.workflows.controls import RunControls

# Runs since this patch: a plugin's batch that fails for good fails its items, not the run.
PLUGIN_ISOLATED = "plugin-isolated"
# Runs since this patch show the status their end settled at (COMPLETED_WITH_ACCEPTED_EXCEPTIONS when every
# failure was accepted already) in the MigrationStatus search attribute and the progress query, as the API does.
SETTLED_STATUS = "settled-status"
BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=25,
    non_retryable_error_types=["BadMapping", "BadConfiguration", "OutboundRefused", "RedirectRefused"],
)
# Activities heartbeat every 0.5 s: a batch on a killed worker is retried after this, not after its timeout.
HEARTBEAT = timedelta(seconds=10)
# A cut batch is over only once its activity has stopped, so PAUSED still means no more writes.
CANCELLATION = {True: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, False: ActivityCancellationType.TRY_CANCEL}
BOOKKEEPING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
# A savepoint helps a later recovery; a folder that cannot be written to must not stop the run.
SAVEPOINT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=3
)
# Putting the project's scheme back outlasts a Jira outage; a refusal (the permission taken away) is reported instead.
RESTORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["BadConfiguration"],
)


def batch_end(start: int, size: int, batch_size: int, ramped: bool = False) -> int:
    """Where the batch that starts at `start` of a range of `size` places ends: `batch_size` places on, or fewer at
    the range's end. Ramped (see the module's docstring), the first place is a batch of its own: 0, 1, 51, 101 … for
    50. A pure function of its arguments: a cut batch is redone, and a continued run goes on, with the same bounds."""
    end = 1 if ramped and start == 0 else start + batch_size
    return min(end, size)


@dataclass
class EngineRun:
    """What the engine needs of a workflow's input."""

    run_id: str
    migration_id: str
    tenant: str
    batch_size: int
    concurrency: int
    history_event_limit: int | None
    requested_by: str
    door: str
    original_run_id: str | None = None
    # Savepoints while batches run, at most this often (None or 0: only at phase ends and on pause).
    savepoint_every_minutes: float | None = None


@dataclass
class Lane:
    """One phase of a side-by-side group while it runs: its cursor (kept in the checkpoint) and its batches under
    way. `next_start` runs ahead of the cursor's `next_ordinal` by the batches in flight."""

    phase: Phase
    cursor: PhaseCursor
    sizes: list[int]
    waits_for: Lane | None = None
    next_start: int = 0
    redo: list[int] = field(default_factory=list)
    in_flight: dict[int, asyncio.Task[Any]] = field(default_factory=dict)
    cutting: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.next_start = self.cursor.next_ordinal
        self.redo = sorted(self.cursor.redo)

    @property
    def size(self) -> int:
        tier = self.cursor.tier
        return self.sizes[tier] if tier < len(self.sizes) else 0

    def done(self, tier: int, start: int) -> bool:
        """The batch at (tier, start) of this phase has finished for good (not under way, not cut to be redone)."""
        c = self.cursor
        if c.finished or tier < c.tier:
            return True
        return tier == c.tier and start < self.next_start and start not in self.redo and start not in self.in_flight

    def next_batch(self) -> int | None:
        """The start of the batch to launch next: one is left in the tier and the batch it waits for is done."""
        if self.redo:
            start = self.redo[0]
        elif self.next_start < self.size:
            start = self.next_start
        else:
            return None
        if self.waits_for is not None and not self.waits_for.done(self.cursor.tier, start):
            return None
        return start

    def advance(self) -> bool:
        """Past every tier with nothing left to run; True once the last is behind (the phase is over)."""
        while (
            self.cursor.tier < len(self.sizes) and not self.in_flight and not self.redo and self.next_start >= self.size
        ):
            self.cursor.tier += 1
            self.next_start = 0
        self.keep()
        return self.cursor.tier >= len(self.sizes)

    def keep(self) -> None:
        """Into the checkpoint: the first batch not yet finished, so a continued run redoes nothing finished."""
        self.cursor.next_ordinal = min(self.in_flight) if self.in_flight else self.next_start
        self.cursor.redo = sorted(self.redo)


class RunEngine(RunControls):
    """Base class of workflows that run registry phases; the subclass carries @workflow.defn and @workflow.run."""

    paused_status = RunStatus.PAUSED
    running_status = RunStatus.RUNNING

    # In the failure a run ends with: "<noun> failed in phase …".
    noun = "run"

    def __init__(self) -> None:
        super().__init__()
        self._run: EngineRun | None = None
        self._phases: list[str] = []
        self._cp = RunCheckpoint()
        self._status = RunStatus.RUNNING
        # While the final row is being written, the query still shows the status before it.
        self._shown_while_finishing: RunStatus | None = None
        self._phase: str | None = None
        self._cuts_batches = False
        # Set by a workflow that writes savepoints (behind its `workflow.patched`): at each phase end, on pause,
        # and while batches run once the last one is older than `savepoint_every_minutes`.
        self._savepoints = False
        self._last_savepoint: datetime | None = None
        # Set by a workflow whose run goes side by side (behind its `workflow.patched`): the registry's `beside`
        # phases next to each other run at once, each on its own cursor (`_run_side_by_side`).
        self._side_by_side = False
        # The phases of the side-by-side group under way that have not finished, in run order.
        self._running: list[str] = []
        # Set by a workflow that mutes the Jira project's notifications (behind its `workflow.patched`): it calls
        # `_mute_notifications` before its first write, and the project's own scheme is put back before it ends.
        self._mutes = False

    # --- doors: the progress query (the signals are the controls') ----------------------------

    @workflow.query
    def progress(self) -> RunProgress:
        return RunProgress(
            run_id=self._run.run_id if self._run else workflow.info().workflow_id,
            status=self._shown_while_finishing or self._status,
            phase=self._phase,
            pause_requested=self._pause_requested,
            cancel_requested=self._cancel_requested,
            counters=self._cp.counters,
            continued=self._cp.continued,
            phases=self._phases,
            phases_running=self._phases_running(),
        )

    def _phases_running(self) -> list[str]:
        if self._phase is None or (self._shown_while_finishing or self._status) in FINAL_STATUSES:
            return []
        return list(self._running) or [self._phase]

    # --- what a workflow on the engine says ------------------------------------------------------

    def _continued_input(self) -> BaseModel:
        """The workflow's input to continue as new with, carrying `self._cp`."""
        raise NotImplementedError

    async def _before_phases(self) -> None:
        """What a fresh workflow does once its start is recorded, before its first phase (a delta sync, which has no
        preflight, mutes Jira's notifications)."""

    async def _after_preflight(self) -> None:
        """What a workflow does once its preflight activity passed (a migration run mutes Jira's notifications)."""

    async def _before_finish(self) -> None:
        """What a workflow does before its final status is written, on every way a run ends (cancel included: the
        engine calls it shielded from Temporal's cancellation)."""
        await self._restore_notifications()

    def _batch_fields(self) -> dict[str, Any]:
        """More fields for every batch input (those a phase's input does not have are ignored)."""
        return {}

    # --- the phases -----------------------------------------------------------------------------

    async def _drive(self, fresh: bool) -> tuple[RunStatus, str | None]:
        """The phases from the checkpoint on, to the end; (final status, error). Ends the run's record."""
        assert self._run is not None
        self._pause_requested = self._cp.paused
        try:
            if fresh:
                await self._record("run_started", actor=self._run.requested_by, door=self._run.door)
                await self._before_phases()
            start = self._phases.index(self._cp.phase) if self._cp.phase is not None else self._cp.phase_index
            groups = {g[0]: g for g in side_by_side_groups(self._phases)} if self._side_by_side else {}
            index = start
            while index < len(self._phases):
                group = groups.get(self._phases[index])
                if group is not None:
                    self._cp.phase = group[0]
                    await self._run_side_by_side(group)
                    if self._cancel_requested:
                        return await self._finish(RunStatus.CANCELLED)
                    index += len(group)
                    self._cp.side_by_side = {}
                    self._cp.phase_index = index
                    self._cp.phase = self._phases[index] if index < len(self._phases) else None
                    continue
                phase = registered(self._phases[index])
                self._cp.phase = phase.name
                self._set_phase(phase.name)
                if self._cp.tier == 0 and self._cp.next_ordinal == 0 and not self._cp.phase_reported:
                    await self._record("phase_started")
                self._cp.phase_reported = True
                if phase.kind == PhaseKind.PREFLIGHT:
                    await self._wait_while_paused()
                    if self._cancel_requested:
                        return await self._finish(RunStatus.CANCELLED)
                    await self._preflight(phase)
                else:
                    await self._run_phase_batches(phase)
                    if self._cancel_requested:
                        return await self._finish(RunStatus.CANCELLED)
                await self._record("phase_finished")
                await self._savepoint("phase_end")
                self._cp.phase_index = index + 1
                self._cp.phase = self._phases[index + 1] if index + 1 < len(self._phases) else None
                self._cp.tier = 0
                self._cp.next_ordinal = 0
                self._cp.phase_reported = False
                index += 1
            failed = sum(c.failed for c in self._cp.counters.values())
            return await self._finish(RunStatus.INCOMPLETE if failed else RunStatus.COMPLETED)
        except asyncio.CancelledError:
            # Temporal's own cancellation request ends the run the same way as the cancel signal.
            self._cancel_requested = True
            await asyncio.shield(
                asyncio.ensure_future(self._finish(RunStatus.CANCELLED, actor="temporal-operator", door="temporal"))
            )
            raise
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await self._finish(RunStatus.FAILED, error=message)
            raise ApplicationError(f"{self.noun} failed in phase {self._phase}: {message}", non_retryable=True) from err

    async def _preflight(self, phase: Phase) -> None:
        assert self._run is not None
        result: PreflightResult = await workflow.execute_activity(
            phase.activity,
            PreflightInput(run_id=self._run.run_id, migration_id=self._run.migration_id),
            start_to_close_timeout=phase.batch_timeout,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
        )
        await self._after_preflight()
        self._cp.tier_sizes = result.tier_sizes
        for name in batched(self._phases):
            self._cp.counters[name].total = result.items_total

    async def _run_phase_batches(self, phase: Phase) -> None:
        """Sliding window of batches; pause/cancel/continue-as-new stop new launches.

        Pause and cancel also cut the in-flight batches: each is cancelled, stops its writes (a
        bulk create under way finishes and is recorded first), and runs again from its start on
        resume, where what it finished is skipped. A cut batch's counters are dropped; the rerun
        counts its items.
        """
        assert self._run is not None
        size_of = self._ranges(phase)
        cuts = self._cuts_batches
        while self._cp.tier < len(size_of):
            size = size_of[self._cp.tier]
            next_start = self._cp.next_ordinal
            redo: list[int] = list(self._cp.redo)
            in_flight: dict[int, asyncio.Task[Any]] = {}
            cutting: set[int] = set()
            while True:
                await self._apply_controls()
                if cuts and (self._pause_requested or self._cancel_requested):
                    for start, task in in_flight.items():
                        if start not in cutting:
                            cutting.add(start)
                            task.cancel()
                while (
                    not self._stop_launching()
                    and len(in_flight) < self._run.concurrency
                    and (redo or next_start < size)
                ):
                    if redo:
                        start = redo.pop(0)
                    else:
                        start, next_start = next_start, self._batch_end(phase, next_start, size)
                    end = self._batch_end(phase, start, size)
                    batch = self._batch(phase, self._cp.tier, start, end, cancellable=cuts)
                    in_flight[start] = asyncio.ensure_future(batch)
                if not in_flight:
                    self._cp.next_ordinal = next_start
                    self._cp.redo = list(redo)
                    if next_start >= size and not redo:
                        break
                    if self._cancel_requested:
                        return
                    if self._should_continue_as_new():
                        self._continue_as_new()
                    await self._wait_while_paused()
                    continue
                if cuts:
                    await workflow.wait_condition(partial(self._batch_done_or_to_cut, in_flight, cutting))
                    done = {t for t in in_flight.values() if t.done()}
                else:
                    done, _ = await workflow.wait(list(in_flight.values()), return_when=asyncio.FIRST_COMPLETED)
                for start, task in list(in_flight.items()):
                    if task not in done:
                        continue
                    del in_flight[start]
                    if start in cutting:
                        cutting.discard(start)
                        if task.cancelled() or task.exception() is not None:
                            redo.append(start)
                            continue
                    try:
                        result: BatchResult = task.result()
                    except ActivityError as err:
                        if phase.plugin is None or not workflow.patched(PLUGIN_ISOLATED):
                            raise
                        await self._plugin_batch_failed(phase, start, self._batch_end(phase, start, size), err)
                        continue
                    self._cp.counters[phase.name].add(result.counters)
                redo.sort()
                if self._savepoint_due():
                    await self._savepoint("periodic")
                # The cursor is the first batch not yet finished, so a continued run redoes nothing finished.
                pending_starts = sorted(in_flight)
                self._cp.next_ordinal = pending_starts[0] if pending_starts else next_start
            self._cp.tier += 1
            self._cp.next_ordinal = 0
            self._cp.redo = []

    async def _run_side_by_side(self, names: list[str]) -> None:
        """The phases of one side-by-side group at once, each with its own sliding window of `concurrency` batches
        and its own cursor in the checkpoint (`RunCheckpoint.side_by_side`); a phase with `after_batch_of` starts a
        batch only once that phase's same batch has finished. Pause, cancel and continue-as-new stop launches in
        every phase; pause and cancel cut every batch under way, redone on resume as in `_run_phase_batches`.
        """
        assert self._run is not None
        cursors = self._cp.side_by_side
        lanes = {
            n: Lane(registered(n), cursors.setdefault(n, PhaseCursor()), self._ranges(registered(n))) for n in names
        }
        for lane in lanes.values():
            after = lane.phase.after_batch_of
            lane.waits_for = lanes.get(after) if after else None
        for lane in lanes.values():
            if not lane.cursor.reported:
                await self._record("phase_started", phase=lane.phase.name)
                lane.cursor.reported = True
        await self._finish_lanes(lanes)
        while True:
            await self._apply_controls()
            if self._pause_requested or self._cancel_requested:
                for lane in lanes.values():
                    for start, task in lane.in_flight.items():
                        if start not in lane.cutting:
                            lane.cutting.add(start)
                            task.cancel()
            for lane in lanes.values():
                while not self._stop_launching() and len(lane.in_flight) < self._run.concurrency:
                    first = lane.next_batch()
                    if first is None:
                        break
                    if lane.redo and lane.redo[0] == first:
                        lane.redo.pop(0)
                    else:
                        lane.next_start = self._batch_end(lane.phase, first, lane.size)
                    end = self._batch_end(lane.phase, first, lane.size)
                    batch = self._batch(lane.phase, lane.cursor.tier, first, end, cancellable=True)
                    lane.in_flight[first] = asyncio.ensure_future(batch)
            if not any(lane.in_flight for lane in lanes.values()):
                for lane in lanes.values():
                    lane.keep()
                if all(lane.cursor.finished for lane in lanes.values()):
                    break
                if self._cancel_requested:
                    return
                if self._should_continue_as_new():
                    self._continue_as_new()
                if not self._pause_requested:
                    # Nothing under way, nothing launchable, not over: a batch waits for one no phase will run.
                    raise ApplicationError(f"side by side: no batch left to run in {names}", non_retryable=True)
                await self._wait_while_paused()
                continue
            await workflow.wait_condition(partial(self._lane_done_or_to_cut, list(lanes.values())))
            for lane in lanes.values():
                await self._take_finished(lane)
            await self._finish_lanes(lanes)
            if self._savepoint_due():
                await self._savepoint("periodic")
            for lane in lanes.values():
                lane.keep()
        self._running = []

    async def _finish_lanes(self, lanes: dict[str, Lane]) -> None:
        """Each lane past its tiers with nothing left to run; a phase that has run its last batch is over."""
        for lane in lanes.values():
            if not lane.cursor.finished and lane.advance():
                lane.cursor.finished = True
                self._show_running(lanes)
                await self._record("phase_finished", phase=lane.phase.name)
                await self._savepoint("phase_end", phase=lane.phase.name)
        self._show_running(lanes)

    async def _take_finished(self, lane: Lane) -> None:
        """A lane's finished batches into its counters; a cut one is redone later, its counters dropped."""
        assert self._run is not None
        for start, task in list(lane.in_flight.items()):
            if not task.done():
                continue
            del lane.in_flight[start]
            if start in lane.cutting:
                lane.cutting.discard(start)
                if task.cancelled() or task.exception() is not None:
                    lane.redo.append(start)
                    continue
            try:
                result: BatchResult = task.result()
            except ActivityError as err:
                if lane.phase.plugin is None:
                    # The run fails naming the phase whose batch failed.
                    self._set_phase(lane.phase.name)
                    raise
                end = self._batch_end(lane.phase, start, lane.size)
                await self._plugin_batch_failed(lane.phase, start, end, err)
                continue
            self._cp.counters[lane.phase.name].add(result.counters)
        lane.redo.sort()

    def _lane_done_or_to_cut(self, lanes: list[Lane]) -> bool:
        return any(self._batch_done_or_to_cut(lane.in_flight, lane.cutting) for lane in lanes)

    def _show_running(self, lanes: dict[str, Lane]) -> None:
        """The progress query and the MigrationPhase search attribute: the group's phases still running, the first
        of them as the run's phase (a keyword holds one)."""
        self._running = [name for name, lane in lanes.items() if not lane.cursor.finished]
        shown = self._running[0] if self._running else next(reversed(lanes))
        if shown != self._phase:
            self._set_phase(shown)

    async def _plugin_batch_failed(self, phase: Phase, start: int, end: int, err: ActivityError) -> None:
        """A plugin's batch that failed for good fails its items, not the run: the other plugins go on."""
        self._cp.counters[phase.name].failed += end - start
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        await self._record("plugin_failed", error=f"{phase.title}: {end - start} item(s) failed: {message}")

    def _content_ordered(self, phase: Phase) -> bool:
        return self._cp.content_order and phase.activity is run_phase_batch

    def _ranges(self, phase: Phase) -> list[int]:
        """The sizes of the ranges a phase's batches go through one after the other: the tiers, or in content order
        one range over the whole work list."""
        return [sum(self._cp.tier_sizes)] if self._content_ordered(phase) else self._cp.tier_sizes

    def _batch_end(self, phase: Phase, start: int, size: int) -> int:
        """The end of a phase's batch from its start: ramped in content order once the run was started so
        (`RunCheckpoint.ramped_batches`); side by side, a phase and the one it waits for (`after_batch_of`) are
        both content-ordered or neither, so their batches share their bounds and `Lane.done` can match by start."""
        assert self._run is not None
        ramped = self._cp.ramped_batches and self._content_ordered(phase)
        return batch_end(start, size, self._run.batch_size, ramped)

    async def _batch(self, phase: Phase, tier: int, start: int, end: int, cancellable: bool = False) -> BatchResult:
        assert self._run is not None
        batch_input = get_type_hints(phase.activity)["input"]
        # Only when set, so the inputs of runs before content order stay as they were.
        ordered = {"content_order": True} if self._content_ordered(phase) else {}
        return await workflow.execute_activity(
            phase.activity,
            batch_input(
                phase=phase.name,
                run_id=self._run.run_id,
                migration_id=self._run.migration_id,
                tier=tier,
                start=start,
                end=end,
                **ordered,
                **self._batch_fields(),
            ),
            start_to_close_timeout=phase.batch_timeout,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
            cancellation_type=CANCELLATION[cancellable],
        )

    # --- pause, resume, cancel ------------------------------------------------------------------

    def _batch_done_or_to_cut(self, in_flight: dict[int, asyncio.Task[Any]], cutting: set[int]) -> bool:
        """Wake for a finished batch, or for a pause/cancel with batches still to cut."""
        return any(t.done() for t in in_flight.values()) or (
            (self._pause_requested or self._cancel_requested) and len(cutting) < len(in_flight)
        )

    def _stop_launching(self) -> bool:
        return self._pause_requested or self._cancel_requested or self._should_continue_as_new()

    async def _paused_effective(self) -> None:
        await self._savepoint("pause")

    # --- bookkeeping ----------------------------------------------------------------------------

    def _set_phase(self, phase: str) -> None:
        self._phase = phase
        self._upsert_search_attributes()

    def _upsert_search_attributes(self) -> None:
        workflow.upsert_search_attributes(
            [STATUS.value_set(self._status.value), PHASE.value_set(self._phase or "preflight")]
        )

    def _history_event_limit(self) -> int | None:
        assert self._run is not None
        return self._run.history_event_limit

    def _continue_as_new(self) -> None:
        self._cp.continued += 1
        self._cp.paused = self._pause_requested
        workflow.continue_as_new(self._continued_input())

    def _savepoint_due(self) -> bool:
        assert self._run is not None
        every = self._run.savepoint_every_minutes
        if not self._savepoints or not every:
            return False
        if self._last_savepoint is None:
            self._last_savepoint = workflow.now()
        return workflow.now() - self._last_savepoint >= timedelta(minutes=every)

    async def _savepoint(self, reason: str, phase: str | None = None) -> None:
        """Writes a savepoint of the migration's records (see migrayt/store/savepoints.py); a failure is logged."""
        if not self._savepoints:
            return
        assert self._run is not None
        self._last_savepoint = workflow.now()
        try:
            await workflow.execute_activity_method(
                SavepointActivities.write_savepoint,
                WriteSavepointInput(
                    run_id=self._run.run_id,
                    migration_id=self._run.migration_id,
                    tenant=self._run.tenant,
                    reason=reason,
                    phase=phase or self._phase,
                ),
                start_to_close_timeout=timedelta(minutes=5),
                # At phase ends, where kills and restarts often land: a dead worker's savepoint is retried in
                # seconds, not after the 5 minutes a large one may take.
                heartbeat_timeout=HEARTBEAT,
                retry_policy=SAVEPOINT_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("savepoint not written (%s): %s", reason, err.cause or err)

    async def _mute_notifications(self) -> None:
        """Mutes the Jira project's notifications for the run (activities/execution/notifications.py)."""
        if not self._mutes:
            return
        assert self._run is not None
        await workflow.execute_activity_method(
            NotificationActivities.mute,
            NotificationsInput(run_id=self._run.run_id, migration_id=self._run.migration_id),
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
            # A cancelled mute has stopped before the restore reads the project's scheme.
            cancellation_type=CANCELLATION[True],
        )

    async def _restore_notifications(self) -> None:
        """Puts the project's own scheme back (or leaves it muted for another run that still holds the mute); a
        restore Jira refuses ends the run all the same, its audit trail saying why."""
        if not self._mutes:
            return
        assert self._run is not None
        try:
            await workflow.execute_activity_method(
                NotificationActivities.restore,
                NotificationsInput(run_id=self._run.run_id, migration_id=self._run.migration_id),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=RESTORE_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await self._record("notifications_not_restored", error=message)

    async def _record(
        self,
        action: str,
        actor: str = "system",
        door: str = "system",
        reason: str | None = None,
        error: str | None = None,
        finished: bool = False,
        phase: str | None = None,
    ) -> RunEventResult:
        assert self._run is not None
        self._cp.event_seq += 1
        return await workflow.execute_activity_method(
            RunEventActivities.record_run_event,
            RunEventInput(
                run_id=self._run.run_id,
                migration_id=self._run.migration_id,
                tenant=self._run.tenant,
                event_key=f"{self._run.run_id}:{self._cp.event_seq}",
                action=action,
                actor=actor,
                door=door,
                status=self._status.value,
                phase=phase or self._phase,
                counters=self._cp.counters,
                error=error or reason,
                finished=finished,
                original_run_id=self._run.original_run_id,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=BOOKKEEPING_RETRY,
        )

    async def _finish(
        self, status: RunStatus, error: str | None = None, actor: str = "system", door: str = "system"
    ) -> tuple[RunStatus, str | None]:
        await self._apply_controls()
        await self._before_finish()
        # A final status is shown only once its row (with the error) is in the database: whoever sees
        # FAILED through the query can read why at once.
        self._shown_while_finishing = self._status
        self._status = status
        self._upsert_search_attributes()
        recorded = await self._record("run_finished", actor=actor, door=door, error=error, finished=True)
        self._shown_while_finishing = None
        settled = RunStatus(recorded.status) if recorded.status else status
        if settled != status and workflow.patched(SETTLED_STATUS):
            self._status = settled
            self._upsert_search_attributes()
        return self._status, error


def fresh_counters(names: list[str], total: int = 0) -> dict[str, PhaseCounters]:
    return {name: PhaseCounters(total=total) for name in names}
