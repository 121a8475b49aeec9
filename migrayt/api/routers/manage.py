"""Manage what you made: rename and delete a migration, delete a saved connection or rotate its secret, and accept
known failures with a reason (the run counts them "accepted"; once none is left failed it is closed as
COMPLETED_WITH_ACCEPTED_EXCEPTIONS). Thin: the rules are in migrayt/core (migrations, acceptances) and
migrayt/connections_store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from migrayt.api.auth import CurrentPrincipal
from migrayt.api.routers.connections import Secret
from migrayt.api.routers.deps import ConnectionId, Intake, MigrationId, Service
from migrayt.api.routers.migrations import migration_view
from migrayt.api.routers.schemas import ACTOR, MigrationView
from migrayt.connections_store import ConnectionRejected, ConnectionView
from migrayt.core.acceptances import AcceptedFailure, AcceptOutcome, RecordRef

router = APIRouter(tags=["manage"])

IN_USE: dict[int | str, dict[str, Any]] = {
    409: {"description": "refused while in use; the message names what uses it, and nothing was changed"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such object for this tenant"}}


class RenameBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    actor: str | None = ACTOR


class RotateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: Secret = Field(description="the new PAT or API token; tested against the service before it replaces")
    actor: str | None = ACTOR


class RotatedView(BaseModel):
    connection: ConnectionView
    migrations_updated: list[str] = Field(description="the migrations made from this connection, now on the new one")


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000, description="why these failures are acceptable (audited)")
    records: list[RecordRef] | None = Field(
        None, min_length=1, max_length=1000, description="failed records by kind and source key (as listed)"
    )
    failure_reason: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description='every failure of this reason, as the failure list groups them (e.g. "File too large for Jira")',
    )
    phase: str | None = Field(None, pattern=r"^[a-z_]{1,40}$", description="with failure_reason: only this phase")
    actor: str | None = ACTOR

    @model_validator(mode="after")
    def one_selection(self) -> AcceptBody:
        if (self.records is None) == (self.failure_reason is None):
            raise ValueError("name the failures to accept: either `records` or `failure_reason`")
        return self


@router.patch(
    "/api/migrations/{migration_id}",
    response_model=MigrationView,
    responses=NOT_FOUND,
    summary="Rename a migration",
)
async def rename_migration(
    migration_id: MigrationId, body: RenameBody, svc: Service, intake: Intake, who: CurrentPrincipal
) -> MigrationView:
    migration = await svc.rename_migration(
        who.tenant, migration_id, body.name, actor=who.acting_as(body.actor), door=who.door
    )
    return await migration_view(svc, intake, who.tenant, migration)


@router.delete(
    "/api/migrations/{migration_id}",
    status_code=204,
    responses={**IN_USE, **NOT_FOUND},
    summary="Delete a migration (refused while a run, validation, scan or preview of it is active)",
    description="Its plan versions, scans, previews, runs, item records, validations and schedules go with it; its "
    "audit trail stays. What it wrote to Jira stays in Jira: undo it first to take that out.",
)
async def delete_migration(migration_id: MigrationId, svc: Service, who: CurrentPrincipal) -> Response:
    await svc.delete_migration(who.tenant, migration_id, actor=who.actor, door=who.door)
    return Response(status_code=204)


@router.delete(
    "/api/connections/{connection_id}",
    status_code=204,
    responses={**IN_USE, **NOT_FOUND},
    summary="Delete a saved connection (refused, naming them, while migrations use it)",
)
async def delete_connection(connection_id: ConnectionId, intake: Intake, who: CurrentPrincipal) -> Response:
    await intake.delete_connection(who.tenant, connection_id, actor=who.actor, door=who.door)
    return Response(status_code=204)


@router.put(
    "/api/connections/{connection_id}/secret",
    response_model=RotatedView,
    responses={400: {"description": "the new secret failed its test call; the old one stays"}, **NOT_FOUND},
    summary="Rotate a saved connection's secret: tested first, then it replaces the old one",
)
async def rotate_connection_secret(
    connection_id: ConnectionId, body: RotateBody, intake: Intake, who: CurrentPrincipal
) -> RotatedView:
    try:
        view, migrations = await intake.rotate_connection_secret(
            who.tenant, connection_id, body.secret, actor=who.acting_as(body.actor), door=who.door
        )
    except ConnectionRejected as err:
        raise HTTPException(400, f"secret not replaced (the old one stays): {err}") from None
    return RotatedView(connection=view, migrations_updated=list(migrations))


@router.post(
    "/api/migrations/{id}/accept-failures",
    response_model=AcceptOutcome,
    responses={404: {"description": "no such migration or run, or a named record is not a failure"}},
    summary="Accept known failures with a reason: named records, or every failure of one reason",
    description="`id`: a migration or one of its runs. The run the migration stands at counts the accepted items as "
    "`accepted`, not `failed`; when none is left failed it is closed as COMPLETED_WITH_ACCEPTED_EXCEPTIONS. A re-run "
    "still retries accepted items; one that fails again stays accepted.",
)
async def accept_failures(id: MigrationId, body: AcceptBody, svc: Service, who: CurrentPrincipal) -> AcceptOutcome:
    return await svc.accept_failures(
        who.tenant,
        id,
        reason=body.reason,
        actor=who.acting_as(body.actor),
        door=who.door,
        records=body.records,
        failure_reason=body.failure_reason,
        phase=body.phase,
    )


@router.get(
    "/api/migrations/{id}/accepted",
    response_model=list[AcceptedFailure],
    responses=NOT_FOUND,
    summary="The accepted failures of a migration (or a run's migration): each with who, when and why",
)
async def accepted_failures(id: MigrationId, svc: Service, who: CurrentPrincipal) -> list[AcceptedFailure]:
    return await svc.accepted_failures(who.tenant, id)
