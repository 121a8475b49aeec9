"""Scan speed: a whole sandbox project read into a Catalog (paged WIQL, batches of 200, concurrent).

The sandbox runs in its own process (`migrayt sandbox`), so the RSS printed is the scanner's alone.
Optionally cap the sandbox's request rate to see the scan bounded by the source's limit.

    .venv/bin/python bench/scan_speed.py --items 100000
    .venv/bin/python bench/scan_speed.py --items 20000 --rate-limit 50
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil

from migrayt.activities.intake.scan import SCAN_CONCURRENCY, scan_project
from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import HttpSettings
from migrayt.intake.catalog import TargetLimits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeakRss:
    def __init__(self, pid: int | None = None) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def scan(url: str, concurrency: int) -> tuple[int, int, float, dict]:
    settings = HttpSettings(base_url=url, max_concurrency=max(16, concurrency), timeout_seconds=120)
    async with AdoClient(url, "Phoenix", "sandbox-pat", team="Phoenix Team", settings=settings) as ado:
        started = time.perf_counter()
        catalog = await scan_project(ado, TargetLimits(), concurrency=concurrency)
        seconds = time.perf_counter() - started
        return catalog.items_total, catalog.comments.count, seconds, ado.http.counters.snapshot()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=SCAN_CONCURRENCY)
    parser.add_argument("--rate-limit", type=float, default=None, help="sandbox ADO requests/s before 429")
    args = parser.parse_args()
    ado_port, jira_port = free_port(), free_port()
    cmd = [
        sys.executable,
        "-m",
        "migrayt.api.cli",
        "sandbox",
        "--items",
        str(args.items),
        "--ado-port",
        str(ado_port),
        "--jira-port",
        str(jira_port),
    ]
    if args.rate_limit:
        cmd += ["--rate-limit", str(args.rate_limit)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        root = f"http://127.0.0.1:{ado_port}"
        for _ in range(600):
            try:
                httpx.get(f"{root}/_sandbox/state", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        cpu = time.process_time()
        sandbox_start = psutil.Process(server.pid).memory_info().rss
        with PeakRss() as rss, PeakRss(server.pid) as sandbox_rss:
            items, comments, seconds, counters = asyncio.run(scan(f"{root}/acme", args.concurrency))
        cpu = time.process_time() - cpu
        print(
            f"scanned {items:,} items ({comments:,} comments counted) in {seconds:.1f} s: "
            f"{items / seconds:,.0f} items/s, "
            f"peak RSS {rss.peak / 2**20:.0f} MiB (scanner process), concurrency {args.concurrency}"
        )
        print(
            f"scanner CPU {cpu:.1f} s of {seconds:.1f} s wall ({cpu / seconds:.0%}): the rest is waiting on the source"
        )
        print(f"http: {counters}")
        print(
            f"sandbox server CPU: {psutil.Process(server.pid).cpu_times().user:.1f} s user; "
            f"RSS {sandbox_start / 2**20:.0f} MiB serving, peak {sandbox_rss.peak / 2**20:.0f} MiB while read whole"
        )
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    main()
