"""JQL search (`/search/jql`, GET and POST, with its page tokens), the approximate count, and the removed
`/search` that Jira Cloud now answers with 410."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from .. import render
from ..errors import JiraError
from ..state import JiraState
from .deps import Faults, JiraSite, base_url, json_body

router = APIRouter()

_SEARCH_MAX = 100
_SEARCH_MAX_IDS_ONLY = 5000
_BAD_TOKEN = "The provided next page token is invalid or expired."


def _resume_at(token: str, digest: int, ids: list[int]) -> int:
    """Where the page after `token` starts in `ids`."""
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
        start, last, seen_digest = int(cursor["o"]), int(cursor["l"]), int(cursor["h"])
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise JiraError(400, [_BAD_TOKEN]) from None
    if seen_digest != digest:
        raise JiraError(400, [_BAD_TOKEN])
    # resume after the last issue returned when it is still there, so writes between pages
    # neither repeat nor skip issues that were already in the result
    if not (0 <= start - 1 < len(ids) and ids[start - 1] == last) and last in ids:
        start = ids.index(last) + 1
    return start


def _page_size(max_results: int | None, chosen: tuple) -> int:
    cap = _SEARCH_MAX if any(f != "id" for f in chosen) else _SEARCH_MAX_IDS_ONLY
    if max_results is None:
        max_results = 50
    if max_results < 0:
        raise JiraError(400, ["The maxResults parameter must be greater than or equal to 0."])
    return min(max_results, cap)


def _search(
    state: JiraState,
    lag: float,
    base: str,
    jql: str | None,
    token: str | None,
    max_results: int | None,
    fields: list[str] | None,
    properties: list[str] | None,
) -> dict:
    jql = jql or ""
    chosen = render.select_fields(fields, ("id",), state.field_ids, state.custom_fields) if fields else ()
    size = _page_size(max_results, chosen)
    ids = state.search(jql, lag)
    digest = zlib.crc32(jql.encode())
    start = _resume_at(token, digest, ids) if token else 0
    page = ids[start : start + size]
    props = [p for item in properties or [] for p in str(item).split(",") if p]
    issues = [render.issue(state.issues[i], state, base, chosen, props) for i in page]
    is_last = start + len(page) >= len(ids)
    out: dict[str, Any] = {"issues": issues, "isLast": is_last}
    if not is_last and page:
        cursor = {"o": start + len(page), "l": page[-1], "h": digest}
        out["nextPageToken"] = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
    return out


@router.get("/search/jql")
async def search_get(
    request: Request,
    state: JiraSite,
    faults: Faults,
    jql: str | None = None,
    nextPageToken: str | None = None,
    maxResults: int | None = None,
    fields: Annotated[list[str] | None, Query()] = None,
    properties: Annotated[list[str] | None, Query()] = None,
) -> dict:
    lag = faults.search_index_lag_seconds
    return _search(state, lag, base_url(request), jql, nextPageToken, maxResults, fields, properties)


@router.post("/search/jql")
async def search_post(request: Request, state: JiraSite, faults: Faults) -> dict:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise JiraError(400, ["Can not deserialize instance of the request body."])
    fields = body.get("fields")
    if fields is not None and not isinstance(fields, list):
        raise JiraError(400, ["'fields' must be a list of field names."])
    max_results = body.get("maxResults")
    if max_results is not None and (isinstance(max_results, bool) or not isinstance(max_results, int)):
        raise JiraError(400, ["'maxResults' must be an integer."])
    lag = faults.search_index_lag_seconds
    token = body.get("nextPageToken")
    return _search(state, lag, base_url(request), body.get("jql"), token, max_results, fields, body.get("properties"))


@router.post("/search/approximate-count")
async def approximate_count(request: Request, state: JiraSite, faults: Faults) -> dict:
    body = await json_body(request)
    jql = body.get("jql") if isinstance(body, dict) else None
    return {"count": len(state.search(jql or "", faults.search_index_lag_seconds))}


@router.api_route("/search", methods=["GET", "POST"])
async def removed_search() -> JSONResponse:
    return JSONResponse(
        {
            "errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."],
            "errors": {},
        },
        status_code=410,
    )
