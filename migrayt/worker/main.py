"""The worker process: registers the run workflow and the activities with their dependencies."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from migrayt.activities.execution.create_items import CreateItemsActivities
from migrayt.activities.execution.later_phases import LaterPhaseActivities
from migrayt.activities.execution.migration_context import MigrationContexts
from migrayt.activities.execution.notifications import NotificationActivities, temporal_workflow_open
from migrayt.activities.execution.preflight import PreflightActivities
from migrayt.activities.execution.run_events import RunEventActivities
from migrayt.activities.execution.savepoints import SavepointActivities
from migrayt.activities.intake.scan import ScanActivities
from migrayt.activities.mapping.draft import DraftActivities
from migrayt.activities.preview.dry_run import PreviewActivities
from migrayt.activities.undo.removal import UndoActivities
from migrayt.activities.validation.check import ValidationActivities
from migrayt.connectors.outbound import OutboundPolicy
from migrayt.connectors.pool import ConnectorPool
from migrayt.connectors.site_budget import SiteBudgets
from migrayt.contracts.phases import run_phases, side_by_side_groups
from migrayt.settings import Settings
from migrayt.store.db import create_engine, session_factory, upgrade_schema
from migrayt.temporal.client import connect_temporal
from migrayt.tenant_secrets import SecretPolicy
from migrayt.worker.activity_context import ActivityContext, tenants_from
from migrayt.worker.loop_watch import LoopWatch
from migrayt.worker.shutdown import HandBackOnShutdown
from migrayt.workflows.delta_sync import DeltaSyncWorkflow, ScheduledRunWorkflow
from migrayt.workflows.migration_run import MigrationRunWorkflow
from migrayt.workflows.preview import PreviewWorkflow
from migrayt.workflows.savepoint_check import SavepointCheckWorkflow
from migrayt.workflows.scan import ScanWorkflow
from migrayt.workflows.undo import UndoPreviewWorkflow, UndoWorkflow
from migrayt.workflows.validation import ValidationWorkflow

log = logging.getLogger("migrayt.worker")
# The exit code of a worker that left batches behind when its grace period ran out (retried elsewhere).
GRACE_EXPIRED_EXIT = 3


def _schedule_activities(sessions, contexts: MigrationContexts, settings: Settings, client: Client) -> list:
    from migrayt.activities.delta.prepare import DeltaPrepareActivities
    from migrayt.activities.delta.scheduled import ScheduledRunActivities
    from migrayt.activities.delta.source_changes import SourceChangesActivities
    from migrayt.core.runs import MigrationService

    return [
        DeltaPrepareActivities(sessions, contexts).delta_prepare,
        SourceChangesActivities(sessions, contexts).delta_source_changes,
        ScheduledRunActivities(MigrationService(settings, sessions, client)).start_scheduled_run,
    ]


def _undo_activities(sessions, contexts: MigrationContexts) -> list:
    undo = UndoActivities(sessions, contexts)
    return [undo.undo_plan, undo.undo_batch, undo.undo_sweep]


def _usage_meter(sessions) -> asyncio.Task | None:
    """With MIGRAYT_BILLING=stripe, paid runs' writes go to Stripe as meter events while they run."""
    from migrayt.billing.gate import BillingSettings
    from migrayt.billing.meter import meter_loop

    billing = BillingSettings()
    return asyncio.create_task(meter_loop(sessions, billing)) if billing.enabled else None


def _intake_activities(sessions, contexts: MigrationContexts, settings: Settings) -> list:
    scan, draft, preview = (
        ScanActivities(sessions, contexts, settings),
        DraftActivities(sessions, contexts, settings),
        PreviewActivities(sessions, contexts),
    )
    return [scan.scan_source, scan.scan_finished, draft.draft_plan, preview.preview_migration, preview.preview_finished]


def _validate_after_run(settings: Settings, sessions, client: Client):
    """MIGRAYT_VALIDATE_AFTER_RUN: what starts a validation once a run ends (None: off, the default)."""
    if not settings.validate_after_run:
        return None
    from migrayt.core.validations import ValidationService

    validations = ValidationService(settings, sessions, client)

    async def after(event) -> None:
        await validations.start_after_run(event.tenant, event.migration_id, event.run_id)

    return after


def _validation_activities(sessions, contexts: MigrationContexts) -> list:
    checks = ValidationActivities(sessions, contexts)
    return [
        checks.validation_prepare,
        checks.validate_batch,
        checks.validation_finish,
        checks.record_validation_event,
    ]


def _run_of_activity() -> str:
    """The run a Jira request is made for: its activity's workflow (the run id), the unit of fairness."""
    from temporalio import activity

    return (activity.info().workflow_id or "") if activity.in_activity() else ""


def _site_budgets(settings: Settings, engine) -> SiteBudgets | None:
    """MIGRAYT_JIRA_SITE_RPS: one budget per Jira site, in PostgreSQL unless MIGRAYT_JIRA_SITE_BUDGET_SHARED=false."""
    if settings.jira_site_rps is None:
        return None
    shared_engine = engine if settings.jira_site_budget_shared else None
    return SiteBudgets(rate=settings.jira_site_rps, engine=shared_engine, run_of=_run_of_activity)


# Beside a run's batches: its audit events, savepoints and the notification mute, and another run's batches.
_SLOTS_BESIDE_BATCHES = 4
_CONNECTIONS_BESIDE_LOCKS = 12


def activity_slots(settings: Settings) -> int:
    """Activities one worker runs at once: every batch a run may have under way. Side by side that is `concurrency`
    batches of each phase of the widest group; with fewer slots (there were 8) the phases' batches queued for each
    other, and the busiest budget's phase (comments) waited behind batches of phases with budget to spare — at 150
    items its longest thread started 15 s after its files were in."""
    widest = max((len(group) for group in side_by_side_groups(run_phases())), default=1)
    return max(8, settings.concurrency * widest + _SLOTS_BESIDE_BATCHES)


def worker_engine(settings: Settings, database_url: str) -> AsyncEngine:
    """Every batch holds a connection for its items' locks (store/item_locks.py) while it runs: a connection per
    activity slot, and some for the batches' own reads and writes. With 20 for 28 slots, side by side at 1,000
    items, batches timed out waiting for one (QueuePool limit reached) and were retried."""
    return create_engine(database_url, pool_size=activity_slots(settings), max_overflow=_CONNECTIONS_BESIDE_LOCKS)


def _shared(settings: Settings) -> bool:
    # The API's own rule (it reads it there too), so worker and API never disagree.
    from migrayt.settings import auth_mode

    return auth_mode(settings) == "on"


@asynccontextmanager
async def run_worker(
    settings: Settings, client: Client, database_url: str, *, shared: bool | None = None
) -> AsyncIterator[Worker]:
    """A running worker until the context exits; its connections are closed after.

    `shared`: whether the worker serves a shared server (auth on) and so applies its secret rules
    (migrayt/tenant_secrets.py); None means what the API would decide from the same settings."""
    engine = worker_engine(settings, database_url)
    sessions = session_factory(engine)
    if shared is None:
        shared = _shared(settings)
    connectors = ConnectorPool(
        SecretPolicy.for_settings(settings, shared=shared),
        outbound=OutboundPolicy.for_settings(settings),
        site_budgets=_site_budgets(settings, engine),
    )
    contexts = MigrationContexts(sessions, connectors)
    savepoints = SavepointActivities(sessions, contexts, settings)
    notifications = NotificationActivities(sessions, contexts, partial(temporal_workflow_open, client))
    activities = [
        savepoints.write_savepoint,
        savepoints.check_savepoint_sample,
        RunEventActivities(sessions, _validate_after_run(settings, sessions, client)).record_run_event,
        PreflightActivities(sessions, contexts, parents_at_create=settings.parents_at_create).preflight,
        notifications.mute,
        notifications.restore,
        CreateItemsActivities(
            sessions, contexts, settings.index_lag_grace_seconds, parents_at_create=settings.parents_at_create
        ).create_items,
        LaterPhaseActivities(sessions, contexts).run_phase_batch,
        *_intake_activities(sessions, contexts, settings),
        *_schedule_activities(sessions, contexts, settings, client),
        *_validation_activities(sessions, contexts),
        *_undo_activities(sessions, contexts),
    ]
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            MigrationRunWorkflow,
            ScanWorkflow,
            PreviewWorkflow,
            DeltaSyncWorkflow,
            ScheduledRunWorkflow,
            SavepointCheckWorkflow,
            ValidationWorkflow,
            UndoPreviewWorkflow,
            UndoWorkflow,
        ],
        activities=activities,
        max_concurrent_activities=activity_slots(settings),
        # Eager activity execution hands the batches a workflow task schedules back to the worker that completed
        # it: one run's batches would all stay on the worker holding its workflow, and more workers would speed up
        # only many runs, never a large one (tests/integration/test_scale_out.py). A batch runs for seconds; the
        # round trip through the task queue that eager execution saves does not matter.
        disable_eager_activity_execution=True,
        # Heartbeats carry pause/cancel to a running batch: sent at most a second apart, not 80% of
        # the heartbeat timeout, so a cut batch stops its writes within about a second.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        # On shutdown running batches are cut at once and handed back (worker/shutdown.py); this is how long
        # they have to reach an item boundary before Temporal cancels them outright.
        # ActivityContext first: the tenant, run and phase it sets are in the batch's log lines and spans and in
        # the lines HandBackOnShutdown writes when it cuts the batch.
        interceptors=[ActivityContext(tenants_from(sessions)), HandBackOnShutdown()],
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_grace_seconds),
    )
    task = asyncio.create_task(worker.run())
    meter = _usage_meter(sessions)
    watch = LoopWatch(settings.worker_loop_stall_seconds) if settings.worker_loop_stall_seconds else None
    if watch is not None:
        watch.start()
    try:
        yield worker
    finally:
        if watch is not None:
            await watch.stop()
        if meter is not None:
            meter.cancel()
        await worker.shutdown()
        await asyncio.gather(task, *([meter] if meter else []), return_exceptions=True)
        if connectors.site_budgets is not None:
            # What the shared budget cost the database: SQL statements per Jira call, per site.
            log.info("site budgets: %s", json.dumps(connectors.site_budgets.counters(), sort_keys=True))
        await connectors.aclose()
        await engine.dispose()


async def serve(settings: Settings, database_url: str, temporal_address: str | None = None) -> None:
    """Run a worker until SIGINT/SIGTERM (used by `migrayt worker` and by the stack)."""
    from migrayt.observability.metrics import install_runtime
    from migrayt.observability.tracing import flush_traces, install_tracing
    from migrayt.ops.shared_keys import check_shared_keys_at

    await upgrade_schema(database_url)
    # A worker with another codec key would fail every task it takes: it refuses to start instead.
    await check_shared_keys_at(database_url, settings, "worker")
    install_runtime(settings)  # before the client: its runtime serves /metrics (MIGRAYT_METRICS_PORT)
    install_tracing("migrayt-worker")  # before the client too: its interceptor (OTEL_EXPORTER_OTLP_*, else off)
    client = await connect_temporal(settings, temporal_address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # A worker on its own serves a stack given by URL: the shared-server rules hold unless MIGRAYT_AUTH=off.
    shared = _shared(settings.model_copy(update={"database_url": database_url}))
    running = run_worker(settings, client, database_url, shared=shared)
    await running.__aenter__()
    log.info("worker polling task queue %s", settings.task_queue)
    await stop.wait()
    grace = settings.worker_grace_seconds
    log.info("worker stopping: handing running batches back (grace %.0f s)", grace)
    stopping = asyncio.ensure_future(running.__aexit__(None, None, None))
    # Temporal's shutdown waits for every batch to return, however long a write under way takes: the grace
    # period is kept here, so a rollout never has to SIGKILL us. What is still running then is left as a
    # killed worker leaves it: Temporal retries it once its heartbeat stops, and the item ledger makes that safe.
    done, _ = await asyncio.wait({stopping}, timeout=grace + 1)
    if not done:
        log.warning("worker stopping: grace period of %.0f s over; leaving what still runs to another worker", grace)
        # Out now, as a SIGKILL would: asyncio.run would otherwise wait for the very writes we gave up on.
        for handler in logging.getLogger().handlers:
            handler.flush()
        flush_traces()
        os._exit(GRACE_EXPIRED_EXIT)
    flush_traces()
    log.info("worker stopped")
