"""What an operator's tools see of a worker: JSON log lines that parse and carry no secret, and a Prometheus
/metrics with the Temporal SDK's metrics and Migrayt's own (calls, 429s and latency per endpoint, items per phase)."""

from __future__ import annotations

import base64
import json
import re

import httpx

from migrayt.contracts.runs import RunStatus
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import running_sandbox
from migrayt.stack.ports import free_port
from migrayt.temporal.codec import keys_for
from tests.integration.harness import (
    WorkerProcess,
    create_sandbox_migration,
    structure_only_plan,
    wait_final,
)

TENANT = "observed-co"
ITEMS = 20


def sample(metrics: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def test_json_logs_and_metrics_of_a_worker_after_a_small_run(stack, tmp_path):
    # The worker is given the stack's codec keys in its environment, as a deployment does, so the test can look
    # for them in what it logs.
    keys = keys_for(stack.settings)
    codec_spec = ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in keys.items())
    port = free_port()
    env = {"MIGRAYT_LOG_FORMAT": "json", "MIGRAYT_METRICS_PORT": str(port), "MIGRAYT_CODEC_KEYS": codec_spec}
    throttling = FaultConfig(share_429=0.2, retry_after_seconds=0.05, seed=5)
    with running_sandbox(items=ITEMS, seed=41, jira_faults=throttling) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=structure_only_plan(), tenant=TENANT)
        worker = WorkerProcess(stack, tmp_path / "worker.log", env=env)
        worker.start()
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            final = await wait_final(stack, TENANT, run_id)
            async with httpx.AsyncClient(timeout=30) as http:
                metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            worker.stop()
    assert final.status == RunStatus.COMPLETED

    lines = (tmp_path / "worker.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r.get("run_id") == run_id for r in records), "a batch's lines name their run"
    text = "\n".join(lines)
    secrets = ["sandbox-pat", "sandbox-token", *(base64.b64encode(k).decode() for k in keys.values())]
    secrets += [k.hex() for k in keys.values()]
    assert [s for s in secrets if s in text] == []

    # The Temporal SDK's own metrics.
    assert sample(metrics, "temporal_activity_execution_latency_count", activity_type="create_items") > 0
    assert sample(metrics, "temporal_workflow_task_execution_latency_count") > 0
    # Migrayt's: every answer per endpoint template (no host, no key), the 429s apart, latency, items per phase.
    bulk = {"service": "jira", "endpoint": "POST /rest/api/3/issue/bulk"}
    assert sample(metrics, "migrayt_http_calls_total", status="2xx", **bulk) > 0
    assert sample(metrics, "migrayt_http_throttled_total", service="jira") > 0
    assert sample(metrics, "migrayt_http_latency_count", **bulk) >= sample(metrics, "migrayt_http_calls_total", **bulk)
    assert sample(metrics, "migrayt_http_calls_total", service="ado") > 0
    created = sample(metrics, "migrayt_items_total", phase="create_items", outcome="created")
    assert created == final.counters["create_items"].created == ITEMS
    assert "127.0.0.1" not in "\n".join(m for m in metrics.splitlines() if m.startswith("migrayt_"))
    assert not re.search(r'endpoint="[^"]*PHX-\d', metrics)
