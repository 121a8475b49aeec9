"""The sandbox ADO with test management: Shared Steps, test cases that use them and take parameters, and the
Test Plans REST API, read over HTTP as Migrayt reads them; and a project without it answering as before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from migrayt.sandbox.ado import AdoSandboxConfig, create_ado_app
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.translation.test_steps import parse_test_case, shared_step_ids

API = "/acme/Phoenix/_apis"


async def client_for(project: GeneratedProject) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(create_ado_app(project, AdoSandboxConfig())),
        base_url="http://127.0.0.1:8081",
        auth=("u", "sandbox-pat"),
        timeout=30,
    )


@pytest.fixture(scope="module")
def project() -> GeneratedProject:
    return GeneratedProject(ProjectSpec(seed=11, items=100, test_management=True))


@pytest.fixture(scope="module")
async def ado(project: GeneratedProject) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(project) as client:
        yield client


async def fields_of(ado: httpx.AsyncClient, ids: list[int]) -> dict[int, dict]:
    r = await ado.post(f"{API}/wit/workitemsbatch", json={"ids": ids, "$expand": "fields"})
    r.raise_for_status()
    return {w["id"]: w["fields"] for w in r.json()["value"]}


async def test_every_suite_membership_is_served_and_each_test_case_sits_in_its_feature_suite_and_regression(
    ado: httpx.AsyncClient, project: GeneratedProject
) -> None:
    plans = (await ado.get(f"{API}/testplan/plans")).json()["value"]
    assert len(plans) == 3  # one per Epic block of 40 items
    memberships: dict[int, list[str]] = {}
    for plan in plans:
        suites = (await ado.get(f"{API}/testplan/Plans/{plan['id']}/suites")).json()["value"]
        assert suites[0]["id"] == plan["rootSuite"]["id"] and "parentSuite" not in suites[0]
        for suite in suites:
            cases = (await ado.get(f"{API}/testplan/Plans/{plan['id']}/Suites/{suite['id']}/TestCase")).json()
            for case in cases["value"]:
                memberships.setdefault(case["workItem"]["id"], []).append(suite["name"])
    fields = await fields_of(ado, sorted(memberships))
    assert {f["System.WorkItemType"] for f in fields.values()} == {"Test Case"}
    assert set(memberships) == {i for i in project.item_ids() if project.core(i).type == "Test Case"}
    for suites in memberships.values():
        assert len(suites) == 2 and "Regression" in suites


async def test_test_case_steps_expand_their_shared_steps_in_place_and_carry_a_dataset(
    ado: httpx.AsyncClient, project: GeneratedProject
) -> None:
    cases = [i for i in project.item_ids() if project.core(i).type == "Test Case"]
    fields = await fields_of(ado, cases)
    with_shared = with_params = 0
    for tc in cases:
        f = fields[tc]
        refs = shared_step_ids(f["Microsoft.VSTS.TCM.Steps"])
        shared = await fields_of(ado, refs) if refs else {}
        assert all(s["System.WorkItemType"] == "Shared Steps" for s in shared.values())
        parsed = parse_test_case(
            f["Microsoft.VSTS.TCM.Steps"],
            shared_steps={i: s["Microsoft.VSTS.TCM.Steps"] for i, s in shared.items()},
            parameters_xml=f.get("Microsoft.VSTS.TCM.Parameters"),
            data_source_xml=f.get("Microsoft.VSTS.TCM.LocalDataSource"),
        )
        design = project.test_case_design(tc)
        own = [s for s in parsed.steps if s.shared_steps_id is None]
        assert len(own) == len(design["steps"])
        if refs:
            with_shared += 1
            from_shared = [n for n, s in enumerate(parsed.steps) if s.shared_steps_id == refs[0]]
            # The shared steps sit between the test case's own steps and the one ADO nests after them.
            assert (
                from_shared and from_shared[0] == len(design["steps"]) - 1 and parsed.steps[-1].shared_steps_id is None
            )
        if design["parameters"]:
            with_params += 1
            assert parsed.dataset is not None and parsed.dataset.parameters == ("user", "password")
            assert [list(r) for r in parsed.dataset.rows] == [list(r) for r in design["rows"]]
            assert "${user}" in parsed.steps[0].action
    assert with_shared and with_params


async def test_a_project_without_test_management_has_no_plans_and_no_shared_steps() -> None:
    plain = GeneratedProject(ProjectSpec(seed=11, items=100))
    async with await client_for(plain) as ado:
        assert (await ado.get(f"{API}/testplan/plans")).json() == {"count": 0, "value": []}
        assert (await ado.get(f"{API}/testplan/plans/1000000")).status_code == 404
        types = [t["name"] for t in (await ado.get(f"{API}/wit/workitemtypes")).json()["value"]]
        assert "Shared Steps" not in types and "Test Case" in types
        assert (await ado.get(f"{API}/wit/workitemtypes/Shared%20Steps")).status_code == 404
        fields = {f["referenceName"] for f in (await ado.get(f"{API}/wit/fields")).json()["value"]}
        assert "Microsoft.VSTS.TCM.Parameters" not in fields
    with_it = GeneratedProject(ProjectSpec(seed=11, items=100, test_management=True))
    # Everything but the test management items is generated exactly as without it.
    for i in (1, 2, 3, 9, 40, 41):
        assert plain.work_item(i).fields == with_it.work_item(i).fields
