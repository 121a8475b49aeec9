"""What every Jira route needs: the site's state and fault settings (from `app.state`, as dependencies),
the caller's credentials, and the request helpers Jira's answers share.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import Depends, Request

from migrayt.sandbox.fault_config import FaultConfig

from ..errors import JiraError
from ..state import JiraState
from ..store import ACTING_AS

ACT_AS_HEADER = "X-Sandbox-Act-As"


def jira_state(request: Request) -> JiraState:
    return request.app.state.jira


def fault_config(request: Request) -> FaultConfig:
    return request.app.state.get_faults()


JiraSite = Annotated[JiraState, Depends(jira_state)]
Faults = Annotated[FaultConfig, Depends(fault_config)]


async def authenticated(request: Request) -> None:
    given = request.headers.get("authorization", "").encode()
    if not any(secrets.compare_digest(given, ok) for ok in request.app.state.accepted_auth):
        raise JiraError(401, ["Client must be authenticated to access this resource."])
    # Another person, for tests that plant others' work (an edit, a comment) next to a migration's.
    other = request.headers.get(ACT_AS_HEADER)
    if other:
        request.app.state.jira.known_user(other)
    ACTING_AS.set(other or None)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise JiraError(400, ["No content to map due to end-of-input"])
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JiraError(
            400, [f"Unexpected character in the request body: {exc.msg if hasattr(exc, 'msg') else exc}"]
        ) from None


def page_params(start_at: int, max_results: int, limit: int | None = None) -> tuple[int, int]:
    if start_at < 0:
        raise JiraError(400, ["Parameter 'startAt' must be greater than or equal to 0"])
    if max_results < 0:
        raise JiraError(400, ["Parameter 'maxResults' must be greater than or equal to 0"])
    if limit is not None and max_results > limit:
        raise JiraError(400, [f"Parameter 'maxResults' must not exceed the limit '{limit}'"])
    return start_at, max_results


def check_project(state: JiraState, key: str) -> None:
    if key.upper() != state.config.project_key and key != state.project_id:
        raise JiraError(404, [f"No project could be found with key '{key}'."])
