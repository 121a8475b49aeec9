"""Savepoints for the doors: list and download a run's savepoints, and start a migration's run from one.

Starting from a savepoint trusts its records only after: its checksum and signature (this installation's
key), its identity (the migration's ADO organisation and project, Jira site and project), and a sample of
its issues looked up in Jira (each exists, is in the project, carries the item's source identity). Then
every record is written into the migration's ledger — done ones with their Jira key, so the run skips
them without sending anything — and the run starts as any other.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.record_kinds import ISSUE
from migrayt.contracts.savepoints import SavepointFile, SavepointInfo, SavepointSampleInput, SavepointSampleResult
from migrayt.core.errors import NotFound, SavepointRefused
from migrayt.core.ownership import owned
from migrayt.core.runs import MigrationService
from migrayt.store import savepoints
from migrayt.store.item_records import DONE
from migrayt.store.models import AuditEvent, ItemRecord, Migration, Run
from migrayt.temporal.search_attributes import tenant_only
from migrayt.workflows.savepoint_check import SavepointCheckWorkflow

# Issues of a savepoint looked up in Jira before it is trusted.
SAMPLE_SIZE = 10


def sample(file: SavepointFile, size: int = SAMPLE_SIZE) -> list[tuple[str, str]]:
    """(ADO id, issue key) of done issue records, spread evenly over the file (the first and the last included)."""
    issues = [
        (r.source_key, r.target_key)
        for r in file.body.records
        if r.kind == ISSUE and r.state == DONE and r.target_key is not None
    ]
    if len(issues) <= size:
        return issues
    step = (len(issues) - 1) / (size - 1)
    return [issues[round(i * step)] for i in range(size)]


class SavepointService(MigrationService):
    async def list_savepoints(self, tenant: str, run_id: str) -> list[SavepointInfo]:
        async with self.sessions() as session:
            await owned(session, Run, run_id, tenant, "run")
        return await asyncio.to_thread(savepoints.listing, self.settings, run_id)

    async def read_savepoint(self, tenant: str, run_id: str, name: str) -> bytes:
        async with self.sessions() as session:
            await owned(session, Run, run_id, tenant, "run")
        try:
            return await asyncio.to_thread(savepoints.read, self.settings, run_id, name)
        except savepoints.SavepointInvalid as err:
            raise NotFound(str(err)) from None

    async def start_from_savepoint(self, tenant: str, migration_id: str, raw: bytes, actor: str, door: str) -> str:
        """Checks the savepoint, imports its records into the migration's (empty) ledger, starts a run."""
        # Ownership first: another tenant's migration answers 404 whatever the file, as a missing one does.
        async with self.sessions() as session:
            migration = await owned(session, Migration, migration_id, tenant, "migration")
            expected = savepoints.identity_of(
                SourceConnection.model_validate(migration.source), TargetConnection.model_validate(migration.target)
            )
            held = await session.scalar(select(func.count()).where(ItemRecord.migration_id == migration_id))
        try:
            file = savepoints.verify(raw, savepoints.signing_key(self.settings))
        except savepoints.SavepointInvalid as err:
            raise SavepointRefused(str(err)) from None
        if differences := savepoints.identity_differences(file.body.identity, expected):
            raise SavepointRefused(f"savepoint refused: it is for another migration target ({'; '.join(differences)})")
        if held:
            raise SavepointRefused(
                f"savepoint refused: migration {migration_id} already has {held} item records; "
                "start from a savepoint with a new migration"
            )
        if problems := await self._check_in_jira(tenant, migration_id, file):
            raise SavepointRefused(
                f"savepoint refused: its issues do not match Jira ({len(problems)} of the sample): "
                + "; ".join(problems[:5])
            )
        async with self.sessions() as session:
            counts = await savepoints.import_records(
                session, migration_id, file.body.records, run_id=f"savepoint:{file.body.run_id or ''}"[:100]
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    action="savepoint_imported",
                    actor=actor,
                    door=door,
                    detail={
                        "from_migration": file.body.migration_id,
                        "from_run": file.body.run_id,
                        "written_at": file.body.written_at.isoformat(),
                        "records_done": counts["done"],
                        "records_pending": counts["pending"],
                    },
                )
            )
            await session.commit()
        return await self.start_run(tenant, migration_id, actor, door)

    async def _check_in_jira(self, tenant: str, migration_id: str, file: SavepointFile) -> list[str]:
        issues = sample(file)
        if not issues:
            return []
        try:
            result: SavepointSampleResult = await self.temporal.execute_workflow(
                SavepointCheckWorkflow.run,
                SavepointSampleInput(migration_id=migration_id, issues=issues),
                id=f"savepoint-check-{uuid.uuid4().hex[:12]}",
                task_queue=self.settings.task_queue,
                search_attributes=tenant_only(tenant),
                execution_timeout=timedelta(minutes=5),
            )
        except WorkflowFailureError as err:
            cause = err.cause.cause if isinstance(err.cause, ActivityError) else err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            raise SavepointRefused(f"savepoint not checked: its issues could not be read in Jira ({message})") from None
        return result.problems
