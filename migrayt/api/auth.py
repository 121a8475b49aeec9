"""Who is calling: a tenant's bearer token, or — only where the mode says so — the embedded default.

Modes (`MIGRAYT_AUTH`):
- `on`: every /api request needs `Authorization: Bearer <token>`; the token decides the tenant.
- `off`: a request WITHOUT a token acts as the default tenant (`MIGRAYT_TENANT`, "default") and as
  admin; a request WITH a token is still checked and acts as that token's tenant. For a single user
  on their own machine.
- `embedded` (the default): `off` when the stack is the embedded one (no `MIGRAYT_DATABASE_URL`)
  and the API listens on a loopback address only; `on` otherwise. So `migrayt up` needs no token,
  and a deployment with a real database never runs open by accident.

`off` is refused at start unless the API is bound to a loopback address: an open API on a network
interface is anyone's admin. What else keeps an open API to its own machine (Host, Origin, proxy
headers) is in migrayt/api/doors.py.

Admin routes (issuing tenant tokens) take the bootstrap admin token `MIGRAYT_ADMIN_TOKEN`; in mode
`off` a request without any token may use them too.

Other doors use `CurrentPrincipal` / `TenantId` as FastAPI dependencies, or `principal_for_token`.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from migrayt.api.tokens import tenant_of
from migrayt.settings import AuthMode, auth_mode, loopback  # noqa: F401 (re-exported for the doors)

LOCAL_ACTOR = "local-user"
DOOR_HEADER = "X-Migrayt-Door"
# What a caller may say it is: the `migrayt` CLI says "cli"; any other value is recorded as plain "api".
CLAIMABLE_DOORS = ("cli", "api")

bearer = HTTPBearer(auto_error=False, description="A tenant API token (`migrayt token create --tenant X`).")


class Principal(BaseModel):
    tenant: str
    actor: str  # what audit events record: the token's name, or the local user
    token_id: str | None = None
    admin: bool = False
    door: str = "api"  # what audit events record as the door: api, or cli when the CLI says so

    def acting_as(self, claimed: str | None) -> str:
        """The audit actor: a name the caller gives is kept, but never hides which token acted."""
        if not claimed or claimed == self.actor:
            return self.actor
        return f"{claimed} (via {self.actor})"[:200]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def principal_for_token(request: Request, token: str | None) -> Principal:
    """The principal of a request carrying `token` (None: no token); raises 401 when not allowed."""
    state = request.app.state
    if token:
        found = await tenant_of(state.service.sessions, token)
        if found is None:
            raise _unauthorized("the API token is unknown or revoked")
        tenant, token_id, name = found
        return Principal(tenant=tenant, actor=name, token_id=token_id)
    if state.auth_mode == "off":
        return Principal(tenant=state.settings.tenant, actor=LOCAL_ACTOR, admin=True)
    raise _unauthorized("an API token is required: send 'Authorization: Bearer <token>'")


def door_of(request: Request) -> str:
    """The door the caller names (only `cli` or `api`, so a header never forges `web` or `schedule`)."""
    claimed = request.headers.get(DOOR_HEADER, "").strip().lower()
    return claimed if claimed in CLAIMABLE_DOORS else "api"


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    who = await principal_for_token(request, credentials.credentials if credentials else None)
    return who.model_copy(update={"door": door_of(request)})


async def admin_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    state = request.app.state
    admin_token = state.settings.admin_token
    given = credentials.credentials if credentials else None
    if (
        given
        and admin_token is not None
        and secrets.compare_digest(given.encode(), admin_token.get_secret_value().encode())
    ):
        return Principal(tenant=state.settings.tenant, actor="admin", admin=True, door=door_of(request))
    if given is None and state.auth_mode == "off":
        return Principal(tenant=state.settings.tenant, actor=LOCAL_ACTOR, admin=True, door=door_of(request))
    if admin_token is None:
        raise HTTPException(
            status_code=403, detail="admin routes are closed: no MIGRAYT_ADMIN_TOKEN is configured on this server"
        )
    raise HTTPException(status_code=403, detail="this route needs the admin token (MIGRAYT_ADMIN_TOKEN)")


async def current_tenant(principal: Annotated[Principal, Depends(current_principal)]) -> str:
    return principal.tenant


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
TenantId = Annotated[str, Depends(current_tenant)]
