"""Generate and serve a large ADO project; print peak RSS and time.

Walks every item the way the migrator reads a project: WIQL id pages, then workitemsbatch
($expand=all, 200 ids a call) through the in-process sandbox app, plus comments and worklogs
through the generator.

    .venv/bin/python bench/generator_memory.py --items 100000
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

import httpx
import psutil

from migrayt.sandbox.ado import AdoSandboxConfig, create_ado_app
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec


class PeakRss:
    """Samples RSS in the background; psutil has no portable peak, so sample often."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
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
        self.peak = max(self.peak, self.proc.memory_info().rss)


async def walk(items: int, seed: int, page: int) -> dict[str, int]:
    project = GeneratedProject(ProjectSpec(seed=seed, items=items))
    app = create_ado_app(project, AdoSandboxConfig())
    counts = {"items": 0, "relations": 0, "bytes": 0, "comments": 0, "worklogs": 0}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://bench", auth=("bench", "sandbox-pat"), timeout=120
    ) as ado:
        last = 0
        while True:
            q = (
                f"SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
                f"AND [System.Id] > {last} ORDER BY [System.Id]"
            )
            r = await ado.post("/acme/Phoenix/_apis/wit/wiql", params={"$top": str(page)}, json={"query": q})
            r.raise_for_status()
            ids = [w["id"] for w in r.json()["workItems"]]
            if not ids:
                break
            for i in range(0, len(ids), 200):
                b = await ado.post(
                    "/acme/Phoenix/_apis/wit/workitemsbatch", json={"ids": ids[i : i + 200], "$expand": "all"}
                )
                b.raise_for_status()
                counts["bytes"] += len(b.content)
                for item in b.json()["value"]:
                    counts["items"] += 1
                    counts["relations"] += len(item.get("relations", []))
            for item_id in ids:
                counts["comments"] += len(project.comments(item_id))
                counts["worklogs"] += len(project.worklogs(item_id))
            last = ids[-1]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page", type=int, default=10_000, help="WIQL $top per id page")
    args = parser.parse_args()
    start_rss = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    with PeakRss() as peak:
        counts = asyncio.run(walk(args.items, args.seed, args.page))
    elapsed = time.perf_counter() - t0
    print(
        f"items={counts['items']} relations={counts['relations']} comments={counts['comments']} "
        f"worklogs={counts['worklogs']} response_bytes={counts['bytes']:,}"
    )
    print(f"time={elapsed:.1f}s ({counts['items'] / elapsed:,.0f} items/s)")
    print(f"rss_start={start_rss / 2**20:.0f}MiB peak_rss={peak.peak / 2**20:.0f}MiB")


if __name__ == "__main__":
    main()
