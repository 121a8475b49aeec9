"""Per test file, the CPU seconds it cost: the test process and every process under it (the session's PostgreSQL and
Temporal, worker processes, sandboxes), printed at the end of the session, heaviest first.

CI is CPU-bound on its 2 cores, so CPU, not wall time, says which file to make cheaper. A process tree's CPU is
read from the kernel's own counters: this process's (RUSAGE_SELF), the children it has reaped (RUSAGE_CHILDREN), and
for each live descendant its own and its reaped children's (psutil). The difference around each test (setup, call and
teardown) is that test's; a file's is the sum of its tests'. Under xdist (--dist loadfile) each worker measures the
files it runs on its own server tree and sends its table to the controller, which prints the whole.

What it does not see: a descendant reaped by init (none here: the servers are direct children), and CPU of the
session fixtures' start, which lands on the first file of each worker (listed as such, not hidden)."""

from __future__ import annotations

import resource
import time
from collections import defaultdict

import psutil
import pytest

from tests import file_order

TOP = 25


def tree_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # ended between the listing and the read: its time is in its parent's reaped counters
        total += t.user + t.system + t.children_user + t.children_system
    return total


class CpuReport:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.first_file: str | None = None
        self.firsts: list[str] = []  # under xdist, each worker's first file

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        cpu, wall = tree_cpu_seconds(), time.monotonic()
        yield
        path = item.nodeid.split("::", 1)[0]
        self.first_file = self.first_file or path
        self.cpu[path] += tree_cpu_seconds() - cpu
        self.wall[path] += time.monotonic() - wall

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller prints
            workeroutput["cpu_report"] = {
                "cpu": dict(self.cpu),
                "wall": dict(self.wall),
                "first": self.first_file,
            }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        report = getattr(node, "workeroutput", {}).get("cpu_report")
        if not report:
            return
        for path, seconds in report["cpu"].items():
            self.cpu[path] += seconds
            self.wall[path] += report["wall"][path]
        self.firsts.append(report["first"])

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.cpu:
            return
        file_order.write_walls(self.wall)
        firsts = self.firsts or ([self.first_file] if self.first_file else [])
        write = terminalreporter.write_line
        terminalreporter.section(f"CPU per test file (top {TOP}; this process and all under it)")
        write(f"{'CPU s':>8} {'wall s':>8}  file")
        for path, seconds in sorted(self.cpu.items(), key=lambda kv: -kv[1])[:TOP]:
            note = "  (first of its process: may hold the session servers' start)" if path in firsts else ""
            write(f"{seconds:8.1f} {self.wall[path]:8.1f}  {path}{note}")
        write(
            f"{sum(self.cpu.values()):8.1f} {'':>8}  all {len(self.cpu)} files; "
            f"{tree_cpu_seconds():.1f} CPU s in the whole session (collection, servers' start and stop included)"
        )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CpuReport(config), "migrayt-cpu-report")
