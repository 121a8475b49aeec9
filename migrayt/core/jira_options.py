"""What the migration's Jira project offers a plan — issue types with their workflows' statuses, fields by name,
priorities, link types — read live with the migration's own connection, and the check a plan's Jira values pass
on save and on approval."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.migration_context import MigrationContexts
from migrayt.connections import TargetConnection
from migrayt.connectors.http import HttpError
from migrayt.connectors.outbound import OutboundPolicy, OutboundRefused
from migrayt.connectors.pool import ConnectorPool
from migrayt.core.errors import ServiceUnreachable
from migrayt.mapping.jira_values import check_jira_values
from migrayt.mapping.plan import MappingPlan
from migrayt.mapping.schema import TargetSchema, read_target_schema
from migrayt.settings import Settings, auth_mode
from migrayt.tenant_secrets import SecretPolicy

# A mapping session reads the options on every page and save; a minute keeps Jira's rate budget for the run and
# still shows an issue type an administrator has just added without a restart.
FRESH_SECONDS = 60.0
CACHED_MIGRATIONS = 256
ATTEMPTS = 3


class JiraOptions:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        pool = ConnectorPool(
            SecretPolicy.for_settings(settings, shared=auth_mode(settings) == "on"),
            # A person waits on the answer: a Jira that does not answer is reported soon, not retried for a minute.
            http_overrides={"max_attempts": min(settings.http_max_retries, ATTEMPTS)},
            outbound=OutboundPolicy.for_settings(settings),
        )
        self._contexts = MigrationContexts(sessions, pool)
        self._read: dict[str, tuple[float, TargetSchema]] = {}

    async def read(self, migration_id: str) -> TargetSchema:
        """The project's options (one read a minute per migration at most)."""
        cached = self._read.get(migration_id)
        if cached is not None and time.monotonic() - cached[0] < FRESH_SECONDS:
            return cached[1]
        try:
            ctx = await self._contexts.load(migration_id)
            target = await read_target_schema(ctx.jira, ctx.target.project_key)
        except ApplicationError as err:
            raise ServiceUnreachable(str(err)) from None
        except (HttpError, OutboundRefused) as err:
            raise ServiceUnreachable(
                f"could not read the Jira project's issue types, statuses and fields: {err}"
            ) from None
        if len(self._read) >= CACHED_MIGRATIONS:
            self._read.pop(next(iter(self._read)))
        self._read[migration_id] = (time.monotonic(), target)
        return target

    async def check(self, migration_id: str, plan: MappingPlan) -> None:
        """UnknownJiraValue naming each Jira value of the plan the project does not have."""
        check_jira_values(plan, await self.read(migration_id))

    async def check_new(self, tenant: str, target: TargetConnection, plan: MappingPlan) -> None:
        """The same check for a plan approved as a migration is made (no migration to read the connection from)."""
        try:
            jira = await self._contexts.jira_for(tenant, target)
            options = await read_target_schema(jira, target.project_key)
        except ApplicationError as err:
            raise ServiceUnreachable(str(err)) from None
        except (HttpError, OutboundRefused) as err:
            raise ServiceUnreachable(
                f"could not read the Jira project's issue types, statuses and fields: {err}"
            ) from None
        check_jira_values(plan, options)
