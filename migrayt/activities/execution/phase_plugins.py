"""Phase: plugins. Not built yet (issue 4): every item of the batch is passed over, so counters add up."""

from __future__ import annotations

from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.contracts.execution import PhaseBatchResult


class PluginsPhase(BatchPhase, phase="plugins"):
    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        return batch.passed_over()
