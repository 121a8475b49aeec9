"""The client's throttling per scope: a 429 names the endpoint, issue or site that waits, and only that one does."""

from __future__ import annotations

import random

import httpx
import pytest

from migrayt.connectors.http import HttpSettings, ResilientHttp
from migrayt.connectors.limits import Scope, endpoint_template, reset_at, scopes_of, written_issue
from migrayt.sandbox.budgets import Refusal, ScopedBudgets, Standing
from migrayt.sandbox.fault_config import FaultConfig


class Recorder:
    """A sleep that records what it was asked to wait, without waiting; the clock stays where it is."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(round(seconds, 3))


NOW = 1_000_000.0


def make_http(handler, sleep: Recorder, **hooks) -> ResilientHttp:
    settings = HttpSettings(base_url="https://acme.atlassian.net", max_concurrency=8, backoff_base_seconds=1.0)
    return ResilientHttp(
        settings, transport=httpx.MockTransport(handler), sleep=sleep, rng=random.Random(1), clock=lambda: NOW, **hooks
    )


def refusing(path: str, reason: str, retry_after: str = "5", method: str = "POST"):
    """A Jira that refuses the first request to `path` with a 429 of `reason`, and answers everything else."""
    refused: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == method and request.url.path == path and not refused:
            refused.append(path)
            headers = {"Retry-After": retry_after, "RateLimit-Reason": reason, "X-RateLimit-Remaining": "0"}
            return httpx.Response(429, headers=headers, json={"errorMessages": ["Rate limit exceeded."]})
        return httpx.Response(200, json={})

    return handler


def test_endpoint_templates_and_scopes() -> None:
    assert endpoint_template("/rest/api/3/issue/ABC-12/comment") == "/rest/api/3/issue/{id}/comment"
    assert endpoint_template("/rest/api/3/issue/10042/attachments") == "/rest/api/3/issue/{id}/attachments"
    assert endpoint_template("/rest/api/2/search/jql") == "/rest/api/2/search/jql"
    assert endpoint_template("/acme/_apis/wit/workitems/17") == "/acme/_apis/wit/workitems/{id}"
    assert written_issue("POST", "/rest/api/3/issue/abc-12/comment") == "ABC-12"
    assert written_issue("GET", "/rest/api/3/issue/ABC-12") is None
    assert written_issue("POST", "/rest/api/3/issue/bulk") is None
    assert scopes_of("PUT", "/rest/api/3/issue/ABC-1", "acme.atlassian.net") == (
        Scope("endpoint", "PUT /rest/api/3/issue/{id}"),
        Scope("issue", "ABC-1"),
        Scope("site", "acme.atlassian.net"),
    )


def test_jira_and_ado_reset_headers_are_read() -> None:
    jira = httpx.Response(429, headers={"X-RateLimit-Reset": "2026-12-06T10:31Z"})
    assert reset_at(jira) == 1796553060.0
    assert reset_at(httpx.Response(200, headers={"X-RateLimit-Reset": "1796553060"})) == 1796553060.0
    assert reset_at(httpx.Response(200)) is None


async def test_a_burst_429_holds_back_only_its_endpoint() -> None:
    sleep = Recorder()
    handler = refusing("/rest/api/3/issue/A-1/comment", "jira-burst-based")
    async with make_http(handler, sleep) as http:
        await http.request("POST", "/rest/api/3/issue/A-1/comment", idempotent=False, json={})
        assert sleep.delays == [5.0], "the refused comment waited what Retry-After asked, once"
        # The clock has not moved: the comments endpoint is still refused, for another issue too.
        await http.request("POST", "/rest/api/3/issue/B-2/comment", idempotent=False, json={})
        assert sleep.delays == [5.0, 5.0]
        # Attachments, reads and edits are other endpoints: they go at once, at full concurrency.
        await http.request("POST", "/rest/api/3/issue/A-1/attachments", idempotent=False, content=b"x")
        await http.request("GET", "/rest/api/3/issue/A-1", idempotent=True)
        assert sleep.delays == [5.0, 5.0]
        assert http.limiter.limit == 8, "the site's concurrency is not halved for one endpoint's 429"
        assert http.scopes.limiter_for("POST", "/rest/api/3/issue/X-9/comment").limit == 4
        assert http.scopes.limiter_for("POST", "/rest/api/3/issue/X-9/attachments").limit == 8
        counters = http.counters.snapshot()
    assert counters["scopes"]["throttled"] == {"endpoint POST /rest/api/3/issue/{id}/comment": 1}
    assert counters["throttled"] == 1 and counters["requests"] == 5


async def test_a_per_issue_429_spaces_writes_to_that_issue_only() -> None:
    sleep = Recorder()
    handler = refusing("/rest/api/3/issue/A-1", "jira-per-issue-on-write", "3", method="PUT")
    async with make_http(handler, sleep) as http:
        await http.request("PUT", "/rest/api/3/issue/A-1", idempotent=True, json={})
        assert sleep.delays == [3.0]
        await http.request("PUT", "/rest/api/3/issue/B-2", idempotent=True, json={})
        await http.request("POST", "/rest/api/3/issue/B-2/comment", idempotent=False, json={})
        await http.request("GET", "/rest/api/3/issue/A-1", idempotent=True)
        assert sleep.delays == [3.0], "other issues and reads of the issue are not held back"
        await http.request("POST", "/rest/api/3/issue/A-1/comment", idempotent=False, json={})
        assert sleep.delays == [3.0, 3.0], "any write to the refused issue waits"
    assert http.counters.snapshot()["scopes"]["throttled"] == {"issues": 1}


async def test_a_quota_429_holds_back_the_whole_site() -> None:
    sleep = Recorder()
    handler = refusing("/rest/api/3/search/jql", "jira-quota-tenant-based", "60")
    async with make_http(handler, sleep) as http:
        await http.request("POST", "/rest/api/3/search/jql", idempotent=True, json={})
        await http.request("GET", "/rest/api/3/issue/A-1", idempotent=True)
        assert sleep.delays == [60.0, 60.0]
        assert http.limiter.limit == 4, "a site-wide refusal slows every request to the site"


def near_limit_jira(limit: str = "10", remaining: str = "1"):
    """A Jira that warns on every answer; a burst 429 of limit 20 on the first write to an issue B-…."""
    refused: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/rest/api/3/issue/B-") and not refused:
            refused.append(request.url.path)
            headers = {"Retry-After": "0", "RateLimit-Reason": "jira-burst-based", "X-RateLimit-Limit": "20"}
            return httpx.Response(429, headers=headers)
        limit_now = "20" if request.url.path.startswith("/rest/api/3/issue/B-") else limit
        headers = {"X-RateLimit-NearLimit": "true", "X-RateLimit-Remaining": remaining, "X-RateLimit-Limit": limit_now}
        return httpx.Response(200, headers=headers, json={})

    return handler


async def test_near_the_limit_reads_of_an_endpoint_spread_what_is_left() -> None:
    sleep = Recorder()
    async with make_http(near_limit_jira(), sleep) as http:
        await http.request("POST", "/rest/api/3/search/jql", idempotent=True, json={})
        assert sleep.delays == []
        # One request left of a per-second budget: the next searches go half a second apart, in line.
        await http.request("POST", "/rest/api/3/search/jql", idempotent=True, json={})
        await http.request("POST", "/rest/api/3/search/jql", idempotent=True, json={})
        assert sleep.delays == [0.5, 1.0]
        await http.request("GET", "/rest/api/3/myself", idempotent=True)
        assert sleep.delays == [0.5, 1.0], "another endpoint is not spaced"


async def test_near_the_limit_writes_space_their_issue_unless_the_endpoint_said_it_is_its_budget() -> None:
    sleep = Recorder()
    async with make_http(near_limit_jira(), sleep) as http:
        await http.request("POST", "/rest/api/3/issue/A-1/comment", idempotent=False, json={})
        await http.request("POST", "/rest/api/3/issue/A-2/comment", idempotent=False, json={})
        assert sleep.delays == [], "the warning spaced issue A-1, not the comments endpoint"
        await http.request("PUT", "/rest/api/3/issue/A-1", idempotent=True, json={})
        assert sleep.delays == [0.5], "the next write to A-1 keeps its distance"

        # The endpoint's own 429 said its budget is 20; a warning about a budget of 20 is the endpoint's.
        await http.request("POST", "/rest/api/3/issue/B-1/worklog", idempotent=False, json={})
        assert sleep.delays == [0.5]
        await http.request("POST", "/rest/api/3/issue/B-2/worklog", idempotent=False, json={})
        assert sleep.delays == [0.5, 0.5], "another issue, same endpoint: spaced"


async def test_an_issue_spaced_on_a_warning_speeds_up_when_the_warning_is_gone() -> None:
    sleep = Recorder()
    answers = iter([{"X-RateLimit-NearLimit": "true", "X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "10"}, {}])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=next(answers, {}), json={})

    async with make_http(handler, sleep) as http:
        await http.request("PUT", "/rest/api/3/issue/C-1", idempotent=True, json={})
        await http.request("PUT", "/rest/api/3/issue/C-1", idempotent=True, json={})
        assert sleep.delays == [1.0], "spaced after the warning"
        for _ in range(3):
            await http.request("PUT", "/rest/api/3/issue/C-1", idempotent=True, json={})
        assert sleep.delays == [1.0], "no warning on the last answer: no spacing"


async def test_ado_delay_spaces_every_request_of_the_identity() -> None:
    sleep = Recorder()

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"X-RateLimit-Resource": "ATCPU", "X-RateLimit-Delay": "0.250", "X-RateLimit-Remaining": "12"}
        return httpx.Response(200, headers=headers, json={})

    async with make_http(handler, sleep) as http:
        await http.request("GET", "/acme/_apis/wit/workitems/1", idempotent=True)
        await http.request("GET", "/acme/_apis/wit/workitems/2/comments", idempotent=True)
        assert sleep.delays == [0.25]


async def test_acquire_hook_is_awaited_with_each_scope_before_every_attempt() -> None:
    asked: list[Scope] = []

    async def acquire(scope: Scope) -> None:
        asked.append(scope)

    sleep = Recorder()
    handler = refusing("/rest/api/3/issue/A-1/comment", "jira-burst-based", "1")
    async with make_http(handler, sleep, acquire=acquire) as http:
        await http.request("POST", "/rest/api/3/issue/A-1/comment", idempotent=False, json={})
    once = [
        Scope("endpoint", "POST /rest/api/3/issue/{id}/comment"),
        Scope("issue", "A-1"),
        Scope("site", "acme.atlassian.net"),
    ]
    assert asked == once + once, "the refused attempt and its retry each asked"


@pytest.mark.parametrize("reason", [None, "something-new"])
async def test_a_429_that_names_no_scope_slows_the_site_as_before(reason: str | None) -> None:
    sleep = Recorder()

    def handler(request: httpx.Request) -> httpx.Response:
        if not sleep.delays:
            headers = {"Retry-After": "2", **({"RateLimit-Reason": reason} if reason else {})}
            return httpx.Response(429, headers=headers)
        return httpx.Response(200, json={})

    async with make_http(handler, sleep) as http:
        await http.request("GET", "/rest/api/3/issue/A-1", idempotent=True)
        await http.request("GET", "/rest/api/3/issue/A-2/comment", idempotent=True)
        assert sleep.delays == [2.0], "only the refused request waited"
        assert http.limiter.limit == 4


class SimulatedJira:
    """The sandbox's own budgets (jira-cloud-like) on a simulated clock: each answer takes `latency` seconds, and
    the client's sleeps move the clock instead of waiting."""

    def __init__(self, latency: float = 0.15) -> None:
        self.now = NOW
        self.latency = latency
        self.cfg = FaultConfig(limit_profile="jira-cloud-like")
        self.budgets = ScopedBudgets()
        self.accepted = 0
        self.refused = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.now += self.latency
        verdict = self.budgets.admit_jira(self.cfg, request.method, request.url.path, self.now)
        if isinstance(verdict, Refusal):
            self.refused += 1
        else:
            self.accepted += 1
        return jira_answer(verdict)


def jira_answer(verdict: Refusal | Standing | None) -> httpx.Response:
    """What the sandbox Jira answers a write its budgets gave this verdict: a 429 naming the budget, or a 201 that
    warns when a budget is nearly spent."""
    if isinstance(verdict, Refusal):
        headers = {
            "Retry-After": str(verdict.retry_after_seconds),
            "RateLimit-Reason": verdict.reason,
            "X-RateLimit-Limit": str(verdict.limit),
            "X-RateLimit-Remaining": "0",
        }
        return httpx.Response(429, headers=headers, json={"errorMessages": ["Rate limit exceeded."]})
    headers = {}
    if isinstance(verdict, Standing) and verdict.near:
        headers = {
            "X-RateLimit-NearLimit": "true",
            "X-RateLimit-Limit": str(verdict.limit),
            "X-RateLimit-Remaining": str(verdict.remaining),
        }
    return httpx.Response(201, headers=headers, json={})


@pytest.mark.parametrize("latency", [0.0, 0.15])
async def test_one_issue_s_long_thread_goes_at_the_pace_its_write_budget_allows(latency: float) -> None:
    """A 200-comment thread on one issue, one comment after the other (as a thread is posted), against Jira's
    per-issue write budget of 10 writes in any 5 s: its floor is 100 s. Spacing the issue as if its budget were per
    second (one write a second once nothing is left) posted at about half the pace the budget allows: the
    generated project's 350-comment thread set a 300-item run's length at ~1.1 writes/s (bench/results/
    compare_side_by_side_300_ramp.md). Answered at once, the thread's first writes warn before its 429 teaches the
    pace: the warning's spacing must not outlive the lesson."""
    jira = SimulatedJira(latency)
    settings = HttpSettings(base_url="https://acme.atlassian.net", max_concurrency=8, backoff_base_seconds=1.0)
    http = ResilientHttp(
        settings,
        transport=httpx.MockTransport(jira.handler),
        sleep=jira.sleep,
        rng=random.Random(1),
        clock=jira.clock,
    )
    async with http:
        for n in range(200):
            await http.request("POST", "/rest/api/3/issue/PHX-1/comment", idempotent=False, json={"n": n})
    elapsed = jira.now - NOW
    floor = 200 / (10 / 5.0)
    assert jira.accepted == 200
    assert elapsed <= 1.15 * floor, f"{elapsed:.1f} s for a floor of {floor:.0f} s ({jira.refused} 429s)"
    assert jira.refused <= 10, "learning the pace costs a few 429s, not one per window"


async def test_writes_the_client_did_not_see_do_not_teach_it_a_pace_of_minutes() -> None:
    """The issue was written long ago (create, fields), then someone else (an automation rule, another worker) fills
    its budget just as the thread starts: the 429's window, measured from our own answers, would be ten minutes
    long. The thread still goes at about its budget's pace."""
    jira = SimulatedJira(latency=0.15)
    settings = HttpSettings(base_url="https://acme.atlassian.net", max_concurrency=8, backoff_base_seconds=1.0)
    http = ResilientHttp(
        settings, transport=httpx.MockTransport(jira.handler), sleep=jira.sleep, rng=random.Random(1), clock=jira.clock
    )
    async with http:
        for n in range(10):
            await http.request("PUT", "/rest/api/3/issue/PHX-1", idempotent=True, json={"n": n})
        jira.now += 600
        for _ in range(10):
            jira.budgets.admit_jira(jira.cfg, "PUT", "/rest/api/3/issue/PHX-1", jira.now)
        started = jira.now
        for n in range(100):
            await http.request("POST", "/rest/api/3/issue/PHX-1/comment", idempotent=False, json={"n": n})
    assert jira.now - started <= 1.5 * 100 / (10 / 5.0), "within half again its floor, not minutes a write"
