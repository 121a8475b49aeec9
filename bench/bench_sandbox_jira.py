"""Sandbox Jira figures: bulk-create latency, memory at 100k issues, label search latency.

Run: .venv/bin/python bench/bench_sandbox_jira.py [--issues 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx
import psutil

from migrayt.sandbox.jira.app import JiraSandboxConfig, create_jira_app


def _doc(n: int) -> dict:
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": f"Item {n}: steps to reproduce " * 4}]},
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "step"}]}],
                    }
                ]
                * 3,
            },
        ],
    }


def _item(n: int) -> dict:
    return {
        "fields": {
            "project": {"key": "PHX"},
            "issuetype": {"name": "Story"},
            "summary": f"Story {n}",
            "labels": [f"ado-id-{n}", "migrated"],
            "description": _doc(n),
        }
    }


async def main(total: int) -> None:
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    app = create_jira_app(JiraSandboxConfig())
    state = app.state.jira
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://jira",
        auth=("migrator@example.com", "sandbox-token"),
        timeout=30,
    ) as client:
        timings = []
        for b in range(20):
            body = {"issueUpdates": [_item(b * 50 + i) for i in range(50)]}
            t = time.perf_counter()
            r = await client.post("/rest/api/3/issue/bulk", json=body)
            timings.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 201
        print(
            f"bulk create 50 (HTTP, ADF description): median {statistics.median(timings):.1f} ms, "
            f"max {max(timings):.1f} ms"
        )
        n = 1000
        t = time.perf_counter()
        while n < total:
            chunk = min(50, total - n)
            state.create_issues({"issueUpdates": [_item(n + i) for i in range(chunk)]})
            n += chunk
        print(f"filled to {total} issues in {time.perf_counter() - t:.1f} s (in-process)")
        print(f"RSS growth: {(proc.memory_info().rss - rss0) / 2**20:.0f} MB for {len(state.issues)} issues")
        lat = []
        for k in range(50):
            t = time.perf_counter()
            r = await client.post(
                "/rest/api/3/search/jql", json={"jql": f"labels = ado-id-{k * 1999}", "fields": ["summary"]}
            )
            lat.append((time.perf_counter() - t) * 1000)
            assert len(r.json()["issues"]) == 1
        print(f"JQL labels = ado-id-N over {total}: median {statistics.median(lat):.2f} ms")
        t = time.perf_counter()
        r = await client.post(
            "/rest/api/3/search/jql",
            json={"jql": "project = PHX ORDER BY key", "maxResults": 100, "fields": ["summary"]},
        )
        print(f"JQL full scan 'project = PHX ORDER BY key' first page: {(time.perf_counter() - t) * 1000:.0f} ms")
    state.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().issues))
