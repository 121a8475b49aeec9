"""A worker told to stop (SIGTERM: a rollout, a scale-in) hands its running batches back instead of finishing them.

Temporal's worker shutdown stops polling and, for `graceful_shutdown_timeout`, lets running activities go on to
their end (a batch of 50 writes, a long attachment) before it cancels them. Here every running activity is cut as
soon as the shutdown starts, the way a pause cuts a batch: it stops at its next item boundary (a write under way
finishes and is recorded first) and its attempt ends as a retryable `WorkerShutdown` failure, logged, so Temporal
gives the batch, its done items recorded, to another worker. The grace period (MIGRAYT_WORKER_GRACE_SECONDS) bounds
the whole stop: serve() leaves at its end whatever still runs (migrayt/worker/main.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from migrayt.observability.metrics import record_items

log = logging.getLogger("migrayt.worker")

SHUTDOWN_ERROR_TYPE = "WorkerShutdown"


class _HandBackOnShutdown(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if not asyncio.iscoroutinefunction(input.fn):
            return await self.next.execute_activity(input)
        work = asyncio.ensure_future(self.next.execute_activity(input))
        shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        try:
            await asyncio.wait({work, shutdown}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Cancelled from outside (a pause, a cancel, Temporal's own end of the grace period): the batch sees it.
            work.cancel()
            return await work  # its own answer to the cut: CancelledError, or a result it still returns
        finally:
            shutdown.cancel()
        info = activity.info()
        if work.done():
            result = work.result()
            if input.args:
                record_items(getattr(input.args[0], "phase", None) or info.activity_type, result)
            return result
        log.info("worker stopping: cutting %s of run %s", info.activity_type, info.workflow_id)
        work.cancel()
        try:
            result = await work
        except asyncio.CancelledError:
            log.info("worker stopping: %s of run %s handed back", info.activity_type, info.workflow_id)
            raise ApplicationError(
                "the worker stopped; the batch goes on elsewhere", type=SHUTDOWN_ERROR_TYPE
            ) from None
        return result  # it finished before it saw the cut


class HandBackOnShutdown(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _HandBackOnShutdown(next)
