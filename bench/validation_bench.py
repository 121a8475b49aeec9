"""Validation throughput: items/s and Jira (and ADO) calls per item for a validation of a whole migration.

A fresh sandbox of `--items` generated work items is migrated first (setup, not timed; `--plan structure`, the
default, leaves out attachments and comments so a 10,000-item setup takes minutes, not ten), then one
validation of it is timed from its start to its verdict, with every HTTP request the in-process worker sends
counted per port (bulkfetch: one Jira call per 100 items; a changelog only for an item with differences;
remote links only where the source has some).

    .venv/bin/python bench/validation_bench.py --items 10000 --out bench/results/validation_10k.md
    .venv/bin/python bench/validation_bench.py --items 300          # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    SANDBOX_MODES,
    TENANT,
    RequestLog,
    bench_settings,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    machine_line,
    port_of,
    sandbox,
    wait_final,
)

from migrayt.contracts.validation import FINAL_VALIDATION_STATUSES  # noqa: E402
from migrayt.core.validations import ValidationService  # noqa: E402
from migrayt.mapping.plan import MappingPlan  # noqa: E402
from migrayt.store.models import Migration  # noqa: E402


async def main(args: argparse.Namespace) -> str:
    settings = bench_settings(concurrency=args.concurrency)
    async with embedded_stack(settings) as stack, in_process_worker(stack):
        with sandbox(args.items, args.seed, args.sandbox) as box:
            migration_id = await create_migration(stack, box)
            if args.plan == "structure":
                async with stack.sessions() as session:
                    row = await session.get(Migration, migration_id)
                    plan = MappingPlan.model_validate(row.plan)
                    plan.skip_phases = ["attachments", "comments"]
                    row.plan = plan.model_dump()
                    await session.commit()
            started = time.monotonic()
            run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
            run = await wait_final(stack, run_id)
            setup = time.monotonic() - started
            validations = ValidationService(settings, stack.sessions, stack.client)
            with RequestLog() as log:
                since = time.time()
                clock = time.monotonic()
                vid = await validations.start(TENANT, migration_id, "bench", "api", deep=args.deep)
                while True:
                    row, progress = await validations.progress(TENANT, migration_id, vid)
                    if progress.status in FINAL_VALIDATION_STATUSES:
                        break
                    await asyncio.sleep(0.25)
                seconds = time.monotonic() - clock
                until = time.time()
            row = await validations.get(TENANT, migration_id, vid)
            jira_port, ado_port = port_of(box.jira_url), port_of(box.ado_root)
            jira_calls = log.count(jira_port, since, until)
            ado_calls = log.count(ado_port, since, until)
            by_path = Counter(_shape(path) for t, p, _, path in log.entries if p == jira_port and since <= t <= until)
    items = max(row.items_checked, 1)
    differences = sum(sum(k.values()) for k in row.counts.values())
    table = fmt_table(
        ["items", "verdict", "seconds", "items/s", "Jira calls/item", "ADO calls/item", "differences"],
        [
            [
                row.items_checked,
                row.status,
                f"{seconds:.1f}",
                f"{row.items_checked / seconds:.1f}",
                f"{jira_calls / items:.3f}",
                f"{ado_calls / items:.3f}",
                differences,
            ]
        ],
    )
    calls = "\n".join(f"    {n:>7}  {shape}" for shape, n in by_path.most_common(8))
    return (
        f"# Validation of {args.items:,} items (seed {args.seed}, plan {args.plan}, deep={args.deep}, "
        f"concurrency {args.concurrency}, sandbox {args.sandbox})\n\n{machine_line()}\n"
        f"Setup: the run ended {run.status.value} in {setup:.0f} s.\n\n{table}\n\nJira calls by endpoint:\n{calls}\n"
    )


def _shape(path: str) -> str:
    """/rest/api/3/issue/PHX-12/remotelink → /rest/api/3/issue/{key}/remotelink"""
    parts = path.split("/")
    return "/".join("{key}" if re.fullmatch(r"[A-Z][A-Z0-9]*-\d+|\d{4,}", p) else p for p in parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--plan", choices=("structure", "full"), default="structure")
    parser.add_argument("--deep", action="store_true", help="also hash every attachment on both sides")
    parser.add_argument("--sandbox", choices=SANDBOX_MODES, default="process")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = asyncio.run(main(args))
    print(text)
    if args.out:
        args.out.write_text(text)
