"""The server calls only public addresses on a shared server (auth on): SSRF through a connection test, a scan
and a run is refused in every spelling of an internal address, before a single byte reaches it.

A trap listener on loopback stands where an internal service would be: every test asserts that NO
connection arrived there. A stand-in "target" on 127.0.0.2 is the one internal host the operator allowed
(`MIGRAYT_OUTBOUND_ALLOW=127.0.0.2`): it is reached, and it redirects to the trap, answers non-JSON, leaks
user fields, or errs with a body — none of which may come back to the tenant.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from migrayt.connections import SourceConnection
from migrayt.connectors.http import HttpSettings, RedirectRefused, ResilientHttp
from migrayt.connectors.outbound import OutboundPolicy, OutboundRefused, parse_allow_list, refused_class, service_url
from migrayt.sandbox.testing import running_sandbox
from migrayt.settings import Settings
from migrayt.worker.main import run_worker
from tests.api.conftest import ADMIN_TOKEN, served
from tests.api.helpers import migration_body, poll

ALLOWED_HOST = "127.0.0.2"  # the operator's one allowed internal host
# Every spelling of loopback the review reached it with (127.0.0.1 itself, and a name that resolves to it).
LOOPBACK_SPELLINGS = ["127.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]", "localhost", "127.0.0.1"]
# No listener can stand on these; they must be refused before any connect is tried.
OTHER_INTERNAL = ["169.254.169.254", "10.20.30.40"]
LEAK = "LEAK-7f3c"  # in every body and user field of the stand-in target: must never come back


# --------------------------------------------------------------------------- listeners


@dataclass
class Listener:
    """A minimal HTTP/1.1 server; `answer(method, path)` gives (status, headers, body). Counts connections."""

    host: str
    answer: Callable[[str, str], tuple[int, dict[str, str], bytes]]
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.requests.append(f"{method} {path}")
            status, headers, body = self.answer(method, path)
            lines = [
                f"HTTP/1.1 {status} X",
                f"content-length: {len(body)}",
                "connection: close",
                *(f"{k}: {v}" for k, v in headers.items()),
            ]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def listening(
    host: str, answer: Callable[[str, str], tuple[int, dict[str, str], bytes]]
) -> AsyncIterator[Listener]:
    listener = Listener(host, answer)
    server = await asyncio.start_server(listener._serve, host, 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()


def internal_service(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """What an internal service would answer: anything at all would tell a port scanner it is there."""
    return 200, {"content-type": "application/json"}, json.dumps({"value": [], "secret": LEAK}).encode()


@pytest.fixture
async def trap() -> AsyncIterator[Listener]:
    async with listening("127.0.0.1", internal_service) as listener:
        yield listener


# --------------------------------------------------------------------------- a shared server


@dataclass
class Shared:
    api: object
    token: str
    tenant: str

    def client(self) -> httpx.AsyncClient:
        return self.api.client(self.token)  # type: ignore[attr-defined]


@asynccontextmanager
async def shared_server(stack, allow: str, tenant: str) -> AsyncIterator[Shared]:
    """API and worker with auth on, as on a shared server, on their own task queue; `allow` is the allow-list."""
    overrides = {"auth": "on", "outbound_allow": allow, "task_queue": f"migrayt-outbound-{os.getpid()}-{tenant}"}
    settings = stack.settings.model_copy(update=overrides)
    async with (
        run_worker(settings, stack.client, stack.database_url),
        served(
            stack, admin_token=SecretStr(ADMIN_TOKEN), secret_key=SecretStr(Fernet.generate_key().decode()), **overrides
        ) as api,
    ):
        yield Shared(api, await api.issue_token(tenant), tenant)


def at(host: str, port: int) -> SimpleNamespace:
    """Where migration_body points the source and the target."""
    return SimpleNamespace(ado_url=f"http://{host}:{port}/acme", jira_url=f"http://{host}:{port}")


def ado_connection(url: str) -> dict:
    return {"kind": "ado", "name": "ado", "organization_url": url, "project": "Phoenix", "pat": "a-pat-of-mine-000"}


FINAL = {"COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED"}


# --------------------------------------------------------------------------- the three doors, every spelling


async def test_a_connection_test_never_reaches_an_internal_address_in_any_spelling(stack, trap):
    async with shared_server(stack, ALLOWED_HOST, "ssrf-connect") as shared, shared.client() as http:
        for host in [*LOOPBACK_SPELLINGS, *OTHER_INTERNAL]:
            port = trap.port if host not in OTHER_INTERNAL else 80
            for body in (
                ado_connection(f"http://{host}:{port}/acme"),
                {
                    "kind": "jira_cloud",
                    "name": "j",
                    "site_url": f"http://{host}:{port}",
                    "email": "me@acme.example",
                    "api_token": "tok-0000000000",
                },
                {"kind": "jira_dc", "name": "dc", "base_url": f"http://{host}:{port}", "pat": "dc-pat-0000000000"},
            ):
                r = await http.post("/api/connections", json=body)
                assert r.status_code == 400, (host, body["kind"], r.status_code, r.text)
                assert "refused address" in r.json()["detail"], (host, r.text)
        assert (await http.get("/api/connections")).json() == []
    assert trap.connections == 0, trap.requests


async def test_a_scan_and_a_run_never_reach_an_internal_address_in_any_spelling(stack, trap):
    async with shared_server(stack, ALLOWED_HOST, "ssrf-scan") as shared, shared.client() as http:
        started: list[tuple[str, str, str]] = []
        for host in [*LOOPBACK_SPELLINGS, *OTHER_INTERNAL]:
            port = trap.port if host not in OTHER_INTERNAL else 80
            r = await http.post("/api/migrations", json=migration_body(at(host, port), shared.tenant, approve=True))  # type: ignore[arg-type]
            assert r.status_code == 201, (host, r.text)
            mid = r.json()["id"]
            scan = await http.post(f"/api/migrations/{mid}/scans", json={"draft_plan": False})
            run = await http.post(f"/api/migrations/{mid}/runs")
            assert scan.status_code == 202 and run.status_code == 202, (host, scan.text, run.text)
            started.append((host, scan.json()["scan_id"], run.json()["run_id"]))
        for host, scan_id, run_id in started:
            scan = await poll(http, f"/api/scans/{scan_id}", lambda s: s["status"] != "RUNNING")
            assert scan["status"] == "FAILED" and "refused address" in scan["error"], (host, scan)
            # Final and kept: the workflow answers FAILED just before its row (error, finished_at) is written.
            run = await poll(
                http, f"/api/migrations/{run_id}", lambda p: p["status"] in FINAL and p["finished_at"], timeout=90
            )
            assert run["status"] == "FAILED" and "refused address" in run["error"], (host, run)
    assert trap.connections == 0, trap.requests


async def test_a_redirect_from_an_allowed_host_to_loopback_is_not_followed(stack, trap):
    def redirecting(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        return 302, {"location": f"http://127.0.0.1:{trap.port}{path}"}, b""

    async with (
        listening(ALLOWED_HOST, redirecting) as allowed,
        shared_server(stack, ALLOWED_HOST, "ssrf-redirect") as shared,
        shared.client() as http,
    ):
        r = await http.post("/api/connections", json=ado_connection(f"http://{ALLOWED_HOST}:{allowed.port}/acme"))
        assert r.status_code == 400 and "redirect" in r.json()["detail"], r.text
        r = await http.post("/api/migrations", json=migration_body(at(ALLOWED_HOST, allowed.port), shared.tenant))  # type: ignore[arg-type]
        scan_id = (await http.post(f"/api/migrations/{r.json()['id']}/scans", json={"draft_plan": False})).json()[
            "scan_id"
        ]
        scan = await poll(http, f"/api/scans/{scan_id}", lambda s: s["status"] != "RUNNING")
        assert scan["status"] == "FAILED" and "HTTP 302" in scan["error"], scan
        assert allowed.connections >= 2  # the allowed host was called: the redirect is what was refused
    assert trap.connections == 0, trap.requests


async def test_the_allow_list_lets_an_internal_host_through_and_only_that_one(stack):
    with running_sandbox(items=5, seed=3) as sandbox:  # on 127.0.0.1
        async with shared_server(stack, ALLOWED_HOST, "allow-not") as shared, shared.client() as http:
            r = await http.post("/api/connections", json=ado_connection(sandbox.ado_url) | {"pat": "sandbox-pat"})
            assert r.status_code == 400 and "refused address" in r.json()["detail"], r.text
        async with shared_server(stack, "127.0.0.1", "allow-yes") as shared, shared.client() as http:
            r = await http.post("/api/connections", json=ado_connection(sandbox.ado_url) | {"pat": "sandbox-pat"})
            assert r.status_code == 201, r.text
            r = await http.post("/api/migrations", json=migration_body(sandbox, shared.tenant))
            scan_id = (await http.post(f"/api/migrations/{r.json()['id']}/scans", json={"draft_plan": False})).json()[
                "scan_id"
            ]
            scan = await poll(http, f"/api/scans/{scan_id}", lambda s: s["status"] != "RUNNING")
            assert scan["status"] == "COMPLETED", scan


async def test_answers_never_carry_the_targets_body_or_user_fields(stack):
    identity = {
        "name": f"{LEAK}-name",
        "key": f"{LEAK}-key",
        "accountId": f"{LEAK}-account",
        "emailAddress": f"{LEAK}@x",
    }

    def target(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if path.startswith(("/rest/api/2/myself", "/rest/api/3/myself")):
            return 200, {"content-type": "application/json"}, json.dumps(identity).encode()
        if path.startswith("/html/"):
            return 200, {"content-type": "text/html"}, f"<html>{LEAK} internal page</html>".encode()
        body = {"errorMessages": [f"{LEAK} error text"], "message": f"{LEAK} message"}
        return 403, {"content-type": "application/json"}, json.dumps(body).encode()

    async with (
        listening(ALLOWED_HOST, target) as allowed,
        shared_server(stack, ALLOWED_HOST, "no-echo") as shared,
        shared.client() as http,
    ):
        base = f"http://{ALLOWED_HOST}:{allowed.port}"
        dc = await http.post(
            "/api/connections", json={"kind": "jira_dc", "name": "dc", "base_url": base, "pat": "dc-pat-0000000000"}
        )
        cloud = await http.post(
            "/api/connections",
            json={
                "kind": "jira_cloud",
                "name": "c",
                "site_url": base,
                "email": "me@acme.example",
                "api_token": "tok-0000000000",
            },
        )
        html = await http.post("/api/connections", json=ado_connection(f"{base}/html/acme"))
        refused = await http.post("/api/connections", json=ado_connection(f"{base}/acme"))
        assert dc.status_code == cloud.status_code == 201, (dc.text, cloud.text)
        assert html.status_code == 400 and "not JSON" in html.json()["detail"], html.text  # was a 500 with a traceback
        assert refused.status_code == 400 and "HTTP 403" in refused.json()["detail"], refused.text
        listed = await http.get("/api/connections")

        r = await http.post(
            "/api/migrations",
            json=migration_body(SimpleNamespace(ado_url=f"{base}/acme", jira_url=base), shared.tenant),
        )
        scan_id = (await http.post(f"/api/migrations/{r.json()['id']}/scans", json={"draft_plan": False})).json()[
            "scan_id"
        ]
        scan = await poll(http, f"/api/scans/{scan_id}", lambda s: s["status"] != "RUNNING")
        assert scan["status"] == "FAILED" and "HTTP 403" in scan["error"], scan
        audit = await http.get("/api/audit")
    for answer in (dc, cloud, html, refused, listed, audit):
        assert LEAK not in answer.text, answer.text
    assert LEAK not in json.dumps(scan)


async def test_urls_with_a_query_string_fragment_or_user_info_are_refused_at_input(stack, trap):
    async with shared_server(stack, ALLOWED_HOST, "url-shape") as shared, shared.client() as http:
        good = f"http://{ALLOWED_HOST}:{trap.port}"
        for url in (
            f"{good}/_apis?",
            f"{good}/acme?x=1",
            f"{good}/acme#frag",
            f"http://user:pw@{ALLOWED_HOST}:{trap.port}/acme",
            f"ftp://{ALLOWED_HOST}/acme",
            "file:///etc/passwd",
        ):
            r = await http.post("/api/connections", json=ado_connection(url))
            assert r.status_code == 422, (url, r.text)
            body = migration_body(SimpleNamespace(ado_url=url, jira_url=good), shared.tenant)
            assert (await http.post("/api/migrations", json=body)).status_code == 422, url
            body = migration_body(SimpleNamespace(ado_url=f"{good}/acme", jira_url=url), shared.tenant)
            assert (await http.post("/api/migrations", json=body)).status_code == 422, url
    assert trap.connections == 0


# --------------------------------------------------------------------------- the client on its own


async def test_the_client_connects_to_the_address_it_checked_and_rechecks_every_connection(monkeypatch):
    """A rebinding name: public-looking (allowed) for the first connection, loopback for the next one."""
    from migrayt.connectors import outbound

    answers = iter([ALLOWED_HOST, "127.0.0.1"])
    real = outbound.anyio.getaddrinfo

    async def rebinding(host, port, **kwargs):
        if host == "rebind.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return await real(host, port, **kwargs)

    monkeypatch.setattr(outbound.anyio, "getaddrinfo", rebinding)
    async with listening(ALLOWED_HOST, internal_service) as allowed, listening("127.0.0.1", internal_service) as trap:
        trap_port = trap.port
        policy = OutboundPolicy(public_only=True, allow_networks=parse_allow_list(ALLOWED_HOST)[0])
        async with ResilientHttp(
            HttpSettings(base_url=f"http://rebind.example.test:{allowed.port}", outbound=policy, max_attempts=1)
        ) as http:
            r = await http.request("GET", "/first", idempotent=True)
            assert r.status_code == 200 and allowed.requests == [
                "GET /first"
            ]  # a name no resolver knows: the pinned address was used
            with pytest.raises(OutboundRefused, match=r"refused address: rebind.example.test \(loopback\)"):
                await http.request("GET", "/second", idempotent=True)  # connection: close, so a new connection
        async with ResilientHttp(
            HttpSettings(base_url=f"http://127.1:{trap_port}", outbound=policy, max_attempts=1)
        ) as http:
            with pytest.raises(OutboundRefused):
                await http.request("GET", "/", idempotent=True)
    assert trap.connections == 0


def self_signed(tmp_path, name: str) -> tuple[str, str]:
    """A certificate for `name` (its own CA) and its key, as files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


async def test_tls_names_the_host_while_the_connection_goes_to_the_checked_address(tmp_path, monkeypatch):
    """SNI and certificate checks use the URL's name; only the socket goes to the pinned address."""
    import ssl

    from migrayt.connectors import outbound
    from migrayt.connectors.http import TransportFailure

    cert_file, key_file = self_signed(tmp_path, "jira.corp.example")
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)
    seen_sni: list[str | None] = []
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    server_tls.sni_callback = lambda sock, name, ctx: seen_sni.append(name)

    async def pinned(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ALLOWED_HOST, port))]

    monkeypatch.setattr(outbound.anyio, "getaddrinfo", pinned)
    listener = Listener(ALLOWED_HOST, internal_service)
    server = await asyncio.start_server(listener._serve, ALLOWED_HOST, 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    policy = OutboundPolicy(public_only=True, allow_hosts=("jira.corp.example", "other.corp.example"))
    try:
        async with ResilientHttp(
            HttpSettings(base_url=f"https://jira.corp.example:{port}", outbound=policy, max_attempts=1)
        ) as http:
            assert (await http.request("GET", "/rest/api/2/myself", idempotent=True)).status_code == 200
        assert seen_sni == ["jira.corp.example"]
        async with ResilientHttp(
            HttpSettings(base_url=f"https://other.corp.example:{port}", outbound=policy, max_attempts=1)
        ) as http:
            with pytest.raises(TransportFailure) as failed:
                await http.request("GET", "/", idempotent=True)  # the certificate names another host
        assert failed.value.failure == "TLS handshake failed"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_redirect_is_an_error_not_a_success():
    def redirecting(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        return 301, {"location": "http://169.254.169.254/latest/meta-data/"}, b""

    async with listening("127.0.0.1", redirecting) as target:
        http = ResilientHttp(HttpSettings(base_url=f"http://127.0.0.1:{target.port}", max_attempts=1))
        async with http:
            with pytest.raises(RedirectRefused, match="HTTP 301: a redirect"):
                await http.request("GET", "/x", idempotent=True)


def test_loopback_stays_allowed_with_auth_off_and_is_refused_with_auth_on():
    assert not OutboundPolicy.for_settings(
        Settings(auth="embedded", database_url=None, api_host="127.0.0.1")
    ).public_only
    assert OutboundPolicy.for_settings(Settings(auth="on")).public_only
    policy = OutboundPolicy.for_settings(
        Settings(auth="on", outbound_allow="10.1.0.0/16, jira.corp.example, *.ado.corp.example")
    )
    assert policy.address_refused(ipaddress.ip_address("10.1.2.3")) is None
    assert policy.address_refused(ipaddress.ip_address("::ffff:10.1.2.3")) is None
    assert policy.address_refused(ipaddress.ip_address("10.2.0.1")) == "private"
    assert policy.host_allowed("JIRA.corp.example") and policy.host_allowed("tfs.ado.corp.example")
    assert not policy.host_allowed("evil-jira.corp.example") and not policy.host_allowed("ado.corp.example.evil.test")


# --------------------------------------------------------------------------- unit: classifier, allow-list, URL shape


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:7f00:1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("::ffff:192.168.1.1", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"),
        ("fe80::1", "link-local"),
        ("fd00::1", "unique-local"),
        ("fc00::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "this-network"),
        ("0.1.2.3", "this-network"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.1.1.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.0.8", "reserved"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("2001:db8::1", "documentation"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
    ],
)
def test_internal_addresses_are_refused_with_their_class(address, why):
    assert refused_class(address) == why


@pytest.mark.parametrize(
    "address", ["1.1.1.1", "20.190.128.1", "2606:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101", "2002:101:101::"]
)
def test_public_addresses_pass(address):
    assert refused_class(address) is None


def test_the_allow_list_setting_is_checked_at_start():
    networks, hosts = parse_allow_list("10.0.0.0/8; 192.168.4.7 ,[fd00::1], Jira.Corp.Example., *.ado.corp.example")
    assert [str(n) for n in networks] == ["10.0.0.0/8", "192.168.4.7/32", "fd00::1/128"]
    assert hosts == ("jira.corp.example", "*.ado.corp.example")
    for bad in ("10.0.0.0/33", "http://jira.corp", "jira corp", "*"):
        with pytest.raises(ValidationError):
            Settings(outbound_allow=bad)


@pytest.mark.parametrize(
    "url",
    [
        "https://dev.azure.com/acme?",
        "https://dev.azure.com/acme?x=1",
        "https://acme.atlassian.net/#x",
        "https://u:p@acme.atlassian.net",
        "https://u@acme.atlassian.net",
        "ftp://acme.atlassian.net",
        "file:///etc/passwd",
        "gopher://x",
        "https://acme.atlassian.net\\@evil",
        "https:///nohost",
        "",
    ],
)
def test_base_urls_with_query_fragment_user_info_or_another_scheme_are_refused(url):
    with pytest.raises(ValueError):
        service_url(url)
    with pytest.raises(ValidationError):
        SourceConnection(organization_url=url, project="P", pat_ref="env:X")


def test_plain_base_urls_pass():
    for url in (
        "https://dev.azure.com/acme",
        "http://tfs.corp.example:8080/tfs/DefaultCollection",
        "https://acme.atlassian.net/",
    ):
        assert service_url(url) == url
