"""The part of Xray Cloud's GraphQL API (POST /api/v2/graphql) Migrayt reads and writes, run by graphql-core.

Names, arguments and result shapes follow Xray's published schema (https://xray.cloud.getxray.app/doc/graphql/):
`getTests`/`getTestSets`/`getTestPlans(jql, issueIds, limit!, start)` answer `{total, start, limit, results}`,
a Test has `issueId`, `testType {name kind}`, `steps {id action data result}` and `jira(fields)`; a set and a
plan have `tests(limit!, start)`; `createTestSet`/`createTestPlan(testIssueIds, jira!)` and
`addTestsToTestSet`/`addTestsToTestPlan(issueId!, testIssueIds!)` write. Limits are Xray's: `limit` 1–100.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema, graphql

from migrayt.sandbox.jira import catalog as jira_catalog
from migrayt.sandbox.jira.adf import plain_text

from .state import XrayError, XrayState

SDL = """
scalar JSON

type TestType { name: String kind: String }
type Step { id: String action: String data: String result: String }
type Test {
  issueId: String
  projectId: String
  testType: TestType
  steps: [Step]
  jira(fields: [String]!): JSON
}
type TestResults { total: Int start: Int limit: Int results: [Test] }
type TestSet {
  issueId: String
  projectId: String
  jira(fields: [String]!): JSON
  tests(limit: Int!, start: Int): TestResults
}
type TestSetResults { total: Int start: Int limit: Int results: [TestSet] }
type TestPlan {
  issueId: String
  projectId: String
  jira(fields: [String]!): JSON
  tests(limit: Int!, start: Int): TestResults
}
type TestPlanResults { total: Int start: Int limit: Int results: [TestPlan] }
type CreateTestSetResult { testSet: TestSet warnings: [String] }
type CreateTestPlanResult { testPlan: TestPlan warnings: [String] }
type AddTestsResult { addedTests: [String] warning: String }
type UpdateTestTypeResult { test: Test warnings: [String] }
input TestTypeInput { name: String id: String }
input CreateStepInput { action: String data: String result: String }

type Query {
  getTest(issueId: String, jql: String): Test
  getTests(jql: String, issueIds: [String], limit: Int!, start: Int): TestResults
  getTestSets(jql: String, issueIds: [String], limit: Int!, start: Int): TestSetResults
  getTestPlans(jql: String, issueIds: [String], limit: Int!, start: Int): TestPlanResults
}
type Mutation {
  createTestSet(testIssueIds: [String], jira: JSON!): CreateTestSetResult
  createTestPlan(testIssueIds: [String], jira: JSON!): CreateTestPlanResult
  addTestsToTestSet(issueId: String!, testIssueIds: [String]!): AddTestsResult
  addTestsToTestPlan(issueId: String!, testIssueIds: [String]!): AddTestsResult
  updateTestType(issueId: String!, testType: TestTypeInput!): Test
  addTestStep(issueId: String!, step: CreateStepInput!): Step
  removeAllTestSteps(issueId: String!): String
}
"""

MAX_LIMIT = 100


def build(state: XrayState, search_lag: Any) -> GraphQLSchema:
    schema = build_schema(SDL)
    jira = state.jira

    def _page(ids: list[int], limit: int, start: int | None, render: Any) -> dict[str, Any]:
        if not 1 <= limit <= MAX_LIMIT:
            raise GraphQLError(f"limit must be between 1 and {MAX_LIMIT}")
        begin = max(start or 0, 0)
        return {"total": len(ids), "start": begin, "limit": limit, "results": [render(i) for i in ids[begin:][:limit]]}

    def _select(candidates: list[int], jql: str | None, issue_ids: list[str] | None) -> list[int]:
        chosen = candidates
        if issue_ids is not None:
            wanted = {int(i) for i in issue_ids if str(i).isdigit()}
            chosen = [i for i in chosen if i in wanted]
        if jql:
            found = set(jira.search(jql, search_lag()))
            chosen = [i for i in chosen if i in found]
        return chosen

    def _jira_fields(issue_id: int, fields: list[str]) -> dict[str, Any]:
        issue = jira.issues[issue_id]
        out: dict[str, Any] = {"key": issue.key}
        for name in fields:
            if name == "summary":
                out["summary"] = issue.summary
            elif name == "labels":
                out["labels"] = list(issue.labels)
            elif name == "issuetype":
                out["issuetype"] = {"name": jira_catalog.ISSUE_TYPES_BY_ID[issue.type_id].name}
            elif name == "description":
                desc = issue.values.get("description")
                out["description"] = plain_text(desc) if desc is not None else None
        return out

    def _test(issue_id: int) -> dict[str, Any]:
        entry = state.entry(issue_id)
        return {
            "issueId": str(issue_id),
            "projectId": jira.project_id,
            "testType": {"name": entry.test_type, "kind": "Steps" if entry.test_type == "Manual" else "Gherkin"},
            "steps": list(entry.steps),
            "jira": lambda _info, fields, _i=issue_id: _jira_fields(_i, fields),
        }

    def _holder(holder: dict[int, list[int]], issue_id: int) -> dict[str, Any]:
        return {
            "issueId": str(issue_id),
            "projectId": jira.project_id,
            "jira": lambda _info, fields, _i=issue_id: _jira_fields(_i, fields),
            "tests": lambda _info, limit, start=None, _i=issue_id: _page(
                state.members(holder, _i), limit, start, _test
            ),
        }

    q = schema.query_type.fields  # type: ignore[union-attr]
    q["getTest"].resolve = lambda _r, _i, issueId=None, jql=None: next(
        (_test(i) for i in _select(state.live_tests(), jql, [issueId] if issueId else None)), None
    )
    q["getTests"].resolve = lambda _r, _i, limit, jql=None, issueIds=None, start=None: _page(
        _select(state.live_tests(), jql, issueIds), limit, start, _test
    )
    q["getTestSets"].resolve = lambda _r, _i, limit, jql=None, issueIds=None, start=None: _page(
        _select(state.live(state.test_sets), jql, issueIds), limit, start, lambda i: _holder(state.test_sets, i)
    )
    q["getTestPlans"].resolve = lambda _r, _i, limit, jql=None, issueIds=None, start=None: _page(
        _select(state.live(state.test_plans), jql, issueIds), limit, start, lambda i: _holder(state.test_plans, i)
    )

    def _create(kind: str, holder: dict[int, list[int]], key: str) -> Any:
        def resolve(_r: Any, _i: Any, jira: Any, testIssueIds: list[str] | None = None) -> dict[str, Any]:  # noqa: N803
            issue_id = state.create_container(kind, jira, list(testIssueIds or []))
            return {key: _holder(holder, issue_id), "warnings": []}

        return resolve

    def _add(kind: str) -> Any:
        def resolve(_r: Any, _i: Any, issueId: str, testIssueIds: list[str]) -> dict[str, Any]:  # noqa: N803
            holder_id = int(issueId) if issueId.isdigit() else -1
            added, warning = state.add_tests(kind, holder_id, list(testIssueIds))
            return {"addedTests": added, "warning": warning}

        return resolve

    def _update_type(_r: Any, _i: Any, issueId: str, testType: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        issue_id = state.as_test(issueId)
        state.set_test_type(issue_id, str(testType.get("name") or ""))
        return _test(issue_id)

    def _add_step(_r: Any, _i: Any, issueId: str, step: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        return state.add_step(state.as_test(issueId), step)

    def _remove_steps(_r: Any, _i: Any, issueId: str) -> str:  # noqa: N803
        state.tests[state.as_test(issueId)].steps.clear()
        return "All steps removed."

    m = schema.mutation_type.fields  # type: ignore[union-attr]
    m["updateTestType"].resolve = _update_type
    m["addTestStep"].resolve = _add_step
    m["removeAllTestSteps"].resolve = _remove_steps
    m["createTestSet"].resolve = _create("Test Set", state.test_sets, "testSet")
    m["createTestPlan"].resolve = _create("Test Plan", state.test_plans, "testPlan")
    m["addTestsToTestSet"].resolve = _add("Test Set")
    m["addTestsToTestPlan"].resolve = _add("Test Plan")
    return schema


async def execute(schema: GraphQLSchema, body: Any) -> dict[str, Any]:
    """`{"data": …, "errors": […]}` as a GraphQL server answers; an XrayError inside a resolver is a field error."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise XrayError(400, "Must provide query string.")
    variables = body.get("variables")
    result = await graphql(
        schema,
        body["query"],
        variable_values=variables if isinstance(variables, dict) else None,
        operation_name=body.get("operationName") if isinstance(body.get("operationName"), str) else None,
    )
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [
            {"message": e.original_error.message if isinstance(e.original_error, XrayError) else e.message}
            | ({"path": e.path} if e.path else {})
            for e in result.errors
        ]
    return out
