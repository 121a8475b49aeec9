"""Shared by the engine benchmarks: the embedded stack, a worker, the sandbox, and what a run did.

The stack is the real one (embedded PostgreSQL + Temporal dev server, `migrayt.stack`), the
worker is `migrayt.worker.main.run_worker` in this process (so psutil can watch its memory), and
the sandbox is `migrayt sandbox` in its own process by default: served from this process it
would share the GIL with the worker and the benchmark would measure that contention instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from temporalio.client import Client

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.contracts.runs import FINAL_STATUSES, PhaseSchedule, RunControl, RunProgress
from migrayt.core.runs import MigrationService
from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.settings import Settings
from migrayt.stack.ports import free_port, wait_for_port
from migrayt.stack.postgres import EmbeddedPostgres
from migrayt.stack.temporal import TemporalDevServer
from migrayt.store.db import create_engine, session_factory, upgrade_schema
from migrayt.store.models import AuditEvent
from migrayt.temporal.client import connect_temporal
from migrayt.worker.main import run_worker
from migrayt.workflows.migration_run import MigrationRunWorkflow

REPO = Path(__file__).resolve().parents[1]
TENANT = "bench"
ADO_PAT_ENV = "MIGRAYT_BENCH_ADO_PAT"
JIRA_TOKEN_ENV = "MIGRAYT_BENCH_JIRA_TOKEN"
# The sandbox's public defaults (migrayt.sandbox.server); not secrets.
SANDBOX_PAT = "sandbox-pat"
SANDBOX_JIRA_EMAIL = "migrator@example.com"
SANDBOX_JIRA_TOKEN = "sandbox-token"
TIMEOUT = httpx.Timeout(60.0, connect=5.0)


def bench_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(task_queue=f"migrayt-bench-{os.getpid()}", batch_size=50, concurrency=4)
    values.update(overrides)
    return Settings(**values)


# --- the embedded stack --------------------------------------------------------------------------


@dataclass
class BenchStack:
    settings: Settings
    database_url: str
    temporal_address: str
    client: Client
    service: MigrationService
    sessions: async_sessionmaker
    engine: AsyncEngine
    pids: dict[str, int] = field(default_factory=dict)
    # The servers themselves, for a benchmark that restarts them (bench/fleet_long.py).
    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None


@asynccontextmanager
async def embedded_stack(
    settings: Settings, workdir: Path | None = None, dynamic_config: dict | None = None
) -> AsyncIterator[BenchStack]:
    """A throw-away PostgreSQL and Temporal dev server (headless) under `workdir` (a temp dir by default)."""
    with tempfile.TemporaryDirectory(prefix="migrayt-bench-") as tmp:
        root = Path(workdir or tmp)
        pg = EmbeddedPostgres(root / "pg", fsync=False)
        temporal = TemporalDevServer(
            root / "temporal", port=None, ui_port=None, headless=True, dynamic_config=dynamic_config
        )
        pg.start()
        try:
            temporal.start()
            try:
                await upgrade_schema(pg.database_url)
                engine = create_engine(pg.database_url)
                client = await connect_temporal(settings, temporal.address)
                sessions = session_factory(engine)
                service = MigrationService(settings, sessions, client)
                pids = {}
                for name, server in (("postgres", pg), ("temporal", temporal)):
                    proc = getattr(server, "_proc", None)
                    if proc is not None:
                        pids[name] = proc.pid
                try:
                    yield BenchStack(
                        settings,
                        pg.database_url,
                        temporal.address,
                        client,
                        service,
                        sessions,
                        engine,
                        pids,
                        pg,
                        temporal,
                    )
                finally:
                    await engine.dispose()
            finally:
                temporal.stop()
        finally:
            pg.stop()


@asynccontextmanager
async def in_process_worker(stack: BenchStack) -> AsyncIterator[None]:
    async with run_worker(stack.settings, stack.client, stack.database_url):
        yield


class PeakRss:
    """Samples this process's RSS in the background: the in-process worker's peak (plus the bench's own)."""

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.peak = 0
        self.start_rss = psutil.Process().memory_info().rss
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        proc = psutil.Process()
        while True:
            self.peak = max(self.peak, proc.memory_info().rss)
            await asyncio.sleep(self.every)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = max(self.peak, psutil.Process().memory_info().rss)
        if self._task:
            self._task.cancel()


# --- the sandbox ---------------------------------------------------------------------------------


@dataclass
class Sandbox:
    ado_url: str  # includes the organization
    jira_url: str
    ado_root: str
    pids: dict[str, int] = field(default_factory=dict)


@contextmanager
def _sandbox_process(items: int, seed: int, log_path: Path | None) -> Iterator[tuple[int, int, int]]:
    """`migrayt sandbox` in a child process; yields its (ADO port, Jira port, pid)."""
    ado_port, jira_port = free_port(), free_port()
    log = open(log_path or os.devnull, "ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "migrayt.api.cli",
            "sandbox",
            "--ado-port",
            str(ado_port),
            "--jira-port",
            str(jira_port),
            "--items",
            str(items),
            "--seed",
            str(seed),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    try:
        for port in (ado_port, jira_port):
            if not wait_for_port(port, timeout=600, alive=lambda: proc.poll() is None):
                raise RuntimeError(f"sandbox did not start (exit code {proc.poll()})")
        yield ado_port, jira_port, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


SANDBOX_MODES = ("process", "split", "thread")


@contextmanager
def sandbox(items: int, seed: int, mode: str = "process", log_path: Path | None = None) -> Iterator[Sandbox]:
    """`process`: `migrayt sandbox` in one child process (default);
    `split`: two child processes with the same seed, ADO served by one and Jira by the other, so
    ADO's work-item rendering does not take CPU from Jira's issue creation (as with the real services);
    `thread`: `running_sandbox` in this process (shares the GIL with the worker)."""
    if mode == "thread":
        from migrayt.sandbox.testing import running_sandbox

        with running_sandbox(items=items, seed=seed) as server:
            yield Sandbox(server.ado_url, server.jira_url, server.ado_root)
        return
    with ExitStack() as stack:
        ado_port, jira_port, pid = stack.enter_context(_sandbox_process(items, seed, log_path))
        pids = {"sandbox": pid}
        if mode == "split":
            _, jira_port, jira_pid = stack.enter_context(_sandbox_process(items, seed, log_path))
            pids = {"sandbox ADO": pid, "sandbox Jira": jira_pid}
        root = f"http://127.0.0.1:{ado_port}"
        yield Sandbox(f"{root}/acme", f"http://127.0.0.1:{jira_port}", root, pids)


async def set_jira_faults(box: Sandbox, **faults: Any) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        (await http.patch(f"{box.jira_url}/_sandbox/faults", json=faults)).raise_for_status()


async def jira_issue_total(http: httpx.AsyncClient, box: Sandbox) -> int:
    r = await http.get(f"{box.jira_url}/_sandbox/state/issues", params={"offset": 0, "limit": 0})
    r.raise_for_status()
    return int(r.json()["total"])


async def last_created_issue(http: httpx.AsyncClient, box: Sandbox) -> tuple[str, float] | None:
    """The newest issue in Jira and when Jira created it (epoch seconds, ms precision)."""
    total = await jira_issue_total(http, box)
    if not total:
        return None
    page = (await http.get(f"{box.jira_url}/_sandbox/state/issues", params={"offset": total - 1, "limit": 1})).json()
    key = page["issues"][0]["key"]
    r = await http.get(
        f"{box.jira_url}/rest/api/3/issue/{key}",
        params={"fields": "created"},
        auth=(SANDBOX_JIRA_EMAIL, SANDBOX_JIRA_TOKEN),
    )
    r.raise_for_status()
    created = datetime.strptime(r.json()["fields"]["created"], "%Y-%m-%dT%H:%M:%S.%f%z")
    return key, created.timestamp()


# --- migrations and runs -------------------------------------------------------------------------


def structure_plan(*, mute_notifications: bool = True) -> MappingPlan:
    """The default plan without the content phases (attachments, comments), as the engine tests run it.

    `mute_notifications=False` when two migrations write to one Jira project at once: the second would find the
    first's silent notification scheme and refuse to start."""
    plan = default_plan()
    plan.skip_phases = ["attachments", "comments"]
    plan.mute_notifications = mute_notifications
    return plan


def use_sandbox_secrets() -> None:
    """The sandbox's credentials where a migration's `env:` references find them. Before starting a worker
    process: it reads them from the environment it inherits."""
    os.environ[ADO_PAT_ENV] = SANDBOX_PAT
    os.environ[JIRA_TOKEN_ENV] = SANDBOX_JIRA_TOKEN


async def create_migration(
    stack: BenchStack,
    box: Sandbox,
    name: str = "Phoenix to PHX",
    *,
    target: Sandbox | None = None,
    plan: MappingPlan | None = None,
    schedule: PhaseSchedule | None = None,
) -> str:
    """A migration of `box`'s ADO project into the Jira of `target` (default: `box`'s own), project PHX; `schedule`
    overrides the plan's `phase_schedule`."""
    use_sandbox_secrets()
    plan = plan or default_plan()
    if schedule is not None:
        plan = plan.model_copy(update={"phase_schedule": schedule})
    target = target or box
    return await stack.service.create_migration(
        TENANT,
        name,
        SourceConnection(
            organization_url=box.ado_url, project="Phoenix", team="Phoenix Team", pat_ref=f"env:{ADO_PAT_ENV}"
        ),
        TargetConnection(
            base_url=target.jira_url, project_key="PHX", email=SANDBOX_JIRA_EMAIL, token_ref=f"env:{JIRA_TOKEN_ENV}"
        ),
        plan,
        actor="bench",
        door="api",
    )


async def wait_for(
    stack: BenchStack, run_id: str, predicate, timeout: float = 3600.0, poll: float = 0.1
) -> RunProgress:
    deadline = time.monotonic() + timeout
    while True:
        progress = await stack.service.progress(TENANT, run_id)
        if predicate(progress):
            return progress
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out; last progress: {progress.model_dump_json()}")
        await asyncio.sleep(poll)


async def wait_final(stack: BenchStack, run_id: str, timeout: float = 3600.0) -> RunProgress:
    return await wait_for(stack, run_id, lambda p: p.status in FINAL_STATUSES, timeout, poll=0.25)


async def timed_run(stack: BenchStack, migration_id: str) -> tuple[float, RunProgress]:
    """Start a run of the migration and wait for its final status: (seconds from start to final, final progress)."""
    began = time.monotonic()
    run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
    final = await wait_final(stack, run_id)
    return time.monotonic() - began, final


async def cancel_run(stack: BenchStack, run_id: str) -> None:
    """Send `cancel` straight to the workflow (as the Temporal UI does) and wait for the run's final status."""
    await stack.service.handle(run_id).signal(MigrationRunWorkflow.cancel, RunControl(actor="bench", door="api"))
    await wait_final(stack, run_id)


async def run_window(stack: BenchStack, run_id: str) -> tuple[datetime, datetime] | None:
    """When the run started and finished, from its own audit events (run_started, run_finished)."""
    async with stack.sessions() as session:
        rows = dict(
            (
                await session.execute(
                    select(AuditEvent.action, AuditEvent.created_at).where(
                        AuditEvent.run_id == run_id, AuditEvent.action.in_(("run_started", "run_finished"))
                    )
                )
            ).all()
        )
    if "run_started" not in rows or "run_finished" not in rows:
        return None
    return rows["run_started"], rows["run_finished"]


async def phase_window(stack: BenchStack, run_id: str, phase: str) -> tuple[datetime, datetime] | None:
    """When the run's `phase` started and finished, from its audit events."""
    async with stack.sessions() as session:
        rows = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.created_at, AuditEvent.detail)
                .where(AuditEvent.run_id == run_id, AuditEvent.action.in_(("phase_started", "phase_finished")))
                .order_by(AuditEvent.id)
            )
        ).all()
    started = finished = None
    for action, at, detail in rows:
        if (detail or {}).get("phase") != phase:
            continue
        if action == "phase_started" and started is None:
            started = at
        elif action == "phase_finished":
            finished = at
    return (started, finished) if started and finished else None


# --- who called whom ----------------------------------------------------------------------------


class RequestLog:
    """Every request httpx sends from this process (worker included): time, port, method, path."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, int, str, str]] = []
        self._original = None

    def __enter__(self) -> RequestLog:
        self._original = original = httpx.AsyncClient.send
        entries = self.entries

        async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            entries.append((time.time(), request.url.port or 0, request.method, request.url.path))
            return await original(client, request, **kwargs)

        httpx.AsyncClient.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        httpx.AsyncClient.send = self._original  # type: ignore[method-assign]

    def count(self, port: int, since: float, until: float, path_prefix: str = "") -> int:
        return sum(
            1 for t, p, _, path in self.entries if p == port and since <= t <= until and path.startswith(path_prefix)
        )


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU (user + system) each named process and its children have used so far."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        total = 0.0
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        out[name] = total
    return out


def port_of(url: str) -> int:
    return httpx.URL(url).port or 0


def fmt_table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def machine_line() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {sys.version.split()[0]}; started {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {load}"
    )


def load_line() -> str:
    return "load average at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def run_and_print(parser: argparse.ArgumentParser, main: Callable[[argparse.Namespace], Awaitable[str]]) -> None:
    """A benchmark's command line: the table `main` returns is printed, and written to `--out` when given, with the
    command that made it (a kept table says how to make it again)."""
    parser.add_argument("--out", type=Path, help="also write the table to this file (e.g. bench/results/x.md)")
    args = parser.parse_args()
    text = asyncio.run(main(args))
    text += "\n\ncommand: `" + " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv]) + "`"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


class StepTimer:
    """Wall time spent in named calls of the in-process worker, wrapped without touching engine code.

    `targets`: (label, owner, attribute) — owner is a module or class whose attribute is a function
    (sync or async). Concurrent calls overlap, so sums are per-call costs, not shares of the phase.
    """

    def __init__(self, targets: list[tuple[str, Any, str]]) -> None:
        self.targets = targets
        self.log: list[tuple[str, float, float]] = []  # label, ended at (epoch), seconds
        self._saved: list[tuple[Any, str, Any]] = []
        self.enabled = True

    def __enter__(self) -> StepTimer:
        import inspect

        for label, owner, name in self.targets:
            original = getattr(owner, name)
            self._saved.append((owner, name, original))
            if inspect.iscoroutinefunction(original):

                async def wrapped(*a: Any, __o=original, __l=label, **k: Any) -> Any:
                    t = time.perf_counter()
                    try:
                        return await __o(*a, **k)
                    finally:
                        if self.enabled:
                            self.log.append((__l, time.time(), time.perf_counter() - t))
            else:

                def wrapped(*a: Any, __o=original, __l=label, **k: Any) -> Any:
                    t = time.perf_counter()
                    try:
                        return __o(*a, **k)
                    finally:
                        if self.enabled:
                            self.log.append((__l, time.time(), time.perf_counter() - t))

            setattr(owner, name, wrapped)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)

    def reset(self) -> None:
        self.log.clear()

    def summary(self, since: float, until: float) -> dict[str, tuple[float, int]]:
        """label → (seconds, calls) of the calls that ended inside [since, until]."""
        out = {label: (0.0, 0) for label, _, _ in self.targets}
        for label, ended, secs in self.log:
            if since <= ended <= until:
                total, calls = out[label]
                out[label] = (total + secs, calls + 1)
        return out
