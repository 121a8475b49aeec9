"""Delta sync: an item moved to another ADO parent (or taken from its parent) moves in Jira too.

The hierarchy record (kind "hierarchy", source key = child ADO id) says what Jira holds: the parent
issue key and how (`as`: "parent" field, "sub-task", or "link" where Jira cannot nest the types,
as phase 3 does). A move compares that record with the item's ADO parent now, changes Jira to
match, and rewrites the record, so the next delta finds nothing to do. Every write is a set, or a
find-then-write of one link, so a retry after a crash simply does it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_hierarchy import HIERARCHY_LINK_TYPE
from migrayt.activities.execution.write_once import write_once
from migrayt.connectors.http import ApiError
from migrayt.contracts.record_kinds import HIERARCHY, ISSUE, LINK
from migrayt.store import item_records
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord
from migrayt.translation.issue_fields import IssueTypeRef, TargetCatalog

RELATED = "System.LinkTypes.Related"
NO_PARENT = "none"


class MoveRefused(Exception):
    """Jira cannot hold the item where ADO put it; the message says why, for the user."""


@dataclass(frozen=True)
class ParentMove:
    child_id: int
    child_key: str
    old_key: str | None  # the Jira parent Migrayt set (None: it has none)
    old_as: str
    new_id: int | None
    new_key: str | None


def parent_move(
    child_id: int, child_key: str, record: ItemRecord | None, new_id: int | None, new_key: str | None
) -> ParentMove | None:
    """What has to move, comparing the hierarchy record with the ADO parent now; None when nothing.

    Without a done record the hierarchy phase of this same delta has placed the item (or said why not).
    """
    if record is None or record.state != DONE:
        return None
    old_key = record.target_key or None
    if old_key == new_key:
        return None
    return ParentMove(child_id, child_key, old_key, (record.detail or {}).get("as", "parent"), new_id, new_key)


class ParentMoves:
    def __init__(self, sessions, ctx: MigrationContext, catalog: TargetCatalog, run_id: str) -> None:
        self._sessions = sessions
        self._ctx = ctx
        self._catalog = catalog
        self._run_id = run_id

    async def apply(self, move: ParentMove, rev: int) -> dict[str, Any]:
        """Change Jira to the ADO parent now and record it; raises MoveRefused with the reason."""
        jira = self._ctx.jira
        if move.new_id is not None and move.new_key is None:
            raise MoveRefused(
                f"the new ADO parent #{move.new_id} has no Jira issue (not migrated or failed), "
                f"so {move.child_key} stays under {move.old_key or 'no parent'}"
            )
        child = await jira.get_issue(move.child_key, fields=["issuetype", "parent"])
        child_type = self._type_of(child.fields)
        jira_parent = ((child.fields.get("parent") or {}).get("key")) or None
        if move.new_key is None:
            if child_type.subtask:
                raise MoveRefused(
                    f"ADO #{move.child_id} no longer has a parent, but {move.child_key} is a Jira sub-task, "
                    "which cannot stand without one: give it a parent in ADO or convert it in Jira"
                )
            how = NO_PARENT
            await self._undo(move, jira_parent)
        else:
            new_parent = await jira.get_issue(move.new_key, fields=["issuetype"])
            parent_type = self._type_of(new_parent.fields)
            if child_type.subtask:
                if parent_type.subtask or parent_type.hierarchy_level != 0:
                    raise MoveRefused(
                        f"{move.child_key} is a Jira sub-task and its new ADO parent is {move.new_key}, "
                        f"a {parent_type.name}, which cannot hold sub-tasks"
                    )
                how = "sub-task"
                await self._set_parent(move.child_key, move.new_key)
            elif parent_type.hierarchy_level == child_type.hierarchy_level + 1:
                how = "parent"
                if move.old_as == "link":
                    await self._unlink(move)
                await self._set_parent(move.child_key, move.new_key)
            else:
                # Jira cannot nest these types: the relation stays visible as a link, as phase 3 does.
                how = "link"
                await self._undo(move, jira_parent)
                await self._link(move.child_key, move.new_key)
        detail: dict[str, Any] = {"as": how, "moved_from": move.old_key, "rev": rev, "run": self._run_id}
        if how == "link":
            detail["reason"] = "Jira cannot make this issue type a child of that one"
        async with self._sessions() as session:
            await item_records.mark_done(
                session, self._ctx.migration_id, HIERARCHY, str(move.child_id), move.new_key or "", self._run_id, detail
            )
            await session.commit()
        return {"from": move.old_key, "to": move.new_key, "as": how}

    async def taken_for_subtask(
        self, record: ItemRecord | None, issue: ItemRecord, child_id: int, parent_id: int | None
    ) -> bool:
        """Whether phase 3 of this delta recorded an older issue as a sub-task that Jira does not hold as one.

        Phase 3 reads the item's type from its place now: an item that was top level (its parent
        deleted, say) and is moved under a story counts as a sub-task there, with nothing written.
        """
        if (
            record is None
            or record.state != DONE
            or record.run_id != self._run_id
            or parent_id is None
            or (record.detail or {}).get("as") != "sub-task"
            or issue.run_id == self._run_id
            or not issue.target_key
        ):
            return False
        child = await self._ctx.jira.get_issue(issue.target_key, fields=["issuetype", "parent"])
        return (
            not self._type_of(child.fields).subtask
            and ((child.fields.get("parent") or {}).get("key")) != record.target_key
        )

    def _type_of(self, fields: dict[str, Any]) -> IssueTypeRef:
        raw = fields.get("issuetype") or {}
        known = self._catalog.issue_types.get(raw.get("name") or "")
        if known is not None:
            return known
        return IssueTypeRef(
            id=str(raw.get("id") or ""),
            name=str(raw.get("name") or "?"),
            hierarchy_level=int(raw.get("hierarchyLevel") or 0),
            subtask=bool(raw.get("subtask")),
        )

    async def _set_parent(self, child_key: str, parent_key: str | None) -> None:
        try:
            await self._ctx.jira.edit_issue(child_key, {"parent": {"key": parent_key} if parent_key else None})
        except ApiError as err:
            if 400 <= err.status < 500 and err.status not in (401, 403, 408, 429):
                raise MoveRefused(f"Jira refused to move {child_key} under {parent_key or 'no parent'}: {err}") from err
            raise

    async def _undo(self, move: ParentMove, jira_parent: str | None) -> None:
        """Take away what Migrayt set for the old parent: the parent field, or its stand-in link."""
        if move.old_key is None:
            return
        if move.old_as == "link":
            await self._unlink(move)
        elif jira_parent == move.old_key:
            # Only the parent Migrayt set: one someone chose in Jira since is theirs to keep.
            await self._set_parent(move.child_key, None)

    async def _unlink(self, move: ParentMove) -> None:
        """Delete the Relates link phase 3 made for the old parent, unless an ADO Related link is it too."""
        assert move.old_key is not None
        async with self._sessions() as session:
            old_id = await session.scalar(
                select(ItemRecord.source_key).where(
                    ItemRecord.migration_id == self._ctx.migration_id,
                    ItemRecord.kind == ISSUE,
                    ItemRecord.target_key == move.old_key,
                )
            )
            if old_id is not None:
                low, high = sorted((move.child_id, int(old_id)))
                related = (
                    await item_records.load(session, self._ctx.migration_id, LINK, [f"{low}:{high}:{RELATED}"])
                ).get(f"{low}:{high}:{RELATED}")
                if related is not None and related.state == DONE:
                    return
        link_id = await find_link(self._ctx, move.child_key, move.old_key, HIERARCHY_LINK_TYPE, symmetric=True)
        if link_id is not None:
            await delete_link(self._ctx, link_id)

    async def _link(self, child_key: str, parent_key: str) -> None:
        async def find() -> bool | None:
            return (
                True if await find_link(self._ctx, child_key, parent_key, HIERARCHY_LINK_TYPE, symmetric=True) else None
            )

        async def write() -> bool:
            await self._ctx.jira.create_issue_link(HIERARCHY_LINK_TYPE, inward_key=child_key, outward_key=parent_key)
            return True

        if await find() is None:
            await write_once(write, find)


async def find_link(ctx: MigrationContext, subject: str, other: str, type_name: str, *, symmetric: bool) -> str | None:
    """The id of `subject <type> other` among the subject's links (a consistent read), outward first."""
    issue = await ctx.jira.get_issue(subject, fields=["issuelinks"])
    backwards = None
    for entry in issue.fields.get("issuelinks") or []:
        if ((entry.get("type") or {}).get("name") or "").lower() != type_name.lower():
            continue
        if (entry.get("outwardIssue") or {}).get("key") == other:
            return str(entry.get("id"))
        if symmetric and backwards is None and (entry.get("inwardIssue") or {}).get("key") == other:
            backwards = str(entry.get("id"))
    return backwards


async def delete_link(ctx: MigrationContext, link_id: str) -> None:
    try:
        await ctx.jira.delete_issue_link(link_id)
    except ApiError as err:
        if err.status != 404:  # already gone (an earlier attempt whose answer was lost)
            raise
