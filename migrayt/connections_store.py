"""Saved ADO and Jira connections: tested by a real call before they are kept, secrets encrypted at rest.

The secret (PAT or API token) is encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under the key in
settings (`MIGRAYT_SECRET_KEY`); what is ever shown back is a hint of its last four characters. On the
embedded default (auth off) with no key set, one is generated on first use and kept in
`<state_dir>/secret-key` (mode 0600), as the codec keeps its key, so the API and the worker of
`migrayt up` share it; a shared server (auth on) refuses to start without one (`require_secret_key`).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.connections import ServiceUrl
from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import ApiError, HttpError, HttpSettings, NotJson, RedirectRefused, TransportFailure
from migrayt.connectors.jira import JiraClient
from migrayt.connectors.outbound import OutboundPolicy, OutboundRefused
from migrayt.core.errors import InUse, NotFound
from migrayt.core.ownership import owned
from migrayt.settings import Settings, auth_mode
from migrayt.store.models import AuditEvent, Migration, StoredConnection
from migrayt.words import plural

NO_POLICY = OutboundPolicy()  # auth off: every address may be called

# A wrong URL or PAT must answer in seconds, not after a run's worth of retries.
TEST_CALL_ATTEMPTS = 2
TEST_CALL_TIMEOUT = 15.0


class ConnectionRejected(Exception):
    """The connection was not saved: the message names what is wrong (URL, PAT, token, project)."""


class SecretKeyMissing(Exception):
    pass


SECRET_KEY_FILE = "secret-key"
MAKE_SECRET_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def secret_key_path(settings: Settings) -> Path:
    return settings.state_dir.expanduser().resolve() / SECRET_KEY_FILE


def _local_secret_key(path: Path) -> SecretStr:
    """The embedded default's key: generated once, kept 0600 next to the embedded database."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f"{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(Fernet.generate_key().decode() + "\n")
        try:
            os.link(tmp, path)  # fails if another process (API or worker) won the race: all read the winner's key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return SecretStr(path.read_text().strip())


def secret_key_for(settings: Settings) -> SecretStr:
    """MIGRAYT_SECRET_KEY; unset on the embedded default (auth off), the key kept in the state folder."""
    if settings.secret_key is not None:
        return settings.secret_key
    if auth_mode(settings) == "off":
        return _local_secret_key(secret_key_path(settings))
    raise SecretKeyMissing(f"set MIGRAYT_SECRET_KEY (a Fernet key, made by `{MAKE_SECRET_KEY}`) to save connections")


def require_secret_key(settings: Settings, what: str) -> None:
    """A shared server (auth on) does not start without MIGRAYT_SECRET_KEY: saved connections need it."""
    if settings.secret_key is None and auth_mode(settings) == "on":
        raise SecretKeyMissing(
            f"{what} refused to start: MIGRAYT_SECRET_KEY is not set, and a shared server (MIGRAYT_AUTH on) keeps "
            f"saved connections' secrets encrypted under it. Make one with\n  {MAKE_SECRET_KEY}\nand give the same "
            "key to the API and every worker."
        )


class AdoConnectionInput(BaseModel):
    kind: Literal["ado"] = "ado"
    name: str
    organization_url: ServiceUrl
    project: str
    pat: SecretStr


class JiraCloudConnectionInput(BaseModel):
    kind: Literal["jira_cloud"] = "jira_cloud"
    name: str
    site_url: ServiceUrl
    email: str
    api_token: SecretStr


class JiraDataCenterConnectionInput(BaseModel):
    kind: Literal["jira_dc"] = "jira_dc"
    name: str
    base_url: ServiceUrl
    pat: SecretStr


ConnectionInput = Annotated[
    AdoConnectionInput | JiraCloudConnectionInput | JiraDataCenterConnectionInput, Field(discriminator="kind")
]


class ConnectionView(BaseModel):
    """What a user sees of a saved connection: never the secret, not even a part of it, only that it is saved."""

    id: str
    kind: str
    name: str
    url: str
    username: str | None = None
    secret_hint: str
    detail: dict[str, Any] = Field(default_factory=dict)


class SecretBox:
    def __init__(self, key: SecretStr | None) -> None:
        if key is None:
            raise SecretKeyMissing("set MIGRAYT_SECRET_KEY (a Fernet key) to save connections")
        try:
            self._fernet = Fernet(key.get_secret_value().encode())
        except ValueError as err:
            raise SecretKeyMissing("MIGRAYT_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes)") from err

    def seal(self, secret: SecretStr) -> str:
        return self._fernet.encrypt(secret.get_secret_value().encode()).decode()

    def open(self, token: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(token.encode()).decode())
        except InvalidToken as err:
            raise SecretKeyMissing("a stored secret cannot be decrypted with the current MIGRAYT_SECRET_KEY") from err


SECRET_SAVED = "saved"


def secret_hint(secret: SecretStr) -> str:
    """Only that a secret is saved: even its last characters are part of it (and narrow a guess)."""
    return SECRET_SAVED


def _http(url: str, outbound: OutboundPolicy) -> HttpSettings:
    return HttpSettings(
        base_url=url,
        max_attempts=TEST_CALL_ATTEMPTS,
        timeout_seconds=TEST_CALL_TIMEOUT,
        backoff_max_seconds=1.0,
        outbound=outbound,
    )


def _unusable(service: str, url: str, err: Exception) -> ConnectionRejected | None:
    """The failures every test call shares, named by their class only: whatever the target answered
    (its body, the fields of a JSON it sent) is never echoed, so a connection test is no window onto it."""
    if isinstance(err, OutboundRefused):
        return ConnectionRejected(f"{service} at {url}: {err}")
    if isinstance(err, RedirectRefused):
        return ConnectionRejected(
            f"{service} at {url} answered with a redirect (HTTP {err.status}), which is not followed: "
            "give the URL it leads to"
        )
    if isinstance(err, ValueError):
        what = "not JSON" if isinstance(err, NotJson) else "not the JSON it answers"
        return ConnectionRejected(
            f"{service} at {url} answered something that is not its REST API ({what}): check the URL"
        )
    if isinstance(err, TransportFailure):
        return ConnectionRejected(f"cannot reach {service} at {url} ({err.failure}): check the URL")
    if isinstance(err, HttpError) and not isinstance(err, ApiError):
        return ConnectionRejected(f"cannot reach {service} at {url}: check the URL")
    return None


async def test_ado(input: AdoConnectionInput, outbound: OutboundPolicy = NO_POLICY) -> dict[str, Any]:
    url = input.organization_url.rstrip("/")
    async with AdoClient(url, input.project, input.pat, settings=_http(url, outbound)) as ado:
        try:
            types = await ado.get_work_item_types(with_states=False)
        except (HttpError, ValueError) as err:
            if (rejected := _unusable("Azure DevOps", url, err)) is not None:
                raise rejected from None
            assert isinstance(err, ApiError)
            if err.status in (401, 403):
                raise ConnectionRejected(
                    f"Azure DevOps at {url} refused the PAT (HTTP {err.status}): check the PAT and its Work "
                    "Items (Read) scope"
                ) from None
            if err.status == 404:
                raise ConnectionRejected(
                    f"no Azure DevOps project {input.project!r} at {url}: check the organization URL and project name"
                ) from None
            raise ConnectionRejected(f"Azure DevOps at {url} answered HTTP {err.status}") from None
    return {"project": input.project, "work_item_types": len(types)}


async def test_jira(
    url: str, username: str | None, secret: SecretStr, what: str, outbound: OutboundPolicy = NO_POLICY
) -> dict[str, Any]:
    """Cloud (`username` = e-mail): REST v3 `myself`. Data Center (no username, a PAT as bearer): v2.

    The answer says only that the credentials work: the user's name, key or accountId from the target
    is not copied (the test would otherwise read fields out of any JSON a URL answers)."""
    url = url.rstrip("/")
    async with JiraClient(url, username, secret, settings=_http(url, outbound)) as jira:
        try:
            if username:
                await jira.myself()
                return {"deployment": "cloud"}
            me = await jira.myself_v2()
            if not isinstance(me, dict):
                raise NotJson("GET", "/rest/api/2/myself", 200)
        except (HttpError, ValueError) as err:
            if (rejected := _unusable("Jira", url, err)) is not None:
                raise rejected from None
            assert isinstance(err, ApiError)
            if err.status in (401, 403):
                raise ConnectionRejected(f"Jira at {url} refused the {what} (HTTP {err.status})") from None
            raise ConnectionRejected(f"no Jira REST API at {url} (HTTP {err.status}): check the site URL") from None
    return {"deployment": "data_center"}


async def test_connection(
    input: AdoConnectionInput | JiraCloudConnectionInput | JiraDataCenterConnectionInput,
    outbound: OutboundPolicy = NO_POLICY,
) -> dict[str, Any]:
    if isinstance(input, AdoConnectionInput):
        return await test_ado(input, outbound)
    if isinstance(input, JiraCloudConnectionInput):
        return await test_jira(input.site_url, input.email, input.api_token, "e-mail and API token", outbound)
    return await test_jira(input.base_url, None, input.pat, "personal access token", outbound)


class ConnectionStore:
    def __init__(self, settings: Settings, sessions: async_sessionmaker) -> None:
        self._settings = settings
        self._sessions = sessions

    def _box(self) -> SecretBox:
        return SecretBox(secret_key_for(self._settings))

    async def save(
        self,
        tenant: str,
        input: AdoConnectionInput | JiraCloudConnectionInput | JiraDataCenterConnectionInput,
        actor: str,
        door: str,
    ) -> ConnectionView:
        box = self._box()  # refuse before calling out when nothing could be stored
        detail = await test_connection(input, OutboundPolicy.for_settings(self._settings))
        if isinstance(input, AdoConnectionInput):
            url, username, secret = input.organization_url.rstrip("/"), None, input.pat
            detail["project"] = input.project
        elif isinstance(input, JiraCloudConnectionInput):
            url, username, secret = input.site_url.rstrip("/"), input.email, input.api_token
        else:
            url, username, secret = input.base_url.rstrip("/"), None, input.pat
        row = StoredConnection(
            id=f"conn-{uuid.uuid4().hex[:12]}",
            tenant_id=tenant,
            kind=input.kind,
            name=input.name,
            url=url,
            username=username,
            secret_encrypted=box.seal(secret),
            secret_hint=secret_hint(secret),
            detail=detail,
            created_by=actor,
        )
        async with self._sessions() as session:
            session.add(row)
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    action="connection_saved",
                    actor=actor,
                    door=door,
                    detail={"connection_id": row.id, "kind": input.kind, "url": url},
                )
            )
            await session.commit()
        return _view(row)

    async def list(self, tenant: str) -> list[ConnectionView]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(StoredConnection)
                .where(StoredConnection.tenant_id == tenant)
                .order_by(StoredConnection.created_at)
            )
            return [_view(r) for r in rows]

    @staticmethod
    async def _users(session: Any, row: StoredConnection) -> Sequence[Migration]:
        """The tenant's migrations made from this connection: they carry its sealed secret (`sealed:<token>`)."""
        sealed = f"sealed:{row.secret_encrypted}"
        field = "pat_ref" if row.kind == "ado" else "token_ref"
        column = Migration.source if row.kind == "ado" else Migration.target
        return list(
            await session.scalars(
                select(Migration)
                .where(Migration.tenant_id == row.tenant_id, column[field].astext == sealed)
                .order_by(Migration.created_at)
            )
        )

    async def delete(self, tenant: str, connection_id: str, actor: str, door: str) -> None:
        """Refused, naming them, while a migration uses the connection (it reads its secret at every run)."""
        async with self._sessions() as session:
            await owned(session, StoredConnection, connection_id, tenant, "connection")
            row = await session.get(StoredConnection, connection_id, with_for_update=True)
            assert row is not None
            users = await self._users(session, row)
            if users:
                # Named as the user named them; a migration's id follows for the CLI, which deletes by id.
                named = ", ".join(f'"{m.name}" ({m.id})' for m in users)
                those = "it" if len(users) == 1 else "them"
                raise InUse(
                    f'connection "{row.name}" is used by {plural(len(users), "migration")}: {named}; delete {those} '
                    "first (or rotate the connection's secret instead)"
                )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    action="connection_deleted",
                    actor=actor,
                    door=door,
                    detail={"connection_id": row.id, "kind": row.kind, "url": row.url},
                )
            )
            await session.delete(row)
            await session.commit()

    async def rotate(
        self, tenant: str, connection_id: str, secret: SecretStr, actor: str, door: str
    ) -> tuple[ConnectionView, Sequence[str]]:
        """Replace the secret after testing the new one against the service; a failed test raises
        ConnectionRejected and the old secret stays. The migrations made from the connection get the new one too.
        Returns the connection and the ids of those migrations."""
        box = self._box()
        async with self._sessions() as session:
            row = await owned(session, StoredConnection, connection_id, tenant, "connection")
        test_input: AdoConnectionInput | JiraCloudConnectionInput | JiraDataCenterConnectionInput
        if row.kind == "ado":
            test_input = AdoConnectionInput(
                name=row.name, organization_url=row.url, project=(row.detail or {}).get("project") or "", pat=secret
            )
        elif row.kind == "jira_cloud":
            test_input = JiraCloudConnectionInput(
                name=row.name, site_url=row.url, email=row.username or "", api_token=secret
            )
        else:
            test_input = JiraDataCenterConnectionInput(name=row.name, base_url=row.url, pat=secret)
        await test_connection(test_input, OutboundPolicy.for_settings(self._settings))
        sealed = box.seal(secret)
        async with self._sessions() as session:
            row = await session.get(StoredConnection, connection_id, with_for_update=True)
            if row is None or row.tenant_id != tenant:
                raise NotFound(f"connection {connection_id} not found")
            users = await self._users(session, row)
            for migration in users:
                side = "source" if row.kind == "ado" else "target"
                field = "pat_ref" if row.kind == "ado" else "token_ref"
                setattr(migration, side, {**getattr(migration, side), field: f"sealed:{sealed}"})
            row.secret_encrypted = sealed
            row.secret_hint = secret_hint(secret)
            row.tested_at = func.now()
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    action="connection_secret_rotated",
                    actor=actor,
                    door=door,
                    detail={
                        "connection_id": row.id,
                        "kind": row.kind,
                        "url": row.url,
                        "migrations": [m.id for m in users],
                    },
                )
            )
            await session.commit()
            await session.refresh(row)
            return _view(row), [m.id for m in users]

    async def secret(self, tenant: str, connection_id: str) -> tuple[StoredConnection, SecretStr]:
        """The decrypted secret, for the worker that builds a client; never for a door to show.

        Another tenant's connection is NotFound, as a missing one is."""
        async with self._sessions() as session:
            row = await owned(session, StoredConnection, connection_id, tenant, "connection")
        return row, self._box().open(row.secret_encrypted)


def _view(row: StoredConnection) -> ConnectionView:
    return ConnectionView(
        id=row.id,
        kind=row.kind,
        name=row.name,
        url=row.url,
        username=row.username,
        # Rows saved before hints stopped carrying a tail still hold one: it is never shown.
        secret_hint=SECRET_SAVED,
        detail=row.detail or {},
    )
