"""Scans of a migration's source: the Catalog, its limit lint and the quote priced from it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import Intake, MigrationId, ScanId, Service
from migrayt.api.routers.schemas import ScanAccepted, ScanSummary, ScanView, StartScanBody
from migrayt.store.models import Scan

router = APIRouter(prefix="/api", tags=["scans"])


def scan_summary(row: Scan) -> ScanSummary:
    return ScanSummary(
        id=row.id,
        migration_id=row.migration_id,
        status=row.status,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def scan_view(row: Scan) -> ScanView:
    return ScanView(
        **scan_summary(row).model_dump(), catalog=row.catalog or {}, lint=row.lint or {}, quote=row.quote or {}
    )


@router.post(
    "/migrations/{migration_id}/scans",
    status_code=202,
    response_model=ScanAccepted,
    summary="Scan the source (and draft a plan)",
)
async def start_scan(
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
        draft_plan=body.draft_plan,
    )
    return ScanAccepted(scan_id=scan_id, status_url=f"/api/scans/{scan_id}")


@router.get("/migrations/{migration_id}/scans", response_model=list[ScanSummary], summary="List a migration's scans")
async def list_scans(migration_id: MigrationId, svc: Service, tenant: TenantId) -> list[ScanSummary]:
    return [scan_summary(s) for s in await svc.list_scans(tenant, migration_id)]


@router.get(
    "/migrations/{migration_id}/quote",
    response_model=dict[str, Any],
    summary="The quote of the migration's latest completed scan",
)
async def latest_quote(migration_id: MigrationId, svc: Service, tenant: TenantId) -> dict[str, Any]:
    done = [s for s in await svc.list_scans(tenant, migration_id) if s.status == "COMPLETED"]
    if not done:
        raise HTTPException(
            404,
            f"migration {migration_id} has no completed scan yet: start one with POST "
            f"/api/migrations/{migration_id}/scans",
        )
    return done[-1].quote


@router.get("/scans/{scan_id}", response_model=ScanView, summary="A scan: status, catalog, lint and quote")
async def get_scan(scan_id: ScanId, intake: Intake, tenant: TenantId) -> ScanView:
    return scan_view(await intake.get_scan(tenant, scan_id))


async def _completed(intake: Intake, tenant: str, scan_id: str) -> Scan:
    scan = await intake.get_scan(tenant, scan_id)
    if scan.status != "COMPLETED":
        raise HTTPException(
            409,
            f"scan {scan_id} is {scan.status}: its results are there once it is COMPLETED"
            + (f" ({scan.error})" if scan.error else ""),
        )
    return scan


@router.get(
    "/scans/{scan_id}/catalog",
    response_model=dict[str, Any],
    summary="The catalog a scan built",
    responses={409: {"description": "the scan is not completed"}},
)
async def get_catalog(scan_id: ScanId, intake: Intake, tenant: TenantId) -> dict[str, Any]:
    return (await _completed(intake, tenant, scan_id)).catalog


@router.get(
    "/scans/{scan_id}/lint",
    response_model=dict[str, Any],
    summary="Where the source breaks Jira's limits",
    responses={409: {"description": "the scan is not completed"}},
)
async def get_lint(scan_id: ScanId, intake: Intake, tenant: TenantId) -> dict[str, Any]:
    return (await _completed(intake, tenant, scan_id)).lint


@router.get(
    "/scans/{scan_id}/quote",
    response_model=dict[str, Any],
    summary="The price of a run, from the scanned volume",
    responses={409: {"description": "the scan is not completed"}},
)
async def get_quote(scan_id: ScanId, intake: Intake, tenant: TenantId) -> dict[str, Any]:
    return (await _completed(intake, tenant, scan_id)).quote
