"""Schemathesis against /openapi.json: whatever it sends, the API answers without a 5xx."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

MAX_EXAMPLES = 10  # per operation and phase
TIME_BUDGET_SECONDS = 30  # fuzzing repeats until the budget is spent


async def test_fuzzing_the_published_schema_finds_no_server_error(api, worker, tmp_path: Path):
    token = await api.issue_token("fuzz-corp", name="schemathesis")
    report = tmp_path / "fuzz.ndjson"
    st = Path(sys.executable).with_name("st")
    proc = await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(TIME_BUDGET_SECONDS),
        "--seed",
        "20261122",
        "--workers",
        "1",
        # A live event stream lasts as long as its run: covered by the SSE tests, not by a fuzzer's timeout.
        "--exclude-path-regex",
        "/events$",
        "--request-timeout",
        "20",
        "--no-shrink",
        "--suppress-health-check",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ, NO_COLOR="1", SCHEMATHESIS_HOOKS=""),
        cwd=tmp_path,  # its cache stays out of the repo
    )
    out, _ = await asyncio.wait_for(proc.communicate(), TIME_BUDGET_SECONDS + 60)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    # It really exercised the API: many operations, many requests.
    events = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    assert len(events) > 50, text[-2000:]
    assert "not_a_server_error" in text or "passed" in text.lower()
