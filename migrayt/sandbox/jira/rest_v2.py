"""REST v2 reads, answered from v3: Jira Cloud serves both versions, and clients such as the `jira` package
still default to v2 (`/rest/api/2/serverInfo`, `/project`, `/field`, `/issue/{key}`, `/search/jql`).

The two versions differ in one thing a reader sees: v2 sends rich text (description, comments, worklog
comments, text custom fields) as a wiki-markup string where v3 sends an ADF document. This turns each ADF
document into its text (marks and layout are not rendered as wiki markup) and points `self` links at v2.
Writes stay v3-only: a v2 write carries wiki markup the sandbox does not parse.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .adf import is_adf_shaped, plain_text

V2, V3 = "/rest/api/2/", "/rest/api/3/"
_READS_BY_POST = ("/rest/api/2/search/jql",)  # a search is a read, whatever the method


def as_v2(value: Any) -> Any:
    if is_adf_shaped(value):
        return plain_text(value)
    if isinstance(value, dict):
        return {k: as_v2(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_v2(v) for v in value]
    if isinstance(value, str):
        return value.replace(V3, V2)
    return value


class RestV2Reads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        is_read = scope.get("method") == "GET" or (scope.get("method") == "POST" and path in _READS_BY_POST)
        if not (path.startswith(V2) and is_read):
            await self.app(scope, receive, send)
            return
        v3_path = V3 + path[len(V2) :]
        scope = dict(scope, path=v3_path, raw_path=v3_path.encode())
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if not content_type.startswith(b"application/json"):
                    await send(message)  # attachments and other bytes pass as they are
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if body:
                body = json.dumps(as_v2(json.loads(body)), ensure_ascii=False).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)
