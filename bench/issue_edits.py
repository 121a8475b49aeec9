"""Every `PUT /rest/api/3/issue/{id}` a whole run sends, by the code path that sends it and why (issue 17: the
issue edits after create cost 0.8 calls per item).

One full MigrationRunWorkflow run (all phases, the default plan) of a generated project on the embedded stack,
the worker in this process: every Jira request it sends is recorded (method, path; for an issue edit, its body's
fields and the first Migrayt frame outside the connectors that sent it). A description edit is classed by what it
changed from the description the bulk create sent for that issue: inline images now hosted in Jira, `#N`
references now written as Jira keys (the item named was created in the same bulk create, or a later one), or other.
Counts do not depend on latency: keep the project small on a shared machine.

    .venv/bin/python bench/issue_edits.py [--items 100] [--seed 7] [--out bench/results/issue_edits_100.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
from _stack import (  # noqa: E402
    TENANT,
    bench_settings,
    create_migration,
    embedded_stack,
    fmt_table,
    in_process_worker,
    machine_line,
    run_and_print,
    sandbox,
    wait_final,
)

ISSUE_EDIT = re.compile(r"^/rest/api/3/issue/([A-Z][A-Z0-9]*-\d+)$")
BULK_CREATE = "/rest/api/3/issue/bulk"
MIGRAYT = str(BENCH.parent / "migrayt")


def caller() -> str:
    """The Migrayt function that asked for this request: the last frame of ours outside the connectors."""
    frames = [
        f for f in traceback.extract_stack() if f.filename.startswith(MIGRAYT) and "/connectors/" not in f.filename
    ]
    if not frames:
        return "?"
    f = frames[-1]
    return f"{Path(f.filename).relative_to(BENCH.parent)}:{f.name}"


class Recorder:
    def __init__(self, jira_port: int) -> None:
        self.jira_port = jira_port
        self.calls: Counter[str] = Counter()
        self.edits: list[dict[str, Any]] = []
        self.created: dict[str, dict[str, Any]] = {}  # issue key → the fields its bulk create sent
        self.create_call: dict[str, int] = {}  # issue key → which bulk create made it (0, 1, …)
        self.ado_of: dict[str, int] = {}
        self._original: Any = None

    def __enter__(self) -> Recorder:
        self._original = original = httpx.AsyncClient.send

        async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            if request.url.port != self.jira_port or request.url.path.startswith("/_sandbox"):
                return await original(client, request, **kwargs)
            edit = ISSUE_EDIT.match(request.url.path) if request.method == "PUT" else None
            if edit:
                self.edits.append(
                    {"key": edit.group(1), "by": caller(), "fields": json.loads(request.content or b"{}").get("fields")}
                )
            response = await original(client, request, **kwargs)
            if response.status_code != 429:
                self.calls[request.method] += 1
            if request.method == "POST" and request.url.path == BULK_CREATE and response.status_code < 300:
                await response.aread()
                self._created(json.loads(request.content), response.json())
            return response

        httpx.AsyncClient.send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        httpx.AsyncClient.send = self._original  # type: ignore[method-assign]

    def _created(self, sent: dict[str, Any], answer: dict[str, Any]) -> None:
        call = max(self.create_call.values(), default=-1) + 1
        issues = iter(answer.get("issues") or [])
        failed = {e.get("failedElementNumber") for e in answer.get("errors") or []}
        for n, update in enumerate(sent["issueUpdates"]):
            if n in failed:
                continue
            key = next(issues)["key"]
            fields = update["fields"]
            self.created[key], self.create_call[key] = fields, call
            label = next((x for x in fields.get("labels") or [] if x.startswith("ado-id-")), None)
            if label:
                self.ado_of[key] = int(label.removeprefix("ado-id-"))

    def why(self, edit: dict[str, Any]) -> str:
        """What a description edit changed from the created description."""
        fields = edit["fields"] or {}
        if set(fields) != {"description"}:
            return "fields: " + ",".join(sorted(fields))
        before = json.dumps(self.created.get(edit["key"], {}).get("description"))
        after = json.dumps(fields["description"])
        if before == after:
            return "description unchanged"
        reasons = []
        if '"media' in after and '"media' not in before:
            reasons.append("images")
        key_of = {ado: key for key, ado in self.ado_of.items()}
        named = {int(n) for n in re.findall(r"#(\d+)", before)} & set(key_of)
        if named:
            mine = self.create_call.get(edit["key"], -1)
            where = {"same create" if self.create_call[key_of[n]] == mine else "later create" for n in named}
            reasons.append("#refs to " + " and ".join(sorted(where, reverse=True)))
        if "Test steps" in after and "Test steps" not in before:
            reasons.append("steps table")
        return ", ".join(reasons) or "other"


async def main(args: argparse.Namespace) -> str:
    settings = bench_settings()
    machine = machine_line()
    async with embedded_stack(settings) as stack, in_process_worker(stack):
        with sandbox(args.items, args.seed, "thread") as box:
            port = httpx.URL(box.jira_url).port or 0
            with Recorder(port) as rec:
                migration_id = await create_migration(stack, box)
                run_id = await stack.service.start_run(TENANT, migration_id, actor="bench", door="api")
                progress = await wait_final(stack, run_id)
    items = max(progress.counters["create_items"].total, 1)
    jira_calls = sum(rec.calls.values())
    by_path = Counter((e["by"], rec.why(e)) for e in rec.edits)
    rows = [[by, why, n, f"{n / items:.2f}"] for (by, why), n in by_path.most_common()]
    creates = max(rec.create_call.values(), default=-1) + 1
    return "\n".join(
        [
            f"# Issue edits after create: {args.items} generated items, seed {args.seed}, default plan, batch 50",
            "",
            machine,
            "",
            f"run {run_id}: {progress.status.value}; {items} items; Jira calls (429s left out) {jira_calls}, "
            f"{jira_calls / items:.2f} per item; bulk creates {creates}; "
            f"`PUT /rest/api/3/issue/{{id}}` {len(rec.edits)}, {len(rec.edits) / items:.2f} per item",
            "",
            fmt_table(["sent by", "what it changed", "PUTs", "per item"], rows),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    run_and_print(parser, main)
