"""The sandbox Xray Cloud over real HTTP: the contract a client of Xray Cloud relies on (see
migrayt/sandbox/xray/app.py for the documentation it follows), and the faults the other simulators have."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from migrayt.sandbox.server import SandboxServer
from migrayt.sandbox.testing import running_sandbox, sandbox_state, set_faults

TIMEOUT = httpx.Timeout(10.0)
AUTH = {"client_id": "sandbox-xray-client", "client_secret": "sandbox-xray-secret"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(items=20) as server:
        yield server


@pytest.fixture
def xray(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """A signed-in client on an empty site with no faults."""
    assert sandbox.xray_url is not None
    httpx.post(f"{sandbox.jira_url}/_sandbox/reset").raise_for_status()
    set_faults(sandbox.xray_url, share_429=0, share_5xx=0, share_drop_after_write=0, latency_ms=0)
    with httpx.Client(base_url=sandbox.xray_url, timeout=TIMEOUT) as client:
        token = client.post("/api/v2/authenticate", json=AUTH).json()
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """Poll the job as a client must: Xray imports asynchronously."""
    while True:
        status = client.get(f"/api/v2/import/test/bulk/{job_id}/status")
        status.raise_for_status()
        body = status.json()
        if body["status"] not in ("pending", "working"):
            return body
        time.sleep(0.02)


def manual_test(summary: str, *steps: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
    return {
        "testtype": "Manual",
        "fields": {"summary": summary, "project": {"key": "PHX"}, "labels": [f"src-{summary}"]},
        "steps": [{"action": a, "data": d, "result": r} for a, d, r in steps],
        **extra,
    }


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/api/v2/graphql", json={"query": query, "variables": variables})
    response.raise_for_status()
    return response.json()


def test_a_token_comes_only_for_the_right_client_pair_and_every_call_needs_it(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.xray_url or "", timeout=TIMEOUT) as client:
        wrong = client.post("/api/v2/authenticate", json={**AUTH, "client_secret": "nope"})
        assert wrong.status_code == 401 and "error" in wrong.json()
        assert client.post("/api/v2/import/test/bulk", json=[]).status_code == 401
        assert client.post("/api/v2/graphql", json={"query": "{ getTests(limit: 1) { total } }"}).status_code == 401
        token = client.post("/api/v2/authenticate", json=AUTH)
        assert token.status_code == 200 and isinstance(token.json(), str)


def test_an_import_is_a_job_whose_tests_become_jira_test_issues_with_their_steps_in_order(
    sandbox: SandboxServer, xray: httpx.Client
) -> None:
    started = xray.post(
        "/api/v2/import/test/bulk",
        json=[
            manual_test("login", ("open the site", "", "the form shows"), ("sign in", "user: ann", "welcome page")),
            manual_test("logout", ("press sign out", "", "signed out")),
        ],
    )
    assert started.status_code == 200
    job = finished(xray, started.json()["jobId"])
    assert job["status"] == "successful"
    assert [i["elementNumber"] for i in job["result"]["issues"]] == [0, 1]
    assert all(i["self"].startswith(sandbox.jira_url) for i in job["result"]["issues"])

    jira = sandbox_state(sandbox.jira_url)["issues"]
    assert jira["by_type"] == {"Test": 2}
    tests = httpx.get(f"{sandbox.xray_url}/_sandbox/state/tests").json()["tests"]
    login = next(t for t in tests.values() if t["labels"] == ["src-login"])
    assert login["steps"] == [
        {"action": "open the site", "data": "", "result": "the form shows"},
        {"action": "sign in", "data": "user: ann", "result": "welcome page"},
    ]

    read = graphql(
        xray,
        "query($jql: String) { getTests(jql: $jql, limit: 10) { total results { testType { name } steps { action } "
        'jira(fields: ["summary"]) } } }',
        jql="labels = src-logout",
    )
    assert read["data"]["getTests"]["total"] == 1
    found = read["data"]["getTests"]["results"][0]
    assert found["testType"]["name"] == "Manual" and found["jira"]["summary"] == "logout"
    assert [s["action"] for s in found["steps"]] == ["press sign out"]


def test_a_bad_element_fails_alone_with_its_reason(sandbox: SandboxServer, xray: httpx.Client) -> None:
    job_id = xray.post(
        "/api/v2/import/test/bulk",
        json=[manual_test("fine", ("a", "", "b")), manual_test("no action", ("", "", "b")), {"fields": {}}],
    ).json()["jobId"]
    job = finished(xray, job_id)
    assert job["status"] == "partially_successful"
    assert [i["elementNumber"] for i in job["result"]["issues"]] == [0]
    errors = {e["elementNumber"]: e["errors"] for e in job["result"]["errors"]}
    assert set(errors) == {1, 2}
    assert "action is required" in str(errors[1])
    assert sandbox_state(sandbox.jira_url)["issues"]["total"] == 1


def test_a_refusal_set_for_a_label_fails_that_test_in_the_job_and_each_test_names_its_job(
    sandbox: SandboxServer, xray: httpx.Client
) -> None:
    refused = {"priority": "The priority selected is invalid."}
    xray.put("/_sandbox/import-refusals", json={"src-refused": refused}).raise_for_status()
    job_id = xray.post(
        "/api/v2/import/test/bulk", json=[manual_test("kept", ("a", "", "b")), manual_test("refused", ("a", "", "b"))]
    ).json()["jobId"]
    job = finished(xray, job_id)
    assert job["status"] == "partially_successful"
    assert job["result"]["errors"] == [{"elementNumber": 1, "errors": refused}]
    tests = xray.get("/_sandbox/state/tests").json()["tests"]
    assert [(t["labels"], t["job"]) for t in tests.values()] == [(["src-kept"], job_id)]
    # Emptying the site forgets the refusals too.
    httpx.post(f"{sandbox.jira_url}/_sandbox/reset").raise_for_status()
    again = finished(
        xray, xray.post("/api/v2/import/test/bulk", json=[manual_test("refused", ("a", "", ""))]).json()["jobId"]
    )
    assert again["status"] == "successful"


def test_one_import_job_at_a_time_per_user_and_at_most_a_thousand_tests(xray: httpx.Client) -> None:
    too_many = xray.post("/api/v2/import/test/bulk", json=[manual_test(f"t{n}", ("a", "", "")) for n in range(1001)])
    assert too_many.status_code == 400
    first = xray.post("/api/v2/import/test/bulk", json=[manual_test("one", ("a", "", ""))])
    second = xray.post("/api/v2/import/test/bulk", json=[manual_test("two", ("a", "", ""))])
    assert second.status_code == 400 and "in progress" in second.json()["error"]
    finished(xray, first.json()["jobId"])
    assert xray.get("/api/v2/import/test/bulk/no-such-job/status").status_code == 404


def test_test_sets_and_plans_hold_their_tests_and_adding_twice_adds_once(
    sandbox: SandboxServer, xray: httpx.Client
) -> None:
    job = finished(
        xray,
        xray.post(
            "/api/v2/import/test/bulk",
            json=[
                {
                    "xray_issue_type": "test set",
                    "xray_id": "suite-1",
                    "fields": {"summary": "Smoke", "project": {"key": "PHX"}},
                },
                manual_test("a", ("x", "", ""), xray_test_sets=["suite-1"]),
                manual_test("b", ("y", "", "")),
            ],
        ).json()["jobId"],
    )
    ids = {i["elementNumber"]: i["id"] for i in job["result"]["issues"]}
    test_set, test_a, test_b = ids[0], ids[1], ids[2]

    added = graphql(
        xray,
        "mutation($set: String!, $tests: [String]!) { addTestsToTestSet(issueId: $set, testIssueIds: $tests) "
        "{ addedTests warning } }",
        set=test_set,
        tests=[test_a, test_b],
    )["data"]["addTestsToTestSet"]
    assert added["addedTests"] == [test_b] and test_a in added["warning"]

    plan = graphql(
        xray,
        'mutation($tests: [String]) { createTestPlan(testIssueIds: $tests, jira: {fields: {summary: "Release 1"}}) '
        "{ testPlan { issueId tests(limit: 10) { total } } } }",
        tests=[test_a],
    )["data"]["createTestPlan"]["testPlan"]
    assert plan["tests"]["total"] == 1
    graphql(
        xray,
        "mutation($plan: String!, $tests: [String]!) { addTestsToTestPlan(issueId: $plan, testIssueIds: $tests) "
        "{ addedTests } }",
        plan=plan["issueId"],
        tests=[test_a, test_b],
    )

    sets = graphql(xray, "{ getTestSets(limit: 10) { results { issueId tests(limit: 10) { results { issueId } } } } }")
    assert [t["issueId"] for t in sets["data"]["getTestSets"]["results"][0]["tests"]["results"]] == [test_a, test_b]
    state = httpx.get(f"{sandbox.xray_url}/_sandbox/state").json()
    assert state["test_sets"] == {"total": 1, "memberships": 2}
    assert state["test_plans"] == {"total": 1, "memberships": 2}
    assert sandbox_state(sandbox.jira_url)["issues"]["by_type"] == {"Test Set": 1, "Test": 2, "Test Plan": 1}


def test_graphql_keeps_xrays_limits_and_reports_errors_as_graphql_does(xray: httpx.Client) -> None:
    too_big = graphql(xray, "{ getTests(limit: 101) { total } }")
    assert too_big["data"]["getTests"] is None and "limit" in too_big["errors"][0]["message"]
    no_limit = xray.post("/api/v2/graphql", json={"query": "{ getTests { total } }"}).json()
    assert "errors" in no_limit
    bad = graphql(xray, 'mutation { addTestsToTestSet(issueId: "1", testIssueIds: ["2"]) { addedTests } }')
    assert "not a Test Set" in bad["errors"][0]["message"]


def test_a_dataset_goes_in_as_csv_and_comes_back_the_same(xray: httpx.Client) -> None:
    job = finished(
        xray,
        xray.post("/api/v2/import/test/bulk", json=[manual_test("p", ("log in as ${user}", "", ""))]).json()["jobId"],
    )
    key = job["result"]["issues"][0]["key"]
    csv_text = 'user,password\nann,secret 1\n"bob, jr",x\n'
    stored = xray.post(
        f"/api/v2/dataset/import?testIssueKey={key}", content=csv_text, headers={"Content-Type": "text/csv"}
    )
    assert stored.status_code == 200
    assert xray.get(f"/api/v2/dataset/export?testIssueKey={key}").text == csv_text
    assert xray.post(f"/api/v2/dataset/import?testIssueKey={key}", content=",\n").status_code == 400


def test_a_dropped_answer_after_an_import_still_ran_the_job(sandbox: SandboxServer, xray: httpx.Client) -> None:
    """The case a client must reconcile: the job exists (its tests land) though the client never saw its id."""
    assert sandbox.xray_url is not None
    set_faults(sandbox.xray_url, share_drop_after_write=1.0)
    with pytest.raises(httpx.TransportError):
        xray.post("/api/v2/import/test/bulk", json=[manual_test("lost", ("a", "", ""))])
    set_faults(sandbox.xray_url, share_drop_after_write=0.0)
    while httpx.get(f"{sandbox.xray_url}/_sandbox/state").json()["import_jobs"]["successful"] < 1:
        time.sleep(0.02)
    found = graphql(xray, '{ getTests(jql: "labels = src-lost", limit: 5) { total } }')
    assert found["data"]["getTests"]["total"] == 1
    # A token request is never dropped: it changes nothing.
    set_faults(sandbox.xray_url, share_drop_after_write=1.0)
    assert xray.post("/api/v2/authenticate", json=AUTH).status_code == 200
    set_faults(sandbox.xray_url, share_drop_after_write=0.0)


def test_throttling_and_server_errors_look_like_xrays(sandbox: SandboxServer, xray: httpx.Client) -> None:
    assert sandbox.xray_url is not None
    set_faults(sandbox.xray_url, share_429=1.0, retry_after_seconds=3)
    throttled = xray.post("/api/v2/graphql", json={"query": "{ getTests(limit: 1) { total } }"})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3" and "error" in throttled.json()
    set_faults(sandbox.xray_url, share_429=0.0, share_5xx=1.0)
    failed = xray.get("/api/v2/import/test/bulk/x/status")
    assert failed.status_code >= 500


def test_a_test_made_in_jira_gets_its_steps_in_place(sandbox: SandboxServer, xray: httpx.Client) -> None:
    created = httpx.post(
        f"{sandbox.jira_url}/rest/api/3/issue",
        auth=("migrator@example.com", "sandbox-token"),
        json={"fields": {"project": {"key": "PHX"}, "issuetype": {"name": "Test"}, "summary": "made in Jira"}},
    ).json()
    step = 'mutation($id: String!, $a: String) { addTestStep(issueId: $id, step: {action: $a, result: "ok"}) { id } }'
    for action in ("first", "second"):
        graphql(xray, step, id=created["id"], a=action)
    read = graphql(xray, "query($id: String) { getTest(issueId: $id) { steps { action result } } }", id=created["id"])
    assert read["data"]["getTest"]["steps"] == [
        {"action": "first", "result": "ok"},
        {"action": "second", "result": "ok"},
    ]
    graphql(xray, "mutation($id: String!) { removeAllTestSteps(issueId: $id) }", id=created["id"])
    read = graphql(xray, "query($id: String) { getTest(issueId: $id) { steps { action } } }", id=created["id"])
    assert read["data"]["getTest"]["steps"] == []


def test_a_site_without_xray_serves_no_xray() -> None:
    with running_sandbox(items=5, xray=False) as server:
        assert server.xray_url is None
        assert set(server.ports) == {"ado", "jira"}


def test_emptying_jira_empties_xray(sandbox: SandboxServer, xray: httpx.Client) -> None:
    finished(xray, xray.post("/api/v2/import/test/bulk", json=[manual_test("gone", ("a", "", ""))]).json()["jobId"])
    httpx.post(f"{sandbox.jira_url}/_sandbox/reset").raise_for_status()
    assert httpx.get(f"{sandbox.xray_url}/_sandbox/state").json()["tests"] == 0
