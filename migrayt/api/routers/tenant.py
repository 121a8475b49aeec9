"""The calling tenant: who the token says it is, and its consent to AI drafting."""

from __future__ import annotations

from fastapi import APIRouter, Request

from migrayt.api.auth import CurrentPrincipal
from migrayt.api.routers.deps import Intake
from migrayt.api.routers.schemas import ConsentBody, WhoAmI

router = APIRouter(prefix="/api", tags=["tenant"])


@router.get("/whoami", response_model=WhoAmI, summary="The tenant and actor of this token")
async def whoami(who: CurrentPrincipal, request: Request) -> WhoAmI:
    return WhoAmI(tenant=who.tenant, actor=who.actor, auth_mode=request.app.state.auth_mode, admin=who.admin)


@router.put(
    "/consent/ai-drafting",
    response_model=ConsentBody,
    summary="Consent (or not) to AI drafting from schema metadata only",
)
async def set_ai_consent(body: ConsentBody, intake: Intake, who: CurrentPrincipal) -> ConsentBody:
    actor = who.acting_as(body.actor)
    await intake.set_ai_consent(who.tenant, body.ai_drafting, actor=actor, door=who.door)
    return ConsentBody(ai_drafting=body.ai_drafting, actor=actor)
