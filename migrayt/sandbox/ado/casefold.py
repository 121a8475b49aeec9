"""ADO resource words in URLs are case-insensitive (`/_apis/WIT/WorkItems` works); this folds them to the
lower case the routes are written in, leaving names (organization, project, descriptors) alone."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

# Resource words are case-insensitive in ADO URLs; names (projects, descriptors) are left alone.
_ROUTE_WORDS = {
    "_apis",
    "wit",
    "wiql",
    "workitems",
    "workitemsbatch",
    "comments",
    "attachments",
    "classificationnodes",
    "workitemtypes",
    "workitemtypecategories",
    "states",
    "fields",
    "workitemrelationtypes",
    "revisions",
    "updates",
    "work",
    "teamsettings",
    "iterations",
    "graph",
    "users",
    "identities",
    "api",
    "rest",
    "worklogs",
    "all",
    "_7pace",
    "projects",
    "resourceareas",
    "testplan",
    "plans",
    "suites",
    "testcase",
}


class CaseFold:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("/_apis/" in scope["path"].lower() or "/_7pace/" in scope["path"].lower()):
            segs = scope["path"].split("/")
            seen_api = False
            for i, s in enumerate(segs):
                low = s.lower()
                if low in ("_apis", "_7pace"):
                    seen_api = True
                if seen_api and low in _ROUTE_WORDS:
                    segs[i] = low
            scope = dict(scope, path="/".join(segs))
        await self.app(scope, receive, send)
