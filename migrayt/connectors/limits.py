"""Throttling per scope, the way Jira Cloud and Azure DevOps limit, so a 429 on comments does not slow attachments.

Jira Cloud counts three budgets at once (Atlassian, "Rate limiting"): a burst budget per endpoint and HTTP method
(`RateLimit-Reason: jira-burst-based`), a write budget per issue (`jira-per-issue-on-write`) and quotas for the site
(`jira-quota-...`). Each 429 says which one refused, so the client waits only where it was told to: that endpoint,
that issue, or the whole site. Azure DevOps budgets TSTUs per identity, which for one client is the whole site.

What a scope remembers: until when it is refused (Retry-After of its 429, or X-RateLimit-Reset when no Retry-After
came), how far apart its requests go while the service says it is near the limit (X-RateLimit-NearLimit with
X-RateLimit-Remaining, ADO's X-RateLimit-Delay; for an issue, the pace its write budget sustains, learned from its
first 429), and, for an endpoint, its own AIMD concurrency. A 429 without a
reason (Xray, old sandboxes, proxies) is not scoped: the client's overall limiter takes it, as before.

Several worker processes talking to one site can share its budget through `acquire` (an async callable awaited with
each scope of a request before it is sent); nothing here knows how it is shared.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import httpx

log = logging.getLogger(__name__)

ScopeKind = Literal["endpoint", "issue", "site"]

# A path segment that names one thing rather than a kind of thing: a number, an issue key, a GUID, a long hex id.
_ID_SEGMENT = re.compile(
    r"^(?:\d+|[A-Za-z][A-Za-z0-9_]*-\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,})$"
)
# Writes to one issue: the issue itself and everything under it (comments, attachments, transitions, ...).
_ISSUE_WRITE = re.compile(r"^/rest/api/(?:2|3|latest)/issue/(?P<issue>[^/]+)(?:/.*)?$")
_NOT_AN_ISSUE = frozenset({"bulk", "bulkfetch", "createmeta", "picker", "properties", "archive", "unarchive"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Atlassian: the burst budget is per second. Near it, the requests left are spread over that second.
BURST_WINDOW_SECONDS = 1.0
# Issue scopes are kept only while they hold something back; past this many, the idle ones are forgotten.
_ISSUE_SCOPES_KEPT = 1000
# When the latest accepted writes to the latest written issues were answered, to learn an issue's window from its
# 429: more answers than any per-issue budget we have seen, for more issues than write at once.
_ANSWERS_KEPT = 128
_ANSWERED_ISSUES_KEPT = 256
# Paced at the learned rate exactly, the window holds the whole budget and the next write lands as its oldest leaves:
# a little slower, and a latency's jitter does not turn into a 429.
_PACE_MARGIN = 1.05
# Jira's per-issue windows are seconds long. A longer one learned means writes we did not see (another worker, an
# automation rule) filled it: our own answers do not tell its length then.
_MAX_ISSUE_WINDOW_SECONDS = 60.0
# A paced issue whose answer does not warn has room to spare: its pace quickens this much, until a warning holds it.
_PACE_QUICKEN = 0.95


# Set by whoever sends a line of writes long enough to set the run's length (issue_writes.in_turn: the longest
# threads): on an endpoint its writes go before the others' queued ones (`ScopedLimiter.take_turn`).
LINE_PRIORITY: ContextVar[bool] = ContextVar("LINE_PRIORITY", default=False)


@dataclass(frozen=True)
class Scope:
    """What a budget counts: one endpoint and method, one issue's writes, or the whole site."""

    kind: ScopeKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def counted_as(self) -> str:
        # Issues are counted together: a run touches thousands of them, and the counters must stay small.
        return "issues" if self.kind == "issue" else str(self)


AcquireScope = Callable[[Scope], Awaitable[None]]
SleepFn = Callable[[float], Awaitable[None]]


def endpoint_template(path: str) -> str:
    """`/rest/api/3/issue/ABC-12/comment` -> `/rest/api/3/issue/{id}/comment`: one endpoint whatever the issue."""
    parts = path.split("/")
    # The number after `api` is the API's version, part of the endpoint's name.
    return "/".join(
        "{id}" if _ID_SEGMENT.match(part) and (i == 0 or parts[i - 1] != "api") else part
        for i, part in enumerate(parts)
    )


def written_issue(method: str, path: str) -> str | None:
    """The issue (key or id, as written in the path) a write changes, if it changes one."""
    if method.upper() not in _WRITES:
        return None
    match = _ISSUE_WRITE.match(path)
    if match is None or match["issue"] in _NOT_AN_ISSUE:
        return None
    return match["issue"].upper()


def scopes_of(method: str, path: str, site: str) -> tuple[Scope, ...]:
    """Every budget one request spends: its endpoint's, its issue's if it writes one, and the site's."""
    scopes = [Scope("endpoint", f"{method.upper()} {endpoint_template(path)}")]
    issue = written_issue(method, path)
    if issue is not None:
        scopes.append(Scope("issue", issue))
    scopes.append(Scope("site", site))
    return tuple(scopes)


def reset_at(response: httpx.Response) -> float | None:
    """X-RateLimit-Reset as a Unix time: Jira sends ISO 8601 (`yyyy-MM-ddTHH:mmZ`), ADO Unix seconds."""
    raw = response.headers.get("X-RateLimit-Reset", "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers.get(name, ""))
    except ValueError:
        return None


def _float_header(response: httpx.Response, name: str) -> float | None:
    try:
        return max(0.0, float(response.headers.get(name, "")))
    except ValueError:
        return None


def throttled_scope_kind(response: httpx.Response) -> ScopeKind | None:
    """Which budget a 429 says refused the request (None: it does not say)."""
    reason = response.headers.get("RateLimit-Reason", "").strip().lower()
    if reason == "jira-burst-based":
        return "endpoint"
    if reason == "jira-per-issue-on-write":
        return "issue"
    if reason.startswith("jira-quota"):
        return "site"
    if "X-RateLimit-Resource" in response.headers:
        # ADO budgets per identity: for one client, every request it sends.
        return "site"
    return None


class AdaptiveLimiter:
    """AIMD limit on in-flight requests.

    A 429 halves the allowed concurrency (not below 1); a run of successes grows it back by one
    (not above max). Only the first 429 of a "generation" halves: requests that were already in
    flight when the limit dropped report the same overload and must not halve it again.
    """

    def __init__(self, max_concurrency: int, grow_after_successes: int = 8) -> None:
        self.max = max_concurrency
        self.grow_after = grow_after_successes
        self.limit = max_concurrency
        self.in_flight = 0
        self._generation = 0
        self._successes = 0
        self._cond = asyncio.Condition()
        self._first_waiting = 0

    async def acquire(self, first: bool = False) -> int:
        """A place in flight; `first` (a long line's write, LINE_PRIORITY) before every other waiting."""
        async with self._cond:
            if first:
                self._first_waiting += 1
                try:
                    await self._cond.wait_for(lambda: self.in_flight < self.limit)
                finally:
                    self._first_waiting -= 1
                    if not self._first_waiting:
                        self._cond.notify_all()  # the others' turn, should this one have given up
            else:
                await self._cond.wait_for(lambda: self.in_flight < self.limit and not self._first_waiting)
            self.in_flight += 1
            return self._generation

    async def release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def on_throttled(self, generation: int) -> None:
        self._successes = 0
        if generation != self._generation:
            return
        self._generation += 1
        self.limit = max(1, self.limit // 2)

    def on_success(self, *, near_limit: bool = False) -> None:
        if near_limit:
            # Close to the budget: hold the current limit rather than grow into a 429.
            self._successes = 0
            return
        self._successes += 1
        if self._successes >= self.grow_after and self.limit < self.max:
            self._successes = 0
            self.limit += 1
            # Waiters are woken on the next release; growing never needs an immediate wake-up.


@dataclass
class _ScopeState:
    blocked_until: float = 0.0
    # Seconds between two requests of the scope while the service says it is near the limit (0: no spacing).
    spacing: float = 0.0
    next_at: float = 0.0
    limiter: AdaptiveLimiter | None = None
    # X-RateLimit-Limit of the scope's last 429: tells which budget a later NearLimit warning is about.
    known_limit: int | None = None
    # An issue's pace: the seconds per write its budget sustains, learned from a 429 (`ScopedLimiter.on_throttled`);
    # 0 until one taught it.
    pace: float = 0.0
    # An endpoint's writes of a long line (LINE_PRIORITY) go before its queue: when the next of them may go, and
    # when the latest write went.
    priority_next_at: float = 0.0
    last_sent: float = 0.0


def _unspace(state: _ScopeState, now: float) -> None:
    """No more spacing: slots handed out ahead no longer hold anyone back."""
    if state.spacing:
        state.spacing = 0.0
        state.next_at = min(state.next_at, now)


@dataclass
class Turn:
    """One attempt's place in its scopes, given back with `release`."""

    scopes: tuple[Scope, ...]
    generation: int
    waited_seconds: float = 0.0

    @property
    def endpoint(self) -> Scope:
        return self.scopes[0]

    @property
    def issue(self) -> Scope | None:
        return next((s for s in self.scopes if s.kind == "issue"), None)

    @property
    def site(self) -> Scope:
        return self.scopes[-1]


@dataclass
class ScopeCounters:
    """Per scope (`Scope.counted_as`): 429s taken, and seconds requests waited because of them (summed over the
    requests, so concurrent waits add up); read by benchmarks and tests."""

    throttled: dict[str, int] = field(default_factory=dict)
    waited_seconds: dict[str, float] = field(default_factory=dict)

    def snapshot(self) -> dict[str, dict[str, float]]:
        return {
            "throttled": dict(self.throttled),
            "waited_seconds": {k: round(v, 3) for k, v in self.waited_seconds.items()},
        }


class ScopedLimiter:
    """The scopes of one client (one site): when each may send again, how far apart, how many at once."""

    def __init__(
        self,
        site: str,
        max_concurrency: int,
        grow_after_successes: int = 8,
        *,
        max_wait_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        sleep: SleepFn = asyncio.sleep,
        acquire: AcquireScope | None = None,
    ) -> None:
        self.site = site
        self._max_concurrency = max_concurrency
        self._grow_after = grow_after_successes
        self._max_wait = max_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._acquire = acquire
        self._states: dict[Scope, _ScopeState] = {}
        self._answered: OrderedDict[Scope, deque[float]] = OrderedDict()
        self.counters = ScopeCounters()

    def limiter_for(self, method: str, path: str) -> AdaptiveLimiter:
        """The concurrency limiter of a request's endpoint (what the tests and benchmarks look at)."""
        return self._endpoint_state(Scope("endpoint", f"{method.upper()} {endpoint_template(path)}")).limiter  # type: ignore[return-value]

    def _endpoint_state(self, scope: Scope) -> _ScopeState:
        state = self._states.get(scope)
        if state is None:
            state = self._states[scope] = _ScopeState(limiter=AdaptiveLimiter(self._max_concurrency, self._grow_after))
        return state

    def _state(self, scope: Scope) -> _ScopeState:
        if scope.kind == "endpoint":
            return self._endpoint_state(scope)
        state = self._states.get(scope)
        if state is None:
            if scope.kind == "issue":
                self._forget_idle_issues()
            state = self._states[scope] = _ScopeState()
        return state

    def _forget_idle_issues(self) -> None:
        issues = [s for s in self._states if s.kind == "issue"]
        if len(issues) < _ISSUE_SCOPES_KEPT:
            return
        now = self._clock()
        for scope in issues:
            state = self._states[scope]
            if state.blocked_until <= now and state.next_at <= now:
                del self._states[scope]

    def _remember_answer(self, issue: Scope) -> None:
        answered = self._answered.pop(issue, None)
        if answered is None:
            answered = deque(maxlen=_ANSWERS_KEPT)
            if len(self._answered) >= _ANSWERED_ISSUES_KEPT:
                self._answered.popitem(last=False)
        answered.append(self._clock())
        self._answered[issue] = answered

    def issue_ready_in(self, issue: str) -> float:
        """Seconds until a write to this issue (key or id) may be sent; 0 while nobody said to slow it down. Lets a
        caller with writes to many issues send to another issue meanwhile instead of waiting in line."""
        state = self._states.get(Scope("issue", issue.upper()))
        if state is None:
            return 0.0
        return max(0.0, max(state.blocked_until, state.next_at) - self._clock())

    async def take_turn(self, method: str, path: str) -> Turn:
        """Wait until every scope of the request may send, then hold a place in its endpoint's concurrency."""
        scopes = scopes_of(method, path, self.site)
        now = self._clock()
        start = now
        holding: Scope | None = None
        endpoint = self._endpoint_state(scopes[0])
        # A long line's write on an endpoint whose writes queue goes before the queue (a slot after the latest
        # write that went), not behind it: with N lines posting at once, it would get 1/N of the endpoint.
        first = LINE_PRIORITY.get() and endpoint.spacing > 0 and endpoint.next_at > now
        for scope in scopes:
            # An issue nobody was told to slow down has no state: thousands of issues cost nothing.
            state = self._states.get(scope) if scope.kind == "issue" else self._state(scope)
            if state is None:
                continue
            queued = state.next_at
            if first and state is endpoint:
                queued = max(state.priority_next_at, state.last_sent + state.spacing)
            ready = max(state.blocked_until, queued)
            if ready > start:
                start, holding = ready, scope
        # Spaced scopes hand out their next slot now, before waiting, so concurrent callers line up.
        for scope in scopes:
            state = self._states.get(scope)
            if state is None or state.spacing <= 0:
                continue
            if first and state is endpoint:
                # The queue keeps its slots: the endpoint answers the extra write with a warning (or a 429), which
                # spaces the queue further.
                state.priority_next_at = start + state.spacing
            else:
                state.next_at = max(state.next_at, start) + state.spacing
        waited = min(start - now, self._max_wait)
        if waited > 0 and holding is not None:
            key = holding.counted_as
            self.counters.waited_seconds[key] = self.counters.waited_seconds.get(key, 0.0) + waited
            await self._sleep(waited)
        endpoint.last_sent = max(endpoint.last_sent, self._clock())
        if self._acquire is not None:
            for scope in scopes:
                await self._acquire(scope)
        assert endpoint.limiter is not None
        generation = await endpoint.limiter.acquire(first=LINE_PRIORITY.get())
        return Turn(scopes, generation, max(waited, 0.0))

    async def release(self, turn: Turn) -> None:
        limiter = self._endpoint_state(turn.endpoint).limiter
        assert limiter is not None
        await limiter.release()

    def on_throttled(self, turn: Turn, response: httpx.Response, asked_delay: float | None) -> Scope | None:
        """A 429: the scope it names waits (Retry-After, else until X-RateLimit-Reset); None when it names none."""
        kind = throttled_scope_kind(response)
        if kind is None:
            return None
        scope = {"endpoint": turn.endpoint, "issue": turn.issue or turn.endpoint, "site": turn.site}[kind]
        now = self._clock()
        delay = asked_delay
        if delay is None:
            reset = reset_at(response)
            delay = max(0.0, reset - now) if reset is not None else 0.0
        delay = min(delay, self._max_wait)
        state = self._state(scope)
        state.blocked_until = max(state.blocked_until, now + delay)
        state.known_limit = _int_header(response, "X-RateLimit-Limit") or state.known_limit
        if state.limiter is not None:
            state.limiter.on_throttled(turn.generation)
        if scope.kind == "issue" and state.known_limit:
            # Jira says how many writes an issue takes (X-RateLimit-Limit), not over how long. Its window is in the
            # 429 all the same: the oldest write it still counts leaves it in Retry-After, and that write is the
            # `limit`-th latest we had answered. Window ÷ limit is the pace the issue sustains; without enough
            # answers to tell (a first write refused), its budget frees up over Retry-After: spread over that.
            limit = state.known_limit
            answered = self._answered.get(scope, ())
            window = now + delay - answered[-limit] if len(answered) >= limit else None
            if window is not None and window <= _MAX_ISSUE_WINDOW_SECONDS:
                state.pace = _PACE_MARGIN * window / limit
            # The learned pace replaces the spacing a warning guessed (a second's budget spread): kept, that guess
            # held the issue at a pace that never warns again, half what it may.
            state.spacing = state.pace or max(state.spacing, delay / limit)
        key = scope.counted_as
        self.counters.throttled[key] = self.counters.throttled.get(key, 0) + 1
        log.info("%s: 429 (%s), waiting %.2fs", scope, response.headers.get("RateLimit-Reason", "ADO"), delay)
        return scope

    def on_success(self, turn: Turn, response: httpx.Response) -> None:
        """A success: near a limit, the scope it concerns spaces its requests; else the endpoint speeds up.

        X-RateLimit-NearLimit does not say which budget is nearly spent. A write to an issue spaces that issue
        (the narrowest scope) unless the warning's X-RateLimit-Limit is the one the endpoint's own 429 gave;
        a read spaces its endpoint. Should the guess be wrong, the 429 that follows names the scope exactly.
        """
        endpoint = self._endpoint_state(turn.endpoint)
        assert endpoint.limiter is not None
        if response.headers.get("X-RateLimit-NearLimit", "").lower() == "true":
            limit = _int_header(response, "X-RateLimit-Limit")
            remaining = _int_header(response, "X-RateLimit-Remaining")
            target = endpoint
            if turn.issue is not None:
                issue = self._state(turn.issue)
                if not (limit is not None and endpoint.known_limit == limit and issue.known_limit != limit):
                    target = issue
            # What is left of the budget spread over a second (Jira's burst budget is per second), one more for
            # the next refill; an issue whose pace a 429 taught keeps that pace (its window is not a second).
            if target.pace:
                # Its slots are handed out a pace apart as requests are sent (`take_turn`): the budget counts
                # sends, so the answer's latency is no reason to wait longer.
                target.spacing = target.pace
            else:
                target.spacing = BURST_WINDOW_SECONDS / ((remaining if remaining and remaining > 0 else 0) + 1)
                # The request just answered is the last one sent: the next keeps its distance from it.
                target.next_at = max(target.next_at, self._clock() + target.spacing)
            # A warning about an issue's budget is no reason to hold the endpoint's concurrency: a long thread at
            # its issue's pace is warned on every write, and held the endpoint at what its last 429 left (1).
            endpoint.limiter.on_success(near_limit=target is endpoint)
            if target is not endpoint:
                _unspace(endpoint, self._clock())
        else:
            _unspace(endpoint, self._clock())
            endpoint.limiter.on_success()
            issue_state = self._states.get(turn.issue) if turn.issue is not None else None
            if issue_state is not None and issue_state.known_limit is None:
                # Spaced on a warning only, and the warning is gone. An issue refused once keeps its spacing.
                _unspace(issue_state, self._clock())
            elif issue_state is not None and issue_state.spacing:
                # Refused once, spaced, and not warned now: the budget has room (the pace was a guess, or learned
                # while others wrote the issue too), so it quickens; at the right pace answers warn and hold it,
                # and a 429 past it teaches it again.
                issue_state.pace *= _PACE_QUICKEN
                issue_state.spacing *= _PACE_QUICKEN
        if turn.issue is not None:
            self._remember_answer(turn.issue)
        if "X-RateLimit-Resource" in response.headers or "X-RateLimit-Delay" in response.headers:
            # ADO delays a request when the identity nears its TSTU budget: keep that distance between ours.
            site = self._state(turn.site)
            site.spacing = _float_header(response, "X-RateLimit-Delay") or 0.0
            site.next_at = max(site.next_at, self._clock() + site.spacing)
        else:
            site_state = self._states.get(turn.site)
            if site_state is not None:
                _unspace(site_state, self._clock())
