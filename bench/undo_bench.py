"""Undo throughput: a migration of `--items` work items, then its undo, timed.

A fresh sandbox project is migrated (issues, hierarchy, links, statuses; attachments and comments
left out to keep the setup short — the issues carry their links with them), then
  dry run   the plan: every created issue's changelog, comments and worklogs read for the point of no return;
  undo      the confirmed undo, from its start to COMPLETED: bulk deletes of `--batch` issues a request
            (asynchronous Jira tasks, polled), `--concurrency` batches at a time, then the ledger sweep.
items/s is the items the undo removed over the undo's wall time (dry run not included).

    .venv/bin/python bench/undo_bench.py [--items 10000] [--batch 1000] [--concurrency 2] [--latency 0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    SANDBOX_MODES,
    TENANT,
    TIMEOUT,
    bench_settings,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    jira_issue_total,
    load_line,
    machine_line,
    run_and_print,
    sandbox,
    set_jira_faults,
    structure_plan,
    timed_run,
)

from migrayt.contracts.runs import RunStatus  # noqa: E402
from migrayt.core.undo import UndoService  # noqa: E402


async def main(args: argparse.Namespace) -> str:
    settings = bench_settings(concurrency=args.concurrency, undo_batch_size=args.batch)
    machine = machine_line()
    async with embedded_stack(settings) as stack, in_process_worker(stack):
        undo = UndoService(settings, stack.sessions, stack.client)
        with sandbox(args.items, args.seed, args.sandbox) as box:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                migration_id = await create_migration(stack, box, name="undo bench", plan=structure_plan())
                run_seconds, run = await timed_run(stack, migration_id)
                issues_before = await jira_issue_total(http, box)
                await set_jira_faults(box, latency_ms=args.latency)
                t0 = time.monotonic()
                plan = await undo.dry_run(TENANT, migration_id)
                dry_seconds = time.monotonic() - t0
                t0 = time.monotonic()
                undo_id = await undo.start(TENANT, migration_id, plan.total, actor="bench", door="api")
                while (p := await undo.progress(TENANT, undo_id)).status not in (
                    RunStatus.COMPLETED,
                    RunStatus.INCOMPLETE,
                    RunStatus.FAILED,
                    RunStatus.CANCELLED,
                ):
                    await asyncio.sleep(0.1)
                undo_seconds = time.monotonic() - t0
                issues_after = await jira_issue_total(http, box)
    removed = p.removed + p.already_gone
    rows = [
        ["migration run", run.status.value, f"{run_seconds:.1f}", "", ""],
        ["undo dry run", "", f"{dry_seconds:.1f}", plan.total, f"{plan.total / dry_seconds:.0f}"],
        ["undo", p.status.value, f"{undo_seconds:.1f}", removed, f"{removed / undo_seconds:.0f}"],
    ]
    return "\n".join(
        [
            f"# Undo of {args.items} work items: bulk delete {args.batch} a request, concurrency {args.concurrency}, "
            f"Jira latency {args.latency:g} ms, seed {args.seed}, sandbox: {args.sandbox}",
            "",
            machine,
            "",
            fmt_table(["step", "status", "seconds", "items", "items/s"], rows),
            "",
            f"plan: {plan.counts}; Jira issues {issues_before} before the undo, {issues_after} after; "
            f"removed {p.removed}, already gone {p.already_gone}, kept {p.kept}",
            load_line(),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1000, help="issues per bulk delete request (≤ 1000)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.0, help="Jira latency, ms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sandbox", choices=SANDBOX_MODES, default="process")
    run_and_print(parser, main)
