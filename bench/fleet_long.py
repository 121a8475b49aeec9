"""The fleet's long profile (issue 18): 3 tenants x 2 concurrent migrations of `--items` work items each, on 3 worker
processes and 2 API processes (auth on); mid-way one worker and one API are SIGKILLed, then PostgreSQL and Temporal
are restarted. The scenario is the CI test's own (tests/integration/fleet.py `run_fleet`; the test,
tests/integration/test_fleet.py, runs it at 40 items and kills as soon as the first run creates issues); here the
kills wait until the first run has created `--kill-at` of its items.

Printed per migration: its items, what the run created / skipped / failed, duplicates (source items with more than one
issue in Jira) and missing (source items with none), its status and time (run_started → run_finished in its audit
trail), whether another tenant could see it, and whether its audit trail has every step once.

    PYTHONPATH=$PWD .venv/bin/python bench/fleet_long.py [--items 200] [--kill-at 0.3]
        [--out bench/results/fleet_long.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.integration.fleet: the scenario
from _stack import (  # noqa: E402
    SANDBOX_MODES,
    embedded_stack,
    fmt_table,
    load_line,
    machine_line,
    run_and_print,
    sandbox,
)

from migrayt.contracts.phases import run_phases  # noqa: E402
from tests.integration.fleet import MIGRATIONS_PER_TENANT, TENANTS, WORKERS, FleetRun, run_fleet  # noqa: E402
from tests.integration.harness import test_settings  # noqa: E402


def audit_complete(run: FleetRun) -> bool:
    """Started and finished once, every phase started and finished once (what the CI test asserts)."""
    actions = [e["action"] for e in run.events]
    started = [e["detail"].get("phase") for e in run.events if e["action"] == "phase_started"]
    finished = [e["detail"].get("phase") for e in run.events if e["action"] == "phase_finished"]
    return (
        actions.count("run_started") == 1
        and actions.count("run_finished") == 1
        and sorted(started) == sorted(finished)
        and len(set(started)) == len(started) <= len(run_phases())
    )


async def main(args: argparse.Namespace) -> str:
    machine = machine_line()
    # The harness's settings: the sandbox on loopback is allowed by the outbound policy of auth-on processes.
    settings = test_settings(concurrency=args.concurrency)
    with tempfile.TemporaryDirectory(prefix="migrayt-bench-fleet-") as tmp:
        async with embedded_stack(settings) as stack:
            assert stack.postgres is not None and stack.temporal is not None
            with ExitStack() as sandboxes:
                boxes = [
                    sandboxes.enter_context(
                        sandbox(args.items, args.seed + n, args.sandbox, log_path=Path(tmp) / f"sandbox-{n}.log")
                    )
                    for n in range(len(TENANTS) * MIGRATIONS_PER_TENANT)
                ]
                began = time.monotonic()
                report = await run_fleet(
                    stack,
                    boxes,
                    args.items,
                    Path(tmp),
                    stack.postgres.restart,
                    stack.temporal.restart,
                    workers=args.workers,
                    kill_at=args.kill_at,
                )
                wall = time.monotonic() - began
    rows = []
    for n, run in enumerate(report.runs, 1):
        c = run.final["counters"]["create_items"]
        rows.append(
            [
                n,
                run.tenant,
                run.items,
                f"{c['created']} / {c['skipped']} / {c['failed']}",
                len(run.duplicates),
                run.missing,
                run.final["status"],
                "-" if run.seconds is None else f"{run.seconds:.1f}",
                "none" if not run.seen_by else ", ".join(run.seen_by),
                "yes" if audit_complete(run) else "NO",
            ]
        )
    kill = report.at_kill
    created = (kill.get("counters", {}).get("create_items") or {}).get("created", 0)
    total_items = sum(r.items for r in report.runs)
    return "\n".join(
        [
            f"# Fleet under fire, long profile: {len(TENANTS)} tenants x {MIGRATIONS_PER_TENANT} migrations of "
            f"{args.items} items, {args.workers} workers + 2 APIs",
            "",
            f"`migrayt worker` and `migrayt api` processes (auth on, run concurrency {args.concurrency}) on one "
            f"embedded PostgreSQL and one Temporal dev server; a sandbox per migration (`--sandbox {args.sandbox}`, "
            f"seeds {args.seed}–{args.seed + len(report.runs) - 1}); attachments and comments left out. When the "
            f"first run had created {created} items (phase {kill.get('phase')}, status {kill.get('status')}), worker 1 "
            "and API 1 were SIGKILLed, then PostgreSQL and Temporal restarted; the runs were followed through the "
            "surviving API.",
            machine,
            "",
            fmt_table(
                [
                    "run",
                    "tenant",
                    "items",
                    "created / skipped / failed",
                    "duplicates",
                    "missing",
                    "status",
                    "time (s)",
                    "seen by other tenants",
                    "audit complete",
                ],
                rows,
            ),
            "",
            f"{total_items} items in all, {wall:.0f} s from the first migration saved to the last check "
            f"({total_items / wall:.1f} items/s over the fleet, kills and restarts included). Duplicates: source items "
            "with more than one issue in their Jira (by the `ado-id-` label); missing: source items with none.",
            load_line(),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200, help="work items per migration")
    parser.add_argument("--kill-at", type=float, default=0.3, help="share of the first run's items created first")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=60)
    parser.add_argument("--sandbox", choices=SANDBOX_MODES, default="process")
    run_and_print(parser, main)
