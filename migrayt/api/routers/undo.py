"""Undo a migration: POST a dry run or a confirmed undo, GET its progress. Thin: the core decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from migrayt.api.auth import CurrentPrincipal
from migrayt.api.routers.deps import MigrationId, RunId
from migrayt.contracts.undo import FORCE_CATEGORIES, UndoPlan
from migrayt.core.undo import UndoProgress, UndoService, UnknownForce

router = APIRouter(prefix="/api/migrations", tags=["undo"])


def undo_service(request: Request) -> UndoService:
    return request.app.state.undo


Undo = Annotated[UndoService, Depends(undo_service)]


class UndoRequest(BaseModel):
    dry_run: bool = True
    # The dry run's total, repeated: the undo starts only when it is still the number that would go.
    confirm: int | None = Field(None, ge=0)
    force: list[str] = Field(default_factory=list, description=f"any of {', '.join(FORCE_CATEGORIES)}")
    actor: str | None = None


class UndoAnswer(BaseModel):
    dry_run: bool
    plan: UndoPlan | None = None
    run_id: str | None = None
    status_url: str | None = None


@router.post(
    "/{migration_id}/undo",
    response_model=UndoAnswer,
    summary="Undo a migration: a dry run (what would go), or the undo once `confirm` repeats its count",
    responses={409: {"description": "the count changed, or a run is active"}, 422: {"description": "bad force"}},
)
async def undo(migration_id: MigrationId, svc: Undo, who: CurrentPrincipal, body: UndoRequest) -> UndoAnswer:
    try:
        if body.dry_run or body.confirm is None:
            return UndoAnswer(dry_run=True, plan=await svc.dry_run(who.tenant, migration_id, body.force))
        run_id = await svc.start(
            who.tenant, migration_id, body.confirm, actor=who.acting_as(body.actor), door=who.door, force=body.force
        )
    except UnknownForce as err:
        raise HTTPException(422, str(err)) from None
    return UndoAnswer(dry_run=False, run_id=run_id, status_url=f"/api/migrations/{migration_id}/undo/{run_id}")


@router.get("/{migration_id}/undo", response_model=UndoProgress, summary="Progress of the migration's last undo")
async def last_undo(migration_id: MigrationId, svc: Undo, who: CurrentPrincipal) -> UndoProgress:
    return await svc.progress(who.tenant, await svc.latest(who.tenant, migration_id))


@router.get("/{migration_id}/undo/{run_id}", response_model=UndoProgress, summary="Progress of one undo")
async def undo_progress(migration_id: MigrationId, run_id: RunId, svc: Undo, who: CurrentPrincipal) -> UndoProgress:
    progress = await svc.progress(who.tenant, run_id)
    if progress.migration_id != migration_id:
        raise HTTPException(404, f"no undo {run_id} of migration {migration_id}")
    return progress
