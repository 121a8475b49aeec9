"""Runs: start one, list them, and control one as customers script it.

The controls: /api/migrations/{runId}/pause|resume|cancel|rerun.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import MigrationId, RunId, Service
from migrayt.api.routers.migrations import run_summary
from migrayt.api.routers.schemas import ActorBody, ControlBody, RunAccepted, RunSummary

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
