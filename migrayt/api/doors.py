"""What keeps a web page, a rebinding DNS name or a reverse proxy from driving the API.

Three layers, outermost first (create_app installs them):
- security headers on every answer: the web app's pages get a Content-Security-Policy with no inline
  script and no framing; API answers get one that allows nothing at all;
- the Host header must name one of `MIGRAYT_ALLOWED_HOSTS` (default: the loopback names and the
  bind host), in every mode: a page on `rebind.attacker.example` resolving to 127.0.0.1 is a 400;
- with authentication off (every request is admin), only this machine's own clients are served:
  a request carrying proxy headers (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`) or from a non-loopback
  address is refused, and a state-changing request (POST/PUT/PATCH/DELETE) from a browser must be
  same-origin: its `Origin` (or, without one, its `Referer`) must be this server. Clients that send
  neither — the CLI, curl, httpx — are not browsers a page can drive, and pass. The codec routes also
  accept the Temporal UI's origins, which call them from the UI's own port.

The web app's forms carry a CSRF token as well (migrayt/api/web/sessions.py), in every mode.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migrayt.api.auth import loopback
from migrayt.settings import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")

# The web app: its own scripts, styles and images only; no inline script or style, no framing.
# Forms may go to https (checkout hands the browser on to Stripe's page by a redirect).
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self' https:; frame-ancestors 'none'"
)
# JSON answers are never rendered: nothing may load from or frame them.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# FastAPI's /docs and /redoc load their scripts from a CDN with inline set-up code: no CSP there.
DOC_PATHS = ("/docs", "/redoc")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host names the API answers to: the configured ones, or the loopback names plus the bind host."""
    if settings.allowed_hosts:
        return [_bracketed(h.lower()) for h in settings.allowed_hosts]
    return list(dict.fromkeys([*LOOPBACK_NAMES, _bracketed(settings.api_host.lower())]))


def check_open_api_hosts(hosts: list[str]) -> None:
    """With auth off the Host check is what stops DNS rebinding: it cannot be switched off there."""
    if "*" in hosts:
        raise ValueError("MIGRAYT_ALLOWED_HOSTS=* is refused with authentication off: any web page could drive the API")


def _origin_parts(url: str, default_scheme: str) -> tuple[str, int | None] | None:
    """(host, port) of an Origin or Referer value; None when it names no host (e.g. `null`)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    scheme = parts.scheme or default_scheme
    return _bracketed(host.lower()), port or {"http": 80, "https": 443}.get(scheme)


def _host_parts(host_header: str, scheme: str) -> tuple[str, int | None] | None:
    return _origin_parts(f"{scheme}://{host_header}", scheme)


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


class LocalClientsOnly:
    """With auth off: refuse proxied and remote requests, and state-changing requests from another site."""

    def __init__(self, app: ASGIApp, codec_origins) -> None:
        self.app = app
        self.codec_origins = codec_origins  # request -> the Temporal UI origins allowed on /codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> JSONResponse | None:
        headers = Headers(scope=scope)
        proxied = [h for h in PROXY_HEADERS if h in headers]
        if proxied:
            # A reverse proxy in front of an open API would hand every visitor admin rights.
            return _refuse(
                403,
                (
                    "this server runs without authentication and answers only clients on its own machine; the "
                    f"request came through a proxy ({proxied[0]}). Behind a reverse proxy, run with MIGRAYT_AUTH=on."
                ),
            )
        client = scope.get("client")
        if client and not loopback(str(client[0])):
            return _refuse(403, "this server runs without authentication and answers only clients on its own machine")
        if scope["method"] not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        claimed = origin if origin is not None else headers.get("referer")
        if claimed is None:
            return None  # not a browser: a page cannot send a request without Origin on a POST
        scheme = scope.get("scheme", "http")
        own = _host_parts(headers.get("host", ""), scheme)
        if own is not None and _origin_parts(claimed, scheme) == own:
            return None
        if (
            origin is not None
            and str(scope.get("path", "")).startswith("/codec/")
            and origin in self.codec_origins(scope)
        ):
            return None
        return _refuse(
            403, f"cross-site request refused: {'Origin' if origin is not None else 'Referer'} is not this server"
        )


class SecurityHeaders:
    """Headers on every answer; the CSP depends on whether the answer is the web app's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        web = path == "/" or path == "/app" or path.startswith("/app/")
        extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
        if web:
            extra += [(b"content-security-policy", APP_CSP.encode()), (b"referrer-policy", b"same-origin")]
        elif not path.startswith(DOC_PATHS):
            extra += [(b"content-security-policy", API_CSP.encode()), (b"referrer-policy", b"no-referrer")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
