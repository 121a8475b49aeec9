"""Migrayt side by side with a hand-written script and the raw floor, on the same sandbox project.

For each Jira latency (0 and 50 ms by default, always with the sandbox's rate limit, 100 requests/s)
on a fresh sandbox of N generated items:
  Migrayt  a whole MigrationRunWorkflow run (all phases) on the embedded stack, in-process worker.
           Every Jira request it makes is recorded (method, path, body; 429s left out: they are
           the service saying "not now", not calls Migrayt needed). Phases are timed from the
           run's phase_started audit events.
  raw      those very requests replayed with plain httpx, phase by phase, as many at a time as
           Migrayt had in flight at its peak in that phase: no Temporal, no database, no ADO
           reads. Created issues get new keys; every later request is rewritten to them. A 429
           waits its Retry-After, as Migrayt's client does.
  naive    the same requests one after the other, one issue per create call (what a
           hand-written script does); each phase is timed for at most --naive-seconds and its
           rate extrapolated (a sequential rate does not change with N). Issues it had no time
           to create are then created untimed, so the later phases have them.
Then, from runs of their own:
  pause    pause signal → last Jira write, p50/p95 (bench/pause_latency.py's trial) at the last latency;
  kill     a run whose worker process is SIGKILLed mid-phase in several phases: item records
           written more than once or reconciled (the work redone), and duplicates in Jira;
  RSS      peak RSS of a worker process (psutil) over a run of --rss-items items, up to --rss-until.

    .venv/bin/python bench/compare.py [--items 1000] [--latency 0,50] [--rps 100] [--skip-kill]
        [--rss-items 10000[,100000]] [--out bench/results/compare.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
from _stack import (
    SANDBOX_JIRA_EMAIL,
    SANDBOX_JIRA_TOKEN,
    TENANT,
    TIMEOUT,
    BenchStack,
    RequestLog,
    bench_settings,
    cpu_seconds,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    load_line,
    machine_line,
    port_of,
    sandbox,
    set_jira_faults,
    wait_final,
    wait_for,
)
from engine_phase2 import pct
from pause_latency import trial as pause_trial

from migrayt.connectors.jira import map_bulk_result
from migrayt.connectors.limits import endpoint_template, written_issue
from migrayt.contracts.phases import run_phases, side_by_side_groups
from migrayt.contracts.runs import FINAL_STATUSES, PhaseSchedule
from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.sandbox.fault_config import LIMIT_PROFILES
from migrayt.settings import get_settings
from migrayt.store.models import AuditEvent, ItemRecord
from migrayt.temporal.codec import new_key_spec
from migrayt.translation.issue_fields import source_label
from tests.integration.harness import WorkerProcess, ado_labels, jira_issues

WORK_PHASES = run_phases()[1:]  # preflight is a fixed cost per run, reported apart and not replayed
BULK_PATH = "/rest/api/3/issue/bulk"
CREATE_PATH = "/rest/api/3/issue"
KEEP_HEADERS = ("content-type", "x-atlassian-token", "accept")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {message}", file=sys.stderr, flush=True)


# --- recording Migrayt's Jira calls --------------------------------------------------------------


@dataclass
class Call:
    t0: float
    t1: float
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]
    parts: list[bytes]  # the body; a streamed upload fills it as it is sent
    status: int

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)

    @property
    def is_json(self) -> bool:
        return self.headers.get("content-type", "").startswith("application/json")


class _Tee(httpx.AsyncByteStream):
    def __init__(self, source: Any, parts: list[bytes]) -> None:
        self.source, self.parts = source, parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.source:
            self.parts.append(chunk)
            yield chunk


class JiraRecorder:
    """Every request httpx sends from this process to `jira_port` (worker included), with its body."""

    def __init__(self) -> None:
        self.jira_port = 0
        self.calls: list[Call] = []
        self.throttled_at: list[float] = []
        self.throttled_why: list[tuple[float, str]] = []  # when, and the 429's RateLimit-Reason
        self._original = None

    def __enter__(self) -> JiraRecorder:
        self._original = original = httpx.AsyncClient.send
        rec = self

        async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            if request.url.port != rec.jira_port or request.url.path.startswith("/_sandbox/"):
                return await original(client, request, **kwargs)
            try:
                parts = [request.content]
            except httpx.RequestNotRead:
                parts = []
                request.stream = _Tee(request.stream, parts)
            t0 = time.time()
            response = await original(client, request, **kwargs)
            if response.status_code == 429:
                rec.throttled_at.append(t0)
                rec.throttled_why.append((t0, response.headers.get("RateLimit-Reason") or "rate-limit"))
            else:
                headers = {k: v for k, v in request.headers.items() if k.lower() in KEEP_HEADERS}
                rec.calls.append(
                    Call(
                        t0,
                        time.time(),
                        request.method,
                        request.url.raw_path.decode(),
                        headers,
                        parts,
                        response.status_code,
                    )
                )
            return response

        httpx.AsyncClient.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        httpx.AsyncClient.send = self._original  # type: ignore[method-assign]


class StatementLog:
    """When each SQL statement of this process (the in-process worker's included) was sent to PostgreSQL."""

    def __init__(self) -> None:
        self.at: list[float] = []

    def _on(self, *_: Any) -> None:
        self.at.append(time.time())

    def __enter__(self) -> StatementLog:
        event.listen(Engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._on)

    def count(self, since: float, until: float) -> int:
        return sum(1 for t in self.at if since <= t < until)


def peak_in_flight(calls: list[Call]) -> int:
    edges = sorted([(c.t0, 1) for c in calls] + [(c.t1, -1) for c in calls], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def write_calls(path: Path, rec: JiraRecorder, since: float) -> None:
    """Every call as `sent answered status method path` (seconds from `since`), 429s as `sent - 429 reason`."""
    rows = [(c.t0 - since, f"{c.t1 - since:.3f}", c.status, c.method, c.path) for c in rec.calls]
    rows += [(t - since, "-", 429, why, "") for t, why in rec.throttled_why]
    path.write_text("".join(f"{t0:.3f}\t{t1}\t{status}\t{method}\t{p}\n" for t0, t1, status, method, p in sorted(rows)))


async def phase_starts(stack: BenchStack, run_id: str) -> dict[str, float]:
    """When each phase of the run started (epoch seconds), from its audit events; 'end' when it ended."""
    async with stack.sessions() as session:
        rows = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.created_at, AuditEvent.detail)
                .where(AuditEvent.run_id == run_id)
                .order_by(AuditEvent.id)
            )
        ).all()
    out: dict[str, float] = {}
    for action, at, detail in rows:
        phase = (detail or {}).get("phase")
        if action == "phase_started" and phase and phase not in out:
            out[phase] = at.timestamp()
        elif action == "phase_finished":
            # The last phase to finish: side by side, that need not be the last in the run's order.
            out["end"] = at.timestamp()
    if "end" not in out:
        out["end"] = rows[-1][1].timestamp()
    return out


def split_by_phase(calls: list[Call], starts: dict[str, float]) -> dict[str, list[Call]]:
    order = [(starts[p], p) for p in run_phases() if p in starts]
    out: dict[str, list[Call]] = {p: [] for p in run_phases()}
    for c in calls:
        phase = None
        for t, p in order:
            if c.t0 >= t:
                phase = p
        if phase and c.t0 <= starts["end"]:
            out[phase].append(c)
    return out


def budget_use(calls: list[Call], seconds: float, profile: dict[str, Any]) -> dict[str, Any]:
    """Each scoped budget's share used over `seconds` by these accepted calls, and the floor they set.

    The floor is the busiest budget's calls ÷ its limit: the time no client could beat with these calls, however
    many it had in flight (one endpoint's burst rate, the busiest issue's write rate, or the site's hourly quota).
    """
    by_endpoint = Counter(f"{c.method} {endpoint_template(c.path)}" for c in calls)
    by_issue = Counter(i for c in calls if (i := written_issue(c.method, c.path)) is not None)
    endpoint, endpoint_calls = by_endpoint.most_common(1)[0] if by_endpoint else ("-", 0)
    issue, issue_writes = by_issue.most_common(1)[0] if by_issue else ("-", 0)
    burst_rate = profile["jira_burst_rps"]
    issue_rate = profile["jira_issue_writes"] / profile["jira_issue_write_window_seconds"]
    quota_rate = profile["jira_quota_per_hour"] / 3600
    floors = {
        "burst": endpoint_calls / burst_rate,
        "per-issue writes": issue_writes / issue_rate,
        "quota": len(calls) / quota_rate,
    }
    busiest = max(floors, key=lambda k: floors[k])
    return dict(
        endpoint=endpoint,
        endpoint_calls=endpoint_calls,
        issue=issue,
        issue_writes=issue_writes,
        burst_share=endpoint_calls / (burst_rate * seconds) if seconds else 0.0,
        issue_share=issue_writes / (issue_rate * seconds) if seconds else 0.0,
        quota_share=len(calls) / (quota_rate * seconds) if seconds else 0.0,
        floor=floors[busiest],
        busiest=busiest,
    )


def pace_over_time(calls: list[Call], endpoint: str, t0: float, t1: float, slices: int = 10) -> list[float]:
    """One endpoint's accepted calls per second in each of `slices` equal parts of [t0, t1): where a phase lost
    its busiest budget's pace (a slow start, a tail, a stretch of 429s)."""
    width = (t1 - t0) / slices
    counts = [0] * slices
    if width <= 0:
        return [0.0] * slices
    for c in calls:
        if f"{c.method} {endpoint_template(c.path)}" == endpoint and t0 <= c.t0 < t1:
            counts[min(int((c.t0 - t0) / width), slices - 1)] += 1
    return [n / width for n in counts]


# --- replaying them ------------------------------------------------------------------------------

KEY_RE = re.compile(r"\bPHX-\d+\b")
_NO_LOCK = contextlib.nullcontext()


class KeyMap:
    """Migrayt's issue keys → the keys the replay's own creates got (matched by the ado-id label)."""

    def __init__(self, migrayt_keys: dict[str, int]) -> None:
        self.migrayt_keys = migrayt_keys  # Migrayt key → ADO id
        self.by_source = {src: key for key, src in migrayt_keys.items()}
        self.by_label = {source_label(src): src for src in migrayt_keys.values()}
        self.keys: dict[str, str] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.unresolved: set[str] = set()

    async def rewrite(self, text: str) -> str:
        for key in set(KEY_RE.findall(text)):
            if key in self.migrayt_keys and key not in self.keys:
                # Created by a request another lane has taken (Migrayt had the key before sending this),
                # unless the replay's create of it failed: then the request goes out with the old key.
                try:
                    await asyncio.wait_for(self.events.setdefault(key, asyncio.Event()).wait(), 20.0)
                except TimeoutError:
                    self.unresolved.add(key)
        return KEY_RE.sub(lambda m: self.keys.get(m.group(0), m.group(0)), text)

    def learn(self, fields: dict, new_key: str | None) -> None:
        if not new_key:
            return
        for label in fields.get("labels") or ():
            if (src := self.by_label.get(label)) is not None:
                old = self.by_source[src]
                self.keys[old] = new_key
                self.events.setdefault(old, asyncio.Event()).set()


@dataclass
class Replayed:
    seconds: float = 0.0
    calls: int = 0
    throttled: int = 0
    errors: int = 0
    done: int = 0  # requests (naive: single creates) sent within the time cap
    total: int = 0
    samples: list[str] = field(default_factory=list)  # the first refusals, to tell a replay problem from Migrayt's own


class Replayer:
    def __init__(self, box: Any, keymap: KeyMap, connections: int = 32) -> None:
        self.keymap = keymap
        self.locks: dict[str, asyncio.Lock] = {}
        self.http = httpx.AsyncClient(
            base_url=box.jira_url,
            auth=(SANDBOX_JIRA_EMAIL, SANDBOX_JIRA_TOKEN),
            timeout=TIMEOUT,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str], stats: Replayed
    ) -> httpx.Response:
        dropped = 0
        while True:
            try:
                r = await self.http.request(method, target, content=body, headers=headers)
            except httpx.TransportError:
                # A kept-alive connection the server closed meanwhile; Migrayt's client retries these too.
                dropped += 1
                if dropped > 3:
                    raise
                await asyncio.sleep(0.2)
                continue
            if r.status_code == 429:
                stats.throttled += 1
                await asyncio.sleep(float(r.headers.get("Retry-After") or 1))
                continue
            stats.calls += 1
            if r.status_code >= 400:
                stats.errors += 1
                if len(stats.samples) < 3:
                    stats.samples.append(f"{method} {target.split('?')[0]} -> {r.status_code} {r.text[:200]}")
            return r

    async def create(self, updates: list[dict], headers: dict[str, str], stats: Replayed) -> None:
        """A bulk create (several updates) or one POST /issue per update."""
        text = await self.keymap.rewrite(json.dumps({"issueUpdates": updates}))
        updates = json.loads(text)["issueUpdates"]
        r = await self.send("POST", BULK_PATH, json.dumps({"issueUpdates": updates}).encode(), headers, stats)
        result = map_bulk_result(len(updates), r.json())
        for i, update in enumerate(updates):
            self.keymap.learn(update.get("fields") or {}, result.key_for(i))

    async def create_one(self, update: dict, headers: dict[str, str], stats: Replayed) -> None:
        update = json.loads(await self.keymap.rewrite(json.dumps(update)))
        r = await self.send("POST", CREATE_PATH, json.dumps(update).encode(), headers, stats)
        if r.status_code == 201:
            self.keymap.learn(update.get("fields") or {}, r.json().get("key"))

    async def one(self, call: Call, stats: Replayed) -> None:
        if call.method == "POST" and call.path == BULK_PATH:
            await self.create(json.loads(call.body)["issueUpdates"], call.headers, stats)
            return
        # Requests on one issue go in Migrayt's order (a transition needs the one before it).
        on = KEY_RE.search(call.path)
        async with self.locks.setdefault(on.group(0) if on else "", asyncio.Lock()) if on else _NO_LOCK:
            await self._one(call, stats)

    async def _one(self, call: Call, stats: Replayed) -> None:
        target = await self.keymap.rewrite(call.target)
        body: bytes | None = call.body or None
        if body and call.is_json:
            body = (await self.keymap.rewrite(body.decode())).encode()
        r = await self.send(call.method, target, body, call.headers, stats)
        if call.method == "POST" and call.path == CREATE_PATH and r.status_code == 201:
            self.keymap.learn(json.loads(body or b"{}").get("fields") or {}, r.json().get("key"))

    async def raw(self, calls: list[Call], lanes: int) -> Replayed:
        stats = Replayed(total=len(calls))
        queue = iter(calls)

        async def lane() -> None:
            for call in queue:
                await self.one(call, stats)
                stats.done += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(max(1, lanes))))
        stats.seconds = time.perf_counter() - started
        return stats

    async def naive(self, calls: list[Call], cap: float) -> Replayed:
        """One request at a time, one issue per create; stops taking new work after `cap` seconds."""
        singles: list[tuple[dict, dict[str, str]] | Call] = []
        for call in calls:
            if call.method == "POST" and call.path == BULK_PATH:
                singles += [(u, call.headers) for u in json.loads(call.body)["issueUpdates"]]
            else:
                singles.append(call)
        stats = Replayed(total=len(singles))
        started = time.perf_counter()
        left: list[dict] = []
        for i, work in enumerate(singles):
            if time.perf_counter() - started > cap:
                left = [w[0] for w in singles[i:] if isinstance(w, tuple)]
                break
            if isinstance(work, tuple):
                await self.create_one(work[0], work[1], stats)
            else:
                await self.one(work, stats)
            stats.done += 1
        stats.seconds = time.perf_counter() - started
        if left:  # untimed: the later phases need every issue
            fill = Replayed()
            headers = {"content-type": "application/json"}
            chunks = iter([left[i : i + 50] for i in range(0, len(left), 50)])

            async def lane() -> None:
                for chunk in chunks:
                    await self.create(chunk, headers, fill)

            await asyncio.gather(*(lane() for _ in range(4)))
        return stats


# --- one latency: Migrayt, raw, naive ------------------------------------------------------------


async def migrayt_keys(stack: BenchStack, migration_id: str) -> dict[str, int]:
    async with stack.sessions() as session:
        rows = (
            await session.execute(
                select(ItemRecord.target_key, ItemRecord.source_key).where(
                    ItemRecord.migration_id == migration_id, ItemRecord.kind == "issue", ItemRecord.state == "done"
                )
            )
        ).all()
    return {key: int(src) for key, src in rows if key}


async def fault_counters(box: Any) -> dict:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        return (await http.get(f"{box.jira_url}/_sandbox/faults")).json()["counters"]


@dataclass
class LatencyResult:
    latency: float
    load: float
    run_id: str
    status: str
    wall: float
    preflight: float
    phases: list[dict] = field(default_factory=list)
    naive_cap: float = 0.0
    pause: list[dict] = field(default_factory=list)
    counters: dict = field(default_factory=dict)  # the sandbox's fault counters over Migrayt's run alone
    budgets: dict = field(default_factory=dict)  # budget_use() over the whole run
    floor: dict = field(default_factory=dict)  # irreducible_calls(): what Jira makes cost a call each, by kind
    cpu: dict = field(default_factory=dict)  # CPU seconds over Migrayt's run, by part (cpu_seconds_by_part)


# Jira's bulk create takes 50 issues a call.
ISSUES_PER_CREATE = 50


def cpu_seconds_by_part(stack: BenchStack) -> dict[str, float]:
    """CPU seconds so far of this process alone (the in-process worker, the API core and the recorder) and of the
    stack's servers; the sandboxes are not Migrayt and are left out."""
    own = psutil.Process().cpu_times()
    servers = cpu_seconds(stack.pids)
    return {
        "worker (this process)": own.user + own.system,
        "Temporal server": servers.get("temporal", 0.0),
        "PostgreSQL": servers.get("postgres", 0.0),
    }


async def irreducible_calls(box: Any) -> dict[str, int]:
    """The Jira calls the migrated project cannot go without, read from the sandbox Jira after the run: one per
    comment, work log, issue link and remote link (Jira has no bulk endpoint for them), one per upload request
    were each issue's files sent together within the same bounds Migrayt uses (files per request, bytes per
    request; a larger file alone), and one per 50 issues created. Transitions (bulk, a few requests per run) and
    the setup reads are left out: the floor is a lower bound."""
    settings = get_settings()
    most_files, most_bytes = settings.attachment_files_per_request, settings.attachment_bytes_per_request
    floor = Counter[str]()
    issues = 0
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        offset = 0
        while True:
            r = await http.get(f"{box.jira_url}/_sandbox/state/issues", params={"offset": offset, "limit": 1000})
            r.raise_for_status()
            page = r.json()
            for issue in page["issues"]:
                issues += 1
                floor["comments"] += len(issue["comments"])
                floor["worklogs"] += len(issue["worklogs"])
                floor["remote links"] += len(issue["remote_links"])
                # A link shows on both its issues: counted at its outward end only.
                floor["issue links"] += sum(1 for lk in issue["links"] if lk["direction"] == "outward")
                sizes = [a["size"] for a in issue["attachments"]]
                small = [n for n in sizes if n <= most_bytes]
                if small:
                    floor["upload requests"] += max(-(-len(small) // most_files), -(-sum(small) // most_bytes))
                floor["upload requests"] += len(sizes) - len(small)
            offset += len(page["issues"])
            if not page["issues"] or offset >= page["total"]:
                break
    floor["issue creates"] = -(-issues // ISSUES_PER_CREATE)
    return dict(floor)


# The phase whose calls each part of the floor is (the links phase writes issue and remote links).
FLOOR_PHASE = {
    "issue creates": "create_items",
    "issue links": "links",
    "remote links": "links",
    "upload requests": "attachments",
    "comments": "comments",
    "worklogs": "7pace",
}


async def one_latency(
    stack: BenchStack,
    rec: JiraRecorder,
    log: RequestLog,
    sql: StatementLog,
    args: argparse.Namespace,
    latency: float,
    pause_trials: int,
) -> LatencyResult:
    load = os.getloadavg()[0]
    with sandbox(args.items, args.seed) as box:
        if args.limit_profile:
            # The profile's scoped budgets replace the one global bucket (its endpoints add up to about as much).
            await set_jira_faults(box, latency_ms=latency, limit_profile=args.limit_profile)
        else:
            await set_jira_faults(box, latency_ms=latency, rate_limit_rps=args.rps)
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            (await http.delete(f"{box.jira_url}/_sandbox/faults/counters")).raise_for_status()
        migration_id = await create_migration(stack, box, plan=bench_plan(args), schedule=args.schedule)
        rec.jira_port, rec.calls, rec.throttled_at, rec.throttled_why = port_of(box.jira_url), [], [], []
        say(f"{latency:g} ms: Migrayt run of {args.items} items (all phases)")
        wall0 = time.time()
        cpu0 = cpu_seconds_by_part(stack)
        run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
        last = [""]

        def tell(p: Any) -> bool:
            if p.phase != last[0]:
                last[0] = p.phase
                say(f"  Migrayt in phase {p.phase}")
            return p.status in FINAL_STATUSES

        # Only a guard against a hung run: one phase after the other, 10,000 items take over 2 h at these budgets.
        final = await wait_for(stack, run_id, tell, timeout=max(3600.0, 2.0 * args.items), poll=0.5)
        wall = time.time() - wall0
        cpu = {part: seconds - cpu0.get(part, 0.0) for part, seconds in cpu_seconds_by_part(stack).items()}
        rec.jira_port = 0
        if args.calls_out:
            write_calls(args.calls_out, rec, wall0)
        throttled_migrayt = len(rec.throttled_at)
        migrayt_counters = await fault_counters(box)  # before the replays add theirs
        floor_calls = await irreducible_calls(box)  # before the replays write more
        starts = await phase_starts(stack, run_id)
        if args.schedule == PhaseSchedule.SIDE_BY_SIDE:
            # The phases of a group start together and overlap: one row for the group, from its start to the next
            # phase's (or the run's end), under its first phase's name.
            for group in side_by_side_groups(run_phases()):
                for later in group[1:]:
                    starts.pop(later, None)
        by_phase = split_by_phase(rec.calls, starts)
        keymap = KeyMap(await migrayt_keys(stack, migration_id))
        ado_port = port_of(box.ado_url)
        result = LatencyResult(
            latency,
            load,
            run_id,
            final.status.value,
            wall,
            starts.get("create_items", wall0) - starts.get("preflight", wall0),
            naive_cap=args.naive_seconds,
            counters=migrayt_counters,
            floor=floor_calls,
            cpu=cpu,
        )
        profile = LIMIT_PROFILES[args.limit_profile] if args.limit_profile else None
        if profile:
            in_run = [c for c in rec.calls if starts.get("create_items", wall0) <= c.t0 <= starts["end"]]
            result.budgets = budget_use(in_run, starts["end"] - starts.get("create_items", wall0), profile)
        say(
            f"  Migrayt {final.status.value} in {wall:.0f} s; {len(rec.calls)} Jira calls, {throttled_migrayt} "
            "answered 429"
        )

        replay = Replayer(box, keymap)
        try:
            for i, phase in enumerate(WORK_PHASES):
                t0 = starts.get(phase)
                t1 = next((starts[p] for p in WORK_PHASES[i + 1 :] if p in starts), starts["end"])
                if t0 is None or t1 is None:
                    continue
                calls = by_phase[phase]
                throttled = sum(1 for t in rec.throttled_at if t0 <= t < t1)
                lanes = peak_in_flight(calls)
                counters = final.counters.get(phase)
                if args.migrayt_only:
                    raw = Replayed()
                else:
                    await asyncio.sleep(1.0)  # let the rate-limit bucket refill between rows
                    raw = await replay.raw(calls, lanes)
                result.phases.append(
                    dict(
                        phase=phase,
                        items=counters.total if counters else 0,
                        seconds=t1 - t0,
                        calls=len(calls),
                        errors=sum(1 for c in calls if c.status >= 400),
                        lanes=lanes,
                        raw=raw,
                        ado_calls=log.count(ado_port, t0, t1),
                        throttled=throttled,
                        throttled_why=Counter(why for t, why in rec.throttled_why if t0 <= t < t1),
                        statements=sql.count(t0, t1),
                        budgets=budget_use(calls, t1 - t0, profile) if profile else None,
                    )
                )
                if profile:
                    busiest = result.phases[-1]["budgets"]["endpoint"]
                    result.phases[-1]["pace"] = pace_over_time(calls, busiest, t0, t1)
                say(
                    f"  {phase}: Migrayt {t1 - t0:.1f} s, {len(calls)} calls (peak {lanes} in flight); raw "
                    f"{raw.seconds:.1f} s; refused {raw.errors} {raw.samples[:2]}"
                )
            result.phases.append(dict(throttled_total=throttled_migrayt))
            # The naive script gets keys of its own (the raw replay's are taken).
            naive_replay = Replayer(box, KeyMap(keymap.migrayt_keys), connections=4)
            try:
                for row in result.phases[:-1]:
                    if args.migrayt_only:
                        row["naive"] = Replayed()
                        continue
                    await asyncio.sleep(1.0)
                    row["naive"] = await naive_replay.naive(by_phase[row["phase"]], args.naive_seconds)
                    n = row["naive"]
                    say(
                        f"  {row['phase']}: naive {n.done}/{n.total} requests in {n.seconds:.1f} s; refused "
                        f"{n.errors} {n.samples[:2]}"
                    )
            finally:
                await naive_replay.aclose()
        finally:
            await replay.aclose()

        rng = random.Random(args.seed)
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            for n in range(pause_trials):
                say(f"  pause trial {n + 1}/{pause_trials}")
                result.pause.append(await pause_trial(stack, box, http, rng, n))
    return result


# --- kill and RSS (worker in its own process) ----------------------------------------------------


def settled(p: Any, phase: str) -> int:
    c = p.counters.get(phase)
    return (c.created + c.skipped + c.failed) if c else 0


async def kill_test(stack: BenchStack, args: argparse.Namespace, workdir: Path) -> dict:
    with sandbox(args.kill_items, args.seed) as box:
        # One phase at a time: the kill lands in each named phase while it is the one running.
        migration_id = await create_migration(stack, box, name="kill test", schedule=PhaseSchedule.SEQUENTIAL)
        worker = WorkerProcess(stack, workdir / "kill-worker.log")  # type: ignore[arg-type]
        worker.start()
        kills: list[str] = []
        try:
            run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
            for phase in args.kill_phases:
                target = run_phases().index(phase)

                def reached(p: Any, phase: str = phase, target: int = target) -> bool:
                    if p.status in FINAL_STATUSES or (p.phase in run_phases() and run_phases().index(p.phase) > target):
                        return True
                    return p.phase == phase and settled(p, phase) >= args.kill_at * max(1, p.counters[phase].total)

                p = await wait_for(stack, run_id, reached, poll=0.05)
                if p.phase != phase:
                    kills.append(f"{phase}: missed (run already in {p.phase})")
                    continue
                worker.kill()
                kills.append(f"{phase} at {settled(p, phase)}/{p.counters[phase].total}")
                say(f"  SIGKILL in {phase} at {settled(p, phase)}/{p.counters[phase].total}; worker restarted")
                worker.start()
            final = await wait_final(stack, run_id)
        finally:
            worker.stop()
        async with stack.sessions() as session:
            reconciled = ItemRecord.detail["reconciled"].as_boolean()
            rows = (
                await session.execute(
                    select(ItemRecord.kind, func.count(), func.count().filter(reconciled))
                    .where(
                        ItemRecord.migration_id == migration_id,
                        (ItemRecord.attempts > 1) | reconciled,
                    )
                    .group_by(ItemRecord.kind)
                )
            ).all()
            records = await session.scalar(select(func.count()).where(ItemRecord.migration_id == migration_id))
        issues = await jira_issues(box)  # type: ignore[arg-type]
    dup_issues = sum(len(keys) - 1 for keys in ado_labels(issues).values() if len(keys) > 1)
    dup = Counter()
    for issue in issues:
        for what, items in (
            (
                "links",
                [(x.get("type"), x.get("direction"), x.get("key") or x.get("other")) for x in issue.get("links") or []],
            ),
            ("attachments", [(a.get("filename"), a.get("sha256")) for a in issue.get("attachments") or []]),
            ("comments", [(c.get("author"), c.get("body")) for c in issue.get("comments") or []]),
        ):
            dup[what] += sum(n - 1 for n in Counter(map(repr, items)).values() if n > 1)
    return dict(
        kills=kills,
        status=final.status.value,
        redone={k: n for k, n, _ in rows},
        reconciled=sum(r for _, _, r in rows),
        records=records,
        issues=len(issues),
        dup_issues=dup_issues,
        dup=dict(dup),
        run_id=run_id,
    )


async def rss_test(stack: BenchStack, items: int, args: argparse.Namespace, workdir: Path) -> dict:
    say(f"RSS: sandbox of {items} items")
    with sandbox(items, args.seed) as box:
        migration_id = await create_migration(stack, box, name=f"rss {items}", schedule=PhaseSchedule.SEQUENTIAL)
        worker = WorkerProcess(stack, workdir / f"rss-worker-{items}.log")  # type: ignore[arg-type]
        worker.start()
        proc = psutil.Process(worker.proc.pid)  # type: ignore[union-attr]
        peak = 0

        async def sample() -> None:
            nonlocal peak
            while True:
                try:
                    peak = max(peak, proc.memory_info().rss)
                except psutil.Error:
                    return
                await asyncio.sleep(0.2)

        try:
            await asyncio.sleep(5.0)  # the worker has connected and is idle
            idle = proc.memory_info().rss
            sampler = asyncio.get_running_loop().create_task(sample())
            started = time.perf_counter()
            run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
            until = run_phases().index(args.rss_until)
            p = await wait_for(
                stack,
                run_id,
                lambda p: (
                    p.status in FINAL_STATUSES or (p.phase in run_phases() and run_phases().index(p.phase) > until)
                ),
                poll=1.0,
            )
            seconds = time.perf_counter() - started
            reached = p.phase if p.status not in FINAL_STATUSES else p.status.value
            if p.status not in FINAL_STATUSES:
                await stack.service.control(TENANT, run_id, "cancel", actor="bench", door="api")
            await wait_final(stack, run_id)
            sampler.cancel()
        finally:
            worker.stop()
    say(f"RSS at {items}: idle {idle / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB")
    return dict(items=items, idle=idle, peak=peak, seconds=seconds, reached=reached)


# --- the report ----------------------------------------------------------------------------------


def fmt_rate(items: int, seconds: float) -> str:
    return f"{items / seconds:.0f}" if seconds > 0 and items else "-"


def budget_report(args: argparse.Namespace, results: list[LatencyResult]) -> list[str]:
    """The scoped budgets' side: calls per item, each budget's share used, the floor, 429s by reason."""
    profile = LIMIT_PROFILES[args.limit_profile]
    out = [f"## Budgets under `{args.limit_profile}`", ""]
    rows: list[list[Any]] = []
    endpoint_rows: list[list[Any]] = []
    notes: list[str] = []
    for r in results:
        phases = [p for p in r.phases if "phase" in p and p.get("budgets")]
        floor = seconds = 0.0
        calls = 0
        why: Counter[str] = Counter()
        for p in phases:
            b = p["budgets"]
            floor += b["floor"]
            seconds += p["seconds"]
            calls += p["calls"]
            why += p["throttled_why"]
            floor_calls = sum(n for kind, n in r.floor.items() if FLOOR_PHASE.get(kind) in row_phases(args, p["phase"]))
            rows.append(
                [
                    f"{r.latency:g} ms",
                    row_name(args, p["phase"]),
                    p["items"],
                    f"{p['calls'] / p['items']:.2f}" if p["items"] else "-",
                    f"{floor_calls / p['items']:.2f}" if p["items"] and floor_calls else "-",
                    f"{p['seconds']:.1f}",
                    f"`{b['endpoint']}` {b['endpoint_calls']}",
                    f"{b['burst_share']:.2f}",
                    f"{b['issue_writes']}",
                    f"{b['issue_share']:.2f}",
                    f"{b['quota_share']:.3f}",
                    f"{b['floor']:.1f} ({b['busiest']})",
                    f"{p['seconds'] / b['floor']:.2f}" if b["floor"] > 0.05 else "-",
                    ", ".join(f"{k} {v}" for k, v in sorted(p["throttled_why"].items())) or "0",
                ]
            )
            if p.get("pace") and p["seconds"] >= 60:
                notes.append(
                    f"- {r.latency:g} ms, {row_name(args, p['phase'])}: `{b['endpoint']}` accepted per second in each "
                    f"tenth of the phase's {p['seconds']:.0f} s (its burst budget {profile['jira_burst_rps']:g}/s): "
                    + " ".join(f"{v:.1f}" for v in p["pace"])
                )
        whole = r.budgets
        if whole:
            rows.append(
                [
                    f"{r.latency:g} ms",
                    "**phases 2–8**",
                    args.items,
                    f"**{calls / args.items:.2f}**",
                    f"**{sum(r.floor.values()) / args.items:.2f}**" if r.floor else "-",
                    f"{seconds:.1f}",
                    f"`{whole['endpoint']}` {whole['endpoint_calls']}",
                    f"{whole['burst_share']:.2f}",
                    f"{whole['issue_writes']}",
                    f"{whole['issue_share']:.2f}",
                    f"{whole['quota_share']:.3f}",
                    f"**{floor:.1f}**",
                    f"**{seconds / floor:.2f}**" if floor else "-",
                    ", ".join(f"{k} {v}" for k, v in sorted(why.items())) or "0",
                ]
            )
            notes.append(
                f"- {r.latency:g} ms: the floor, phase by phase, is {floor:.1f} s; Migrayt took {seconds:.1f} s, "
                f"{seconds / floor:.2f}× the floor (goal ≤ 1.2). Over the whole run alone (phases not in order) "
                f"the busiest budget is {whole['busiest']} at {whole['floor']:.1f} s. Jira calls per item "
                f"{calls / args.items:.2f} (goal ≤ 7). The sandbox's 429s by reason over Migrayt's run: "
                f"{r.counters.get('throttled_by_reason') or 'none'}."
            )
        if r.floor:
            least = sum(r.floor.values()) / args.items
            parts = ", ".join(
                f"{kind} {n / args.items:.2f}" for kind, n in sorted(r.floor.items(), key=lambda e: -e[1])
            )
            verdict = (
                "above the goal of 7 itself: ≤ 7 cannot be reached on this project without dropping what it migrates"
                if least > 7
                else "within the goal of 7"
            )
            notes.append(
                f"- {r.latency:g} ms: irreducible Jira calls per item {least:.2f} ({parts}), {verdict}; Migrayt "
                f"{calls / args.items:.2f}, {calls / args.items - least:.2f} above it."
            )
        run_seconds = r.wall - r.preflight
        for endpoint, c in sorted(r.counters.get("by_endpoint", {}).items(), key=lambda e: -e[1]["requests"]):
            accepted = c["requests"] - c["throttled"]
            endpoint_rows.append(
                [
                    f"{r.latency:g} ms",
                    f"`{endpoint}`",
                    c["requests"],
                    f"{accepted / args.items:.2f}",
                    c["throttled"],
                    c["peak_in_flight"],
                    f"{accepted / (profile['jira_burst_rps'] * run_seconds):.2f}" if run_seconds > 0 else "-",
                ]
            )
    out.append(
        fmt_table(
            [
                "latency",
                "phase",
                "items",
                "Jira calls/item",
                "irreducible calls/item",
                "Migrayt s",
                "busiest endpoint, calls",
                "its burst share",
                "busiest issue's writes",
                "per-issue share",
                "quota share",
                "floor s (busiest budget)",
                "Migrayt ÷ floor (time)",
                "429s by reason",
            ],
            rows,
        )
    )
    out += ["", *notes, ""]
    out.append(
        fmt_table(
            [
                "latency",
                "endpoint (the sandbox's counters, Migrayt's run)",
                "requests",
                "accepted/item",
                "429s",
                "most in flight",
                "share of its burst budget over the run",
            ],
            endpoint_rows,
        )
    )
    out += [
        "",
        f"- Budgets ({args.limit_profile}): {profile['jira_burst_rps']:g} requests/s per endpoint and method "
        f"(bucket {profile['jira_burst_seconds']:g} s), {profile['jira_issue_writes']} writes per issue in "
        f"{profile['jira_issue_write_window_seconds']:g} s, {profile['jira_quota_per_hour']:,} requests an hour per "
        "site. Share used: accepted calls ÷ (the budget's rate × the phase's time); burst: the phase's busiest "
        "endpoint; per-issue: the issue written most in the phase; quota: all calls. The floor of a phase is its "
        "busiest budget's calls ÷ that budget's rate; the run's floor is the phases' floors added (they run in "
        "order). 429s are not calls Migrayt needed and are left out of the shares; they are counted by their "
        "RateLimit-Reason. With a profile the global `--rps` bucket is off, so the rate-limit share columns above "
        f"are against {args.rps:g} requests/s for comparison only.",
        "- Irreducible calls/item: what the migrated project in Jira cannot cost less than, counted in the sandbox "
        "Jira after the run: one call per comment, work log, issue link and remote link ("
        + (
            "no link back to the ADO work item: the plan leaves it to the ADO URL field"
            if args.no_link_back
            else "the link back to the ADO work item is one of them on every issue"
        )
        + "; Jira has no bulk endpoint for any of these), one per upload "
        "request were each issue's files sent together within Migrayt's bounds "
        f"({get_settings().attachment_files_per_request} files, "
        f"{get_settings().attachment_bytes_per_request / 2**20:g} MB a request; a larger file alone), one per "
        f"{ISSUES_PER_CREATE} issues created. Transitions (bulk) and setup reads are not counted, so it is a lower "
        "bound. The links phase's row holds the issue links of the hierarchy phase too.",
    ]
    return out


def bench_plan(args: argparse.Namespace) -> MappingPlan:
    """The default plan; without the link back, the ADO address stays in the provenance field "ADO URL"."""
    plan = default_plan()
    if args.no_link_back:
        plan = plan.model_copy(
            update={"provenance_fields": plan.provenance_fields.model_copy(update={"link_back": False})}
        )
    return plan


def row_phases(args: argparse.Namespace, phase: str) -> tuple[str, ...]:
    """The phases a row stands for: side by side, a group's under its first phase's name."""
    if args.schedule == PhaseSchedule.SIDE_BY_SIDE:
        for group in side_by_side_groups(run_phases()):
            if group[0] == phase:
                return tuple(group)
    return (phase,)


def row_name(args: argparse.Namespace, phase: str) -> str:
    """A phase's row; side by side, a group's row under its first phase's name names every phase in it."""
    if args.schedule == PhaseSchedule.SIDE_BY_SIDE:
        for group in side_by_side_groups(run_phases()):
            if group[0] == phase:
                return " + ".join(group)
    return phase


def report(
    args: argparse.Namespace, machine: str, results: list[LatencyResult], kill: dict | None, rss: list[dict]
) -> str:
    limit = f"limit profile `{args.limit_profile}`" if args.limit_profile else f"rate limit {args.rps:g} requests/s"
    out = [
        f"# Migrayt vs the raw floor vs a naive script: {args.items} items, {limit}, batch 50, concurrency 4, "
        f"phases {args.schedule.value.replace('_', ' ')}" + (", no link back to ADO" if args.no_link_back else ""),
        "",
        machine,
        "",
        f"Command: `.venv/bin/python bench/compare.py {' '.join(sys.argv[1:])}`",
        "",
    ]
    rows: list[list[Any]] = []
    summary: list[str] = []
    for r in results:
        phases = [p for p in r.phases if "phase" in p]
        tot = dict(m=0.0, raw=0.0, naive=0.0, calls=0, rcalls=0, rthr=0)
        for p in phases:
            raw: Replayed = p["raw"]
            naive: Replayed = p["naive"]
            # Naive: the share of the phase's requests sent within the cap, extrapolated to all of them.
            naive_s = naive.seconds * naive.total / naive.done if naive.done else float("nan")
            if not naive.total:
                naive_s = 0.0
            tot["m"] += p["seconds"]
            tot["raw"] += raw.seconds
            tot["naive"] += naive_s
            tot["calls"] += p["calls"]
            tot["rcalls"] += raw.calls
            tot["rthr"] += raw.throttled
            items = p["items"]
            rows.append(
                [
                    f"{r.latency:g} ms",
                    row_name(args, p["phase"]),
                    items,
                    f"{p['seconds']:.1f}",
                    fmt_rate(items, p["seconds"]),
                    f"{raw.seconds:.1f}",
                    fmt_rate(items, raw.seconds) if p["calls"] else "-",
                    f"{naive_s:.0f}" + ("*" if naive.done < naive.total else ""),
                    fmt_rate(items, naive_s),
                    f"{p['calls'] / items:.2f}" if items else "-",
                    f"{p['ado_calls'] / items:.2f}" if items else "-",
                    f"{p['statements'] / items:.1f}" if items else "-",
                    p["lanes"],
                    f"{p['calls'] / p['seconds'] / args.rps:.2f}" if p["seconds"] else "-",
                    f"{raw.calls / raw.seconds / args.rps:.2f}" if raw.seconds else "-",
                    f"{p['seconds'] / raw.seconds:.2f}" if raw.seconds > 0.05 else "-",
                    f"{naive_s / p['seconds']:.1f}" if p["seconds"] and naive_s else "-",
                    f"{p['throttled']}/{raw.throttled}",
                    f"{p['errors']}/{raw.errors}",
                ]
            )
        items = args.items
        rows.append(
            [
                f"{r.latency:g} ms",
                "**phases 2–8**",
                items,
                f"{tot['m']:.1f}",
                fmt_rate(items, tot["m"]),
                f"{tot['raw']:.1f}",
                fmt_rate(items, tot["raw"]),
                f"{tot['naive']:.0f}",
                fmt_rate(items, tot["naive"]),
                f"{tot['calls'] / items:.2f}",
                "",
                "",
                "",
                f"{tot['calls'] / tot['m'] / args.rps:.2f}",
                f"{tot['rcalls'] / tot['raw'] / args.rps:.2f}" if tot["raw"] else "-",
                f"**{tot['m'] / tot['raw']:.2f}**" if tot["raw"] else "-",
                f"**{tot['naive'] / tot['m']:.1f}**" if tot["naive"] else "-",
                "",
                "",
            ]
        )
        throttled = next((p["throttled_total"] for p in r.phases if "throttled_total" in p), 0)
        last = [t["to_last_write"] * 1000 for t in r.pause]
        summary.append(
            f"- {r.latency:g} ms (load {r.load:.1f} at the start): run {r.run_id} {r.status}, {r.wall:.0f} s wall "
            f"including preflight {r.preflight:.1f} s. "
            + (f"Migrayt ÷ raw = {tot['m'] / tot['raw']:.2f} (goal ≤ 1.3), " if tot["raw"] else "")
            + (f"naive ÷ Migrayt = {tot['naive'] / tot['m']:.1f}× (goal ≥ 20× at 50 ms). " if tot["naive"] else "")
            + "429s: Migrayt "
            f"{throttled}, raw {tot['rthr']}."
            + (
                f" Pause (signal → last Jira write, {len(last)} trials): p50 {pct(last, 0.5):.0f} ms, p95 "
                f"{pct(last, 0.95):.0f} ms, "
                f"max {max(last):.0f} ms (goal ≤ 2000); writes while paused: "
                f"{sum(t['writes_while_paused'] for t in r.pause)}."
                if last
                else ""
            )
            + (
                " CPU per item over the run: "
                + ", ".join(f"{part} {1000 * seconds / items:.0f} ms" for part, seconds in r.cpu.items())
                + f" ({sum(r.cpu.values()) / r.wall:.2f} of a core on average)."
                if r.cpu and items
                else ""
            )
        )
    out.append(
        fmt_table(
            [
                "latency",
                "phase",
                "items",
                "Migrayt s",
                "Migrayt items/s",
                "raw s",
                "raw items/s",
                "naive s",
                "naive items/s",
                "Jira calls/item",
                "ADO calls/item",
                "SQL statements/item",
                "peak in flight",
                "rate-limit share Migrayt",
                "rate-limit share raw",
                "Migrayt ÷ raw (time)",
                "naive ÷ Migrayt (time)",
                "429s Migrayt/raw",
                "4xx Migrayt/raw",
            ],
            rows,
        )
    )
    out += ["", *summary, ""]
    if args.limit_profile:
        out += budget_report(args, results)
    out += [
        "- Migrayt s: from the phase's `phase_started` audit event to the next phase's. raw: the same Jira requests "
        "(429s excluded) replayed with httpx at the peak number Migrayt had in flight in that phase; no ADO, no "
        "database. "
        f"naive: one request at a time, one issue per create call; `*` = timed for {args.naive_seconds:g} s and "
        "extrapolated. "
        "Migrayt ÷ raw above 1: Migrayt is slower. Rate-limit share: accepted Jira calls per second ÷ the limit "
        "(above 1 in a short phase: the sandbox's bucket allows a one-second burst).",
        "- 4xx: requests Jira refused (Migrayt's, then the replay's): the replay repeats Migrayt's calls, "
        "refusals included.",
    ]
    if kill:
        redone = sum(kill["redone"].values())
        out += [
            "",
            "## SIGKILL of the worker mid-phase",
            "",
            fmt_table(
                [
                    "kills",
                    "run",
                    "item records",
                    "redone or reconciled (goal ≤ 50)",
                    "of which found by a read",
                    "by kind",
                    "duplicate issues",
                    "duplicate links / attachments / comments",
                ],
                [
                    [
                        "; ".join(kill["kills"]),
                        kill["status"],
                        kill["records"],
                        redone,
                        kill["reconciled"],
                        ", ".join(f"{k} {v}" for k, v in sorted(kill["redone"].items())) or "-",
                        kill["dup_issues"],
                        " / ".join(str(kill["dup"].get(k, 0)) for k in ("links", "attachments", "comments")),
                    ]
                ],
            ),
            "",
            f"{args.kill_items} items, 0 ms, no rate limit; the worker (`migrayt worker`, own process) is "
            "SIGKILLed once "
            f"{args.kill_at:.0%} of each listed phase's items are settled and restarted at once. Redone: item records "
            "with attempts > 1 or marked reconciled (found in Jira by a consistent read instead of being "
            "written again). Duplicates: from the sandbox's per-issue detail (same ado-id label "
            "twice; the same link, attachment (name + sha-256) or comment (author + body) twice on one issue).",
        ]
    if rss:
        out += [
            "",
            "## Worker peak RSS",
            "",
            fmt_table(
                ["items", "up to", "seconds", "idle RSS (MiB)", "peak RSS (MiB)"],
                [
                    [
                        r["items"],
                        f"end of {args.rss_until}",
                        f"{r['seconds']:.0f}",
                        f"{r['idle'] / 2**20:.0f}",
                        f"{r['peak'] / 2**20:.0f}",
                    ]
                    for r in rss
                ],
            ),
            "",
            f"`migrayt worker` in its own process, RSS sampled every 200 ms with psutil, from start until the run "
            f"left `{args.rss_until}` (then cancelled). Goal: ≤ 300 MB, ≤ 1.2× growth from 10k to 100k items.",
        ]
        if len(rss) > 1:
            out.append(f"growth {rss[0]['items']} → {rss[-1]['items']} items: {rss[-1]['peak'] / rss[0]['peak']:.2f}×")
    out += ["", load_line()]
    return "\n".join(out)


async def main(args: argparse.Namespace) -> str:
    # One throw-away codec key for this process and the worker processes it starts (otherwise each
    # would use the key file under its own state dir and not read the other's payloads).
    os.environ.setdefault("MIGRAYT_CODEC_KEYS", new_key_spec())
    machine = machine_line()
    settings = bench_settings()
    results: list[LatencyResult] = []
    kill: dict | None = None
    rss: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="migrayt-compare-") as tmp:
        say("starting PostgreSQL and Temporal")
        async with embedded_stack(settings) as stack:
            with RequestLog() as log, JiraRecorder() as rec, StatementLog() as sql:
                async with in_process_worker(stack):
                    for i, latency in enumerate(args.latency):
                        trials = args.pause_trials if i == len(args.latency) - 1 else 0
                        results.append(await one_latency(stack, rec, log, sql, args, latency, trials))
            # The in-process worker has stopped: from here on the worker is a process of its own.
            if not args.skip_kill:
                say(f"kill test: {args.kill_items} items, SIGKILL in {', '.join(args.kill_phases)}")
                kill = await kill_test(stack, args, Path(tmp))
            for n in args.rss_items:
                rss.append(await rss_test(stack, n, args, Path(tmp)))
    return report(args, machine, results, kill, rss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def ints(s: str) -> list[int]:
        return [int(x) for x in s.split(",") if x]

    parser.add_argument(
        "--items",
        type=int,
        default=1000,
        help="items per project; at ~12 Jira calls per item and 100 requests/s, 1000 keeps the default run near 15 min",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--latency",
        type=lambda s: [float(x) for x in s.split(",") if x],
        default=[0.0, 50.0],
        help="Jira latencies in ms, comma-separated (each with the rate limit)",
    )
    parser.add_argument("--rps", type=float, default=100.0, help="the sandbox Jira's rate limit, requests/s")
    parser.add_argument(
        "--limit-profile",
        choices=sorted(LIMIT_PROFILES),
        default=None,
        help="the sandbox's scoped budgets (instead of --rps): adds each budget's share used and the floor",
    )
    parser.add_argument(
        "--schedule",
        type=PhaseSchedule,
        choices=list(PhaseSchedule),
        default=PhaseSchedule.SIDE_BY_SIDE,
        help="how the Migrayt run goes through its phases after create items (the plan's phase_schedule); side by "
        "side, the group's phases share one row",
    )
    parser.add_argument(
        "--migrayt-only",
        action="store_true",
        help="no raw or naive replays: Migrayt's run, its calls and budgets only (e.g. sequential vs side by side)",
    )
    parser.add_argument(
        "--no-link-back",
        action="store_true",
        help="the plan without a remote link back to each ADO item (the ADO URL provenance field keeps the address)",
    )
    parser.add_argument("--naive-seconds", type=float, default=5.0, help="time the naive script this long per phase")
    parser.add_argument("--pause-trials", type=int, default=5, help="pause trials at the last latency (0: none)")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--kill-items", type=int, default=400)
    parser.add_argument("--kill-phases", type=lambda s: s.split(","), default=["create_items", "links", "comments"])
    parser.add_argument(
        "--kill-at", type=float, default=0.4, help="kill once this share of the phase's items is settled"
    )
    parser.add_argument("--rss-items", type=ints, default=[10000], help="e.g. 10000,100000; empty: skip")
    parser.add_argument(
        "--rss-until", choices=run_phases(), default="create_items", help="measure RSS until the run leaves this phase"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "compare.md")
    parser.add_argument(
        "--calls-out", type=Path, help="also write every Jira call of Migrayt's run (seconds from its start) as TSV"
    )
    args = parser.parse_args()
    text = asyncio.run(main(args))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
