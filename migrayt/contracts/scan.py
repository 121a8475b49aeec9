"""Contracts of the scan: the ScanWorkflow's input and result, those of its activities (read the source,
finish) and of the plan draft."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ScanInput(BaseModel):
    scan_id: str
    migration_id: str
    tenant: str
    actor: str = "system"
    door: str = "api"
    limit_overrides: dict[str, int] = Field(default_factory=dict)
    draft_plan: bool = True


class ScanResult(BaseModel):
    scan_id: str
    status: str  # COMPLETED | FAILED
    items_total: int = 0
    breaches: int = 0
    quote_total: float = 0.0
    plan_version: int | None = None
    ai_used: bool = False
    error: str | None = None


class ScanSourceInput(BaseModel):
    scan_id: str
    migration_id: str
    tenant: str
    # Caps that differ from what the target reports (e.g. a Data Center site's own settings).
    limit_overrides: dict[str, int] = Field(default_factory=dict)


class ScanSourceResult(BaseModel):
    items_total: int
    breaches: int
    quote_total: float
    seconds: float


class ScanFinishedInput(BaseModel):
    scan_id: str
    migration_id: str
    tenant: str
    actor: str
    door: str
    status: str
    error: str | None = None


class DraftPlanInput(BaseModel):
    migration_id: str
    tenant: str
    scan_id: str
    actor: str = "system"
    door: str = "api"


class DraftPlanResult(BaseModel):
    version: int
    ai_used: bool = False
    ai_entries: int = 0
    unmapped: int = 0
