"""Fairness: a small migration started while a large one runs, on one worker with a Jira site budget.

Both migrations write to the same Jira site (the large sandbox's Jira; the small one reads its own ADO sandbox), so
they share the worker's slots and one `MIGRAYT_JIRA_SITE_RPS` budget. The small migration is timed twice, start to
final status: alone, then started once the large one is creating items. The large run is cancelled afterwards (its
own time is not the question). Content phases (attachments, comments) are left out, as in the engine tests, and
notifications are not muted (both runs write to one Jira project, PHX).

    .venv/bin/python bench/fairness.py [--large 10000] [--small 100] [--rps 20] [--out bench/results/fairness.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    TENANT,
    bench_settings,
    cancel_run,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    load_line,
    machine_line,
    run_and_print,
    sandbox,
    structure_plan,
    timed_run,
    wait_for,
)


async def main(args: argparse.Namespace) -> str:
    settings = bench_settings(concurrency=args.concurrency, jira_site_rps=args.rps)
    machine = machine_line()
    async with embedded_stack(settings) as stack, in_process_worker(stack):
        with sandbox(args.large, 1) as big, sandbox(args.small, 2) as small:
            # Both migrations write to one Jira project at once: notifications are not muted.
            plan = structure_plan(mute_notifications=False)
            small_id = await create_migration(stack, small, "small", target=big, plan=plan)
            alone, alone_final = await timed_run(stack, small_id)

            large_id = await create_migration(stack, big, "large", plan=plan)
            large_run = await stack.service.start_run(TENANT, large_id, actor="bench", door="api")
            began = time.monotonic()
            await wait_for(
                stack,
                large_run,
                lambda p: p.phase == "create_items" and p.counters["create_items"].created > 0,
                poll=0.2,
            )
            large_head_start = time.monotonic() - began
            small_again = await create_migration(stack, small, "small again", target=big, plan=plan)
            during, during_final = await timed_run(stack, small_again)
            large_progress = await stack.service.progress(TENANT, large_run)
            large_state = f"{large_progress.status.value}, phase {large_progress.phase}"
            await cancel_run(stack, large_run)
    out = [
        f"# Fairness: a {args.small}-item migration alone and while a {args.large}-item one runs",
        "",
        f"One in-process worker (batch 50, concurrency {args.concurrency}), MIGRAYT_JIRA_SITE_RPS={args.rps:g}, "
        "both migrations into the same Jira site and project; attachments and comments left out, "
        "notifications not muted.",
        machine,
        "",
        fmt_table(
            ["small migration", "time (s)", "status"],
            [
                ["alone", f"{alone:.1f}", alone_final.status.value],
                ["during the large one", f"{during:.1f}", during_final.status.value],
            ],
        ),
        "",
        f"ratio during / alone: **{during / alone:.2f}**",
        f"The large run had been running {large_head_start:.1f} s (into creating items) when the small one started; "
        f"when the small one finished it was {large_state}.",
        load_line(),
    ]
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--rps", type=float, default=20.0, help="MIGRAYT_JIRA_SITE_RPS for the worker")
    parser.add_argument("--concurrency", type=int, default=4)
    run_and_print(parser, main)
