"""The deterministic matcher: a MappingPlan drafted from names, types and allowed values alone.

It always runs (with or without AI). Every entry it writes carries origin "rule" and a confidence:
1.0 for the same name, lower for a synonym or a status category, lowest for a fallback.
Users are never matched here: preflight maps them by e-mail, then by the plan's user table.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from migrayt.mapping.plan import EntryOrigin, FieldMapping, FieldTransform, MappingPlan
from migrayt.mapping.schema import SourceField, SourceSchema, TargetField, TargetSchema, TargetStatus

# ADO fields the run itself writes (summary, description, status, people, labels, tree) — not plan fields.
RUN_OWNED_FIELDS = frozenset(
    {
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.TCM.ReproSteps",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
        "Microsoft.VSTS.Common.StateChangeDate",
        "Microsoft.VSTS.Common.ActivatedDate",
        "Microsoft.VSTS.Common.ActivatedBy",
        "Microsoft.VSTS.Common.ResolvedDate",
        "Microsoft.VSTS.Common.ResolvedBy",
        "Microsoft.VSTS.Common.ClosedDate",
        "Microsoft.VSTS.Common.ClosedBy",
    }
)
# ADO types that hold steps other items reuse: not issues of their own.
STEPS_ONLY_TYPES = frozenset({"Shared Steps"})
TYPE_SYNONYMS = {
    "userstory": ["story"],
    "productbacklogitem": ["story"],
    "requirement": ["story"],
    "feature": ["epic"],
    "issue": ["task"],
    "impediment": ["task"],
    "testcase": ["test", "testcase"],
    "bug": ["bug", "defect"],
}
FIELD_SYNONYMS = {
    "storypoints": ["storypointestimate", "storypoints"],
    "duedate": ["duedate"],
    "originalestimate": ["originalestimate"],
    "severity": ["severity"],
}
LINK_SYNONYMS = {
    "related": ["relates"],
    "dependency": ["blocks"],
    "duplicate": ["duplicate"],
    "testedby": ["tests", "test"],
    "affects": ["problemincident"],
}
# ADO state category → Jira status category, with status names preferred inside it.
STATE_CATEGORY = {
    "Proposed": ("new", ["todo", "open", "backlog"]),
    "InProgress": ("indeterminate", ["inprogress"]),
    "Resolved": ("indeterminate", ["inreview", "review", "resolved"]),
    "Completed": ("done", ["done", "closed"]),
    "Removed": ("done", ["done", "closed"]),
}
HIERARCHY = ("System.LinkTypes.Hierarchy-Forward", "System.LinkTypes.Hierarchy-Reverse")


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


class Unmapped(BaseModel):
    kind: str  # type | state | priority | field | link_type
    source: str
    reason: str


class DraftReport(BaseModel):
    unmapped: list[Unmapped] = Field(default_factory=list)


def _find(names: list[str], wanted: list[str]) -> str | None:
    by_norm = {norm(n): n for n in names}
    return next((by_norm[w] for w in wanted if w in by_norm), None)


def match_types(source: SourceSchema, target: TargetSchema, plan: MappingPlan, report: DraftReport) -> None:
    standard = [t.name for t in target.issue_types if not t.subtask]
    fallback = _find(standard, ["task"]) or next(
        (t.name for t in target.issue_types if t.hierarchy_level == 0 and not t.subtask), None
    )
    for t in source.types:
        key = f"types/{t.name}"
        if t.name in STEPS_ONLY_TYPES:
            continue  # expanded into the test cases that use them (migrayt/plugins/xray.py), never issues
        if (name := _find(standard, [norm(t.name)])) is not None:
            plan.types[t.name], plan.provenance[key] = name, EntryOrigin(confidence=1.0, note="same name")
        elif (name := _find(standard, TYPE_SYNONYMS.get(norm(t.name), []))) is not None:
            plan.types[t.name], plan.provenance[key] = name, EntryOrigin(confidence=0.9, note="synonym")
        elif fallback:
            plan.types[t.name], plan.provenance[key] = (
                fallback,
                EntryOrigin(confidence=0.4, note="no counterpart; standard type"),
            )
        else:
            report.unmapped.append(
                Unmapped(kind="type", source=t.name, reason="the project has no standard issue type")
            )
    subtask = next((t.name for t in target.issue_types if t.subtask), None)
    if subtask and "Task" in plan.types:
        plan.subtask_types["Task"] = subtask
        plan.provenance["subtask_types/Task"] = EntryOrigin(confidence=0.9, note="tasks under a story become sub-tasks")


def _common_statuses(target: TargetSchema) -> list[TargetStatus]:
    """Statuses every mapped issue type has, so a mapped status is reachable whatever the type."""
    sets = [{s.name for s in t.statuses} for t in target.issue_types if t.statuses]
    common = set.intersection(*sets) if sets else set()
    return [s for s in target.statuses() if s.name in common] or target.statuses()


def match_states(source: SourceSchema, target: TargetSchema, plan: MappingPlan, report: DraftReport) -> None:
    statuses = _common_statuses(target)
    names = [s.name for s in statuses]
    states: dict[str, str] = {}
    for t in source.types:
        for s in t.states:
            if s.name in states:
                continue
            key = f"states/*/{s.name}"
            if (name := _find(names, [norm(s.name)])) is not None:
                states[s.name], plan.provenance[key] = name, EntryOrigin(confidence=1.0, note="same name")
                continue
            category, preferred = STATE_CATEGORY.get(s.category or "", (None, []))
            in_category = [x.name for x in statuses if x.category == category]
            name = _find(in_category, preferred) or (in_category[0] if in_category else None)
            if name:
                states[s.name], plan.provenance[key] = (
                    name,
                    EntryOrigin(confidence=0.75, note=f"status category of {s.category}"),
                )
            else:
                report.unmapped.append(
                    Unmapped(kind="state", source=s.name, reason="no Jira status in a matching category")
                )
    plan.states = {"*": states} if states else {}
    _match_states_per_type(source, target, plan, [s.name for s in statuses])


def _match_states_per_type(source: SourceSchema, target: TargetSchema, plan: MappingPlan, common: list[str]) -> None:
    """Where a type's Jira workflow has statuses the others lack, its states are matched in its own workflow: a
    Bug's ADO state "Won't Fix" lands as Bug's "Won't Fix", not as the shared "Done"."""
    shared = plan.states.get("*", {})
    for t in source.types:
        jira_type = target.issue_type(plan.types.get(t.name, ""))
        if jira_type is None:
            continue
        own = [s for s in jira_type.statuses if s.name not in common]
        if not own:
            continue
        for s in t.states:
            if (name := _find([x.name for x in own], [norm(s.name)])) is not None and shared.get(s.name) != name:
                plan.states.setdefault(t.name, {})[s.name] = name
                plan.provenance[f"states/{t.name}/{s.name}"] = EntryOrigin(
                    confidence=1.0, note=f"same name, in the workflow of {jira_type.name}"
                )


def match_priorities(source: SourceSchema, target: TargetSchema, plan: MappingPlan, report: DraftReport) -> None:
    if not target.priorities:
        return
    for rank, value in enumerate(source.priorities):
        if (name := _find(target.priorities, [norm(value)])) is not None:
            plan.priorities[value], plan.provenance[f"priorities/{value}"] = (
                name,
                EntryOrigin(confidence=1.0, note="same name"),
            )
        else:
            name = target.priorities[min(rank, len(target.priorities) - 1)]
            plan.priorities[value], plan.provenance[f"priorities/{value}"] = (
                name,
                EntryOrigin(confidence=0.8, note="by rank"),
            )


def _transform(field: SourceField, target: TargetField) -> FieldTransform | None:
    t = target.type
    if field.identity:
        return "identity" if t == "user" else None
    if field.type in ("double", "integer"):
        return "number" if t == "number" else None
    if field.type == "dateTime":
        return "date" if t == "date" else None
    if field.type == "html":
        return "rich_text" if t == "string" and (target.custom_type or "").endswith("textarea") else None
    if field.picklist and t == "option":
        return "picklist"
    if field.type in ("string", "plainText") and t == "string" and not (target.custom_type or "").endswith("textarea"):
        return "text"
    return None


def match_fields(source: SourceSchema, target: TargetSchema, plan: MappingPlan, report: DraftReport) -> None:
    taken = {m.target for m in plan.fields}
    for f in source.fields:
        if f.reference_name.startswith("System.") or f.reference_name in RUN_OWNED_FIELDS:
            continue
        label = norm(f.name or f.reference_name.rsplit(".", 1)[-1])
        candidates = [(1.0, "same name", [label]), (0.85, "synonym", FIELD_SYNONYMS.get(label, []))]
        mapped = False
        for confidence, _why, wanted in candidates:
            for w in wanted:
                target_field = next((t for t in target.fields if norm(t.name) == w and t.id not in taken), None)
                if target_field is None:
                    continue
                transform = _transform(f, target_field)
                if transform is None:
                    continue
                mapping = FieldMapping(
                    source=f.reference_name,
                    target=target_field.id,
                    transform=transform,
                    origin="rule",
                    confidence=confidence,
                )
                if transform == "picklist":
                    mapping.values, missing = _values(f, target_field)
                    if missing:
                        mapping.confidence = min(confidence, 0.6)
                plan.fields.append(mapping)
                taken.add(target_field.id)
                mapped = True
                break
            if mapped:
                break
        if not mapped:
            report.unmapped.append(
                Unmapped(kind="field", source=f.reference_name, reason="no Jira field with a matching name and type")
            )


def _values(field: SourceField, target: TargetField) -> tuple[dict[str, str], list[str]]:
    out, missing = {}, []
    for v in field.allowed_values:
        if (name := _find(target.allowed_values, [norm(v)])) is not None:
            out[v] = name
        else:
            missing.append(v)
    return out, missing


def match_link_types(source: SourceSchema, target: TargetSchema, plan: MappingPlan, report: DraftReport) -> None:
    for rel in sorted(source.link_types):
        if rel in HIERARCHY:
            continue
        forward = rel.replace("-Reverse", "-Forward")
        if forward in plan.link_types:
            continue
        base = norm(forward.rsplit(".", 1)[-1].replace("-Forward", ""))
        if (name := _find(target.link_types, LINK_SYNONYMS.get(base, [base]))) is not None:
            exact = norm(name) == base
            plan.link_types[forward] = name
            plan.provenance[f"link_types/{forward}"] = EntryOrigin(
                confidence=1.0 if exact else 0.85, note="same name" if exact else "synonym"
            )
        elif (name := _find(target.link_types, ["relates"])) is not None:
            plan.link_types[forward] = name
            plan.provenance[f"link_types/{forward}"] = EntryOrigin(
                confidence=0.4, note="no counterpart; kept as a plain relation"
            )
        else:
            report.unmapped.append(Unmapped(kind="link_type", source=forward, reason="no Jira link type"))


def draft_by_rules(source: SourceSchema, target: TargetSchema) -> tuple[MappingPlan, DraftReport]:
    plan = MappingPlan(types={})
    report = DraftReport()
    match_types(source, target, plan, report)
    match_states(source, target, plan, report)
    match_priorities(source, target, plan, report)
    match_fields(source, target, plan, report)
    match_link_types(source, target, plan, report)
    return plan, report
