"""Areas and iterations (classification nodes), and the team's iterations with their time frames."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..errors import AdoError
from .deps import AdoSite, P, Site, check_scope, int_param, reply, route

router = APIRouter(include_in_schema=False)


def _depth(request: Request) -> int:
    return max(0, int_param(request, "$depth", 0) or 0)


def _nodes_by_id(request: Request, site: AdoSite, ids_raw: str, depth: int) -> list:
    p = site.project
    wanted = [int(x) for x in ids_raw.split(",") if x.strip().isdigit()]
    nodes = {n.id: n for root in (p.areas, p.iterations) for n in root.walk()}
    omit = (request.query_params.get("errorPolicy") or "fail").lower() == "omit"
    value = []
    for i in wanted:
        if i in nodes:
            value.append(site.render.node(nodes[i], depth))
        elif not omit:
            raise AdoError(
                404,
                f"VS402485: The classification node with id {i} does not exist.",
                "ClassificationNodeDoesNotExistException",
            )
    return value


@route(router, [f"{P}/wit/classificationnodes"])
async def root_nodes(request: Request, site: Site, organization: str, project: str) -> Response:
    check_scope(site, organization, project)
    depth = _depth(request)
    ids_raw = request.query_params.get("ids")
    if ids_raw:
        value = _nodes_by_id(request, site, ids_raw, depth)
        return reply(request, {"count": len(value), "value": value})
    p = site.project
    value = [site.render.node(p.areas, depth), site.render.node(p.iterations, depth)]
    return reply(request, {"count": 2, "value": value})


@route(router, [f"{P}/wit/classificationnodes/{{group}}", f"{P}/wit/classificationnodes/{{group}}/{{path:path}}"])
async def node(request: Request, site: Site, organization: str, project: str, group: str, path: str = "") -> Response:
    check_scope(site, organization, project)
    p = site.project
    root = {"areas": p.areas, "iterations": p.iterations}.get(group.lower())
    if root is None:
        raise AdoError(
            400,
            f"The structure group '{group}' is not valid; use Areas or Iterations.",
            "ArgumentException",
            "System",
        )
    n = root
    for name in [unquote(s) for s in path.split("/") if s]:
        child = next((c for c in n.children if c.name.lower() == name.lower()), None)
        if child is None:
            raise AdoError(
                404,
                f"VS402485: The node '{path}' does not exist under {group}.",
                "ClassificationNodeDoesNotExistException",
            )
        n = child
    return reply(request, site.render.node(n, _depth(request)))


@route(router, ["/{organization}/{project}/{team}/_apis/work/teamsettings/iterations"])
async def team_iterations(request: Request, site: Site, organization: str, project: str, team: str) -> Response:
    check_scope(site, organization, project, team)
    frame = (request.query_params.get("$timeframe") or "").lower()
    value = [site.render.team_iteration(n, site.config.today) for n in site.project.team_iterations()]
    if frame:
        value = [v for v in value if v["attributes"]["timeFrame"] == frame]
    return reply(request, {"count": len(value), "value": value})


@route(router, ["/{organization}/{project}/{team}/_apis/work/teamsettings/iterations/{iteration_id}"])
async def team_iteration(
    request: Request, site: Site, organization: str, project: str, team: str, iteration_id: str
) -> Response:
    check_scope(site, organization, project, team)
    for n in site.project.team_iterations():
        if n.identifier == iteration_id.lower():
            return reply(request, site.render.team_iteration(n, site.config.today))
    raise AdoError(
        404,
        f"VS402486: The iteration {iteration_id} is not a team iteration.",
        "TeamIterationNotFoundException",
        "Microsoft.TeamFoundation.Work.WebApi",
    )
