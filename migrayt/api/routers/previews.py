"""Previews: a dry run of the current plan — what a run would send and what would fail; writes nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import Intake, MigrationId, PreviewId, Service
from migrayt.api.routers.schemas import PreviewAccepted, PreviewSummary, PreviewView, StartPreviewBody
from migrayt.store.models import Preview

router = APIRouter(prefix="/api", tags=["previews"])


def preview_summary(row: Preview) -> PreviewSummary:
    return PreviewSummary(
        id=row.id,
        migration_id=row.migration_id,
        status=row.status,
        plan_version=row.plan_version,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


@router.post(
    "/migrations/{migration_id}/previews",
    status_code=202,
    response_model=PreviewAccepted,
    summary="Start a dry-run preview",
)
async def start_preview(
    migration_id: MigrationId,
    intake: Intake,
    who: CurrentPrincipal,
    body: Annotated[StartPreviewBody | None, Body()] = None,
) -> PreviewAccepted:
    body = body or StartPreviewBody()
    preview_id = await intake.start_preview(
        who.tenant, migration_id, actor=who.acting_as(body.actor), door=who.door, samples=body.samples
    )
    return PreviewAccepted(preview_id=preview_id, status_url=f"/api/previews/{preview_id}")


@router.get(
    "/migrations/{migration_id}/previews", response_model=list[PreviewSummary], summary="List a migration's previews"
)
async def list_previews(migration_id: MigrationId, svc: Service, tenant: TenantId) -> list[PreviewSummary]:
    return [preview_summary(p) for p in await svc.list_previews(tenant, migration_id)]


@router.get(
    "/previews/{preview_id}",
    response_model=PreviewView,
    summary="A preview: status and report (samples, predicted failures)",
)
async def get_preview(preview_id: PreviewId, intake: Intake, tenant: TenantId) -> PreviewView:
    row = await intake.get_preview(tenant, preview_id)
    return PreviewView(**preview_summary(row).model_dump(), report=row.report or {})
