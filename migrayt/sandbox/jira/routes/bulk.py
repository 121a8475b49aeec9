"""Bulk operations on issues: delete up to 1,000 as an asynchronous task, and the task queue to poll."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .deps import JiraSite, json_body

router = APIRouter()


@router.post("/bulk/issues/delete", status_code=201)
async def bulk_delete(request: Request, state: JiraSite) -> JSONResponse:
    return JSONResponse({"taskId": state.bulk_delete(await json_body(request))}, status_code=201)


@router.get("/bulk/queue/{taskId}")
async def bulk_task(state: JiraSite, taskId: str) -> dict:
    return state.bulk_task(taskId)
