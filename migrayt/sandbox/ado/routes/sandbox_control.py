"""`/_sandbox/*` (no auth): edit the read-only project as a user would in ADO, so delta syncs have
something to find, and count what the sandbox holds for tests and the demo to compare with Jira."""

from __future__ import annotations

import collections
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from migrayt.sandbox.generator import GeneratedProject
from migrayt.sandbox.generator.project import SourceChange

from .deps import Site, reply

router = APIRouter(prefix="/_sandbox", include_in_schema=False)


class LinkChange(BaseModel):
    rel: str = "System.LinkTypes.Related"
    to: int


class ItemChange(BaseModel):
    """Someone working on an item in ADO: one new revision with these edits."""

    id: int
    fields: dict[str, Any] = Field(default_factory=dict)
    state: str | None = None
    comments: int = Field(0, ge=0, le=50)
    attachments: int = Field(0, ge=0, le=10)
    links: list[LinkChange] = Field(default_factory=list)
    removed_links: list[LinkChange] = Field(default_factory=list)
    parent: int | None = None  # moved under this item
    unparent: bool = False  # taken from its parent
    inline_images: int = Field(0, ge=0, le=5)  # pasted into the description


class SourceChanges(BaseModel):
    changes: list[ItemChange] = Field(default_factory=list)
    new_items: int = Field(0, ge=0, le=1000)


def _source_change(c: ItemChange, now: datetime) -> SourceChange:
    return SourceChange(
        at=now,
        fields=c.fields,
        state=c.state,
        comments=c.comments,
        attachments=c.attachments,
        links=tuple((link.rel, link.to) for link in c.links),
        removed_links=tuple((link.rel, link.to) for link in c.removed_links),
        parent=c.parent,
        unparent=c.unparent,
        inline_images=c.inline_images,
    )


@router.post("/changes")
async def sandbox_changes(request: Request, site: Site, body: SourceChanges) -> Response:
    """Edit the read-only project as a user would in ADO, so delta syncs have something to find."""
    p = site.project
    now = datetime.now(UTC)
    revs: dict[str, int] = {}
    try:
        for c in body.changes:
            revs[str(c.id)] = p.change(c.id, _source_change(c, now))
    except KeyError as err:
        return reply(request, {"message": f"work item {err.args[0]} does not exist"}, 404)
    except ValueError as err:
        return reply(request, {"message": str(err)}, 400)
    added = p.add_items(body.new_items, now) if body.new_items else []
    site.counts.clear()
    return reply(request, {"changedDate": now.isoformat(), "revs": revs, "added": added})


@router.get("/state")
async def sandbox_state(request: Request, site: Site) -> Response:
    if not site.counts:
        site.counts.update(project_counts(site.project))
    return reply(request, site.counts)


def project_counts(p: GeneratedProject) -> dict[str, Any]:
    """What the sandbox holds, so tests and the demo can compare it with what landed in Jira."""
    by_type: collections.Counter[str] = collections.Counter()
    by_state: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    links: collections.Counter[str] = collections.Counter()
    attachments = attachment_bytes = comments = worklogs = 0
    for i in p.item_ids():
        core = p.core(i)
        by_type[core.type] += 1
        by_state[core.type][core.state] += 1
        for rel, _ in p.linked_items(i):
            links[rel] += 1
        atts = p.attachments(i)
        attachments += len(atts)
        attachment_bytes += sum(a.size for a in atts)
        comments += p.comment_count(i)
        worklogs += len(p.worklogs(i))
    return {
        "organization": p.spec.organization,
        "project": p.spec.project,
        "seed": p.spec.seed,
        "items": p.n,
        "itemsByType": dict(by_type),
        "itemsByTypeAndState": {k: dict(v) for k, v in by_state.items()},
        "linksByType": dict(links),
        "attachments": attachments,
        "attachmentBytes": attachment_bytes,
        "comments": comments,
        "worklogs": worklogs,
        "users": len(p.users),
        "uglyCases": p.ugly_cases(),
    }
