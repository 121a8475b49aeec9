"""Phase 8: each plugin (migrayt/plugins/) as a sub-phase of its own, through `PluginPhase`; and "plugins", the
phase runs started before the plugins had their own go through, which passes every item over."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.migration_context import MigrationContexts
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.connectors.http import ApiError
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.phases import title
from migrayt.plugins import plugin


class PluginsPhase(BatchPhase, phase="plugins"):
    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        return batch.passed_over()


class PluginPhase(BatchPhase):
    """One plugin's batch: its `write`, with what must stop only this plugin made non-retryable."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], contexts: MigrationContexts, name: str) -> None:
        super().__init__(sessions, contexts)
        self.plugin_name = name
        self.plugin = plugin(name)

    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        try:
            return await self.plugin.write(batch)
        except ApiError as err:
            # Jira or ADO refusing the plugin outright (no permission, the app gone) will not pass on a retry:
            # the engine fails this batch's items with the reason and goes on with the other plugins.
            if err.status in (401, 403, 404) and not err.retryable:
                reason = "; ".join(err.messages) or "no reason given"
                raise ApplicationError(
                    f"{title(self.plugin_name)}: refused (HTTP {err.status}): {reason}",
                    type="PluginRefused",
                    non_retryable=True,
                ) from err
            raise
