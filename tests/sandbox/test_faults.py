"""Fault injection in front of a stand-in service: what a client sees, and whether the write happened."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.faults import FaultController, FaultMiddleware, Service, is_write
from migrayt.sandbox.server import BackgroundServer

TIMEOUT = httpx.Timeout(10.0)


def stand_in_app() -> FastAPI:
    """A service with one kind of write, one read-only POST and an admin state endpoint."""
    app = FastAPI()
    items: list[dict] = []

    @app.post("/items", status_code=201)
    def create(body: dict) -> dict:
        items.append(body)
        return {"id": len(items)}

    @app.get("/items")
    def read() -> dict:
        return {"count": len(items)}

    @app.post("/rest/api/3/search/jql")
    def search(body: dict) -> dict:
        return {"issues": [], "total": len(items)}

    @app.post("/acme/Phoenix/_apis/wit/wiql")
    def wiql(body: dict) -> dict:
        return {"workItems": []}

    @app.get("/_sandbox/state")
    def state() -> dict:
        return {"items": len(items)}

    return app


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wrapped(service: Service, config: FaultConfig | None = None, clock=time.monotonic):
    controller = FaultController(config, clock=clock)
    return FaultMiddleware(stand_in_app(), controller, service), controller


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox", timeout=TIMEOUT)


async def state_items(client: httpx.AsyncClient) -> int:
    response = await client.get("/_sandbox/state")
    assert response.status_code == 200
    return response.json()["items"]


async def test_jira_429_has_atlassian_headers_and_is_not_applied() -> None:
    app, controller = wrapped("jira", FaultConfig(share_429=1.0, retry_after_seconds=2, seed=1))
    async with client_for(app) as client:
        response = await client.post("/items", json={"summary": "x"})
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", response.headers["X-RateLimit-Reset"])
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert int(response.headers["X-RateLimit-Limit"]) > 0
        assert "RateLimit-Reason" not in response.headers  # an injected 429 names no scope
        assert response.json()["errorMessages"]
        assert await state_items(client) == 0
    assert controller.counters.throttled == 1
    assert controller.counters.requests == 1  # the admin read is not counted


async def test_ado_429_has_microsoft_headers_and_tf400733_and_is_not_applied() -> None:
    app, controller = wrapped("ado", FaultConfig(share_429=1.0, retry_after_seconds=3))
    async with client_for(app) as client:
        response = await client.post("/items", json={"title": "x"})
        assert response.status_code == 429
        headers = response.headers
        assert headers["Retry-After"] == "3"
        assert headers["X-RateLimit-Resource"]
        assert float(headers["X-RateLimit-Delay"]) >= 0
        assert int(headers["X-RateLimit-Limit"]) > 0
        assert headers["X-RateLimit-Remaining"] == "0"
        assert int(headers["X-RateLimit-Reset"]) >= int(time.time())
        assert response.json()["message"].startswith("TF400733:")
        assert response.json()["typeKey"] == "RequestBlockedException"
        assert await state_items(client) == 0
    assert controller.counters.throttled == 1


@pytest.mark.parametrize("service", ["ado", "jira"])
async def test_5xx_is_not_applied(service: Service) -> None:
    app, controller = wrapped(service, FaultConfig(share_5xx=1.0, seed=3))
    async with client_for(app) as client:
        statuses = {(await client.post("/items", json={})).status_code for _ in range(12)}
        assert statuses <= {500, 502, 503}
        assert len(statuses) > 1  # a mix, as behind a real proxy
        assert await state_items(client) == 0
    assert controller.counters.server_errors == 12


async def test_shares_are_a_proportion_and_reproducible_with_a_seed() -> None:
    async def run() -> list[int]:
        app, _ = wrapped("jira", FaultConfig(share_429=0.3, seed=42))
        async with client_for(app) as client:
            return [(await client.get("/items")).status_code for _ in range(200)]

    first, second = await run(), await run()
    assert first == second
    assert 30 <= first.count(429) <= 90


async def test_rate_limit_throttles_beyond_rps_and_refills() -> None:
    clock = FrozenClock()
    app, controller = wrapped("jira", FaultConfig(rate_limit_rps=5), clock=clock)
    async with client_for(app) as client:
        statuses = [(await client.get("/items")).status_code for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
        throttled = await client.post("/items", json={})
        assert throttled.status_code == 429
        assert throttled.headers["RateLimit-Reason"] == "jira-burst-based"
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.headers["X-RateLimit-Limit"] == "5"
        assert await state_items(client) == 0

        clock.now += 1.0  # a second later the bucket is full again
        assert [(await client.get("/items")).status_code for _ in range(6)] == [200] * 5 + [429]
    assert controller.counters.throttled == 5


async def test_near_the_limit_jira_warns_and_ado_delays_with_headers() -> None:
    clock = FrozenClock()
    jira, _ = wrapped("jira", FaultConfig(rate_limit_rps=10), clock=clock)
    ado, _ = wrapped("ado", FaultConfig(rate_limit_rps=10), clock=clock)
    async with client_for(jira) as client:
        responses = [await client.get("/items") for _ in range(10)]
        assert "X-RateLimit-NearLimit" not in responses[0].headers
        assert responses[-1].status_code == 200
        assert responses[-1].headers["X-RateLimit-NearLimit"] == "true"
    async with client_for(ado) as client:
        responses = [await client.get("/items") for _ in range(10)]
        assert "X-RateLimit-Delay" not in responses[0].headers
        last = responses[-1]
        assert last.status_code == 200
        assert float(last.headers["X-RateLimit-Delay"]) > 0
        assert int(last.headers["X-RateLimit-Remaining"]) < int(last.headers["X-RateLimit-Limit"])
        assert last.headers["X-RateLimit-Resource"]


async def test_latency_is_added() -> None:
    app, _ = wrapped("ado", FaultConfig(latency_ms=150, jitter_ms=50, seed=1))
    async with client_for(app) as client:
        started = time.perf_counter()
        response = await client.get("/items")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.15


async def test_faults_switch_at_run_time_through_the_admin_endpoint() -> None:
    app, controller = wrapped("jira")
    async with client_for(app) as client:
        assert (await client.post("/items", json={})).status_code == 201

        put = await client.put("/_sandbox/faults", json={"share_429": 1.0})
        assert put.status_code == 200
        assert put.json()["config"]["share_429"] == 1.0
        assert (await client.post("/items", json={})).status_code == 429

        patch = await client.patch("/_sandbox/faults", json={"share_429": 0, "latency_ms": 5})
        assert patch.status_code == 200
        assert (await client.post("/items", json={})).status_code == 201

        # Bad values and unknown settings are refused and change nothing.
        assert (await client.patch("/_sandbox/faults", json={"share_429": 2})).status_code == 422
        assert (await client.patch("/_sandbox/faults", json={"share_of_chaos": 1})).status_code == 422
        assert (await client.put("/_sandbox/faults", json={"rate_limit_rps": -1})).status_code == 422

        body = (await client.get("/_sandbox/faults")).json()
        assert body["config"]["share_429"] == 0
        assert body["config"]["latency_ms"] == 5
        assert body["counters"]["throttled"] == 1
        assert body["counters"]["requests"] == 3
        assert await state_items(client) == 2
    assert controller.config.latency_ms == 5


async def test_admin_paths_bypass_faults() -> None:
    app, _ = wrapped("ado", FaultConfig(share_5xx=1.0, share_429=1.0))
    async with client_for(app) as client:
        assert (await client.get("/_sandbox/faults")).status_code == 200
        assert await state_items(client) == 0


def test_which_requests_are_writes() -> None:
    assert is_write("jira", "POST", "/rest/api/3/issue")
    assert is_write("jira", "POST", "/rest/api/3/issue/bulk")
    assert is_write("jira", "PUT", "/rest/api/3/issue/PHX-1")
    assert is_write("jira", "DELETE", "/rest/api/3/issue/PHX-1")
    assert not is_write("jira", "POST", "/rest/api/3/search/jql")
    assert not is_write("jira", "POST", "/rest/api/3/search")
    assert not is_write("jira", "GET", "/rest/api/3/issue/PHX-1")
    assert is_write("ado", "PATCH", "/acme/Phoenix/_apis/wit/workitems/12")
    assert is_write("ado", "POST", "/acme/Phoenix/_apis/wit/workitems/$Task")
    assert not is_write("ado", "POST", "/acme/Phoenix/_apis/wit/wiql")
    assert not is_write("ado", "POST", "/acme/Phoenix/Phoenix%20Team/_apis/wit/wiql")
    assert not is_write("ado", "POST", "/acme/_apis/wit/workitemsbatch")


# --- over real HTTP: only a real server has a connection to drop ---------------------------------


@pytest.fixture
def served_jira() -> Iterator[tuple[str, FaultController]]:
    app, controller = wrapped("jira", FaultConfig(share_drop_after_write=1.0))
    with BackgroundServer({"jira": (app, 0)}) as server:
        yield server.url("jira"), controller


async def test_drop_after_write_applies_the_write_but_the_client_gets_no_response(
    served_jira: tuple[str, FaultController], caplog: pytest.LogCaptureFixture
) -> None:
    url, controller = served_jira
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/items", json={"summary": "lost answer"})
        # The write landed even though its answer never arrived.
        assert await state_items(client) == 1

        # Reads and read-only POSTs are answered normally.
        assert (await client.get("/items")).json() == {"count": 1}
        search = await client.post("/rest/api/3/search/jql", json={"jql": "project = PHX"})
        assert search.status_code == 200

        # A retry on the same client works (new connection) and is dropped again: now there are two.
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/items", json={"summary": "lost answer"})
        assert await state_items(client) == 2
    assert controller.counters.dropped_after_write == 2
    assert not [r for r in caplog.records if r.name == "uvicorn.error" and r.levelname == "ERROR"]


async def test_admin_helper_switches_faults_on_a_served_service() -> None:
    from migrayt.sandbox.testing import SandboxAdmin, sandbox_state, set_faults

    app, controller = wrapped("ado")
    with BackgroundServer({"ado": (app, 0)}) as server:
        url = server.url("ado")
        async with SandboxAdmin(url) as admin, httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
            await admin.set_faults(share_5xx=1.0)
            assert (await client.post("/items", json={})).status_code >= 500
            assert (await admin.faults())["counters"]["server_errors"] == 1
            await admin.reset_counters()
            await admin.replace_faults()
            assert (await client.post("/items", json={})).status_code == 201
            assert (await admin.state()) == {"items": 1}
            counters = (await admin.faults())["counters"]
            assert counters["requests"] == 1
            assert counters["server_errors"] == counters["throttled"] == 0
        # The blocking variants, for sync tests and scripts.
        set_faults(url, latency_ms=1)
        assert controller.config.latency_ms == 1
        assert sandbox_state(url) == {"items": 1}


async def test_a_hold_keeps_matching_requests_unanswered_and_unapplied_until_lifted() -> None:
    import asyncio

    app, controller = wrapped("jira")
    async with client_for(app) as client:
        await client.patch("/_sandbox/faults", json={"hold": ["POST /items"], "hold_after": 1})
        assert (await client.post("/items", json={})).status_code == 201  # the first passes
        held = asyncio.ensure_future(client.post("/items", json={}))
        while (await client.get("/_sandbox/faults")).json()["counters"]["held_now"] < 1:
            await asyncio.sleep(0.01)
        # Held: no answer yet and not written; other requests are served meanwhile.
        assert not held.done()
        assert (await client.get("/items")).json() == {"count": 1}

        await client.patch("/_sandbox/faults", json={"hold": []})
        assert (await held).status_code == 201
        counters = (await client.get("/_sandbox/faults")).json()["counters"]
        assert counters["held"] == 1 and counters["held_now"] == 0
        assert (await client.get("/items")).json() == {"count": 2}


def test_a_hold_pattern_is_checked() -> None:
    with pytest.raises(ValueError, match="METHOD path-regex"):
        FaultConfig(hold=["/rest/api/3/issue/bulk"])
    with pytest.raises(ValueError):
        FaultConfig(hold=["POST /rest/(api"])
    assert FaultConfig(hold=[r"POST /rest/api/3/issue/bulk"]).holds("post", "/rest/api/3/issue/bulk")
    assert not FaultConfig(hold=[r"POST /rest/api/3/issue/bulk"]).holds("GET", "/rest/api/3/issue/bulk")
