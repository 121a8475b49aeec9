"""What every ADO route needs: the organization being served (from `app.state`, as a dependency), the
service's way of answering, and the checks and parameters its routes share.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from migrayt.sandbox.generator import ORIGIN, GeneratedProject

from ..config import AdoSandboxConfig
from ..errors import AdoError, no_such_item
from ..render import Renderer

P = "/{organization}/{project}/_apis"
O = "/{organization}/_apis"  # noqa: E741


@dataclass
class AdoSite:
    """The organization the app serves: its generated project, settings and renderer."""

    project: GeneratedProject
    config: AdoSandboxConfig
    render: Renderer
    # `/_sandbox/state` counts, kept until the project changes
    counts: dict[str, Any] = field(default_factory=dict)


def ado_site(request: Request) -> AdoSite:
    return request.app.state.ado


Site = Annotated[AdoSite, Depends(ado_site)]


def route(router: APIRouter, paths: list[str], method: str = "GET") -> Callable:
    """Register one handler on several URLs (the service answers org- and project-level alike)."""

    def register(fn: Callable) -> Callable:
        for p in paths:
            router.add_api_route(p, fn, methods=[method], include_in_schema=False)
        return fn

    return register


def reply(request: Request, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace(ORIGIN + "/", str(request.base_url))
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone UTF-16 surrogate in an item's text: .NET writes it as a `\uD800` escape.
        body = (
            json.dumps(data, ensure_ascii=True, separators=(",", ":"))
            .replace(ORIGIN + "/", str(request.base_url))
            .encode()
        )
    return Response(body, status, headers=headers, media_type="application/json; charset=utf-8; api-version=7.1")


def authorized(request: Request, pat: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(password, pat)
    if scheme.lower() == "bearer":
        return secrets.compare_digest(value, pat)
    return False


def check_scope(site: AdoSite, organization: str, project_name: str | None = None, team: str | None = None) -> None:
    spec = site.project.spec
    if organization.lower() != spec.organization.lower():
        raise AdoError(
            404,
            f"VS800075: The organization '{organization}' could not be found.",
            "OrganizationNotFoundException",
            "Microsoft.VisualStudio.Services.Account",
        )
    if project_name is not None and project_name.lower() not in (spec.project.lower(), site.project.project_guid):
        raise AdoError(
            404,
            f"TF200016: The following project does not exist: {project_name}. Verify that the name "
            "of the project is correct and that the project exists on the specified Azure DevOps Server.",
            "ProjectDoesNotExistWithNameException",
            "Microsoft.TeamFoundation.Core.WebApi",
        )
    if team is not None and team.lower() not in (spec.team.lower(), site.project.team_guid):
        raise AdoError(
            404,
            f"VS800029: The team with id '{team}' does not exist.",
            "TeamNotFoundException",
            "Microsoft.TeamFoundation.Core.WebApi",
        )


def require_preview(request: Request) -> None:
    v = request.query_params.get("api-version", "")
    if v and "preview" not in v.lower():
        raise AdoError(
            400,
            f'The requested version "{v}" of the resource is under preview. The -preview flag must '
            'be supplied in the api-version for such requests. For example: "7.1-preview"',
            "VssInvalidPreviewVersionException",
            "Microsoft.VisualStudio.Services.WebApi",
        )


def item_exists(site: AdoSite, item_id: int) -> None:
    if not site.project.exists(item_id):
        raise no_such_item(item_id)


def parse_date(site: AdoSite, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AdoError(
            400, f"The value '{value}' for asOf is not a valid date.", "ArgumentException", "System"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=site.config.today.tzinfo)


def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise AdoError(
            400, f"The value '{raw}' of parameter '{name}' is not a valid integer.", "ArgumentException", "System"
        ) from None


def bad_token(namespace: str = "Microsoft.TeamFoundation.WorkItemTracking.Server") -> AdoError:
    return AdoError(400, "The continuation token is not valid.", "InvalidContinuationTokenException", namespace)
