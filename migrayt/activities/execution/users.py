"""ADO identities → Jira accounts: the one resolution preflight records, the preview predicts and the mapping
page shows. Keeping it in one place is what makes the preview's user failures the run's, reason for reason."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from migrayt.connectors.ado import AdoClient, GraphUser
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import JiraClient, JiraUser
from migrayt.mapping.plan import MappingPlan
from migrayt.translation.issue_fields import Lookups

# The item record under which preflight keeps the fallback user's account.
FALLBACK_USER = "*fallback*"
NO_ACCOUNT = "no Jira account with this e-mail and none given in the plan's user table"
# A local or service account has no e-mail: saying "this e-mail" sent users looking for one.
NO_EMAIL = "no e-mail in Azure DevOps to match a Jira account by, and none given in the plan's user table"
# Someone who left: Jira keeps the account, deactivated, and refuses it as assignee or reporter.
DEACTIVATED = (
    "deactivated in Jira: that account can no longer be assigned; pick another Jira user for them in the plan's "
    "user table, or set a fallback user"
)

Match = Literal["table", "email", "fallback", "unmatched"]


@dataclass
class UserMatch:
    unique: str  # lower-case principal name or e-mail: the user's key in the plan's table and the ledger
    ado_id: str | None
    display_name: str
    email: str | None
    account: str | None  # the Jira accountId the run writes for this user; None: the user is left out
    match: Match
    reason: str | None = None  # why no account of their own was found
    # The account as Jira names it, for people to read (the accountId alone says nothing to them)
    account_name: str | None = None
    account_email: str | None = None

    def give(self, account: JiraUser, match: Match) -> None:
        self.account, self.match = account.account_id, match
        self.account_name, self.account_email = account.display_name, account.email_address


@dataclass
class UserResolution:
    users: list[UserMatch] = field(default_factory=list)
    fallback_account: str | None = None  # None when the plan names no fallback user
    fallback_name: str | None = None  # its display name in Jira
    fallback_problem: str | None = None  # the plan's fallback user has no Jira account: the run cannot start

    def lookups(self) -> Lookups:
        """The users part of the run's lookups, as preflight's records give it back (see MigrationContexts)."""
        lookups = Lookups(fallback_account=self.fallback_account)
        for user in self.users:
            if user.account is None or user.match == "fallback":
                continue  # a fallen-back user is no one's mention; resolve_user gives the fallback account
            lookups.users_by_unique_name[user.unique] = user.account
            if user.ado_id:
                lookups.users_by_ado_id[user.ado_id] = user.account
        return lookups


def unique_name(user: GraphUser) -> str:
    return (user.principal_name or user.mail_address or "").lower()


async def resolve_users(ado: AdoClient, jira: JiraClient, plan: MappingPlan) -> UserResolution:
    """Every ADO identity with its Jira account: the plan's table first (an accountId, or an e-mail Jira knows),
    then Jira by the user's e-mail; never guessed. Without either, the plan's fallback user when it names one."""
    graph = [u async for u in ado.iter_graph_users() if unique_name(u)]
    limit = asyncio.Semaphore(8)
    checked: dict[str, JiraUser | None] = {}
    checked_inactive: dict[str, JiraUser] = {}

    async def by_email(email: str) -> JiraUser | None:
        async with limit:
            return await jira.find_user_by_email(email)

    async def table_account(value: str) -> JiraUser | None:
        if value not in checked:
            async with limit:
                found = await jira.find_user_by_email(value) if "@" in value else await jira.get_user(value)
            checked[value] = found if found is not None and found.active else None
            if found is not None and not found.active:
                checked_inactive[value] = found
        return checked[value]

    async def one(user: GraphUser) -> UserMatch:
        unique = unique_name(user)
        email = user.mail_address if user.mail_address and "@" in user.mail_address else None
        match = UserMatch(
            unique=unique,
            ado_id=user.origin_id or user.descriptor,
            display_name=user.display_name or unique,
            email=email,
            account=None,
            match="unmatched",
        )
        chosen = plan.users.get(unique) or (plan.users.get(email.lower()) if email else None)
        if chosen:
            found = await table_account(chosen)
            if found is None:
                gone = checked_inactive.get(chosen)
                match.reason = (
                    f"the plan's user table maps it to {gone.display_name or chosen!r}, {DEACTIVATED}"
                    if gone
                    else f"the plan's user table maps it to {chosen!r}, which Jira has no account for"
                )
                return match
            match.give(found, "table")
            return match
        if email and (found := await by_email(email)) is not None:
            match.give(found, "email")
            return match
        match.reason = NO_ACCOUNT if email else NO_EMAIL
        return match

    resolution = UserResolution(users=list(await asyncio.gather(*(one(u) for u in graph))))
    unmatched = [u for u in resolution.users if u.reason == NO_ACCOUNT]
    if unmatched:
        # Someone who left keeps a deactivated account: say so, not "no account" (the user search hides them).
        try:
            left = {(u.email_address or "").lower() for u in await jira.deactivated_users()} - {""}
        except ApiError:
            left = set()  # a site that lists no users to the migration user: "no account" is all we can say
        for user in unmatched:
            if user.email and user.email.lower() in left:
                user.reason = DEACTIVATED
    if plan.fallback_user_email:
        found = await jira.find_user_by_email(plan.fallback_user_email)
        if found is None:
            resolution.fallback_problem = f"fallback user {plan.fallback_user_email} has no Jira account"
        else:
            resolution.fallback_account, resolution.fallback_name = found.account_id, found.display_name
            for user in resolution.users:
                if user.account is None:
                    user.give(found, "fallback")
    return resolution
