"""Schedules: a cutover run at a set time, recurring delta syncs; created, listed, paused, deleted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field, model_validator

from migrayt.api.auth import CurrentPrincipal
from migrayt.scheduling.service import ScheduleInvalid, ScheduleService, ScheduleView

router = APIRouter(prefix="/api", tags=["schedules"])

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
ScheduleId = Annotated[str, Path(pattern=ID_PATTERN, description="a schedule id (cutover-… or delta-…)")]


def schedule_service(request: Request) -> ScheduleService:
    svc = request.app.state.service
    return ScheduleService(svc.settings, svc.sessions, svc.temporal)


Schedules = Annotated[ScheduleService, Depends(schedule_service)]


class ScheduleCreate(BaseModel):
    migration_id: str = Field(pattern=ID_PATTERN)
    kind: Literal["cutover", "delta"]
    at: datetime | None = Field(None, description="cutover: when the run starts (ISO 8601; no offset means UTC)")
    every_minutes: int | None = Field(None, ge=1, le=60 * 24 * 31, description="delta: run every N minutes")
    cron: str | None = Field(
        None, min_length=9, max_length=100, description="delta: cron expression, UTC (instead of every_minutes)"
    )
    paused: bool = Field(False, description="delta: create it paused")

    @model_validator(mode="after")
    def _fits_kind(self) -> ScheduleCreate:
        if self.kind == "cutover" and (self.at is None or self.every_minutes is not None or self.cron is not None):
            raise ValueError("a cutover takes `at` only")
        if self.kind == "delta" and (self.at is not None or (self.every_minutes is None) == (self.cron is None)):
            raise ValueError("a delta sync takes either `every_minutes` or `cron`")
        return self


class DeltaNow(BaseModel):
    migration_id: str = Field(pattern=ID_PATTERN)


class DeltaStarted(BaseModel):
    run_id: str


def _invalid(err: ScheduleInvalid) -> HTTPException:
    return HTTPException(422, str(err))


@router.post(
    "/schedules",
    response_model=ScheduleView,
    status_code=201,
    responses={
        409: {"description": "the tenant has as many schedules as the server allows"},
        422: {"description": "invalid, or a delta sync that would fire more often than the minimum interval"},
    },
)
async def create_schedule(body: ScheduleCreate, svc: Schedules, who: CurrentPrincipal) -> ScheduleView:
    try:
        if body.kind == "cutover":
            assert body.at is not None
            return await svc.create_cutover(who.tenant, body.migration_id, body.at, actor=who.actor, door=who.door)
        return await svc.create_delta(
            who.tenant,
            body.migration_id,
            actor=who.actor,
            door=who.door,
            every=timedelta(minutes=body.every_minutes) if body.every_minutes else None,
            cron=body.cron,
            paused=body.paused,
        )
    except ScheduleInvalid as err:
        raise _invalid(err) from None


@router.get("/schedules", response_model=list[ScheduleView])
async def list_schedules(
    svc: Schedules, who: CurrentPrincipal, migration_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None
) -> list[ScheduleView]:
    return await svc.list(who.tenant, migration_id)


@router.get("/schedules/{schedule_id}", response_model=ScheduleView)
async def get_schedule(schedule_id: ScheduleId, svc: Schedules, who: CurrentPrincipal) -> ScheduleView:
    return await svc.get(who.tenant, schedule_id)


@router.post("/schedules/{schedule_id}/{action}", response_model=ScheduleView)
async def change_schedule(
    schedule_id: ScheduleId, action: Literal["pause", "resume", "trigger"], svc: Schedules, who: CurrentPrincipal
) -> ScheduleView:
    act = {"pause": svc.pause, "resume": svc.resume, "trigger": svc.trigger}[action]
    return await act(who.tenant, schedule_id, actor=who.actor, door=who.door)


@router.delete("/schedules/{schedule_id}", status_code=204, response_class=Response)
async def delete_schedule(schedule_id: ScheduleId, svc: Schedules, who: CurrentPrincipal) -> Response:
    await svc.delete(who.tenant, schedule_id, actor=who.actor, door=who.door)
    return Response(status_code=204)


@router.post("/delta-syncs", response_model=DeltaStarted, status_code=202)
async def delta_now(body: DeltaNow, svc: Schedules, who: CurrentPrincipal) -> DeltaStarted:
    """One delta sync now: the items changed in ADO since the last successful run. Watch it as a run."""
    return DeltaStarted(run_id=await svc.start_delta(who.tenant, body.migration_id, actor=who.actor, door=who.door))
