"""Bounded input at the door: request bodies capped while read, 422 answers that never echo the input.

The body cap runs as pure ASGI middleware, so it holds before routing, authentication or any parser
buffers the body: a declared Content-Length over the cap is answered 413 without reading a byte, and a
body without one (chunked) is counted as it arrives and refused at the first message past the cap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXCERPT_CHARS = 80
MAX_ERRORS_SHOWN = 20


class BodyTooLarge(HTTPException):
    """Raised from `receive` inside the app: an HTTPException, so every parser lets it through as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: at most {limit} bytes")


class BodySizeLimit:
    """413 for a body over `default` bytes (or over the cap its path prefix names in `per_path`)."""

    def __init__(self, app: ASGIApp, default: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.per_path = dict(per_path or {})

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.per_path.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # Read outside a handler that would turn it into a 413 (e.g. a background body read).
            if not started:
                await _refuse(send, limit)
            else:
                raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large: at most {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _short_loc(loc: Any) -> list[Any]:
    return [part if isinstance(part, int) else _excerpt(str(part)) for part in list(loc)[:10]]


def short_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors without their `input` (a whole body, when the body is the wrong shape): an excerpt at most."""
    shown = []
    for err in errors[:MAX_ERRORS_SHOWN]:
        item: dict[str, Any] = {
            "type": err.get("type"),
            "loc": _short_loc(err.get("loc", ())),
            "msg": _excerpt_msg(err.get("msg", "")),
        }
        if "input" in err and isinstance(err["input"], (str, int, float, bool)) and err["input"] is not None:
            item["input"] = _excerpt(err["input"])
        shown.append(item)
    return shown


def _excerpt_msg(msg: Any) -> str:
    text = str(msg)
    return text if len(text) <= 300 else text[:300] + "…"


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    content: dict[str, Any] = {"detail": short_errors(errors)}
    if len(errors) > MAX_ERRORS_SHOWN:
        content["errors_total"] = len(errors)
    return JSONResponse(content, status_code=422)
