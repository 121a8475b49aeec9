"""Preflight's late users: issues an earlier run created without their assignee or reporter, because that user
had no Jira account then, are given it once the user has one (mapped since, or the plan's fallback user).

A re-run retries only failed records, and these issues are done: without this they would keep an empty
assignee for good. Each (issue, field) is one `user_field` record, written by the ledger's protocol. Setting
a field is idempotent, so a pending record left by a crash is simply written again (no lookup needed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.connectors.jira import JiraClient
from migrayt.contracts.record_kinds import ISSUE, USER_FIELD
from migrayt.store import item_records
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord
from migrayt.translation.issue_fields import Lookups, resolve_user


def field_key(source_key: str, jira_field: str) -> str:
    return f"{source_key}:{jira_field}"


@dataclass
class UsersToGive:
    issue_key: str
    fields: dict[str, str]  # "assignee"/"reporter" → the account to set
    users: dict[str, str]  # the same fields → the user (unique name) it stands for


async def users_to_give(sessions: async_sessionmaker, migration_id: str, lookups: Lookups) -> dict[str, UsersToGive]:
    """By item: the left-out user fields of issues already created that now resolve and are not yet set. Read
    only, so the preview predicts with it what preflight will write."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(ItemRecord.source_key, ItemRecord.target_key, ItemRecord.detail).where(
                    ItemRecord.migration_id == migration_id,
                    ItemRecord.kind == ISSUE,
                    ItemRecord.state == DONE,
                    ItemRecord.detail.has_key("users_left_out"),
                )
            )
        ).all()
        wanted: dict[str, UsersToGive] = {}
        for source_key, issue_key, detail in rows:
            give = UsersToGive(issue_key, {}, {})
            for jira_field, (unique, ado_id) in (detail.get("users_left_out") or {}).items():
                account = resolve_user({"uniqueName": unique, "id": ado_id}, lookups)
                if account is not None:
                    give.fields[jira_field], give.users[jira_field] = account, unique or ado_id or ""
            if give.fields and issue_key:
                wanted[source_key] = give
        done = await item_records.load(
            session, migration_id, USER_FIELD, [field_key(k, f) for k, g in wanted.items() for f in g.fields]
        )
    for source_key, give in list(wanted.items()):
        # Done with this same account on this same issue: skip. Another account (the user mapped differently
        # since) or another issue (the first undone and created again): set again.
        give.fields = {
            f: a
            for f, a in give.fields.items()
            if not _already_set(done.get(field_key(source_key, f)), give.issue_key, a)
        }
        if not give.fields:
            del wanted[source_key]
    return wanted


async def give_left_out_users(
    sessions: async_sessionmaker,
    jira: JiraClient,
    migration_id: str,
    run_id: str,
    lookups: Lookups,
    heartbeat: Callable[[str], None] = lambda _: None,
) -> int:
    """Set every left-out user field that now resolves, once; the number of issues given one."""
    wanted = await users_to_give(sessions, migration_id, lookups)
    given = 0
    for n, (source_key, give) in enumerate(wanted.items()):
        if n % 20 == 0:
            heartbeat(f"users given to issues: {given}")
        keys = [field_key(source_key, f) for f in give.fields]
        async with sessions() as session:
            await item_records.mark_pending(session, migration_id, USER_FIELD, keys, run_id)
            await session.commit()
        await jira.edit_issue(give.issue_key, {f: {"accountId": a} for f, a in give.fields.items()}, notify=False)
        async with sessions() as session:
            await item_records.mark_done_many(
                session,
                migration_id,
                USER_FIELD,
                [
                    (field_key(source_key, f), a, {"issue": give.issue_key, "user": give.users[f]})
                    for f, a in give.fields.items()
                ],
                run_id,
            )
            await session.commit()
        given += 1
    return given


def _already_set(record: ItemRecord | None, issue_key: str, account: str) -> bool:
    return (
        record is not None
        and record.state == DONE
        and record.target_key == account
        and (record.detail or {}).get("issue") == issue_key
    )
