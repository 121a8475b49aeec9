"""Bearer tokens per tenant: required when auth is on, hashed at rest, revocable; admin routes apart."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from migrayt.api.auth import auth_mode
from migrayt.settings import Settings
from migrayt.store.models import ApiToken


async def test_requests_need_a_live_tenant_token(api):
    async with api.client() as anonymous:
        r = await anonymous.get("/api/migrations")
        assert r.status_code == 401 and "token is required" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"
        assert (await anonymous.get("/api/health")).status_code == 200
        assert (await anonymous.get("/openapi.json")).json()["info"]["title"] == "Migrayt"
    async with api.client("mgt_not-a-real-token") as forged:
        r = await forged.get("/api/whoami")
        assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]

    token = await api.issue_token("auth-corp", name="ci-bot")
    async with api.client(token) as http:
        me = (await http.get("/api/whoami")).json()
        assert me == {"tenant": "auth-corp", "actor": "ci-bot", "auth_mode": "on", "admin": False}
        # A tenant token is no admin token.
        r = await http.post("/api/admin/tokens", json={"tenant": "auth-corp"})
        assert r.status_code == 403 and "admin token" in r.json()["detail"]

    # Only the SHA-256 is kept: the token itself is nowhere in the table.
    async with api.stack.service.sessions() as session:
        rows = list(await session.scalars(select(ApiToken).where(ApiToken.tenant_id == "auth-corp")))
    assert len(rows) == 1
    row = rows[0]
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.id, row.name, row.token_sha256, row.prefix} and token.startswith(row.prefix)

    async with api.client(api.admin_token) as admin:
        listed = (await admin.get("/api/admin/tokens", params={"tenant": "auth-corp"})).json()
        assert [t["id"] for t in listed] == [row.id] and "token" not in listed[0]
        assert (await admin.delete(f"/api/admin/tokens/{row.id}")).json()["revoked_at"]
        assert (await admin.delete("/api/admin/tokens/tok-nope")).status_code == 404
        assert (await admin.post("/api/admin/tokens", json={"tenant": "Not A Tenant!"})).status_code == 422
    async with api.client(token) as revoked:
        assert (await revoked.get("/api/whoami")).status_code == 401


def test_auth_mode_is_off_only_for_the_embedded_stack_on_loopback():
    assert auth_mode(Settings(auth="embedded", database_url=None, api_host="127.0.0.1")) == "off"
    assert auth_mode(Settings(auth="embedded", database_url=None, api_host="0.0.0.0")) == "on"
    assert auth_mode(Settings(auth="embedded", database_url="postgresql+asyncpg://db/x", api_host="127.0.0.1")) == "on"
    assert auth_mode(Settings(auth="off", api_host="127.0.0.1")) == "off"
    assert auth_mode(Settings(auth="ON")) == "on"


async def test_with_auth_off_a_request_without_token_is_the_default_tenant(api):
    from tests.api.conftest import served

    token = await api.issue_token("off-corp", name="script")
    async with served(api.stack, auth="off", tenant="default") as open_api:
        async with open_api.client() as local:
            assert (await local.get("/api/whoami")).json() == {
                "tenant": "default",
                "actor": "local-user",
                "auth_mode": "off",
                "admin": True,
            }
            # The local user of an embedded stack may issue tokens without an admin token.
            r = await local.post("/api/admin/tokens", json={"tenant": "off-corp", "name": "second"})
            assert r.status_code == 201
        async with open_api.client(token) as scripted:
            assert (await scripted.get("/api/whoami")).json()["tenant"] == "off-corp"
        async with open_api.client("mgt_wrong") as wrong:
            assert (await wrong.get("/api/whoami")).status_code == 401  # a token given is always checked
