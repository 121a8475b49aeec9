"""Proof under fire: one migration while a seeded controller breaks everything around it.

At random points (seeded, printed for replay: MIGRAYT_CHAOS_SEED=<n>) the controller SIGKILLs the
worker, restarts PostgreSQL, restarts the Temporal dev server, runs two workers at once and kills
one, and switches the sandbox Jira's faults on and off (429s, 5xx, writes applied then dropped,
search-index lag, latency spikes). At the end the checkers compare source and target item by
item; any duplicate or anything missing fails the test.

CI profile: a small project that still crosses every phase. MIGRAYT_CHAOS=long: 5,000 items.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select

from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import FINAL_STATUSES, RunProgress, RunStatus
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from tests.integration.checker import check_structure
from tests.integration.checker_content import check_content
from tests.integration.harness import (
    HANG_GUARD_SECONDS,
    WorkerProcess,
    ado_labels,
    create_sandbox_migration,
    jira_issues,
)

TENANT = "chaos-co"
LONG = os.environ.get("MIGRAYT_CHAOS") == "long"
ITEMS = 5000 if LONG else 150
# Comments are posted one by one; a cap keeps the CI profile short (the overflow goes to a file).
COMMENT_CAP = 300 if LONG else 40
# The CI profile waits as long as the harness waits for any run (a hang guard, not a speed target).
RUN_TIMEOUT = 3600.0 if LONG else HANG_GUARD_SECONDS
# The project-wide 600 s cap would stop the long profile mid-run; generation and checks come on top.
pytestmark = pytest.mark.timeout(RUN_TIMEOUT + 1200 if LONG else RUN_TIMEOUT + 600)
STORM = dict(
    share_429=0.3, share_5xx=0.1, share_drop_after_write=0.02, search_index_lag_seconds=5.0, retry_after_seconds=0.2
)
CALM = dict(
    share_429=0.0,
    share_5xx=0.0,
    share_drop_after_write=0.0,
    search_index_lag_seconds=0.0,
    latency_ms=0.0,
    jitter_ms=0.0,
)
# Every kind of trouble at least once; then random ones for as long as the run lasts.
MUST = [
    "kill_worker",
    "kill_worker",
    "restart_postgres",
    "restart_temporal",
    "two_workers_kill_one",
    "fault_storm",
    "latency_spike",
]
EXTRA = [
    "kill_worker",
    "kill_worker",
    "fault_storm",
    "latency_spike",
    "two_workers_kill_one",
    "restart_postgres",
    "restart_temporal",
]


@dataclass
class Tally:
    seed: int
    events: list[str] = field(default_factory=list)
    kills: int = 0
    postgres_restarts: int = 0
    temporal_restarts: int = 0
    storms: int = 0
    spikes: int = 0
    worker_restarts_by_supervisor: int = 0


class Chaos:
    """Runs the workers (as a supervisor would: a dead worker is started again) and breaks things."""

    def __init__(self, stack, postgres, temporal_server, sandbox, tmp_path, rng: random.Random, tally: Tally) -> None:
        self.stack, self.postgres, self.temporal, self.sandbox = stack, postgres, temporal_server, sandbox
        self.tmp_path, self.rng, self.tally = tmp_path, rng, tally
        self.workers: list[WorkerProcess] = []
        self.n = 0
        self.started = time.monotonic()

    def log_paths(self):
        return [w.log_path for w in self.workers]

    def spawn(self) -> WorkerProcess:
        self.n += 1
        w = WorkerProcess(self.stack, self.tmp_path / f"worker-{self.n}.log")
        w.start()
        self.workers.append(w)
        return w

    def supervise(self) -> None:
        alive = [w for w in self.workers if w.proc and w.proc.poll() is None]
        if not alive:
            self.spawn()
            self.tally.worker_restarts_by_supervisor += 1

    def note(self, phase: str, what: str) -> None:
        self.tally.events.append(f"{time.monotonic() - self.started:6.1f}s {phase:<13} {what}")

    async def faults(self, **changes) -> dict:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.patch(f"{self.sandbox.jira_url}/_sandbox/faults", json=changes)
            r.raise_for_status()
            return r.json()

    async def act(self, action: str, phase: str) -> None:
        self.note(phase, action)
        if action == "kill_worker":
            for w in self.workers:
                w.kill()
            self.tally.kills += 1
            await asyncio.sleep(self.rng.uniform(0.0, 1.0))
            self.spawn()
        elif action == "two_workers_kill_one":
            first = next((w for w in self.workers if w.proc and w.proc.poll() is None), None) or self.spawn()
            self.spawn()
            await asyncio.sleep(self.rng.uniform(1.5, 3.0))  # both poll the queue and share the batches
            first.kill()
            self.tally.kills += 1
        elif action == "restart_postgres":
            await asyncio.to_thread(self.postgres.restart)
            self.tally.postgres_restarts += 1
        elif action == "restart_temporal":
            await asyncio.to_thread(self.temporal.restart)
            self.tally.temporal_restarts += 1
        elif action == "fault_storm":
            await self.faults(**STORM)
            self.tally.storms += 1
            await asyncio.sleep(self.rng.uniform(2.0, 5.0))
            await self.faults(**CALM)
        elif action == "latency_spike":
            await self.faults(latency_ms=self.rng.choice([150, 300, 600]), jitter_ms=100)
            self.tally.spikes += 1
            await asyncio.sleep(self.rng.uniform(1.0, 3.0))
            await self.faults(latency_ms=0, jitter_ms=0)

    async def restore(self) -> None:
        """Leave the shared servers as the next test expects them: up, on the same ports."""
        for w in self.workers:
            w.stop()
        if not self.postgres.is_running():
            await asyncio.to_thread(self.postgres.start)
        if not self.temporal.is_running():
            await asyncio.to_thread(self.temporal.start)


async def progress_or_none(stack, run_id: str) -> RunProgress | None:
    """The run's progress, or None while the database or Temporal is down."""
    try:
        return await asyncio.wait_for(stack.service.progress(TENANT, run_id), 10)
    except Exception:
        return None


async def records(stack, migration_id: str, kind: str) -> list[ItemRecord]:
    async with stack.service.sessions() as session:
        return list(
            await session.scalars(
                select(ItemRecord).where(ItemRecord.migration_id == migration_id, ItemRecord.kind == kind)
            )
        )


async def run_under_chaos(chaos: Chaos, run_id: str) -> RunProgress:
    rng, deadline = chaos.rng, time.monotonic() + RUN_TIMEOUT
    todo = list(MUST)
    rng.shuffle(todo)
    next_at = time.monotonic() + rng.uniform(0.5, 2.0)
    phase, final, progress, seen = "preflight", None, None, {"preflight"}
    while final is None:
        assert time.monotonic() < deadline, (
            f"run not final after {RUN_TIMEOUT}s; seed {chaos.tally.seed}; last progress {progress}\n"
            + "\n".join(chaos.tally.events)
        )
        chaos.supervise()
        progress = await progress_or_none(chaos.stack, run_id)
        if progress is not None:
            phase = progress.phase or phase
            if progress.status in FINAL_STATUSES:
                final = progress
                break
        if phase not in seen:
            # Trouble at the start of every phase (long profile: always a SIGKILL), so each phase
            # meets some; the timed actions below land mid-phase.
            seen.add(phase)
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            if LONG:
                await chaos.act("kill_worker", phase)
            elif todo:
                await chaos.act(todo.pop(), phase)
            next_at = time.monotonic() + rng.uniform(1.0, 4.0)
        elif time.monotonic() >= next_at and phase != "preflight":
            if todo:
                await chaos.act(todo.pop(), phase)
            elif LONG:  # CI: each kind of trouble once keeps the profile short
                await chaos.act(rng.choice(EXTRA), phase)
            next_at = time.monotonic() + rng.uniform(1.0, 4.0 if todo else 8.0)
        await asyncio.sleep(0.25)
    assert not todo, f"the run ended before the controller could do {todo}; seed {chaos.tally.seed}"
    return final


def table(tally: Tally, counters: dict, final: RunProgress, elapsed: float) -> str:
    rows = [
        ("seed", tally.seed),
        ("items", ITEMS),
        ("final status", final.status.value),
        ("elapsed s", f"{elapsed:.1f}"),
        ("worker SIGKILLs survived", tally.kills),
        ("worker restarts (supervisor)", tally.worker_restarts_by_supervisor),
        ("PostgreSQL restarts", tally.postgres_restarts),
        ("Temporal restarts", tally.temporal_restarts),
        ("fault storms", tally.storms),
        ("latency spikes", tally.spikes),
        ("Jira requests", counters.get("requests")),
        ("429s answered (retried)", counters.get("throttled")),
        ("5xx answered (retried)", counters.get("server_errors")),
        ("writes dropped after applying", counters.get("dropped_after_write")),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["", f"chaos run (replay: MIGRAYT_CHAOS_SEED={tally.seed})"] + [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += ["  events:"] + [f"    {e}" for e in tally.events]
    return "\n".join(lines)


async def test_migration_survives_chaos_exactly_once(stack, postgres, temporal_server, tmp_path, monkeypatch):
    seed = int(os.environ.get("MIGRAYT_CHAOS_SEED") or random.SystemRandom().randrange(1, 1_000_000))
    print(f"\nchaos seed {seed} (replay: MIGRAYT_CHAOS_SEED={seed})")
    rng, tally = random.Random(seed), Tally(seed)
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(COMMENT_CAP))  # inherited by the worker processes
    spec = ProjectSpec(seed=seed % 1000, items=ITEMS)
    project = GeneratedProject(spec)
    plan = default_plan()
    with running_sandbox(spec, jira_options={"max_comments_per_issue": COMMENT_CAP}) as sandbox:
        migration_id = await create_sandbox_migration(stack, sandbox, plan=plan, tenant=TENANT)
        chaos = Chaos(stack, postgres, temporal_server, sandbox, tmp_path, rng, tally)
        started = time.monotonic()
        try:
            chaos.spawn()
            run_id = await stack.service.start_run(TENANT, migration_id, actor="chaos", door="api")
            final = await run_under_chaos(chaos, run_id)
        finally:
            await chaos.restore()
        elapsed = time.monotonic() - started
        counters = (await chaos.faults(**CALM))["counters"]
        print(table(tally, counters, final, elapsed))

        assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final
        issues = await jira_issues(sandbox)
        duplicates = {label: keys for label, keys in ado_labels(issues).items() if len(keys) > 1}
        assert duplicates == {}, f"seed {seed}: duplicates in Jira: {duplicates}"
        for kind in ("issue", "hierarchy", "link", "attachment", "transition", "comment"):
            left = [r.source_key for r in await records(stack, migration_id, kind) if r.state == "pending"]
            assert left == [], f"seed {seed}: {kind} records still pending after the run: {left[:10]}"
        issue_records = await records(stack, migration_id, "issue")
        not_migrated = {int(r.source_key) for r in issue_records if r.state != "done"}
        hierarchy_links = {
            int(r.source_key)
            for r in await records(stack, migration_id, "hierarchy")
            if (r.detail or {}).get("as") == "link"
        }
        not_transitioned = {
            int(r.source_key) for r in await records(stack, migration_id, "transition") if r.state != "done"
        }
        structure = check_structure(
            project,
            issues,
            plan,
            not_migrated=not_migrated,
            hierarchy_links=hierarchy_links,
            not_transitioned=not_transitioned,
        )
        assert structure == [], f"seed {seed}:\n" + "\n".join(structure[:40])
        content = await check_content(sandbox, issues, comment_cap=COMMENT_CAP)
        assert content.problems == [], f"seed {seed}:\n" + "\n".join(content.problems[:40])
        # The only failures are the generated project's own bad data, each with a reason.
        assert not_migrated == set(), f"seed {seed}: items not migrated: {sorted(not_migrated)[:20]}"
        failed = [
            r
            for kind in ("attachment", "link", "transition", "comment")
            for r in await records(stack, migration_id, kind)
            if r.state == "failed"
        ]
        assert all(r.error for r in failed)
        assert [r.source_key for r in failed if r.kind == "attachment"] == [guid for _, guid in content.over_limit]
        for phase in run_phases()[1:]:
            c = final.counters.get(phase)
            if c is not None:
                assert c.created + c.skipped + c.failed == c.total == ITEMS, (seed, phase, c)
        assert tally.kills >= 3 and tally.postgres_restarts >= 1 and tally.temporal_restarts >= 1
