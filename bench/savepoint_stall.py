"""How long writing a savepoint holds the worker's event loop, by the size of the migration's ledger.

A savepoint holds every item record of the migration (a 10,000-item project has ~90,000: issues, comments, files,
links, work logs…). Every batch's heartbeats and every workflow task the worker answers wait while the loop is held;
in a 10,000-item run on a loaded machine the worker's loop watch saw 3.5 s in `write_savepoint`.

The bench fills a throw-away PostgreSQL with N records of one migration, runs the `write_savepoint` activity (in
Temporal's ActivityEnvironment, on this loop) and prints the time it takes and the longest gap between the ticks of
a task that wakes every 5 ms beside it — the longest time nothing else could run.

    .venv/bin/python bench/savepoint_stall.py --records 10000,50000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import fmt_table, load_line, machine_line, run_and_print  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from migrayt.activities.execution.savepoints import SavepointActivities  # noqa: E402
from migrayt.contracts.savepoints import WriteSavepointInput  # noqa: E402
from migrayt.settings import Settings  # noqa: E402
from migrayt.stack.postgres import EmbeddedPostgres  # noqa: E402
from migrayt.store import item_records  # noqa: E402
from migrayt.store.db import create_engine, session_factory, upgrade_schema  # noqa: E402
from migrayt.store.models import Migration  # noqa: E402

KINDS = ("issue", "comment", "comment", "comment", "attachment", "remote_link", "worklog", "issue_link", "description")
TICK = 0.005


async def longest_gap(stop: asyncio.Event) -> float:
    longest, last = 0.0, time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        longest = max(longest, now - last - TICK)
        last = now
    return longest


async def one(root: Path, records: int) -> list[object]:
    pg = EmbeddedPostgres(root / f"pg-{records}", fsync=False)
    pg.start()
    try:
        await upgrade_schema(pg.database_url)
        engine = create_engine(pg.database_url)
        sessions = session_factory(engine)
        migration_id = f"bench-{records}"
        async with sessions() as session:
            session.add(
                Migration(
                    id=migration_id,
                    tenant_id="bench",
                    name="savepoint bench",
                    source={
                        "organization_url": "https://dev.azure.com/bench",
                        "project": "Phoenix",
                        "team": "Phoenix Team",
                        "pat_ref": "env:BENCH_PAT",
                    },
                    target={
                        "base_url": "https://bench.atlassian.net",
                        "project_key": "PHX",
                        "email": "bench@example.com",
                        "token_ref": "env:BENCH_TOKEN",
                    },
                    plan={},
                )
            )
            await session.commit()
        for start in range(0, records, 5000):
            rows: dict[str, list[tuple[str, str, dict]]] = {}
            for n in range(start, min(records, start + 5000)):
                kind = KINDS[n % len(KINDS)]
                rows.setdefault(kind, []).append(
                    (f"{n // len(KINDS)}:{n}", f"PHX-{n // len(KINDS) + 1}", {"issue": f"PHX-{n}", "size": n})
                )
            async with sessions() as session:
                for kind, done in rows.items():
                    await item_records.mark_done_many(session, migration_id, kind, done, "run-bench")
                await session.commit()
        settings = Settings(state_dir=root / "state", savepoint_dir=root / "savepoints")
        activities = SavepointActivities(sessions, None, settings)  # type: ignore[arg-type]
        stop = asyncio.Event()
        watcher = asyncio.create_task(longest_gap(stop))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        result = await ActivityEnvironment().run(
            activities.write_savepoint,
            WriteSavepointInput(run_id="run-bench", migration_id=migration_id, tenant="bench", reason="periodic"),
        )
        took = time.perf_counter() - started
        stop.set()
        gap = await watcher
        await engine.dispose()
        return [f"{result.records:,}", f"{took:.2f}", f"{gap * 1000:.0f}"]
    finally:
        pg.stop()


async def main(args: argparse.Namespace) -> str:
    lines = ["# Savepoint writes and the worker's event loop", "", machine_line(), ""]
    rows = []
    with tempfile.TemporaryDirectory(prefix="migrayt-savepoint-bench-") as tmp:
        for n in args.records:
            rows.append(await one(Path(tmp), n))
    lines += [
        fmt_table(["records", "write_savepoint s", "longest loop stall ms"], rows),
        "",
        "- Longest loop stall: the longest time a task waking every 5 ms beside the activity could not run "
        "(heartbeats, other batches and workflow tasks wait as long).",
        "",
        load_line(),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--records", type=lambda s: [int(x) for x in s.split(",") if x], default=[10_000, 50_000, 100_000]
    )
    run_and_print(parser, main)
