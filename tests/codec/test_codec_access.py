"""Who may use the codec endpoint: operators (the admin token, or the local user with auth off), never a tenant.

One key decrypts every tenant's payloads, so a tenant's token on /codec would let tenant A read tenant
B's workflow payloads out of the Temporal UI.
"""

from __future__ import annotations

import base64
import os

import httpx
from pydantic import SecretStr

from migrayt.api.app import create_app
from migrayt.api.tokens import issue_token
from migrayt.worker.codec import ENCODING

ADMIN = "admin-" + os.urandom(12).hex()
SECRET = "tenant-b-private-summary-7781"


def codec_client(stack, **settings) -> httpx.AsyncClient:
    app = create_app(stack.settings.model_copy(update=settings))
    app.state.service = stack.service  # the stack's client carries the worker's codec; no lifespan needed
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=10)


def as_json(p) -> dict:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()}, "data": base64.b64encode(p.data).decode()}


async def sealed_body(stack) -> dict:
    """A payload as the worker writes it into a workflow history: pydantic JSON, then encrypted."""
    payloads = await stack.client.data_converter.encode([{"tenant": "codec-b", "summary": SECRET}])
    assert payloads[0].metadata["encoding"] == ENCODING and SECRET.encode() not in payloads[0].data
    return {"payloads": [as_json(p) for p in payloads]}


def decoded_text(response: httpx.Response) -> str:
    return base64.b64decode(response.json()["payloads"][0]["data"]).decode()


async def test_a_tenant_token_is_refused_and_the_admin_token_decodes(stack):
    body = await sealed_body(stack)
    tenant_token = (await issue_token(stack.service.sessions, "codec-a", "ui", actor="tests", door="api")).token
    ui = {"Origin": f"http://127.0.0.1:{stack.settings.temporal_ui_port}"}
    async with codec_client(stack, auth="on", admin_token=SecretStr(ADMIN)) as http:
        for op in ("decode", "encode"):
            r = await http.post(f"/codec/{op}", json=body, headers={**ui, "Authorization": f"Bearer {tenant_token}"})
            assert r.status_code == 403, (op, r.text)
            assert "MIGRAYT_ADMIN_TOKEN" in r.json()["detail"] and "operators" in r.json()["detail"]
            assert SECRET not in r.text and "payloads" not in r.json()
            # The UI can read the refusal: CORS headers are on errors too.
            assert r.headers["access-control-allow-origin"] == ui["Origin"]

            for headers in ({}, {"Authorization": "Bearer not-a-token"}):
                r = await http.post(f"/codec/{op}", json=body, headers={**ui, **headers})
                assert r.status_code == 401, (op, headers, r.text)
                assert SECRET not in r.text
                assert r.headers["access-control-allow-origin"] == ui["Origin"]

        r = await http.post("/codec/decode", json=body, headers={**ui, "Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200, r.text
        assert SECRET in decoded_text(r)
        assert r.headers["access-control-allow-origin"] == ui["Origin"]
        preflight = await http.options("/codec/decode", headers={**ui, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204


async def test_with_auth_off_on_loopback_the_local_user_decodes_but_a_tenant_token_does_not(stack):
    body = await sealed_body(stack)
    tenant_token = (await issue_token(stack.service.sessions, "codec-c", "ui", actor="tests", door="api")).token
    # The embedded default: no database URL, loopback API → auth off; what `migrayt up`'s UI relies on.
    async with codec_client(stack, auth="embedded", database_url=None, api_host="127.0.0.1", admin_token=None) as http:
        r = await http.post("/codec/decode", json=body)
        assert r.status_code == 200, r.text
        assert SECRET in decoded_text(r)
        refused = await http.post("/codec/decode", json=body, headers={"Authorization": f"Bearer {tenant_token}"})
        assert refused.status_code == 403 and SECRET not in refused.text
