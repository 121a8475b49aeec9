"""Mapping plans: versioned drafts (rule or AI, from a scan), human edits, approval of the latest."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import Intake, MigrationId
from migrayt.api.routers.migrations import plan_summary
from migrayt.api.routers.schemas import (
    ApprovePlanBody,
    EditPlanBody,
    PlanSummary,
    PlanView,
    ScanAccepted,
    StartScanBody,
)
from migrayt.mapping.plan import MappingPlan
from migrayt.mapping.schema import TargetSchema
from migrayt.store.models import PlanVersion

router = APIRouter(prefix="/api/migrations/{migration_id}/plan", tags=["mapping plans"])

VERSION_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the version is not the latest (edit or approve the latest)"},
    422: {"description": "the plan names a Jira value the project does not have (the message names it)"},
}


def plan_view(row: PlanVersion, plan: MappingPlan) -> PlanView:
    return PlanView(**plan_summary(row).model_dump(), plan=plan)


@router.get("", response_model=PlanView, summary="A plan version (default: the latest)")
async def get_plan(
    migration_id: MigrationId,
    intake: Intake,
    tenant: TenantId,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> PlanView:
    row, plan = await intake.plan(tenant, migration_id, version)
    return plan_view(row, plan)


@router.get(
    "/jira-options",
    response_model=TargetSchema,
    summary="What the plan's Jira side may name: issue types with their statuses, fields, priorities, link types",
)
async def jira_options(migration_id: MigrationId, intake: Intake, tenant: TenantId) -> TargetSchema:
    return await intake.jira_options(tenant, migration_id)


@router.get("/versions", response_model=list[PlanSummary], summary="Every plan version: origin, who approved")
async def list_versions(migration_id: MigrationId, intake: Intake, tenant: TenantId) -> list[PlanSummary]:
    return [plan_summary(r) for r in await intake.plan_versions(tenant, migration_id)]


@router.post(
    "/draft", status_code=202, response_model=ScanAccepted, summary="Draft a new plan version (scans the source first)"
)
async def draft_plan(
    migration_id: MigrationId,
    intake: Intake,
    who: CurrentPrincipal,
    body: Annotated[StartScanBody | None, Body()] = None,
) -> ScanAccepted:
    body = body or StartScanBody()
    scan_id = await intake.start_scan(
        who.tenant,
        migration_id,
        actor=who.acting_as(body.actor),
        door=who.door,
        limit_overrides=body.limit_overrides,
        draft_plan=True,
    )
    return ScanAccepted(scan_id=scan_id, status_url=f"/api/scans/{scan_id}")


@router.put(
    "",
    status_code=201,
    response_model=PlanView,
    responses=VERSION_CONFLICT,
    summary="Edit: a new draft version from the latest",
)
async def edit_plan(migration_id: MigrationId, body: EditPlanBody, intake: Intake, who: CurrentPrincipal) -> PlanView:
    version = await intake.edit_plan(
        who.tenant, migration_id, body.base_version, body.plan, actor=who.acting_as(body.actor), door=who.door
    )
    row, plan = await intake.plan(who.tenant, migration_id, version)
    return plan_view(row, plan)


@router.post(
    "/approve", response_model=PlanView, responses=VERSION_CONFLICT, summary="Approve the latest version: runs use it"
)
async def approve_plan(
    migration_id: MigrationId,
    intake: Intake,
    who: CurrentPrincipal,
    body: Annotated[ApprovePlanBody | None, Body()] = None,
) -> PlanView:
    body = body or ApprovePlanBody()
    version = body.version
    if version is None:
        version = (await intake.plan(who.tenant, migration_id))[0].version
    await intake.approve_plan(
        who.tenant,
        migration_id,
        version,
        actor=who.acting_as(body.actor),
        door=who.door,
        acknowledged=body.acknowledge,
    )
    row, plan = await intake.plan(who.tenant, migration_id, version)
    return plan_view(row, plan)
