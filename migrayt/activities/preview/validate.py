"""Check a create payload against the target's createmeta the way Jira does, without sending it.

Messages are Jira Cloud's own wording, collected as an `ItemError` so a predicted refusal reads
exactly like the reason the run records for a refused issue ("Jira refused the issue: ...").
"""

from __future__ import annotations

import re
from typing import Any

from migrayt.connectors.adf import JIRA_TEXT_LIMIT, adf_char_count
from migrayt.connectors.jira import CreateMetaField, ItemError
from migrayt.translation.field_roles import SPRINT_TYPE

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TEXTFIELD_LIMIT = 255
TOO_LONG = f"The entered text is too long. It exceeds the allowed limit of {JIRA_TEXT_LIMIT:,} characters."
# Values created by preflight before any issue is written: their ids are not known in a dry run. The sprint
# field is known by its schema type, whatever its id on the site.
CREATED_IN_PREFLIGHT = frozenset({"components"})
REQUIRED_MESSAGES = {
    "summary": "You must specify a summary of the issue.",
    "project": "Specify a valid project ID or key",
    "priority": "Priority is required.",
    "parent": "Parent is required for sub-task issue types.",
}


def _allowed(meta: CreateMetaField) -> set[str]:
    out: set[str] = set()
    for v in meta.allowed_values or []:
        if isinstance(v, dict):
            out.update(str(v[k]) for k in ("id", "value", "name") if v.get(k) is not None)
    return out


def _ref_values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            out.extend(str(item[k]) for k in ("id", "value", "name") if item.get(k) is not None)
        elif item is not None:
            out.append(str(item))
    return out


def validate_create(fields: dict[str, Any], meta: dict[str, CreateMetaField]) -> ItemError | None:
    """`meta`: the createmeta fields of the payload's issue type, by field id."""
    errors: dict[str, str] = {}
    messages: list[str] = []
    for fid, value in fields.items():
        if fid in ("project", "issuetype"):
            continue
        m = meta.get(fid)
        if m is None:
            errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
            continue
        schema = m.schema_ or {}
        kind, custom = schema.get("type"), str(schema.get("custom") or "")
        if fid == "summary":
            if not isinstance(value, str) or not value.strip():
                errors[fid] = "You must specify a summary of the issue."
            elif len(value) > TEXTFIELD_LIMIT:
                errors[fid] = "Summary must be less than 255 characters."
            elif "\n" in value or "\r" in value:
                errors[fid] = "The summary is invalid because it contains newline characters."
        elif fid == "labels":
            bad = next((v for v in value or [] if not isinstance(v, str) or " " in v), None)
            if bad is not None:
                errors[fid] = f"The label '{bad}' contains spaces which is invalid."
            elif any(len(v) > TEXTFIELD_LIMIT for v in value or []):
                errors[fid] = "The label exceeds the maximum length of 255 characters."
        elif fid in CREATED_IN_PREFLIGHT or custom == SPRINT_TYPE:
            continue
        elif kind == "priority":
            allowed = _allowed(m)
            if allowed and not set(_ref_values(value)) & allowed:
                errors[fid] = "The priority selected is invalid."
        elif kind == "option" or (kind == "array" and schema.get("items") == "option"):
            allowed = _allowed(m)
            bad = next((v for v in _ref_values(value) if allowed and v not in allowed), None)
            if bad is not None:
                errors[fid] = f"Option value '{bad}' is not valid"
        elif kind == "number":
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                errors[fid] = "Operation value must be a number"
        elif kind == "date":
            if value is not None and (not isinstance(value, str) or not _DATE.match(value)):
                errors[fid] = f"Error parsing date string: {value}"
        elif kind == "string" and isinstance(value, dict):
            if adf_char_count(value) > JIRA_TEXT_LIMIT:
                errors[fid] = TOO_LONG
                if "CONTENT_LIMIT_EXCEEDED" not in messages:
                    messages.append("CONTENT_LIMIT_EXCEEDED")
        elif kind == "string":
            if value is not None and not isinstance(value, str):
                errors[fid] = "Operation value must be a string"
            elif value is not None and custom.endswith(":textfield") and len(value) > TEXTFIELD_LIMIT:
                errors[fid] = "The entered text is too long. It exceeds the allowed limit of 255 characters."
    for fid, m in meta.items():
        if m.required and not m.has_default_value and fid not in errors and fields.get(fid) in (None, "", []):
            errors[fid] = REQUIRED_MESSAGES.get(fid, f"{m.name} is required.")
    if errors or messages:
        return ItemError(status=400, messages=messages, field_errors=errors)
    return None
