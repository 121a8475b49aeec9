"""Migrations: an ADO project (source) moving into a Jira project (target) under a mapping plan.

`GET /api/migrations/{id}` serves both kinds of id under the one URL customers already script:
a run id (run-…) answers the run's status; a migration id (mig-…) answers the migration.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import Intake, MigrationId, Service
from migrayt.api.routers.schemas import CreateMigrationBody, MigrationView, PlanSummary, RunSummary
from migrayt.api.run_report import RunReport
from migrayt.api.secret_refs import SecretRefRefused, check_secret_ref
from migrayt.mapping.plan import default_plan
from migrayt.store.models import Migration, PlanVersion, Run

router = APIRouter(prefix="/api/migrations", tags=["migrations"])


def plan_summary(row: PlanVersion) -> PlanSummary:
    return PlanSummary(
        version=row.version, status=row.status, origin=row.origin, model=row.model, created_by=row.created_by,
        approved_by=row.approved_by, approved_at=row.approved_at, created_at=row.created_at,
    )


def run_summary(run: Run) -> RunSummary:
    return RunSummary(id=run.id, status=run.status, phase=run.phase, original_run_id=run.original_run_id, started_at=run.started_at, finished_at=run.finished_at)


async def migration_view(svc: Service, intake: Intake, tenant: str, migration: Migration, with_runs: bool = True) -> MigrationView:
    versions = await intake.plan_versions(tenant, migration.id)
    runs = await svc.list_runs(tenant, migration.id) if with_runs else []
    return MigrationView(
        id=migration.id, name=migration.name, source=migration.source, target=migration.target, created_at=migration.created_at,
        plan=plan_summary(versions[-1]) if versions else None, runs=[run_summary(r) for r in runs],
    )


@router.post(
    "", status_code=201, response_model=MigrationView, summary="Create a migration",
    description="Secrets are named, never sent: `env:NAME` (or `file:PATH` with auth off). With auth on, "
    "only variables named `MIGRAYT_T_<TENANT>_…` are allowed (see migrayt/api/secret_refs.py).",
)
async def create_migration(body: CreateMigrationBody, svc: Service, intake: Intake, who: CurrentPrincipal, request: Request) -> MigrationView:
    try:
        for ref in (body.source.pat_ref, body.target.token_ref):
            check_secret_ref(ref, tenant=who.tenant, shared=request.app.state.auth_mode == "on")
    except SecretRefRefused as err:
        raise HTTPException(422, str(err)) from None
    migration_id = await svc.create_migration(
        who.tenant, body.name, body.source, body.target, body.plan or default_plan(), actor=who.acting_as(body.actor), door="api",
        approved=body.approve_plan,
    )
    return await migration_view(svc, intake, who.tenant, await svc.get_migration(who.tenant, migration_id))


@router.get("", response_model=list[MigrationView], summary="List the tenant's migrations")
async def list_migrations(svc: Service, intake: Intake, tenant: TenantId) -> list[MigrationView]:
    return [await migration_view(svc, intake, tenant, m, with_runs=False) for m in await svc.list_migrations(tenant)]


@router.get(
    "/{id}", response_model=RunReport | MigrationView,
    summary="A run's status (run id) or a migration (migration id)",
    description="For a run id: status, phase, counters per phase, elapsed time, ETA and failed items. For a migration id: the migration with its plan version and runs.",
)
async def get_run_or_migration(id: MigrationId, svc: Service, intake: Intake, tenant: TenantId) -> RunReport | MigrationView:
    if id.startswith("mig-"):
        return await migration_view(svc, intake, tenant, await svc.get_migration(tenant, id))
    return await svc.run_report(tenant, id)
