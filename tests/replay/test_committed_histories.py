"""Histories recorded from earlier versions must still replay: a change that breaks determinism fails here.

Record a fresh one with `MIGRAYT_RECORD_HISTORY=1 pytest tests/integration/test_history.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from migrayt.workflows.delta_sync import DeltaSyncWorkflow
from migrayt.workflows.migration_run import MigrationRunWorkflow
from migrayt.workflows.undo import UndoWorkflow
from migrayt.workflows.validation import ValidationWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[MigrationRunWorkflow, DeltaSyncWorkflow, ValidationWorkflow, UndoWorkflow],
        data_converter=pydantic_data_converter,
    )
    await replayer.replay_workflow(history)


def test_a_history_is_committed():
    assert HISTORIES, "record one: MIGRAYT_RECORD_HISTORY=1 pytest tests/integration/test_history.py"


def test_a_delta_sync_history_is_committed():
    assert any(p.stem.startswith("delta_sync") for p in HISTORIES), (
        "record one: MIGRAYT_RECORD_HISTORY=1 pytest tests/schedules/test_delta_control.py"
    )


@pytest.mark.parametrize(
    ("prefix", "test"),
    [("validation", "test_a_paused_and_resumed_validation"), ("undo", "test_a_paused_and_resumed_undo")],
)
def test_a_history_of_each_durable_job_is_committed(prefix: str, test: str):
    assert any(p.stem.startswith(prefix) for p in HISTORIES), (
        f"record one: MIGRAYT_RECORD_HISTORY=1 pytest tests/integration/test_history.py -k {test}"
    )
