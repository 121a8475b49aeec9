"""A batch's rows drafted as Jira issues, each failing alone: shared by create items and the Xray test import."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.contracts.record_kinds import ISSUE
from migrayt.store import item_records
from migrayt.translation.issue_fields import IssueDraft, ItemRejected, description_digest

if TYPE_CHECKING:
    from migrayt.activities.execution.create_items import SourceRow
    from migrayt.connectors.ado import WorkItem

GONE_FROM_ADO = "work item no longer exists in Azure DevOps (deleted or not visible to the PAT)"

Draft = TypeVar("Draft")


async def draft_rows(
    sessions: async_sessionmaker,
    migration_id: str,
    run_id: str,
    rows: Sequence[SourceRow],
    work_items: Mapping[int, WorkItem],
    draft: Callable[[SourceRow, WorkItem], Draft],
) -> tuple[list[tuple[SourceRow, WorkItem, Draft]], int]:
    """Each row's draft, in order, and how many failed: a row whose item is gone from ADO, or that `draft` rejects
    (ItemRejected), is recorded failed with its reason and the rest of the batch goes on."""
    drafted: list[tuple[SourceRow, WorkItem, Draft]] = []
    failed = 0
    async with sessions() as session:
        for row in rows:
            wi = work_items.get(row.source_id)
            try:
                if wi is None:
                    raise ItemRejected(GONE_FROM_ADO)
                drafted.append((row, wi, draft(row, wi)))
            except ItemRejected as err:
                await item_records.mark_failed(session, migration_id, ISSUE, str(row.source_id), str(err), run_id)
                failed += 1
        await session.commit()
    return drafted, failed


def issue_detail(draft: IssueDraft) -> dict[str, Any]:
    """What the issue's record keeps of its draft: the mapping's notes, a cut description, users left out."""
    detail: dict[str, Any] = {"notes": draft.notes, "truncated": draft.description_truncated}
    if (description := draft.fields.get("description")) is not None:
        # The attachments phase rewrites the description only if its second pass renders something else.
        detail["description_sha256"] = description_digest(description)
    if draft.users_left_out:
        detail["users_left_out"] = draft.users_left_out
    return detail
