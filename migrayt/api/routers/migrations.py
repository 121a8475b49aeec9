"""Migrations: an ADO project (source) moving into a Jira project (target) under a mapping plan.

`GET /api/migrations/{id}` serves both kinds of id under the one URL customers already script:
a run id (run-…) answers the run's status; a migration id (mig-…) answers the migration.

`POST /api/migrations` takes either shape a script has at hand: connection details naming where the
worker reads the secrets (`source` + `target`), or two of the tenant's saved, tested connections
(`source_connection_id` + `target_connection_id` + `project_key`), as the web app does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import ID_PATTERN, Intake, MigrationId, Service
from migrayt.api.routers.schemas import ACTOR, CreateMigrationBody, MigrationView, PlanSummary, RunSummary
from migrayt.api.secret_refs import SecretRefRefused, check_named_ref
from migrayt.connections import JIRA_PROJECT_KEY
from migrayt.contracts.runs import run_kind
from migrayt.core.errors import WrongConnectionKind
from migrayt.core.reports import RunReport
from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.store.models import Migration, PlanVersion, Run

router = APIRouter(prefix="/api/migrations", tags=["migrations"])


class CreateFromConnectionsBody(BaseModel):
    """A migration between two saved connections (POST /api/connections): their secrets stay sealed."""

    model_config = ConfigDict(extra="forbid")  # half of each shape is a mistake to name, not to guess at

    name: str = Field(min_length=1, max_length=200)
    source_connection_id: str = Field(
        pattern=ID_PATTERN, max_length=100, description="a saved Azure DevOps connection (conn-…)"
    )
    target_connection_id: str = Field(
        pattern=ID_PATTERN, max_length=100, description="a saved Jira Cloud or Data Center connection (conn-…)"
    )
    project_key: str = Field(pattern=JIRA_PROJECT_KEY, description="the Jira project key to move into, e.g. PHX")
    ado_project: str | None = Field(
        None, min_length=1, max_length=200, description="the ADO project (default: the one saved with the connection)"
    )
    plan: MappingPlan | None = Field(None, description="the mapping plan (default: the built-in plan); version 1")
    approve_plan: bool = Field(
        False, description="record the plan as approved (else a draft to review, e.g. after a scan)"
    )
    actor: str | None = ACTOR


def _shape(body: Any) -> str | None:
    if isinstance(body, dict):
        return "saved" if {"source_connection_id", "target_connection_id"} & body.keys() else "details"
    return None  # not an object: a 422 saying what is expected


NewMigration = Annotated[
    Annotated[CreateMigrationBody, Tag("details")] | Annotated[CreateFromConnectionsBody, Tag("saved")],
    Discriminator(
        _shape,
        custom_error_type="migration_body",
        custom_error_message=(
            "a JSON object with source + target, or with source_connection_id + target_connection_id + project_key"
        ),
    ),
]


def plan_summary(row: PlanVersion) -> PlanSummary:
    return PlanSummary(
        version=row.version,
        status=row.status,
        origin=row.origin,
        model=row.model,
        created_by=row.created_by,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        created_at=row.created_at,
    )


def run_summary(run: Run) -> RunSummary:
    return RunSummary(
        id=run.id,
        kind=run_kind(run.id).value,
        status=run.status,
        phase=run.phase,
        original_run_id=run.original_run_id,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def shown(connection: dict[str, Any]) -> dict[str, Any]:
    """A connection as the API shows it: `env:`/`file:` names stay, a sealed secret is only said to be there."""
    return {k: ("sealed" if isinstance(v, str) and v.startswith("sealed:") else v) for k, v in connection.items()}


async def migration_view(
    svc: Service, intake: Intake, tenant: str, migration: Migration, with_runs: bool = True
) -> MigrationView:
    versions = await intake.plan_versions(tenant, migration.id)
    runs = await svc.list_runs(tenant, migration.id)
    standing = svc.standing_run(runs)
    return MigrationView(
        id=migration.id,
        name=migration.name,
        source=shown(migration.source),
        target=shown(migration.target),
        created_at=migration.created_at,
        plan=plan_summary(versions[-1]) if versions else None,
        runs=[run_summary(r) for r in runs] if with_runs else [],
        status=standing.status if standing else None,
        status_run_id=standing.id if standing else None,
    )


@router.post(
    "",
    status_code=201,
    response_model=MigrationView,
    summary="Create a migration",
    description="Two shapes. From saved connections (POST /api/connections; the web app's way): "
    "`source_connection_id`, `target_connection_id`, `project_key`; another tenant's connection is a 404. "
    "From details: secrets are named, never sent: `env:NAME` (or, with auth off, `file:PATH` inside the secrets folder "
    "MIGRAYT_SECRETS_DIR). With auth on, only variables named `MIGRAYT_T_<TENANT>__<NAME>` are allowed "
    "(tenant upper-cased, `-` as `_`; see migrayt/tenant_secrets.py).",
)
async def create_migration(
    body: NewMigration, svc: Service, intake: Intake, who: CurrentPrincipal, request: Request
) -> MigrationView:
    if isinstance(body, CreateFromConnectionsBody):
        try:
            migration_id = await intake.create_migration_from_connections(
                who.tenant,
                body.name,
                body.source_connection_id,
                body.target_connection_id,
                body.project_key,
                who.acting_as(body.actor),
                who.door,
                ado_project=body.ado_project,
                plan=body.plan,
                approved=body.approve_plan,
            )
        except WrongConnectionKind as err:
            raise HTTPException(422, str(err)) from None
        return await migration_view(svc, intake, who.tenant, await svc.get_migration(who.tenant, migration_id))
    try:
        for ref in (body.source.pat_ref, body.target.token_ref):
            check_named_ref(
                ref, tenant=who.tenant, settings=request.app.state.settings, shared=request.app.state.auth_mode == "on"
            )
    except SecretRefRefused as err:
        raise HTTPException(422, str(err)) from None
    migration_id = await svc.create_migration(
        who.tenant,
        body.name,
        body.source,
        body.target,
        body.plan or default_plan(),
        actor=who.acting_as(body.actor),
        door=who.door,
        approved=body.approve_plan,
    )
    return await migration_view(svc, intake, who.tenant, await svc.get_migration(who.tenant, migration_id))


@router.get("", response_model=list[MigrationView], summary="List the tenant's migrations")
async def list_migrations(svc: Service, intake: Intake, tenant: TenantId) -> list[MigrationView]:
    return [await migration_view(svc, intake, tenant, m, with_runs=False) for m in await svc.list_migrations(tenant)]


@router.get(
    "/{id}",
    response_model=RunReport | MigrationView,
    summary="A run's status (run id) or a migration (migration id)",
    description=(
        "For a run id: status, phase, counters per phase, elapsed time, ETA and failed items. For a "
        "migration id: the migration with its plan version and runs."
    ),
)
async def get_run_or_migration(
    id: MigrationId, svc: Service, intake: Intake, tenant: TenantId
) -> RunReport | MigrationView:
    if id.startswith("mig-"):
        return await migration_view(svc, intake, tenant, await svc.get_migration(tenant, id))
    return await svc.run_report(tenant, id)
