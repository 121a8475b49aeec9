"""ADO's resource-location service, so clients that discover their URLs (Microsoft's `azure-devops` SDK,
the `az devops` CLI) can talk to the sandbox.

Such a client never builds a URL itself: it asks `GET {org}/_apis/ResourceAreas` which host serves an
area (core, wit, work), then `OPTIONS {that host}/_apis` for the list of resource locations (id, area,
resource, route template, versions) and fills the template of the location id it was generated with.
The swagger specs do not describe this service; the shapes are the SDK's own models
(`azure.devops._models.ApiResourceLocation`, `azure.devops.v7_1.location.models.ResourceAreaInfo`).
Only what the sandbox serves is listed, so a client asking for anything else fails at once, as it
would on a server without that area, instead of calling a route that answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from fastapi import APIRouter, Request
from fastapi.responses import Response

from migrayt.sandbox.generator import ORIGIN

# Highest REST version the sandbox speaks; clients negotiate down to it.
MAX_VERSION = 7.1


class ResourceArea(NamedTuple):
    id: str
    name: str


# The area ids are those the SDK's clients carry (`resource_area_identifier`) and the specs'
# `x-ms-vss-resource-area-id`.
CORE = ResourceArea("79134c72-4a58-4b42-976c-04e7115f32bf", "core")
WIT = ResourceArea("5264459e-e5e0-4bd8-b118-0985e68a4ec5", "wit")
WORK = ResourceArea("1d4f49f9-02b9-4e26-b826-2cdb6195f2a9", "work")
RESOURCE_AREAS = (CORE, WIT, WORK)


class Location(NamedTuple):
    id: str
    area: str
    resource: str
    route: str  # relative to the organization URL; {area}/{resource} are the two names above
    resource_version: int  # the preview number: "7.1-preview.3" -> 3
    released: bool  # released resources also answer without "-preview"


_ITEM = "{project}/_apis/{area}/workItems"
_TYPE = "{project}/_apis/{area}/workitemtypes/{type}"
LOCATIONS = (
    Location(
        "e81700f7-3be2-46de-8624-2eb35882fcaa", "Location", "ResourceAreas", "_apis/{resource}/{areaId}", 1, False
    ),
    Location("603fe2ac-9723-48b9-88ad-09305aa6c6e1", "core", "projects", "_apis/{resource}/{*projectId}", 4, True),
    Location(
        "1a9c53f7-f243-4447-b110-35ef023636e4", "wit", "wiql", "{project}/{team}/_apis/{area}/{resource}", 2, True
    ),
    Location(
        "72c7ddf8-2cdc-4f60-90cd-ab71c14a399b", "wit", "workItems", "{project}/_apis/{area}/{resource}/{id}", 3, True
    ),
    Location(
        "908509b6-4248-4475-a1cd-829139ba419f", "wit", "workItemsBatch", "{project}/_apis/{area}/{resource}", 1, True
    ),
    Location(
        "608aac0a-32e1-4493-a863-b9cf4566d257",
        "wit",
        "comments",
        _ITEM + "/{workItemId}/{resource}/{commentId}",
        4,
        False,
    ),
    Location(
        "a00c85a5-80fa-4565-99c3-bcd2181434bb", "wit", "revisions", _ITEM + "/{id}/{resource}/{revisionNumber}", 3, True
    ),
    Location(
        "6570bf97-d02c-4a91-8d93-3abe9895b1a9", "wit", "updates", _ITEM + "/{id}/{resource}/{updateNumber}", 3, True
    ),
    Location(
        "e07b5fa4-1499-494d-a496-64b860fd64ff", "wit", "attachments", "{project}/_apis/{area}/{resource}/{id}", 3, True
    ),
    Location(
        "a70579d1-f53a-48ee-a5be-7be8659023b9",
        "wit",
        "classificationNodes",
        "{project}/_apis/{area}/{resource}",
        2,
        True,
    ),
    Location(
        "5a172953-1b41-49d3-840a-33f79c3ce89f",
        "wit",
        "classificationNodes",
        "{project}/_apis/{area}/{resource}/{structureGroup}/{*path}",
        2,
        True,
    ),
    Location(
        "7c8d7a76-4a09-43e8-b5df-bd792f4ac6aa",
        "wit",
        "workItemTypes",
        "{project}/_apis/{area}/{resource}/{type}",
        2,
        True,
    ),
    Location("7c9d7a76-4a09-43e8-b5df-bd792f4ac6aa", "wit", "workItemTypeStates", _TYPE + "/states", 1, True),
    Location("bd293ce5-3d25-4192-8e67-e8092e879efb", "wit", "workItemTypesField", _TYPE + "/fields/{field}", 3, True),
    Location(
        "9b9f5734-36c8-415e-ba67-f83b45c31408",
        "wit",
        "workItemTypeCategories",
        "{project}/_apis/{area}/{resource}/{category}",
        2,
        True,
    ),
    Location(
        "b51fd764-e5c2-4b9b-aaf7-3395cf4bdd94",
        "wit",
        "fields",
        "{project}/_apis/{area}/{resource}/{fieldNameOrRefName}",
        3,
        True,
    ),
    Location(
        "f5d33bc9-5b49-4a3c-a9bd-f3cd46dd2165",
        "wit",
        "workItemRelationTypes",
        "_apis/{area}/{resource}/{relation}",
        2,
        True,
    ),
    Location(
        "c9175577-28a1-4b06-9197-8636af9f64ad",
        "work",
        "iterations",
        "{project}/{team}/_apis/{area}/teamsettings/{resource}/{id}",
        1,
        True,
    ),
)


def api_resource_location(loc: Location) -> dict[str, Any]:
    return {
        "id": loc.id,
        "area": loc.area,
        "resourceName": loc.resource,
        "routeTemplate": loc.route,
        "resourceVersion": loc.resource_version,
        "minVersion": 1.0,
        "maxVersion": MAX_VERSION,
        "releasedVersion": str(MAX_VERSION) if loc.released else "0.0",
    }


def resource_area_info(area: ResourceArea, organization: str) -> dict[str, Any]:
    # Every area lives on the organization's own host here, as on dev.azure.com for these three.
    return {"id": area.id, "name": area.name, "locationUrl": f"{ORIGIN}/{organization}/"}


def router(scope: Callable[..., None], reply: Callable[..., Response], error: Callable[..., Exception]) -> APIRouter:
    """`scope` checks the organization, `reply` answers as the service does, `error` is the service's error."""
    routes = APIRouter(include_in_schema=False)

    @routes.options("/{organization}/_apis")
    @routes.options("/{organization}/_apis/")
    async def locations(request: Request, organization: str) -> Response:
        scope(organization)
        value = [api_resource_location(loc) for loc in LOCATIONS]
        return reply(request, {"count": len(value), "value": value})

    @routes.get("/{organization}/_apis/resourceareas")
    async def resource_areas(request: Request, organization: str) -> Response:
        scope(organization)
        value = [resource_area_info(a, organization) for a in RESOURCE_AREAS]
        return reply(request, {"count": len(value), "value": value})

    @routes.get("/{organization}/_apis/resourceareas/{area_id}")
    async def resource_area(request: Request, organization: str, area_id: str) -> Response:
        scope(organization)
        for area in RESOURCE_AREAS:
            if area_id.lower() in (area.id, area.name):
                return reply(request, resource_area_info(area, organization))
        raise error(
            404,
            f"The resource area '{area_id}' could not be found.",
            "ResourceAreaNotFoundException",
            "Microsoft.VisualStudio.Services.Location",
        )

    return routes
