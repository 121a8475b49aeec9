"""Savepoints: write one of a run's migration (its identity, plan version and every item record), and check
a savepoint's sample of issues in the migration's Jira before a new migration trusts it."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.adoption import SOURCE_PROPERTY, FoundIssue, Identity
from migrayt.activities.execution.migration_context import MigrationContexts
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.connections import SourceConnection, TargetConnection
from migrayt.connections_store import SecretKeyMissing
from migrayt.connectors.http import ApiError
from migrayt.contracts.savepoints import (
    SavepointBody,
    SavepointSampleInput,
    SavepointSampleResult,
    WriteSavepointInput,
    WriteSavepointResult,
)
from migrayt.mapping import versions as plan_versions
from migrayt.settings import Settings
from migrayt.store import savepoints
from migrayt.store.models import Migration
from migrayt.translation.issue_fields import source_label


class SavepointActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts, settings: Settings) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._settings = settings

    @activity.defn(name="write_savepoint")
    @keeps_heartbeat
    async def write_savepoint(self, input: WriteSavepointInput) -> WriteSavepointResult:
        async with self._sessions() as session:
            migration = await session.get(Migration, input.migration_id)
            if migration is None:
                raise ApplicationError(f"migration {input.migration_id} does not exist", non_retryable=True)
            plan = await plan_versions.latest(session, input.migration_id)
            rows = await savepoints.ledger_rows(session, input.migration_id)
        head = SavepointBody(
            migration_id=input.migration_id,
            run_id=input.run_id,
            written_at=savepoints.now(),
            reason=input.reason,
            phase=input.phase,
            plan_version=plan.version if plan else None,
            identity=savepoints.identity_of(
                SourceConnection.model_validate(migration.source), TargetConnection.model_validate(migration.target)
            ),
            records=[],
        )
        try:
            key = savepoints.signing_key(self._settings)
        except SecretKeyMissing as err:  # a configuration to fix, not a failure to retry
            raise ApplicationError(
                f"savepoint not signed: {err}", type="BadConfiguration", non_retryable=True
            ) from None
        # Off the event loop, in slices: 90,000 records sealed in one go held it for 7 s on a busy machine
        # (bench/savepoint_stall.py), and every heartbeat and workflow task of the worker with it.
        name = await asyncio.to_thread(
            savepoints.write_rows, self._settings, head, rows, key, self._settings.savepoints_kept
        )
        return WriteSavepointResult(name=name, records=len(rows))

    @activity.defn(name="check_savepoint_sample")
    async def check_savepoint_sample(self, input: SavepointSampleInput) -> SavepointSampleResult:
        ctx = await self._contexts.load(input.migration_id)
        identity = Identity.of(ctx.source)
        project = ctx.target.project_key

        async def problem(ado_id: str, key: str) -> str | None:
            try:
                issue = await ctx.jira.get_issue(key, fields=["labels", "project"])
            except ApiError as err:
                if err.status == 404:
                    return f"{key} (ADO #{ado_id}) does not exist in Jira"
                raise
            in_project = (issue.fields.get("project") or {}).get("key")
            if in_project != project:
                return f"{key} (ADO #{ado_id}) is in project {in_project}, not {project}"
            if not ado_id.isdigit() or source_label(int(ado_id)) not in issue.labels:
                return f"{key} does not carry the label {source_label(int(ado_id)) if ado_id.isdigit() else ado_id}"
            found = FoundIssue(key, "", await ctx.jira.get_issue_property(key, SOURCE_PROPERTY))
            if identity.verdict(int(ado_id), found) == "foreign":
                return f"{key} was written for another ADO source than ADO #{ado_id} of this migration"
            return None

        found = await asyncio.gather(*(problem(ado_id, key) for ado_id, key in input.issues))
        return SavepointSampleResult(problems=[p for p in found if p])
