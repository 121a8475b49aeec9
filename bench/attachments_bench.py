"""Attachments at real sizes (issue 21): `--gb` of files from 1 KB to 1 GB through the attachments phase.

A generated project whose items carry files of log-uniform sizes between 1 KB and 1 GB (one 1 GB and one 1 KB file
always; seeded) is migrated by a real run (embedded stack, the worker in this process so psutil and the spool gauge
can be read); the attachments phase is timed from its own audit events. Then the same bytes are copied once more
with plain httpx, ADO -> Jira, streamed, at the same number of files in flight: the floor Migrayt is measured
against. Both sandboxes (ADO, Jira) run as child processes, like `--sandbox split` in the engine benchmarks; the
sandbox Jira keeps files over 64 MB as their sha-256, so the run needs disk only for the smaller files and the spool.

    .venv/bin/python bench/attachments_bench.py --gb 20 --out bench/results/attachments_20gb.md
    .venv/bin/python bench/attachments_bench.py --gb 4 --spool-min-mb 8  # files from 8 MB on spooled
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import (  # noqa: E402
    REPO,
    SANDBOX_JIRA_EMAIL,
    SANDBOX_JIRA_TOKEN,
    SANDBOX_PAT,
    TENANT,
    Sandbox,
    bench_settings,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    load_line,
    machine_line,
    phase_window,
    wait_final,
    wait_for,
)

from migrayt.sandbox.generator import GeneratedProject, ProjectSpec  # noqa: E402
from migrayt.stack.ports import free_port, wait_for_port  # noqa: E402

KB, MB, GB = 1000, 1000**2, 1000**3
FILES_IN_FLIGHT = 16  # Migrayt: 4 batches at once (MIGRAYT_CONCURRENCY) x 4 items of a batch, one file each here


def file_sizes(total_bytes: int, seed: int) -> list[int]:
    """Log-uniform sizes from 1 KB to 1 GB adding up to about `total_bytes`: one 1 GB and one 1 KB file always."""
    rng = random.Random(seed)
    sizes = [GB, KB]
    while sum(sizes) < total_bytes:
        sizes.append(int(math.exp(rng.uniform(math.log(KB), math.log(GB)))))
    rng.shuffle(sizes)
    return sizes


def spec_for(sizes: list[int], seed: int) -> ProjectSpec:
    return ProjectSpec(seed=seed, items=len(sizes) + 2, ugly=False, large_attachments=sizes)


# --- the sandbox, in child processes --------------------------------------------------------------


def serve(spec_json: str, ado_port: int, jira_port: int) -> None:
    """Child process: the sandbox of this spec, Jira Cloud-like."""
    from migrayt.sandbox.server import SandboxServer, build_sandbox

    built = build_sandbox(ProjectSpec.model_validate_json(spec_json))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SandboxServer(built, ado_port=ado_port, jira_port=jira_port):
        stop.wait()


@contextmanager
def sandbox_processes(spec: ProjectSpec, log: Path):
    """ADO served by one child, Jira by another (the same spec in both, as the real services are two machines)."""
    with ExitStack() as stack:
        ports, pids = [], {}
        for role in ("ADO", "Jira"):
            ado_port, jira_port = free_port(), free_port()
            out = stack.enter_context(open(log, "ab"))
            proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", spec.model_dump_json(), str(ado_port), str(jira_port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
            stack.callback(_stop, proc)
            for port in (ado_port, jira_port):
                if not wait_for_port(port, timeout=600, alive=lambda p=proc: p.poll() is None):
                    raise RuntimeError(f"sandbox did not start (exit code {proc.poll()})")
            ports.append((ado_port, jira_port))
            pids[f"sandbox {role}"] = proc.pid
        ado_root = f"http://127.0.0.1:{ports[0][0]}"
        yield Sandbox(f"{ado_root}/acme", f"http://127.0.0.1:{ports[1][1]}", ado_root, pids)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- measuring ------------------------------------------------------------------------------------


class Sampler:
    """This process's RSS (the in-process worker's, plus the bench's own) sampled every 100 ms."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._task: asyncio.Task | None = None

    def restart(self) -> None:
        self.base = self.peak = self.proc.memory_info().rss

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()


async def raw_copy(box: Sandbox, project: GeneratedProject, issue_key: str) -> tuple[int, float, int]:
    """Every attachment streamed ADO -> Jira with plain httpx, FILES_IN_FLIGHT at a time: (bytes, seconds, files)."""
    files = [a for i in project.item_ids() for a in project.attachments(i)]
    limit = asyncio.Semaphore(FILES_IN_FLIGHT)
    ado_auth = ("", SANDBOX_PAT)
    jira_auth = (SANDBOX_JIRA_EMAIL, SANDBOX_JIRA_TOKEN)
    url = f"{box.jira_url}/rest/api/3/issue/{issue_key}/attachments"
    timeout = httpx.Timeout(300.0, connect=10.0)
    limits = httpx.Limits(max_connections=2 * FILES_IN_FLIGHT)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:

        async def copy(att) -> int:
            async with limit:
                source = f"{box.ado_url}/Phoenix/_apis/wit/attachments/{att.guid}"
                async with http.stream("GET", source, auth=ado_auth) as got:
                    got.raise_for_status()
                    boundary = os.urandom(12).hex()
                    head = (
                        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="raw-{att.file_name}"'
                        "\r\nContent-Type: application/octet-stream\r\n\r\n"
                    ).encode()
                    tail = f"\r\n--{boundary}--\r\n".encode()

                    async def body():
                        yield head
                        async for chunk in got.aiter_bytes(64 * 1024):
                            yield chunk
                        yield tail

                    headers = {
                        "X-Atlassian-Token": "no-check",
                        "Content-Type": f"multipart/form-data; boundary={boundary}",
                        "Content-Length": str(len(head) + att.size + len(tail)),
                    }
                    sent = await http.post(url, content=body(), headers=headers, auth=jira_auth)
                    sent.raise_for_status()
                return att.size

        started = time.monotonic()
        moved = sum(await asyncio.gather(*(copy(a) for a in files)))
        return moved, time.monotonic() - started, len(files)


async def main(args: argparse.Namespace) -> str:
    if args.spool_min_mb is None:
        os.environ.pop("MIGRAYT_ATTACHMENT_SPOOL_MIN_BYTES", None)
    else:
        os.environ["MIGRAYT_ATTACHMENT_SPOOL_MIN_BYTES"] = str(int(args.spool_min_mb * MB))
    from migrayt.activities.execution import content_io
    from migrayt.settings import get_settings

    get_settings.cache_clear()
    sizes = file_sizes(int(args.gb * GB), args.seed)
    spec = spec_for(sizes, args.seed)
    project = GeneratedProject(spec)
    all_files = [a for i in project.item_ids() for a in project.attachments(i)]
    total = sum(a.size for a in all_files)
    machine = machine_line()
    settings = bench_settings(concurrency=4)
    log = Path(args.log)
    with sandbox_processes(spec, log) as box:
        async with embedded_stack(settings) as stack, in_process_worker(stack):
            migration_id = await create_migration(stack, box, name="attachments bench")
            async with stack.sessions() as session:
                from migrayt.store.models import Migration

                m = await session.get(Migration, migration_id)
                m.plan = {**m.plan, "skip_phases": ["comments", "plugins"]}
                await session.commit()
            sampler = Sampler()
            sampler.start()
            run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
            await wait_for(stack, run_id, lambda p: p.phase == "attachments" or p.status.value != "RUNNING")
            sampler.restart()
            content_io.SPOOLED.peak = content_io.SPOOLED.now
            final = await wait_final(stack, run_id, timeout=6 * 3600)
            sampler.stop()
            window = await phase_window(stack, run_id, "attachments")
            assert window is not None, final
            seconds = (window[1] - window[0]).total_seconds()
            counters = final.counters["attachments"]
        raw_bytes, raw_seconds, raw_files = await raw_copy(box, project, "PHX-1")

    mig_rate = total / MB / seconds
    raw_rate = raw_bytes / MB / raw_seconds
    rows = [
        [
            "Migrayt (attachments phase)",
            f"{len(all_files):,}",
            f"{total / GB:,.2f}",
            f"{seconds:,.0f}",
            f"{mig_rate:.0f}",
        ],
        [
            "raw httpx copy ADO -> Jira",
            f"{raw_files:,}",
            f"{raw_bytes / GB:,.2f}",
            f"{raw_seconds:,.0f}",
            f"{raw_rate:.0f}",
        ],
    ]
    table = fmt_table(["row", "files", "GB", "seconds", "MB/s"], rows)
    hours_60 = 60 * GB / MB / mig_rate / 3600
    lines = [
        f"# Attachments at real sizes: {args.gb:g} GB of files from 1 KB to 1 GB (seed {args.seed})",
        "",
        machine,
        f"files: {len(all_files):,} ({len(sizes):,} planted, log-uniform 1 KB–1 GB, the rest the generator's own "
        f"small files); largest {max(a.size for a in all_files) / GB:.2f} GB; run status {final.status.value}, "
        f"attachments phase: {counters.created:,} items written, {counters.failed} failed",
        f"spool: {'off' if args.spool_min_mb is None else f'files from {args.spool_min_mb:g} MB on'}; "
        f"{FILES_IN_FLIGHT} files in flight in both rows",
        "",
        table,
        "",
        f"Migrayt / raw: {mig_rate / raw_rate:.2f}",
        f"worker peak RSS during the phase: {sampler.peak / 2**20:,.0f} MiB, "
        f"{(sampler.peak - sampler.base) / 2**20:,.0f} MiB over its {sampler.base / 2**20:,.0f} MiB at the phase's "
        "start (the bench process: worker + this script, sampled every 100 ms)",
        f"spool disk at most: {content_io.SPOOLED.peak / 2**20:,.0f} MiB at once (unlinked temp files, gone after)",
        f"60 GB (the seed's headline) at this rate: {hours_60:.1f} h for the attachments phase",
        load_line(),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=20.0, help="total size of the planted files (decimal GB)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--spool-min-mb", type=float, help="spool files from this size on (default: no spool)")
    parser.add_argument("--log", default="/tmp/attachments-bench-sandbox.log")
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    out = asyncio.run(main(options))
    print(out)
    if options.out:
        options.out.write_text(out)
