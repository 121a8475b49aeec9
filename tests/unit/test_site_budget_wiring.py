"""How the Jira site budget is wired: the client takes a token before every attempt and passes a 429's wait on;
every tenant's client of one site shares one budget; a request counts for the run (workflow) its activity serves."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from migrayt.connections import TargetConnection
from migrayt.connectors.http import HttpSettings, ResilientHttp
from migrayt.connectors.pool import ConnectorPool
from migrayt.connectors.site_budget import LocalBucket, SiteBudget, SiteBudgets
from migrayt.tenant_secrets import SecretPolicy
from migrayt.worker.main import _run_of_activity


class CountingBudget:
    def __init__(self) -> None:
        self.acquired = 0
        self.pauses: list[tuple[float, str | None]] = []

    async def acquire(self) -> None:
        self.acquired += 1

    async def pause(self, seconds: float, reason: str | None = None) -> None:
        self.pauses.append((seconds, reason))


async def test_every_attempt_takes_a_token_and_a_429_pauses_the_site():
    quota = {"Retry-After": "2", "RateLimit-Reason": "jira-quota-global-based"}
    answers = iter([httpx.Response(429, headers=quota), httpx.Response(200, json={})])
    budget = CountingBudget()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    http = ResilientHttp(
        HttpSettings(base_url="https://site.example"),
        transport=httpx.MockTransport(lambda request: next(answers)),
        sleep=sleep,
        site_budget=budget,
    )
    await http.request("GET", "/rest/api/3/myself", idempotent=True)
    await http.aclose()
    assert budget.acquired == 2, "the retry after the 429 is a request to the site too"
    assert budget.pauses == [(2.0, "jira-quota-global-based")], "Jira's Retry-After goes to the budget with its reason"


async def test_only_a_limit_of_the_whole_site_pauses_the_site():
    budget = SiteBudget(LocalBucket(10.0), rate=10.0)
    await budget.pause(1.0, "jira-per-issue-on-write")
    await budget.pause(1.0, "jira-burst-based")
    assert budget.counters.pauses == 0, "one issue's or one endpoint's limit slows that scope only"
    await budget.pause(1.0, "jira-quota-tenant-based")
    await budget.pause(1.0, None)
    assert budget.counters.pauses == 2


def test_every_tenant_on_one_site_takes_from_one_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("SITE_TEST_TOKEN", "x")
    pool = ConnectorPool(
        SecretPolicy(shared=False, secrets_dir=tmp_path), site_budgets=SiteBudgets(rate=10.0, engine=None)
    )
    target = dict(project_key="PHX", email="m@example.com", token_ref="env:SITE_TEST_TOKEN")
    one = pool.jira(TargetConnection(base_url="https://acme.atlassian.net", **target), tenant="tenant-a")
    two = pool.jira(TargetConnection(base_url="https://ACME.atlassian.net/", **target), tenant="tenant-b")
    other = pool.jira(TargetConnection(base_url="https://other.atlassian.net", **target), tenant="tenant-a")
    assert one is not two, "clients stay per tenant"
    assert one.http.site_budget is two.http.site_budget is not None
    assert other.http.site_budget is not one.http.site_budget


async def test_a_request_counts_for_the_run_its_activity_serves():
    @activity.defn
    async def which_run() -> str:
        return _run_of_activity()

    env = ActivityEnvironment()
    assert await env.run(which_run) == env.info.workflow_id
    assert _run_of_activity() == "", "outside an activity (the API's connection checks) no run"
