"""The Jira side of a plan must name what the Jira project has: issue types of the project, statuses of each
type's workflow, fields, priorities and link types. A value it does not have ("Tset") is refused on save and on
approval with a message naming the value and the ones to choose from — never discovered by a failed run."""

from __future__ import annotations

from collections.abc import Iterable

from migrayt.mapping.plan import MappingPlan
from migrayt.mapping.schema import TargetSchema

SHOWN_CHOICES = 25  # the fields list runs to hundreds on a real site: a message names the first ones


class UnknownJiraValue(ValueError):
    """The plan names a Jira value the project does not have; answered 422 by the API, shown by the web."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _choices(names: Iterable[str]) -> str:
    names = list(dict.fromkeys(names))
    shown = ", ".join(names[:SHOWN_CHOICES])
    more = len(names) - SHOWN_CHOICES
    return shown + (f" and {more} more" if more > 0 else "") if names else "(none)"


def statuses_for(plan: MappingPlan, target: TargetSchema, ado_type: str) -> list[str]:
    """Statuses an ADO type's items can reach: those of the workflows of the issue types it maps to ("*": any)."""
    mapped = [plan.types.get(ado_type), plan.subtask_types.get(ado_type)] if ado_type != "*" else []
    types = [t for name in mapped if name and (t := target.issue_type(name)) is not None]
    if not types:
        return [s.name for s in target.statuses()]
    return list(dict.fromkeys(s.name for t in types for s in t.statuses))


def shared_statuses(plan: MappingPlan, target: TargetSchema, state: str) -> list[str]:
    """Statuses an "any type" entry for `state` may name: those in the workflow of every type it applies to (the
    types without their own entry for the state). None fits them all where workflows differ: map it per type."""
    users = [ado for ado in plan.types if state not in plan.states.get(ado, {})]
    everything = [s.name for s in target.statuses()]
    if not users:
        return everything
    common = set.intersection(*(set(statuses_for(plan, target, ado)) for ado in users))
    return [name for name in everything if name in common]


def unknown_values(plan: MappingPlan, target: TargetSchema) -> list[str]:
    """Every Jira value of the plan the project does not have, each with what to choose from."""
    project = target.project_key
    problems: list[str] = []
    type_names = [t.name for t in target.issue_types]
    for section, what in (("types", "ADO type"), ("subtask_types", "ADO sub-task type")):
        for ado, name in sorted(getattr(plan, section).items()):
            if name not in type_names:
                problems.append(
                    f'Jira project {project} has no issue type "{name}" ({what} "{ado}"); '
                    f"choose one of: {_choices(type_names)}"
                )
    every_status = [s.name for s in target.statuses()]
    for ado_type, states in sorted(plan.states.items()):
        for state, status in sorted(states.items()):
            if ado_type == "*":
                allowed = shared_statuses(plan, target, state)
                if status not in every_status:
                    problems.append(
                        f'Jira project {project} has no status "{status}" (ADO state "{state}", any type); '
                        f"choose one of: {_choices(allowed)}"
                    )
                elif status not in allowed:
                    problems.append(
                        f'status "{status}" (ADO state "{state}", any type) is not in the workflow of every type it '
                        f"applies to; choose one of: {_choices(allowed)}, or map the state per type"
                    )
                continue
            allowed = statuses_for(plan, target, ado_type)
            if status not in allowed:
                problems.append(
                    f'Jira project {project} has no status "{status}" in the workflow of '
                    f'{plan.types.get(ado_type) or ado_type} (ADO state "{state}" of {ado_type}); '
                    f"choose one of: {_choices(allowed)}"
                )
    for value, name in sorted(plan.priorities.items()):
        if name not in target.priorities:
            problems.append(
                f'Jira has no priority "{name}" (ADO priority "{value}"); choose one of: {_choices(target.priorities)}'
            )
    for relation, name in sorted(plan.link_types.items()):
        if name not in target.link_types:
            problems.append(
                f'Jira has no link type "{name}" (ADO link "{relation}"); choose one of: {_choices(target.link_types)}'
            )
    field_ids = {f.id for f in target.fields}
    for mapping in plan.fields:
        if mapping.target not in field_ids:
            problems.append(
                f'Jira has no field "{mapping.target}" (ADO field "{mapping.source}"); choose a field by id, e.g. '
                + _choices(f"{f.id} ({f.name})" for f in target.fields if f.id.startswith("customfield_"))
            )
    return problems


def check_jira_values(plan: MappingPlan, target: TargetSchema) -> None:
    if problems := unknown_values(plan, target):
        raise UnknownJiraValue(problems)
