"""Saved ADO and Jira connections: tested by a real call before they are kept; secrets never shown back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import AfterValidator, Field, SecretStr

from migrayt.api.auth import CurrentPrincipal, TenantId
from migrayt.api.routers.deps import ConnectionId, Intake
from migrayt.api.routers.schemas import HttpUrl
from migrayt.connections_store import (
    AdoConnectionInput,
    ConnectionView,
    JiraCloudConnectionInput,
    JiraDataCenterConnectionInput,
)

router = APIRouter(prefix="/api/connections", tags=["connections"])

Name = Annotated[str, Field(min_length=1, max_length=200)]
Url = HttpUrl


def _token_characters(value: SecretStr) -> SecretStr:
    # PATs and API tokens are printable ASCII; anything else could not travel in an HTTP header.
    secret = value.get_secret_value()
    if not (secret.isascii() and secret.isprintable()):
        raise ValueError("a PAT or API token is printable ASCII")
    return value


Secret = Annotated[SecretStr, Field(min_length=1, max_length=2000), AfterValidator(_token_characters)]


class AdoConnectionBody(AdoConnectionInput):
    name: Name
    organization_url: Url
    project: Name
    pat: Secret


class JiraCloudConnectionBody(JiraCloudConnectionInput):
    name: Name
    site_url: Url
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    api_token: Secret


class JiraDataCenterConnectionBody(JiraDataCenterConnectionInput):
    name: Name
    base_url: Url
    pat: Secret


ConnectionBody = Annotated[
    AdoConnectionBody | JiraCloudConnectionBody | JiraDataCenterConnectionBody, Field(discriminator="kind")
]


@router.post(
    "",
    status_code=201,
    response_model=ConnectionView,
    summary="Save a connection (tested first)",
    responses={400: {"description": "the test call failed: the message says what is wrong"}},
)
async def save_connection(body: ConnectionBody, intake: Intake, who: CurrentPrincipal) -> ConnectionView:
    return await intake.save_connection(who.tenant, body, actor=who.actor, door=who.door)


@router.get("", response_model=list[ConnectionView], summary="List the tenant's connections")
async def list_connections(intake: Intake, tenant: TenantId) -> list[ConnectionView]:
    return await intake.list_connections(tenant)


@router.get("/{connection_id}", response_model=ConnectionView, summary="One connection (never its secret)")
async def get_connection(connection_id: ConnectionId, intake: Intake, tenant: TenantId) -> ConnectionView:
    for view in await intake.list_connections(tenant):
        if view.id == connection_id:
            return view
    raise HTTPException(404, f"connection {connection_id} not found")
