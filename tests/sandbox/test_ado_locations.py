"""Contract of the sandbox's ADO resource-location service. The swagger specs do not describe it, so the
shapes come from Microsoft's SDK models (what `azure-devops` deserialises), and every location it lists
must lead to a route the sandbox really serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
from azure.devops import _models as sdk_base_models
from azure.devops.client import Client
from azure.devops.v7_1.location import models as sdk_location_models

from migrayt.sandbox.ado import AdoSandboxConfig, create_ado_app
from migrayt.sandbox.ado.locations import LOCATIONS, RESOURCE_AREAS
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec

_MSREST_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def model_schema(model: type) -> dict[str, Any]:
    """A closed JSON schema from an msrest model's attribute map: a misspelt or mistyped property fails."""
    props = {spec["key"]: {"type": _MSREST_TYPES[spec["type"]]} for spec in model._attribute_map.values()}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def collection_schema(model: type) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["count", "value"],
        "properties": {"count": {"type": "integer"}, "value": {"type": "array", "items": model_schema(model)}},
    }


@pytest.fixture(scope="module")
def project() -> GeneratedProject:
    return GeneratedProject(ProjectSpec(seed=9, items=60))


@pytest.fixture(scope="module")
async def ado(project) -> AsyncIterator[httpx.AsyncClient]:
    app = create_ado_app(project, AdoSandboxConfig())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8081", auth=("", "sandbox-pat"), timeout=30
    ) as client:
        yield client


async def test_options_lists_resource_locations_as_the_sdk_reads_them(ado):
    r = await ado.options("/acme/_apis")
    assert r.status_code == 200, r.text
    body = r.json()
    jsonschema.validate(body, collection_schema(sdk_base_models.ApiResourceLocation))
    assert body["count"] == len(body["value"]) == len({loc["id"] for loc in body["value"]})
    by_id = {loc["id"]: loc for loc in body["value"]}
    # the locations the SDK needs before anything else: resource areas, projects, work items, WIQL
    for needed in (
        "e81700f7-3be2-46de-8624-2eb35882fcaa",
        "603fe2ac-9723-48b9-88ad-09305aa6c6e1",
        "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b",
        "1a9c53f7-f243-4447-b110-35ef023636e4",
    ):
        assert needed in by_id
    assert all(float(loc["releasedVersion"]) <= loc["maxVersion"] for loc in body["value"])


async def test_resource_areas_point_at_the_sandbox_itself(ado):
    r = await ado.get("/acme/_apis/ResourceAreas")
    assert r.status_code == 200, r.text
    jsonschema.validate(r.json(), collection_schema(sdk_location_models.ResourceAreaInfo))
    assert {a["name"] for a in r.json()["value"]} == {"core", "wit", "work"}
    # the SDK sends each area's client to locationUrl: it must be this host, never dev.azure.com
    assert {a["locationUrl"] for a in r.json()["value"]} == {"http://127.0.0.1:8081/acme/"}
    one = await ado.get(f"/acme/_apis/resourceAreas/{RESOURCE_AREAS[1].id}")
    jsonschema.validate(one.json(), model_schema(sdk_location_models.ResourceAreaInfo))
    assert one.json()["name"] == "wit"
    missing = await ado.get("/acme/_apis/resourceAreas/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["typeKey"] == "ResourceAreaNotFoundException"


async def test_an_unknown_organization_has_no_locations(ado):
    r = await ado.options("/globex/_apis")
    assert r.status_code == 404 and r.json()["typeKey"] == "OrganizationNotFoundException"


def route_values(project: GeneratedProject) -> dict[str, Any]:
    item = next(
        i for i in project.item_ids() if project.comments(i) and project.attachments(i) and project.core(i).rev > 1
    )
    return {
        "project": "Phoenix",
        "team": "Phoenix Team",
        "projectId": project.project_guid,
        "areaId": RESOURCE_AREAS[0].id,
        "workItemId": item,
        "commentId": project.comments(item)[0].id,
        "revisionNumber": 1,
        "updateNumber": 1,
        "structureGroup": "Iterations",
        "type": "Bug",
        "category": "Microsoft.BugCategory",
        "fieldNameOrRefName": "System.Title",
        "relation": "System.LinkTypes.Related",
        "item": item,
        "attachment": project.attachments(item)[0].guid,
        "iteration": project.team_iterations()[0].identifier,
    }


POSTS = {"wiql": {"query": "SELECT [System.Id] FROM WorkItems"}, "workItemsBatch": {"ids": [1, 2]}}


@pytest.mark.parametrize("location", LOCATIONS, ids=[f"{loc.area}/{loc.resource}" for loc in LOCATIONS])
async def test_every_listed_location_is_served(ado, project, location):
    values = route_values(project)
    # the id a resource takes differs per resource; fill it the way the SDK would for one of that kind
    values["id"] = {"attachments": values["attachment"], "iterations": values["iteration"]}.get(
        location.resource, values["item"]
    )
    values.update(area=location.area, resource=location.resource)
    # the SDK's own template handling: optional segments without a value are dropped
    template = Client._remove_optional_route_parameters(location.route, dict(values))
    path = "/acme" + template.format(**values).replace(" ", "%20")
    body = POSTS.get(location.resource)
    r = await ado.request("POST" if body else "GET", path, json=body)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
