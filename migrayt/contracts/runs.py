"""Inputs, results, signals and queries of MigrationRunWorkflow. Add fields with defaults only."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

# The phases of runs started before the run's input named its phases (migrayt/contracts/phases.py has them now).
LEGACY_RUN_PHASES: tuple[str, ...] = (
    "preflight",
    "create_items",
    "hierarchy",
    "links",
    "attachments",
    "transitions",
    "comments",
    "plugins",
)


# A run row is one of three jobs, told apart by its id's prefix (the id is the Temporal workflow id).
UNDO_RUN_PREFIX = "undo-"
DELTA_RUN_PREFIX = "delta-"


class RunKind(StrEnum):
    """What a `run` row is, in the user's words: a migration run, a delta sync after one, or an undo of them."""

    RUN = "run"
    DELTA_SYNC = "delta_sync"
    UNDO = "undo"


def run_kind(run_id: str) -> RunKind:
    if run_id.startswith(UNDO_RUN_PREFIX):
        return RunKind.UNDO
    if run_id.startswith(DELTA_RUN_PREFIX):
        return RunKind.DELTA_SYNC
    return RunKind.RUN


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    INCOMPLETE = "INCOMPLETE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    # An INCOMPLETE run whose every failed item the user accepted as a known exception (with a reason): closed.
    COMPLETED_WITH_ACCEPTED_EXCEPTIONS = "COMPLETED_WITH_ACCEPTED_EXCEPTIONS"


FINAL_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.INCOMPLETE,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.COMPLETED_WITH_ACCEPTED_EXCEPTIONS,
    }
)
# Final statuses a user counts as done: `status --watch` exits 0 for them.
SUCCESSFUL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_ACCEPTED_EXCEPTIONS})


class PhaseCounters(BaseModel):
    total: int = 0
    created: int = 0
    skipped: int = 0
    failed: int = 0
    # Already in Jira from another migration of the same source: recorded with the found key, not created.
    adopted: int = 0
    # Failed items the user accepted as known exceptions: moved out of `failed` (set by the doors, never a phase).
    accepted: int = 0

    def add(self, other: PhaseCounters) -> None:
        self.created += other.created
        self.skipped += other.skipped
        self.failed += other.failed
        self.adopted += other.adopted
        self.accepted += other.accepted


class PhaseSchedule(StrEnum):
    """How a run goes through its phases after the issues exist (the mapping plan's `phase_schedule`)."""

    # One phase after the other, as every run before side by side did.
    SEQUENTIAL = "sequential"
    # The phases whose Jira budgets are separate (links, files, statuses, comments, plugins) at once, each item's
    # files before its comments (registry: `Phase.beside`, `Phase.after_batch_of`).
    SIDE_BY_SIDE = "side_by_side"


class PhaseCursor(BaseModel):
    """Where one phase of a side-by-side group is, on its own: a paused or continued run resumes each from here."""

    tier: int = 0
    # The first batch of `tier` not yet finished.
    next_ordinal: int = 0
    # Batch starts before `next_ordinal` cut by a pause, to run again before new ones.
    redo: list[int] = Field(default_factory=list)
    # Its phase_started / phase_finished audit events are recorded (each once, across continue-as-new).
    reported: bool = False
    finished: bool = False


class RunCheckpoint(BaseModel):
    """All a continued run needs: the phase, the cursor in it, counters. Per-item truth is in Postgres."""

    # The phase under way, by name: a phase added to the registry never shifts a run in flight.
    phase: str | None = None
    # Checkpoints written before phases had names in them carry the position in the run's phase list.
    phase_index: int = 0
    tier: int = 0
    next_ordinal: int = 0
    # Batch starts in the current tier cut by a pause, to run again before new ones.
    redo: list[int] = Field(default_factory=list)
    tier_sizes: list[int] = Field(default_factory=list)
    counters: dict[str, PhaseCounters] = Field(default_factory=dict)
    paused: bool = False
    event_seq: int = 0
    continued: int = 0
    # phase_started of the phase under way is recorded: a run continued as new at the phase's start says it once.
    # (False in checkpoints from before this field: those runs record it again, as they did, so they replay.)
    phase_reported: bool = False
    # The phases of the side-by-side group under way (`phase` is its first), each with its own cursor; empty when
    # none is (the fields above are then the one cursor of the phase under way).
    side_by_side: dict[str, PhaseCursor] = Field(default_factory=dict)
    # The phases after create items go through the work list in its content order (most comments and files first,
    # across tiers: one range of `sum(tier_sizes)` places), not tier by tier. Fixed when the run starts (behind its
    # `workflow.patched`), so a run continued as new keeps the order its cursors count in.
    content_order: bool = False
    # In content order, the first batch is one item, then `batch_size` each (engine.batch_end), so the heaviest
    # item's comments start seconds into the phase. Fixed when the run starts (behind its `workflow.patched`): the
    # cursors of a run continued as new count in the batches it started with.
    ramped_batches: bool = False


class MigrationRunInput(BaseModel):
    run_id: str
    migration_id: str
    tenant: str
    original_run_id: str | None = None
    requested_by: str = "system"
    door: str = "api"
    batch_size: int = Field(50, ge=1, le=50)
    concurrency: int = Field(4, ge=1, le=32)
    # Continue-as-new once history passes this many events (None: when Temporal suggests it).
    history_event_limit: int | None = None
    # The run's phases in order, fixed when it starts (None: started before runs named their phases).
    phases: list[str] | None = None
    checkpoint: RunCheckpoint | None = None
    # Savepoints while batches run, at most this often (None: only at phase ends and on pause).
    savepoint_every_minutes: float | None = None
    # Fixed when the run starts, from the mapping plan (a run started before side by side existed: sequential).
    phase_schedule: PhaseSchedule = PhaseSchedule.SEQUENTIAL


class MigrationRunResult(BaseModel):
    run_id: str
    status: RunStatus
    counters: dict[str, PhaseCounters]
    error: str | None = None


class RunControl(BaseModel):
    """Argument of the pause/resume/cancel signals; optional, so `temporal workflow signal` works bare."""

    actor: str = "temporal-operator"
    door: str = "temporal"
    reason: str | None = None


class RunProgress(BaseModel):
    run_id: str
    status: RunStatus
    phase: str | None
    pause_requested: bool = False
    cancel_requested: bool = False
    counters: dict[str, PhaseCounters]
    continued: int = 0
    # The run's phases in order (empty: a run from before runs named their phases).
    phases: list[str] = Field(default_factory=list)
    # The phases under way now, in run order: several while a side-by-side group runs, else `phase` alone (empty
    # once the run has ended). `phase` is the first of them.
    phases_running: list[str] = Field(default_factory=list)
    # False: no worker answered for the run (none polls its task queue, or none in time), so the rest is what
    # was last recorded; the run goes on when a worker is back.
    worker_answered: bool = True
