"""The phases after create items as one activity that hands each batch to its phase."""

from __future__ import annotations

from importlib import import_module
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.migration_context import MigrationContexts
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.activities.execution.phase_plugins import PluginPhase
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.contracts.execution import PhaseBatchInput, PhaseBatchResult
from migrayt.contracts.phases import PHASES, plugins, run_phase_batch
from migrayt.store.db import engine_of
from migrayt.store.item_locks import ItemsBusy, claimed


def _phase_classes() -> dict[str, type[BatchPhase]]:
    """The registry phases whose activity is run_phase_batch, each by its class in `phase_<name>.py` (plugins
    aside: they go through `PluginPhase`)."""
    found: dict[str, type[BatchPhase]] = {}
    for p in PHASES:
        if p.activity is run_phase_batch and p.plugin is None:
            import_module(f"{__package__}.phase_{p.name}")
            if p.name not in BatchPhase.by_name:
                raise LookupError(f"{__package__}.phase_{p.name} has no BatchPhase subclass with phase={p.name!r}")
            found[p.name] = BatchPhase.by_name[p.name]
    return found


class LaterPhaseActivities:
    PHASE_CLASSES: ClassVar[dict[str, type[BatchPhase]]] = _phase_classes()

    def __init__(self, sessions: async_sessionmaker[AsyncSession], contexts: MigrationContexts) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._phases: dict[str, BatchPhase] = {
            name: cls(sessions, contexts) for name, cls in self.PHASE_CLASSES.items()
        }
        # Each plugin of phase 8 (a registry line with `plugin=`) runs through the one adapter.
        self._phases.update({name: PluginPhase(sessions, contexts, name) for name in plugins()})

    @activity.defn(name="run_phase_batch")
    @keeps_heartbeat
    async def run_phase_batch(self, input: PhaseBatchInput) -> PhaseBatchResult:
        batch = await PhaseBatch.open(self._sessions, self._contexts, input, content_order=input.content_order)
        if input.phase in batch.ctx.plan.skip_phases:
            return batch.passed_over()
        # A retry must never write alongside a slow earlier attempt of the same items (duplicates).
        try:
            async with claimed(engine_of(self._sessions), input.migration_id, input.phase, batch.source_keys()):
                return await self._phases[input.phase].run(batch)
        except ItemsBusy as err:
            raise ApplicationError(str(err), type="ItemsBusy") from err
