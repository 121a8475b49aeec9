"""Custom fields an administrator creates (`POST /field`), the project's screens that decide where they can be
set, and the global permission that creating them needs.

Like Jira, the site lets two custom fields share a name: a client that creates a field twice gets two.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from . import catalog as cat
from .errors import JiraError
from .store import JiraStore

_TYPES = "com.atlassian.jira.plugin.system.customfieldtypes:"
# Custom field type → (schema type, the searchers Jira accepts for it).
CUSTOM_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    _TYPES + "datetime": ("datetime", (_TYPES + "datetimerange",)),
    _TYPES + "float": ("number", (_TYPES + "exactnumber", _TYPES + "numberrange")),
    _TYPES + "url": ("string", (_TYPES + "exacttextsearcher",)),
    _TYPES + "textfield": ("string", (_TYPES + "textsearcher",)),
    _TYPES + "textarea": ("string", (_TYPES + "textsearcher",)),
}
NO_ADMIN = "Only Jira administrators can create custom fields."


@dataclass(frozen=True)
class Screen:
    id: int
    name: str
    tab_id: int


# A company-managed Scrum project: Bugs have their own screen, every other type the default one.
SCREENS = {
    10000: Screen(10000, "Scrum Default Issue Screen", 10000),
    10001: Screen(10001, "Scrum Bug Screen", 10001),
}
ISSUE_TYPE_SCREEN_SCHEME = "10000"
SCREEN_SCHEMES = {10000: {"default": 10000}, 10001: {"default": 10001}}
SCREEN_SCHEME_FOR_TYPE = {"default": 10000, "10004": 10001}


def screen_for(issue_type_id: str) -> int:
    return SCREEN_SCHEMES[SCREEN_SCHEME_FOR_TYPE.get(issue_type_id, SCREEN_SCHEME_FOR_TYPE["default"])]["default"]


def field_record(f: cat.FieldDef) -> dict:
    return {**asdict(f), "clause_names": list(f.clause_names), "operations": list(f.operations)}


def field_from_record(rec: dict) -> cat.FieldDef:
    return cat.FieldDef(**{**rec, "clause_names": tuple(rec["clause_names"]), "operations": tuple(rec["operations"])})


def parse_datetime(value: Any) -> float | None:
    """A datetime custom field's value as Jira accepts it (ISO 8601 with an offset); None when it is not one."""
    if not isinstance(value, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt).timestamp()
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class CustomFieldOps(JiraStore):
    def all_fields(self) -> list[cat.FieldDef]:
        return [*cat.FIELDS, *self.custom_fields.values()]

    def field_def(self, fid: str) -> cat.FieldDef | None:
        return cat.FIELDS_BY_ID.get(fid) or self.custom_fields.get(fid)

    def custom_kind(self, fid: str) -> str:
        """datetime, number, url or text."""
        custom = self.custom_fields[fid].schema["custom"]
        if custom.endswith(":url"):
            return "url"
        return {"datetime": "datetime", "number": "number"}.get(self.custom_fields[fid].schema["type"], "text")

    def custom_clause_names(self) -> dict[str, str]:
        """JQL names (lower case) of the created fields: `cf[10050]` and the field's name."""
        return {n.lower(): f.id for f in self.custom_fields.values() for n in f.clause_names}

    def custom_on_screen(self, issue_type_id: str) -> set[str]:
        return set(self.screen_fields_added.get(screen_for(issue_type_id), ()))

    def custom_search_value(self, fid: str, value: Any) -> Any:
        """What JQL compares for a stored value: seconds for a datetime, a float for a number."""
        kind = self.custom_kind(fid)
        if kind == "datetime":
            return parse_datetime(value)
        if kind == "number":
            return float(value)
        return str(value)

    def may_administer(self) -> bool:
        return self.config.field_admin

    def create_field(self, body: Any) -> cat.FieldDef:
        if not self.may_administer():
            raise JiraError(403, [NO_ADMIN])
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise JiraError(400, [], {"name": "The custom field name must be specified."})
        type_key = body.get("type")
        if type_key not in CUSTOM_TYPES:
            raise JiraError(400, [], {"type": f"Custom field type '{type_key}' is not valid."})
        schema_type, searchers = CUSTOM_TYPES[type_key]
        searcher = body.get("searcherKey")
        if searcher is not None and searcher not in searchers:
            raise JiraError(
                400, [], {"searcherKey": f"Searcher '{searcher}' is not valid for field type '{type_key}'."}
            )
        with self._tx():
            self.counters.setdefault("customfield", 10049)  # a site stored before custom fields were kept
            taken = {*cat.FIELDS_BY_ID, *self.field_ids.served.values()}
            number = self._next("customfield")
            while f"customfield_{number}" in taken:  # never an id a built-in field is served as
                number = self._next("customfield")
            fid = f"customfield_{number}"
            name = body["name"].strip()[:255]
            f = cat.FieldDef(
                fid,
                name,
                {"type": schema_type, "custom": type_key, "customId": number},
                custom=True,
                clause_names=(f"cf[{number}]", name),
            )
            self.custom_fields[fid] = f
            self.store.put("customfield", fid, field_record(f))
        return f

    def delete_field(self, fid: str) -> None:
        if not self.may_administer():
            raise JiraError(403, ["Only Jira administrators can delete custom fields."])
        if fid not in self.custom_fields:
            raise JiraError(404, [f"The custom field was not found: {fid}"])
        with self._tx():
            del self.custom_fields[fid]
            self.store.delete("customfield", fid)
            for fields in self.screen_fields_added.values():
                if fid in fields:
                    fields.remove(fid)
            self._save_screens()
            for issue in self.issues.values():
                if issue.values.pop(fid, None) is not None:
                    self._save_issue(issue)
                    self._reindex(issue)

    def screen(self, screen_id: str) -> Screen:
        found = SCREENS.get(int(screen_id)) if str(screen_id).isdigit() else None
        if found is None:
            raise JiraError(404, [f"The screen with id '{screen_id}' does not exist."])
        return found

    def tab_fields(self, screen_id: str, tab_id: str) -> list[cat.FieldDef]:
        screen = self.screen(screen_id)
        if str(tab_id) != str(screen.tab_id):
            raise JiraError(404, [f"The screen tab with id '{tab_id}' does not exist."])
        system = [cat.FIELDS_BY_ID[f] for f in cat.SETTABLE_FIELDS if not cat.FIELDS_BY_ID[f].custom]
        system.sort(key=lambda f: f.name)
        added = [self.custom_fields[f] for f in self.screen_fields_added.get(screen.id, ()) if f in self.custom_fields]
        return system + added

    def add_field_to_tab(self, screen_id: str, tab_id: str, body: Any) -> cat.FieldDef:
        if not self.may_administer():
            raise JiraError(403, ["You do not have permission to edit this screen."])
        on_tab = self.tab_fields(screen_id, tab_id)
        fid = body.get("fieldId") if isinstance(body, dict) else None
        f = self.field_def(fid) if isinstance(fid, str) else None
        if f is None or not isinstance(fid, str):
            raise JiraError(400, [f"The field with id '{fid}' does not exist."])
        if any(x.id == fid for x in on_tab):
            raise JiraError(400, [f"The field with id '{fid}' already exists on the screen."])
        screen = self.screen(screen_id)
        with self._tx():
            fields = self.screen_fields_added.setdefault(screen.id, [])
            fields.append(fid)
            self._save_screens()
        return f

    def _save_screens(self) -> None:
        self.store.put("screenfields", "all", {str(k): v for k, v in self.screen_fields_added.items()})

    def _load_custom_fields(self) -> None:
        for rec in self.store.load("customfield"):
            f = field_from_record(rec)
            self.custom_fields[f.id] = f
        for rec in self.store.load("screenfields"):
            self.screen_fields_added = {int(k): list(v) for k, v in rec.items()}
