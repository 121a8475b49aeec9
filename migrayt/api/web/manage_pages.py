"""The web app's buttons to manage what you made: rename and delete a migration (home page), rotate a saved
connection's secret and delete it (connect page), accept known failures with a reason (failures page). Each goes
through the same core services as the API and the CLI, audited with door `web`."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import Response
from pydantic import SecretStr, ValidationError

from migrayt.api.routers.manage import AcceptBody, RenameBody, RotateBody
from migrayt.api.web.routes import (
    CSRF_FIELD,
    _connect_page,
    _intake,
    _invalid,
    _see,
    _service,
    _who,
    failures_page,
    home_page,
    router,
)
from migrayt.connections_store import ConnectionRejected, SecretKeyMissing
from migrayt.core.acceptances import RecordRef
from migrayt.core.errors import InUse, NotFound


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v).strip() for k, v in (await request.form()).items() if k != CSRF_FIELD}


@router.post("/app/migrations/{migration_id}/rename")
async def rename_migration(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    form = await _form(request)
    try:
        body = RenameBody(name=form.get("name", ""))
        await _service(request).rename_migration(who.tenant, migration_id, body.name, who.actor, "web")
    except ValidationError as err:
        return await home_page(request, who, status_code=400, error=_invalid(err))
    except NotFound:
        raise HTTPException(404, f"migration {migration_id} not found") from None
    return _see("/app?done=renamed")


@router.post("/app/migrations/{migration_id}/delete")
async def delete_migration(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    form = await _form(request)
    if form.get("confirm") != "on":
        return await home_page(
            request, who, status_code=400, error="tick “delete everything kept of it” to delete the migration"
        )
    try:
        await _service(request).delete_migration(who.tenant, migration_id, who.actor, "web")
    except NotFound:
        raise HTTPException(404, f"migration {migration_id} not found") from None
    except InUse as err:
        return await home_page(request, who, status_code=409, error=str(err))
    return _see("/app?done=deleted")


@router.post("/app/connections/{connection_id}/rotate")
async def rotate_connection(request: Request, connection_id: str) -> Response:
    who = await _who(request)
    form = await _form(request)
    try:
        body = RotateBody(secret=SecretStr(form.get("secret", "")))
        await _intake(request).rotate_connection_secret(who.tenant, connection_id, body.secret, who.actor, "web")
    except ValidationError as err:
        return await _connect_page(request, who, status_code=400, errors={"manage": _invalid(err)})
    except (ConnectionRejected, SecretKeyMissing) as err:
        # Never echo the secret typed; the old one stays.
        message = f"secret not replaced (the old one stays): {err}"
        return await _connect_page(request, who, status_code=400, errors={"manage": message})
    except NotFound:
        raise HTTPException(404, f"connection {connection_id} not found") from None
    return _see("/app/connect?done=rotated")


@router.post("/app/connections/{connection_id}/delete")
async def delete_connection(request: Request, connection_id: str) -> Response:
    who = await _who(request)
    try:
        await _intake(request).delete_connection(who.tenant, connection_id, who.actor, "web")
    except InUse as err:
        return await _connect_page(request, who, status_code=409, errors={"manage": str(err)})
    except NotFound:
        raise HTTPException(404, f"connection {connection_id} not found") from None
    return _see("/app/connect?done=deleted")


@router.post("/app/runs/{run_id}/failures/accept")
async def accept_failures(request: Request, run_id: str) -> Response:
    who = await _who(request)
    form = await _form(request)
    try:
        records = [RecordRef(kind=form["kind"], source_key=form["source_key"])] if form.get("kind") else None
        body = AcceptBody(
            reason=form.get("reason", ""),
            records=records,
            failure_reason=None if records else (form.get("failure_reason") or None),
            phase=form.get("phase") or None,
        )
    except ValidationError as err:
        return await failures_page(request, run_id, error=_invalid(err), status_code=400)
    try:
        outcome = await _service(request).accept_failures(
            who.tenant,
            run_id,
            reason=body.reason,
            actor=who.actor,
            door="web",
            records=body.records,
            failure_reason=body.failure_reason,
            phase=body.phase,
        )
    except NotFound as err:
        return await failures_page(request, run_id, error=str(err), status_code=404)
    phase = f"&phase={body.phase}" if body.phase else ""
    return _see(f"/app/runs/{run_id}/failures?accepted={outcome.accepted}{phase}")
