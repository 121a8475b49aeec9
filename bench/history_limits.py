"""A long run's workflow history against Temporal's limits (51,200 events, 50 MB an execution), at the server's
default continue-as-new suggestion: `--items` work items through every phase, each execution's events and size.

Only create items writes to Jira: the later phases are skipped by the plan, which still runs each of their batches
(counting every item skipped), so the history has the shape and size of a full run's without the content copying.
The CI test (tests/integration/test_history.py) shows the mechanism on 200 items with a server suggesting early; this
is the same at full size, the former 10,000-item CI test.

    .venv/bin/python bench/history_limits.py [--items 10000] [--out bench/results/history_limits.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    SANDBOX_MODES,
    TENANT,
    bench_settings,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    load_line,
    machine_line,
    run_and_print,
    sandbox,
    structure_plan,
    wait_final,
)

from migrayt.contracts.phases import run_phases  # noqa: E402
from migrayt.contracts.runs import PhaseSchedule  # noqa: E402

HISTORY_EVENT_LIMIT = 51_200
HISTORY_BYTE_LIMIT = 50 * 1024 * 1024


async def main(args: argparse.Namespace) -> str:
    settings = bench_settings()
    machine = machine_line()
    plan = structure_plan()
    plan.skip_phases = list(run_phases()[2:])
    async with embedded_stack(settings) as stack, in_process_worker(stack):
        with sandbox(args.items, args.seed, args.sandbox) as box:
            migration_id = await create_migration(
                stack, box, name="history bench", plan=plan, schedule=PhaseSchedule.SEQUENTIAL
            )
            began = time.monotonic()
            run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
            final = await wait_final(stack, run_id)
            seconds = time.monotonic() - began
        rows = []
        executions = [w async for w in stack.client.list_workflows(f"WorkflowId = '{run_id}'")]
        for execution in sorted(executions, key=lambda e: e.start_time):
            history = await stack.client.get_workflow_handle(run_id, run_id=execution.run_id).fetch_history()
            size = sum(event.ByteSize() for event in history.events)
            rows.append(
                [
                    execution.run_id,
                    execution.status.name if execution.status else "",
                    len(history.events),
                    f"{100 * len(history.events) / HISTORY_EVENT_LIMIT:.1f}",
                    f"{size / 1024:.0f}",
                    f"{100 * size / HISTORY_BYTE_LIMIT:.2f}",
                ]
            )
    counted = {p: final.counters[p].total for p in run_phases()[1:]}
    return "\n".join(
        [
            f"# History of a {args.items}-item run (sequential phases, content phases skipped), seed {args.seed}",
            "",
            machine,
            "",
            f"run {final.status.value} in {seconds:.0f} s; items each phase counted: {counted}",
            "",
            fmt_table(["execution", "status", "events", "% of 51,200", "KiB", "% of 50 MB"], rows),
            "",
            load_line(),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=34)
    parser.add_argument("--sandbox", choices=SANDBOX_MODES, default="process")
    run_and_print(parser, main)
