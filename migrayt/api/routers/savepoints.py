"""Savepoints: list and download a run's, and start a migration's run from one (the file as the request body)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from migrayt.api.auth import CurrentPrincipal
from migrayt.api.routers.deps import MigrationId, RunId
from migrayt.api.routers.runs import accepted
from migrayt.api.routers.schemas import RunAccepted
from migrayt.contracts.savepoints import SavepointInfo
from migrayt.core.savepoints import SavepointService


def savepoint_service(request: Request) -> SavepointService:
    return request.app.state.savepoints


Savepoints = Annotated[SavepointService, Depends(savepoint_service)]
SavepointName = Annotated[
    str, Path(pattern=r"^savepoint-[A-Za-z0-9_.-]+\.json$", description="a savepoint's file name")
]

router = APIRouter(prefix="/api", tags=["savepoints"])


@router.get(
    "/runs/{run_id}/savepoints",
    response_model=list[SavepointInfo],
    summary="A run's savepoints, newest first",
    responses={404: {"description": "no such run for this tenant"}},
)
async def list_savepoints(run_id: RunId, svc: Savepoints, who: CurrentPrincipal) -> list[SavepointInfo]:
    return await svc.list_savepoints(who.tenant, run_id)


@router.get(
    "/runs/{run_id}/savepoints/{name}",
    summary="Download one savepoint file",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, 404: {"description": "no such run or savepoint"}},
)
async def download_savepoint(run_id: RunId, name: SavepointName, svc: Savepoints, who: CurrentPrincipal) -> Response:
    data = await svc.read_savepoint(who.tenant, run_id, name)
    return Response(
        data, media_type="application/json", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post(
    "/migrations/{migration_id}/runs/from-savepoint",
    status_code=202,
    response_model=RunAccepted,
    summary="Start a run from a savepoint file (the request body): its items are skipped, not sent again",
    responses={
        422: {"description": "the savepoint is refused: changed, signed elsewhere, for another target, or not in Jira"},
        409: {"description": "an active run exists, or the plan is not approved"},
    },
)
async def start_from_savepoint(
    migration_id: MigrationId, request: Request, svc: Savepoints, who: CurrentPrincipal
) -> RunAccepted:
    raw = await request.body()
    run_id = await svc.start_from_savepoint(who.tenant, migration_id, raw, actor=who.acting_as(None), door=who.door)
    return accepted(run_id, "start")
