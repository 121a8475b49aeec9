"""Serving the sandbox: ports, the `migrayt sandbox` command, and the real apps behind the faults."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from migrayt.sandbox.server import BackgroundServer, PortInUseError, bind_socket

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    return app


def test_a_busy_port_is_a_clear_error_naming_it(busy_port: int) -> None:
    with pytest.raises(PortInUseError, match=rf"port {busy_port} .*already in use"):
        bind_socket("127.0.0.1", busy_port)


def test_a_busy_second_port_releases_the_first(busy_port: int) -> None:
    free = bind_socket("127.0.0.1", 0)
    # Marked as TCP so asyncio sets TCP_NODELAY on each connection (else ~40 ms per request).
    assert free.proto == socket.IPPROTO_TCP
    first_port = free.getsockname()[1]
    free.close()
    server = BackgroundServer({"ado": (hello_app(), first_port), "jira": (hello_app(), busy_port)})
    with pytest.raises(PortInUseError, match=str(busy_port)):
        server.start()
    # Nothing left half-bound: the first port can be served right away.
    with BackgroundServer({"ado": (hello_app(), first_port)}) as again:
        assert again.ports["ado"] == first_port


async def test_background_server_serves_on_free_ports_and_stops() -> None:
    server = BackgroundServer({"a": (hello_app(), 0), "b": (hello_app(), 0)})
    with server:
        assert server.ports["a"] != server.ports["b"]
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            for name in ("a", "b"):
                response = await client.get(f"{server.url(name)}/hello")
                assert response.json() == {"hello": "world"}
        url = server.url("a")
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/hello")


# --- the real apps behind the faults ------------------------------------------------------------

import os  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from migrayt.sandbox.fault_config import FaultConfig  # noqa: E402
from migrayt.sandbox.server import SandboxServer, jira_account_id  # noqa: E402
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox  # noqa: E402

ADO_AUTH = ("", "sandbox-pat")
JIRA_AUTH = ("migrator@example.com", "sandbox-token")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(items=30, seed=7) as server:
        yield server


@pytest.fixture
async def clean_faults(sandbox: SandboxServer):
    async with SandboxAdmin.for_ado(sandbox) as ado, SandboxAdmin.for_jira(sandbox) as jira:
        yield ado, jira
        await ado.replace_faults()
        await jira.replace_faults()


def new_issue(n: int) -> dict:
    return {
        "fields": {
            "project": {"key": "PHX"},
            "issuetype": {"name": "Task"},
            "summary": f"from ADO #{n}",
            "labels": [f"ado-id-{n}"],
        }
    }


async def test_both_services_answer_with_auth_and_refuse_without(sandbox: SandboxServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/acme", sandbox.ado_url)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.jira_url)
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        item = f"{sandbox.ado_url}/Phoenix/_apis/wit/workitems/1?api-version=7.1"
        assert (await client.get(item, auth=ADO_AUTH)).json()["id"] == 1
        assert (await client.get(item)).status_code == 401
        assert (await client.get(item, auth=("", "wrong"))).status_code == 401
        myself = f"{sandbox.jira_url}/rest/api/3/myself"
        assert (await client.get(myself, auth=JIRA_AUTH)).status_code == 200
        assert (await client.get(myself)).status_code == 401
        assert (await client.get(myself, auth=("migrator@example.com", "wrong"))).status_code == 401


async def test_jira_users_come_from_the_ado_project(sandbox: SandboxServer) -> None:
    users = sandbox.sandbox.project.users
    async with httpx.AsyncClient(base_url=sandbox.jira_url, auth=JIRA_AUTH, timeout=TIMEOUT) as client:

        async def find(name: str) -> list[dict]:
            response = await client.get("/rest/api/3/user/search", params={"query": name})
            assert response.status_code == 200
            return [u for u in response.json() if u["displayName"] == name]

        visible = next(u for u in users if u.in_jira and u.email and u.jira_email_visible and not u.deleted)
        [found] = await find(visible.display_name)
        assert found["accountId"] == jira_account_id(visible.unique_name)
        assert found["emailAddress"] == visible.email

        hidden = next(u for u in users if u.in_jira and u.email and not u.jira_email_visible)
        [found] = await find(hidden.display_name)
        assert "emailAddress" not in found or not found["emailAddress"]

        ado_only = next(u for u in users if not u.in_jira)
        assert await find(ado_only.display_name) == []


async def test_jira_429_leaves_no_issue_then_switching_faults_off_lets_it_in(
    sandbox: SandboxServer, clean_faults
) -> None:
    _, jira = clean_faults
    before = (await jira.state())["issues"]["total"]
    await jira.set_faults(share_429=1.0, retry_after_seconds=1)
    async with httpx.AsyncClient(base_url=sandbox.jira_url, auth=JIRA_AUTH, timeout=TIMEOUT) as client:
        throttled = await client.post("/rest/api/3/issue", json=new_issue(9001))
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "1"
        assert "RateLimit-Reason" not in throttled.headers  # an injected 429 names no scope
        assert (await jira.state())["issues"]["total"] == before

        await jira.set_faults(share_429=0.0)
        created = await client.post("/rest/api/3/issue", json=new_issue(9001))
        assert created.status_code == 201
    assert (await jira.state())["issues"]["total"] == before + 1


async def test_jira_dropped_create_lands_but_the_client_gets_no_answer(sandbox: SandboxServer, clean_faults) -> None:
    _, jira = clean_faults
    before = (await jira.state())["issues"]
    await jira.set_faults(share_drop_after_write=1.0)
    async with httpx.AsyncClient(base_url=sandbox.jira_url, auth=JIRA_AUTH, timeout=TIMEOUT) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.post("/rest/api/3/issue", json=new_issue(9002))
        # The search that reconciliation runs is read-only: answered, and finds the lost issue.
        search = await client.post(
            "/rest/api/3/search/jql", json={"jql": "project = PHX AND labels = ado-id-9002", "fields": ["summary"]}
        )
        assert search.status_code == 200
        assert [issue["fields"]["summary"] for issue in search.json()["issues"]] == ["from ADO #9002"]
    after = await jira.state()
    assert after["issues"]["total"] == before["total"] + 1
    assert (await jira.faults())["counters"]["dropped_after_write"] == 1


async def test_ado_throttling_and_5xx_have_the_service_shape(sandbox: SandboxServer, clean_faults) -> None:
    ado, _ = clean_faults
    url = f"{sandbox.ado_url}/Phoenix/_apis/wit/workitems/1?api-version=7.1"
    async with httpx.AsyncClient(auth=ADO_AUTH, timeout=TIMEOUT) as client:
        await ado.set_faults(share_429=1.0)
        throttled = await client.get(url)
        assert throttled.status_code == 429
        assert throttled.json()["message"].startswith("TF400733")
        for header in ("Retry-After", "X-RateLimit-Resource", "X-RateLimit-Limit", "X-RateLimit-Reset"):
            assert header in throttled.headers
        await ado.replace_faults(FaultConfig(share_5xx=1.0))
        assert (await client.get(url)).status_code in (500, 502, 503)
        await ado.replace_faults()
        assert (await client.get(url)).status_code == 200


async def test_jira_state_survives_a_restart_with_a_state_dir(tmp_path) -> None:
    for attempt in range(2):
        with running_sandbox(items=10, jira_state_dir=tmp_path) as server:
            async with httpx.AsyncClient(base_url=server.jira_url, auth=JIRA_AUTH, timeout=TIMEOUT) as client:
                if attempt == 0:
                    assert (await client.post("/rest/api/3/issue", json=new_issue(7001))).status_code == 201
                issue = await client.get("/rest/api/3/issue/PHX-1")
                assert issue.status_code == 200
                assert issue.json()["fields"]["labels"] == ["ado-id-7001"]


# --- `migrayt sandbox` as a user starts it -------------------------------------------------------


def start_cli(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    command = [sys.executable, "-c", "from migrayt.api.cli import main; main()", "sandbox", *args]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for(lines: queue.Queue[str], pattern: str, timeout: float = 60.0) -> tuple[re.Match[str], str]:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen += lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if match := re.search(pattern, seen):
            return match, seen
    raise AssertionError(f"no {pattern!r} in output:\n{seen}")


async def test_cli_serves_both_until_sigterm() -> None:
    proc, lines = start_cli(
        "--ado-port", "0", "--jira-port", "0", "--items", "20", "--seed", "3", "--index-lag", "2", "--latency-ms", "1"
    )
    try:
        _, output = wait_for(lines, r"Ctrl-C")
        match = re.search(r"ADO\s+(http://\S+).*\n.*\n.*Jira\s+(http://\S+)", output)
        assert match, output
        ado_url, jira_url = match.group(1), match.group(2)
        assert ado_url.endswith("/acme")
        assert "sandbox-pat" in output and "migrator@example.com" in output
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            item = f"{ado_url}/Phoenix/_apis/wit/workitems/1?api-version=7.1"
            assert (await client.get(item, auth=ADO_AUTH)).status_code == 200
            assert (await client.get(item)).status_code == 401
            myself = f"{jira_url}/rest/api/3/myself"
            assert (await client.get(myself, auth=JIRA_AUTH)).status_code == 200
            assert (await client.get(myself)).status_code == 401
            # Fault flags reach both services; index lag is Jira's alone.
            jira_faults = (await client.get(f"{jira_url}/_sandbox/faults")).json()["config"]
            ado_faults = (await client.get(f"{ado_url.rsplit('/', 1)[0]}/_sandbox/faults")).json()["config"]
            assert jira_faults["search_index_lag_seconds"] == 2
            assert ado_faults["search_index_lag_seconds"] == 0
            assert jira_faults["latency_ms"] == ado_faults["latency_ms"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        wait_for(lines, r"Sandbox stopped", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_never_echoes_a_chosen_secret() -> None:
    proc, lines = start_cli("--ado-port", "0", "--jira-port", "0", "--items", "10", "--ado-pat", "s3cr3t-pat-value")
    try:
        _, output = wait_for(lines, r"Ctrl-C")
        assert "s3cr3t-pat-value" not in output
        assert "--ado-pat" in output
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_on_a_busy_port_says_which_and_exits(busy_port: int) -> None:
    proc, lines = start_cli("--ado-port", "0", "--jira-port", str(busy_port), "--items", "10")
    try:
        assert proc.wait(timeout=60) == 2
        wait_for(lines, rf"port {busy_port} .*already in use", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
