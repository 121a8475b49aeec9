"""The only door to an LLM: schema metadata in, nothing else out.

`sanitise` builds the whole payload from an allow-list of metadata (type, state, field and link type
names, field types, allowed values, counts). Pick-list values are schema, but a process can hold odd
ones, so a value is dropped when it looks like a person or an address, or is long enough to be prose.
Ticket text, titles, comments, user names and e-mails are never read here, so cannot be passed on.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from migrayt.mapping.schema import SourceSchema, TargetSchema

MAX_VALUE_CHARS = 40
MAX_VALUES = 50
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_URL = re.compile(r"(https?://|www\.)", re.I)
_ACCOUNT = re.compile(r"\\|<|>")  # DOMAIN\user, "Name <mail>"


class SanitisedField(BaseModel):
    ref: str
    name: str
    type: str | None = None
    allowed_values: list[str] = Field(default_factory=list)
    filled: int = 0


class SanitisedSource(BaseModel):
    types: dict[str, list[str]]  # work item type → state names
    type_counts: dict[str, int]
    fields: list[SanitisedField]
    link_types: list[str]
    priorities: list[str]


class SanitisedTargetField(BaseModel):
    id: str
    name: str
    type: str | None = None
    allowed_values: list[str] = Field(default_factory=list)


class SanitisedTarget(BaseModel):
    issue_types: dict[str, int]  # name → hierarchy level
    statuses: list[str]
    fields: list[SanitisedTargetField]
    priorities: list[str]
    link_types: list[str]


class SanitisedSchema(BaseModel):
    source: SanitisedSource
    target: SanitisedTarget


def safe_value(value: str, people: set[str]) -> bool:
    v = value.strip()
    if not v or len(v) > MAX_VALUE_CHARS or "\n" in v:
        return False
    if _EMAIL.search(v) or _URL.search(v) or _ACCOUNT.search(v):
        return False
    return v.lower() not in people


def sanitise(source: SourceSchema, target: TargetSchema, people: set[str] | None = None) -> SanitisedSchema:
    """`people`: lower-cased names and e-mails known in the source, kept out even as pick-list values."""
    people = {p.lower() for p in (people or set())}

    def values(vs: list[str]) -> list[str]:
        return [v for v in vs if safe_value(v, people)][:MAX_VALUES]

    return SanitisedSchema(
        source=SanitisedSource(
            types={t.name: [s.name for s in t.states] for t in source.types},
            type_counts={t.name: t.count for t in source.types},
            fields=[
                SanitisedField(
                    ref=f.reference_name,
                    name=f.name or f.reference_name,
                    type="identity" if f.identity else f.type,
                    # Identity fields are pick lists of people: their values never leave.
                    allowed_values=[] if f.identity else values(f.allowed_values),
                    filled=f.filled,
                )
                for f in source.fields
                if not f.reference_name.startswith("System.")
            ],
            link_types=sorted(source.link_types),
            priorities=values(source.priorities),
        ),
        target=SanitisedTarget(
            issue_types={t.name: t.hierarchy_level for t in target.issue_types},
            statuses=sorted({s.name for s in target.statuses()}),
            fields=[
                SanitisedTargetField(id=f.id, name=f.name, type=f.type, allowed_values=values(f.allowed_values))
                for f in target.fields
            ],
            priorities=target.priorities,
            link_types=target.link_types,
        ),
    )
