"""Request and response bodies of the HTTP API: bounded, so bad input is a 4xx before it reaches a store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator

from migrayt.connections import JIRA_PROJECT_KEY, SourceConnection, TargetConnection
from migrayt.connectors.outbound import service_url
from migrayt.intake.catalog import TargetLimits
from migrayt.mapping.plan import MappingPlan

HTTP_URL = r"^https?://[^\s/?#]+[^\s]*$"
SECRET_REF = r"^(env|file):\S.*$"


# service_url: a URL an HTTP client can use (the pattern alone lets through hosts IDNA refuses), with no
# user info, query string or fragment.
HttpUrl = Annotated[str, Field(pattern=HTTP_URL, max_length=500), AfterValidator(service_url)]
ACTOR = Field(
    None, min_length=1, max_length=200, description="who to record in the audit trail (default: the token's name)"
)


class SourceSpec(SourceConnection):
    organization_url: HttpUrl = Field(examples=["https://dev.azure.com/acme"])
    project: str = Field(min_length=1, max_length=200)
    team: str | None = Field(None, min_length=1, max_length=200)
    pat_ref: str = Field(
        pattern=SECRET_REF, max_length=500, description="where the worker reads the PAT: env:NAME or file:PATH"
    )


class TargetSpec(TargetConnection):
    base_url: HttpUrl = Field(examples=["https://acme.atlassian.net"])
    project_key: str = Field(pattern=JIRA_PROJECT_KEY, description="the Jira project key to move into, e.g. PHX")
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    token_ref: str = Field(
        pattern=SECRET_REF, max_length=500, description="where the worker reads the API token: env:NAME or file:PATH"
    )
    xray_client_id: str | None = Field(
        None, min_length=1, max_length=200, description="Xray Cloud API key's client id (Xray installed on the site)"
    )
    xray_secret_ref: str | None = Field(
        None,
        pattern=SECRET_REF,
        max_length=500,
        description="where the worker reads the Xray API key's client secret: env:NAME or file:PATH",
    )


class CreateMigrationBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    source: SourceSpec
    target: TargetSpec
    plan: MappingPlan | None = Field(
        None, description="the mapping plan (default: the built-in plan for an Agile project); version 1"
    )
    approve_plan: bool = Field(
        False, description="record the given plan as approved (else a draft to review, e.g. after a scan)"
    )
    actor: str | None = ACTOR


class PlanSummary(BaseModel):
    version: int
    status: str
    origin: str
    model: str | None = None
    created_by: str
    approved_by: str | None = None
    approved_at: datetime | None = None
    created_at: datetime | None = None


class PlanView(PlanSummary):
    plan: MappingPlan


class RunSummary(BaseModel):
    id: str
    kind: str = Field(
        "run", description="run (a migration run), delta_sync (the changes since one) or undo (what one added, removed)"
    )
    status: str
    phase: str | None = None
    original_run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class MigrationView(BaseModel):
    id: str
    name: str
    source: dict[str, Any]
    target: dict[str, Any]
    created_at: datetime | None = None
    plan: PlanSummary | None = Field(None, description="the latest plan version")
    runs: list[RunSummary] = Field(default_factory=list)
    status: str | None = Field(
        None,
        description="the status of its latest full run (a delta sync after it does not clear its failures; "
        "an undo is not a run of the migration, see `runs` and GET /api/migrations/{id}/undo)",
    )
    status_run_id: str | None = None


class ActorBody(BaseModel):
    actor: str | None = ACTOR


class ControlBody(BaseModel):
    actor: str | None = ACTOR
    reason: str | None = Field(None, max_length=500)


class RunAccepted(BaseModel):
    run_id: str
    action: str
    status_url: str
    events_url: str


class StartScanBody(BaseModel):
    draft_plan: bool = Field(True, description="draft a mapping plan from the catalog when the scan is done")
    limit_overrides: dict[str, int] = Field(
        default_factory=dict, description="Jira limits to check against instead of the site's"
    )
    actor: str | None = ACTOR

    @field_validator("limit_overrides")
    @classmethod
    def known_limits(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(TargetLimits.model_fields))
        if unknown:
            raise ValueError(f"unknown limits {unknown}; known: {sorted(TargetLimits.model_fields)}")
        if any(v < 0 or v > 2**40 for v in value.values()):
            raise ValueError("limits are between 0 and 2^40")
        return value


class ScanAccepted(BaseModel):
    scan_id: str
    status_url: str


class ScanSummary(BaseModel):
    id: str
    migration_id: str
    status: str
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ScanView(ScanSummary):
    catalog: dict[str, Any]
    lint: dict[str, Any]
    quote: dict[str, Any]


class EditPlanBody(BaseModel):
    base_version: int = Field(ge=1, le=1_000_000, description="the version this edit starts from (must be the latest)")
    plan: MappingPlan
    actor: str | None = ACTOR


class ApprovePlanBody(BaseModel):
    version: int | None = Field(None, ge=1, le=1_000_000, description="the version to approve (default: the latest)")
    actor: str | None = ACTOR
    acknowledge: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list,
        max_length=50,
        description="scan findings that will fail items, by rule (many_issue_links, …), acknowledged by the approver",
    )


class StartPreviewBody(BaseModel):
    samples: int = Field(5, ge=0, le=50, description="issues to show side by side")
    actor: str | None = ACTOR


class PreviewAccepted(BaseModel):
    preview_id: str
    status_url: str


class PreviewSummary(BaseModel):
    id: str
    migration_id: str
    status: str
    plan_version: int | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class PreviewView(PreviewSummary):
    report: dict[str, Any]


class AuditEventView(BaseModel):
    id: int
    created_at: datetime | None = None
    migration_id: str | None = None
    run_id: str | None = None
    action: str
    actor: str
    door: str
    detail: dict[str, Any]


class ConsentBody(BaseModel):
    ai_drafting: bool
    actor: str | None = ACTOR


class WhoAmI(BaseModel):
    tenant: str
    actor: str
    auth_mode: str
    admin: bool
