"""A run that e-mails no one: the target project's notification scheme swapped for one without events, and the
project's own scheme put back exactly once when the run ends (completed, cancelled, failed, or after a crash).

Both are recorded like any write: one `notification_scheme` item record per run holds the project's own scheme,
written before the silent one is assigned, and says whether the project was muted and restored. A lost answer to
an assignment is settled by reading the project's scheme, never by sending it again blind.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts, bad_configuration
from migrayt.activities.execution.write_once import write_once
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.connections import TargetConnection
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import JiraClient, NotificationScheme
from migrayt.contracts.execution import NotificationsInput, NotificationsResult
from migrayt.contracts.record_kinds import NOTIFICATION_SCHEME
from migrayt.store import item_records
from migrayt.store.models import ItemRecord, Migration

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
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts) -> None:
        self._sessions = sessions
        self._contexts = contexts

    @activity.defn(name="mute_notifications")
    @keeps_heartbeat
    async def mute(self, input: NotificationsInput) -> NotificationsResult:
        ctx = await self._contexts.load(input.migration_id)
        key = ctx.target.project_key
        if not ctx.plan.mute_notifications:
            return NotificationsResult(note="notifications on: the mapping plan does not mute them")
        record = await self._record(ctx, input.run_id)
        if record is not None and record.detail.get("restored"):
            return NotificationsResult(restored=True, original=record.detail.get("original_name"))
        if not await ctx.jira.has_global_permission("ADMINISTER"):
            raise bad_configuration(cannot_mute(key))
        silent = await self._silent_scheme(ctx)
        if record is None:
            current = await ctx.jira.project_notification_scheme(key)
            original = current if current.id != silent.id else await self._earlier_original(ctx)
            if original is None:
                raise bad_configuration(
                    f"Jira project {key} already uses the notification scheme {SILENT_SCHEME!r} and no earlier run "
                    "recorded the project's own: assign the project its notification scheme in Jira (Project "
                    "settings › Notifications), then run again"
                )
            # The project's own scheme is on record before it is replaced: a crash after the swap still restores it.
            detail = {"original_name": original.name, "silent": silent.id, "project": key, "muted": False}
            await self._write(ctx, input.run_id, original.id, detail)
        else:
            original = NotificationScheme(id=record.target_key or "", name=record.detail.get("original_name", ""))
        await _assign(ctx.jira, key, silent.id)
        detail = {"original_name": original.name, "silent": silent.id, "project": key, "muted": True}
        await self._write(ctx, input.run_id, original.id, detail)
        return NotificationsResult(muted=True, original=original.name)

    @activity.defn(name="restore_notifications")
    @keeps_heartbeat
    async def restore(self, input: NotificationsInput) -> NotificationsResult:
        async with self._sessions() as session:
            record = (await item_records.load(session, input.migration_id, NOTIFICATION_SCHEME, [input.run_id])).get(
                input.run_id
            )
        if record is None or not record.target_key:
            return NotificationsResult()  # never muted: nothing to put back, nothing asked of Jira
        detail = dict(record.detail)
        if detail.get("restored"):
            return NotificationsResult(restored=True, original=detail.get("original_name"))
        # Only the Jira connection: a run that failed on its source or its plan still puts the project's scheme back.
        jira, target_key = await self._target(input.migration_id)
        key = detail.get("project") or target_key
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
                f"Migrayt could not put back the notification scheme {detail.get('original_name')!r} of Jira project "
                f"{key} (Jira answered {err.status}): assign it again in Jira (Project settings › Notifications)"
            ) from None
        detail.update(restored=True)
        async with self._sessions() as session:
            await item_records.mark_done(
                session,
                input.migration_id,
                NOTIFICATION_SCHEME,
                input.run_id,
                record.target_key,
                run_id=input.run_id,
                detail=detail,
            )
            await session.commit()
        return NotificationsResult(restored=True, original=detail.get("original_name"))

    async def _target(self, migration_id: str) -> tuple[JiraClient, str]:
        async with self._sessions() as session:
            migration = await session.get(Migration, migration_id)
        if migration is None:
            raise bad_configuration(f"migration {migration_id} does not exist")
        target = TargetConnection.model_validate(migration.target)
        return await self._contexts.jira_for(migration.tenant_id, target), target.project_key

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

    async def _record(self, ctx: MigrationContext, run_id: str) -> ItemRecord | None:
        async with self._sessions() as session:
            return (await item_records.load(session, ctx.migration_id, NOTIFICATION_SCHEME, [run_id])).get(run_id)

    async def _earlier_original(self, ctx: MigrationContext) -> NotificationScheme | None:
        """The project's own scheme as the latest earlier run recorded it (that run ended before restoring)."""
        async with self._sessions() as session:
            record = await session.scalar(
                select(ItemRecord)
                .where(ItemRecord.migration_id == ctx.migration_id, ItemRecord.kind == NOTIFICATION_SCHEME)
                .order_by(ItemRecord.id.desc())
                .limit(1)
            )
        if record is None or not record.target_key:
            return None
        return NotificationScheme(id=record.target_key, name=record.detail.get("original_name", ""))

    async def _write(self, ctx: MigrationContext, run_id: str, original: str, detail: dict) -> None:
        async with self._sessions() as session:
            await item_records.mark_done(
                session, ctx.migration_id, NOTIFICATION_SCHEME, run_id, original, run_id=run_id, detail=detail
            )
            await session.commit()


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
