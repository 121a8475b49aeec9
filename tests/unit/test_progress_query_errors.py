"""How a run's progress reads when Temporal cannot give the worker's answer: the last recorded progress, said to be
that (`worker_answered: false`), never an error on the run page, the API or the CLI's --watch.

Found in CI at load 15: a progress query failed with `RPCError: buffered query cleared, please retry` (UNAVAILABLE)
— the query had waited for a workflow task that then timed out on the CPU-starved worker (tasks of 5–12 s)."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from migrayt.contracts.runs import RunStatus
from migrayt.core.runs import MigrationService
from migrayt.settings import Settings
from migrayt.store.models import Run


class _Handle:
    def __init__(self, error: Exception) -> None:
        self._error = error

    async def query(self, *_: Any, **__: Any) -> Any:
        raise self._error


class _Service(MigrationService):
    """The service with its two reads replaced: the run row as recorded, and Temporal's answer to the query."""

    def __init__(self, error: Exception) -> None:
        super().__init__(Settings(), None, None)  # type: ignore[arg-type]
        self._error = error

    async def get_run(self, tenant: str, run_id: str) -> Run:
        return Run(id=run_id, migration_id="m", tenant_id=tenant, status="RUNNING", phase="comments", counters={})

    def handle(self, run_id: str) -> Any:
        return _Handle(self._error)


@pytest.mark.parametrize(
    "status",
    [RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.FAILED_PRECONDITION],
)
async def test_a_query_temporal_could_not_answer_shows_the_recorded_progress(status: RPCStatusCode) -> None:
    service = _Service(RPCError("buffered query cleared, please retry", status, b""))
    progress = await service.progress("acme", "run-1")
    assert (progress.status, progress.phase, progress.worker_answered) == (RunStatus.RUNNING, "comments", False)


async def test_a_refused_query_is_still_an_error() -> None:
    """Not every failure is the worker's silence: a query Temporal refuses (e.g. no such workflow) says so."""
    service = _Service(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""))
    with pytest.raises(RPCError):
        await service.progress("acme", "run-1")
