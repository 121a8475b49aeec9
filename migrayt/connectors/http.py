"""The one place for retries, throttling, adaptive concurrency and pagination of REST calls.

Every ADO and Jira call goes through `ResilientHttp.request` (or `.stream`). The caller says
whether the request is idempotent; that decides what happens when the outcome is unknown:

- the service said it did NOT apply the request (429; 503 with Retry-After; connect errors,
  i.e. nothing was sent): retried, reads and writes alike;
- the outcome is unknown (5xx, timeout or connection lost after the request was sent):
  idempotent requests are retried, non-idempotent writes raise `AmbiguousWriteError` at once,
  because the write may have been applied and the caller must reconcile before writing again.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Generator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, Field, SecretStr

from migrayt.connectors.errors import HttpError
from migrayt.connectors.limits import AcquireScope, AdaptiveLimiter, ScopeCounters, ScopedLimiter, Turn
from migrayt.connectors.outbound import OutboundPolicy, checked_transport
from migrayt.observability.metrics import http_event_hooks
from migrayt.observability.tracing import http_call

log = logging.getLogger(__name__)

T = TypeVar("T")

SleepFn = Callable[[float], Awaitable[None]]


class HttpSettings(BaseModel):
    """Everything a client needs besides its credentials; injected, never read from globals."""

    base_url: str
    timeout_seconds: float = Field(30.0, gt=0)
    connect_timeout_seconds: float = Field(10.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    max_concurrency: int = Field(16, ge=1)
    # Successful responses in a row before the concurrency limiter allows one more request.
    grow_after_successes: int = Field(8, ge=1)
    backoff_base_seconds: float = Field(0.5, ge=0)
    backoff_max_seconds: float = Field(30.0, ge=0)
    # A Retry-After longer than this is clipped: a broken header must not park a run for hours.
    max_retry_after_seconds: float = Field(300.0, ge=0)
    user_agent: str = "migrayt/0.1"
    # Which addresses the client may connect to (migrayt/connectors/outbound.py); the default checks nothing,
    # the doors and the worker pass the policy of their settings.
    outbound: OutboundPolicy = OutboundPolicy()

    @classmethod
    def from_app_settings(cls, base_url: str, **overrides: Any) -> HttpSettings:
        from migrayt.settings import get_settings

        s = get_settings()
        values: dict[str, Any] = {
            "base_url": base_url,
            "timeout_seconds": s.http_timeout_seconds,
            "max_attempts": s.http_max_retries,
            "max_concurrency": s.http_max_concurrency,
            "outbound": OutboundPolicy.for_settings(s),
        }
        values.update(overrides)
        return cls(**values)


# --------------------------------------------------------------------------- errors


class ApiError(HttpError):
    """The service answered with an error it will keep giving (or retries ran out)."""

    def __init__(
        self,
        status: int,
        messages: list[str] | None = None,
        field_errors: dict[str, str] | None = None,
        *,
        method: str = "",
        path: str = "",
        retryable: bool = False,
    ) -> None:
        self.status = status
        self.messages = list(messages or [])
        self.field_errors = dict(field_errors or {})
        self.method = method
        self.path = path
        self.retryable = retryable
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.method} {self.path} -> HTTP {self.status}".strip()]
        if self.messages:
            parts.append("; ".join(self.messages))
        if self.field_errors:
            parts.append(", ".join(f"{k}: {v}" for k, v in sorted(self.field_errors.items())))
        return ": ".join(parts)


class RedirectRefused(ApiError):
    """A 3xx answer. Redirects are never followed: one could lead to an address the outbound policy refuses,
    and an API base URL that redirects is the wrong URL."""

    def _describe(self) -> str:
        return f"{self.method} {self.path} -> HTTP {self.status}: a redirect (not followed; give the URL it leads to)"


class NotJson(HttpError, ValueError):
    """A success answer whose body is not JSON: not the REST API the URL was said to be. The body is not echoed."""

    def __init__(self, method: str, path: str, status: int) -> None:
        self.method = method
        self.path = path
        self.status = status
        super().__init__(f"{method} {path} -> HTTP {status}: the answer is not JSON")


class AmbiguousWriteError(HttpError):
    """A write whose outcome is unknown: it may have been applied. Reconcile before writing again."""

    def __init__(self, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        super().__init__(f"{method} {path}: outcome unknown ({reason}); reconcile before retrying")


class TransportFailure(HttpError):
    """The service could not be reached (or kept dropping reads) after every attempt.

    `failure` names the class of failure for a user (timeout, TLS, connection refused, …)."""

    def __init__(self, method: str, path: str, reason: str, attempts: int, failure: str = "connection failed") -> None:
        self.method = method
        self.path = path
        self.reason = reason
        self.attempts = attempts
        self.failure = failure
        super().__init__(f"{method} {path}: {reason} after {attempts} attempt(s)")


def failure_class(exc: BaseException) -> str:
    """What went wrong with a transport error, in a user's words; never the remote's text."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror) or "cannot resolve host" in str(cause):
            return "cannot resolve host"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "ssl" in text or "certificate" in text:
        return "TLS handshake failed"
    if "refused" in text:
        return "connection refused"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    return "connection lost"


def parse_error_body(body: Any) -> tuple[list[str], dict[str, str]]:
    """Messages and per-field errors from a Jira ErrorCollection or an ADO error body.

    Jira: {"errorMessages": [...], "errors": {"field": "msg"}}.
    ADO: {"$id": "1", "message": "...", "typeKey": "...", "innerException": {...}}.
    """
    messages: list[str] = []
    field_errors: dict[str, str] = {}
    if isinstance(body, Mapping):
        for m in body.get("errorMessages") or []:
            if isinstance(m, str) and m:
                messages.append(m)
        errors = body.get("errors")
        if isinstance(errors, Mapping):
            field_errors = {str(k): str(v) for k, v in errors.items()}
        msg = body.get("message")
        if isinstance(msg, str) and msg:
            messages.append(msg)
        # Xray Cloud: {"error": "..."}.
        xray_error = body.get("error")
        if isinstance(xray_error, str) and xray_error:
            messages.append(xray_error)
        inner = body.get("innerException")
        while isinstance(inner, Mapping):
            m = inner.get("message")
            if isinstance(m, str) and m and m not in messages:
                messages.append(m)
            inner = inner.get("innerException")
    elif isinstance(body, str) and body.strip():
        messages.append(body.strip()[:500])
    return messages, field_errors


def _error_from_response(response: httpx.Response, *, retryable: bool = False) -> ApiError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    except httpx.ResponseNotRead:
        body = None  # the connection dropped while the error's body was read: the status still tells
    messages, field_errors = parse_error_body(body)
    return ApiError(
        response.status_code,
        messages,
        field_errors,
        method=response.request.method,
        path=response.request.url.path,
        retryable=retryable,
    )


# --------------------------------------------------------------------------- credentials


class SecretBasicAuth(httpx.Auth):
    """HTTP Basic auth whose secret stays a SecretStr until the header is built."""

    def __init__(self, username: str, password: SecretStr) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raw = f"{self._username}:{self._password.get_secret_value()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        yield request

    def __repr__(self) -> str:
        return f"SecretBasicAuth(username={self._username!r}, password=**********)"


class SecretBearerAuth(httpx.Auth):
    """A bearer token (Jira Data Center's personal access token) kept a SecretStr until the header is built."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer " + self._token.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "SecretBearerAuth(token=**********)"


# --------------------------------------------------------------------------- throttling


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def server_delay(response: httpx.Response, *, now: float | None = None) -> float | None:
    """The wait the service asked for: Retry-After, else ADO's X-RateLimit-Delay (seconds)."""
    delay = parse_retry_after(response.headers.get("Retry-After"), now=now)
    if delay is not None:
        return delay
    # ADO reports how long it already delayed the request; zero tells us nothing about waiting.
    delay = _float_header(response, "X-RateLimit-Delay")
    return delay if delay else None


def _float_header(response: httpx.Response, name: str) -> float | None:
    raw = response.headers.get(name)
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def near_limit(response: httpx.Response) -> bool:
    """The service says the budget is almost spent (Jira X-RateLimit-NearLimit, ADO delaying)."""
    if response.headers.get("X-RateLimit-NearLimit", "").lower() == "true":
        return True
    return bool(_float_header(response, "X-RateLimit-Delay"))


@dataclass
class HttpCounters:
    """What a client did; read by benchmarks and chaos reports."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    ambiguous_writes: int = 0
    waited_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)
    # 429s and waits per scope (endpoint, issue, site); ResilientHttp shares its ScopedLimiter's.
    scopes: ScopeCounters = field(default_factory=ScopeCounters)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "server_errors": self.server_errors,
            "transport_errors": self.transport_errors,
            "ambiguous_writes": self.ambiguous_writes,
            "waited_seconds": round(self.waited_seconds, 3),
            "by_status": dict(self.by_status),
            "scopes": self.scopes.snapshot(),
        }


# Errors raised before a single byte of the request left this process: safe to resend any request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)

Body = bytes | Callable[[], AsyncIterator[bytes]] | None


class SiteBudgetHook(Protocol):
    """A budget the client takes a token from before each request and tells of each 429's wait and reason."""

    async def acquire(self) -> None: ...

    async def pause(self, seconds: float, reason: str | None = None) -> None: ...


class ResilientHttp:
    """An httpx.AsyncClient with retries, backoff, AIMD concurrency, throttling per scope and typed errors.

    `limiter` caps the requests in flight to the site and takes the 429s that name no scope; `scopes` (limits.py)
    takes those that do, so only the endpoint, issue or site they name waits. `acquire`, when given, is awaited with
    each scope of a request before every attempt is sent (JiraClient and AdoClient pass it through): the hook for a
    budget shared by several worker processes talking to one site.
    """

    def __init__(
        self,
        settings: HttpSettings,
        *,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: SleepFn | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        acquire: AcquireScope | None = None,
        site_budget: SiteBudgetHook | None = None,
    ) -> None:
        self.settings = settings
        # The Jira site's budget shared with other processes (migrayt/connectors/site_budget.py); None: none.
        self.site_budget = site_budget
        timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
        limits = httpx.Limits(
            max_connections=settings.max_concurrency * 2,
            max_keepalive_connections=settings.max_concurrency,
        )
        base_headers = {"User-Agent": settings.user_agent, "Accept": "application/json"}
        base_headers.update(headers or {})
        if transport is None and settings.outbound.public_only:
            transport = checked_transport(settings.outbound, limits=limits)
        self._client = httpx.AsyncClient(
            base_url=settings.base_url,
            auth=auth,
            headers=base_headers,
            timeout=timeout,
            limits=limits,
            transport=transport,
            follow_redirects=False,
            event_hooks=http_event_hooks(),  # calls, 429s and latency per endpoint for /metrics
        )
        self.limiter = AdaptiveLimiter(settings.max_concurrency, settings.grow_after_successes)
        self._sleep: SleepFn = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._clock = clock or time.time
        self.scopes = ScopedLimiter(
            self._client.base_url.host or settings.base_url,
            settings.max_concurrency,
            settings.grow_after_successes,
            max_wait_seconds=settings.max_retry_after_seconds,
            clock=self._clock,
            sleep=self._sleep,
            acquire=acquire,
        )
        self.counters = HttpCounters(scopes=self.scopes.counters)

    def __repr__(self) -> str:
        return f"ResilientHttp(base_url={self.settings.base_url!r})"

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> ResilientHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ policy

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter for attempt 1, 2, ..."""
        cap = min(self.settings.backoff_max_seconds, self.settings.backoff_base_seconds * (2 ** (attempt - 1)))
        return self._rng.uniform(cap / 2, cap)

    def _delay_for(self, response: httpx.Response | None, attempt: int) -> float:
        if response is not None:
            asked = server_delay(response, now=self._clock())
            if asked is not None:
                return min(asked, self.settings.max_retry_after_seconds)
        return self.backoff(attempt)

    async def _wait(self, delay: float) -> None:
        self.counters.retries += 1
        self.counters.waited_seconds += delay
        await self._sleep(delay)

    # ------------------------------------------------------------------ requests

    async def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: Body = None,
        headers: Mapping[str, str] | None = None,
        accept_status: Container[int] = (),
    ) -> httpx.Response:
        """Send one logical request; returns the (read) response on 2xx or an accepted status.

        `idempotent`: True for reads and for writes that are safe to repeat (PUT of a value,
        read-only POSTs such as searches). False for writes that create something.
        `content` may be a factory of async byte chunks: it is called once per attempt, so a
        streamed body can be re-sent when the service said it did not take it.
        """
        async with self._attempts(method, url, idempotent, params, json, content, headers, accept_status, False) as r:
            return r

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A streamed read: the body is not loaded; retries happen only before it starts."""
        async with self._attempts(method, url, True, params, None, None, headers, (), True) as r:
            yield r

    @asynccontextmanager
    async def _attempts(
        self,
        method: str,
        url: str,
        idempotent: bool,
        params: Mapping[str, Any] | None,
        json: Any,
        content: Body,
        headers: Mapping[str, str] | None,
        accept_status: Container[int],
        stream: bool,
    ) -> AsyncIterator[httpx.Response]:
        method = method.upper()
        path = httpx.URL(url).path or url
        max_attempts = self.settings.max_attempts
        attempt = 0
        while True:
            attempt += 1
            body = content() if callable(content) else content
            request = self._client.build_request(method, url, params=params, json=json, content=body, headers=headers)
            path = request.url.path
            turn = await self.scopes.take_turn(method, path)
            self.counters.waited_seconds += turn.waited_seconds
            generation = await self._acquire_overall(turn)
            released = False
            try:
                if self.site_budget is not None:
                    await self.site_budget.acquire()
                self.counters.requests += 1
                try:
                    with http_call(method, path) as call:
                        response = await self._client.send(request, stream=True)
                        throttled_for = (
                            server_delay(response, now=self._clock()) if response.status_code == 429 else None
                        )
                        call.answered(response, throttled_for)
                except _NOT_SENT as exc:
                    self.counters.transport_errors += 1
                    reason = type(exc).__name__
                    await self._release(turn)
                    released = True
                    if attempt >= max_attempts:
                        raise TransportFailure(method, path, reason, attempt, failure_class(exc)) from None
                    delay = self.backoff(attempt)
                    log.warning("%s %s: %s (not sent), retry %d in %.2fs", method, path, reason, attempt, delay)
                    await self._wait(delay)
                    continue
                except httpx.TransportError as exc:
                    self.counters.transport_errors += 1
                    reason = type(exc).__name__
                    await self._release(turn)
                    released = True
                    if not idempotent:
                        self.counters.ambiguous_writes += 1
                        raise AmbiguousWriteError(method, path, reason) from None
                    if attempt >= max_attempts:
                        raise TransportFailure(method, path, reason, attempt, failure_class(exc)) from None
                    delay = self.backoff(attempt)
                    log.warning("%s %s: %s, retry %d in %.2fs", method, path, reason, attempt, delay)
                    await self._wait(delay)
                    continue

                status = response.status_code
                self.counters.by_status[status] = self.counters.by_status.get(status, 0) + 1
                if 300 <= status < 400 and status not in accept_status:
                    await response.aclose()
                    raise RedirectRefused(status, method=method, path=path)
                if status < 400 or status in accept_status:
                    self.limiter.on_success(near_limit=near_limit(response))
                    self.scopes.on_success(turn, response)
                    if stream:
                        try:
                            yield response
                        finally:
                            await response.aclose()
                        return
                    try:
                        await response.aread()
                    except httpx.TransportError as exc:
                        # The service answered (so a write was applied) but the body was lost.
                        self.counters.transport_errors += 1
                        if not idempotent:
                            self.counters.ambiguous_writes += 1
                            raise AmbiguousWriteError(
                                method, path, f"{type(exc).__name__} reading the response"
                            ) from None
                        await self._release(turn)
                        released = True
                        if attempt >= max_attempts:
                            failure = failure_class(exc)
                            raise TransportFailure(method, path, type(exc).__name__, attempt, failure) from None
                        await self._wait(self.backoff(attempt))
                        continue
                    yield response
                    return

                try:
                    await response.aread()
                except httpx.TransportError:
                    pass
                finally:
                    await response.aclose()

                throttled = status == 429
                not_applied = throttled or (status == 503 and "Retry-After" in response.headers)
                transient = not_applied or status >= 500 or status == 408
                scope = None
                if throttled:
                    self.counters.throttled += 1
                    asked = server_delay(response, now=self._clock())
                    scope = self.scopes.on_throttled(turn, response, asked)
                    # A 429 for one endpoint or issue slows only that scope; one for the site (or that names no
                    # scope) slows every request to it.
                    if scope is None or scope.kind == "site":
                        self.limiter.on_throttled(generation)
                elif status >= 500:
                    self.counters.server_errors += 1
                if not transient:
                    raise _error_from_response(response)
                if not not_applied and not idempotent:
                    self.counters.ambiguous_writes += 1
                    raise AmbiguousWriteError(method, path, f"HTTP {status}")
                if attempt >= max_attempts:
                    raise _error_from_response(response, retryable=True)
                await self._release(turn)
                released = True
                if scope is not None:
                    # The scope now waits for what the 429 asked; this attempt's retry waits in `take_turn` with it.
                    # A site-wide 429 (a quota) holds every process sharing the site's budget as well.
                    if scope.kind == "site" and self.site_budget is not None:
                        await self.site_budget.pause(
                            self._delay_for(response, attempt), response.headers.get("RateLimit-Reason")
                        )
                    self.counters.retries += 1
                    continue
                delay = self._delay_for(response, attempt)
                if throttled and self.site_budget is not None:
                    await self.site_budget.pause(delay, response.headers.get("RateLimit-Reason"))
                log.info("%s %s: HTTP %d, retry %d in %.2fs", method, path, status, attempt, delay)
                await self._wait(delay)
            finally:
                if not released:
                    await self._release(turn)

    async def _acquire_overall(self, turn: Turn) -> int:
        try:
            return await self.limiter.acquire()
        except BaseException:
            await self.scopes.release(turn)
            raise

    async def _release(self, turn: Turn) -> None:
        await self.limiter.release()
        await self.scopes.release(turn)

    async def get_json(self, url: str, *, params: Mapping[str, Any] | None = None) -> Any:
        response = await self.request("GET", url, idempotent=True, params=params)
        return response.json() if response.content else None


# --------------------------------------------------------------------------- decoding

# A JSON escape of a UTF-16 surrogate (\uD800-\uDFFF); seen in the raw text before any walk is paid for.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(value: Any) -> Any:
    """`value` with every lone UTF-16 surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    return value


def decode_json(response: httpx.Response) -> Any:
    """A JSON body whose strings are always valid Unicode (None for an empty body).

    .NET services (ADO) can send a lone surrogate as a `\\uD800` escape, which `json.loads`
    turns into a str that cannot be encoded as UTF-8: it would blow up much later, in a Jira
    request, a database write or a log line. Malformed UTF-8 bytes are replaced the same way.
    Pairs of escapes that form one character are kept: json.loads joins them before this runs.
    """
    raw = response.content
    if not raw:
        return None
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        raise NotJson(response.request.method, response.request.url.path, response.status_code) from None
    if _SURROGATE_ESCAPE.search(text):
        data = valid_text(data)
    return data


# --------------------------------------------------------------------------- pagination


async def paginate(fetch: Callable[[Any], Awaitable[tuple[Iterable[T], Any]]], first: Any = None) -> AsyncIterator[T]:
    """Items of every page: `fetch(cursor)` returns (items, next cursor or None when done)."""
    cursor = first
    seen: set[Any] = set()
    while True:
        items, cursor = await fetch(cursor)
        for item in items:
            yield item
        if cursor is None:
            return
        if cursor in seen:
            # A service that hands out the same cursor twice would loop forever.
            raise HttpError(f"pagination cursor repeated: {cursor!r}")
        seen.add(cursor)


def next_start_at(start_at: int, got: int, *, total: int | None = None, is_last: bool | None = None) -> int | None:
    """The next `startAt` of a Jira offset page, or None when the last page was read."""
    if got == 0 or is_last:
        return None
    nxt = start_at + got
    if total is not None and nxt >= total:
        return None
    return nxt


def continuation_token(response: httpx.Response, body: Any = None) -> str | None:
    """ADO continuation: the `x-ms-continuationtoken` header or a `continuationToken` in the body."""
    token = response.headers.get("x-ms-continuationtoken")
    if not token and isinstance(body, Mapping):
        raw = body.get("continuationToken")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        token = raw
    return token or None


def chunked(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def utc_iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
