"""Users on screen: every ADO identity with its Jira account as the run would resolve it, and the Jira user
search the picker offers. Both read the services live, with the migration's own connection and secrets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
from migrayt.activities.execution.users import UserMatch, resolve_users
from migrayt.connectors.http import HttpError
from migrayt.connectors.outbound import OutboundPolicy, OutboundRefused
from migrayt.connectors.pool import ConnectorPool
from migrayt.core.errors import ServiceUnreachable
from migrayt.mapping.plan import MappingPlan
from migrayt.settings import Settings, auth_mode
from migrayt.tenant_secrets import SecretPolicy

Matched = Literal["e-mail", "picked", "name", "AI", "fallback", "unmatched"]
SEARCH_LIMIT = 20
ATTENTION = {"unmatched": 0, "fallback": 1}


class JiraUserView(BaseModel):
    account_id: str
    display_name: str | None = None
    email: str | None = None  # None when the site hides it


class UserRow(BaseModel):
    ado_name: str
    ado_user: str  # the plan's user-table key: lower-case principal name or e-mail
    email: str | None = None
    matched: Matched
    account_id: str | None = None
    account_name: str | None = None  # the Jira account's display name
    account_email: str | None = None  # its e-mail, when the site shows it
    reason: str | None = None


class UserTable(BaseModel):
    users: list[UserRow]
    fallback_user_email: str | None = None
    fallback_account_id: str | None = None
    fallback_name: str | None = None
    fallback_problem: str | None = None

    def count(self, matched: Matched) -> int:
        return sum(u.matched == matched for u in self.users)


def _matched(user: UserMatch, plan: MappingPlan) -> Matched:
    if user.match != "table":
        return "unmatched" if user.match == "unmatched" else "e-mail" if user.match == "email" else "fallback"
    origin = plan.provenance.get(f"users/{user.unique}")
    if origin is not None and origin.origin == "ai":
        return "AI"
    if origin is not None and origin.origin == "rule":
        return "name"
    return "picked"


class UserMapping:
    """Reads through a pool of its own, so the API answers with the secrets rules the worker applies."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        pool = ConnectorPool(
            SecretPolicy.for_settings(settings, shared=auth_mode(settings) == "on"),
            outbound=OutboundPolicy.for_settings(settings),
        )
        self._contexts = MigrationContexts(sessions, pool)

    async def _context(self, migration_id: str) -> MigrationContext:
        try:
            return await self._contexts.load(migration_id)
        except ApplicationError as err:
            raise ServiceUnreachable(str(err)) from None

    async def table(self, migration_id: str, plan: MappingPlan) -> UserTable:
        ctx = await self._context(migration_id)
        try:
            resolution = await resolve_users(ctx.ado, ctx.jira, plan)
        except (HttpError, OutboundRefused) as err:
            raise ServiceUnreachable(f"could not read the users: {err}") from None
        rows = [
            UserRow(
                ado_name=u.display_name,
                ado_user=u.unique,
                email=u.email,
                matched=_matched(u, plan),
                account_id=u.account,
                account_name=u.account_name,
                account_email=u.account_email,
                reason=u.reason,
            )
            # those that need a look first: no account, then the fallback user's stand-ins
            for u in sorted(resolution.users, key=lambda u: (ATTENTION.get(u.match, 2), u.display_name.lower()))
        ]
        return UserTable(
            users=rows,
            fallback_user_email=plan.fallback_user_email,
            fallback_account_id=resolution.fallback_account,
            fallback_name=resolution.fallback_name,
            fallback_problem=resolution.fallback_problem,
        )

    async def search(self, migration_id: str, query: str) -> list[JiraUserView]:
        ctx = await self._context(migration_id)
        try:
            found = await ctx.jira.search_users(query, max_results=SEARCH_LIMIT)
        except (HttpError, OutboundRefused) as err:
            raise ServiceUnreachable(f"could not search Jira's users: {err}") from None
        return [
            JiraUserView(account_id=u.account_id, display_name=u.display_name, email=u.email_address)
            for u in found
            if u.active and u.account_type in (None, "atlassian")
        ]
