"""Contracts of a validation: ValidationWorkflow's input, checkpoint, progress and result, and one input
and one result model per activity. Add fields with defaults only."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

# Every check a validation makes, in the order a report shows them.
CHECKS: tuple[str, ...] = (
    "items",
    "type",
    "summary",
    "description",
    "status",
    "assignee",
    "reporter",
    "priority",
    "components",
    "sprint",
    "parent",
    "links",
    "remote_links",
    "attachments",
    "comments",
    "worklogs",  # the 7pace plugin's (migrayt/plugins/sevenpace.py)
    "provenance",  # the original dates, people and state in their fields (migrayt/translation/provenance.py)
)


class DifferenceKind(StrEnum):
    MISSING = "missing"  # in ADO (or recorded as written), not in Jira
    EXTRA = "extra"  # in Jira, not in ADO
    DIFFERENT = "different"  # in both, not equal
    # Not a migration error: someone other than the migration's user changed it in Jira after the migration wrote it.
    CHANGED_AFTER = "changed_after"


class ValidationStatus(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    PASSED = "PASSED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"  # the validation itself could not finish (Jira unreachable, a bad configuration)


FINAL_VALIDATION_STATUSES = frozenset(
    {ValidationStatus.PASSED, ValidationStatus.FAILED, ValidationStatus.CANCELLED, ValidationStatus.ERROR}
)

# The validation's phase for the MigrationPhase search attribute.
VALIDATION_PHASE = "validate"
# Items per batch: one Jira bulkfetch (at most 100 issues a call) and one ADO workitemsbatch (200) each.
VALIDATION_BATCH = 100

# {check: {kind: count}}
Counts = dict[str, dict[str, int]]


def add_counts(into: Counts, other: Counts) -> None:
    for check, kinds in other.items():
        mine = into.setdefault(check, {})
        for kind, n in kinds.items():
            mine[kind] = mine.get(kind, 0) + n


class Difference(BaseModel):
    check: str
    kind: DifferenceKind
    ado_id: int | None = None
    jira_key: str | None = None
    expected: str | None = None
    actual: str | None = None
    note: str | None = None


class ValidationCheckpoint(BaseModel):
    """All a continued validation needs; the differences themselves are in Postgres."""

    items_total: int = 0
    next_start: int = 0
    redo: list[int] = Field(default_factory=list)
    items_checked: int = 0
    counts: Counts = Field(default_factory=dict)
    paused: bool = False
    event_seq: int = 0
    continued: int = 0
    prepared: bool = False


class ValidationInput(BaseModel):
    validation_id: str
    migration_id: str
    tenant: str
    deep: bool = False
    tolerances: dict[str, int] = Field(default_factory=dict)
    requested_by: str = "system"
    door: str = "api"
    batch_size: int = Field(VALIDATION_BATCH, ge=1, le=VALIDATION_BATCH)
    concurrency: int = Field(4, ge=1, le=32)
    history_event_limit: int | None = None
    checkpoint: ValidationCheckpoint | None = None


class ValidationResult(BaseModel):
    validation_id: str
    status: ValidationStatus
    items_checked: int = 0
    counts: Counts = Field(default_factory=dict)
    error: str | None = None


class ValidationProgress(BaseModel):
    validation_id: str
    status: ValidationStatus
    items_total: int = 0
    items_checked: int = 0
    counts: Counts = Field(default_factory=dict)
    pause_requested: bool = False
    cancel_requested: bool = False
    continued: int = 0


class ValidationPrepareInput(BaseModel):
    validation_id: str
    migration_id: str


class ValidationPrepareResult(BaseModel):
    items_total: int
    # Differences found while listing both sides (Jira issues of no source item), already stored.
    counts: Counts = Field(default_factory=dict)


class ValidationBatchInput(BaseModel):
    validation_id: str
    migration_id: str
    start: int  # position range [start, end) in the validation's sorted source ids
    end: int
    deep: bool = False


class ValidationBatchResult(BaseModel):
    items: int
    counts: Counts = Field(default_factory=dict)
    jira_calls: int = 0


class ValidationEventInput(BaseModel):
    validation_id: str
    migration_id: str
    tenant: str
    event_key: str
    action: str  # validation_started, pause_requested, paused_effective, running, validation_finished ...
    actor: str = "system"
    door: str = "system"
    status: ValidationStatus
    items_checked: int = 0
    error: str | None = None


class ValidationEventResult(BaseModel):
    recorded: bool


class ValidationFinishInput(BaseModel):
    validation_id: str
    tolerances: dict[str, int] = Field(default_factory=dict)


class ValidationFinishResult(BaseModel):
    status: ValidationStatus
    items_checked: int
    counts: Counts = Field(default_factory=dict)
