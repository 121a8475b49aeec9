"""Test Plans REST 7.1 (specs/ado/testPlan/7.1/testPlan.json): plans, their suites, and each suite's test cases.

A project generated without test management has no plans (empty lists, 404 for an id), as a Boards-only
project has. Lists answer in one page: the generated projects hold a few plans, far below ADO's page size,
so no `x-ms-continuationtoken` header is sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from migrayt.sandbox.generator.models import ORIGIN, GeneratedTestPlan, GeneratedTestSuite

from ..errors import AdoError
from .deps import AdoSite, P, Site, check_scope, reply, route

router = APIRouter(include_in_schema=False)

_T = f"{P}/testplan"


def _project_ref(site: AdoSite) -> dict[str, Any]:
    p = site.project
    return {
        "id": p.project_guid,
        "name": p.spec.project,
        "url": f"{ORIGIN}/{p.spec.organization}/_apis/projects/{p.project_guid}",
        "state": "wellFormed",
        "visibility": "private",
    }


def _plan_url(site: AdoSite, plan_id: int) -> str:
    return f"{ORIGIN}/{site.project.spec.organization}/{site.project.project_guid}/_apis/testplan/Plans/{plan_id}"


def _plan(site: AdoSite, plan: GeneratedTestPlan) -> dict[str, Any]:
    owner = site.render.user_ref(site.project.user(plan.owner_id))
    return {
        "id": plan.id,
        "name": plan.name,
        "areaPath": plan.area_path,
        "iteration": plan.iteration,
        "state": plan.state,
        "revision": 1,
        "owner": owner,
        "updatedBy": owner,
        "updatedDate": plan.updated.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "project": _project_ref(site),
        "rootSuite": {"id": plan.root_suite.id, "name": plan.root_suite.name},
        "_links": {
            "_self": {"href": _plan_url(site, plan.id)},
            "rootSuite": {"href": f"{_plan_url(site, plan.id)}/Suites/{plan.root_suite.id}"},
        },
    }


def _suite(site: AdoSite, plan: GeneratedTestPlan, suite: GeneratedTestSuite, tree: bool) -> dict[str, Any]:
    children = [s for s in plan.suites if s.parent_id == suite.id]
    url = f"{_plan_url(site, plan.id)}/Suites/{suite.id}"
    out: dict[str, Any] = {
        "id": suite.id,
        "name": suite.name,
        "revision": 1,
        "suiteType": "staticTestSuite",
        "inheritDefaultConfigurations": True,
        "hasChildren": bool(children),
        "plan": {"id": plan.id, "name": plan.name},
        "project": _project_ref(site),
        "lastUpdatedDate": plan.updated.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "_links": {"_self": {"href": url}, "testCases": {"href": f"{url}/TestCase"}},
    }
    if suite.parent_id is not None:
        parent = next(s for s in plan.suites if s.id == suite.parent_id)
        out["parentSuite"] = {"id": parent.id, "name": parent.name}
    if tree and children:
        out["children"] = [_suite(site, plan, c, tree) for c in children]
    return out


def _find_plan(site: AdoSite, plan_id: int) -> GeneratedTestPlan:
    plan = next((p for p in site.project.test_plans() if p.id == plan_id), None)
    if plan is None:
        raise AdoError(404, f"Test plan {plan_id} not found.", "TestObjectNotFoundException")
    return plan


def _find_suite(plan: GeneratedTestPlan, suite_id: int) -> GeneratedTestSuite:
    suite = next((s for s in plan.suites if s.id == suite_id), None)
    if suite is None:
        raise AdoError(404, f"Test suite {suite_id} not found in plan {plan.id}.", "TestObjectNotFoundException")
    return suite


@route(router, [f"{_T}/plans"])
async def plans(request: Request, site: Site, organization: str, project: str) -> Response:
    check_scope(site, organization, project)
    value = [_plan(site, p) for p in site.project.test_plans()]
    if request.query_params.get("filterActivePlans", "").lower() == "true":
        value = [p for p in value if p["state"] == "Active"]
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{_T}/plans/{{plan_id}}"])
async def plan(request: Request, site: Site, organization: str, project: str, plan_id: int) -> Response:
    check_scope(site, organization, project)
    return reply(request, _plan(site, _find_plan(site, plan_id)))


@route(router, [f"{_T}/plans/{{plan_id}}/suites"])
async def suites(request: Request, site: Site, organization: str, project: str, plan_id: int) -> Response:
    check_scope(site, organization, project)
    found = _find_plan(site, plan_id)
    tree = request.query_params.get("asTreeView", "").lower() == "true"
    chosen = [found.root_suite] if tree else found.suites
    value = [_suite(site, found, s, tree) for s in chosen]
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{_T}/plans/{{plan_id}}/suites/{{suite_id}}"])
async def suite(request: Request, site: Site, organization: str, project: str, plan_id: int, suite_id: int) -> Response:
    check_scope(site, organization, project)
    found = _find_plan(site, plan_id)
    return reply(request, _suite(site, found, _find_suite(found, suite_id), False))


@route(router, [f"{_T}/plans/{{plan_id}}/suites/{{suite_id}}/testcase"])
async def suite_test_cases(
    request: Request, site: Site, organization: str, project: str, plan_id: int, suite_id: int
) -> Response:
    check_scope(site, organization, project)
    found = _find_plan(site, plan_id)
    chosen = _find_suite(found, suite_id)
    wanted = [f.strip() for f in request.query_params.get("witFields", "").split(",") if f.strip()]
    value = []
    for order, tc in enumerate(chosen.test_case_ids, start=1):
        fields = site.project.work_item(tc).fields
        work_item: dict[str, Any] = {"id": tc, "name": fields.get("System.Title", "")}
        if wanted:
            work_item["workItemFields"] = [{w: fields[w]} for w in wanted if w in fields]
        value.append(
            {
                "order": order,
                "project": _project_ref(site),
                "testPlan": {"id": found.id, "name": found.name},
                "testSuite": {"id": chosen.id, "name": chosen.name},
                "workItem": work_item,
                "pointAssignments": [],
                "links": {"_self": {"href": f"{_plan_url(site, found.id)}/Suites/{chosen.id}/TestCase/{tc}"}},
            }
        )
    return reply(request, {"count": len(value), "value": value})
