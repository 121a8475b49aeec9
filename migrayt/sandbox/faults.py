"""Fault injection in front of a sandbox service: latency, throttling, 5xx and dropped responses.

The middleware is pure ASGI (not Starlette's BaseHTTPMiddleware) so streamed bodies and
attachments pass through untouched, and so it can drop a connection after the write happened.
Everything under `/_sandbox/` bypasses the faults: tests and the demo must always be able to
look at the state and switch faults off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from migrayt.sandbox.budgets import REASON_TSTU, Refusal, ScopedBudgets, Standing, endpoint_template
from migrayt.sandbox.fault_config import (
    LIMIT_PROFILES,
    SCOPED_LIMIT_FIELDS,
    EndpointCounters,
    FaultConfig,
    FaultCounters,
)

Service = Literal["ado", "jira", "xray"]

ADMIN_PREFIX = "/_sandbox/"
FAULTS_PATH = "/_sandbox/faults"

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# POSTs that only read: a dropped response on these would not be "applied then lost".
_READ_ONLY_POSTS: dict[Service, re.Pattern[str]] = {
    "jira": re.compile(
        r"^/rest/api/(?:2|3|latest)/(?:search(?:/jql|/approximate-count)?|jql/parse|jql/match|issue/bulkfetch)/?$"
    ),
    "ado": re.compile(r"/_apis/wit/(?:wiql|workitemsbatch)/?$", re.IGNORECASE),
    # Xray: a token request changes nothing. GraphQL queries and mutations share POST /graphql, so an answer
    # to either may be dropped (a client retries a query; it must read back after a mutation).
    "xray": re.compile(r"^/api/v2/authenticate/?$"),
}

# Share of the bucket under which ADO starts delaying requests and saying so in headers,
# and Jira sets X-RateLimit-NearLimit (Atlassian: "less than 20% of the budget remains").
_NEAR_LIMIT_SHARE = 0.2
# ADO's X-RateLimit-Limit is in TSTUs; 200 is the documented global per-user budget.
_ADO_TSTU_LIMIT = 200
# How often a held request looks whether its hold was lifted.
_HOLD_POLL_SECONDS = 0.02
_ADO_RESOURCE = "ATCPU"


def is_write(service: Service, method: str, path: str) -> bool:
    """A request that changes state on the service (what a dropped response makes ambiguous)."""
    method = method.upper()
    if method not in WRITE_METHODS:
        return False
    return not (method == "POST" and _READ_ONLY_POSTS[service].search(path))


_ATTACHMENT_UPLOAD = re.compile(r"/rest/api/[23]/issue/[^/]+/attachments")


class ConnectionDropped(Exception):
    """Raised inside the server to make it abort a connection after a write was applied."""


class _QuietDrops(logging.Filter):
    """uvicorn logs every exception from the app with a traceback; a planned drop is not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


_quiet_drops = _QuietDrops()
logging.getLogger("uvicorn.error").addFilter(_quiet_drops)


@dataclass(frozen=True)
class Throttle:
    """Why and for how long a request is refused with 429."""

    retry_after_seconds: int
    limit: int
    by_rate_limit: bool
    # Set when a scoped budget (budgets.py) refused: its RateLimit-Reason, or "ado-tstu".
    reason: str | None = None


@dataclass(frozen=True)
class Admission:
    """What the controller decided for one request, before the app sees it."""

    latency_seconds: float = 0.0
    throttle: Throttle | None = None
    server_error: int | None = None
    drop_after_write: bool = False
    # Set when the rate limit is configured and the caller is close to it.
    near_limit_remaining: int | None = None
    near_limit_delay_seconds: float = 0.0
    limit: int | None = None
    reset_seconds: float = 0.0
    # ADO's TSTU budget stands behind the near-limit figures (they are TSTUs, not a share of a request rate).
    tstu: bool = False
    # "METHOD /path/template", to count the request as done (`FaultController.done`).
    endpoint: str = ""


class FaultController:
    """The live fault settings of one service, what was injected, and the rate-limit bucket.

    Thread-safe: tests replace the config from their own thread while the server runs in another.
    """

    def __init__(self, config: FaultConfig | None = None, *, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._config = config or FaultConfig()
        self.counters = FaultCounters()
        self.random = random.Random(self._config.seed)
        self._tokens = 0.0
        self._refilled_at = clock()
        self._reset_bucket()
        self.budgets = ScopedBudgets()
        # Requests that matched `hold` since it was last set (the first `hold_after` pass).
        self._hold_matches = 0
        # Downloads dropped and uploads throttled since those settings were last set.
        self._cuts_taken = {"drop_downloads": 0, "throttle_uploads": 0, "drop_upload_answers": 0}

    @property
    def config(self) -> FaultConfig:
        return self._config

    def get_config(self) -> FaultConfig:
        """The callable the apps are given (`get_faults`), e.g. for search-index lag."""
        return self._config

    def replace(self, config: FaultConfig) -> FaultConfig:
        with self._lock:
            if config.hold != self._config.hold:
                self._hold_matches = 0
            for name in self._cuts_taken:
                if getattr(config, name) != getattr(self._config, name):
                    self._cuts_taken[name] = 0
            if any(getattr(config, f) != getattr(self._config, f) for f in SCOPED_LIMIT_FIELDS):
                self.budgets.reset()
            self._config = config
            if config.seed is not None:
                self.random.seed(config.seed)
            self._reset_bucket()
        return config

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        """Partial update; raises pydantic.ValidationError on a bad value or unknown field."""
        unknown = set(changes) - set(FaultConfig.model_fields)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        current = self._config.model_dump()
        if "limit_profile" in changes:
            # Choosing a profile (or none) replaces every scoped budget; values given beside it still win.
            current = {k: v for k, v in current.items() if k not in SCOPED_LIMIT_FIELDS}
            if changes["limit_profile"] is not None and changes["limit_profile"] not in LIMIT_PROFILES:
                raise ValueError(f"unknown limit profile {changes['limit_profile']!r}: {', '.join(LIMIT_PROFILES)}")
        merged = FaultConfig.model_validate({**current, **changes})
        return self.replace(merged)

    def reset_counters(self) -> None:
        with self._lock:
            self.counters = FaultCounters()

    def take_hold(self, method: str, path: str) -> bool:
        """Whether this request waits on a hold; counted as held when it does."""
        with self._lock:
            if self._config.holds(method, path) is None:
                return False
            self._hold_matches += 1
            if self._hold_matches <= self._config.hold_after:
                return False
            self.counters.held_now += 1
            self.counters.held += 1
            return True

    def take_download_drop(self) -> int | None:
        """The byte after which this attachment download loses its connection, if it is one of those to drop."""
        with self._lock:
            if self._cuts_taken["drop_downloads"] >= self._config.drop_downloads:
                return None
            self._cuts_taken["drop_downloads"] += 1
            self.counters.downloads_dropped += 1
            return self._config.drop_download_at_bytes

    def take_upload_throttle(self) -> int | None:
        """The byte of its body after which this attachment upload is answered 429, if it is one of those."""
        with self._lock:
            if self._cuts_taken["throttle_uploads"] >= self._config.throttle_uploads:
                return None
            self._cuts_taken["throttle_uploads"] += 1
            self.counters.uploads_throttled += 1
            return self._config.throttle_upload_at_bytes

    def take_upload_answer_drop(self, service: str, method: str, path: str, length: int | None) -> bool:
        """Whether this attachment upload is stored and then loses its answer (one of `drop_upload_answers`)."""
        if service != "jira" or method != "POST" or not _ATTACHMENT_UPLOAD.fullmatch(path):
            return False
        with self._lock:
            if self._cuts_taken["drop_upload_answers"] >= self._config.drop_upload_answers:
                return False
            if length is None or length < self._config.drop_upload_answer_from_bytes:
                return False
            self._cuts_taken["drop_upload_answers"] += 1
            self.counters.upload_answers_dropped += 1
            return True

    def count_attachment_download(self, guid: str) -> None:
        with self._lock:
            downloads = self.counters.attachment_downloads
            downloads[guid] = downloads.get(guid, 0) + 1

    def still_held(self, method: str, path: str) -> bool:
        return self._config.holds(method, path) is not None

    def end_hold(self) -> None:
        with self._lock:
            self.counters.held_now = max(0, self.counters.held_now - 1)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"config": self._config.model_dump(), "counters": self.counters.model_dump()}

    def _reset_bucket(self) -> None:
        rps = self._config.rate_limit_rps
        self._tokens = self._capacity(rps) if rps else 0.0
        self._refilled_at = self._clock()

    @staticmethod
    def _capacity(rps: float) -> float:
        # One second worth of burst, and at least one request.
        return max(1.0, rps)

    def done(self, admission: Admission) -> None:
        """The request was answered (or given up): it is no longer in flight at its endpoint."""
        with self._lock:
            counted = self.counters.by_endpoint.get(admission.endpoint)
            if counted is not None:
                counted.in_flight = max(0, counted.in_flight - 1)

    def admit(self, service: Service, method: str, path: str, identity: str = "") -> Admission:
        """Decide the faults for one request and count them. `identity`: who asks (ADO budgets per identity)."""
        with self._lock:
            admission = self._admit(service, method, path, identity)
            endpoint = f"{method.upper()} {endpoint_template(path)}"
            counted = self.counters.by_endpoint.setdefault(endpoint, EndpointCounters())
            counted.requests += 1
            counted.in_flight += 1
            counted.peak_in_flight = max(counted.peak_in_flight, counted.in_flight)
            if admission.throttle is not None:
                counted.throttled += 1
                reason = admission.throttle.reason
                if reason is not None:
                    by_reason = self.counters.throttled_by_reason
                    by_reason[reason] = by_reason.get(reason, 0) + 1
            return dataclasses.replace(admission, endpoint=endpoint)

    def _scoped(self, service: Service, method: str, path: str, identity: str) -> Refusal | Standing | None:
        cfg = self._config
        if not ScopedBudgets.active(cfg):
            return None
        now = self._clock()
        if service == "jira":
            return self.budgets.admit_jira(cfg, method, path, now)
        if service == "ado":
            return self.budgets.admit_ado(cfg, identity, is_write(service, method, path), now)
        return None

    def _admit(self, service: Service, method: str, path: str, identity: str) -> Admission:
        cfg = self._config
        rnd = self.random
        self.counters.requests += 1
        latency = cfg.latency_ms / 1000.0
        if cfg.jitter_ms:
            latency += rnd.uniform(0.0, cfg.jitter_ms) / 1000.0

        near_remaining: int | None = None
        near_delay = 0.0
        limit: int | None = None
        reset = 0.0
        rps = cfg.rate_limit_rps
        if rps:
            capacity = self._capacity(rps)
            limit = math.floor(capacity)
            now = self._clock()
            self._tokens = min(capacity, self._tokens + (now - self._refilled_at) * rps)
            self._refilled_at = now
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / rps
                self.counters.throttled += 1
                return Admission(
                    latency_seconds=latency,
                    throttle=Throttle(max(1, math.ceil(wait)), limit, by_rate_limit=True),
                    limit=limit,
                    reset_seconds=wait,
                )
            self._tokens -= 1.0
            reset = (capacity - self._tokens) / rps
            if self._tokens < capacity * _NEAR_LIMIT_SHARE:
                near_remaining = math.floor(self._tokens)
                # ADO delays before it blocks; a fraction of the refill interval keeps it mild.
                near_delay = 0.5 / rps if service == "ado" else 0.0

        scoped = self._scoped(service, method, path, identity)
        tstu = False
        if isinstance(scoped, Refusal):
            self.counters.throttled += 1
            return Admission(
                latency_seconds=latency,
                throttle=Throttle(
                    max(1, math.ceil(scoped.retry_after_seconds)),
                    scoped.limit,
                    by_rate_limit=True,
                    reason=scoped.reason,
                ),
                limit=scoped.limit,
                reset_seconds=scoped.retry_after_seconds,
                tstu=scoped.reason == REASON_TSTU,
            )
        if isinstance(scoped, Standing) and scoped.near:
            near_remaining = scoped.remaining
            near_delay = scoped.delay_seconds
            limit = scoped.limit
            reset = scoped.reset_seconds
            tstu = service == "ado"

        if cfg.share_429 and rnd.random() < cfg.share_429:
            self.counters.throttled += 1
            return Admission(
                latency_seconds=latency,
                throttle=Throttle(math.ceil(cfg.retry_after_seconds), limit or 0, by_rate_limit=False),
                limit=limit,
                reset_seconds=cfg.retry_after_seconds,
            )
        if cfg.share_5xx and rnd.random() < cfg.share_5xx:
            self.counters.server_errors += 1
            return Admission(latency_seconds=latency, server_error=rnd.choice((500, 502, 503)))
        drop = False
        if cfg.share_drop_after_write and is_write(service, method, path):
            drop = rnd.random() < cfg.share_drop_after_write
            if drop:
                self.counters.dropped_after_write += 1
        return Admission(
            latency_seconds=latency,
            drop_after_write=drop,
            near_limit_remaining=near_remaining,
            near_limit_delay_seconds=near_delay,
            limit=limit,
            reset_seconds=reset,
            tstu=tstu,
        )


# --- responses shaped like the real services ---------------------------------------------------


def _header_list(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _jira_reset(seconds: float) -> str:
    # Atlassian documents X-RateLimit-Reset as ISO 8601, `yyyy-MM-ddTHH:mmZ`.
    at = datetime.now(UTC) + timedelta(seconds=max(seconds, 0.0))
    if at.second or at.microsecond:
        at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return at.strftime("%Y-%m-%dT%H:%MZ")


def _ado_error(message: str, type_key: str, type_name: str, event_id: int = 3000) -> dict[str, Any]:
    return {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": type_name,
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": event_id,
    }


def throttled_response(
    service: Service, throttle: Throttle, method: str, path: str, rnd: random.Random
) -> tuple[int, dict[str, str], bytes]:
    retry_after = str(throttle.retry_after_seconds)
    if service == "jira":
        reason: str | None
        if throttle.reason is not None:
            reason = throttle.reason
        elif throttle.by_rate_limit:
            reason = "jira-burst-based"
        else:
            # An injected 429 (share_429) names no scope, as a 429 from an edge proxy would not: it stands
            # for "this request, not now". A random scope would make the client hold a whole endpoint or
            # the whole site for Retry-After at every injected fault, which no real Jira does 30% of the time;
            # scoped 429s come from the budgets (budgets.py), which say why.
            reason = None
        headers = {
            "Retry-After": retry_after,
            "X-RateLimit-Limit": str(throttle.limit or 100),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": _jira_reset(throttle.retry_after_seconds),
            "Content-Type": "application/json;charset=UTF-8",
        }
        if reason is not None:
            headers["RateLimit-Reason"] = reason
        body = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    elif service == "xray":
        # Xray Cloud: 429 with Retry-After and a JSON `error` (docs.getxray.app, "REST API" rate limits).
        headers = {
            "Retry-After": retry_after,
            "X-RateLimit-Limit": str(throttle.limit or 300),
            "X-RateLimit-Remaining": "0",
            "Content-Type": "application/json; charset=utf-8",
        }
        body = {"error": "Too many requests. Please try again later."}
    else:
        headers = {
            "Retry-After": retry_after,
            "X-RateLimit-Resource": _ADO_RESOURCE,
            "X-RateLimit-Delay": "0.000",
            "X-RateLimit-Limit": str(throttle.limit if throttle.reason == REASON_TSTU else _ADO_TSTU_LIMIT),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time() + max(throttle.retry_after_seconds, 1))),
            "Content-Type": "application/json; charset=utf-8",
        }
        body = _ado_error(
            "TF400733: The request has been canceled: Request was blocked due to exceeding usage of "
            f"resource '{_ADO_RESOURCE}' in namespace 'User'.",
            "RequestBlockedException",
            "Microsoft.TeamFoundation.Framework.Server.RequestBlockedException, "
            "Microsoft.TeamFoundation.Framework.Server",
        )
    return 429, headers, json.dumps(body).encode()


def server_error_response(service: Service, status: int) -> tuple[int, dict[str, str], bytes]:
    if status == 502:
        # What a proxy in front of either service sends: HTML, not the API's JSON.
        html = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
        return 502, {"Content-Type": "text/html"}, html
    if service == "xray":
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if status == 503:
            headers["Retry-After"] = "1"
        return status, headers, json.dumps({"error": "An internal error occurred."}).encode()
    if service == "jira":
        headers = {"Content-Type": "application/json;charset=UTF-8"}
        if status == 503:
            # Atlassian: some transient 5xx come with Retry-After.
            headers["Retry-After"] = "1"
            body = {"errorMessages": ["Service unavailable. Please try again later."], "errors": {}}
        else:
            body = {"errorMessages": ["Internal server error"], "errors": {}}
        return status, headers, json.dumps(body).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "ActivityId": str(uuid.uuid4())}
    if status == 503:
        headers["Retry-After"] = "1"
        body = _ado_error(
            "TF400898: An Internal Error Occurred. The service is temporarily unavailable.",
            "ServiceUnavailableException",
            "Microsoft.VisualStudio.Services.WebApi.ServiceUnavailableException, "
            "Microsoft.VisualStudio.Services.WebApi",
        )
    else:
        body = _ado_error(
            "TF400898: An Internal Error Occurred. Please contact your administrator for more information.",
            "UnexpectedErrorException",
            "Microsoft.TeamFoundation.Framework.Server.UnexpectedErrorException, "
            "Microsoft.TeamFoundation.Framework.Server",
        )
    return status, headers, json.dumps(body).encode()


def near_limit_headers(service: Service, admission: Admission) -> dict[str, str]:
    if admission.near_limit_remaining is None:
        return {}
    if service in ("jira", "xray"):
        return {
            "X-RateLimit-Limit": str(admission.limit or 0),
            "X-RateLimit-Remaining": str(admission.near_limit_remaining),
            "X-RateLimit-NearLimit": "true",
        }
    limit = admission.limit or 1
    if admission.tstu:
        remaining, tstu_limit = admission.near_limit_remaining, limit
    else:
        remaining, tstu_limit = round(_ADO_TSTU_LIMIT * admission.near_limit_remaining / limit), _ADO_TSTU_LIMIT
    return {
        "X-RateLimit-Resource": _ADO_RESOURCE,
        "X-RateLimit-Delay": f"{admission.near_limit_delay_seconds:.3f}",
        "X-RateLimit-Limit": str(tstu_limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(math.ceil(time.time() + admission.reset_seconds)),
    }


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _identity(scope: Scope) -> str:
    """Who asks, for budgets kept per identity: a digest of the credentials (never the credentials themselves)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return hashlib.sha256(value).hexdigest()[:16]
    return ""


async def _send_plain(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    headers = {**headers, "Content-Length": str(len(body))}
    await send({"type": "http.response.start", "status": status, "headers": _header_list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


# --- the admin endpoint ------------------------------------------------------------------------


def create_fault_admin_app(controller: FaultController) -> FastAPI:
    """`/_sandbox/faults`: GET config + counters, PUT replaces, PATCH changes some fields. No auth."""
    admin = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @admin.get(FAULTS_PATH)
    def get_faults() -> dict[str, Any]:
        return controller.snapshot()

    @admin.put(FAULTS_PATH)
    def put_faults(config: FaultConfig) -> dict[str, Any]:
        controller.replace(config)
        return controller.snapshot()

    @admin.patch(FAULTS_PATH)
    def patch_faults(changes: Annotated[dict[str, Any], Body()]) -> Any:
        try:
            controller.update(changes)
        except ValidationError as exc:
            return JSONResponse(status_code=422, content={"detail": json.loads(exc.json())})
        except ValueError as exc:
            return JSONResponse(status_code=422, content={"detail": str(exc)})
        return controller.snapshot()

    @admin.delete(f"{FAULTS_PATH}/counters")
    def reset_counters() -> dict[str, Any]:
        controller.reset_counters()
        return controller.snapshot()

    return admin


# --- the middleware ----------------------------------------------------------------------------


class FaultMiddleware:
    """Wraps one sandbox app; serves `/_sandbox/faults` itself and passes other `/_sandbox/*` through."""

    def __init__(self, app: ASGIApp, controller: FaultController, service: Service) -> None:
        self.app = app
        self.controller = controller
        self.service: Service = service
        self.admin = create_fault_admin_app(controller)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path == FAULTS_PATH or path.startswith(FAULTS_PATH + "/"):
            await self.admin(scope, receive, send)
            return
        if path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return

        method: str = scope.get("method", "GET")
        if self.controller.take_hold(method, path):
            try:
                while self.controller.still_held(method, path):
                    await asyncio.sleep(_HOLD_POLL_SECONDS)
            finally:
                self.controller.end_hold()
        admission = self.controller.admit(self.service, method, path, _identity(scope))
        if (
            admission.throttle is None
            and admission.server_error is None
            and not admission.drop_after_write
            and self.controller.take_upload_answer_drop(self.service, method, path, _content_length(scope))
        ):
            admission = dataclasses.replace(admission, drop_after_write=True)
        try:
            await self._answer(scope, receive, send, admission)
        finally:
            self.controller.done(admission)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, admission: Admission) -> None:
        method: str = scope.get("method", "GET")
        path: str = scope.get("path", "")
        delay = admission.latency_seconds + admission.near_limit_delay_seconds
        if delay > 0:
            await asyncio.sleep(delay)

        if admission.throttle is not None:
            status, headers, body = throttled_response(
                self.service, admission.throttle, method, path, self.controller.random
            )
            await _send_plain(send, status, headers, body)
            return
        if admission.server_error is not None:
            await _send_plain(send, *server_error_response(self.service, admission.server_error))
            return
        if admission.drop_after_write:
            await self._apply_then_drop(scope, receive, send)
            return

        extra = _header_list(near_limit_headers(self.service, admission))
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _apply_then_drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        started: dict[str, Any] = {}

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)

        # The write happens in full; only its answer is lost.
        await self.app(scope, receive, swallow)
        status = int(started.get("status", 200))
        headers = [
            (k, v)
            for k, v in started.get("headers", [])
            if k.lower() not in (b"content-length", b"transfer-encoding", b"connection")
        ]
        # Promise a body that never comes, then abort: the server closes the connection mid-response,
        # so the client sees a transport error (e.g. httpx.RemoteProtocolError) and no usable answer.
        headers.append((b"content-length", b"65536"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        raise ConnectionDropped(f"{self.service}: dropped the response to {scope.get('method')} {scope.get('path')}")
