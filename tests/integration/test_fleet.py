"""A fleet under fire (issue 18, small profile): 3 tenants x 2 concurrent migrations on 3 worker processes and 2 API
processes (`migrayt api`, auth on); mid-way one worker and one API are SIGKILLed, then PostgreSQL and Temporal are
restarted. Every run finishes with each item written once, each tenant sees only its own runs, and each run's
audit trail has every step once.

The scenario is tests/integration/fleet.py's `run_fleet`, shared with the long profile (bench/fleet_long.py).
"""

from __future__ import annotations

from contextlib import ExitStack

from migrayt.contracts.phases import run_phases
from migrayt.sandbox.testing import running_sandbox
from tests.integration.fleet import FINAL, MIGRATIONS_PER_TENANT, TENANTS, run_fleet

ITEMS = 40


async def test_fleet_survives_kills_and_restarts_with_every_item_once(stack, postgres, temporal_server, tmp_path):
    with ExitStack() as sandboxes:
        boxes = [
            sandboxes.enter_context(running_sandbox(items=ITEMS, seed=60 + n))
            for n in range(len(TENANTS) * MIGRATIONS_PER_TENANT)
        ]
        report = await run_fleet(stack, boxes, ITEMS, tmp_path, postgres.restart, temporal_server.restart)

    assert report.at_kill["status"] not in FINAL, "the kills must land while the runs go on"
    # The surviving API's own /metrics (a port of its own): its Temporal client's calls.
    assert any(line.startswith("temporal_request") for line in report.metrics.splitlines()), report.metrics[:2000]

    phases = len(run_phases())
    for run in report.runs:
        # Finished, each item written once, nothing missing.
        assert run.final["status"] in ("COMPLETED", "INCOMPLETE"), run.final
        assert run.duplicates == {}
        c = run.final["counters"]["create_items"]
        assert c["created"] + c["skipped"] + c["failed"] == c["total"] == ITEMS
        assert run.in_jira == c["created"] + c["skipped"]
        # Tenants isolated: another tenant neither finds the run nor sees its audit trail.
        assert run.seen_by == []
        # Its audit trail: started and finished once, every phase started and finished once.
        actions = [e["action"] for e in run.events]
        assert actions.count("run_started") == 1 and actions.count("run_finished") == 1, actions
        started = [e["detail"].get("phase") for e in run.events if e["action"] == "phase_started"]
        finished = [e["detail"].get("phase") for e in run.events if e["action"] == "phase_finished"]
        assert sorted(started) == sorted(finished) and len(set(started)) == len(started) <= phases, run.events
