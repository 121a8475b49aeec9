"""No secret leaves its place: a full migration with canary credentials, then every log line, every
database row and every Temporal history event is searched for them (raw and as sent in Basic auth).

Canaries: the ADO PAT and Jira token; with billing on, the Stripe secret key and webhook secret; the
OpenAI key of AI drafting; the codec key (MIGRAYT_CODEC_KEYS); the stored-connection key
(MIGRAYT_SECRET_KEY), the admin token and a tenant token. Each is shown to have been used, so a
clean search means something.

Also the dependency audit (pip-audit) on the installed environment; skipped, saying why, when
PyPI's vulnerability data cannot be reached.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from sqlalchemy import text

from migrayt.api.secret_refs import tenant_env_prefix
from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import RunStatus
from migrayt.core.runs import MigrationService
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.temporal.client import connect_temporal
from migrayt.temporal.codec import KEY_ID, CodecKeyError, _payloads_in, parse_keys
from tests.api.conftest import served
from tests.api.helpers import poll
from tests.billing.stripe_server import stripe_stand_in
from tests.billing.test_checkout import PRICE, PRICES, WORKLOG_PRICE
from tests.integration import harness
from tests.integration.harness import (
    Stack,
    structure_only_plan,
    wait_final,
    worker_process,
)

TENANT = "secret-co"
PAT_ENV, TOKEN_ENV = "MIGRAYT_CANARY_ADO_PAT", "MIGRAYT_CANARY_JIRA_TOKEN"
EMAIL = "canary-migrator@example.com"
COMMENT_CAP = 30


def forms(secret: str, user: str = "") -> set[str]:
    """The secret as typed and as it travels in a Basic Authorization header."""
    return {secret, base64.b64encode(f"{user}:{secret}".encode()).decode(), base64.b64encode(secret.encode()).decode()}


async def all_table_rows(stack) -> dict[str, list[str]]:
    async with stack.service.sessions() as session:
        tables = (
            (await session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars().all()
        )
        return {t: list((await session.execute(text(f'SELECT t::text FROM "{t}" t'))).scalars()) for t in tables}


async def all_history_text(stack) -> tuple[int, str]:
    """Every event of every workflow the server holds, serialised with payloads as raw bytes."""
    chunks, count = [], 0
    async for wf in stack.client.list_workflows():
        history = await stack.client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        count += 1
        chunks.append(history.to_json())
        for event in history.events:
            chunks.append(event.SerializeToString().decode("utf-8", "replace"))
    return count, "\n".join(chunks)


def leaks(haystack: str, needles: set[str]) -> list[str]:
    return sorted(n[:6] + "…" for n in needles if n in haystack)


async def test_canary_secrets_never_appear_in_logs_rows_or_history(stack, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    pat, token = f"adopat{secrets.token_hex(20)}", f"jiratok{secrets.token_hex(20)}"
    monkeypatch.setenv(PAT_ENV, pat)
    monkeypatch.setenv(TOKEN_ENV, token)
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(COMMENT_CAP))
    monkeypatch.setenv("MIGRAYT_LOG_LEVEL", "DEBUG")
    canaries = forms(pat) | forms(token, EMAIL)
    spec = ProjectSpec(seed=41, items=30)
    with running_sandbox(
        spec, ado_pat=pat, jira_token=token, jira_email=EMAIL, jira_options={"max_comments_per_issue": COMMENT_CAP}
    ) as sandbox:
        migration_id = await stack.service.create_migration(
            TENANT,
            "Canary",
            SourceConnection(
                organization_url=sandbox.ado_url, project="Phoenix", team="Phoenix Team", pat_ref=f"env:{PAT_ENV}"
            ),
            TargetConnection(base_url=sandbox.jira_url, project_key="PHX", email=EMAIL, token_ref=f"env:{TOKEN_ENV}"),
            default_plan(),
            actor="test@secret.example",
            door="api",
        )
        log_path = tmp_path / "worker.log"
        async with worker_process(stack, log_path):
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            final = await wait_final(stack, TENANT, run_id)
    # The canaries really were used: a wrong one would have failed the run before any write.
    assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final
    assert final.counters["create_items"].created == spec.items

    worker_log = log_path.read_text(errors="replace")
    assert worker_log, "the worker wrote no log: nothing was checked"
    assert leaks(worker_log, canaries) == [], "secret in the worker's log"
    captured = "\n".join(
        r.getMessage() + " " + repr(r.args) + (str(r.exc_info) if r.exc_info else "") for r in caplog.records
    )
    assert leaks(captured, canaries) == [], "secret in the test process's log records"

    rows = await all_table_rows(stack)
    assert sum(len(v) for v in rows.values()) > 0
    for table, values in rows.items():
        assert leaks("\n".join(values), canaries) == [], f"secret in clear in table {table}"

    workflows, history = await all_history_text(stack)
    assert workflows >= 1 and run_id in history
    assert leaks(history, canaries) == [], "secret in Temporal history"


def test_installed_dependencies_have_no_known_vulnerabilities():
    exe = shutil.which("pip-audit", path=os.path.dirname(sys.executable)) or shutil.which("pip-audit")
    if exe is None:
        pytest.skip("pip-audit is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [exe, "--skip-editable", "--progress-spinner", "off", "-f", "json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.skip(f"pip-audit could not run (offline?): {done.stderr.strip()[-300:]}")
    deps = report["dependencies"]
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        pytest.skip(
            "PyPI's vulnerability data is unreachable from here (every package 'not found on PyPI'): audit not run"
        )
    vulnerable = {f"{d['name']} {d['version']}": [v["id"] for v in d["vulns"]] for d in audited if d.get("vulns")}
    assert vulnerable == {}, f"known vulnerabilities: {vulnerable}"


# --- Stripe, OpenAI, codec, admin and stored-secret keys: used for real, then searched for -------------


class Served:
    """A small FastAPI app on a free port in this event loop (the fake OpenAI, a refusing Stripe)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __aenter__(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning"))
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


def masked(key: str) -> str:
    """How Stripe and OpenAI name a refused key in their error message: its last four characters only."""
    return key[:8] + "*" * 20 + key[-4:]


def fake_openai(calls: list[dict]) -> FastAPI:
    """OpenAI's structured-output chat completion; the first call is refused as a bad key would be."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        calls.append({"authorization": auth, "body": json.loads(await request.body())})
        if len(calls) == 1:
            return JSONResponse(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {masked(auth[7:])}.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        answer = {
            "types": [],
            "states": [{"source": "Removed", "target": "Done", "confidence": 0.8}],
            "priorities": [],
            "fields": [],
            "link_types": [],
        }
        return JSONResponse(
            {
                "id": "chatcmpl-canary",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "canary-model",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": json.dumps(answer), "refusal": None},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    return app


def refusing_stripe() -> FastAPI:
    """Stripe's answer to a wrong secret key."""
    app = FastAPI()

    @app.api_route("/v1/{path:path}", methods=["GET", "POST"])
    async def refuse(request: Request, path: str) -> JSONResponse:
        key = request.headers.get("authorization", "")[7:]
        return JSONResponse(
            {"error": {"message": f"Invalid API Key provided: {masked(key)}", "type": "invalid_request_error"}},
            status_code=401,
        )

    return app


def stripe_signed(payload: bytes, secret: str) -> str:
    at = int(time.time())
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def checkout_completed(session_id: str) -> bytes:
    return json.dumps(
        {
            "id": "evt_canary",
            "object": "event",
            "type": "checkout.session.completed",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "customer": "cus_canary",
                    "subscription": "sub_canary",
                    "payment_status": "paid",
                    "status": "complete",
                    "mode": "subscription",
                }
            },
        }
    ).encode()


def formatted(records: list[logging.LogRecord]) -> str:
    """Log records as a handler would write them, tracebacks and exception messages included."""
    fmt = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(fmt.format(r) + " " + repr(r.args) for r in records)


async def history_bytes(client, workflow_ids: set[str]) -> tuple[bytes, set[str]]:
    """Every event of every workflow on the server as raw protobuf bytes; and the codec key ids on `workflow_ids`'
    payloads."""
    chunks, kids = [], set()
    async for wf in client.list_workflows():
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        chunks.append(history.to_json().encode())
        for event in history.events:
            chunks.append(event.SerializeToString())
            if wf.id in workflow_ids:
                kids |= {p.metadata[KEY_ID].decode() for p in _payloads_in(event) if KEY_ID in p.metadata}
    return b"\n".join(chunks), kids


async def test_stripe_openai_and_codec_keys_are_used_and_never_leak(stack, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    tenant = "canary-billing"
    prefix = tenant_env_prefix(tenant)
    pat, token = f"adopat{secrets.token_hex(20)}", f"jiratok{secrets.token_hex(20)}"
    stripe_key, wrong_stripe_key = (
        f"sk_test_canary{secrets.token_hex(16)}",
        f"sk_test_wrongcanary{secrets.token_hex(16)}",
    )
    webhook_secret = f"whsec_canary{secrets.token_hex(16)}"
    openai_key = f"sk-canary{secrets.token_hex(20)}"
    codec_kid, codec_key = "kcanary", os.urandom(32)
    codec_b64 = base64.b64encode(codec_key).decode()
    fernet_key = Fernet.generate_key().decode()
    admin_token = f"admin-canary{secrets.token_hex(32)}"
    openai_calls: list[dict] = []
    async with (
        stripe_stand_in(PRICES) as stripe_api,
        Served(fake_openai(openai_calls)) as openai_url,
        Served(refusing_stripe()) as refusing_url,
    ):
        env = {
            f"{prefix}ADO_PAT": pat,
            f"{prefix}JIRA_TOKEN": token,
            "MIGRAYT_BILLING": "stripe",
            "MIGRAYT_STRIPE_API_KEY": stripe_key,
            "MIGRAYT_STRIPE_WEBHOOK_SECRET": webhook_secret,
            "MIGRAYT_STRIPE_API_BASE": stripe_api.url,
            "MIGRAYT_STRIPE_PRICES": json.dumps({"item": PRICE, "worklog": WORKLOG_PRICE}),
            "MIGRAYT_METER_INTERVAL_SECONDS": "0.3",
            "MIGRAYT_OPENAI_API_KEY": openai_key,
            "MIGRAYT_OPENAI_BASE_URL": f"{openai_url}/v1",
            "MIGRAYT_OPENAI_MODEL": "canary-model",
            "MIGRAYT_CODEC_KEYS": f"{codec_kid}:{codec_b64}",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        canaries = (
            forms(pat)
            | forms(token, EMAIL)
            | forms(stripe_key)
            | forms(wrong_stripe_key)
            | forms(webhook_secret)
            | forms(openai_key)
            | {codec_b64, codec_key.hex(), fernet_key, admin_token}
        )

        # Every process of this run holds the canary codec key: the test's client, the API and the worker.
        settings = harness.test_settings(task_queue=f"migrayt-canary-{os.getpid()}")
        client = await connect_temporal(settings, stack.temporal_address)
        mine = Stack(
            settings,
            stack.database_url,
            stack.temporal_address,
            client,
            MigrationService(settings, stack.service.sessions, client),
        )
        answers: list[str] = []

        async def keep(response: httpx.Response) -> None:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                await response.aread()
                answers.append(f"{response.status_code} {response.headers} {response.text}")

        spec = ProjectSpec(seed=43, items=20)
        log_path = tmp_path / "worker.log"
        with running_sandbox(spec, ado_pat=pat, jira_token=token, jira_email=EMAIL) as sandbox:
            async with (
                worker_process(mine, log_path),
                served(mine, auth="on", admin_token=SecretStr(admin_token), secret_key=SecretStr(fernet_key)) as api,
            ):
                api.admin_token = admin_token
                tenant_token = await api.issue_token(tenant, name="canary")
                canaries |= {tenant_token}
                hooks = {"response": [keep]}
                async with (
                    httpx.AsyncClient(
                        base_url=api.url,
                        headers={"Authorization": f"Bearer {tenant_token}"},
                        timeout=30,
                        event_hooks=hooks,
                    ) as http,
                    httpx.AsyncClient(base_url=api.url, timeout=30, event_hooks=hooks) as anonymous,
                ):
                    # A stored connection: the PAT is kept encrypted with MIGRAYT_SECRET_KEY.
                    r = await http.post(
                        "/api/connections",
                        json={
                            "kind": "ado",
                            "name": "canary ado",
                            "organization_url": sandbox.ado_url,
                            "project": "Phoenix",
                            "pat": pat,
                        },
                    )
                    assert r.status_code == 201, r.text
                    assert (await http.put("/api/consent/ai-drafting", json={"ai_drafting": True})).status_code == 200
                    body = {
                        "name": "Canary billing",
                        "source": {
                            "organization_url": sandbox.ado_url,
                            "project": "Phoenix",
                            "team": "Phoenix Team",
                            "pat_ref": f"env:{prefix}ADO_PAT",
                        },
                        "target": {
                            "base_url": sandbox.jira_url,
                            "project_key": "PHX",
                            "email": EMAIL,
                            "token_ref": f"env:{prefix}JIRA_TOKEN",
                        },
                        "plan": structure_only_plan().model_dump(mode="json"),
                    }
                    r = await http.post("/api/migrations", json=body)
                    assert r.status_code == 201, r.text
                    mid = r.json()["id"]

                    # Two AI drafts: the first refused as a wrong key is, the second used.
                    for _ in range(2):
                        r = await http.post(f"/api/migrations/{mid}/scans", json={"draft_plan": True})
                        assert r.status_code == 202, r.text
                        scan = await poll(
                            http, f"/api/scans/{r.json()['scan_id']}", lambda s: s["status"] != "RUNNING", timeout=60
                        )
                        assert scan["status"] == "COMPLETED", scan["error"]
                    assert len(openai_calls) == 2 and {c["authorization"] for c in openai_calls} == {
                        f"Bearer {openai_key}"
                    }
                    versions = (await http.get(f"/api/migrations/{mid}/plan/versions")).json()
                    assert versions[-1]["origin"] == "ai", versions[-1]
                    r = await http.put(
                        f"/api/migrations/{mid}/plan",
                        json={
                            "base_version": versions[-1]["version"],
                            "plan": structure_only_plan().model_dump(mode="json"),
                        },
                    )
                    assert r.status_code == 201, r.text
                    assert (await http.post(f"/api/migrations/{mid}/plan/approve", json={})).status_code == 200

                    # A wrong Stripe key: refused, and the error shown names no key.
                    monkeypatch.setenv("MIGRAYT_STRIPE_API_KEY", wrong_stripe_key)
                    monkeypatch.setenv("MIGRAYT_STRIPE_API_BASE", refusing_url)
                    r = await http.post(f"/api/migrations/{mid}/checkout")
                    assert r.status_code == 502 and "Stripe did not create the checkout" in r.text, r.text
                    assert leaks(r.text, canaries) == [], r.text
                    monkeypatch.setenv("MIGRAYT_STRIPE_API_KEY", stripe_key)
                    monkeypatch.setenv("MIGRAYT_STRIPE_API_BASE", stripe_api.url)

                    r = await http.post(f"/api/migrations/{mid}/checkout")
                    assert r.status_code == 201, r.text
                    [sent] = stripe_api.calls("/v1/checkout/sessions")
                    assert sent.headers["authorization"] == f"Bearer {stripe_key}"
                    event = checkout_completed(r.json()["checkout_id"])
                    refused = await anonymous.post(
                        "/api/billing/webhook",
                        content=event,
                        headers={"Stripe-Signature": stripe_signed(event, "whsec_not_ours")},
                    )
                    assert refused.status_code == 400
                    paid = await anonymous.post(
                        "/api/billing/webhook",
                        content=event,
                        headers={"Stripe-Signature": stripe_signed(event, webhook_secret)},
                    )
                    assert paid.status_code == 200, paid.text

                    r = await http.post(f"/api/migrations/{mid}/runs")
                    assert r.status_code == 202, r.text
                    run_id = r.json()["run_id"]
                    final = await wait_final(mine, tenant, run_id)
                    assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final
                    assert final.counters["create_items"].created == spec.items
                    # The worker reported the run's writes to Stripe with the key.
                    deadline = time.monotonic() + 20
                    while not (meter := stripe_api.calls("/v1/billing/meter_events")) and time.monotonic() < deadline:
                        await asyncio.sleep(0.2)
                    assert meter and {m.headers["authorization"] for m in meter} == {f"Bearer {stripe_key}"}
                    assert (await http.get(f"/api/migrations/{run_id}")).status_code == 200

        # A codec key list that cannot be used is refused without quoting the key.
        for spec_text in (f"{codec_kid}:{codec_b64[:-4]}", f"{codec_kid}:{codec_b64}!", f"{codec_kid}{codec_b64}"):
            with pytest.raises(CodecKeyError) as refused_key:
                parse_keys(spec_text)
            assert leaks(str(refused_key.value), canaries | {codec_b64[:-4]}) == []

    worker_log = log_path.read_text(errors="replace")
    assert "reported" in worker_log and "AI drafting failed" in worker_log, (
        "the worker's log does not show the paths checked"
    )
    assert leaks(worker_log, canaries) == [], "secret in the worker's log"
    assert codec_key not in log_path.read_bytes()
    assert leaks(formatted(caplog.records), canaries) == [], "secret in the test process's or the API's log records"
    assert leaks("\n".join(answers), canaries) == [], "secret in an API answer"

    rows = await all_table_rows(stack)
    assert any(mid in v for v in rows["audit_event"]) and rows["checkout"]
    for table, values in rows.items():
        assert leaks("\n".join(values), canaries) == [], f"secret in clear in table {table}"

    history, kids = await history_bytes(client, {run_id, f"scan-{scan['id']}", scan["id"]})
    assert run_id.encode() in history
    assert kids == {codec_kid}, f"the run's payloads were not sealed with the canary codec key: {kids}"
    assert leaks(history.decode("utf-8", "replace"), canaries) == [], "secret in Temporal history"
    assert codec_key not in history
