"""The rules a create, an edit or a transition's fields must pass, answered with Jira's own messages.

`_validate` turns `fields` plus `update` operations into the normalised changes an issue takes, or
into the errors Jira Cloud would answer with; one small rule per field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import catalog as cat
from .adf import CONTENT_LIMIT, adf_validator, stored_length
from .custom_fields import CustomFieldOps, parse_datetime
from .entities import Issue, jira_time, parse_ref
from .errors import JiraError

NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
UNSUPPORTED_CONTENT = (
    "We can't create this issue for you right now, it could be due to unsupported content you've entered "
    "into one or more of the issue fields. If this situation persists, contact your administrator as they'll "
    "be able to access more specific information in the log file."
)
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
_REQUIRED = {
    "summary": "You must specify a summary of the issue.",
    "project": "Specify a valid project ID or key",
    "priority": "Priority is required.",
    "parent": "Parent is required for sub-task issue types.",
}

Errors = dict[str, str]
Rule = Callable[[Any, str, Any, dict[str, Any], Errors, list[str]], None]


def _apply_ops(fid: str, ops: list, current: list[Any], errors: Errors) -> Any:
    """The value `update` operations leave, starting from the issue's current one (errors set on failure)."""
    value: Any = current
    for op in ops:
        if not isinstance(op, dict) or len(op) != 1:
            errors[fid] = f"Field '{fid}': each operation must have exactly one of set, add, remove."
            break
        ((verb, arg),) = op.items()
        if verb == "set":
            value = arg
        elif verb in ("add", "remove") and fid in ("labels", "components"):
            items = value if isinstance(value, list) else []
            if verb == "add":
                value = items + [arg]
            else:
                gone = parse_ref(arg)
                value = [x for x in items if parse_ref(x) != gone and x != arg and parse_ref(x)[0] != gone[0]]
        else:
            errors[fid] = f"Field '{fid}' does not support operation '{verb}'."
            break
    return value


def _current(fid: str, existing: Issue | None) -> list[Any]:
    if fid == "labels" and existing is not None:
        return list(existing.labels)
    if fid == "components" and existing is not None:
        return [{"id": c} for c in existing.component_ids]
    return []


def _merge_updates(
    fields: dict[str, Any], update: dict[str, Any], existing: Issue | None, errors: Errors, settable: frozenset[str]
) -> dict:
    both = set(fields) & set(update)
    for fid in sorted(both):
        errors[fid] = f"Field '{fid}' cannot be set in both 'fields' and 'update'."
    merged: dict[str, Any] = dict(fields)
    for fid, ops in update.items():
        if fid in both:
            continue
        if fid not in settable or fid in ("project", "issuetype"):
            errors[fid] = _NOT_ON_SCREEN.format(fid)
            continue
        if not isinstance(ops, list):
            errors[fid] = f"Field '{fid}': update operations must be a list."
            continue
        merged[fid] = _apply_ops(fid, ops, _current(fid, existing), errors)
    return merged


class FieldRules(CustomFieldOps):
    def settable_fields(self) -> frozenset[str]:
        return cat.SETTABLE_FIELDS | frozenset(self.custom_fields)

    def _check_rich_text(self, fid: str, value: Any, errors: Errors, messages: list[str]) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            errors[fid] = NOT_ADF
            return
        if adf_validator().first_error(value) is not None:
            errors[fid] = "INVALID_INPUT"
            if UNSUPPORTED_CONTENT not in messages:
                messages.append(UNSUPPORTED_CONTENT)
            return
        if stored_length(value) > CONTENT_LIMIT:
            errors[fid] = TOO_LONG
            if "CONTENT_LIMIT_EXCEEDED" not in messages:
                messages.append("CONTENT_LIMIT_EXCEEDED")

    def _user_ref(self, fid: str, value: Any, errors: Errors) -> str | None:
        if value is None:
            return None
        account = value.get("accountId", value.get("id")) if isinstance(value, dict) else None
        if not isinstance(account, str) or account not in self.users:
            errors[fid] = f"Specify a valid value for {fid}" if account is None else f"User '{account}' does not exist."
            return None
        return account

    def _validate(
        self,
        fields: dict[str, Any],
        update: dict[str, Any],
        existing: Issue | None,
    ) -> tuple[dict[str, Any], list[str], Errors]:
        """Check create/edit input; returns the normalised changes and Jira's errors."""
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        ids = self.field_ids
        fields = {ids.into(k): v for k, v in fields.items()}
        update = {ids.into(k): v for k, v in update.items()}
        out, messages, errors = self._validate_inside(fields, update, existing)
        return out, messages, {ids.shown(k): v.replace(k, ids.shown(k)) for k, v in errors.items()}

    def _validate_inside(
        self,
        fields: dict[str, Any],
        update: dict[str, Any],
        existing: Issue | None,
    ) -> tuple[dict[str, Any], list[str], Errors]:
        errors: Errors = {}
        messages: list[str] = []
        out: dict[str, Any] = {}
        # `update` operations turn into plain values against the issue's current value
        merged = _merge_updates(fields, update, existing, errors, self.settable_fields())
        type_id = self._check_project_and_type(merged, existing, out, errors)
        if existing is None and type_id is None and "issuetype" not in errors:
            errors["issuetype"] = "Specify an issue type"
        if type_id:
            screen = set(cat.create_fields(type_id)) | self.custom_on_screen(type_id)
        else:
            screen = set(self.settable_fields())
        for fid, value in merged.items():
            if fid in errors or fid in ("project", "issuetype"):
                continue
            if fid not in screen:
                errors[fid] = _NOT_ON_SCREEN.format(fid)
                continue
            rule = _rule_for(fid) or (FieldRules._rule_custom if fid in self.custom_fields else None)
            if rule is not None:
                rule(self, fid, value, out, errors, messages)
        # required fields and the hierarchy rules need the final issue type and parent
        if type_id is not None and "issuetype" not in errors:
            if existing is None:
                self._check_required(type_id, merged, errors)
            self._check_hierarchy(type_id, existing, out, errors)
        return out, messages, errors

    # --- project and issue type, which decide the screen ------------------------------------------

    def _check_project_and_type(
        self, merged: dict[str, Any], existing: Issue | None, out: dict[str, Any], errors: Errors
    ) -> str | None:
        type_id = existing.type_id if existing is not None else None
        for fid, value in merged.items():
            if fid in errors:
                continue
            if fid not in self.settable_fields():
                errors[fid] = _NOT_ON_SCREEN.format(fid)
            elif fid == "project":
                ident, key = parse_ref(value)
                if ident != self.project_id and (key or "").upper() != self.config.project_key:
                    errors["project"] = "Specify a valid project ID or key"
            elif fid == "issuetype":
                type_id = _issue_type(value, existing, out, errors, type_id)
        return type_id

    def _check_required(self, type_id: str, merged: dict[str, Any], errors: Errors) -> None:
        for fid in sorted(cat.required_fields(type_id)):
            if fid not in errors and merged.get(fid) in (None, "", []):
                errors[fid] = _REQUIRED.get(fid, f"{cat.FIELDS_BY_ID[fid].name} is required.")

    def _check_hierarchy(self, type_id: str, existing: Issue | None, out: dict[str, Any], errors: Errors) -> None:
        it = cat.ISSUE_TYPES_BY_ID[type_id]
        parent_id = out.get("parent_id", existing.parent_id if existing is not None else None)
        if "parent" in errors or (parent_id is None and "parent_id" not in out):
            return
        if it.subtask and parent_id is None:
            errors["parent"] = "Parent is required for sub-task issue types."
        elif parent_id is not None:
            parent = self.issues[parent_id]
            level = cat.ISSUE_TYPES_BY_ID[parent.type_id].hierarchy_level
            if existing is not None and parent_id == existing.id:
                errors["parent"] = "An issue cannot be its own parent."
            elif level != it.hierarchy_level + 1:
                errors["parent"] = "Given parent issue does not belong to appropriate hierarchy."

    # --- one rule per field --------------------------------------------------------------------------

    def _rule_summary(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        if not isinstance(value, str) or not value.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(value) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in value or "\r" in value:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        else:
            out["summary"] = value

    def _rule_rich_text(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        self._check_rich_text(fid, value, errors, messages)
        out[fid] = value

    def _rule_priority(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        if value is None:
            out["priority_id"] = None
            return
        ident, name = parse_ref(value)
        pr = cat.PRIORITIES_BY_ID.get(ident or "") or cat.PRIORITIES_BY_NAME.get((name or "").lower())
        if pr is None:
            errors["priority"] = "The priority selected is invalid."
        else:
            out["priority_id"] = pr.id

    def _rule_labels(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        labels = [] if value is None else value
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors["labels"] = "Field 'labels' requires a list of strings."
            return
        bad = next((x for x in labels if not x or any(c.isspace() for c in x)), None)
        if bad is not None:
            errors["labels"] = f"The label '{bad}' contains spaces which is invalid."
        elif any(len(x) > 255 for x in labels):
            errors["labels"] = "The label exceeds the maximum length of 255 characters."
        else:
            out["labels"] = list(dict.fromkeys(labels))

    def _rule_components(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        comps = [] if value is None else value
        if not isinstance(comps, list):
            errors["components"] = "Field 'components' requires a list."
            return
        ids: list[str] = []
        for c in comps:
            ident, name = parse_ref(c)
            found = self.components.get(ident or "")
            if found is None and name is not None:
                found = next((x for x in self.components.values() if x.name == name), None)
            if found is None:
                what = f"id '{ident}'" if ident is not None else f"name '{name}'"
                errors["components"] = f"Component with {what} does not exist."
                return
            ids.append(found.id)
        out["component_ids"] = list(dict.fromkeys(ids))

    def _rule_parent(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        if value is None:
            out["parent_id"] = None
            return
        parent = self.find_issue(*parse_ref(value))
        if parent is None:
            errors["parent"] = "Could not find issue by id or key."
        else:
            out["parent_id"] = parent.id

    def _rule_user(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        out[f"{fid}_id"] = self._user_ref(fid, value, errors)

    def _rule_duedate(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        if value is not None and (not isinstance(value, str) or not _DATE.match(value)):
            errors["duedate"] = f"Error parsing date string: {value}"
        else:
            out["duedate"] = value

    def _rule_number(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            errors[fid] = "Operation value must be a number"
        else:
            out[fid] = value

    def _rule_sprint(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        raw = [] if value is None else (value if isinstance(value, list) else [value])
        sprint_ids: list[int] = []
        for s in raw:
            sid = s.get("id") if isinstance(s, dict) else s
            if isinstance(sid, bool) or not isinstance(sid, int):
                errors[fid] = "Number value expected as the Sprint id."
                return
            if sid not in self.sprints:
                errors[fid] = f"Sprint with id {sid} does not exist."
                return
            sprint_ids.append(sid)
        out["sprint_ids"] = sprint_ids

    def _rule_custom(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        """A field an administrator created, by its type."""
        kind = self.custom_kind(fid)
        if kind == "number":
            self._rule_number(fid, value, out, errors, messages)
        elif kind == "datetime":
            when = parse_datetime(value)
            if value is not None and when is None:
                errors[fid] = f"Error parsing time: {value}"
            else:
                out[fid] = None if when is None else jira_time(when)
        else:
            self._rule_url(fid, value, out, errors, messages)

    def _rule_url(self, fid: str, value: Any, out: dict[str, Any], errors: Errors, messages: list[str]) -> None:
        if value is not None and not isinstance(value, str):
            errors[fid] = "Operation value must be a string"
        elif value is not None and len(value) > 255:
            errors[fid] = "The entered text is too long. It exceeds the allowed limit of 255 characters."
        else:
            out[fid] = value


def _issue_type(value: Any, existing: Issue | None, out: dict[str, Any], errors: Errors, type_id: str | None) -> Any:
    """The issue type the input asks for; an edit may only move within one hierarchy level."""
    ident, name = parse_ref(value)
    it = cat.ISSUE_TYPES_BY_ID.get(ident or "") or cat.ISSUE_TYPES_BY_NAME.get((name or "").lower())
    if it is None:
        errors["issuetype"] = "The issue type selected is invalid."
        return type_id
    if existing is not None and it.id != existing.type_id:
        if cat.ISSUE_TYPES_BY_ID[existing.type_id].hierarchy_level != it.hierarchy_level:
            errors["issuetype"] = "The issue type selected is invalid."
            return type_id
    out["type_id"] = it.id
    return it.id


_RULES: dict[str, Rule] = {
    "summary": FieldRules._rule_summary,
    "priority": FieldRules._rule_priority,
    "labels": FieldRules._rule_labels,
    "components": FieldRules._rule_components,
    "parent": FieldRules._rule_parent,
    "assignee": FieldRules._rule_user,
    "reporter": FieldRules._rule_user,
    "duedate": FieldRules._rule_duedate,
    cat.STORY_POINTS: FieldRules._rule_number,
    cat.SPRINT: FieldRules._rule_sprint,
    cat.SOURCE_URL: FieldRules._rule_url,
}


def _rule_for(fid: str) -> Rule | None:
    if fid != "summary" and fid in cat.RICH_TEXT_FIELDS:
        return FieldRules._rule_rich_text
    return _RULES.get(fid)
