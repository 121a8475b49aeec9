"""The scoped rate limits of Jira Cloud and Azure DevOps, as budgets a sandbox service spends per request.

Jira Cloud counts three budgets at once, each with its own scope (Atlassian, "Rate limiting"): a burst budget per
endpoint and HTTP method, a write budget per issue, and a quota for the whole site. Azure DevOps counts TSTUs per
identity in a sliding five-minute window (Microsoft, "Rate and usage limits"). A request is refused by the first budget
it does not fit, and spends nothing then: a refused request did not happen.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass

from migrayt.sandbox.fault_config import FaultConfig

# A path segment that names one thing rather than a kind of thing: a number, an issue key, a GUID.
_ID_SEGMENT = re.compile(
    r"^(?:\d+|[A-Za-z][A-Za-z0-9_]*-\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
# Writes to one issue: the issue itself and everything under it (comments, attachments, transitions, ...).
_ISSUE_WRITE = re.compile(r"^/rest/api/(?:2|3|latest)/issue/(?P<issue>[^/]+)(?:/.*)?$")
_NOT_AN_ISSUE = frozenset({"bulk", "bulkfetch", "createmeta", "picker", "properties", "archive", "unarchive"})

# Share of a budget under which a successful answer warns (Atlassian: X-RateLimit-NearLimit below 20% remaining).
NEAR_LIMIT_SHARE = 0.2
_HOUR = 3600.0

REASON_BURST = "jira-burst-based"
REASON_ISSUE = "jira-per-issue-on-write"
# One site's hourly quota; Atlassian's "global" pool is an app's over every site, which one migration cannot see.
REASON_QUOTA = "jira-quota-tenant-based"
REASON_TSTU = "ado-tstu"


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
    if method.upper() not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    match = _ISSUE_WRITE.match(path)
    if match is None or match["issue"] in _NOT_AN_ISSUE:
        return None
    return match["issue"].upper()


@dataclass(frozen=True)
class Refusal:
    """Which budget refused a request and when it will have room again."""

    reason: str
    limit: int
    retry_after_seconds: float


@dataclass(frozen=True)
class Standing:
    """The budget closest to its limit after a request was admitted."""

    limit: int
    remaining: int
    reset_seconds: float
    near: bool
    # ADO: how long the service held the request back because the identity is close to its budget.
    delay_seconds: float = 0.0


class _Bucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.at = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now


class _Window:
    """Costs spent in a sliding window."""

    def __init__(self) -> None:
        self.spent: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def trim(self, now: float, window: float) -> None:
        while self.spent and self.spent[0][0] <= now - window:
            self.total -= self.spent.popleft()[1]

    def room_at(self, cost: float, limit: float, window: float) -> float:
        """When enough of the window's spending has aged out for `cost` to fit."""
        need = self.total + cost - limit
        for at, spent in self.spent:
            need -= spent
            if need <= 0:
                return at + window
        return self.spent[-1][0] + window if self.spent else 0.0

    def spend(self, now: float, cost: float) -> None:
        self.spent.append((now, cost))
        self.total += cost


class ScopedBudgets:
    """The live budgets of one sandbox service; the caller holds the fault controller's lock."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._issue_writes: dict[str, deque[float]] = {}
        self._quota_started: float | None = None
        self._quota_used = 0
        self._tstu: dict[str, _Window] = {}

    @staticmethod
    def active(cfg: FaultConfig) -> bool:
        return bool(
            cfg.jira_burst_rps or cfg.jira_burst_rps_by_endpoint or cfg.jira_issue_writes or cfg.jira_quota_per_hour
        ) or bool(cfg.ado_tstu_limit)

    def admit_jira(self, cfg: FaultConfig, method: str, path: str, now: float) -> Refusal | Standing | None:
        endpoint = f"{method.upper()} {endpoint_template(path)}"
        standings: list[Standing] = []

        bucket: _Bucket | None = None
        rate = cfg.jira_burst_rps_by_endpoint.get(endpoint, cfg.jira_burst_rps)
        if rate:
            capacity = max(1.0, rate * cfg.jira_burst_seconds)
            bucket = self._buckets.get(endpoint)
            if bucket is None or bucket.rate != rate or bucket.capacity != capacity:
                bucket = self._buckets[endpoint] = _Bucket(rate, capacity, now)
            bucket.refill(now)
            if bucket.tokens < 1.0:
                return Refusal(REASON_BURST, math.floor(capacity), (1.0 - bucket.tokens) / rate)

        writes: deque[float] | None = None
        issue = written_issue(method, path) if cfg.jira_issue_writes else None
        if issue is not None and cfg.jira_issue_writes:
            window = cfg.jira_issue_write_window_seconds
            writes = self._issue_writes.setdefault(issue, deque())
            while writes and writes[0] <= now - window:
                writes.popleft()
            if len(writes) >= cfg.jira_issue_writes:
                return Refusal(REASON_ISSUE, cfg.jira_issue_writes, writes[0] + window - now)

        if cfg.jira_quota_per_hour:
            if self._quota_started is None or now - self._quota_started >= _HOUR:
                self._quota_started, self._quota_used = now, 0
            if self._quota_used >= cfg.jira_quota_per_hour:
                return Refusal(REASON_QUOTA, cfg.jira_quota_per_hour, self._quota_started + _HOUR - now)

        # Admitted by every budget: only now is anything spent.
        if bucket is not None:
            bucket.tokens -= 1.0
            limit = math.floor(bucket.capacity)
            standings.append(
                Standing(
                    limit,
                    math.floor(bucket.tokens),
                    (bucket.capacity - bucket.tokens) / bucket.rate,
                    bucket.tokens < bucket.capacity * NEAR_LIMIT_SHARE,
                )
            )
        if writes is not None and cfg.jira_issue_writes:
            writes.append(now)
            limit = cfg.jira_issue_writes
            remaining = limit - len(writes)
            reset = writes[0] + cfg.jira_issue_write_window_seconds - now
            standings.append(Standing(limit, remaining, reset, remaining < limit * NEAR_LIMIT_SHARE))
        if cfg.jira_quota_per_hour and self._quota_started is not None:
            self._quota_used += 1
            limit = cfg.jira_quota_per_hour
            remaining = limit - self._quota_used
            reset = self._quota_started + _HOUR - now
            standings.append(Standing(limit, remaining, reset, remaining < limit * NEAR_LIMIT_SHARE))
        if not standings:
            return None
        # The headers tell about the budget with the smallest share left: the one the caller meets first.
        return min(standings, key=lambda s: s.remaining / max(s.limit, 1))

    def admit_ado(self, cfg: FaultConfig, identity: str, write: bool, now: float) -> Refusal | Standing | None:
        limit = cfg.ado_tstu_limit
        if not limit:
            return None
        window = cfg.ado_tstu_window_seconds
        cost = cfg.ado_tstu_per_write if write else cfg.ado_tstu_per_read
        spent = self._tstu.setdefault(identity, _Window())
        spent.trim(now, window)
        if spent.total + cost > limit:
            return Refusal(REASON_TSTU, math.floor(limit), max(spent.room_at(cost, limit, window) - now, 0.0))
        spent.spend(now, cost)
        remaining = limit - spent.total
        near = remaining < limit * NEAR_LIMIT_SHARE
        # Microsoft: near the budget, requests are delayed before any is blocked. A delay that grows as the budget
        # runs out, at most half a second, slows a client without stalling it.
        delay = 0.5 * (1.0 - remaining / (limit * NEAR_LIMIT_SHARE)) if near else 0.0
        # Microsoft: X-RateLimit-Reset is when usage would be back to zero if the identity stopped now.
        reset = spent.spent[-1][0] + window - now if spent.spent else 0.0
        return Standing(math.floor(limit), math.floor(remaining), reset, near, delay)
