"""Admin: tenant tokens, behind the bootstrap admin token (MIGRAYT_ADMIN_TOKEN)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from migrayt.api.auth import AdminPrincipal
from migrayt.api.routers.deps import ID_PATTERN
from migrayt.api.tokens import TENANT_PATTERN, IssuedToken, TokenView, issue_token, list_tokens, revoke_token
from migrayt.tenant_secrets import TENANT_ID_MAX

router = APIRouter(prefix="/api/admin", tags=["admin"])


class CreateTokenBody(BaseModel):
    tenant: str = Field(
        pattern=TENANT_PATTERN,
        max_length=TENANT_ID_MAX,
        description="tenant id: lower-case letters and digits joined by single hyphens (acme-prod); "
        "made with its first token",
    )
    name: str = Field("api", min_length=1, max_length=200, description="what the token is for; audit events name it")


@router.post("/tokens", status_code=201, response_model=IssuedToken, summary="Issue a tenant token (shown once)")
async def create_token(body: CreateTokenBody, admin: AdminPrincipal, request: Request) -> IssuedToken:
    return await issue_token(
        request.app.state.service.sessions, body.tenant, body.name, actor=admin.actor, door=admin.door
    )


@router.get("/tokens", response_model=list[TokenView], summary="List tokens (never the tokens themselves)")
async def get_tokens(
    admin: AdminPrincipal, request: Request, tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None
) -> list[TokenView]:
    return await list_tokens(request.app.state.service.sessions, tenant)


@router.delete("/tokens/{token_id}", response_model=TokenView, summary="Revoke a token")
async def delete_token(
    token_id: Annotated[str, Path(pattern=ID_PATTERN)], admin: AdminPrincipal, request: Request
) -> TokenView:
    view = await revoke_token(request.app.state.service.sessions, token_id, actor=admin.actor, door=admin.door)
    if view is None:
        raise HTTPException(404, f"token {token_id} not found")
    return view
