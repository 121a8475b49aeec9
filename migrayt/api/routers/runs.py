"""Run control as customers script it: /api/migrations/{runId}[/pause|/resume|/cancel|/rerun]."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel

from migrayt.api.service import MigrationService
from migrayt.workflows.run_models import RunProgress

router = APIRouter(prefix="/api/migrations", tags=["runs"])


def service(request: Request) -> MigrationService:
    return request.app.state.service


def tenant(request: Request, x_migrayt_tenant: Annotated[str | None, Header()] = None) -> str:
    # Embedded default: one tenant, no token. Bearer tokens per tenant come with the API issue.
    return x_migrayt_tenant or request.app.state.service.settings.tenant


Service = Annotated[MigrationService, Depends(service)]
Tenant = Annotated[str, Depends(tenant)]


class ControlBody(BaseModel):
    actor: str = "api-user"
    reason: str | None = None


class RunAccepted(BaseModel):
    run_id: str
    action: str


@router.get("/{run_id}", response_model=RunProgress)
async def run_status(run_id: str, svc: Service, tenant_id: Tenant) -> RunProgress:
    return await svc.progress(tenant_id, run_id)


@router.post("/{run_id}/{action}", response_model=RunAccepted, status_code=202)
async def control_run(
    run_id: str, action: Literal["pause", "resume", "cancel", "rerun"], svc: Service, tenant_id: Tenant, body: ControlBody | None = None
) -> RunAccepted:
    body = body or ControlBody()
    if action == "rerun":
        new_run = await svc.rerun(tenant_id, run_id, actor=body.actor, door="api")
        return RunAccepted(run_id=new_run, action=action)
    await svc.control(tenant_id, run_id, action, actor=body.actor, door="api", reason=body.reason)
    return RunAccepted(run_id=run_id, action=action)
