"""Audit events: who did what to whose Jira, through which door. Never ticket content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from migrayt.api.auth import TenantId
from migrayt.api.routers.deps import ID_PATTERN, Service
from migrayt.api.routers.schemas import AuditEventView

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditEventView], summary="The tenant's audit trail, oldest first")
async def audit_events(
    svc: Service,
    tenant: TenantId,
    migration_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    run_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    after_id: Annotated[int, Query(ge=0, le=2**62, description="only events after this id (for paging)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventView]:
    rows = await svc.audit_events(tenant, migration_id=migration_id, run_id=run_id, after_id=after_id, limit=limit)
    return [
        AuditEventView(
            id=r.id,
            created_at=r.created_at,
            migration_id=r.migration_id,
            run_id=r.run_id,
            action=r.action,
            actor=r.actor,
            door=r.door,
            detail=r.detail or {},
        )
        for r in rows
    ]
