"""Inputs and results of the scheduled workflows and their activities. Add fields with defaults only."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from migrayt.contracts.runs import PhaseCounters, RunCheckpoint, RunStatus


class ScheduledRunInput(BaseModel):
    """A Schedule's action for a cutover: start a normal run of the migration."""

    migration_id: str
    tenant: str
    schedule_id: str
    requested_by: str = "schedule"


class ScheduledRunResult(BaseModel):
    run_id: str | None = None
    skipped: str | None = None  # why no run was started (another run active, plan not approved…)


class DeltaPlan(BaseModel):
    skipped: str | None = None
    # Items changed in ADO since this moment (the last successful run's start, less a margin); None: all.
    changed_since: datetime | None = None
    tier_sizes: list[int] = Field(default_factory=list)
    items_total: int = 0


class DeltaSyncInput(BaseModel):
    migration_id: str
    tenant: str
    schedule_id: str | None = None
    requested_by: str = "schedule"
    door: str = "schedule"
    batch_size: int = Field(50, ge=1, le=50)
    concurrency: int = Field(4, ge=1, le=32)
    # Continue-as-new once history passes this many events (None: when Temporal suggests it).
    history_event_limit: int | None = None
    # The sync's phases in order, fixed when it starts (migrayt/contracts/phases.py: those with delta=True).
    phases: list[str] | None = None
    # Carried over continue-as-new: what the first execution prepared, and where the sync stands.
    plan: DeltaPlan | None = None
    checkpoint: RunCheckpoint | None = None


class DeltaPrepareInput(BaseModel):
    run_id: str
    migration_id: str
    tenant: str
    requested_by: str = "schedule"
    door: str = "schedule"


class SourceChangesInput(BaseModel):
    run_id: str
    migration_id: str
    tier: int
    start: int
    end: int
    changed_since: datetime | None = None


class DeltaSyncResult(BaseModel):
    run_id: str
    status: RunStatus | None = None
    skipped: str | None = None
    changed_since: datetime | None = None
    counters: dict[str, PhaseCounters] = Field(default_factory=dict)
    error: str | None = None
