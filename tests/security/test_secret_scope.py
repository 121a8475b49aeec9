"""A secret belongs to exactly one tenant: issue 12, "one tenant reads another tenant's secrets".

The attack: tenant `acme` names `env:MIGRAYT_T_ACME_PROD_JIRA` (tenant `acme-prod`'s), points the URL at a
listener of its own and starts a scan; the listener receives acme-prod's token. `a-b` and `a.b` shared one
namespace. Here each such reference is refused where a migration is created AND in the worker at the
moment of use — for a migration row written straight into the database, the worker alone stands between
the reference and the listener, which must receive nothing. Migrayt's own settings, `/proc` and `file:`
escapes from the secrets folder are refused the same way.
"""

from __future__ import annotations

import ast
import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.connections import SourceConnection, TargetConnection, resolve_secret
from migrayt.connections_store import SecretBox
from migrayt.core.intake import IntakeService
from migrayt.mapping.plan import default_plan
from migrayt.settings import get_settings
from migrayt.store.models import Scan, StoredConnection
from migrayt.tenant_secrets import SETTINGS_CLASSES, SecretPolicy, SecretRefRefused, tenant_env_prefix
from migrayt.worker.main import run_worker
from tests.api.conftest import ADMIN_TOKEN, served

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-acme-prod-" + os.urandom(8).hex()


@asynccontextmanager
async def listener() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A host of the attacker's: records every byte any request sends it, answers 401."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", received


def details(url: str, pat_ref: str, token_ref: str) -> dict:
    return {
        "name": "steal",
        "source": {"organization_url": url, "project": "Phoenix", "pat_ref": pat_ref},
        "target": {"base_url": url, "project_key": "PHX", "email": "me@acme.example", "token_ref": token_ref},
    }


@pytest.fixture
async def shared(stack, monkeypatch):
    """A shared server (auth on) with its own worker on its own task queue, one MIGRAYT_SECRET_KEY for both."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MIGRAYT_SECRET_KEY", key)
    monkeypatch.setenv("MIGRAYT_T_ACME_PROD__JIRA_TOKEN", CANARY)
    monkeypatch.setenv("MIGRAYT_T_ACME_PROD_JIRA_TOKEN", CANARY)  # what `acme` could name before
    monkeypatch.setenv("MIGRAYT_T_A_B__JIRA_TOKEN", CANARY)
    monkeypatch.setenv("MIGRAYT_T_ACME__ADO_PAT", "acme-own-pat")
    get_settings.cache_clear()
    overrides = dict(
        auth="on",
        admin_token=SecretStr(ADMIN_TOKEN),
        secret_key=SecretStr(key),
        task_queue=f"{stack.settings.task_queue}-shared",
    )
    settings = stack.settings.model_copy(update=overrides)
    try:
        async with served(stack, **overrides) as api, run_worker(settings, stack.client, stack.database_url):
            api.intake = IntakeService(settings, stack.service.sessions, stack.client)
            yield api
    finally:
        get_settings.cache_clear()


async def test_a_tenant_cannot_name_another_tenants_variable_at_create(shared):
    async with shared.client(shared.admin_token) as admin:
        for colliding in ("a.b", "a_b", "a--b", "-a", "Acme"):
            r = await admin.post("/api/admin/tokens", json={"tenant": colliding, "name": "x"})
            assert r.status_code == 422, (colliding, r.text)
    acme, acme_prod = await shared.issue_token("acme"), await shared.issue_token("acme-prod")
    assert tenant_env_prefix("acme") == "MIGRAYT_T_ACME__" and tenant_env_prefix("acme-prod") == "MIGRAYT_T_ACME_PROD__"
    async with listener() as (url, received), shared.client(acme) as http, shared.client(acme_prod) as owner:
        for foreign in (
            "env:MIGRAYT_T_ACME_PROD__JIRA_TOKEN",
            "env:MIGRAYT_T_ACME_PROD_JIRA_TOKEN",
            "env:MIGRAYT_T_A_B__JIRA_TOKEN",
            "env:MIGRAYT_STRIPE_API_KEY",
            "env:MIGRAYT_CODEC_KEYS",
            "env:MIGRAYT_API_TOKEN",
            "file:/proc/self/environ",
        ):
            r = await http.post("/api/migrations", json=details(url, "env:MIGRAYT_T_ACME__ADO_PAT", foreign))
            assert r.status_code == 422 and foreign in r.json()["detail"], (foreign, r.text)
        own = details(url, "env:MIGRAYT_T_ACME_PROD__ADO_PAT", "env:MIGRAYT_T_ACME_PROD__JIRA_TOKEN")
        r = await owner.post("/api/migrations", json=own)
        assert r.status_code == 201, r.text  # the owner's own variable is its to name
    assert received == []


async def scan_of(api, tenant: str, url: str, pat_ref: str, token_ref: str) -> Scan:
    """A migration row written straight into the database (no door checked it), then scanned."""
    migration_id = await api.stack.service.create_migration(
        tenant,
        "straight into the database",
        SourceConnection(organization_url=url, project="Phoenix", pat_ref=pat_ref),
        TargetConnection(base_url=url, project_key="PHX", email="me@acme.example", token_ref=token_ref),
        default_plan(),
        actor="tests",
        door="api",
    )
    scan_id = await api.intake.start_scan(tenant, migration_id, "tests", "api", draft_plan=False)
    deadline = time.monotonic() + 60
    while (scan := await api.intake.get_scan(tenant, scan_id)).status == "RUNNING":
        assert time.monotonic() < deadline, "the scan did not finish"
        await asyncio.sleep(0.2)
    return scan


async def sealed_of(api, tenant: str, secret: str) -> str:
    """A saved connection of `tenant` holding `secret`; its sealed value, as a migration names it."""
    blob = SecretBox(get_settings().secret_key).seal(SecretStr(secret))
    async with api.stack.service.sessions() as session:
        session.add(
            StoredConnection(
                id=f"conn-{os.urandom(6).hex()}",
                tenant_id=tenant,
                kind="ado",
                name="saved",
                url="http://ado.invalid",
                secret_encrypted=blob,
                secret_hint="…",
                detail={},
                created_by="tests",
            )
        )
        await session.commit()
    return f"sealed:{blob}"


@pytest.mark.parametrize(
    "tenant, foreign",
    [
        ("acme", "env:MIGRAYT_T_ACME_PROD__JIRA_TOKEN"),
        ("acme", "env:MIGRAYT_T_ACME_PROD_JIRA_TOKEN"),
        ("a.b", "env:MIGRAYT_T_A_B__JIRA_TOKEN"),  # a tenant id from before ids were restricted
        ("acme", "env:MIGRAYT_SECRET_KEY"),
        ("acme", "env:HOME"),
        ("acme", "file:/proc/self/environ"),
    ],
)
async def test_the_worker_refuses_a_foreign_reference_at_use(shared, tenant, foreign):
    async with listener() as (url, received):
        scan = await scan_of(shared, tenant, url, foreign, foreign)
    assert scan.status == "FAILED"
    assert "secret refused" in scan.error and foreign in scan.error, scan.error
    assert CANARY not in scan.error
    assert received == []  # not one request: the secret never left


async def test_the_worker_refuses_another_tenants_sealed_secret(shared):
    theirs = await sealed_of(shared, "acme-prod", CANARY)
    async with listener() as (url, received):
        scan = await scan_of(shared, "acme", url, theirs, "env:MIGRAYT_T_ACME_PROD__JIRA_TOKEN")
    assert scan.status == "FAILED" and "sealed secret" in scan.error, scan.error
    assert received == []
    # The same sealed value under its own tenant is used: the refusal above is the tenant check, nothing else.
    async with listener() as (url, received):
        scan = await scan_of(shared, "acme-prod", url, theirs, "env:MIGRAYT_T_ACME_PROD__JIRA_TOKEN")
    assert scan.status == "FAILED" and "secret refused" not in (scan.error or "")
    assert received and all(b"authorization:" in r.lower() for r in received)


def test_own_settings_of_every_settings_class_are_refused_in_every_mode(tmp_path):
    for mode in (SecretPolicy(shared=True, secrets_dir=tmp_path), SecretPolicy(shared=False, secrets_dir=tmp_path)):
        for name in (
            "MIGRAYT_STRIPE_API_KEY",
            "MIGRAYT_STRIPE_WEBHOOK_SECRET",
            "MIGRAYT_CODEC_KEYS",
            "MIGRAYT_API_TOKEN",
            "MIGRAYT_ADMIN_TOKEN",
            "MIGRAYT_SECRET_KEY",
            "MIGRAYT_DATABASE_URL",
            "migrayt_openai_api_key",
        ):
            with pytest.raises(SecretRefRefused, match="own settings"):
                resolve_secret(f"env:{name}", tenant="default", policy=mode)


def test_every_settings_class_in_the_code_is_known():
    """A settings class added later must be listed, or its secrets would be nameable by a tenant."""
    found = set()
    for path in (REPO / "migrayt").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            bases = {getattr(b, "id", getattr(b, "attr", None)) for b in getattr(node, "bases", ())}
            if isinstance(node, ast.ClassDef) and "BaseSettings" in bases:
                module = ".".join(path.relative_to(REPO).with_suffix("").parts)
                found.add(f"{module}:{node.name}")
    assert found == set(SETTINGS_CLASSES)


def test_file_secrets_only_inside_the_secrets_folder_with_auth_off(tmp_path):
    folder, outside = tmp_path / "secrets", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (folder / "jira-token").write_text("in-the-folder\n")
    (outside / "admin-token").write_text("outside")
    (folder / "link-out").symlink_to(outside / "admin-token")
    (folder / "dir-out").symlink_to(outside)
    (folder / "proc").symlink_to("/proc/self")
    local = SecretPolicy(shared=False, secrets_dir=folder)
    inside = resolve_secret(f"file:{folder}/jira-token", tenant="default", policy=local)
    assert inside.get_secret_value() == "in-the-folder"
    assert resolve_secret("file:jira-token", tenant="default", policy=local).get_secret_value() == "in-the-folder"
    for ref in (
        f"file:{folder}/../elsewhere/admin-token",
        "file:../elsewhere/admin-token",
        f"file:{folder}/link-out",
        "file:dir-out/admin-token",
        "file:/proc/self/environ",
        "file:proc/environ",
        f"file:{outside}/admin-token",
        "file:/etc/passwd",
        f"file:{folder}",
    ):
        with pytest.raises(SecretRefRefused):
            resolve_secret(ref, tenant="default", policy=local)
    with pytest.raises(SecretRefRefused, match="environment variables only"):
        shared = SecretPolicy(shared=True, secrets_dir=folder)
        resolve_secret(f"file:{folder}/jira-token", tenant="default", policy=shared)


async def test_file_references_at_create_with_auth_off(stack, tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "jira-token").write_text("t")
    (folder / "link-out").symlink_to("/proc/self/environ")
    async with served(stack, auth="off", secrets_dir=folder) as api, api.client() as http, listener() as (url, _):
        for ref in (
            "file:/proc/self/environ",
            f"file:{folder}/../../etc/passwd",
            f"file:{folder}/link-out",
            "env:MIGRAYT_STRIPE_WEBHOOK_SECRET",
            "env:MIGRAYT_CODEC_KEYS",
            "env:MIGRAYT_T_OTHER__JIRA_TOKEN",
        ):
            r = await http.post("/api/migrations", json=details(url, "env:MY_ADO_PAT", ref))
            assert r.status_code == 422 and ref in r.json()["detail"], (ref, r.text)
        r = await http.post("/api/migrations", json=details(url, "env:MY_ADO_PAT", f"file:{folder}/jira-token"))
        assert r.status_code == 201, r.text
