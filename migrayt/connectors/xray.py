"""Xray Cloud client: a token from the API key's client id and secret, GraphQL, and datasets.

Contract: https://docs.getxray.app/display/XRAYCLOUD/REST+API (authenticate, bulk test import, datasets) and
https://xray.cloud.getxray.app/doc/graphql/ (the sandbox simulator, migrayt/sandbox/xray, follows the same).
Every call goes through ResilientHttp (retries on 429/5xx honouring Retry-After); a token is fetched once
and again after a 401 (Xray's tokens expire). GraphQL mutations are sent as writes that must not be repeated
blindly (AmbiguousWriteError when the answer is lost): the caller reads back before writing again.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from migrayt.connectors.http import ApiError, HttpSettings, ResilientHttp

DEFAULT_XRAY_URL = "https://xray.cloud.getxray.app"
PAGE = 100  # Xray's GraphQL limit per connection
# Xray Cloud: "There is a maximum of 1000 tests that can be imported each time".
MAX_IMPORT = 1000
# A job's status once it has finished.
JOB_FINISHED = frozenset({"successful", "partially_successful", "unsuccessful", "failed"})


class XrayGraphQLError(ApiError):
    """GraphQL answered 200 with `errors`: Xray refused the operation (a bad id, a limit)."""


class XrayClient:
    def __init__(self, client_id: str, client_secret: SecretStr, *, settings: HttpSettings) -> None:
        self.http = ResilientHttp(settings)
        self._client_id = client_id
        self._secret = client_secret
        self._token: str | None = None
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"XrayClient(base_url={str(self.http.base_url)!r})"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _authenticate(self, stale: str | None) -> str:
        async with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token
            r = await self.http.request(
                "POST",
                "/api/v2/authenticate",
                idempotent=True,  # a token changes nothing on the service
                json={"client_id": self._client_id, "client_secret": self._secret.get_secret_value()},
            )
            token = r.json()
            if not isinstance(token, str) or not token:
                raise ApiError(r.status_code, ["Xray answered no token"], method="POST", path="/api/v2/authenticate")
            self._token = token
            return token

    async def authenticate(self) -> None:
        """Fetch a token now: raises ApiError (401) when the client id and secret are refused."""
        await self._authenticate(None)

    async def _call(
        self, method: str, path: str, *, idempotent: bool, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        token = self._token or await self._authenticate(None)
        for attempt in (1, 2):
            try:
                return await self.http.request(
                    method,
                    path,
                    idempotent=idempotent,
                    headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                    **kwargs,
                )
            except ApiError as err:
                if err.status != 401 or attempt == 2:
                    raise
                token = await self._authenticate(token)
        raise AssertionError("unreachable")

    async def graphql(self, query: str, variables: dict[str, Any] | None = None, *, write: bool = False) -> Any:
        r = await self._call(
            "POST", "/api/v2/graphql", idempotent=not write, json={"query": query, "variables": variables or {}}
        )
        body = r.json()
        if body.get("errors"):
            messages = [str(e.get("message")) for e in body["errors"]]
            raise XrayGraphQLError(400, messages, method="POST", path="/api/v2/graphql")
        return body.get("data") or {}

    # --- tests --------------------------------------------------------------------------------------

    async def test(self, issue_id: str) -> dict[str, Any] | None:
        """A Test's type and steps (a consistent read by issue id, not a search)."""
        data = await self.graphql(
            "query($id: String) { getTest(issueId: $id) { issueId testType { name } "
            "steps { id action data result } } }",
            {"id": issue_id},
        )
        return data.get("getTest")

    async def set_manual(self, issue_id: str) -> None:
        await self.graphql(
            'mutation($id: String!) { updateTestType(issueId: $id, testType: {name: "Manual"}) { issueId } }',
            {"id": issue_id},
            write=True,
        )

    async def add_step(self, issue_id: str, action: str, data: str, result: str) -> None:
        await self.graphql(
            "mutation($id: String!, $step: CreateStepInput!) { addTestStep(issueId: $id, step: $step) { id } }",
            {"id": issue_id, "step": {"action": action, "data": data, "result": result}},
            write=True,
        )

    async def remove_all_steps(self, issue_id: str) -> None:
        await self.graphql("mutation($id: String!) { removeAllTestSteps(issueId: $id) }", {"id": issue_id}, write=True)

    async def import_dataset(self, issue_key: str, rows: Sequence[Sequence[str]]) -> None:
        """Replace the test's dataset (header row first): repeating it leaves the same dataset."""
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        await self._call(
            "POST",
            "/api/v2/dataset/import",
            idempotent=True,
            params={"testIssueKey": issue_key},
            content=out.getvalue().encode(),
            headers={"Content-Type": "text/csv"},
        )

    async def export_dataset(self, issue_key: str) -> list[list[str]]:
        r = await self._call("GET", "/api/v2/dataset/export", idempotent=True, params={"testIssueKey": issue_key})
        return [row for row in csv.reader(io.StringIO(r.text)) if row]

    # --- the bulk test import (an asynchronous job) -------------------------------------------------

    async def import_tests(self, tests: Sequence[dict[str, Any]]) -> str:
        """Start a job importing up to MAX_IMPORT tests; answers its id at once (AmbiguousWriteError when the
        answer is lost: the job may be running, so the caller looks for its tests before importing again)."""
        r = await self._call("POST", "/api/v2/import/test/bulk", idempotent=False, json=list(tests))
        job = r.json().get("jobId")
        if not isinstance(job, str) or not job:
            raise ApiError(r.status_code, ["Xray answered no job id"], method="POST", path="/api/v2/import/test/bulk")
        return job

    async def import_status(self, job_id: str) -> dict[str, Any] | None:
        """The job's status, progress and (once finished) result; None when Xray no longer knows the job."""
        try:
            r = await self._call("GET", f"/api/v2/import/test/bulk/{quote(job_id, safe='')}/status", idempotent=True)
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        body = r.json()
        return body if isinstance(body, dict) else None

    # --- test sets and plans -------------------------------------------------------------------------

    async def add_tests(self, container: str, issue_id: str, test_ids: Sequence[str]) -> list[str]:
        """Add tests to a Test Set or a Test Plan; Xray adds a test once, so repeating this adds nothing."""
        op = "addTestsToTestSet" if container == "Test Set" else "addTestsToTestPlan"
        data = await self.graphql(
            f"mutation($id: String!, $tests: [String]!) {{ {op}(issueId: $id, testIssueIds: $tests) "
            "{ addedTests } }",
            {"id": issue_id, "tests": list(test_ids)},
            write=True,
        )
        return list((data.get(op) or {}).get("addedTests") or [])

    async def members(self, container: str, issue_id: str) -> list[str]:
        """The test issue ids a Test Set or Test Plan holds (a consistent read by issue id)."""
        op = "getTestSets" if container == "Test Set" else "getTestPlans"
        found: list[str] = []
        start = 0
        while True:
            data = await self.graphql(
                f"query($ids: [String], $start: Int) {{ {op}(issueIds: $ids, limit: 1) {{ results {{ "
                f"tests(limit: {PAGE}, start: $start) {{ total results {{ issueId }} }} }} }} }}",
                {"ids": [issue_id], "start": start},
            )
            results = (data.get(op) or {}).get("results") or []
            if not results:
                return found
            page = results[0]["tests"]
            found.extend(t["issueId"] for t in page["results"])
            start += PAGE
            if start >= page["total"]:
                return found
