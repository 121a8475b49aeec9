"""One input and one result model per activity of a run."""

from __future__ import annotations

from pydantic import BaseModel, Field

from migrayt.contracts.runs import PhaseCounters


class RunEventInput(BaseModel):
    run_id: str
    migration_id: str
    tenant: str
    event_key: str
    action: str  # run_started, phase_started, phase_finished, paused, resumed, cancel_requested, run_finished...
    actor: str = "system"
    door: str = "system"
    status: str
    phase: str | None = None
    counters: dict[str, PhaseCounters] = Field(default_factory=dict)
    error: str | None = None
    finished: bool = False
    original_run_id: str | None = None


class RunEventResult(BaseModel):
    recorded: bool
    # The run's status as kept once it ended: INCOMPLETE settles as COMPLETED_WITH_ACCEPTED_EXCEPTIONS when
    # every failed item was accepted already (a re-run). None before a run's end, and from workers before this.
    status: str | None = None


class NotificationsInput(BaseModel):
    """Mute or restore the target project's notifications for one run."""

    run_id: str
    migration_id: str


class NotificationsResult(BaseModel):
    muted: bool = False  # the silent scheme is (mute) or was until now (restore) the project's
    restored: bool = False
    original: str | None = None  # the project's own scheme, by name
    note: str | None = None  # what the user should know (e.g. unmuted because the plan says so)


class PreflightInput(BaseModel):
    run_id: str
    migration_id: str


class PreflightResult(BaseModel):
    tier_sizes: list[int]
    items_total: int
    skipped_types: dict[str, int] = Field(default_factory=dict)
    users_resolved: int = 0
    users_unresolved: int = 0
    users_fallback: int = 0  # ADO users without a Jira account, written as the plan's fallback user
    # Issues of earlier runs given the assignee or reporter they were created without (user_fields.py).
    issues_given_users: int = 0
    components: int = 0
    sprints: int = 0


class BatchInput(BaseModel):
    run_id: str
    migration_id: str
    tier: int
    start: int  # ordinal range [start, end) within the tier
    end: int


class BatchResult(BaseModel):
    counters: PhaseCounters = Field(default_factory=PhaseCounters)
    reconciled: int = 0


class CreateItemsInput(BatchInput):
    pass


class CreateItemsResult(BatchResult):
    pass


class PhaseBatchInput(BatchInput):
    """Input of the phases after create items (hierarchy … plugins)."""

    phase: str
    # [start, end) is a range of the run's content order (most comments and files first, across tiers; `tier` is
    # then 0), not of a tier: runs since the content-order patch (migrayt/workflows/migration_run.py).
    content_order: bool = False


class PhaseBatchResult(BatchResult):
    pass
