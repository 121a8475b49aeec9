"""Scale-out: one migration through 1, 2 and 4 worker processes against one Temporal and one PostgreSQL, with a
per-site Jira budget (MIGRAYT_JIRA_SITE_RPS) and without one (issue 18).

One migration, not several tenants' migrations: the question an operator asks is whether more workers make a
migration go faster. A run's batches are activities that any worker polling the task queue takes, so one run spreads
over every worker (`--concurrency` batches in flight, 8 by default so that 4 workers each get two); and one run
writes to one Jira site, which is what the site budget bounds. Several tenants' runs at once add a sandbox each (CPU
taken from the workers on this machine) and measure fairness between runs, which `fairness.py` does.

Each row has a fresh sandbox (`--items` work items, one process serving ADO and Jira) and fresh worker processes
(`migrayt worker`, as deployed), all polling before the run starts. Attachments and comments are left out.
  budget   every worker has MIGRAYT_JIRA_SITE_RPS=`--rps`, and the sandbox Jira answers 429 above that same rate
           (the site's real limit): the budget should be the bound, so Jira requests/s ≈ the budget and no 429s.
  none     no budget and no limit in the sandbox: how fast the machine goes, CPU-bound (2 cores shared by the
           sandbox, PostgreSQL, Temporal and the workers).
Printed per row: items/s over the run (its run_started → run_finished audit events), Jira requests/s and 429s (the
sandbox's own counters), CPU seconds per item of the workers and of everything else, cores busy, each worker's
share of the worker CPU (the spread), the peak RSS of the largest worker, and SQL statements per budgeted call.

    PYTHONPATH=$PWD .venv/bin/python bench/workers_scale.py [--items 400] [--workers 1,2,4] [--modes none,budget]
        [--rps 20] [--concurrency 8] [--out bench/results/workers_scale.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.integration.harness: the worker processes
from _stack import (  # noqa: E402
    SANDBOX_MODES,
    TENANT,
    BenchStack,
    bench_settings,
    cpu_seconds,
    create_migration,
    embedded_stack,
    fmt_table,
    load_line,
    machine_line,
    run_and_print,
    run_window,
    sandbox,
    set_jira_faults,
    structure_plan,
    use_sandbox_secrets,
)

from tests.integration.harness import (  # noqa: E402
    WorkerProcess,
    budget_reports,
    final_in_store,
    jira_fault_counters,
    wait_until_polling,
)

SITE_RPS_ENV = "MIGRAYT_JIRA_SITE_RPS"


class PeakRssOf:
    """The peak RSS of each of some processes, sampled in the background."""

    def __init__(self, pids: list[int], every: float = 0.25) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]
        self.peaks = [0] * len(pids)
        self.every = every
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        while True:
            for i, proc in enumerate(self.procs):
                try:
                    self.peaks[i] = max(self.peaks[i], proc.memory_info().rss)
                except psutil.Error:
                    pass
            await asyncio.sleep(self.every)

    def __enter__(self) -> PeakRssOf:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def one_row(stack: BenchStack, args: argparse.Namespace, mode: str, workers: int, logs: Path) -> dict:
    budgeted = mode == "budget"
    with sandbox(args.items, args.seed, args.sandbox, log_path=logs / f"sandbox-{mode}-{workers}.log") as box:
        if budgeted:
            await set_jira_faults(box, rate_limit_rps=args.rps)
        migration_id = await create_migration(stack, box, f"scale {mode} x{workers}", plan=structure_plan())
        env = {SITE_RPS_ENV: f"{args.rps:g}"} if budgeted else {}
        procs = [WorkerProcess(stack, logs / f"worker-{mode}-{workers}-{n}.log", env) for n in range(workers)]
        for w in procs:
            w.start()
        try:
            await wait_until_polling(stack, procs)
            pids = [w.proc.pid for w in procs if w.proc]
            others = {**stack.pids, **box.pids}
            jira_before = await jira_fault_counters(box)
            cpu_before = cpu_seconds({str(pid): pid for pid in pids}), cpu_seconds(others)
            with PeakRssOf(pids) as rss:
                run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
                final = await final_in_store(stack, TENANT, run_id)
            cpu_after = cpu_seconds({str(pid): pid for pid in pids}), cpu_seconds(others)
            jira_after = await jira_fault_counters(box)
        finally:
            for w in procs:
                w.stop()
    window = await run_window(stack, run_id)
    seconds = (window[1] - window[0]).total_seconds() if window else float("nan")
    c = final.counters["create_items"]
    worker_cpu = [cpu_after[0][str(pid)] - cpu_before[0][str(pid)] for pid in pids]
    other_cpu = {name: cpu_after[1][name] - cpu_before[1].get(name, 0.0) for name in cpu_after[1]}
    reports = [r for w in procs for r in budget_reports(w)]
    calls = sum(int(site["calls"]) for r in reports for site in r.values())
    statements = sum(int(site["sql_statements"]) for r in reports for site in r.values())
    requests = jira_after["requests"] - jira_before["requests"]
    return dict(
        mode=mode,
        workers=workers,
        status=final.status.value,
        items=c.total,
        created=c.created,
        seconds=seconds,
        requests=requests,
        throttled=jira_after["throttled"] - jira_before["throttled"],
        worker_cpu=worker_cpu,
        other_cpu=other_cpu,
        peak_rss=max(rss.peaks),
        sql_per_call=statements / calls if calls else None,
    )


def table(args: argparse.Namespace, rows: list[dict]) -> str:
    out = []
    for r in rows:
        items, secs = r["items"], r["seconds"]
        worker_cpu = sum(r["worker_cpu"])
        other_cpu = sum(r["other_cpu"].values())
        spread = "/".join(f"{x / worker_cpu:.0%}" for x in r["worker_cpu"]) if worker_cpu else "-"
        jira_rps = r["requests"] / secs
        out.append(
            [
                f"{args.rps:g} req/s" if r["mode"] == "budget" else "none",
                r["workers"],
                f"{r['status']} {r['created']}/{items}",
                f"{secs:.1f}",
                f"{items / secs:.1f}",
                f"{jira_rps:.1f}" + (f" ({jira_rps / args.rps:.0%})" if r["mode"] == "budget" else ""),
                r["throttled"],
                f"{worker_cpu / items:.3f}",
                f"{other_cpu / items:.3f}",
                f"{(worker_cpu + other_cpu) / secs:.2f}",
                spread,
                f"{r['peak_rss'] / 2**20:.0f}",
                "-" if r["sql_per_call"] is None else f"{r['sql_per_call']:.2f}",
            ]
        )
    return fmt_table(
        [
            "site budget",
            "workers",
            "run (created/items)",
            "time (s)",
            "items/s",
            "Jira req/s (of budget)",
            "429s",
            "worker CPU s/item",
            "other CPU s/item",
            "cores busy",
            "worker CPU split",
            "peak RSS / worker (MiB)",
            "SQL / budgeted call",
        ],
        out,
    )


async def main(args: argparse.Namespace) -> str:
    # Each row says itself whether the workers have a budget; none is inherited from the shell.
    os.environ.pop(SITE_RPS_ENV, None)
    use_sandbox_secrets()  # before any worker process starts: they resolve the migration's env: references
    settings = bench_settings(concurrency=args.concurrency, batch_size=args.batch)
    machine = machine_line()
    rows = []
    with tempfile.TemporaryDirectory(prefix="migrayt-bench-scale-") as tmp:
        logs = Path(tmp)
        async with embedded_stack(settings) as stack:
            for mode in args.modes.split(","):
                for workers in (int(n) for n in args.workers.split(",")):
                    row = await one_row(stack, args, mode, workers, logs)
                    print(f"{mode} x{workers}: {row['seconds']:.1f} s, {row['status']}", file=sys.stderr)
                    rows.append(row)
    return "\n".join(
        [
            f"# Scale-out: one migration of {args.items} work items through 1, 2 and 4 worker processes",
            "",
            f"`migrayt worker` processes (batch {args.batch}, run concurrency {args.concurrency}) against one embedded "
            "PostgreSQL and one Temporal dev server; attachments and comments left out; a fresh sandbox "
            f"(`--sandbox {args.sandbox}`, seed {args.seed}) per row. With a site budget the sandbox Jira answers 429 "
            f"above {args.rps:g} requests/s, the same rate as MIGRAYT_JIRA_SITE_RPS; without one it does not limit.",
            machine,
            "",
            table(args, rows),
            "",
            "time: run_started → run_finished (audit events). Jira req/s: the sandbox Jira's request counter over that "
            "time; 429s: its throttled counter. Worker CPU s/item: user + system CPU of the worker processes during "
            "the run, over its items (start-up excluded); other: the sandbox, PostgreSQL and Temporal. Cores busy: "
            "all of that CPU over the time. Worker CPU split: each worker's share of the worker CPU (how the batches "
            "spread). SQL / budgeted call: the statements the shared budget cost PostgreSQL per Jira call, as the "
            "workers log when they stop.",
            load_line(),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument("--modes", default="none,budget", help="none: no site budget; budget: --rps, both")
    parser.add_argument("--rps", type=float, default=20.0, help="MIGRAYT_JIRA_SITE_RPS and the sandbox's limit")
    parser.add_argument("--concurrency", type=int, default=8, help="batches in flight in the run")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sandbox", choices=SANDBOX_MODES[:2], default="process")
    run_and_print(parser, main)
