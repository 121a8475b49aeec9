"""Provenance: the facts Jira's REST API cannot set on an issue (when and by whom it was really opened, changed,
resolved and closed, its state and where it came from), kept in custom fields of their own, or, where the
site refuses custom fields, in an info panel at the top of the description. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from migrayt.mapping.plan import ProvenanceChoice
from migrayt.translation.source_links import RemoteLinkPlan

FactKind = Literal["number", "url", "datetime", "text"]
_TYPES = "com.atlassian.jira.plugin.system.customfieldtypes:"
# Jira custom field type and searcher per kind (the searcher makes the field usable in JQL).
JIRA_FIELD_TYPES: dict[str, tuple[str, str]] = {
    "number": (_TYPES + "float", _TYPES + "exactnumber"),
    "url": (_TYPES + "url", _TYPES + "exacttextsearcher"),
    "datetime": (_TYPES + "datetime", _TYPES + "datetimerange"),
    "text": (_TYPES + "textfield", _TYPES + "textsearcher"),
}
TEXT_MAX = 255  # a one-line text field's limit
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ProvenanceMode = Literal["fields", "panel"]
FIELDS: Literal["fields"] = "fields"
PANEL: Literal["panel"] = "panel"
# The provenance_field record (source key) whose target key says where a migration's provenance goes.
MODE_KEY = "(where)"


@dataclass(frozen=True)
class Fact:
    key: str  # its switch in the mapping plan
    name: str  # the Jira custom field's name, found or created by preflight
    kind: FactKind
    description: str

    @property
    def jira_type(self) -> str:
        return JIRA_FIELD_TYPES[self.kind][0]

    @property
    def searcher(self) -> str:
        return JIRA_FIELD_TYPES[self.kind][1]


FACTS: tuple[Fact, ...] = (
    Fact("ado_id", "ADO ID", "number", "The Azure DevOps work item id (set by Migrayt)."),
    Fact("ado_url", "ADO URL", "url", "The Azure DevOps work item this issue came from (set by Migrayt)."),
    Fact("original_created", "Original created", "datetime", "When the work item was created in Azure DevOps."),
    Fact("original_created_by", "Original created by", "text", "Who created the work item in Azure DevOps."),
    Fact("original_changed", "Original changed", "datetime", "When the work item last changed in Azure DevOps."),
    Fact("original_resolved", "Original resolved", "datetime", "When the work item was resolved in Azure DevOps."),
    Fact("original_closed", "Original closed", "datetime", "When the work item was closed in Azure DevOps."),
    Fact("original_state", "Original state", "text", "The work item's state in Azure DevOps."),
)
FACTS_BY_KEY = {f.key: f for f in FACTS}


def chosen_facts(choice: ProvenanceChoice) -> list[Fact]:
    return [f for f in FACTS if getattr(choice, f.key)]


@dataclass
class ProvenanceTarget:
    """Where a run writes provenance, as preflight settled it: custom field ids, or the description panel."""

    organization_url: str
    project: str
    facts: list[Fact]
    mode: ProvenanceMode = FIELDS
    field_ids: dict[str, str] = field(default_factory=dict)  # fact key → customfield_N


def ado_url(organization_url: str, project: str, ado_id: int) -> str:
    return f"{organization_url.rstrip('/')}/{quote(project, safe='')}/_workitems/edit/{ado_id}"


def link_back(organization_url: str, project: str, ado_id: int) -> RemoteLinkPlan:
    """The remote link from an issue to its work item; its globalId makes a repeat update it, not add one."""
    url = ado_url(organization_url, project, ado_id)
    return RemoteLinkPlan(ado_id, url, f"ADO #{ado_id}", f"ado-workitem:{url}", "migrated from")


def utc_datetime(value: Any) -> datetime | None:
    """An ADO date-time (`2024-01-02T03:04:05.67Z`) as an aware UTC datetime, to the second."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def person(value: Any) -> str | None:
    """An ADO identity as a name anyone can read, with the e-mail: `Jane Doe <jane@example.com>`."""
    if not value:
        return None
    if isinstance(value, dict):
        name = str(value.get("displayName") or "").strip()
        mail = str(value.get("uniqueName") or "").strip()
        text = f"{name} <{mail}>" if name and mail and mail != name else (name or mail)
    else:
        text = str(value).strip()
    return one_line(text)


def one_line(text: str) -> str | None:
    """Text as a one-line field takes it: no control characters, spaces collapsed, at most 255 characters."""
    text = _CONTROL.sub(" ", text).encode("utf-8", "replace").decode("utf-8")
    return " ".join(text.split())[:TEXT_MAX] or None


def source_facts(ado_id: int, ado_fields: dict[str, Any], organization_url: str, project: str) -> dict[str, Any]:
    """Every provenance fact of one work item, None where ADO has no value (a date-time as a UTC datetime)."""
    state = one_line(str(ado_fields.get("System.State") or ""))
    return {
        "ado_id": ado_id,
        "ado_url": ado_url(organization_url, project, ado_id),
        "original_created": utc_datetime(ado_fields.get("System.CreatedDate")),
        "original_created_by": person(ado_fields.get("System.CreatedBy")),
        "original_changed": utc_datetime(ado_fields.get("System.ChangedDate")),
        "original_resolved": utc_datetime(ado_fields.get("Microsoft.VSTS.Common.ResolvedDate")),
        "original_closed": utc_datetime(ado_fields.get("Microsoft.VSTS.Common.ClosedDate")),
        "original_state": state,
    }


def jira_value(fact: Fact, value: Any) -> Any:
    """A fact as a Jira custom field takes it on create and edit."""
    if value is None:
        return None
    if fact.kind == "datetime":
        return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if fact.kind == "number":
        return value
    if fact.kind == "url" and len(str(value)) > TEXT_MAX:
        return None  # a cut address leads nowhere: the link back carries it in full
    return str(value)


def provenance_fields(target: ProvenanceTarget, facts: dict[str, Any]) -> dict[str, Any]:
    """The custom field values of one issue (facts without a value are left out)."""
    out: dict[str, Any] = {}
    for fact in target.facts:
        fid = target.field_ids.get(fact.key)
        value = jira_value(fact, facts.get(fact.key))
        if fid and value is not None:
            out[fid] = value
    return out


def shown(fact: Fact, value: Any) -> str:
    if fact.kind == "datetime":
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if fact.kind == "number":
        return f"#{value}"
    return str(value)


def provenance_panel(target: ProvenanceTarget, facts: dict[str, Any]) -> dict[str, Any] | None:
    """An ADF info panel with the same facts, one line each, for a site without custom fields."""
    lines = []
    for fact in target.facts:
        value = facts.get(fact.key)
        if value is None:
            continue
        text: dict[str, Any] = {"type": "text", "text": shown(fact, value)}
        if fact.kind == "url":
            text["marks"] = [{"type": "link", "attrs": {"href": str(value)}}]
        label = {"type": "text", "text": f"{fact.name}: ", "marks": [{"type": "strong"}]}
        lines.append({"type": "paragraph", "content": [label, text]})
    if not lines:
        return None
    return {"type": "panel", "attrs": {"panelType": "info"}, "content": lines}


def read_back(fact: Fact, value: Any) -> Any:
    """A value Jira answers with, in the form `source_facts` gives (for validation's comparison)."""
    if value is None or value == "":
        return None
    if fact.kind == "datetime":
        return utc_datetime(str(value).replace("+0000", "+00:00"))
    if fact.kind == "number":
        return int(value) if float(value).is_integer() else value
    return str(value)
