"""Scan activities: read the whole source project into a Catalog, lint it, price it, store it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution import adoption
from migrayt.activities.execution.migration_context import (
    MigrationContexts,
    bad_configuration,
)
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import JiraClient
from migrayt.connectors.outbound import OutboundRefused
from migrayt.connectors.xray import XrayClient
from migrayt.contracts.scan import ScanFinishedInput, ScanSourceInput, ScanSourceResult
from migrayt.intake.already_present import already_in_jira
from migrayt.intake.catalog import (
    Catalog,
    CatalogBuilder,
    FieldMeta,
    StateInfo,
    TargetLimits,
)
from migrayt.intake.lint import lint
from migrayt.intake.quote import quote
from migrayt.plugins import PluginScan, all_plugins
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, Scan
from migrayt.translation.provenance import FACTS

SCAN_BATCH = 200  # ADO's workitemsbatch cap
SCAN_CONCURRENCY = 16  # batches in flight; the HTTP client's limiter backs off on 429 below this


# Jira Cloud Free's file storage for the product (Atlassian's plan comparison: "2 GB").
FREE_PLAN_STORAGE_BYTES = 2 * 1024**3


def on_free_plan(license: Any) -> bool:
    """Whether the site's Jira Software (or, without it, every Jira product it lists) is on the Free plan."""
    apps = license.get("applications") if isinstance(license, dict) else None
    plans = {a.get("id"): a.get("plan") for a in apps or [] if isinstance(a, dict)}
    if "jira-software" in plans:
        return plans["jira-software"] == "FREE"
    return bool(plans) and set(plans.values()) == {"FREE"}


async def target_limits(
    jira: JiraClient, project_key: str, settings: Settings, overrides: dict[str, int]
) -> TargetLimits:
    """The target's caps: what Jira reports (upload limit, hierarchy, custom fields), else settings."""
    upload = settings.jira_attachment_limit_bytes
    try:
        meta = await jira.http.get_json("/rest/api/3/attachment/meta")
        upload = int((meta or {}).get("uploadLimit") or upload)
    except (ApiError, ValueError):
        pass  # older sites do not say; Jira Cloud's default stands
    storage = settings.jira_attachment_storage_bytes
    try:
        if on_free_plan(await jira.http.get_json("/rest/api/3/instance/license")):
            storage = FREE_PLAN_STORAGE_BYTES
    except (ApiError, ValueError):
        pass  # the plan is not known; the setting stands
    project = await jira.get_project(project_key)
    types = project.issue_types or await jira.get_issue_types(project_key)
    fields = await jira.get_fields()
    limits = TargetLimits(
        attachment_bytes=upload,
        attachment_storage_bytes=storage,
        attachments_per_issue=settings.jira_attachments_per_issue,
        comments_per_issue=settings.jira_comments_per_issue,
        hierarchy_levels=len({t.hierarchy_level for t in types}) or 3,
        custom_fields_cap=settings.jira_custom_fields_cap,
        custom_fields_existing=sum(1 for f in fields if f.custom),
        provenance_fields_missing=len({f.name for f in FACTS} - {f.name for f in fields if f.custom}),
    )
    return limits.model_copy(update=overrides)


async def scan_project(
    ado: AdoClient,
    limits: TargetLimits,
    *,
    concurrency: int = SCAN_CONCURRENCY,
    progress: Callable[[int], None] | None = None,
) -> Catalog:
    """Every work item once, in batches of 200 with `concurrency` in flight, ids from paged WIQL."""
    fields, types = await asyncio.gather(ado.get_fields(), ado.get_work_item_types(with_states=True))
    builder = CatalogBuilder(
        limits,
        [
            FieldMeta(
                reference_name=f.reference_name,
                name=f.name,
                type=f.type,
                picklist=f.is_picklist,
                identity=f.is_identity,
            )
            for f in fields
        ],
        {t.name: [StateInfo(name=s.name, category=s.category) for s in t.states] for t in types if not t.is_disabled},
    )
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task] = set()
    done = 0

    async def fetch(ids: list[int]) -> None:
        nonlocal done
        try:
            for item in await ado.get_work_items(ids, expand="relations"):
                builder.add(item)
            done += len(ids)
            if progress:
                progress(done)
        finally:
            slots.release()

    async def batches() -> AsyncIterator[list[int]]:
        chunk: list[int] = []
        async for item_id in ado.iter_work_item_ids():
            chunk.append(item_id)
            if len(chunk) == SCAN_BATCH:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def metadata() -> None:
        areas, iterations = await asyncio.gather(ado.get_areas(), ado.get_iterations())
        builder.set_trees(areas, iterations)
        builder.set_users([u async for u in ado.iter_graph_users()])
        count, present = 0, True
        per_item: Counter[int] = Counter()
        try:
            async for worklog in ado.iter_worklogs():
                count += 1
                if worklog.work_item_id is not None:
                    per_item[worklog.work_item_id] += 1
        except ApiError as err:
            if err.status not in (400, 401, 403, 404):
                raise
            present = False  # no 7pace in this organization
        builder.set_time_logs(count, present and count > 0, dict(per_item))

    meta_task = asyncio.create_task(metadata())
    try:
        async for ids in batches():
            await slots.acquire()
            task = asyncio.create_task(fetch(ids))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            # Surface a failed batch now rather than after reading every id.
            for t in [t for t in tasks if t.done() and t.exception()]:
                raise t.exception()  # type: ignore[misc]
        await asyncio.gather(*tasks)
        await meta_task
    except BaseException:
        for t in [*tasks, meta_task]:
            t.cancel()
        raise
    return builder.finish()


async def scan_plugins(
    ado: AdoClient, jira: JiraClient | None, limits: TargetLimits, xray: XrayClient | None = None
) -> dict[str, PluginScan]:
    """Each plugin's own scan (migrayt/plugins/), in registry order: detected or not, its counts, units and lint."""
    found: dict[str, PluginScan] = {}
    for name, plugin in all_plugins().items():
        activity.heartbeat(f"scanning {name}")
        found[name] = await plugin.scan(ado, jira, limits, xray)
    return found


class ScanActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts, settings: Settings) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._settings = settings

    @activity.defn(name="scan_source")
    @keeps_heartbeat
    async def scan_source(self, input: ScanSourceInput) -> ScanSourceResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        ctx = await self._contexts.load(input.migration_id)
        try:
            limits = await target_limits(ctx.jira, ctx.target.project_key, self._settings, input.limit_overrides)
            catalog = await scan_project(ctx.ado, limits, progress=lambda n: activity.heartbeat(f"{n} items read"))
            catalog.plugins = await scan_plugins(ctx.ado, ctx.jira, limits, ctx.xray)
            identity = adoption.Identity.of(ctx.source)
            present = await adoption.present_in_target(ctx.jira, ctx.target.project_key, identity)
        except OutboundRefused as err:
            raise bad_configuration(f"the scan cannot call this URL: {err}") from None
        except ApiError as err:
            # The status names the failure; the target's body is never copied into a scan's error.
            what = f"{err.method} {err.path} -> HTTP {err.status}"
            if err.status in (401, 403, 404) or 300 <= err.status < 400:
                raise bad_configuration(f"the scan was refused: {what}") from None
            raise ApplicationError(f"the scan failed: {what}", type="ApiError") from None
        report = lint(catalog)
        if (finding := already_in_jira(present)) is not None:
            report.breaches.append(finding)
        price = quote(catalog, self._settings.price_table)
        async with self._sessions() as session:
            await session.execute(
                update(Scan)
                .where(Scan.id == input.scan_id)
                .values(
                    catalog=catalog.model_dump(mode="json"),
                    lint=report.model_dump(mode="json"),
                    quote=price.model_dump(mode="json"),
                )
            )
            await session.commit()
        return ScanSourceResult(
            items_total=catalog.items_total,
            breaches=len(report.breaches),
            quote_total=price.total,
            seconds=round(loop.time() - started, 3),
        )

    @activity.defn(name="scan_finished")
    async def scan_finished(self, input: ScanFinishedInput) -> None:
        async with self._sessions() as session:
            scan = await session.get(Scan, input.scan_id)
            if scan is None or scan.finished_at is not None:
                return  # a retried bookkeeping call records once
            scan.status = input.status
            scan.error = input.error
            scan.finished_at = func.now()
            detail: dict[str, Any] = {"scan_id": input.scan_id, "status": input.status}
            if input.status == "COMPLETED":
                detail.update(
                    items=(scan.catalog or {}).get("items_total"),
                    breaches=len((scan.lint or {}).get("breaches") or []),
                    quote_total=(scan.quote or {}).get("total"),
                )
            elif input.error:
                detail["error"] = input.error
            session.add(
                AuditEvent(
                    tenant_id=input.tenant,
                    migration_id=input.migration_id,
                    action="scan_finished",
                    actor=input.actor,
                    door=input.door,
                    detail=detail,
                    event_key=f"{input.scan_id}:finished",
                )
            )
            await session.commit()
