"""The sandbox Xray Cloud (REST v2 + GraphQL), next to the sandbox Jira site whose issues it creates.

No spec of Xray Cloud is published as OpenAPI, so this follows its documentation as published:
- Authentication (https://docs.getxray.app/display/XRAYCLOUD/Authentication+-+REST+v2):
  `POST /api/v2/authenticate` with `{"client_id", "client_secret"}` answers the token as a JSON string;
  every other call sends `Authorization: Bearer <token>`; a bad pair or token is 401 `{"error": …}`.
- Import tests in bulk (https://docs.getxray.app/display/XRAYCLOUD/Import+Tests+-+REST+v2):
  `POST /api/v2/import/test/bulk[?project=KEY]` takes a JSON array (at most 1,000) of tests — Jira `fields`
  plus `testtype`, `steps [{action, data, result}]`, `xray_issue_type` ("test set"), `xray_id`, `xray_test_sets`
  — and answers `{"jobId"}` at once; one job per user runs at a time (400 otherwise).
  `GET /api/v2/import/test/bulk/{jobId}/status` answers `{"status": pending|working|successful|
  partially_successful|unsuccessful|failed, "progress": […], "result": {"errors": [{elementNumber, errors}],
  "issues": [{elementNumber, id, key, self}]}}`; an unknown job is 404 `{"error": "job not found."}`.
- Datasets (https://docs.getxray.app/display/XRAYCLOUD/Exporting+datasets+-+REST+v2 and "Importing datasets"):
  `POST /api/v2/dataset/import?testIssueKey=|testIssueId=` takes a CSV (header = parameter names, one row per
  iteration); `GET /api/v2/dataset/export?testIssueKey=|testIssueId=` answers the same CSV.
- GraphQL (https://xray.cloud.getxray.app/doc/graphql/): see `graphql_api.py`.

Faults (latency, 429, 5xx, dropped answers after a write) come from the same middleware as the other
simulators, wrapped around this app by the sandbox server; the state is under `/_sandbox/state`.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.jira.errors import JiraError
from migrayt.sandbox.jira.state import JiraState

from . import graphql_api
from .state import XrayError, XrayState

__all__ = ["create_xray_app"]

MAX_DATASET_ROWS = 1000


def create_xray_app(
    jira: JiraState,
    *,
    client_id: str,
    client_secret: str,
    jira_base_url: Callable[[], str] = lambda: "",
    job_seconds: float = 0.05,
    get_faults: Callable[[], FaultConfig] = lambda: FaultConfig(),
) -> FastAPI:
    """`job_seconds`: how long an import job waits queued before it runs (Xray imports asynchronously)."""
    state = XrayState(jira, client_id, client_secret, job_seconds=job_seconds)
    schema = graphql_api.build(state, lambda: get_faults().search_index_lag_seconds)
    app = FastAPI(title="Sandbox Xray Cloud", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.xray = state

    @app.exception_handler(XrayError)
    async def _xray_error(_request: Request, exc: XrayError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(JiraError)
    async def _jira_error(_request: Request, exc: JiraError) -> JSONResponse:
        return JSONResponse({"error": "; ".join(exc.body().get("errorMessages") or ["Jira refused"])}, exc.status)

    async def _json(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            raise XrayError(400, "The request body is not valid JSON.") from None

    def _caller(request: Request) -> str:
        return state.caller(request.headers.get("authorization", ""))

    @app.post("/api/v2/authenticate")
    async def authenticate(request: Request) -> JSONResponse:
        body = await _json(request)
        body = body if isinstance(body, dict) else {}
        return JSONResponse(state.authenticate(body.get("client_id"), body.get("client_secret")))

    @app.post("/api/v2/import/test/bulk")
    async def import_tests(request: Request, project: str | None = None) -> dict[str, str]:
        client = _caller(request)
        job = state.start_import(client, await _json(request), project)

        def _run() -> None:
            state.run_import(job)
            base = jira_base_url()
            for issue in (job.result or {}).get("issues", []):
                issue["self"] = f"{base}/rest/api/2/issue/{issue['id']}"

        asyncio.get_running_loop().call_later(state.job_seconds, _run)
        return {"jobId": job.id}

    @app.get("/api/v2/import/test/bulk/{job_id}/status")
    async def import_status(request: Request, job_id: str) -> dict[str, Any]:
        _caller(request)
        job = state.job(job_id)
        out: dict[str, Any] = {"jobId": job.id, "status": job.status, "progress": list(job.progress)}
        if job.result is not None:
            out["result"] = job.result
        return out

    def _test_issue(test_issue_id: str | None, test_issue_key: str | None) -> int:
        issue = jira.find_issue(test_issue_id, test_issue_key)
        if issue is None or not state.is_test(issue.id):
            raise XrayError(400, "The test issue was not found.")
        return issue.id

    @app.post("/api/v2/dataset/import")
    async def import_dataset(
        request: Request,
        testIssueId: str | None = None,
        testIssueKey: str | None = None,  # noqa: N803
    ) -> Response:
        _caller(request)
        issue_id = _test_issue(testIssueId, testIssueKey)
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("multipart/"):
            form = await request.form()
            upload = form.get("file")
            raw = await upload.read() if upload is not None and not isinstance(upload, str) else b""
        try:
            reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
            table = [row for row in reader if row]
        except (UnicodeDecodeError, csv.Error):
            raise XrayError(400, "The dataset is not a valid CSV file.") from None
        if not table or any(not name.strip() for name in table[0]) or len(set(table[0])) != len(table[0]):
            raise XrayError(400, "The dataset needs a header of distinct parameter names.")
        if len(table) - 1 > MAX_DATASET_ROWS:
            raise XrayError(400, f"A dataset holds at most {MAX_DATASET_ROWS} iterations.")
        header = table[0]
        rows = [dict(zip(header, row + [""] * (len(header) - len(row)), strict=False)) for row in table[1:]]
        state.set_dataset(issue_id, header, rows)
        return Response(status_code=200)

    @app.get("/api/v2/dataset/export")
    async def export_dataset(
        request: Request,
        testIssueId: str | None = None,
        testIssueKey: str | None = None,  # noqa: N803
    ) -> PlainTextResponse:
        _caller(request)
        entry = state.entry(_test_issue(testIssueId, testIssueKey))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if entry.parameters:
            writer.writerow(entry.parameters)
            for row in entry.rows:
                writer.writerow([row.get(p, "") for p in entry.parameters])
        return PlainTextResponse(out.getvalue(), media_type="text/csv")

    @app.post("/api/v2/graphql")
    async def graphql(request: Request) -> dict[str, Any]:
        _caller(request)
        return await graphql_api.execute(schema, await _json(request))

    @app.get("/_sandbox/state")
    async def sandbox_state() -> dict[str, Any]:
        return state.snapshot()

    @app.get("/_sandbox/state/tests")
    async def sandbox_tests() -> dict[str, Any]:
        """Every live test with its steps and dataset, every set and plan with its tests, by Jira key."""

        def key(i: int) -> str:
            return jira.issues[i].key

        return {
            "tests": {
                key(t): {
                    "type": state.entry(t).test_type,
                    "labels": list(jira.issues[t].labels),
                    "steps": [{k: s[k] for k in ("action", "data", "result")} for s in state.entry(t).steps],
                    "parameters": state.entry(t).parameters,
                    "rows": state.entry(t).rows,
                    "job": state.entry(t).job,
                }
                for t in state.live_tests()
            },
            "test_sets": {
                key(s): [key(t) for t in state.members(state.test_sets, s)] for s in state.live(state.test_sets)
            },
            "test_plans": {
                key(p): [key(t) for t in state.members(state.test_plans, p)] for p in state.live(state.test_plans)
            },
        }

    @app.put("/_sandbox/import-refusals")
    async def sandbox_import_refusals(request: Request) -> dict[str, dict[str, str]]:
        """{label: {field: message}}: tests imported with that label are refused with those errors."""
        body = await _json(request)
        if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
            raise XrayError(400, "expected {label: {field: message}}")
        state.import_refusals = {str(k): {str(f): str(m) for f, m in v.items()} for k, v in body.items()}
        return state.import_refusals

    @app.post("/_sandbox/reset", status_code=204)
    async def sandbox_reset() -> Response:
        state.reset()
        return Response(status_code=204)

    return app
