"""JSON shapes of the sandbox's entities, as the Jira Cloud REST v3 / Agile 1.0 schemas define them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import catalog as cat
from .entities import Attachment, Comment, Component, Issue, RemoteLink, Sprint, User, Worklog, jira_time
from .state import JiraState

ALL_FIELDS = (
    "summary",
    "issuetype",
    "project",
    "status",
    "priority",
    "labels",
    "components",
    "description",
    "environment",
    "parent",
    "assignee",
    "reporter",
    "creator",
    "created",
    "updated",
    "duedate",
    "statuscategorychangedate",
    "issuelinks",
    "subtasks",
    "attachment",
    "comment",
    "worklog",
    cat.STORY_POINTS,
    cat.SPRINT,
    cat.ACCEPTANCE_CRITERIA,
    cat.SOURCE_URL,
)
NAVIGABLE = tuple(f for f in ALL_FIELDS if f not in ("comment", "worklog"))


def avatars(seed: str) -> dict[str, str]:
    base = "https://avatar-management--avatars.server-location.prod.public.atl-paas.net/initials"
    return {f"{n}x{n}": f"{base}/{seed}-1.png?size={n}&s={n}" for n in (16, 24, 32, 48)}


def user(u: User, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/user?accountId={u.account_id}",
        "accountId": u.account_id,
        "accountType": "atlassian",
        "avatarUrls": avatars("".join(p[:1] for p in u.display_name.split()[:2]).upper() or "U"),
        "displayName": u.display_name,
        "active": u.active,
        "timeZone": "Etc/UTC",
    }
    if u.email and u.email_visible:
        out["emailAddress"] = u.email
    return out


def user_or_unknown(state: JiraState, account_id: str | None, base: str) -> dict[str, Any] | None:
    if account_id is None:
        return None
    u = state.user(account_id)
    if u is None:
        return {"accountId": account_id, "active": False, "displayName": "Former user", "accountType": "unknown"}
    return user(u, base)


def myself(u: User, base: str) -> dict[str, Any]:
    out = user(u, base)
    out["locale"] = "en_US"
    out["groups"] = {"size": 2, "items": []}
    out["applicationRoles"] = {"size": 1, "items": []}
    out["expand"] = "groups,applicationRoles"
    return out


def issue_type(it: cat.IssueType, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/api/3/issuetype/{it.id}",
        "id": it.id,
        "iconUrl": f"{base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{it.id}?size=medium",
        "name": it.name,
        "subtask": it.subtask,
        "avatarId": int(it.id),
        "hierarchyLevel": it.hierarchy_level,
    }


def status_category(c: cat.StatusCategory, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/api/3/statuscategory/{c.id}",
        "id": c.id,
        "key": c.key,
        "colorName": c.color,
        "name": c.name,
    }


def status(st: cat.Status, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/api/3/status/{st.id}",
        "description": "",
        "iconUrl": f"{base}/images/icons/statuses/generic.png",
        "name": st.name,
        "id": st.id,
        "statusCategory": status_category(st.category, base),
    }


def priority(p: cat.Priority, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/api/3/priority/{p.id}",
        "iconUrl": f"{base}/images/icons/priorities/{p.name.lower()}.svg",
        "name": p.name,
        "id": p.id,
    }


def project(state: JiraState, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/api/3/project/{state.project_id}",
        "id": state.project_id,
        "key": state.config.project_key,
        "name": state.config.project_name,
        "projectTypeKey": "software",
        "simplified": False,
        "avatarUrls": {
            f"{n}x{n}": f"{base}/rest/api/3/universal_avatar/view/type/project/avatar/10400?size={n}"
            for n in (16, 24, 32, 48)
        },
    }


def component(c: Component, state: JiraState, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/component/{c.id}",
        "id": c.id,
        "name": c.name,
        "assigneeType": c.assignee_type,
        "realAssigneeType": c.assignee_type,
        "isAssigneeTypeValid": False,
        "project": state.config.project_key,
        "projectId": int(state.project_id),
    }
    if c.description is not None:
        out["description"] = c.description
    if c.lead_account_id is not None and (lead := state.user(c.lead_account_id)) is not None:
        out["lead"] = user(lead, base)
    return out


def linked_issue(other: Issue, base: str) -> dict[str, Any]:
    return {
        "id": str(other.id),
        "key": other.key,
        "self": f"{base}/rest/api/3/issue/{other.id}",
        "fields": {
            "summary": other.summary,
            "status": status(cat.STATUSES_BY_ID[other.status_id], base),
            "priority": priority(cat.PRIORITIES_BY_ID[other.priority_id], base) if other.priority_id else None,
            "issuetype": issue_type(cat.ISSUE_TYPES_BY_ID[other.type_id], base),
        },
    }


def link_type(lt: cat.LinkType, base: str) -> dict[str, Any]:
    return {
        "id": lt.id,
        "name": lt.name,
        "inward": lt.inward,
        "outward": lt.outward,
        "self": f"{base}/rest/api/3/issueLinkType/{lt.id}",
    }


def issue_links(issue: Issue, state: JiraState, base: str) -> list[dict[str, Any]]:
    """Links seen from one issue: the posted inward issue shows the other as `outwardIssue`, and vice versa."""
    out = []
    for lid in state.issue_links.get(issue.id, ()):
        link = state.links[lid]
        lt = cat.LINK_TYPES_BY_ID[link.type_id]
        entry: dict[str, Any] = {
            "id": str(link.id),
            "self": f"{base}/rest/api/3/issueLink/{link.id}",
            "type": link_type(lt, base),
        }
        if link.inward_id == issue.id:
            entry["outwardIssue"] = linked_issue(state.issues[link.outward_id], base)
        else:
            entry["inwardIssue"] = linked_issue(state.issues[link.inward_id], base)
        out.append(entry)
    return out


def comment(c: Comment, state: JiraState, base: str, expand: str | None = None) -> dict[str, Any]:
    author = user_or_unknown(state, c.author_id, base)
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/issue/{c.issue_id}/comment/{c.id}",
        "id": str(c.id),
        "author": author,
        "body": c.body,
        "updateAuthor": user_or_unknown(state, c.update_author_id, base) if c.update_author_id else author,
        "created": jira_time(c.created),
        "updated": jira_time(c.updated),
        "jsdPublic": True,
    }
    if c.visibility is not None:
        out["visibility"] = c.visibility
    if "properties" in (expand or "").split(","):
        out["properties"] = list(c.properties)
    return out


def duration(seconds: int) -> str:
    parts = []
    for unit, size in (("w", 5 * 8 * 3600), ("d", 8 * 3600), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0m"


def worklog(w: Worklog, state: JiraState, base: str, expand: str | None = None) -> dict[str, Any]:
    author = user_or_unknown(state, w.author_id, base)
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/3/issue/{w.issue_id}/worklog/{w.id}",
        "author": author,
        "updateAuthor": author,
        "created": jira_time(w.created),
        "updated": jira_time(w.created),
        "started": w.started,
        "timeSpent": duration(w.time_spent_seconds),
        "timeSpentSeconds": w.time_spent_seconds,
        "id": str(w.id),
        "issueId": str(w.issue_id),
    }
    if w.comment is not None:
        out["comment"] = w.comment
    if "properties" in (expand or "").split(","):
        out["properties"] = list(w.properties)
    return out


def attachment(a: Attachment, state: JiraState, base: str) -> dict[str, Any]:
    return {
        "self": f"{base}/rest/api/3/attachment/{a.id}",
        "id": str(a.id),
        "filename": a.filename,
        "author": user_or_unknown(state, a.author_id, base),
        "created": jira_time(a.created),
        "size": a.size,
        "mimeType": a.mime_type,
        "content": f"{base}/rest/api/3/attachment/content/{a.id}",
    }


def attachment_metadata(a: Attachment, state: JiraState, base: str) -> dict[str, Any]:
    out = attachment(a, state, base)
    out["id"] = a.id
    out["properties"] = {}
    return out


def remote_link(r: RemoteLink, issue: Issue, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "self": f"{base}/rest/api/3/issue/{issue.key}/remotelink/{r.id}",
        "object": r.object,
    }
    if r.global_id is not None:
        out["globalId"] = r.global_id
    if r.application is not None:
        out["application"] = r.application
    if r.relationship is not None:
        out["relationship"] = r.relationship
    return out


def sprint(sp: Sprint, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": sp.id,
        "self": f"{base}/rest/agile/1.0/sprint/{sp.id}",
        "state": sp.state,
        "name": sp.name,
        "originBoardId": sp.board_id,
        "createdDate": jira_time(sp.created),
    }
    if sp.start_date:
        out["startDate"] = sp.start_date
    if sp.end_date:
        out["endDate"] = sp.end_date
    if sp.goal is not None:
        out["goal"] = sp.goal
    return out


def sprint_field(sp: Sprint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": sp.id,
        "name": sp.name,
        "state": sp.state,
        "boardId": sp.board_id,
        "goal": sp.goal or "",
    }
    if sp.start_date:
        out["startDate"] = sp.start_date
    if sp.end_date:
        out["endDate"] = sp.end_date
    return out


def select_fields(
    requested: Iterable[str] | None,
    default: tuple[str, ...],
    ids: cat.FieldIds | None = None,
    custom: Iterable[str] = (),
) -> tuple[str, ...]:
    """Jira's `fields` parameter: names, `*all`, `*navigable`, `-name` exclusions, comma-separated.

    `custom`: the ids of the custom fields created on the site, which `*all` and `*navigable` include too."""
    custom = tuple(custom)
    if requested is None:
        return default + custom if default in (ALL_FIELDS, NAVIGABLE) else default
    names: list[str] = []
    for item in requested:
        names.extend(x.strip() for x in str(item).split(",") if x.strip())
    if ids is not None:
        names = [f"-{ids.into(n[1:])}" if n.startswith("-") else ids.into(n) for n in names]
    if not names:
        return default + custom if default in (ALL_FIELDS, NAVIGABLE) else default
    chosen: list[str] = []
    excluded = {n[1:] for n in names if n.startswith("-")}
    for n in names:
        if n == "*all":
            chosen.extend(ALL_FIELDS + custom)
        elif n == "*navigable":
            chosen.extend(NAVIGABLE + custom)
        elif not n.startswith("-") and (n in ALL_FIELDS or n in custom):
            chosen.append(n)
    if not chosen and excluded:
        chosen = list(ALL_FIELDS + custom)
    return tuple(f for f in dict.fromkeys(chosen) if f not in excluded)


def issue(
    i: Issue, state: JiraState, base: str, fields: tuple[str, ...] = ALL_FIELDS, properties: Iterable[str] = ()
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": str(i.id),
        "self": f"{base}/rest/api/3/issue/{i.id}",
        "key": i.key,
        "fields": {state.field_ids.out(f): _field(i, f, state, base) for f in fields},
    }
    props = {k: i.properties[k] for k in properties if k in i.properties}
    if props:
        out["properties"] = props
    return out


def _field(i: Issue, f: str, state: JiraState, base: str) -> Any:
    if f == "summary":
        return i.summary
    if f == "issuetype":
        return issue_type(cat.ISSUE_TYPES_BY_ID[i.type_id], base)
    if f == "project":
        return project(state, base)
    if f == "status":
        return status(cat.STATUSES_BY_ID[i.status_id], base)
    if f == "priority":
        return priority(cat.PRIORITIES_BY_ID[i.priority_id], base) if i.priority_id else None
    if f == "labels":
        return list(i.labels)
    if f == "components":
        return [
            {"self": f"{base}/rest/api/3/component/{c}", "id": c, "name": state.components[c].name}
            for c in i.component_ids
            if c in state.components
        ]
    if f in ("description", "environment", "duedate", cat.STORY_POINTS, cat.ACCEPTANCE_CRITERIA, cat.SOURCE_URL):
        return i.values.get(f)
    if f == "parent":
        parent = state.issues.get(i.parent_id) if i.parent_id is not None else None
        return linked_issue(parent, base) if parent is not None else None
    if f == "assignee":
        return user_or_unknown(state, i.assignee_id, base)
    if f in ("reporter", "creator"):
        return user_or_unknown(state, i.reporter_id if f == "reporter" else state.me.account_id, base)
    if f == "created":
        return jira_time(i.created)
    if f == "updated":
        return jira_time(i.updated)
    if f == "statuscategorychangedate":
        return jira_time(i.status_changed or i.created)
    if f == "issuelinks":
        return issue_links(i, state, base)
    if f == "subtasks":
        kids = sorted(state.children.get(i.id, ()))
        return [
            linked_issue(state.issues[k], base) for k in kids if cat.ISSUE_TYPES_BY_ID[state.issues[k].type_id].subtask
        ]
    if f == "attachment":
        return [attachment(state.attachments[a], state, base) for a in state.issue_attachments.get(i.id, ())]
    if f == "comment":
        ids = state.issue_comments.get(i.id, [])
        return {
            "comments": [comment(state.comments[c], state, base) for c in ids],
            "self": f"{base}/rest/api/3/issue/{i.id}/comment",
            "maxResults": len(ids),
            "total": len(ids),
            "startAt": 0,
        }
    if f == "worklog":
        ids = state.issue_worklogs.get(i.id, [])
        return {
            "startAt": 0,
            "maxResults": len(ids),
            "total": len(ids),
            "worklogs": [worklog(state.worklogs[w], state, base) for w in ids],
        }
    if f == cat.SPRINT:
        sprints = [sprint_field(state.sprints[s]) for s in i.sprint_ids if s in state.sprints]
        return sprints or None
    if f in state.custom_fields:
        return i.values.get(f)
    return None


def field_details(f: cat.FieldDef) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.id,
        "key": f.id,
        "name": f.name,
        "custom": f.custom,
        "orderable": f.settable,
        "navigable": f.navigable,
        "searchable": True,
        "clauseNames": list(f.clause_names),
        "schema": f.schema,
    }
    return out


def allowed_values(fid: str, state: JiraState, base: str, type_id: str) -> list[Any] | None:
    if fid == "issuetype":
        return [issue_type(cat.ISSUE_TYPES_BY_ID[type_id], base)]
    if fid == "project":
        return [project(state, base)]
    if fid == "priority":
        return [priority(p, base) for p in cat.PRIORITIES]
    if fid == "components":
        return [
            {"self": f"{base}/rest/api/3/component/{c.id}", "id": c.id, "name": c.name}
            for c in state.components.values()
        ]
    return None


def create_meta_field(f: cat.FieldDef, state: JiraState, base: str, type_id: str, required: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "fieldId": f.id,
        "key": f.id,
        "name": f.name,
        "required": required,
        "schema": f.schema,
        "operations": list(f.operations),
        "hasDefaultValue": f.id == "priority",
    }
    values = allowed_values(f.id, state, base, type_id)
    if values is not None:
        out["allowedValues"] = values
    if f.id == "priority":
        out["defaultValue"] = priority(cat.PRIORITIES_BY_ID[cat.DEFAULT_PRIORITY_ID], base)
    if f.id == "labels":
        out["autoCompleteUrl"] = f"{base}/rest/api/1.0/labels/suggest?query="
    return out


def create_meta_issue_type(it: cat.IssueType, base: str, project_key: str) -> dict[str, Any]:
    out = issue_type(it, base)
    out["self"] = f"{base}/rest/api/3/issuetype/{it.id}"
    out["description"] = it.description
    return out


def transition(t: cat.Transition, base: str) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "to": status(cat.STATUSES_BY_ID[t.to], base),
        "hasScreen": False,
        "isGlobal": False,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }


def board(state: JiraState, base: str) -> dict[str, Any]:
    return {
        "id": state.board_id,
        "self": f"{base}/rest/agile/1.0/board/{state.board_id}",
        "name": state.board_name,
        "type": "scrum",
        "location": {
            "projectId": int(state.project_id),
            "displayName": f"{state.config.project_name} ({state.config.project_key})",
            "projectName": state.config.project_name,
            "projectKey": state.config.project_key,
            "projectTypeKey": "software",
            "name": f"{state.config.project_name} ({state.config.project_key})",
        },
    }
