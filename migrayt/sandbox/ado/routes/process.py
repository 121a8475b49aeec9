"""Process metadata: work item types with their states and fields, type categories, fields, link types."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import catalog
from ..errors import AdoError
from .deps import AdoSite, O, P, Site, check_scope, reply, route

router = APIRouter(include_in_schema=False)


def _find_type(site: AdoSite, name: str) -> str:
    wit = catalog.find_type(unquote(name))
    if wit is None or wit not in catalog.shown_types(site.project.spec.test_management):
        raise AdoError(404, f"TF201036: The work item type '{name}' does not exist.", "WorkItemTypeNotFoundException")
    return wit


@route(router, [f"{P}/wit/workitemtypes"])
async def types(request: Request, site: Site, organization: str, project: str) -> Response:
    check_scope(site, organization, project)
    value = [site.render.work_item_type(t) for t in catalog.shown_types(site.project.spec.test_management)]
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{P}/wit/workitemtypes/{{name}}"])
async def one_type(request: Request, site: Site, organization: str, project: str, name: str) -> Response:
    check_scope(site, organization, project)
    return reply(request, site.render.work_item_type(_find_type(site, name)))


@route(router, [f"{P}/wit/workitemtypes/{{name}}/states"])
async def type_states(request: Request, site: Site, organization: str, project: str, name: str) -> Response:
    check_scope(site, organization, project)
    value = catalog.states_json(_find_type(site, name))
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{P}/wit/workitemtypes/{{name}}/fields"])
async def type_fields(request: Request, site: Site, organization: str, project: str, name: str) -> Response:
    check_scope(site, organization, project)
    value = site.render.work_item_type(_find_type(site, name))["fields"]
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{P}/wit/workitemtypecategories"])
async def categories(request: Request, site: Site, organization: str, project: str) -> Response:
    check_scope(site, organization, project)
    value = [site.render.category(*c) for c in catalog.shown_categories(site.project.spec.test_management)]
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{P}/wit/workitemtypecategories/{{ref}}"])
async def category(request: Request, site: Site, organization: str, project: str, ref: str) -> Response:
    check_scope(site, organization, project)
    for c in catalog.shown_categories(site.project.spec.test_management):
        if c[1].lower() == ref.lower():
            return reply(request, site.render.category(*c))
    raise AdoError(
        404,
        f"TF201079: The work item type category '{ref}' does not exist.",
        "WorkItemTypeCategoryNotFoundException",
    )


@route(router, [f"{P}/wit/fields", f"{O}/wit/fields"])
async def fields(request: Request, site: Site, organization: str, project: str | None = None) -> Response:
    check_scope(site, organization, project)
    value = [site.render.field(f) for f in catalog.shown_fields(site.project.spec.test_management)]
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{P}/wit/fields/{{name}}", f"{O}/wit/fields/{{name}}"])
async def field(request: Request, site: Site, organization: str, name: str, project: str | None = None) -> Response:
    check_scope(site, organization, project)
    f = catalog.find_field(unquote(name))
    if f is None:
        raise AdoError(404, f"TF51535: Cannot find field {name}.", "WorkItemTrackingFieldDefinitionNotFoundException")
    return reply(request, site.render.field(f))


@route(router, [f"{O}/wit/workitemrelationtypes"])
async def relation_types(request: Request, site: Site, organization: str) -> Response:
    check_scope(site, organization)
    value = [site.render.relation_type(*t) for t in catalog.RELATION_TYPES]
    return reply(request, {"count": len(value), "value": value})


@route(router, [f"{O}/wit/workitemrelationtypes/{{ref}}"])
async def relation_type(request: Request, site: Site, organization: str, ref: str) -> Response:
    check_scope(site, organization)
    for t in catalog.RELATION_TYPES:
        if t[0].lower() == ref.lower():
            return reply(request, site.render.relation_type(*t))
    raise AdoError(404, f"TF201063: The link type '{ref}' does not exist.", "WorkItemLinkTypeNotFoundException")
