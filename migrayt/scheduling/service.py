"""Schedules of a tenant's migrations: create, list, pause, resume, trigger, delete (every door uses this).

A cutover is a Temporal Schedule with one action at a set time that starts a normal run; a delta
sync is a recurring Schedule (every N minutes, or a cron expression) that starts DeltaSyncWorkflow.
Overlapping actions are skipped, so a delta never runs beside another. The `schedule` table says
which tenant owns which schedule; Temporal keeps its state (paused, next and recent actions).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from migrayt.contracts.phases import delta_phases
from migrayt.contracts.runs import RunStatus
from migrayt.contracts.schedules import DeltaSyncInput, ScheduledRunInput
from migrayt.core.errors import NotFound, RunConflict
from migrayt.core.ownership import owned
from migrayt.core.start_gate import start_refusal
from migrayt.scheduling.store import ScheduleRecord
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, Migration, Run
from migrayt.temporal.search_attributes import TENANT, search_attributes
from migrayt.workflows.delta_sync import DeltaSyncWorkflow, ScheduledRunWorkflow

ScheduleKind = Literal["cutover", "delta"]
# How far ahead a cron's firings are looked at (Temporal answers at most 1000 of them): far enough that a
# year field cannot hide a per-second cron until next year.
GAP_HORIZON = timedelta(days=366 * 100)


class ScheduleInvalid(RunConflict):
    """The schedule asked for cannot be made (a time in the past, an interval too short…): 4xx."""


class ScheduleLimitReached(RunConflict):
    """The tenant has as many schedules as the server allows (MIGRAYT_MAX_SCHEDULES_PER_TENANT): 409."""


class ScheduleView(BaseModel):
    schedule_id: str
    kind: ScheduleKind
    migration_id: str
    paused: bool
    note: str | None = None
    at: datetime | None = Field(None, description="cutover: when the run starts")
    every_minutes: int | None = Field(None, description="delta: interval")
    cron: str | None = Field(None, description="delta: cron expression (UTC)")
    next_action_times: list[datetime] = Field(default_factory=list)
    recent_runs: list[str] = Field(default_factory=list, description="workflow ids the schedule started, newest last")
    created_by: str
    created_at: datetime | None = None


class ScheduleService:
    def __init__(self, settings: Settings, sessions: async_sessionmaker, temporal: Client) -> None:
        self.settings = settings
        self.sessions = sessions
        self.temporal = temporal

    # --- create ---------------------------------------------------------------------------------

    async def create_cutover(self, tenant: str, migration_id: str, at: datetime, actor: str, door: str) -> ScheduleView:
        at = _aware(at)
        if at <= datetime.now(UTC):
            raise ScheduleInvalid(f"the cutover time {at.isoformat()} is in the past")
        await self._migration(tenant, migration_id)
        schedule_id = f"cutover-{uuid.uuid4().hex[:12]}"
        action = ScheduleActionStartWorkflow(
            ScheduledRunWorkflow.run,
            ScheduledRunInput(migration_id=migration_id, tenant=tenant, schedule_id=schedule_id, requested_by=actor),
            id=f"{schedule_id}-start",
            task_queue=self.settings.task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(TENANT, tenant)]
            ),  # whose payloads the codec shows
        )
        # The calendar entry of that one second (UTC), and one action only.
        utc = at.astimezone(UTC)
        spec = ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    second=[ScheduleRange(utc.second)],
                    minute=[ScheduleRange(utc.minute)],
                    hour=[ScheduleRange(utc.hour)],
                    day_of_month=[ScheduleRange(utc.day)],
                    month=[ScheduleRange(utc.month)],
                    year=[ScheduleRange(utc.year)],
                )
            ],
            time_zone_name="UTC",
        )
        state = ScheduleState(limited_actions=True, remaining_actions=1, note=f"cutover of {migration_id}")
        await self._create(
            tenant, migration_id, schedule_id, "cutover", action, spec, state, {"at": at.isoformat()}, actor, door
        )
        return await self.get(tenant, schedule_id)

    async def create_delta(
        self,
        tenant: str,
        migration_id: str,
        actor: str,
        door: str,
        *,
        every: timedelta | None = None,
        cron: str | None = None,
        paused: bool = False,
    ) -> ScheduleView:
        if (every is None) == (cron is None):
            raise ScheduleInvalid("give either an interval or a cron expression")
        if every is not None and every < self.min_interval:
            raise ScheduleInvalid(self._too_often())
        if cron is not None and len(_cron_fields(cron)) == 6:
            # Temporal reads 6 fields as minute…year, most other tools as second…weekday: either way a surprise.
            raise ScheduleInvalid(
                "a 6-field cron is ambiguous: give 5 fields (minute hour day month weekday) "
                "or 7 (second minute hour day month weekday year)"
            )
        await self._migration(tenant, migration_id)
        schedule_id = f"delta-{uuid.uuid4().hex[:12]}"
        action = ScheduleActionStartWorkflow(
            DeltaSyncWorkflow.run,
            # No phase list: the action is fixed when the schedule is made; each sync takes the registry's as it starts.
            DeltaSyncInput(
                migration_id=migration_id,
                tenant=tenant,
                schedule_id=schedule_id,
                requested_by=actor,
                batch_size=self.settings.batch_size,
                concurrency=self.settings.concurrency,
            ),
            id=schedule_id,  # Temporal appends the action time: each sync has its own id (= run id)
            task_queue=self.settings.task_queue,
            typed_search_attributes=search_attributes(tenant, RunStatus.RUNNING, "preflight"),
        )
        spec = (
            ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
            if every
            else ScheduleSpec(cron_expressions=[cron or ""])
        )
        # Created paused: a cron is judged on the firings Temporal itself computes from it (its own reading of
        # 5/6/7 fields, `@every`…) before it may fire once.
        state = ScheduleState(paused=True, note=f"delta sync of {migration_id}")
        asked = {"every_minutes": int(every.total_seconds() // 60)} if every else {"cron": cron}
        await self._create(
            tenant,
            migration_id,
            schedule_id,
            "delta",
            action,
            spec,
            state,
            asked,
            actor,
            door,
            check=self._check_firing_gaps,
        )
        if not paused:
            await self.temporal.get_schedule_handle(schedule_id).unpause(note=f"delta sync of {migration_id}")
        return await self.get(tenant, schedule_id)

    @property
    def min_interval(self) -> timedelta:
        return timedelta(seconds=self.settings.schedule_min_interval_seconds)

    def _too_often(self) -> str:
        seconds = self.settings.schedule_min_interval_seconds
        every = f"{seconds // 60} minute(s)" if seconds % 60 == 0 else f"{seconds} seconds"
        return f"a delta sync runs at most every {every}: this schedule would fire more often"

    async def _check_firing_gaps(self, schedule_id: str) -> None:
        """ScheduleInvalid when two firings of the schedule, as Temporal compiled it, come closer than the minimum."""
        handle = self.temporal.get_schedule_handle(schedule_id)
        spec = (await handle.describe()).schedule.spec
        if any(interval.every < self.min_interval for interval in spec.intervals):
            raise ScheduleInvalid(self._too_often())
        for calendar in spec.calendars:
            # Two values of one field fire within the same minute (hour, day) that matches: closer than their distance.
            for ranges, unit in ((calendar.second, 1), (calendar.minute, 60), (calendar.hour, 3600)):
                values = sorted({v for r in ranges for v in range(r.start, max(r.end, r.start) + 1, r.step or 1)})
                if any((b - a) * unit < self.min_interval.total_seconds() for a, b in pairwise(values)):
                    raise ScheduleInvalid(self._too_often())
        # The firings themselves, for what the fields alone do not show (e.g. minute 59 then minute 0 of the next hour).
        now = datetime.now(UTC)
        request = ListScheduleMatchingTimesRequest(namespace=self.temporal.namespace, schedule_id=schedule_id)
        request.start_time.FromDatetime(now)
        request.end_time.FromDatetime(now + GAP_HORIZON)
        matching = await self.temporal.workflow_service.list_schedule_matching_times(request)
        times = [t.ToDatetime(tzinfo=UTC) for t in matching.start_time]
        if any(b - a < self.min_interval for a, b in pairwise(times)):
            raise ScheduleInvalid(self._too_often())

    async def _create(
        self, tenant, migration_id, schedule_id, kind, action, spec, state, asked, actor, door, check=None
    ) -> None:
        async with self.sessions() as session:
            held = await session.scalar(
                select(func.count()).select_from(ScheduleRecord).where(ScheduleRecord.tenant_id == tenant)
            )
        if held >= self.settings.max_schedules_per_tenant:
            raise ScheduleLimitReached(
                f"this tenant already has {held} schedules, the most this server allows "
                f"({self.settings.max_schedules_per_tenant}); delete one first"
            )
        schedule = Schedule(
            action=action, spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP), state=state
        )
        try:
            await self.temporal.create_schedule(
                schedule_id, schedule, search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT, tenant)])
            )
        except RPCError as err:
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise ScheduleInvalid(f"Temporal refused the schedule: {err.message}") from None
            raise
        if check is not None:
            try:
                await check(schedule_id)
            except BaseException:
                await self.temporal.get_schedule_handle(schedule_id).delete()
                raise
        async with self.sessions() as session:
            session.add(
                ScheduleRecord(
                    id=schedule_id, tenant_id=tenant, migration_id=migration_id, kind=kind, spec=asked, created_by=actor
                )
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    action="schedule_created",
                    actor=actor,
                    door=door,
                    detail={"schedule_id": schedule_id, "kind": kind, **asked},
                )
            )
            await session.commit()

    # --- read -----------------------------------------------------------------------------------

    async def list(self, tenant: str, migration_id: str | None = None) -> list[ScheduleView]:
        async with self.sessions() as session:
            query = select(ScheduleRecord).where(ScheduleRecord.tenant_id == tenant).order_by(ScheduleRecord.created_at)
            if migration_id:
                query = query.where(ScheduleRecord.migration_id == migration_id)
            records = list((await session.scalars(query)).all())
        views = []
        for record in records:
            try:
                views.append(_view(record, await self.temporal.get_schedule_handle(record.id).describe()))
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                # Deleted behind our back (`temporal schedule delete`): forget it here too.
                await self._forget(record.id)
        return views

    async def get(self, tenant: str, schedule_id: str) -> ScheduleView:
        record = await self._record(tenant, schedule_id)
        return _view(record, await self._describe(record))

    # --- change ---------------------------------------------------------------------------------

    async def pause(
        self, tenant: str, schedule_id: str, actor: str, door: str, note: str | None = None
    ) -> ScheduleView:
        record = await self._record(tenant, schedule_id)
        await self.temporal.get_schedule_handle(schedule_id).pause(note=note or f"paused by {actor} ({door})")
        await self._audit(record, "schedule_paused", actor, door)
        return await self.get(tenant, schedule_id)

    async def resume(self, tenant: str, schedule_id: str, actor: str, door: str) -> ScheduleView:
        record = await self._record(tenant, schedule_id)
        await self.temporal.get_schedule_handle(schedule_id).unpause(note=f"resumed by {actor} ({door})")
        await self._audit(record, "schedule_resumed", actor, door)
        return await self.get(tenant, schedule_id)

    async def trigger(self, tenant: str, schedule_id: str, actor: str, door: str) -> ScheduleView:
        """Run the schedule's action now (a paused schedule too), skipped if one is still running."""
        record = await self._record(tenant, schedule_id)
        await self.temporal.get_schedule_handle(schedule_id).trigger(overlap=ScheduleOverlapPolicy.SKIP)
        await self._audit(record, "schedule_triggered", actor, door)
        return await self.get(tenant, schedule_id)

    async def delete(self, tenant: str, schedule_id: str, actor: str, door: str) -> None:
        record = await self._record(tenant, schedule_id)
        try:
            await self.temporal.get_schedule_handle(schedule_id).delete()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        await self._audit(record, "schedule_deleted", actor, door)
        await self._forget(schedule_id)

    async def start_delta(
        self, tenant: str, migration_id: str, actor: str, door: str, *, history_event_limit: int | None = None
    ) -> str:
        """One delta sync now, without a schedule; returns its run id.

        `history_event_limit` (tests only, as for runs): continue as new past that many history events."""
        await self._migration(tenant, migration_id)
        run_id = f"delta-{uuid.uuid4().hex[:12]}"
        async with self.sessions() as session:
            # A delta sync keeps the plan of the runs before it: no approval asked again.
            if refusal := await start_refusal(session, migration_id, plan_approval=False):
                raise RunConflict(refusal)
            # The row exists from the start, so the run can be watched at once (the sync's first step keeps it).
            session.add(
                Run(
                    id=run_id,
                    migration_id=migration_id,
                    tenant_id=tenant,
                    status=RunStatus.RUNNING,
                    phase="preflight",
                    counters={},
                )
            )
            await session.commit()
        await self.temporal.start_workflow(
            DeltaSyncWorkflow.run,
            DeltaSyncInput(
                migration_id=migration_id,
                tenant=tenant,
                requested_by=actor,
                door=door,
                batch_size=self.settings.batch_size,
                concurrency=self.settings.concurrency,
                history_event_limit=history_event_limit,
                phases=list(delta_phases()),
            ),
            id=run_id,
            task_queue=self.settings.task_queue,
            search_attributes=search_attributes(tenant, RunStatus.RUNNING, "preflight"),
        )
        return run_id

    # --- helpers --------------------------------------------------------------------------------

    async def _migration(self, tenant: str, migration_id: str) -> None:
        async with self.sessions() as session:
            await owned(session, Migration, migration_id, tenant, "migration")

    async def _record(self, tenant: str, schedule_id: str) -> ScheduleRecord:
        async with self.sessions() as session:
            return await owned(session, ScheduleRecord, schedule_id, tenant, "schedule")

    async def _describe(self, record: ScheduleRecord) -> ScheduleDescription:
        try:
            return await self.temporal.get_schedule_handle(record.id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                await self._forget(record.id)
                raise NotFound(f"schedule {record.id} not found") from None
            raise

    async def _forget(self, schedule_id: str) -> None:
        async with self.sessions() as session:
            record = await session.get(ScheduleRecord, schedule_id)
            if record is not None:
                await session.delete(record)
                await session.commit()

    async def _audit(self, record: ScheduleRecord, action: str, actor: str, door: str) -> None:
        async with self.sessions() as session:
            session.add(
                AuditEvent(
                    tenant_id=record.tenant_id,
                    migration_id=record.migration_id,
                    action=action,
                    actor=actor,
                    door=door,
                    detail={"schedule_id": record.id, "kind": record.kind},
                )
            )
            await session.commit()


def _cron_fields(cron: str) -> list[str]:
    """The fields of a cron expression, without Temporal's `CRON_TZ=`/`TZ=` prefix and `#` comment."""
    fields = cron.split("#", 1)[0].split()
    if fields and fields[0].upper().startswith(("CRON_TZ=", "TZ=")):
        fields = fields[1:]
    return fields


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _view(record: ScheduleRecord, description: ScheduleDescription) -> ScheduleView:
    state, info = description.schedule.state, description.info
    spec = record.spec or {}
    return ScheduleView(
        schedule_id=record.id,
        kind=record.kind,
        migration_id=record.migration_id,
        paused=state.paused,
        note=state.note,
        at=datetime.fromisoformat(spec["at"]) if spec.get("at") else None,
        every_minutes=spec.get("every_minutes"),
        cron=spec.get("cron"),
        next_action_times=list(info.next_action_times)[:5],
        recent_runs=[a.action.workflow_id for a in info.recent_actions if hasattr(a.action, "workflow_id")],
        created_by=record.created_by,
        created_at=record.created_at,
    )
