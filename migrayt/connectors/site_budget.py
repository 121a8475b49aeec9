"""One request budget per Jira site, shared by every worker process that talks to it, fair between runs.

Jira limits a site, not a process: two workers that each keep to the site's rate send twice it and are
answered 429. So the budget is a token bucket in PostgreSQL (table `site_budget`, one row per site), taken
from in one SQL statement on the database's clock. To keep the database load low, a process takes small
leases (up to a quarter of a second's worth of tokens, only as many as it has requests waiting) and hands
them out at once, so no leased token lies around unspent. A 429's Retry-After is written to the row
(`blocked_until`): every process pauses, not only the one that was answered.

Fairness: in front of the bucket each process keeps one queue per run (the Temporal workflow the request
is made for) and hands tokens out round-robin over the runs that wait, one token each in turn. A run with
many batches in flight gets no more of the site than a run with one, so a small run beside a large one is
never starved; within a run, requests go in the order they asked.

When the database cannot be reached, a process falls back to a bucket of its own at the same rate (and
says so in its log) rather than failing the Jira call: its run is stopped by the store anyway, soon.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# The bucket holds at most half a second of the rate: a burst after a quiet spell stays well inside the
# one second of burst Jira (and the sandbox) allow, leaving room for requests that arrive bunched.
BURST_SECONDS = 0.5
# A lease is at most this long a slice of the rate (half the burst, so two processes both find tokens): at 100
# requests/s, 25 tokens per SQL statement, a process asks at most 4 times a second per site.
LEASE_SECONDS = 0.25
# The longest a process sleeps before asking again; a rate raised meanwhile is seen this soon.
MAX_WAIT_SECONDS = 5.0

# RateLimit-Reason values of Jira's limits on the whole site (its quotas); a 429 without a reason counts as one too.
SITE_WIDE_REASONS = ("jira-quota",)

SleepFn = Callable[[float], Awaitable[None]]


def site_key(base_url: str) -> str:
    """The row of a site: the same for every spelling of its base URL (case of host, trailing slash)."""
    url = httpx.URL(base_url.strip())
    port = f":{url.port}" if url.port else ""
    normal = f"{url.scheme.lower()}://{url.host.lower()}{port}{url.path.rstrip('/')}"
    return hashlib.sha256(normal.encode()).hexdigest()


def burst_of(rate: float) -> float:
    return max(1.0, rate * BURST_SECONDS)


def lease_of(rate: float) -> int:
    return max(1, math.floor(rate * LEASE_SECONDS))


@dataclass(frozen=True)
class Take:
    """What one take from a bucket gave: tokens granted, and how long until asking again is worth it."""

    granted: int
    # Until the tokens missing from this take are there, or, when it was served in full, a whole next lease.
    wait_seconds: float
    rate: float
    # A 429's pause runs: the wait is Jira's, not a guess at when tokens are back.
    paused: bool = False


class Bucket(Protocol):
    async def take(self, want: int) -> Take: ...

    async def pause(self, seconds: float) -> None: ...


class LocalBucket:
    """A token bucket of this process alone: the fallback, and the budget when sharing is switched off."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = 0.0
        self._refilled_at = clock()
        self._blocked_until = 0.0

    async def take(self, want: int) -> Take:
        now = self._clock()
        burst = burst_of(self.rate)
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(burst, self._tokens + self.rate * elapsed)
        self._refilled_at = max(self._refilled_at, now)
        if self._blocked_until > now:
            return Take(0, self._blocked_until - now, self.rate, paused=True)
        granted = min(want, math.floor(self._tokens))
        self._tokens -= granted
        return Take(granted, _wait(want, self._tokens, self.rate, burst), self.rate)

    async def pause(self, seconds: float) -> None:
        now = self._clock()
        self._blocked_until = max(self._blocked_until, now + seconds)
        self._tokens = 0.0
        self._refilled_at = max(self._refilled_at, self._blocked_until)


def _wait(want: int, left: float, rate: float, burst: float) -> float:
    """Seconds until `want` tokens (no more than a burst) are there, counting those left."""
    need = min(float(want), math.floor(burst)) - left
    return max(0.0, need / rate)


# One statement: refill by the time passed on the database's clock (never beyond the burst), grant what is
# there up to `want` unless a 429's pause runs, and store what is left. The row lock taken by FOR UPDATE
# orders the processes; each sees the row as the one before it left it.
_TAKE = text(
    """
    WITH cur AS (
        SELECT b.site, clock_timestamp() AS now, b.blocked_until, b.refilled_at,
               COALESCE(b.rate, :default_rate) AS rate, b.tokens
        FROM site_budget b WHERE b.site = :site FOR UPDATE
    ), filled AS (
        SELECT site, now, blocked_until, refilled_at, rate,
               LEAST(GREATEST(1.0, rate * :burst_seconds),
                     tokens + rate * GREATEST(0.0, EXTRACT(EPOCH FROM now - refilled_at))) AS avail
        FROM cur
    ), g AS (
        SELECT *, CASE WHEN blocked_until > now THEN 0 ELSE LEAST(:want, FLOOR(avail)) END AS granted
        FROM filled
    )
    UPDATE site_budget b
    SET tokens = g.avail - g.granted, refilled_at = GREATEST(g.refilled_at, g.now)
    FROM g WHERE b.site = g.site
    RETURNING g.granted, g.avail - g.granted AS left_over, g.rate,
              GREATEST(0.0, EXTRACT(EPOCH FROM g.blocked_until - g.now)) AS blocked_for
    """
)
_CREATE = text(
    """
    INSERT INTO site_budget (site, tokens, refilled_at) VALUES (:site, 0, clock_timestamp())
    ON CONFLICT (site) DO NOTHING
    """
)
# Retry-After counts from now for everyone; no token builds up while the pause runs.
_PAUSE = text(
    """
    WITH n AS (SELECT clock_timestamp() + make_interval(secs => :seconds) AS until)
    UPDATE site_budget
    SET blocked_until = GREATEST(blocked_until, n.until),
        tokens = 0,
        refilled_at = GREATEST(refilled_at, blocked_until, n.until)
    FROM n
    WHERE site = :site
    """
)
_SET_RATE = text(
    """
    INSERT INTO site_budget (site, tokens, refilled_at, rate) VALUES (:site, 0, clock_timestamp(), :rate)
    ON CONFLICT (site) DO UPDATE SET rate = :rate
    """
)


class SharedBucket:
    """The site's row in PostgreSQL, the one bucket of every process."""

    def __init__(self, engine: AsyncEngine, base_url: str, default_rate: float) -> None:
        self._engine = engine
        self.site = site_key(base_url)
        self.default_rate = default_rate
        self.statements = 0
        self._created = False

    async def _ensure_row(self) -> None:
        if self._created:
            return
        async with self._engine.begin() as conn:
            await conn.execute(_CREATE, {"site": self.site})
        self.statements += 1
        self._created = True

    async def take(self, want: int) -> Take:
        await self._ensure_row()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    _TAKE,
                    {
                        "site": self.site,
                        "want": want,
                        "default_rate": self.default_rate,
                        "burst_seconds": BURST_SECONDS,
                    },
                )
            ).one_or_none()
        self.statements += 1
        if row is None:  # the row was deleted under us: made again on the next take
            self._created = False
            return Take(0, 0.0, self.default_rate)
        granted, left, rate, blocked_for = int(row[0]), float(row[1]), float(row[2]), float(row[3] or 0.0)
        if blocked_for > 0:
            return Take(granted, blocked_for, rate, paused=True)
        return Take(granted, _wait(want, left, rate, burst_of(rate)), rate)

    async def pause(self, seconds: float) -> None:
        await self._ensure_row()
        async with self._engine.begin() as conn:
            await conn.execute(_PAUSE, {"site": self.site, "seconds": seconds})
        self.statements += 1


async def set_site_rate(engine: AsyncEngine, base_url: str, rate: float | None) -> None:
    """A site's own rate (requests per second, for all processes together); None: back to the setting."""
    async with engine.begin() as conn:
        await conn.execute(_SET_RATE, {"site": site_key(base_url), "rate": rate})


@dataclass
class BudgetCounters:
    """What a site budget did; SQL statements per Jira call is the database load it costs."""

    calls: int = 0
    waits: int = 0
    pauses: int = 0
    fallbacks: int = 0
    granted_by_run: dict[str, int] = field(default_factory=dict)


class SiteBudget:
    """One site's budget in this process: a fair queue per run in front of the bucket.

    `acquire()` returns when the request may be sent; `pause(seconds)` passes a 429's Retry-After on."""

    def __init__(
        self,
        bucket: Bucket,
        *,
        rate: float,
        run_of: Callable[[], str] = lambda: "",
        sleep: SleepFn | None = None,
    ) -> None:
        self._bucket = bucket
        self._fallback = LocalBucket(rate)
        self._run_of = run_of
        self._sleep: SleepFn = sleep or asyncio.sleep
        self._lease = lease_of(rate)
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}
        self._turns: deque[str] = deque()
        self._pump: asyncio.Task[None] | None = None
        self.counters = BudgetCounters()

    @property
    def statements(self) -> int:
        return getattr(self._bucket, "statements", 0)

    async def acquire(self, scope: object = None) -> None:
        """Wait for one token. `scope` (a request's limit scope) is accepted and not used: the site is one budget."""
        run = self._run_of()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(run)
        if queue is None:
            queue = self._queues[run] = deque()
            self._turns.append(run)
        queue.append(waiter)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve())
        await waiter
        self.counters.calls += 1
        self.counters.granted_by_run[run] = self.counters.granted_by_run.get(run, 0) + 1

    async def pause(self, seconds: float, reason: str | None = None) -> None:
        """Jira said wait `seconds` (a 429's Retry-After): every process sharing the site waits.

        Only for a limit of the whole site: a 429 whose `RateLimit-Reason` names a narrower scope (one endpoint's
        burst, one issue's writes) slows that scope alone, in the client, and must not stop the others' requests."""
        if reason and not reason.lower().startswith(SITE_WIDE_REASONS):
            return
        self.counters.pauses += 1
        await self._fallback.pause(seconds)
        try:
            await self._bucket.pause(seconds)
        except Exception as exc:  # noqa: BLE001 - the pause holds in this process all the same
            log.warning("site budget: pause not shared, the database is unreachable (%s)", type(exc).__name__)

    def _waiting(self) -> int:
        return sum(1 for q in self._queues.values() for w in q if not w.done())

    async def _serve(self) -> None:
        empty = 0
        while (want := min(self._waiting(), self._lease)) > 0:
            try:
                took = await self._bucket.take(want)
            # Whatever the database did, waiting requests must not hang on a pump that died: this process limits alone.
            except Exception as exc:  # noqa: BLE001
                self.counters.fallbacks += 1
                log.warning(
                    "site budget: the database is unreachable (%s), this process limits alone", type(exc).__name__
                )
                took = await self._fallback.take(want)
            self._lease = lease_of(took.rate)
            self._fallback.rate = took.rate
            self._hand_out(took.granted)
            # Another process took what this one waited for: wait longer each time, as if the rate were shared
            # by one process more, rather than ask the database for nothing at the same cadence as the other.
            empty = min(3, empty + 1) if took.granted == 0 and not took.paused else 0
            # Asking again before a lease's worth is back would cost a statement for a token or none.
            if self._waiting() and took.wait_seconds > 0:
                self.counters.waits += 1
                await self._sleep(min(MAX_WAIT_SECONDS, took.wait_seconds * (1 + empty)))

    def _hand_out(self, tokens: int) -> None:
        """One token to each waiting run in turn; a token whose waiter gave up goes to the next."""
        while tokens > 0 and self._turns:
            run = self._turns[0]
            queue = self._queues[run]
            while queue and queue[0].done():  # cancelled while waiting
                queue.popleft()
            if queue:
                queue.popleft().set_result(None)
                tokens -= 1
            self._turns.rotate(-1)
            if not queue:
                self._turns.remove(run)
                del self._queues[run]
        # Tokens nobody waits for any more are dropped: spending them later could exceed the site's rate.


class SiteBudgets:
    """The budgets of one worker process, one per Jira site."""

    def __init__(
        self,
        *,
        rate: float,
        engine: AsyncEngine | None,
        run_of: Callable[[], str] = lambda: "",
    ) -> None:
        """`engine`: the database the budget is shared through; None keeps each site's budget in this process."""
        self.rate = rate
        self._engine = engine
        self._run_of = run_of
        self._sites: dict[str, SiteBudget] = {}

    def for_site(self, base_url: str) -> SiteBudget:
        key = site_key(base_url)
        if key not in self._sites:
            bucket: Bucket = (
                SharedBucket(self._engine, base_url, self.rate) if self._engine is not None else LocalBucket(self.rate)
            )
            self._sites[key] = SiteBudget(bucket, rate=self.rate, run_of=self._run_of)
        return self._sites[key]

    def counters(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for key, budget in self._sites.items():
            calls = budget.counters.calls
            out[key[:12]] = {
                "calls": calls,
                "sql_statements": budget.statements,
                "sql_per_call": round(budget.statements / calls, 3) if calls else 0.0,
                "pauses": budget.counters.pauses,
            }
        return out
