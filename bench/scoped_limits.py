"""Comments and attachments sent side by side under the jira-cloud-like profile: each budget's share used.

    .venv/bin/python bench/scoped_limits.py --issues 20 --comments 300 --files 300 --latency 150

A sandbox (in this process) with the profile on; `--issues` issues are created, then `--comments` comments and
`--files` small attachments go to them at once through one JiraClient (`--concurrency` requests in flight). Printed
per endpoint: requests, 429s, the most in flight at once (the sandbox's counters), requests per second and that as a
share of the endpoint's burst budget; then 429s by reason and the client's waits per scope. Not a test: nothing here
asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr  # noqa: E402

from migrayt.connectors.http import HttpSettings  # noqa: E402
from migrayt.connectors.jira import JiraClient  # noqa: E402
from migrayt.sandbox.fault_config import LIMIT_PROFILES  # noqa: E402
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox  # noqa: E402

PROFILE = "jira-cloud-like"


def doc(text: str) -> dict:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


async def run(args: argparse.Namespace) -> str:
    with running_sandbox(items=5, seed=3) as sandbox:
        settings = HttpSettings(base_url=sandbox.jira_url, timeout_seconds=60, max_concurrency=args.concurrency)
        token = SecretStr(sandbox.sandbox.jira_token)
        async with (
            SandboxAdmin.for_jira(sandbox) as admin,
            JiraClient(sandbox.jira_url, sandbox.sandbox.jira_email, token, settings=settings) as jira,
        ):
            project = sandbox.sandbox.project_key
            type_id = next(t.id for t in await jira.get_issue_types(project) if t.name == "Task")
            keys: list[str] = []
            for start in range(0, args.issues, 50):
                batch = [
                    {"fields": {"project": {"key": project}, "issuetype": {"id": type_id}, "summary": f"bench {i}"}}
                    for i in range(start, min(args.issues, start + 50))
                ]
                created = await jira.bulk_create_issues(batch)
                keys += [created.key_for(i) or "" for i in range(len(batch))]
            await admin.set_faults(limit_profile=PROFILE, latency_ms=args.latency)
            await admin.reset_counters()

            started = time.perf_counter()
            await asyncio.gather(
                *(jira.add_comment(keys[i % len(keys)], doc(f"comment {i}")) for i in range(args.comments)),
                *(jira.upload_attachment(keys[i % len(keys)], f"f{i}.txt", b"x" * 1024) for i in range(args.files)),
            )
            seconds = time.perf_counter() - started
            counters = (await admin.faults())["counters"]
            scopes = jira.http.counters.snapshot()["scopes"]

    profile = LIMIT_PROFILES[PROFILE]
    rate = profile["jira_burst_rps"]
    # The floor: the busiest budget's calls over its rate (writes to the busiest issue, or one endpoint's calls).
    per_issue = -(-(args.comments + args.files) // args.issues)
    issue_rate = profile["jira_issue_writes"] / profile["jira_issue_write_window_seconds"]
    floor = max(per_issue / issue_rate, args.comments / rate, args.files / rate)
    lines = [
        f"# Scoped limits: {args.comments} comments and {args.files} files on {args.issues} issues",
        "",
        f"Profile `{PROFILE}`, {args.latency:g} ms latency, {args.concurrency} in flight; {seconds:.1f} s in all; "
        f"the floor (busiest budget's calls ÷ its rate) {floor:.1f} s; time ÷ floor {seconds / floor:.2f}.",
        "",
        "| endpoint | requests | 429s | most in flight | requests/s | share of its burst budget |",
        "|---|---|---|---|---|---|",
    ]
    for endpoint, c in sorted(counters["by_endpoint"].items()):
        per_second = (c["requests"] - c["throttled"]) / seconds
        lines.append(
            f"| `{endpoint}` | {c['requests']} | {c['throttled']} | {c['peak_in_flight']} | {per_second:.1f} "
            f"| {per_second / rate:.2f} |"
        )
    lines += ["", f"429s by reason: {counters['throttled_by_reason'] or 'none'}", ""]
    lines += ["| client scope | 429s | waited (s) |", "|---|---|---|"]
    for scope in sorted(set(scopes["throttled"]) | set(scopes["waited_seconds"])):
        lines.append(f"| {scope} | {scopes['throttled'].get(scope, 0)} | {scopes['waited_seconds'].get(scope, 0.0)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=20)
    parser.add_argument("--comments", type=int, default=300)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--latency", type=float, default=150.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    table = asyncio.run(run(args))
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
