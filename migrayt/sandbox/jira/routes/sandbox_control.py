"""`/_sandbox/*` (no auth): what the site holds, in counts and issue by issue, for tests and the demo to
assert on, a reset to empty, the site settings a Jira administrator changes (the attachment size limit), and
changes a test plants as someone else (an edit, a swapped file)."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import catalog as cat
from ..adf import plain_text
from ..entities import Issue
from ..errors import JiraError
from ..state import JiraState
from ..store import ACTING_AS
from .deps import JiraSite, json_body

router = APIRouter(prefix="/_sandbox")


def _labels(state: JiraState) -> dict:
    ado_labels: Counter[str] = Counter()
    other_labels: Counter[str] = Counter()
    for label, ids in state.label_index.items():
        (ado_labels if label.startswith("ado-id-") else other_labels)[label] = len(ids)
    return {
        "ado_id_labels": len(ado_labels),
        "ado_id_duplicates": sum(1 for n in ado_labels.values() if n > 1),
        "other": dict(other_labels),
    }


@router.post("/issues/{key}/edit-as")
async def edit_as(request: Request, state: JiraSite, key: str) -> Response:
    """Edit an issue as another account (`{"accountId": …, "fields": {…}}`): the changelog names that account,
    as when a colleague changes an issue in Jira after a migration."""
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("accountId"), str):
        raise JiraError(400, ["accountId is required."])
    token = ACTING_AS.set(body["accountId"])
    try:
        state.edit_issue(state.issue(key), {"fields": body.get("fields") or {}})
    finally:
        ACTING_AS.reset(token)
    return Response(status_code=204)


@router.put("/attachments/{att_id}/content", status_code=204)
async def replace_attachment_content(request: Request, state: JiraSite, att_id: str) -> Response:
    """Swap an attachment's bytes for the request body, keeping its name and id: a test plants a file that a
    name-and-size check cannot tell from the migrated one."""
    state.replace_attachment_content(state.attachment(att_id), await request.body())
    return Response(status_code=204)


@router.get("/state")
async def sandbox_state(state: JiraSite) -> dict:
    by_type = Counter(cat.ISSUE_TYPES_BY_ID[i.type_id].name for i in state.issues.values())
    by_status = Counter(cat.STATUSES_BY_ID[i.status_id].name for i in state.issues.values())
    links_by_type = Counter(cat.LINK_TYPES_BY_ID[lk.type_id].name for lk in state.links.values())
    return {
        "issues": {
            "total": len(state.issues),
            "by_type": dict(by_type),
            "by_status": dict(by_status),
            "by_label": _labels(state),
            "pending_search_index": len(state.pending_index),
        },
        "links": {"total": len(state.links), "by_type": dict(links_by_type)},
        "remote_links": len(state.remote_links),
        "attachments": {"total": len(state.attachments), "bytes": sum(a.size for a in state.attachments.values())},
        "comments": len(state.comments),
        "worklogs": len(state.worklogs),
        "components": len(state.components),
        "sprints": len(state.sprints),
        "custom_fields": sorted(f.name for f in state.custom_fields.values()),
        # The project's notification scheme, how often each was assigned, and the e-mails it would have sent.
        "notifications": state.notifications_state(),
    }


@router.get("/state/issues")
async def sandbox_issues(state: JiraSite, offset: int = 0, limit: int = 100) -> dict:
    ids = sorted(state.issues)
    page = ids[max(offset, 0) : max(offset, 0) + max(min(limit, 1000), 0)]
    return {"total": len(ids), "offset": offset, "issues": [_issue_detail(state, state.issues[i]) for i in page]}


@router.post("/reset", status_code=204)
async def sandbox_reset(state: JiraSite) -> Response:
    state.reset()
    return Response(status_code=204)


# What a Jira administrator may change on the site (System › Attachments) while it runs.
SITE_SETTINGS = ("max_attachment_bytes",)


@router.get("/settings")
async def site_settings(state: JiraSite) -> dict:
    return {name: getattr(state.config, name) for name in SITE_SETTINGS}


@router.patch("/settings")
async def change_site_settings(request: Request, state: JiraSite) -> dict:
    """`{"max_attachment_bytes": N}`: the demo raises the upload limit, as the 413's remedy tells an admin to."""
    body = await json_body(request)
    if not isinstance(body, dict) or not body or set(body) - set(SITE_SETTINGS):
        raise JiraError(400, [f"Give some of: {', '.join(SITE_SETTINGS)}."])
    for name, value in body.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise JiraError(400, [f"{name} must be a positive whole number."])
        setattr(state.config, name, value)
    return await site_settings(state)


def _links(state: JiraState, issue: Issue) -> list[dict]:
    links = []
    for lid in state.issue_links.get(issue.id, ()):
        lk = state.links[lid]
        outward = lk.inward_id == issue.id
        other = state.issues[lk.outward_id if outward else lk.inward_id]
        links.append(
            {
                "type": cat.LINK_TYPES_BY_ID[lk.type_id].name,
                "direction": "outward" if outward else "inward",
                "other": other.key,
            }
        )
    return links


def _issue_detail(state: JiraState, issue: Issue) -> dict:
    parent = state.issues.get(issue.parent_id) if issue.parent_id is not None else None
    return {
        "key": issue.key,
        "id": str(issue.id),
        "type": cat.ISSUE_TYPES_BY_ID[issue.type_id].name,
        "status": cat.STATUSES_BY_ID[issue.status_id].name,
        "priority": cat.PRIORITIES_BY_ID[issue.priority_id].name if issue.priority_id else None,
        "summary": issue.summary,
        "labels": list(issue.labels),
        "parent": parent.key if parent is not None else None,
        "components": [state.components[c].name for c in issue.component_ids if c in state.components],
        "sprints": list(issue.sprint_ids),
        "story_points": issue.values.get(cat.STORY_POINTS),
        "description": plain_text(issue.values["description"]) if "description" in issue.values else None,
        "links": _links(state, issue),
        "remote_links": [
            {"globalId": r.global_id, "url": r.object.get("url"), "title": r.object.get("title")}
            for r in (state.remote_links[x] for x in state.issue_remote_links.get(issue.id, ()))
        ],
        "attachments": [
            {"id": str(a.id), "filename": a.filename, "size": a.size, "sha256": a.sha256}
            for a in (state.attachments[x] for x in state.issue_attachments.get(issue.id, ()))
        ],
        "comments": [
            {"author": c.author_id, "body": plain_text(c.body)}
            for c in (state.comments[x] for x in state.issue_comments.get(issue.id, ()))
        ],
        "worklogs": [
            {
                "author": w.author_id,
                "seconds": w.time_spent_seconds,
                "started": w.started,
                "adjust_estimate": w.adjust_estimate,
                "notify_users": w.notify_users,
                "properties": {p["key"]: p.get("value") for p in w.properties},
            }
            for w in (state.worklogs[x] for x in state.issue_worklogs.get(issue.id, ()))
        ],
        "properties": sorted(issue.properties),
    }
