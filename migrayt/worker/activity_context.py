"""Whose work an activity is doing, set before it runs: the tenant, the run and the phase, taken from its input.

They go into every log line the activity writes (migrayt/ops/logs.py: JSON fields, a text prefix) and onto its
span and the spans of its HTTP calls (migrayt/observability/tracing.py). The tenant is the input's own `tenant`
where it has one; a batch names only its migration, whose tenant is read once from the database and kept (a
migration never changes tenant). The run is the workflow id (a run's, a scan's, a validation's…).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from migrayt.contracts.execution import BatchInput
from migrayt.observability.tracing import run_attributes
from migrayt.ops.logs import current_phase, current_run_id, current_tenant
from migrayt.store.models import Migration

log = logging.getLogger(__name__)

TenantOf = Callable[[str], Awaitable[str | None]]


def tenants_from(sessions: async_sessionmaker) -> TenantOf:
    """A migration's tenant, from the database the first time it is asked in this process."""
    known: dict[str, str] = {}

    async def tenant_of(migration_id: str) -> str | None:
        if migration_id not in known:
            async with sessions() as session:
                tenant = await session.scalar(select(Migration.tenant_id).where(Migration.id == migration_id))
            if tenant is None:
                return None
            known[migration_id] = tenant
        return known[migration_id]

    return tenant_of


async def context_of(activity_type: str, workflow_id: str, args: Any, tenant_of: TenantOf) -> dict[str, str | None]:
    """The tenant, run id and phase of an activity with this input (None where the input does not say)."""
    first = args[0] if args else None
    tenant = getattr(first, "tenant", None) or None
    migration_id = getattr(first, "migration_id", None)
    if tenant is None and isinstance(migration_id, str):
        tenant = await tenant_of(migration_id)
    phase = getattr(first, "phase", None)
    if not isinstance(phase, str) or not phase:
        # create_items' batches carry no phase: the activity is the phase.
        phase = activity_type if isinstance(first, BatchInput) else None
    return {"tenant": tenant if isinstance(tenant, str) else None, "run_id": workflow_id, "phase": phase}


class _ActivityContext(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tenant_of: TenantOf) -> None:
        super().__init__(next)
        self._tenant_of = tenant_of

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        try:
            found = await context_of(info.activity_type, info.workflow_id or "", input.args, self._tenant_of)
        except Exception:  # the context is for logs and traces: a database hiccup here must not fail the batch
            log.warning("could not tell the tenant of %s", info.activity_type, exc_info=True)
            found = {"tenant": None, "run_id": info.workflow_id, "phase": None}
        tokens = [
            (var, var.set(found[name]))
            for name, var in (("tenant", current_tenant), ("run_id", current_run_id), ("phase", current_phase))
        ]
        # The activity's own span (Temporal's TracingInterceptor, outside this one) says whose work it is too.
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(run_attributes())
        try:
            return await self.next.execute_activity(input)
        finally:
            for var, token in reversed(tokens):
                var.reset(token)


class ActivityContext(Interceptor):
    def __init__(self, tenant_of: TenantOf) -> None:
        self._tenant_of = tenant_of

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityContext(next, self._tenant_of)
