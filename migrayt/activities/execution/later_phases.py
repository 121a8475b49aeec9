"""Phases 3–8 as one activity that hands each batch to its phase."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.create_items import batch_rows
from migrayt.activities.execution.phase_attachments import AttachmentsPhase
from migrayt.activities.execution.phase_comments import CommentsPhase
from migrayt.activities.execution.phase_deps import PhaseDeps
from migrayt.activities.execution.phase_hierarchy import HierarchyPhase
from migrayt.activities.execution.phase_links import LinksPhase
from migrayt.activities.execution.phase_plugins import PluginsPhase
from migrayt.activities.execution.phase_transitions import TransitionsPhase
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.contracts.execution import PhaseBatchInput, PhaseBatchResult
from migrayt.contracts.runs import PhaseCounters
from migrayt.store.item_locks import ItemsBusy, claimed


class BatchPhase(Protocol):
    """One later phase: runs a batch of the run's items."""

    async def run_batch(self, input: PhaseBatchInput) -> PhaseBatchResult: ...


class LaterPhaseActivities:
    # The registry phases whose activity is run_phase_batch (migrayt/contracts/phases.py), each by its class.
    PHASE_CLASSES: ClassVar[dict[str, Callable[[PhaseDeps], BatchPhase]]] = {
        "hierarchy": HierarchyPhase,
        "links": LinksPhase,
        "attachments": AttachmentsPhase,
        "transitions": TransitionsPhase,
        "comments": CommentsPhase,
        "plugins": PluginsPhase,
    }

    def __init__(self, deps: PhaseDeps) -> None:
        self._deps = deps
        self._phases = {name: cls(deps) for name, cls in self.PHASE_CLASSES.items()}

    @activity.defn(name="run_phase_batch")
    @keeps_heartbeat
    async def run_phase_batch(self, input: PhaseBatchInput) -> PhaseBatchResult:
        ctx = await self._deps.contexts.load(input.migration_id)
        if input.phase in ctx.plan.skip_phases:
            rows = await batch_rows(self._deps.sessions, input.run_id, input.tier, input.start, input.end)
            return PhaseBatchResult(counters=PhaseCounters(total=len(rows), skipped=len(rows)))
        rows = await batch_rows(self._deps.sessions, input.run_id, input.tier, input.start, input.end)
        # A retry must never write alongside a slow earlier attempt of the same items (duplicates).
        try:
            async with claimed(
                self._deps.sessions.kw["bind"], input.migration_id, input.phase, [str(r.source_id) for r in rows]
            ):
                return await self._phases[input.phase].run_batch(input)
        except ItemsBusy as err:
            raise ApplicationError(str(err), type="ItemsBusy") from err
