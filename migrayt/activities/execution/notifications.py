"""A run that e-mails no one: the target project's notification scheme swapped for one without events, and the
project's own scheme put back exactly once when the run ends (completed, cancelled, failed, or after a crash).

Both are recorded like any write: one `notification_scheme` item record per run holds the project's own scheme,
written before the silent one is assigned, and says whether the project was muted, released and restored. A lost
answer to an assignment is settled by reading the project's scheme, never by sending it again blind.

Runs of one tenant writing into one project at once (two migrations, a migration and a delta sync) share the mute
(migrayt/store/mute_holds.py): a run that finds the project muted already takes the project's own scheme from the
record of the run holding the mute, and only the last run to end puts it back; each says which in its audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts, bad_configuration
from migrayt.activities.execution.write_once import write_once
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.connections import TargetConnection
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import JiraClient, NotificationScheme
from migrayt.contracts.execution import NotificationsInput, NotificationsResult
from migrayt.contracts.record_kinds import NOTIFICATION_SCHEME
from migrayt.store import item_records, mute_holds
from migrayt.store.db import engine_of
from migrayt.store.models import AuditEvent, ItemRecord, Migration

SILENT_SCHEME = "Migrayt — silent"
SILENT_DESCRIPTION = (
    "No events: a project using it e-mails no one. Migrayt assigns it while a migration runs and puts the "
    "project's own scheme back when the run ends."
)


def cannot_mute(project_key: str) -> str:
    return (
        f"Migrayt cannot mute Jira's notifications for project {project_key}: the Jira user it signs in as is no Jira "
        "administrator (global permission 'Administer Jira'), which Jira requires to create a notification scheme "
        "and assign it to a project. Give that user the permission, or switch off 'Mute notifications during the "
        "run' in the mapping plan to migrate with Jira's notifications on (every issue created, edited, moved or "
        "commented then e-mails its reporter, assignee and watchers)"
    )


class NotificationActivities:
    def __init__(
        self,
        sessions: async_sessionmaker,
        contexts: MigrationContexts,
        workflow_open: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._contexts = contexts
        # Whether a run's workflow is still open in Temporal (the worker passes `temporal_workflow_open`); without
        # it a hold counts while its run row is not final.
        self._workflow_open = workflow_open

    @activity.defn(name="mute_notifications")
    @keeps_heartbeat
    async def mute(self, input: NotificationsInput) -> NotificationsResult:
        ctx = await self._contexts.load(input.migration_id)
        key = ctx.target.project_key
        if not ctx.plan.mute_notifications:
            return NotificationsResult(note="notifications on: the mapping plan does not mute them")
        record = await self._record(input.migration_id, input.run_id)
        if record is not None and mute_holds.released(record.detail):
            return NotificationsResult(restored=bool(record.detail.get("restored")), original=_own_name(record))
        if not await ctx.jira.has_global_permission("ADMINISTER"):
            raise bad_configuration(cannot_mute(key))
        site = mute_holds.site_of(str(ctx.target.base_url))
        # Under the project's lock: a run ending at this moment sees this hold, or has put the scheme back already.
        async with mute_holds.project_locked(engine_of(self._sessions), ctx.tenant_id, site, key):
            silent = await self._silent_scheme(ctx)
            detail = {"silent": silent.id, "project": key, "site": site, "muted": False}
            if record is None:
                current = await ctx.jira.project_notification_scheme(key)
                if current.id != silent.id:
                    original = current
                else:
                    holder = await self._holder(ctx.tenant_id, site, key, input.run_id)
                    if holder is None:
                        raise bad_configuration(
                            f"Jira project {key} already uses the notification scheme {SILENT_SCHEME!r} and no "
                            "earlier run recorded the project's own: assign the project its notification scheme in "
                            "Jira (Project settings › Notifications), then run again"
                        )
                    original = NotificationScheme(id=holder.original_id, name=holder.original_name)
                    detail["shared_with"] = holder.run_id
                # The project's own scheme is on record before it is replaced: a crash after the swap restores it.
                await self._write(input, original.id, {"original_name": original.name, **detail})
            else:
                original = NotificationScheme(id=record.target_key or "", name=_own_name(record))
                detail = {**record.detail, **detail}
            await _assign(ctx.jira, key, silent.id)
            detail.update(original_name=original.name, muted=True)
            shared = detail.get("shared_with")
            said: dict[str, str] = {
                "scheme": original.name,
                "message": f"the project's scheme {original.name!r} on record",
            }
            if shared:
                said.update(shared_with=str(shared), message=f"{said['message']}; muted together with run {shared}")
            await self._write(input, original.id, detail, audit=("notifications_muted", said))
        return NotificationsResult(muted=True, original=original.name)

    @activity.defn(name="restore_notifications")
    @keeps_heartbeat
    async def restore(self, input: NotificationsInput) -> NotificationsResult:
        record = await self._record(input.migration_id, input.run_id)
        if record is None or not record.target_key:
            return NotificationsResult()  # never muted: nothing to put back, nothing asked of Jira
        detail = dict(record.detail)
        if detail.get("restored"):
            return NotificationsResult(restored=True, original=detail.get("original_name"))
        if detail.get("left_muted_for"):
            return _left_muted(detail)
        # Only the Jira connection: a run that failed on its source or its plan still puts the project's scheme back.
        jira, tenant, target = await self._target(input.migration_id)
        key = detail.get("project") or target.project_key
        site = detail.get("site") or mute_holds.site_of(str(target.base_url))
        async with mute_holds.project_locked(engine_of(self._sessions), tenant, site, key):
            if not detail.get("released"):
                # Released before Jira is asked: a crash from here on is retried and decides again from the record.
                detail.update(released=True)
                await self._write(input, record.target_key, detail)
            others = await self._still_holding(tenant, site, key, input.run_id)
            if others:
                holder = others[-1].run_id
                detail.update(left_muted_for=holder)
                said = {"for_run": holder, "message": f"left the project muted for run {holder}, still writing into it"}
                await self._write(input, record.target_key, detail, audit=("notifications_left_muted", said))
                return _left_muted(detail)
            try:
                current = await jira.project_notification_scheme(key)
                # Put back only over the silent scheme: one a Jira administrator chose during the run stays.
                if current.id == detail.get("silent"):
                    await _assign(jira, key, record.target_key)
                else:
                    detail["left"] = current.name
            except ApiError as err:
                if err.status not in (401, 403, 404):
                    raise
                raise bad_configuration(
                    f"Migrayt could not put back the notification scheme {detail.get('original_name')!r} of Jira "
                    f"project {key} (Jira answered {err.status}): assign it again in Jira (Project settings › "
                    "Notifications)"
                ) from None
            detail.update(restored=True)
            scheme = str(detail.get("left") or detail.get("original_name"))
            said = {"scheme": scheme, "message": f"the project's scheme {scheme!r} is back"}
            await self._write(input, record.target_key, detail, audit=("notifications_restored", said))
        return NotificationsResult(restored=True, original=detail.get("original_name"))

    async def _target(self, migration_id: str) -> tuple[JiraClient, str, TargetConnection]:
        async with self._sessions() as session:
            migration = await session.get(Migration, migration_id)
        if migration is None:
            raise bad_configuration(f"migration {migration_id} does not exist")
        target = TargetConnection.model_validate(migration.target)
        return await self._contexts.jira_for(migration.tenant_id, target), migration.tenant_id, target

    # --- the shared mute -------------------------------------------------------------------------

    async def _still_holding(self, tenant: str, site: str, key: str, me: str) -> list[mute_holds.Hold]:
        async with self._sessions() as session:
            found = await mute_holds.holds(session, tenant, site, key)
        candidates = [h for h in found if h.run_id != me and not h.released and not h.run_ended]
        if self._workflow_open is None:
            open_runs = {h.run_id for h in candidates}
        else:
            open_runs = {h.run_id for h in candidates if await self._workflow_open(h.run_id)}
        return mute_holds.still_holding(found, me, open_runs)

    async def _holder(self, tenant: str, site: str, key: str, me: str) -> mute_holds.Hold | None:
        """Whose record names the project's own scheme, the project being on the silent one already: a run still
        holding the mute, else the latest run that held it (one that ended without putting the scheme back)."""
        holding = await self._still_holding(tenant, site, key, me)
        if holding:
            return holding[-1]
        async with self._sessions() as session:
            found = [h for h in await mute_holds.holds(session, tenant, site, key) if h.run_id != me]
        return found[-1] if found else None

    # --- helpers ---------------------------------------------------------------------------------

    async def _silent_scheme(self, ctx: MigrationContext) -> NotificationScheme:
        found = await _scheme_named(ctx, SILENT_SCHEME)
        if found is not None:
            return found
        scheme_id = await write_once(
            partial(ctx.jira.create_notification_scheme, SILENT_SCHEME, SILENT_DESCRIPTION),
            partial(_scheme_id_named, ctx, SILENT_SCHEME),
        )
        return NotificationScheme(id=scheme_id, name=SILENT_SCHEME)

    async def _record(self, migration_id: str, run_id: str) -> ItemRecord | None:
        async with self._sessions() as session:
            return (await item_records.load(session, migration_id, NOTIFICATION_SCHEME, [run_id])).get(run_id)

    async def _write(
        self, input: NotificationsInput, original: str, detail: dict, audit: tuple[str, dict] | None = None
    ) -> None:
        """The run's record, and with it (once: keyed by run and action) what the run's audit trail says."""
        async with self._sessions() as session:
            await item_records.mark_done(
                session,
                input.migration_id,
                NOTIFICATION_SCHEME,
                input.run_id,
                original,
                run_id=input.run_id,
                detail=detail,
            )
            if audit is not None:
                migration = await session.get(Migration, input.migration_id)
                action, said = audit
                await session.execute(
                    insert(AuditEvent)
                    .values(
                        event_key=f"{input.run_id}:{action}",
                        tenant_id=migration.tenant_id if migration else "",
                        migration_id=input.migration_id,
                        run_id=input.run_id,
                        action=action,
                        actor="system",
                        door="system",
                        detail=said,
                    )
                    .on_conflict_do_nothing(index_elements=[AuditEvent.event_key])
                )
            await session.commit()


def _own_name(record: ItemRecord) -> str:
    return record.detail.get("original_name", "")


def _left_muted(detail: dict) -> NotificationsResult:
    return NotificationsResult(
        muted=True,
        original=detail.get("original_name"),
        note=f"the project stays muted for run {detail['left_muted_for']}, which puts its scheme back when it ends",
    )


async def temporal_workflow_open(client: Client, workflow_id: str) -> bool:
    """Whether the workflow (a run: workflow id = run id) is still open in Temporal, its latest execution included."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status == WorkflowExecutionStatus.RUNNING


async def _scheme_named(ctx: MigrationContext, name: str) -> NotificationScheme | None:
    return next((s for s in await ctx.jira.notification_schemes() if s.name.lower() == name.lower()), None)


async def _scheme_id_named(ctx: MigrationContext, name: str) -> str | None:
    found = await _scheme_named(ctx, name)
    return found.id if found is not None else None


async def _assign(jira: JiraClient, key: str, scheme_id: str) -> None:
    """Assign `scheme_id` to project `key`, once: an earlier attempt's or a lost answer's assignment is read back."""

    async def assigned() -> bool | None:
        return True if (await jira.project_notification_scheme(key)).id == scheme_id else None

    async def assign() -> bool:
        await jira.set_project_notification_scheme(key, scheme_id)
        return True

    if not await assigned():
        await write_once(assign, assigned)
