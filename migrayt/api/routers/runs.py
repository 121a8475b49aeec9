"""Runs: start one, list them, and control one as customers script it.

The controls: /api/migrations/{runId}/pause|resume|cancel|rerun.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import MigrationId, RunId, Service
from migrayt.api.routers.migrations import run_summary
from migrayt.api.routers.schemas import ActorBody, ControlBody, RunAccepted, RunSummary
from migrayt.core import report_render
from migrayt.core.run_report import FailurePage, ItemTrace

router = APIRouter(prefix="/api/migrations", tags=["runs"])

Tenant = TenantId  # the name other routers imported before migrayt/api/auth.py existed

CONFLICTS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the run is not in a state for this action; nothing was changed"},
    404: {"description": "no such run for this tenant"},
}


def accepted(run_id: str, action: str) -> RunAccepted:
    return RunAccepted(
        run_id=run_id,
        action=action,
        status_url=f"/api/migrations/{run_id}",
        events_url=f"/api/migrations/{run_id}/events",
    )


@router.post(
    "/{migration_id}/runs",
    status_code=202,
    response_model=RunAccepted,
    summary="Start a run of a migration",
    responses={409: {"description": "an active run exists, or the plan is not approved"}},
)
async def start_run(
    migration_id: MigrationId, svc: Service, who: CurrentPrincipal, body: Annotated[ActorBody | None, Body()] = None
) -> RunAccepted:
    actor = who.acting_as(body.actor if body else None)
    return accepted(await svc.start_run(who.tenant, migration_id, actor=actor, door=who.door), "start")


@router.get("/{migration_id}/runs", response_model=list[RunSummary], summary="List a migration's runs")
async def list_runs(migration_id: MigrationId, svc: Service, who: CurrentPrincipal) -> list[RunSummary]:
    return [run_summary(r) for r in await svc.list_runs(who.tenant, migration_id)]


async def _control(
    svc: Service, who: CurrentPrincipal, run_id: str, action: str, body: ControlBody | None
) -> RunAccepted:
    body = body or ControlBody()
    await svc.control_within(
        who.tenant, run_id, action, actor=who.acting_as(body.actor), door=who.door, reason=body.reason
    )
    return accepted(run_id, action)


@router.post(
    "/{run_id}/pause",
    status_code=202,
    response_model=RunAccepted,
    responses=CONFLICTS,
    summary="Pause a RUNNING run: batches under way are cut, PAUSED once nothing writes",
)
async def pause_run(
    run_id: RunId, svc: Service, who: CurrentPrincipal, body: Annotated[ControlBody | None, Body()] = None
) -> RunAccepted:
    return await _control(svc, who, run_id, "pause", body)


@router.post(
    "/{run_id}/resume", status_code=202, response_model=RunAccepted, responses=CONFLICTS, summary="Resume a PAUSED run"
)
async def resume_run(
    run_id: RunId, svc: Service, who: CurrentPrincipal, body: Annotated[ControlBody | None, Body()] = None
) -> RunAccepted:
    return await _control(svc, who, run_id, "resume", body)


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    response_model=RunAccepted,
    responses=CONFLICTS,
    summary="Cancel a RUNNING or PAUSED run (final)",
)
async def cancel_run(
    run_id: RunId, svc: Service, who: CurrentPrincipal, body: Annotated[ControlBody | None, Body()] = None
) -> RunAccepted:
    return await _control(svc, who, run_id, "cancel", body)


@router.post(
    "/{run_id}/rerun",
    status_code=202,
    response_model=RunAccepted,
    responses=CONFLICTS,
    summary="Start a new run of a FAILED, INCOMPLETE or CANCELLED run's migration; it skips what exists",
)
async def rerun(
    run_id: RunId, svc: Service, who: CurrentPrincipal, body: Annotated[ControlBody | None, Body()] = None
) -> RunAccepted:
    actor = who.acting_as(body.actor if body else None)
    return accepted(await svc.rerun(who.tenant, run_id, actor=actor, door=who.door), "rerun")


@router.get(
    "/{run_id}/report",
    summary="The run report to download: every item's fate per phase, every failure with its remedy",
    description="`format=html` is one self-contained page (inline CSS, no external asset), `csv` one row per item "
    "record, `json` the whole report. Counts per phase are the run's counters.",
    responses={
        200: {"content": {"text/html": {}, "text/csv": {}, "application/json": {}}},
        404: {"description": "no such run for this tenant"},
    },
)
async def run_report_download(
    run_id: RunId, svc: Service, who: CurrentPrincipal, format: Literal["html", "csv", "json"] = "html"
) -> Response:
    report = await svc.run_report_document(who.tenant, run_id)
    return Response(
        content=report_render.render(report, format),
        media_type=report_render.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{report_render.file_name(report, format)}"'},
    )


@router.get(
    "/{id}/items/{item}",
    response_model=ItemTrace,
    summary="The trace of one item: every record of every phase (state, attempts, when, error), both sides' links",
    description="`id` is a migration id or one of its run ids; `item` an ADO work item id (48) or its Jira key "
    "(PHX-144).",
    responses={404: {"description": "no such migration for this tenant, or no record of that item"}},
)
async def item_trace(
    id: MigrationId,
    item: Annotated[str, Path(pattern=r"^#?[A-Za-z0-9][A-Za-z0-9_-]{0,60}$")],
    svc: Service,
    who: CurrentPrincipal,
) -> ItemTrace:
    return await svc.item_trace(who.tenant, id, item)


@router.get(
    "/{id}/failures",
    response_model=FailurePage,
    summary="Every failed record of a migration (or a run's migration), paged, grouped by reason, by phase",
    responses={404: {"description": "no such migration or run for this tenant"}},
)
async def failures(
    id: MigrationId,
    svc: Service,
    who: CurrentPrincipal,
    phase: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$", description="only this phase's failures")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FailurePage:
    return await svc.failure_page(who.tenant, id, phase=phase, offset=offset, limit=limit)
