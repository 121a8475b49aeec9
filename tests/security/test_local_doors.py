"""A web page cannot drive the local default (issue 12, part 2).

With authentication off — the embedded default on loopback — every request is admin. What keeps a web
page from using that: the Host must be one of the server's names (DNS rebinding), a state-changing
request from a browser must come from this server's own pages (Origin/Referer), every web form carries
its session's CSRF token, requests through a proxy are refused, and auth off cannot be bound to a
network interface. The web cookie holds a server-side session id that signing out revokes, and every
page is served with a CSP that allows no inline script and no framing.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.api.app import create_app
from migrayt.sandbox.server import DEFAULT_ADO_PAT, DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN
from migrayt.sandbox.testing import running_sandbox
from migrayt.settings import Settings
from tests.api.conftest import ADMIN_TOKEN, served
from tests.api.helpers import migration_body, poll
from tests.security.web_forms import csrf_of, page_token

LOCAL = "doors-local"
SIGNED_IN = "doors-signed-in"
ATTACKER = "https://attacker.example"
INJECTION = 'PHX" OR project != "PHX'


def local_server(stack, **more):
    """The embedded default: auth `embedded`, no database URL, bound to loopback — so auth is off."""
    key = SecretStr(Fernet.generate_key().decode())
    return served(stack, auth="embedded", database_url=None, tenant=LOCAL, secret_key=key, **more)


def shared_server(stack):
    key = SecretStr(Fernet.generate_key().decode())
    return served(stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), secret_key=key)


@pytest.fixture(scope="module")
def sandbox():
    with running_sandbox(items=6, seed=61) as server:
        yield server


def ado_form(sandbox, name: str) -> dict[str, str]:
    return {"name": name, "organization_url": sandbox.ado_url, "project": "Phoenix", "pat": DEFAULT_ADO_PAT}


async def connection_names(http: httpx.AsyncClient) -> set[str]:
    r = await http.get("/api/connections")
    assert r.status_code == 200, r.text
    return {c["name"] for c in r.json()}


async def migration_names(http: httpx.AsyncClient) -> list[str]:
    r = await http.get("/api/migrations")
    assert r.status_code == 200, r.text
    return [m["name"] for m in r.json()]


async def test_a_rebinding_host_name_is_refused_on_the_embedded_default(stack):
    """A page on rebind.attacker.example whose name now resolves to 127.0.0.1 reaches the port, not the API."""
    nowhere = SimpleNamespace(ado_url="http://127.0.0.1:9/ado", jira_url="http://127.0.0.1:9/jira")
    async with local_server(stack) as api, api.client() as http:
        port = urlsplit(api.url).port
        rebound = {"Host": f"rebind.attacker.example:{port}"}
        r = await http.post("/api/migrations", json=migration_body(nowhere, LOCAL, name="rebound"), headers=rebound)
        assert r.status_code == 400, r.text
        assert (await http.get("/api/whoami", headers=rebound)).status_code == 400
        assert (await http.get("/app", headers=rebound)).status_code == 400
        assert "rebound" not in await migration_names(http)
        # The server's own names still work, with or without the port.
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
            assert (await http.get("/api/whoami", headers={"Host": host})).status_code == 200, host
    async with shared_server(stack) as api, api.client(ADMIN_TOKEN) as http:  # in every mode
        assert (await http.get("/api/health", headers={"Host": "rebind.attacker.example"})).status_code == 400


async def test_a_cross_site_post_is_refused_and_saves_nothing(stack, sandbox):
    """Another site's form (no cookie, foreign Origin or Referer) cannot save a connection or create anything."""
    async with local_server(stack) as api, api.client() as http:
        before = await connection_names(http)
        r = await http.post(
            "/app/connections/ado", data=ado_form(sandbox, "from-another-site"), headers={"Origin": ATTACKER}
        )
        assert r.status_code == 403, (r.status_code, r.text[:300])
        r = await http.post(
            "/app/connections/ado", data=ado_form(sandbox, "by-referer"), headers={"Referer": f"{ATTACKER}/page"}
        )
        assert r.status_code == 403, (r.status_code, r.text[:300])
        r = await http.post("/app/connections/ado", data=ado_form(sandbox, "null-origin"), headers={"Origin": "null"})
        assert r.status_code == 403, (r.status_code, r.text[:300])
        # The API too: a page may send a "simple" text/plain POST holding JSON.
        body = {"kind": "ado", **ado_form(sandbox, "api-from-another-site")}
        for headers in ({"Origin": ATTACKER, "Content-Type": "text/plain"}, {"Origin": ATTACKER}):
            r = await http.post("/api/connections", json=body, headers=headers)
            assert r.status_code == 403, (headers, r.status_code, r.text[:300])
        assert await connection_names(http) == before

        # This server's own origin, and clients that are no browser (the CLI, curl: no Origin), still work.
        r = await http.post("/api/connections", json={**body, "name": "same-origin"}, headers={"Origin": api.url})
        assert r.status_code == 201, r.text
        r = await http.post("/api/connections", json={**body, "name": "from-curl"})
        assert r.status_code == 201, r.text
        assert await connection_names(http) == before | {"same-origin", "from-curl"}


async def test_a_web_form_without_its_session_token_is_refused(stack, sandbox):
    """Even same-origin, a form POST must carry its session's CSRF token; the right one goes through."""
    async with local_server(stack) as api, api.client() as browser, api.client() as other_browser:
        own = {"Origin": api.url}
        token = await page_token(browser, "/app/connect")
        others = await page_token(other_browser, "/app/connect")
        assert token != others  # per session
        before = await connection_names(browser)
        for refused in ({}, {"csrf_token": ""}, {"csrf_token": "guessed"}, {"csrf_token": others}):
            r = await browser.post(
                "/app/connections/ado", data={**ado_form(sandbox, "no-token"), **refused}, headers=own
            )
            assert r.status_code == 403, (refused, r.status_code, r.text[:300])
        # No session cookie at all (a client that never loaded a page), even with a token from elsewhere.
        async with api.client() as cookieless:
            r = await cookieless.post(
                "/app/connections/ado", data={**ado_form(sandbox, "no-cookie"), "csrf_token": token}
            )
            assert r.status_code == 403, r.text[:300]
        assert await connection_names(browser) == before

        r = await browser.post(
            "/app/connections/ado", data={**ado_form(sandbox, "with-token"), "csrf_token": token}, headers=own
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/app/connect?saved="), (
            r.status_code,
            r.text[:300],
        )
        assert await connection_names(browser) == before | {"with-token"}


async def test_the_web_form_refuses_a_project_key_the_api_refuses(stack, sandbox):
    """The web goes through the API's model: a project key that would be JQL is refused, nothing stored."""
    async with local_server(stack) as api, api.client() as http:
        ado = await http.post("/api/connections", json={"kind": "ado", **ado_form(sandbox, "key-ado")})
        jira = await http.post(
            "/api/connections",
            json={
                "kind": "jira_cloud",
                "name": "key-jira",
                "site_url": sandbox.jira_url,
                "email": DEFAULT_JIRA_EMAIL,
                "api_token": DEFAULT_JIRA_TOKEN,
            },
        )
        assert ado.status_code == 201 and jira.status_code == 201, (ado.text, jira.text)
        token = await page_token(http, "/app/connect")
        form = {
            "name": "injected key",
            "ado_connection": ado.json()["id"],
            "jira_connection": jira.json()["id"],
            "csrf_token": token,
        }
        for key in (INJECTION, "P", "1PHX", "PHX-1", "A" * 11):
            r = await http.post("/app/migrations", data={**form, "project_key": key})
            assert r.status_code == 400, (key, r.status_code, r.text[:300])
            assert "Jira project key" in r.text and INJECTION not in r.text
        assert "injected key" not in await migration_names(http)
        r = await http.post(
            "/app/migrations", data={**form, "name": "good key", "project_key": "phx"}
        )  # typed in lower case
        assert r.status_code == 303, r.text[:300]
        [made] = [m for m in (await http.get("/api/migrations")).json() if m["name"] == "good key"]
        assert made["target"]["project_key"] == "PHX"


def cookie_attributes(response: httpx.Response, name: str) -> dict[str, str | bool]:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    first, *attributes = [part.strip() for part in header.split(";")]
    found: dict[str, str | bool] = {"value": first.split("=", 1)[1]}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        found[key.lower()] = value or True
    return found


async def sign_in(http: httpx.AsyncClient, token: str) -> httpx.Response:
    form_token = await page_token(http, "/app/login")
    return await http.post("/app/login", data={"token": token, "csrf_token": form_token})


async def test_the_cookie_holds_a_session_that_signing_out_revokes(stack):
    async with shared_server(stack) as api:
        token = await api.issue_token(SIGNED_IN, name="browser")
        async with api.client() as http:
            r = await sign_in(http, token)
            assert r.status_code == 303 and r.headers["location"] == "/app", r.text[:300]
            cookie = cookie_attributes(r, "migrayt_session")
            assert cookie["value"] != token and token not in r.headers.get("set-cookie", "")
            assert (
                cookie.get("httponly") is True
                and str(cookie.get("samesite")).lower() == "strict"
                and cookie.get("path") == "/app"
            )
            assert "secure" not in cookie  # plain http here; over https it is Secure (below)
            home = await http.get("/app")
            assert home.status_code == 200 and SIGNED_IN in home.text
            old_cookie, old_form_token = str(cookie["value"]), csrf_of(home.text)

            # A sign-in form without its double-submit token (another site's, say) opens nothing.
            async with api.client() as fresh:
                r = await fresh.post("/app/login", data={"token": token})
                assert r.status_code == 403 and "migrayt_session" not in r.headers.get("set-cookie", "")

            r = await http.post("/app/logout", data={"csrf_token": old_form_token})
            assert r.status_code == 303 and r.headers["location"] == "/app/login"

        # The old cookie, replayed, no longer works: not for pages, not for forms.
        async with httpx.AsyncClient(base_url=api.url, cookies={"migrayt_session": old_cookie}) as replay:
            r = await replay.get("/app")
            assert r.status_code == 303 and r.headers["location"] == "/app/login"
            r = await replay.post("/app/connections/ado", data={"name": "after sign-out", "csrf_token": old_form_token})
            assert r.status_code == 303 and r.headers["location"] == "/app/login"

        # Revoking the API token ends the sessions opened with it.
        async with api.client() as http, api.client(ADMIN_TOKEN) as admin:
            await sign_in(http, token)
            assert (await http.get("/app")).status_code == 200
            [listed] = [
                t
                for t in (await admin.get("/api/admin/tokens")).json()
                if t["tenant"] == SIGNED_IN and t["name"] == "browser"
            ]
            assert (await admin.delete(f"/api/admin/tokens/{listed['id']}")).status_code in (200, 204)
            assert (await http.get("/app")).status_code == 303


async def test_over_https_the_session_cookie_is_secure(stack):
    settings = stack.settings.model_copy(update=dict(auth="on", admin_token=SecretStr(ADMIN_TOKEN)))
    app = create_app(settings)
    app.state.service = stack.service  # no lifespan needed for the sign-in
    async with httpx.AsyncClient(base_url="http://localhost", transport=httpx.ASGITransport(app=app)) as plain:
        r = await plain.post(
            "/api/admin/tokens",
            json={"tenant": SIGNED_IN, "name": "https"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["token"]
    async with httpx.AsyncClient(base_url="https://localhost", transport=httpx.ASGITransport(app=app)) as https:
        r = await sign_in(https, token)
        assert r.status_code == 303, r.text[:300]
        cookie = cookie_attributes(r, "migrayt_session")
        assert (
            cookie.get("secure") is True
            and cookie.get("httponly") is True
            and str(cookie.get("samesite")).lower() == "strict"
        )


INLINE = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|javascript:", re.IGNORECASE)


def web_get_routes() -> list[str]:
    from migrayt.api.web import router

    return sorted({r.path for r in router.routes if "GET" in getattr(r, "methods", ())})


async def test_every_web_page_has_the_security_headers(stack, worker, sandbox):
    """Every GET route of the web app, walked with real objects: a CSP with no inline script, no framing, nosniff."""
    async with local_server(stack) as api, api.client() as http:
        r = await http.post("/api/migrations", json=migration_body(sandbox, LOCAL, name="headers", approve=True))
        assert r.status_code == 201, r.text
        migration_id = r.json()["id"]
        run = await http.post(f"/api/migrations/{migration_id}/runs", json={})
        assert run.status_code == 202, run.text
        run_id = run.json()["run_id"]
        # Finished before the walk: a run left going would outlive this test's worker and its sandbox.
        await poll(
            http,
            f"/api/migrations/{run_id}",
            lambda body: body["status"] in ("COMPLETED", "INCOMPLETE", "FAILED", "CANCELLED"),
        )
        # The pages of a validation and of a savepoint need one of each (a validation runs to its end first,
        # as the run did). The report is walked once per format.
        started = await http.post(f"/api/migrations/{migration_id}/validations", json={})
        assert started.status_code == 202, started.text
        validation_id = started.json()["validation_id"]
        await poll(
            http,
            f"/api/migrations/{migration_id}/validations/{validation_id}",
            lambda body: body["status"] not in ("RUNNING", "PAUSED"),
        )
        savepoints = (await http.get(f"/api/runs/{run_id}/savepoints")).json()
        assert savepoints, "a finished run keeps a savepoint of its last phase"
        params = {
            "migration_id": migration_id,
            "run_id": run_id,
            "validation_id": validation_id,
            "name": savepoints[0]["name"],
        }
        routes = web_get_routes()
        assert len(routes) >= 14, routes
        urls = []
        for path in routes:
            if path == "/app/static/{name}":
                urls += ["/app/static/app.js", "/app/static/app.css"]
                continue
            if "{fmt}" in path:
                urls += [path.format(**params, fmt=fmt) for fmt in ("html", "csv", "json")]
                continue
            names = re.findall(r"{(\w+)}", path)
            assert set(names) <= params.keys(), (
                f"{path}: this test has no object for {set(names) - params.keys()}; add one"
            )
            urls.append(path.format(**params))
        for url in urls:
            r = await http.get(url)
            assert r.status_code in (200, 303, 307), (url, r.status_code, r.text[:200])
            csp = r.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp, (
                url,
                csp,
            )
            assert r.headers.get("x-frame-options") == "DENY", url
            assert r.headers.get("x-content-type-options") == "nosniff", url
            assert r.headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin"), url
            if r.headers.get("content-type", "").startswith("text/html"):
                assert not INLINE.search(r.text), (url, INLINE.search(r.text).group(0))
        # API answers: nothing to render, nothing may frame them.
        r = await http.get("/api/whoami")
        assert r.headers.get("x-content-type-options") == "nosniff" and "frame-ancestors 'none'" in r.headers.get(
            "content-security-policy", ""
        )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "migrate.example.com"])
def test_auth_off_is_refused_on_a_network_interface(host):
    with pytest.raises(ValueError, match="loopback"):
        create_app(Settings(auth="off", api_host=host))
    # The default mode does not open up there: it turns authentication on.
    assert create_app(Settings(auth="embedded", database_url=None, api_host=host)).state.auth_mode == "on"


def test_auth_off_cannot_switch_the_host_check_off():
    with pytest.raises(ValueError, match="ALLOWED_HOSTS"):
        create_app(Settings(auth="off", allowed_hosts=["*"]))
    create_app(Settings(auth="on", allowed_hosts=["*"]))  # an operator's choice behind their own proxy


async def test_requests_through_a_proxy_are_refused_while_auth_is_off(stack):
    """A reverse proxy in front of a loopback `migrayt up` would hand the open API to everyone it serves."""
    async with local_server(stack) as api, api.client() as http:
        assert (await http.get("/api/whoami")).status_code == 200
        for header in (
            {"X-Forwarded-For": "203.0.113.9"},
            {"Forwarded": "for=203.0.113.9;proto=https"},
            {"X-Real-IP": "203.0.113.9"},
            {"X-Forwarded-Host": "migrate.example.com"},
        ):
            r = await http.get("/api/whoami", headers=header)
            assert r.status_code == 403 and "MIGRAYT_AUTH=on" in r.json()["detail"], (header, r.text)
    async with (
        shared_server(stack) as api,
        api.client(ADMIN_TOKEN) as http,
    ):  # with auth on, a proxy is the normal set-up
        assert (await http.get("/api/health", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 200
