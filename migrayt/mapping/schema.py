"""The two sides a plan maps between, as schema metadata only (names, types, allowed values, counts)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from migrayt.connectors.jira import JiraClient
from migrayt.intake.catalog import Catalog
from migrayt.translation import field_roles

WORK_ITEM_LINK_PREFIXES = ("System.LinkTypes.", "Microsoft.VSTS.Common.")


class SourceState(BaseModel):
    name: str
    category: str | None = None
    count: int = 0


class SourceType(BaseModel):
    name: str
    count: int = 0
    states: list[SourceState] = Field(default_factory=list)


class SourceField(BaseModel):
    reference_name: str
    name: str | None = None
    type: str | None = None  # ADO field type: string, integer, double, dateTime, html, plainText, treePath, identity...
    picklist: bool = False
    identity: bool = False
    filled: int = 0
    allowed_values: list[str] = Field(default_factory=list)  # pick lists only


class SourceSchema(BaseModel):
    types: list[SourceType] = Field(default_factory=list)
    fields: list[SourceField] = Field(default_factory=list)
    link_types: dict[str, int] = Field(default_factory=dict)  # work item relation → ends counted
    priorities: list[str] = Field(default_factory=list)


class TargetStatus(BaseModel):
    name: str
    category: str | None = None  # new | indeterminate | done


class TargetIssueType(BaseModel):
    name: str
    hierarchy_level: int = 0
    subtask: bool = False
    statuses: list[TargetStatus] = Field(default_factory=list)


class TargetField(BaseModel):
    id: str
    name: str
    type: str | None = None  # Jira schema type: string, number, date, datetime, user, option, array...
    custom_type: str | None = None
    allowed_values: list[str] = Field(default_factory=list)


class TargetSchema(BaseModel):
    project_key: str
    issue_types: list[TargetIssueType] = Field(default_factory=list)
    fields: list[TargetField] = Field(default_factory=list)
    priorities: list[str] = Field(default_factory=list)  # in Jira's order, highest first
    link_types: list[str] = Field(default_factory=list)
    # Found by schema type (translation.field_roles): where the run writes sprints and story points.
    sprint_field: str | None = None
    story_points_field: str | None = None

    def field_name(self, field_id: str) -> str | None:
        return next((f.name for f in self.fields if f.id == field_id), None)

    def issue_type(self, name: str) -> TargetIssueType | None:
        return next((t for t in self.issue_types if t.name == name), None)

    def statuses(self) -> list[TargetStatus]:
        seen: dict[str, TargetStatus] = {}
        for t in self.issue_types:
            for s in t.statuses:
                seen.setdefault(s.name, s)
        return list(seen.values())


def source_schema(catalog: Catalog) -> SourceSchema:
    types = []
    for name, count in catalog.by_type.items():
        seen = catalog.by_type_state.get(name, {})
        declared = catalog.type_states.get(name) or []
        states = [SourceState(name=s.name, category=s.category, count=seen.get(s.name, 0)) for s in declared]
        states += [SourceState(name=s, count=n) for s, n in seen.items() if s not in {d.name for d in declared}]
        types.append(SourceType(name=name, count=count, states=states))
    priority = catalog.field("Microsoft.VSTS.Common.Priority")
    return SourceSchema(
        types=types,
        fields=[
            SourceField(
                reference_name=f.reference_name,
                name=f.name,
                type=f.type,
                picklist=f.picklist,
                identity=f.identity,
                filled=f.filled,
                allowed_values=list(f.values) if f.picklist else [],
            )
            for f in catalog.fields
        ],
        link_types={k: v for k, v in catalog.link_types.items() if k.startswith(WORK_ITEM_LINK_PREFIXES)},
        priorities=sorted(priority.values, key=_numeric_first) if priority else [],
    )


def _numeric_first(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


async def read_target_schema(jira: JiraClient, project_key: str) -> TargetSchema:
    project = await jira.get_project(project_key)
    issue_types = project.issue_types or await jira.get_issue_types(project_key)
    fields, priorities, statuses, link_types = await asyncio.gather(
        jira.get_fields(), jira.get_priorities(), jira.get_project_statuses(project_key), jira.get_issue_link_types()
    )
    by_type = {s.name: s.statuses for s in statuses}
    allowed: dict[str, list[str]] = {}
    # Allowed values of option fields live in createmeta; one call per issue type.
    metas = await asyncio.gather(*(jira.get_create_meta_fields(project_key, t.id) for t in issue_types))
    for meta in metas:
        for f in meta:
            for v in f.allowed_values or []:
                label = v.get("value") or v.get("name") if isinstance(v, dict) else None
                if label and f.field_id not in ("priority", "issuetype", "project", "components"):
                    allowed.setdefault(f.field_id, [])
                    if label not in allowed[f.field_id]:
                        allowed[f.field_id].append(label)
    return TargetSchema(
        project_key=project.key,
        issue_types=[
            TargetIssueType(
                name=t.name,
                hierarchy_level=t.hierarchy_level,
                subtask=t.subtask,
                statuses=[TargetStatus(name=s.name, category=s.category_key) for s in by_type.get(t.name, [])],
            )
            for t in issue_types
        ],
        fields=[
            TargetField(
                id=f.id,
                name=f.name,
                type=(f.schema_ or {}).get("type"),
                custom_type=(f.schema_ or {}).get("custom"),
                allowed_values=allowed.get(f.id, []),
            )
            for f in fields
        ],
        priorities=[p.name for p in priorities],
        link_types=[t.name for t in link_types],
        sprint_field=field_roles.sprint_field(fields),
        story_points_field=field_roles.story_points_field(fields),
    )
