"""Phase 2 (create items) throughput: Migrayt vs a hand-written sequential script vs the raw bulk floor.

For each Jira latency (0 and 50 ms by default) on a fresh sandbox of N generated items:
  Migrayt  a MigrationRunWorkflow run on the embedded stack, in-process worker; phase 2 timed from
           its phase_started/phase_finished audit events; the run is cancelled once phase 2 is done.
  raw      the very same payloads, bulk create 50 per call at the run's concurrency, plain httpx:
           no Temporal, no database, no ADO reads (payloads prepared before the clock starts).
  naive    the same payloads, one POST /rest/api/3/issue per item, one after the other.
Sub-tasks (tier 1) go after their parents in every method, as Migrayt does.

    .venv/bin/python bench/engine_phase2.py [--items 2000] [--latencies 0,50] [--naive-items N]
    .venv/bin/python bench/engine_phase2.py --full-run --items 10000   # whole run: history size, continue-as-new
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    SANDBOX_JIRA_EMAIL,
    SANDBOX_JIRA_TOKEN,
    SANDBOX_MODES,
    TENANT,
    TIMEOUT,
    BenchStack,
    PeakRss,
    RequestLog,
    StepTimer,
    bench_settings,
    cpu_seconds,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    load_line,
    machine_line,
    phase_window,
    port_of,
    sandbox,
    set_jira_faults,
    wait_final,
    wait_for,
)

import migrayt.activities.execution.create_items as create_items_module  # noqa: E402
from migrayt.activities.execution.create_items import CreateItemsActivities  # noqa: E402
from migrayt.activities.execution.migration_context import MigrationContexts  # noqa: E402
from migrayt.connectors.ado import AdoClient  # noqa: E402
from migrayt.connectors.jira import (
    JiraClient,  # noqa: E402
    map_bulk_result,  # noqa: E402
)
from migrayt.connectors.pool import ConnectorPool  # noqa: E402
from migrayt.contracts.phases import run_phases  # noqa: E402
from migrayt.contracts.runs import FINAL_STATUSES  # noqa: E402
from migrayt.store import item_records  # noqa: E402
from migrayt.store.models import RunSourceItem  # noqa: E402
from migrayt.tenant_secrets import SecretPolicy  # noqa: E402
from migrayt.translation.issue_fields import ItemRejected, build_issue_fields  # noqa: E402

BULK = 50
# The steps of one create_items batch, timed in the in-process worker (engine code untouched).
STEPS = [
    ("load migration context", MigrationContexts, "load"),
    ("read batch rows (run_source_item)", create_items_module, "batch_rows"),
    ("load item records", item_records, "load"),
    ("ADO read (get_work_items)", AdoClient, "get_work_items"),
    ("build fields (per item)", create_items_module, "build_issue_fields"),
    ("mark_pending (one upsert)", item_records, "mark_pending"),
    ("Jira bulk create", JiraClient, "bulk_create_issues"),
    ("mark_done (per item)", item_records, "mark_done"),
    ("whole _write (fields → done, committed)", CreateItemsActivities, "_write"),
]


@dataclass
class Result:
    method: str
    items: int
    seconds: float
    jira_calls: int
    ado_calls: int = 0
    failed: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    cpu_wall: float = 0.0  # the wall time the CPU figures cover

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else float("nan")


# --- Migrayt --------------------------------------------------------------------------------------


def activity_timings(history: Any, activity_type: str) -> dict[str, list[float]]:
    """Per activity of `activity_type`: schedule→start and start→close, in seconds, from the history."""
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, float] = {}
    out: dict[str, list[float]] = {"queue": [], "run": []}
    for ev in history.events:
        ts = ev.event_time.ToDatetime().timestamp()
        if ev.HasField("activity_task_scheduled_event_attributes"):
            scheduled[ev.event_id] = (ev.activity_task_scheduled_event_attributes.activity_type.name, ts)
        elif ev.HasField("activity_task_started_event_attributes"):
            started[ev.activity_task_started_event_attributes.scheduled_event_id] = ts
        elif ev.HasField("activity_task_completed_event_attributes"):
            sid = ev.activity_task_completed_event_attributes.scheduled_event_id
            name, t_sched = scheduled.get(sid, ("", ts))
            if name == activity_type and sid in started:
                out["queue"].append(started[sid] - t_sched)
                out["run"].append(ts - started[sid])
    return out


async def run_migrayt(stack: BenchStack, box: Any, log: RequestLog, steps: StepTimer) -> tuple[Result, str, str, dict]:
    migration_id = await create_migration(stack, box)
    steps.reset()
    steps.enabled = True
    pids = process_pids(stack, box)
    cpu0 = cpu_seconds(pids)
    wall0 = time.perf_counter()
    with PeakRss() as rss:
        run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
        progress = await wait_for(
            stack,
            run_id,
            lambda p: p.status in FINAL_STATUSES or p.phase not in (None, "preflight", "create_items"),
            poll=0.5,
        )
    cpu1 = cpu_seconds(pids)
    cpu_wall = time.perf_counter() - wall0
    if progress.status not in FINAL_STATUSES:
        # Only phase 2 is measured: stop the run so its later phases do not compete with the replays.
        await stack.service.control(TENANT, run_id, "cancel", actor="bench", door="api")
    await wait_final(stack, run_id)
    steps.enabled = False
    window = await phase_window(stack, run_id, "create_items")
    assert window, "no phase_started/phase_finished events for create_items"
    t0, t1 = window[0].timestamp(), window[1].timestamp()
    breakdown = steps.summary(t0, t1)
    counters = progress.counters["create_items"]
    history = await stack.client.get_workflow_handle(run_id).fetch_history()
    timings = activity_timings(history, "create_items")
    result = Result(
        "Migrayt (Temporal + Postgres, bulk 50)",
        counters.total,
        t1 - t0,
        jira_calls=log.count(port_of(box.jira_url), t0, t1),
        ado_calls=log.count(port_of(box.ado_url), t0, t1),
        failed=counters.failed,
        cpu={k: cpu1[k] - cpu0[k] for k in pids},
        cpu_wall=cpu_wall,
    )
    extra = dict(rss_peak=rss.peak, rss_start=rss.start_rss, timings=timings, counters=counters, breakdown=breakdown)
    return result, run_id, migration_id, extra


def process_pids(stack: BenchStack, box: Any) -> dict[str, int]:
    return {"benchmark + worker": os.getpid(), **box.pids, **stack.pids}


async def with_cpu(pids: dict[str, int], coro: Any) -> Result:
    before, started = cpu_seconds(pids), time.perf_counter()
    result = await coro
    after = cpu_seconds(pids)
    result.cpu = {k: after[k] - before[k] for k in pids}
    result.cpu_wall = time.perf_counter() - started
    return result


# --- the same payloads, outside Migrayt -------------------------------------------------------------


@dataclass
class Work:
    """The run's work list with a field builder; tier 1 needs its parent's key from the same replay."""

    tiers: list[list[tuple[int, int | None]]]  # (source id, parent id) per tier, in ordinal order
    build: Callable[[int, int, str | None], dict | None]


async def prepare_work(stack: BenchStack, run_id: str, migration_id: str) -> tuple[Work, ConnectorPool]:
    pool = ConnectorPool(SecretPolicy.for_settings(stack.settings, shared=False))  # the bench's own machine
    contexts = MigrationContexts(stack.sessions, pool)
    ctx = await contexts.load(migration_id)
    catalog = await contexts.catalog(ctx)
    lookups = await contexts.lookups(ctx)
    async with stack.sessions() as session:
        rows = (
            await session.execute(
                select(RunSourceItem.source_id, RunSourceItem.parent_id, RunSourceItem.tier)
                .where(RunSourceItem.run_id == run_id)
                .order_by(RunSourceItem.tier, RunSourceItem.ordinal)
            )
        ).all()
    wis = {wi.id: wi for wi in await ctx.ado.get_work_items([r.source_id for r in rows], expand="relations")}
    tiers: list[list[tuple[int, int | None]]] = [[], []]
    for source_id, parent_id, tier in rows:
        tiers[tier].append((source_id, parent_id))

    def build(source_id: int, tier: int, parent_key: str | None) -> dict | None:
        wi = wis.get(source_id)
        if wi is None:
            return None
        try:
            draft = build_issue_fields(
                wi.id,
                wi.fields,
                ctx.plan,
                catalog,
                lookups,
                as_subtask=tier == 1 and parent_key is not None,
                parent_key=parent_key,
            )
        except ItemRejected:
            return None  # Migrayt fails these before calling Jira; so do the replays
        return draft.fields

    return Work(tiers, build), pool


def payloads(work: Work, tier: int, keys: dict[int, str], limit: int | None = None) -> list[tuple[int, dict]]:
    out = []
    for source_id, parent_id in work.tiers[tier]:
        if limit is not None and len(out) >= limit:
            break
        fields = work.build(source_id, tier, keys.get(parent_id) if parent_id else None)
        if fields is not None:
            out.append((source_id, fields))
    return out


def jira_http(box: Any, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=box.jira_url,
        auth=(SANDBOX_JIRA_EMAIL, SANDBOX_JIRA_TOKEN),
        timeout=TIMEOUT,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def run_raw(box: Any, work: Work, concurrency: int) -> Result:
    keys: dict[int, str] = {}
    elapsed = 0.0
    calls = items = failed = 0
    async with jira_http(box, concurrency) as http:
        for tier in (0, 1):
            todo = payloads(work, tier, keys)
            batches = [todo[i : i + BULK] for i in range(0, len(todo), BULK)]
            queue = iter(batches)

            async def lane(queue: Iterator[list[tuple[int, dict]]]) -> None:
                nonlocal calls, failed
                for batch in queue:
                    r = await http.post(
                        "/rest/api/3/issue/bulk", json={"issueUpdates": [{"fields": f} for _, f in batch]}
                    )
                    calls += 1
                    result = map_bulk_result(len(batch), r.json())
                    failed += len(result.errors)
                    for index, (source_id, _) in enumerate(batch):
                        if key := result.key_for(index):
                            keys[source_id] = key

            started = time.perf_counter()
            await asyncio.gather(*(lane(queue) for _ in range(concurrency)))
            elapsed += time.perf_counter() - started
            items += len(todo)
    return Result(f"raw floor (httpx, bulk 50, {concurrency} at a time)", items, elapsed, calls, failed=failed)


async def run_naive(box: Any, work: Work, limit: int | None) -> Result:
    keys: dict[int, str] = {}
    elapsed = 0.0
    calls = failed = items = 0
    async with jira_http(box, 1) as http:
        for tier in (0, 1):
            left = None if limit is None else limit - items
            if left is not None and left <= 0:
                break
            todo = payloads(work, tier, keys, left)
            started = time.perf_counter()
            for source_id, fields in todo:
                r = await http.post("/rest/api/3/issue", json={"fields": fields})
                calls += 1
                if r.status_code == 201:
                    keys[source_id] = r.json()["key"]
                else:
                    failed += 1
            elapsed += time.perf_counter() - started
            items += len(todo)
    return Result("naive script (POST /issue, one at a time)", items, elapsed, calls, failed=failed)


# --- the report ----------------------------------------------------------------------------------


def cpu_names(r: Result) -> list[str]:
    return list(r.cpu)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def phase2(args: argparse.Namespace) -> str:
    settings = bench_settings(concurrency=args.concurrency)
    out: list[str] = [
        f"# Phase 2 (create items): {args.items} items, batch 50, concurrency {args.concurrency}, sandbox: "
        f"{args.sandbox}",
        "",
        machine_line(),
        "",
    ]
    rows: list[list[Any]] = []
    notes: list[str] = []
    step_rows: list[list[Any]] = []
    cpu_rows: list[list[Any]] = []
    cpu_header: list[str] = []
    with RequestLog() as log, StepTimer(STEPS) as steps:
        async with embedded_stack(settings) as stack, in_process_worker(stack):
            for latency in args.latencies:
                with sandbox(args.items, args.seed, args.sandbox) as box:
                    await set_jira_faults(box, latency_ms=latency)
                    mig, run_id, migration_id, extra = await run_migrayt(stack, box, log, steps)
                    work, pool = await prepare_work(stack, run_id, migration_id)
                    try:
                        pids = process_pids(stack, box)
                        raw = await with_cpu(pids, run_raw(box, work, args.concurrency))
                        naive = await with_cpu(pids, run_naive(box, work, args.naive_items))
                    finally:
                        await pool.aclose()
                for r in (mig, raw, naive):
                    rows.append(
                        [
                            f"{latency:g} ms",
                            r.method,
                            r.items,
                            f"{r.seconds:.2f}",
                            f"{r.rate:.0f}",
                            f"{r.jira_calls / r.items:.3f}" if r.items else "-",
                            f"{r.ado_calls / r.items:.3f}" if r.ado_calls else "-",
                            f"{mig.rate / r.rate:.2f}" if r is not mig else "1.00",
                            r.failed,
                        ]
                    )
                for r in (mig, raw, naive):
                    cpu_rows.append(
                        [
                            f"{latency:g} ms",
                            r.method.split(" (")[0],
                            *(f"{r.cpu.get(k, 0.0) / r.items * 1000:.1f}" for k in cpu_names(r)),
                            f"{sum(r.cpu.values()) / r.items * 1000:.1f}",
                            f"{sum(r.cpu.values()) / r.cpu_wall:.2f}",
                        ]
                    )
                    cpu_header = list(r.cpu)
                t = extra["timings"]
                batches = max(1, len(t["run"]))
                for label, (secs, calls) in extra["breakdown"].items():
                    step_rows.append(
                        [
                            f"{latency:g} ms",
                            label,
                            calls,
                            f"{secs / batches * 1000:.0f}",
                            f"{secs / calls * 1000:.1f}" if calls else "-",
                        ]
                    )
                step_rows.append(
                    [
                        f"{latency:g} ms",
                        "whole create_items activity (from history)",
                        batches,
                        f"{sum(t['run']) / batches * 1000:.0f}",
                        f"{sum(t['run']) / batches * 1000:.1f}",
                    ]
                )
                notes.append(
                    f"- {latency:g} ms: Migrayt ÷ raw = {mig.rate / raw.rate:.2f}, Migrayt ÷ naive = "
                    f"{mig.rate / naive.rate:.2f}. "
                    f"create_items activities: {len(t['run'])}, run time p50 {pct(t['run'], 0.5) * 1000:.0f} ms / "
                    f"p95 {pct(t['run'], 0.95) * 1000:.0f} ms, queue (schedule→start) p50 "
                    f"{pct(t['queue'], 0.5) * 1000:.0f} ms / "
                    f"p95 {pct(t['queue'], 0.95) * 1000:.0f} ms. "
                    f"Worker process peak RSS {extra['rss_peak'] / 2**20:.0f} MiB (in-process worker + bench; "
                    f"{extra['rss_start'] / 2**20:.0f} MiB at run start). Run {run_id}: created "
                    f"{extra['counters'].created}, failed {extra['counters'].failed} (bad input, by design of "
                    "the generator)."
                )
    out.append(
        fmt_table(
            [
                "Jira latency",
                "method",
                "items",
                "seconds",
                "items/s",
                "Jira calls/item",
                "ADO calls/item",
                "Migrayt ÷ this",
                "failed",
            ],
            rows,
        )
    )
    out += ["", *notes, ""]
    out.append(
        "CPU per item, ms, by process (user + system, children included; Migrayt: from run start to the end of "
        "phase 2, so preflight is in it; raw: tier-1 payload building included). "
        "Last column: cores busy on average over that window (this machine has 2):"
    )
    out.append("")
    out.append(fmt_table(["Jira latency", "method", *cpu_header, "all", "cores busy"], cpu_rows))
    out.append("")
    out.append(
        "Where a Migrayt create_items batch spends its time (wall time inside the in-process worker; "
        "batches run concurrently, so these overlap):"
    )
    out.append("")
    out.append(fmt_table(["Jira latency", "step", "calls", "ms per batch", "ms per call"], step_rows))
    out.append("")
    out.append(load_line())
    out.append("Migrayt ÷ this: Migrayt's items/s divided by this row's (below 1: Migrayt is slower).")
    if args.naive_items:
        out.append(f"naive rows: the first {args.naive_items} items only (a sequential rate does not change with N).")
    return "\n".join(out)


async def history_stats(stack: BenchStack, run_id: str) -> tuple[list[tuple[str, int, int]], Any]:
    """(temporal run id, events, bytes) for every execution of the workflow, oldest first."""
    executions = []
    async for wf in stack.client.list_workflows(f"WorkflowId = '{run_id}'"):
        executions.append(wf)
    executions.sort(key=lambda w: w.start_time)
    out = []
    for wf in executions:
        history = await stack.client.get_workflow_handle(run_id, run_id=wf.run_id).fetch_history()
        out.append((wf.run_id, len(history.events), sum(ev.ByteSize() for ev in history.events)))
    return out, executions


async def full_run(args: argparse.Namespace) -> str:
    settings = bench_settings(concurrency=args.concurrency)
    out: list[str] = [
        f"# A whole run of {args.items} items (all phases), zero latency, concurrency {args.concurrency}, "
        f"sandbox: {args.sandbox}",
        "",
        machine_line(),
        "",
    ]
    with RequestLog():
        async with embedded_stack(settings) as stack, in_process_worker(stack):
            with sandbox(args.items, args.seed, args.sandbox) as box:
                migration_id = await create_migration(stack, box)
                with PeakRss() as rss:
                    started = time.perf_counter()
                    run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
                    final = await wait_final(stack, run_id)
                    seconds = time.perf_counter() - started
                execs, _ = await history_stats(stack, run_id)
                windows = {p: await phase_window(stack, run_id, p) for p in final.counters}
    last_events, last_bytes = execs[-1][1], execs[-1][2]
    rows = []
    for phase, c in sorted(final.counters.items(), key=lambda kv: run_phases().index(kv[0])):
        w = windows.get(phase)
        secs = (w[1] - w[0]).total_seconds() if w else float("nan")
        rows.append(
            [
                phase,
                c.total,
                c.created,
                c.skipped,
                c.failed,
                f"{secs:.1f}",
                f"{c.total / secs:.0f}" if w and secs else "-",
            ]
        )
    out.append(f"status {final.status.value} in {seconds:.0f} s; run {run_id}")
    out.append("")
    out.append(fmt_table(["phase", "total", "created", "skipped", "failed", "seconds", "items/s"], rows))
    out.append("")
    out.append(
        fmt_table(
            ["execution", "history events", "history bytes"],
            [
                [f"#{i + 1}{' (final)' if i == len(execs) - 1 else ''}", e, f"{b / 1024:.0f} KiB"]
                for i, (_, e, b) in enumerate(execs)
            ],
        )
    )
    out.append("")
    out.append(
        f"continued-as-new {len(execs) - 1} times; final run's history {last_events} events / "
        f"{last_bytes / 2**20:.2f} MiB; "
        f"largest execution {max(e for _, e, _ in execs)} events / {max(b for _, _, b in execs) / 2**20:.2f} MiB "
        f"(Temporal's limits: 51,200 events / 50 MiB). Worker process peak RSS {rss.peak / 2**20:.0f} MiB (in-process)."
    )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--latencies",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.0, 50.0],
        help="Jira latencies in ms, comma-separated",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="batches at a time (Migrayt and raw)")
    parser.add_argument("--naive-items", type=int, default=None, help="time the naive script on the first N items only")
    parser.add_argument(
        "--sandbox",
        choices=SANDBOX_MODES,
        default="process",
        help="process: one sandbox process (default); split: ADO and Jira in two processes; "
        "thread: in this process (shares the GIL with the worker)",
    )
    parser.add_argument("--full-run", action="store_true", help="a whole run instead: history events, continue-as-new")
    parser.add_argument("--out", type=Path, help="also write the table to this .md file")
    args = parser.parse_args()
    text = asyncio.run(full_run(args) if args.full_run else phase2(args))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
