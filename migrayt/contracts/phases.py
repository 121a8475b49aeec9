"""The phase registry: every phase a run or a delta sync can go through, in order, and what each is.

One list read by the run and delta-sync workflows (what to run, which activity), the preview (what to
predict), the web app, the CLI, the demo and the run report (what to show, in whose words). A run's
input names its phases when it starts, so a phase added here changes only runs started after.

Light on purpose: every layer may import this module. The batch activities are referenced through
their contracts below (name, input, result), so nothing here imports activity code; the worker
registers the implementations under the same names (tests/unit/test_phase_registry.py holds the two
together).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from temporalio import activity

from migrayt.contracts.execution import (
    CreateItemsInput,
    CreateItemsResult,
    PhaseBatchInput,
    PhaseBatchResult,
    PreflightInput,
    PreflightResult,
)
from migrayt.contracts.schedules import SourceChangesInput
from migrayt.contracts.undo import UNDO_PHASE, UndoBatchInput, UndoBatchResult

# --- the activities phases run: contracts, implemented in activities/ ---------------------------


@activity.defn(name="preflight")
async def preflight(input: PreflightInput) -> PreflightResult:
    """activities/execution/preflight.py: lookups, users, sprints, components; the run's work list."""
    raise NotImplementedError


@activity.defn(name="create_items")
async def create_items(input: CreateItemsInput) -> CreateItemsResult:
    """activities/execution/create_items.py: one batch of issues, in bulk."""
    raise NotImplementedError


@activity.defn(name="run_phase_batch")
async def run_phase_batch(input: PhaseBatchInput) -> PhaseBatchResult:
    """activities/execution/later_phases.py: one batch of a phase after create items, by `input.phase`."""
    raise NotImplementedError


@activity.defn(name="delta_source_changes")
async def delta_source_changes(input: SourceChangesInput) -> PhaseBatchResult:
    """activities/delta/source_changes.py: changed fields and statuses onto issues that exist."""
    raise NotImplementedError


@activity.defn(name="undo_batch")
async def undo_batch(input: UndoBatchInput) -> UndoBatchResult:
    """activities/undo/removal.py: one batch of an undo's work list out of Jira (issues in one bulk delete)."""
    raise NotImplementedError


# --- the contract -------------------------------------------------------------------------------


class PhaseKind(StrEnum):
    PREFLIGHT = "preflight"  # once, before any batch: fixes the work list (tiers) and the totals
    BATCHED = "batched"  # the work list in batches of at most batch_size items, `concurrency` at a time


class Preview(StrEnum):
    """Where the dry-run preview predicts a phase."""

    LOOKUPS = "lookups"  # activities/preview/dry_run.py DryRun._lookups (users, components, sprints)
    DRY_RUN = "dry_run"  # activities/preview/dry_run.py, item by item (create items, hierarchy)
    LATER_PHASES = "later_phases"  # activities/preview/later_phases.py LaterPhases.predictors[name]
    NONE = "none"  # not in a preview (delta only)


@dataclass(frozen=True)
class Phase:
    name: str  # stable: in checkpoints, counters, search attributes, audit events, URLs
    title: str  # its heading on the progress screen
    counts: str  # what its counter counts, in its own words ("issues created")
    kind: PhaseKind
    activity: Callable[..., Awaitable[Any]]  # the activity it runs (preflight: once; batched: per batch)
    preview: Preview
    run: bool = True  # a full run goes through it
    delta: bool = False  # a delta sync goes through it, over the changed items
    batch_timeout: timedelta = timedelta(minutes=30)
    # What its `skipped` counter means, in the user's words: in create items an item already there from an
    # earlier run; in the later phases an item with nothing of this phase to write (or whose issue failed).
    skipped: str = "passed over"
    # A plugin of phase 8: its module under migrayt/plugins/ (contract: migrayt/plugins/contract.py). A plugin's
    # batch that still fails after its retries fails its items, not the run.
    plugin: str | None = None
    # Its Jira budget is its own and its items are ready once every issue exists: with the side-by-side schedule it
    # runs at the same time as the other such phases next to it in the run (migrayt/workflows/engine.py).
    beside: bool = False
    # Side by side, a batch of this phase starts only once the same batch of that phase has finished (each item's
    # comments after its files: a comment shows the files it refers to; the status after the files and the
    # description, which a closed status may forbid; the Xray steps after the description rewrite of attachments,
    # which would overwrite them).
    after_batch_of: str | None = None

    def words(self) -> dict[str, str]:
        """Each counter's heading for this phase, the same in the CLI, the web app, the demo and the report."""
        return {"created": self.counts, "adopted": "already in Jira", "skipped": self.skipped, "failed": "failed"}


PHASES: tuple[Phase, ...] = (
    Phase("preflight", "Preflight", "lookups made", PhaseKind.PREFLIGHT, preflight, Preview.LOOKUPS),
    Phase(
        "create_items",
        "Create issues",
        "issues created",
        PhaseKind.BATCHED,
        create_items,
        Preview.DRY_RUN,
        delta=True,
        batch_timeout=timedelta(minutes=10),
        skipped="already there",
    ),
    Phase("hierarchy", "Hierarchy", "parents set", PhaseKind.BATCHED, run_phase_batch, Preview.DRY_RUN, delta=True),
    Phase(
        "links",
        "Links",
        "links made",
        PhaseKind.BATCHED,
        run_phase_batch,
        Preview.LATER_PHASES,
        delta=True,
        beside=True,
    ),
    Phase(
        "attachments",
        "Attachments",
        "files attached",
        PhaseKind.BATCHED,
        run_phase_batch,
        Preview.LATER_PHASES,
        delta=True,
        beside=True,
        # Files of up to 1 GB (Cloud's default limit) each, many per batch: heartbeats catch a dead worker.
        batch_timeout=timedelta(hours=2),
    ),
    # Edits to issues that exist, before the status walk so a changed state is walked to.
    Phase(
        "source_changes",
        "Source changes",
        "issues updated",
        PhaseKind.BATCHED,
        delta_source_changes,
        Preview.NONE,
        run=False,
        delta=True,
    ),
    Phase(
        "transitions",
        "Statuses",
        "statuses set",
        PhaseKind.BATCHED,
        run_phase_batch,
        Preview.LATER_PHASES,
        delta=True,
        beside=True,
        # A Jira workflow's closed status often forbids edits (jira.issue.editable=false): an item's files and its
        # description rewrite land before its status is walked, as in the sequential schedule.
        after_batch_of="attachments",
    ),
    Phase(
        "comments",
        "Comments",
        "comments posted",
        PhaseKind.BATCHED,
        run_phase_batch,
        Preview.LATER_PHASES,
        delta=True,
        beside=True,
        after_batch_of="attachments",
    ),
    # Phase 8, one sub-phase per plugin (one line each, after this comment; runs started before go through
    # "plugins" below instead).
    Phase(
        "7pace",
        "7pace worklogs",
        "logged",
        PhaseKind.BATCHED,
        run_phase_batch,
        Preview.LATER_PHASES,
        delta=True,
        skipped="nothing new to log",  # no work logs, or logged by an earlier run
        plugin="sevenpace",
        beside=True,
    ),
    Phase(
        "xray",
        "Xray tests",
        "tests written",
        PhaseKind.BATCHED,
        run_phase_batch,
        Preview.LATER_PHASES,
        delta=True,
        skipped="no test to write",  # not a test case, or written by an earlier run
        plugin="xray",
        beside=True,
        # Without Xray the steps go in the description, which attachments rewrites: after it, or they are lost.
        after_batch_of="attachments",
    ),
    # Runs started before phase 8 had its plugins: they pass every item over here.
    Phase("plugins", "Plugins", "items carried", PhaseKind.BATCHED, run_phase_batch, Preview.LATER_PHASES, run=False),
    # An undo's one phase (workflows/undo.py): tiers are what was added to issues that stay, the issues, containers.
    Phase(
        UNDO_PHASE,
        "Undo",
        "items removed",
        PhaseKind.BATCHED,
        undo_batch,
        Preview.NONE,
        run=False,
        batch_timeout=timedelta(minutes=20),
    ),
)

BY_NAME: dict[str, Phase] = {p.name: p for p in PHASES}


def phase(name: str) -> Phase:
    return BY_NAME[name]


def title(name: str) -> str:
    """A phase's heading for people; a name the registry no longer has stands as itself."""
    return BY_NAME[name].title if name in BY_NAME else name


def words(name: str) -> dict[str, str]:
    """`Phase.words` of a phase by name (a name the registry no longer has: plain words)."""
    if name in BY_NAME:
        return BY_NAME[name].words()
    return {"created": "created", "adopted": "already in Jira", "skipped": "passed over", "failed": "failed"}


def run_phases() -> tuple[str, ...]:
    """The phases a run started now goes through, in order."""
    return tuple(p.name for p in PHASES if p.run)


def delta_phases() -> tuple[str, ...]:
    """The phases a delta sync started now goes through, in order."""
    return tuple(p.name for p in PHASES if p.delta)


def plugins() -> tuple[str, ...]:
    """The plugin sub-phases of phase 8, in registry order."""
    return tuple(p.name for p in PHASES if p.plugin is not None)


def side_by_side_groups(names: Iterable[str]) -> list[list[str]]:
    """Of a run's phases in order, each stretch of two or more next to each other that may run side by side."""
    groups: list[list[str]] = [[]]
    for name in names:
        if name in BY_NAME and BY_NAME[name].beside:
            groups[-1].append(name)
        elif groups[-1]:
            groups.append([])
    return [g for g in groups if len(g) > 1]


def batched(names: Iterable[str]) -> tuple[str, ...]:
    """Of these phases, those with items to count (preflight has none of its own)."""
    return tuple(n for n in names if n in BY_NAME and BY_NAME[n].kind == PhaseKind.BATCHED)


def in_order(names: Iterable[str]) -> tuple[str, ...]:
    """These phases (a run's counters, say) in registry order; names the registry no longer has go last."""
    given = list(dict.fromkeys(names))
    return tuple(p.name for p in PHASES if p.name in given) + tuple(n for n in given if n not in BY_NAME)
