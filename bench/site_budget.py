"""What one Jira site budget shared through PostgreSQL costs and gives: calls per second against the rate, and
SQL statements per Jira call, with several worker processes taking from it at once.

Each process is a real OS process with its own engine and `SiteBudget`, callers always waiting (as a busy worker's
requests do); no Jira is called, so the figure is the budget's own. Embedded PostgreSQL in a temporary folder.

    .venv/bin/python -m bench.site_budget [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path

from migrayt.connectors.site_budget import SharedBucket, SiteBudget
from migrayt.stack.postgres import EmbeddedPostgres
from migrayt.store.db import create_engine, upgrade_schema


def _process(database_url: str, site: str, rate: float, callers: int, seconds: float, out) -> None:
    async def main() -> tuple[int, int, float, float]:
        engine = create_engine(database_url, pool_size=2)
        budget = SiteBudget(SharedBucket(engine, site, rate), rate=rate)
        began = time.time()  # wall clock: the processes' windows are put together
        stop = time.monotonic() + seconds

        async def caller() -> None:
            while time.monotonic() < stop:
                await budget.acquire()

        await asyncio.gather(*(caller() for _ in range(callers)))
        ended = time.time()  # the callers still waiting at `stop` are served before this
        await engine.dispose()
        return budget.counters.calls, budget.statements, began, ended

    out.put(asyncio.run(main()))


def measure(
    database_url: str, site: str, rate: float, processes: int, callers: int, seconds: float
) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process, args=(database_url, site, rate, callers, seconds, out)) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    calls = sum(r[0] for r in results)
    statements = sum(r[1] for r in results)
    window = max(r[3] for r in results) - min(r[2] for r in results)
    shares = sorted(r[0] / calls for r in results) if calls else []
    return {
        "calls_per_second": calls / window,
        "share_of_rate": calls / window / rate,
        "sql_per_call": statements / calls if calls else 0.0,
        "smallest_process_share": shares[0] if shares else 0.0,
    }


async def _prepare(database_url: str) -> None:
    await upgrade_schema(database_url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="migrayt-bench-pg-") as home:
        pg = EmbeddedPostgres(Path(home) / "pg", fsync=False)
        pg.start()
        try:
            asyncio.run(_prepare(pg.database_url))
            print("| rate (req/s) | processes | calls/s | share of rate | SQL per call | smallest process share |")
            print("|---:|---:|---:|---:|---:|---:|")
            for rate, processes in ((10, 2), (100, 2), (100, 4), (300, 4)):
                # A new site per row: no tokens left over from the row before.
                site = f"https://bench-{rate}-{processes}.atlassian.net"
                m = measure(pg.database_url, site, rate, processes, callers=16, seconds=args.seconds)
                print(
                    f"| {rate} | {processes} | {m['calls_per_second']:.1f} | {m['share_of_rate']:.2f} "
                    f"| {m['sql_per_call']:.3f} | {m['smallest_process_share']:.2f} |"
                )
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
