"""ADO work item + mapping plan → the `fields` of a Jira create call. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from migrayt.connectors.adf import AdfContext, fit_adf, html_parts_to_adf, html_to_adf
from migrayt.mapping.plan import FieldMapping, MappingPlan
from migrayt.translation.field_roles import ADO_STORY_POINTS
from migrayt.translation.provenance import (
    PANEL,
    ProvenanceTarget,
    provenance_fields,
    provenance_panel,
    source_facts,
)

SUMMARY_LIMIT = 255
TEXT_LIMIT = 32767
_LABEL_UNSAFE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ItemRejected(Exception):
    """This item cannot be written as it is; it fails alone with this reason."""


class IssueTypeRef(BaseModel):
    id: str
    name: str
    hierarchy_level: int = 0
    subtask: bool = False


class TargetCatalog(BaseModel):
    """What the Jira project offers, read once per worker and migration."""

    project_id: str
    project_key: str
    issue_types: dict[str, IssueTypeRef]
    priorities: dict[str, str] = Field(default_factory=dict)  # name → id
    field_ids: set[str] = Field(default_factory=set)
    statuses: set[str] = Field(default_factory=set)
    # Found by their schema (field_roles), never by a fixed id; None where the site has no such field.
    sprint_field: str | None = None
    story_points_field: str | None = None


@dataclass
class Lookups:
    users_by_unique_name: dict[str, str] = field(default_factory=dict)  # lower-case uniqueName/email → accountId
    users_by_ado_id: dict[str, str] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)  # area path → component id
    sprints: dict[str, int] = field(default_factory=dict)  # iteration path → sprint id
    issue_keys: dict[int, str] = field(default_factory=dict)  # ADO id → Jira key, for #123 references
    # The plan's fallback user: who an ADO user without a Jira account is written as. None: left out.
    fallback_account: str | None = None
    # Where the original dates, people and state go (custom fields or a description panel); None: nowhere.
    provenance: ProvenanceTarget | None = None
    # Set by create items, so its description renders a known `#123` as the attachments phase's second pass does
    # (an inlineCard to the Jira site): where nothing else changes, the second pass writes nothing.
    jira_site_url: str | None = None


@dataclass
class IssueDraft:
    fields: dict[str, Any]
    description_truncated: bool = False
    notes: list[str] = field(default_factory=list)
    # "assignee"/"reporter" left empty because its user has no account (and no fallback): field → [unique name,
    # ADO id], kept on the issue's record so a later run sets it once the user has one (preflight, user_fields.py).
    users_left_out: dict[str, list[str | None]] = field(default_factory=dict)


def description_digest(doc: dict[str, Any]) -> str:
    """The sha-256 of a description as Jira gets it, to tell whether a second pass would change it."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def source_label(ado_id: int) -> str:
    return f"ado-id-{ado_id}"


def clean_line(text: str) -> str:
    text = _CONTROL.sub("", text).replace("\r", " ").replace("\n", " ")
    # Lone surrogates cannot be encoded for Jira; replace rather than fail the item.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return " ".join(text.split())


def to_label(tag: str) -> str | None:
    label = _LABEL_UNSAFE.sub("-", clean_line(tag)).strip("-")
    return label[:255] or None


def identity_key(value: Any) -> tuple[str | None, str | None]:
    """(unique name, ADO id) of an identity field, which REST returns as an IdentityRef or 'Name <email>'."""
    if isinstance(value, dict):
        return (value.get("uniqueName") or None, value.get("id") or None)
    if isinstance(value, str):
        match = re.search(r"<([^>]+)>", value)
        return ((match.group(1) if match else value) or None, None)
    return (None, None)


def matched_user(value: Any, lookups: Lookups) -> str | None:
    """The user's own Jira account, when they have one."""
    unique_name, ado_id = identity_key(value)
    if ado_id and ado_id in lookups.users_by_ado_id:
        return lookups.users_by_ado_id[ado_id]
    if unique_name:
        return lookups.users_by_unique_name.get(unique_name.lower())
    return None


# The issue's user fields and the ADO field each is written from.
USER_FIELDS = {"assignee": "System.AssignedTo", "reporter": "System.CreatedBy"}


def resolve_user(value: Any, lookups: Lookups) -> str | None:
    """The account written for an identity: the user's own, else the plan's fallback user (None: left out)."""
    if identity_key(value) == (None, None):
        return None
    return matched_user(value, lookups) or lookups.fallback_account


def identity_name(value: Any) -> str:
    if isinstance(value, dict):
        return clean_line(str(value.get("displayName") or value.get("uniqueName") or ""))
    return clean_line(str(value or ""))


def fallback_note(ado_fields: dict[str, Any], lookups: Lookups, mappings: list[FieldMapping]) -> str | None:
    """Who the fallback user stands in for on this item, so the original names stay in the issue."""
    if lookups.fallback_account is None:
        return None
    roles = [("System.AssignedTo", "assigned to"), ("System.CreatedBy", "created by")]
    roles += [(m.source, m.source.rsplit(".", 1)[-1]) for m in mappings if m.transform == "identity"]
    parts = []
    for source, role in roles:
        value = ado_fields.get(source)
        if value and identity_key(value) != (None, None) and matched_user(value, lookups) is None:
            parts.append(f"{role} {identity_name(value)}")
    if not parts:
        return None
    return "In Azure DevOps: " + "; ".join(parts) + " (no Jira account; the migration's fallback user stands in)."


def target_type_for(work_item_type: str, plan: MappingPlan, as_subtask: bool) -> str | None:
    if as_subtask and work_item_type in plan.subtask_types:
        return plan.subtask_types[work_item_type]
    return plan.types.get(work_item_type)


def _transform(mapping: FieldMapping, value: Any, lookups: Lookups) -> Any:
    if value is None or value == "":
        return None
    if mapping.transform == "number":
        try:
            return float(value)
        except (TypeError, ValueError) as err:
            raise ItemRejected(f"field {mapping.source}: {value!r} is not a number") from err
    if mapping.transform == "date":
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date().isoformat()
        except ValueError as err:
            raise ItemRejected(f"field {mapping.source}: {value!r} is not a date") from err
    if mapping.transform == "identity":
        account = resolve_user(value, lookups)
        return {"accountId": account} if account else None
    if mapping.transform == "picklist":
        mapped = mapping.values.get(str(value), str(value))
        return {"value": mapped}
    if mapping.transform == "rich_text":
        return html_to_adf(str(value))
    if mapping.transform == "tags":
        return [label for t in str(value).split(";") if (label := to_label(t))]
    return clean_line(str(value))[:TEXT_LIMIT]


def build_issue_fields(
    ado_id: int,
    ado_fields: dict[str, Any],
    plan: MappingPlan,
    catalog: TargetCatalog,
    lookups: Lookups,
    *,
    as_subtask: bool = False,
    parent_key: str | None = None,
) -> IssueDraft:
    work_item_type = ado_fields.get("System.WorkItemType", "")
    type_name = target_type_for(work_item_type, plan, as_subtask)
    if not type_name:
        raise ItemRejected(f"work item type {work_item_type!r} is not mapped in the plan")
    issue_type = catalog.issue_types.get(type_name)
    if issue_type is None:
        raise ItemRejected(f"Jira issue type {type_name!r} does not exist in project {catalog.project_key}")
    notes: list[str] = []

    title = clean_line(str(ado_fields.get("System.Title") or ""))
    if not title:
        title = f"(untitled ADO work item {ado_id})"
        notes.append("empty title replaced")
    summary = title
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 1] + "…"
        notes.append("title cut to 255 characters; the full title heads the description")

    # Jira e-mails whoever a mention names, whatever the project's notification scheme: a muted run writes "@Name".
    users = lookups.users_by_ado_id
    adf_context = AdfContext(
        mention=None if plan.mute_notifications else lambda ado_identity, _name: users.get(ado_identity),
        work_item_key=lambda n: lookups.issue_keys.get(n),
        jira_site_url=lookups.jira_site_url,
    )
    html_parts = []
    if note := fallback_note(ado_fields, lookups, plan.fields):
        html_parts.append(f"<p><em>{_escape(note)}</em></p>")
        notes.append("fallback user")
    if summary != title:
        html_parts.append(f"<p><strong>Title:</strong> {_escape(title)}</p>")
    for source_field in (
        "System.Description",
        "Microsoft.VSTS.TCM.ReproSteps",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
    ):
        value = ado_fields.get(source_field)
        if value:
            if source_field != "System.Description":
                html_parts.append(f"<h3>{source_field.rsplit('.', 1)[-1]}</h3>")
            html_parts.append(str(value))
    target = lookups.provenance
    facts = source_facts(ado_id, ado_fields, target.organization_url, target.project) if target else None
    description, truncated = fit_adf(
        with_provenance_panel(html_parts_to_adf(html_parts, adf_context), ado_id, ado_fields, lookups),
        limit=TEXT_LIMIT,
        note=(
            f"Description cut at Jira's {TEXT_LIMIT:,}-character limit; the full original is attached as "
            f"ado-{ado_id}-description.html."
        ),
    )
    if truncated:
        notes.append("description truncated")

    labels = [source_label(ado_id)]
    for tag in str(ado_fields.get("System.Tags") or "").split(";"):
        if (label := to_label(tag)) and label not in labels:
            labels.append(label)

    fields: dict[str, Any] = {
        "project": {"id": catalog.project_id},
        "issuetype": {"id": issue_type.id},
        "summary": summary,
        "description": description,
        "labels": labels,
    }
    if issue_type.subtask:
        if not parent_key:
            raise ItemRejected(f"{type_name} needs a parent, and ADO parent of {ado_id} has no Jira issue")
        fields["parent"] = {"key": parent_key}

    priority = ado_fields.get("Microsoft.VSTS.Common.Priority")
    if priority is not None and (name := plan.priorities.get(str(priority))):
        if name in catalog.priorities:
            fields["priority"] = {"id": catalog.priorities[name]}
    elif "Medium" in catalog.priorities:
        fields["priority"] = {"id": catalog.priorities["Medium"]}

    users_left_out: dict[str, list[str | None]] = {}
    for jira_field, source in USER_FIELDS.items():
        value = ado_fields.get(source)
        if (account := resolve_user(value, lookups)) is not None:
            fields[jira_field] = {"accountId": account}
        elif identity_key(value) != (None, None):
            unique, identity_id = identity_key(value)
            users_left_out[jira_field] = [unique.lower() if unique else None, identity_id]

    if plan.areas_to_components and (component := lookups.components.get(str(ado_fields.get("System.AreaPath")))):
        fields["components"] = [{"id": component}]
    if (
        plan.iterations_to_sprints
        and not issue_type.subtask
        and issue_type.hierarchy_level == 0
        and catalog.sprint_field
        and (sprint := lookups.sprints.get(str(ado_fields.get("System.IterationPath"))))
    ):
        fields[catalog.sprint_field] = sprint

    for mapping in [*plan.fields, *_built_in_fields(plan, catalog)]:
        if mapping.target not in catalog.field_ids:
            continue
        value = _transform(mapping, ado_fields.get(mapping.source), lookups)
        if value is not None:
            fields[mapping.target] = value
    if target is not None and facts is not None:
        fields.update(provenance_fields(target, facts))
    return IssueDraft(fields=fields, description_truncated=truncated, notes=notes, users_left_out=users_left_out)


def with_provenance_panel(doc: dict[str, Any], ado_id: int, ado_fields: dict[str, Any], lookups: Lookups) -> dict:
    """The description with the provenance panel on top, where the site keeps no provenance fields. Every
    writer of a description uses it (create, its second pass, a delta sync), so none drops the panel."""
    target = lookups.provenance
    if target is None or target.mode != PANEL:
        return doc
    panel = provenance_panel(target, source_facts(ado_id, ado_fields, target.organization_url, target.project))
    if panel is None:
        return doc
    return {**doc, "content": [panel, *(doc.get("content") or [])]}


def _built_in_fields(plan: MappingPlan, catalog: TargetCatalog) -> list[FieldMapping]:
    """Story points land in the site's story points field unless the plan maps the ADO field itself."""
    if catalog.story_points_field is None or any(m.source == ADO_STORY_POINTS for m in plan.fields):
        return []
    return [FieldMapping(source=ADO_STORY_POINTS, target=catalog.story_points_field, transform="number")]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
