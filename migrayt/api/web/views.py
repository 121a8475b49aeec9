"""What the pages show, shaped from the service's models: plan entries as rows, bars per phase, times.

Presentation only: every decision (what a plan means, what a run may do) stays in the services.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migrayt.contracts.phases import BY_NAME, PHASES, PhaseKind, Preview, in_order, run_phases
from migrayt.contracts.runs import FINAL_STATUSES, SUCCESSFUL_STATUSES, PhaseCounters, PhaseSchedule, RunStatus
from migrayt.intake.catalog import Catalog, FieldUsage
from migrayt.mapping.jira_values import shared_statuses, statuses_for
from migrayt.mapping.matcher import RUN_OWNED_FIELDS
from migrayt.mapping.plan import EntryOrigin, FieldMapping, MappingPlan
from migrayt.mapping.schema import TargetSchema
from migrayt.translation.field_roles import ADO_STORY_POINTS

# Plan sections a person edits as "ADO thing → Jira name", in the order the page lists them.
DICT_SECTIONS: tuple[tuple[str, str], ...] = (
    ("types", "Work item type → issue type"),
    ("subtask_types", "Sub-task types"),
    ("priorities", "Priority"),
    ("link_types", "Link type"),
)
# Phases a customer may leave out of a run (a structure-only move, say): those after the issues and their parents.
SKIPPABLE = tuple(p.name for p in PHASES if p.run and p.preview == Preview.LATER_PHASES)
TRANSFORMS = ("text", "rich_text", "number", "date", "identity", "picklist", "tags")
PHASE_LABELS = {p.name: p.title for p in PHASES}


@dataclass
class PlanRow:
    section: str
    label: str
    ado: str
    jira: str
    origin: str
    confidence: float
    note: str | None
    name: str  # form field name carrying the Jira side
    choices: list[str] = field(default_factory=list)  # what the Jira project offers here (empty: Jira unread)
    inherit: str | None = None  # a per-type state row: the status it gets from the "any type" entry when left empty

    @property
    def unknown(self) -> bool:
        """A value the project does not have (an older plan, a hand-made one): shown, flagged, refused on save."""
        return bool(self.choices) and bool(self.jira) and self.jira not in self.choices


def _section_choices(section: str, options: TargetSchema | None) -> list[str]:
    if options is None:
        return []
    if section == "types":
        return [t.name for t in options.issue_types if not t.subtask]
    if section == "subtask_types":
        return [t.name for t in options.issue_types if t.subtask]
    return list(options.priorities if section == "priorities" else options.link_types)


def differing_types(plan: MappingPlan, options: TargetSchema) -> list[str]:
    """ADO types whose Jira workflow differs from the statuses every mapped type shares: their states are mapped
    per type (e.g. a Bug may end as Won't Fix, a Story may not)."""
    per_type = {ado: set(statuses_for(plan, options, ado)) for ado in plan.types}
    if not per_type:
        return []
    shared = set.intersection(*per_type.values())
    return sorted(ado for ado, statuses in per_type.items() if statuses != shared)


def plan_rows(
    plan: MappingPlan, options: TargetSchema | None = None, source_states: Mapping[str, list[str]] | None = None
) -> list[PlanRow]:
    """Every mapping entry with where it came from (rule / ai / human), how sure that source was, and what the
    Jira project offers in its place. `source_states`: each ADO type's states, from the scan."""
    rows: list[PlanRow] = []

    def origin(key: str) -> EntryOrigin:
        return plan.provenance.get(key) or EntryOrigin()

    for section, label in DICT_SECTIONS:
        choices = _section_choices(section, options)
        for ado, jira in sorted(getattr(plan, section).items()):
            o = origin(f"{section}/{ado}")
            rows.append(
                PlanRow(section, label, ado, jira, o.origin, o.confidence, o.note, f"e:{section}/{ado}", choices)
            )
    shared = plan.states.get("*", {})
    for state, status in sorted(shared.items()):
        o = origin(f"states/*/{state}")
        shared_choices = shared_statuses(plan, options, state) if options is not None else []
        rows.append(
            PlanRow(
                "states",
                "State (any type) → status",
                state,
                status,
                o.origin,
                o.confidence,
                o.note,
                f"e:states/*/{state}",
                shared_choices,
            )
        )
    per_type_types = set(plan.states) - {"*"}
    if options is not None:
        per_type_types |= set(differing_types(plan, options))
    for ado_type in sorted(per_type_types):
        entries = plan.states.get(ado_type, {})
        states = list(dict.fromkeys([*(source_states or {}).get(ado_type, shared.keys()), *entries]))
        choices = statuses_for(plan, options, ado_type) if options is not None else []
        for state in states:
            o = origin(f"states/{ado_type}/{state}")
            rows.append(
                PlanRow(
                    "states",
                    f"State ({ado_type}) → status of {plan.types.get(ado_type, ado_type)}",
                    state,
                    entries.get(state, ""),
                    o.origin if state in entries else "rule",
                    o.confidence if state in entries else 1.0,
                    o.note if state in entries else None,
                    f"e:states/{ado_type}/{state}",
                    choices,
                    inherit=shared.get(state) or "",
                )
            )
    return rows


# ADO fields every run writes itself, and where (None: the Jira field found by schema on the site).
BUILT_IN_FIELDS: tuple[tuple[str, str, str | None], ...] = (
    ("System.Title", "Title", "summary"),
    ("System.Description", "Description", "description"),
    ("Microsoft.VSTS.TCM.ReproSteps", "Repro Steps", "description"),
    ("Microsoft.VSTS.Common.AcceptanceCriteria", "Acceptance Criteria", "description"),
    ("System.AssignedTo", "Assigned To", "assignee"),
    ("System.CreatedBy", "Created By", "reporter"),
    ("System.Tags", "Tags", "labels"),
    ("Microsoft.VSTS.Common.Priority", "Priority", "priority"),
    ("System.State", "State", "status"),
    ("System.WorkItemType", "Work Item Type", "issuetype"),
    ("System.AreaPath", "Area Path", "components"),
    ("System.IterationPath", "Iteration Path", None),
    (ADO_STORY_POINTS, "Story Points", None),
)


@dataclass
class FieldRow:
    source: str
    source_name: str
    target: str  # Jira field id ("" when not migrated)
    target_name: str | None
    how: str  # plan | built-in | not migrated
    index: int | None = None  # the plan's field entry, for the form
    transform: str = "text"
    origin: str = "rule"
    confidence: float = 1.0
    filled: int | None = None

    @property
    def unknown(self) -> bool:
        return self.how == "plan" and self.target_name is None


def _transform_for(usage: FieldUsage) -> str:
    if usage.identity:
        return "identity"
    if usage.picklist:
        return "picklist"
    return {"double": "number", "integer": "number", "dateTime": "date", "html": "rich_text"}.get(
        usage.type or "", "text"
    )


def field_rows(
    plan: MappingPlan, options: TargetSchema | None = None, catalog: Catalog | None = None
) -> list[FieldRow]:
    """Every ADO field in use (from the scan) and every one the plan maps: where the run writes it, by name."""
    used = {f.reference_name: f for f in (catalog.fields if catalog is not None else [])}

    def jira_name(field_id: str | None) -> str | None:
        if not field_id:
            return None
        return options.field_name(field_id) if options is not None else field_id

    def ado_name(ref: str, fallback: str | None = None) -> str:
        usage = used.get(ref)
        return (usage.name if usage and usage.name else None) or fallback or ref.rsplit(".", 1)[-1]

    rows: list[FieldRow] = []
    for i, m in enumerate(plan.fields):
        rows.append(
            FieldRow(
                m.source,
                ado_name(m.source),
                m.target,
                jira_name(m.target),
                "plan",
                i,
                m.transform,
                m.origin,
                m.confidence,
                used[m.source].filled if m.source in used else None,
            )
        )
    mapped = {m.source for m in plan.fields}
    built_in = {
        "System.IterationPath": (options.sprint_field if options else None) if plan.iterations_to_sprints else "",
        ADO_STORY_POINTS: options.story_points_field if options else None,
        "System.AreaPath": "components" if plan.areas_to_components else "",
    }
    for ref, name, target in BUILT_IN_FIELDS:
        if ref in mapped or (catalog is not None and ref not in used and ref != "System.State"):
            continue
        target = built_in.get(ref, target)
        if target == "" or (target is None and options is not None):
            continue  # switched off in the plan, or the site has no such field
        rows.append(
            FieldRow(ref, ado_name(ref, name), target or "", jira_name(target), "built-in", filled=_filled(used, ref))
        )
    shown = {r.source for r in rows}
    for ref, usage in sorted(used.items(), key=lambda kv: (kv[1].name or kv[0]).lower()):
        if ref in shown or ref.startswith("System.") or ref in RUN_OWNED_FIELDS:
            continue
        rows.append(
            FieldRow(ref, ado_name(ref), "", None, "not migrated", transform=_transform_for(usage), filled=usage.filled)
        )
    return rows


def _filled(used: Mapping[str, FieldUsage], ref: str) -> int | None:
    return used[ref].filled if ref in used else None


def apply_form(base: MappingPlan, form: Mapping[str, Any]) -> MappingPlan:
    """The plan as the person left the edit form: an emptied Jira side removes the entry."""
    plan = base.model_copy(deep=True)
    for name, raw in form.items():
        value = str(raw).strip()
        if name.startswith("e:"):
            section, _, rest = name[2:].partition("/")
            if section == "states":
                ado_type, _, state = rest.partition("/")
                table = plan.states.setdefault(ado_type, {})
                _put(table, state, value)
            elif section in dict(DICT_SECTIONS):
                _put(getattr(plan, section), rest, value)
        elif name.startswith("u:"):
            # ADO user → the accountId the picker chose (an e-mail typed by hand resolves the same way)
            key = name[2:].strip().lower()
            if plan.users.get(key, "") != value:
                _put(plan.users, key, value)
                plan.provenance.pop(f"users/{key}", None)
        elif name == "fallback_user_email":
            plan.fallback_user_email = value or None
        elif name.startswith("f:"):
            _, index, attr = name.split(":", 2)
            i = int(index)
            if 0 <= i < len(plan.fields) and attr in ("target", "transform"):
                if attr == "transform" and value not in TRANSFORMS:
                    continue
                setattr(plan.fields[i], attr, value)
        elif name.startswith("nf:") and value:
            # an ADO field not migrated so far, now given a Jira field
            source = name[3:]
            if source not in {m.source for m in plan.fields}:
                transform = str(form.get(f"nt:{source}") or "text")
                plan.fields.append(
                    FieldMapping(
                        source=source, target=value, transform=transform if transform in TRANSFORMS else "text"
                    )
                )
    if "skip_phases_shown" in form:  # unticked boxes send nothing, so only a form that showed them decides
        plan.skip_phases = [p for p in SKIPPABLE if f"skip:{p}" in form]
    if "provenance_shown" in form:  # the same for the provenance switches
        choice = plan.provenance_fields
        plan.provenance_fields = type(choice)(**{k: f"prov:{k}" in form for k in type(choice).model_fields})
    if "notifications_shown" in form:  # the same for the mute switch
        plan.mute_notifications = "mute_notifications" in form
    if form.get("phase_schedule") in {s.value for s in PhaseSchedule}:
        plan.phase_schedule = PhaseSchedule(str(form["phase_schedule"]))
    plan.fields = [f for f in plan.fields if f.target]
    plan.states = {t: s for t, s in plan.states.items() if s}
    return plan


def _put(table: dict[str, str], key: str, value: str) -> None:
    if value:
        table[key] = value
    else:
        table.pop(key, None)


@dataclass
class PhaseBar:
    phase: str
    label: str
    counts: str  # what the phase counts, in its words: "issues created"
    total: int
    done: int
    created: int
    skipped: int
    failed: int
    percent: int
    state: str  # waiting | active | done
    adopted: int = 0  # "already in Jira": found by source identity, recorded instead of created
    skipped_words: str = "passed over"  # what `skipped` means in this phase ("already there" in create items)
    accepted: int = 0  # failed items the user accepted as known exceptions


def phase_bars(
    status: RunStatus,
    phase: str | None,
    counters: Mapping[str, PhaseCounters],
    phases: list[str] | None = None,
    running: list[str] | None = None,
) -> list[PhaseBar]:
    """A bar per phase of the run (a run from before runs named their phases: the run's phases and its counters').
    Every phase in `running` is active (side by side, several are; `phase` is the first of them)."""
    names = list(phases or in_order([*run_phases(), *counters]))
    current = names.index(phase) if phase in names else 0
    final = status in FINAL_STATUSES
    active = set(running or ([phase] if phase else []))
    bars = []
    for index, name in enumerate(names):
        c = counters.get(name) or PhaseCounters()
        done = min(c.created + c.adopted + c.skipped + c.failed + c.accepted, c.total) if c.total else 0
        if index < current or (final and status in SUCCESSFUL_STATUSES) or (final and c.total and done == c.total):
            state = "done"
        elif name in active and not final:
            state = "active"
        elif index > current and not final and c.total and done == c.total:
            state = "done"  # finished beside a phase before it that still runs
        else:
            state = "waiting"
        kind = BY_NAME[name].kind if name in BY_NAME else PhaseKind.BATCHED
        if kind == PhaseKind.PREFLIGHT:
            percent = 100 if state == "done" else 0
        else:
            percent = int(100 * done / c.total) if c.total else (100 if state == "done" else 0)
        counts = BY_NAME[name].counts if name in BY_NAME else "created"
        bars.append(
            PhaseBar(
                name,
                PHASE_LABELS.get(name, name),
                counts,
                c.total,
                done,
                c.created,
                c.skipped,
                c.failed,
                percent,
                state,
                c.adopted,
                BY_NAME[name].skipped if name in BY_NAME else "passed over",
                c.accepted,
            )
        )
    return bars


def status_words(status: str) -> str:
    """A run status as the pages show it: COMPLETED_WITH_ACCEPTED_EXCEPTIONS in words."""
    return str(status).replace("_", " ")


# The longest delta interval a form may ask for, as the HTTP API allows (31 days).
MAX_DELTA_MINUTES = 60 * 24 * 31


def utc(when: datetime | None, seconds: bool = True) -> str:
    """Times on the schedules page are all UTC, and say so."""
    if when is None:
        return "—"
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def every(minutes: int | None) -> str:
    if not minutes:
        return "—"
    if minutes % (60 * 24) == 0:
        days = minutes // (60 * 24)
        return "every day" if days == 1 else f"every {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "every hour" if hours == 1 else f"every {hours} h"
    return "every minute" if minutes == 1 else f"every {minutes} min"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size(n: int | float | None) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# Audit details worth a glance on the progress screen (events never hold ticket content).
EVENT_DETAIL_KEYS = ("phase", "version", "message", "reason", "original_run_id")


def event_detail(detail: Mapping[str, Any] | None) -> str:
    parts = []
    for key in EVENT_DETAIL_KEYS:
        value = (detail or {}).get(key)
        if value not in (None, "", {}):
            shown = PHASE_LABELS.get(value, value) if key == "phase" else value
            parts.append(str(shown) if key in ("phase", "message", "reason") else f"{key} {shown}")
    return " · ".join(parts)[:120]
