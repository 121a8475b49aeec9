"""Phase: plugins. Not built yet (issue 4): every item of the batch is passed over, so counters add up."""

from __future__ import annotations

from migrayt.activities.execution.create_items import batch_rows
from migrayt.activities.execution.phase_deps import PhaseDeps
from migrayt.contracts.execution import PhaseBatchInput, PhaseBatchResult
from migrayt.contracts.runs import PhaseCounters


class PluginsPhase:
    def __init__(self, deps: PhaseDeps) -> None:
        self._deps = deps

    async def run_batch(self, input: PhaseBatchInput) -> PhaseBatchResult:
        rows = await batch_rows(self._deps.sessions, input.run_id, input.tier, input.start, input.end)
        return PhaseBatchResult(counters=PhaseCounters(total=len(rows), skipped=len(rows)))
