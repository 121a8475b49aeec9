"""Pause latency: from the pause signal to the last Jira write, and to status PAUSED, in phase 2.

Each trial is a new migration of the same sandbox project into an emptied Jira site (every run starts from nothing):
start a run, wait until phase 2 has done a random share of its items (seeded), send `pause`
straight to the workflow (as the Temporal UI or `temporal workflow signal` would), then
  signal → PAUSED      poll the progress query every 20 ms until status is PAUSED;
  signal → last write  the `created` time Jira gives its newest issue once PAUSED
                       (0 when no write landed after the signal);
  writes while paused  issues created in the 1 s after PAUSED (must be 0).
Then resume (checks that writes start again) and cancel, and wait for CANCELLED.

    .venv/bin/python bench/pause_latency.py [--items 1000] [--trials 10] [--latency 50] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    SANDBOX_MODES,
    TENANT,
    TIMEOUT,
    bench_settings,
    cancel_run,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    jira_issue_total,
    last_created_issue,
    load_line,
    machine_line,
    run_and_print,
    sandbox,
    set_jira_faults,
    wait_for,
)

from migrayt.contracts.runs import RunControl, RunStatus  # noqa: E402
from migrayt.sandbox.fault_config import LIMIT_PROFILES  # noqa: E402
from migrayt.workflows.migration_run import MigrationRunWorkflow  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def trial(stack: Any, box: Any, http: httpx.AsyncClient, rng: random.Random, n: int) -> dict:
    # An empty Jira site for each trial: a new migration of the project would adopt the issues the trials before it
    # wrote (no creates, so no writes to measure, and no `created` to reach the pause point by).
    (await http.post(f"{box.jira_url}/_sandbox/reset")).raise_for_status()
    migration_id = await create_migration(stack, box, name=f"pause trial {n}")
    run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
    progress = await wait_for(
        stack, run_id, lambda p: p.phase == "create_items" and p.counters["create_items"].total > 0, poll=0.05
    )
    share = rng.uniform(0.05, 0.7)
    goal = share * progress.counters["create_items"].total
    progress = await wait_for(
        stack, run_id, lambda p: p.phase != "create_items" or p.counters["create_items"].created >= goal, poll=0.05
    )
    if progress.phase != "create_items":
        raise RuntimeError("phase 2 ended before the pause point; use more --items")
    await asyncio.sleep(rng.uniform(0.0, 0.5))  # not always right after a batch completed

    handle = stack.service.handle(run_id)
    t_signal = time.time()
    await handle.signal(MigrationRunWorkflow.pause, RunControl(actor="bench", door="api"))
    progress = await wait_for(stack, run_id, lambda p: p.status == RunStatus.PAUSED, poll=0.02)
    t_paused = time.time()
    _, t_last = await last_created_issue(http, box) or ("", 0.0)
    total_paused = await jira_issue_total(http, box)
    await asyncio.sleep(1.0)
    writes_while_paused = await jira_issue_total(http, box) - total_paused
    done_at_pause = progress.counters["create_items"].created

    await handle.signal(MigrationRunWorkflow.resume, RunControl(actor="bench", door="api"))
    resumed = await wait_for(
        stack,
        run_id,
        lambda p: (
            p.status != RunStatus.PAUSED
            and (p.phase != "create_items" or p.counters["create_items"].created > done_at_pause)
        ),
        poll=0.05,
    )
    await cancel_run(stack, run_id)
    final = await stack.service.progress(TENANT, run_id)
    return dict(
        run_id=run_id,
        share=share,
        to_paused=t_paused - t_signal,
        to_last_write=max(0.0, t_last - t_signal),
        writes_while_paused=writes_while_paused,
        resumed=resumed.status == RunStatus.RUNNING or resumed.phase != "create_items",
        final=final.status.value,
    )


async def main(args: argparse.Namespace) -> str:
    settings = bench_settings(concurrency=args.concurrency)
    rng = random.Random(args.seed)
    machine = machine_line()
    results = []
    async with embedded_stack(settings) as stack, in_process_worker(stack):
        with sandbox(args.items, args.seed, args.sandbox) as box:
            await set_jira_faults(box, latency_ms=args.latency, limit_profile=args.limit_profile)
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                for n in range(args.trials):
                    results.append(await trial(stack, box, http, rng, n))
    rows = [
        [
            i + 1,
            f"{r['share']:.0%}",
            f"{r['to_last_write'] * 1000:.0f}",
            f"{r['to_paused'] * 1000:.0f}",
            r["writes_while_paused"],
            "yes" if r["resumed"] else "NO",
            r["final"],
        ]
        for i, r in enumerate(results)
    ]
    last = [r["to_last_write"] * 1000 for r in results]
    paused = [r["to_paused"] * 1000 for r in results]
    out = [
        f"# Pause latency in phase 2: {args.items} items, Jira latency {args.latency:g} ms, "
        f"limits {args.limit_profile or 'none'}, batch 50, "
        f"concurrency {args.concurrency}, {args.trials} trials, seed {args.seed}, sandbox: {args.sandbox}",
        "",
        machine,
        "",
        fmt_table(
            [
                "trial",
                "paused at",
                "signal → last write (ms)",
                "signal → PAUSED (ms)",
                "writes while paused",
                "resumed",
                "then",
            ],
            rows,
        ),
        "",
        fmt_table(
            ["", "p50 (ms)", "p95 (ms)", "max (ms)"],
            [
                ["signal → last Jira write", f"{pct(last, 0.5):.0f}", f"{pct(last, 0.95):.0f}", f"{max(last):.0f}"],
                ["signal → status PAUSED", f"{pct(paused, 0.5):.0f}", f"{pct(paused, 0.95):.0f}", f"{max(paused):.0f}"],
            ],
        ),
        "",
        "paused at: share of phase 2's items created when the pause point was reached (then 0–500 ms more).",
        "signal → PAUSED includes up to 20 ms of polling; the last write time is Jira's own `created` (ms).",
    ]
    out.append(load_line())
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--latency", type=float, default=50.0, help="Jira latency, ms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--limit-profile", choices=sorted(LIMIT_PROFILES), help="the sandbox's scoped budgets (e.g. jira-cloud-like)"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--sandbox",
        choices=SANDBOX_MODES,
        default="process",
        help="process: one sandbox process; split: ADO and Jira in two; thread: in this process",
    )
    run_and_print(parser, main)
