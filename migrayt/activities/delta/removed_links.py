"""Delta sync: an ADO work item link removed since the migration goes from Jira too.

Only links Migrayt made: a done `link` record (key "low:high:rel", detail: Jira type, subject and
object keys) whose ADO link is no longer on the item. Its Jira link is deleted, found by a
consistent read of the subject's links, and the record turns "removed", so the links phase makes
it again only if the link comes back in ADO. A Jira link that also stands for another live
record (an ADO link mapped to the same Jira link, or the parent/child relation phase 3 kept as a
Relates link) is left in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import or_, select, update

from migrayt.activities.delta.parent_moves import delete_link, find_link
from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_hierarchy import HIERARCHY_LINK_TYPE
from migrayt.connectors.ado import WorkItem
from migrayt.contracts.record_kinds import HIERARCHY, ISSUE, LINK
from migrayt.store import item_records
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord
from migrayt.translation.source_links import (
    SYMMETRIC_JIRA_TYPES,
    work_item_links,
)

REMOVED = "removed"


def link_ends(record_key: str) -> tuple[int, int, str] | None:
    low, _, rest = record_key.partition(":")
    high, _, rel = rest.partition(":")
    try:
        return int(low), int(high), rel
    except ValueError:
        return None


def gone_links(
    records: Iterable[ItemRecord], now: Mapping[int, WorkItem], in_work_list: set[int]
) -> dict[int, list[ItemRecord]]:
    """Done link records whose ADO link is no longer there, by the item that handles each.

    Both ends of a removed link change in ADO; the lowest end in the work list handles it, so it is
    handled once whichever batch each end is in.
    """
    current: dict[int, set[str]] = {
        wi.id: {link.record_key for link in work_item_links(wi.id, ((r.rel, r.target_id) for r in wi.relations))}
        for wi in now.values()
    }
    out: dict[int, list[ItemRecord]] = {}
    for record in records:
        ends = link_ends(record.source_key)
        if record.state != DONE or ends is None:
            continue
        low, high, _ = ends
        owners = [e for e in (low, high) if e in in_work_list]
        if not owners or min(owners) not in now:
            continue
        # Gone when no end we read still carries it (an end outside the delta cannot tell us).
        seen = [e for e in (low, high) if e in current]
        if all(record.source_key not in current[e] for e in seen):
            out.setdefault(min(owners), []).append(record)
    return out


async def link_records_touching(session, migration_id: str, item_ids: Iterable[int]) -> list[ItemRecord]:
    ids = sorted(set(item_ids))
    if not ids:
        return []
    ends = or_(
        *(
            clause
            for i in ids
            for clause in (ItemRecord.source_key.like(f"{i}:%"), ItemRecord.source_key.like(f"%:{i}:%"))
        )
    )
    rows = await session.scalars(
        select(ItemRecord).where(
            ItemRecord.migration_id == migration_id, ItemRecord.kind == LINK, ItemRecord.state == DONE, ends
        )
    )
    return list(rows)


class RemovedLinks:
    def __init__(self, sessions, ctx: MigrationContext, run_id: str, gone_keys: set[str]) -> None:
        self._sessions = sessions
        self._ctx = ctx
        self._run_id = run_id
        self._gone = gone_keys  # every link of this batch found gone: none of them keeps another alive

    async def remove(self, record: ItemRecord, rev: int) -> dict[str, Any]:
        detail = dict(record.detail or {})
        type_name, subject, obj = detail.get("type"), detail.get("subject"), detail.get("object")
        ends = link_ends(record.source_key)
        outcome: dict[str, Any] = {"link": record.source_key, "jira": record.target_key, "deleted": False}
        if type_name and subject and obj and ends is not None:
            symmetric = (
                type_name.lower() in SYMMETRIC_JIRA_TYPES
                or not ends[2].endswith("-Forward")
                and not ends[2].endswith("-Reverse")
            )
            keeper = await self._kept_by(record, subject, obj, type_name, symmetric)
            if keeper:
                outcome["kept"] = keeper
            elif (link_id := await find_link(self._ctx, subject, obj, type_name, symmetric=symmetric)) is not None:
                await delete_link(self._ctx, link_id)
                outcome["deleted"] = True
        async with self._sessions() as session:
            await session.execute(
                update(ItemRecord)
                .where(ItemRecord.id == record.id, ItemRecord.state == DONE)
                .values(
                    state=REMOVED,
                    run_id=self._run_id,
                    detail={**detail, "removed": {**outcome, "rev": rev, "run": self._run_id}},
                )
            )
            await session.commit()
        return outcome

    async def _kept_by(self, record: ItemRecord, subject: str, obj: str, type_name: str, symmetric: bool) -> str | None:
        """Why the Jira link must stay though this ADO link is gone; None when nothing else needs it."""
        verb_of = record.target_key or ""
        names = {verb_of}
        if symmetric and verb_of.startswith(subject + " ") and verb_of.endswith(" " + obj):
            names.add(f"{obj} {verb_of[len(subject) + 1 : -len(obj) - 1]} {subject}")
        async with self._sessions() as session:
            others = await session.scalars(
                select(ItemRecord.source_key).where(
                    ItemRecord.migration_id == self._ctx.migration_id,
                    ItemRecord.kind == LINK,
                    ItemRecord.state == DONE,
                    ItemRecord.target_key.in_(names),
                    ItemRecord.source_key != record.source_key,
                )
            )
            live = [k for k in others if k not in self._gone]
            if live:
                return f"the same Jira link stands for ADO link {live[0]}"
            if type_name.lower() != HIERARCHY_LINK_TYPE.lower():
                return None
            ends = link_ends(record.source_key)
            assert ends is not None
            low, high, _ = ends
            keys = await item_records.target_keys(session, self._ctx.migration_id, ISSUE, [str(low), str(high)])
            kinship = await item_records.load(session, self._ctx.migration_id, HIERARCHY, [str(low), str(high)])
        for child, parent in ((low, high), (high, low)):
            h = kinship.get(str(child))
            if (
                h is not None
                and h.state == DONE
                and (h.detail or {}).get("as") == "link"
                and h.target_key == keys.get(str(parent))
            ):
                return f"it also stands for the parent/child relation of ADO #{child} and #{parent}"
        return None
