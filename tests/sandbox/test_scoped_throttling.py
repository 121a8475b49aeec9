"""The Jira client against a sandbox Jira that throttles only comments: attachments keep their pace.

Pace is read from the sandbox's own counters (requests, 429s and requests in flight at once per endpoint), not from
clocks: a 429 on comments must neither throttle attachments nor take away the concurrency they are sent with.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from migrayt.connectors.http import HttpSettings
from migrayt.connectors.jira import JiraClient
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox

COMMENT = "POST /rest/api/3/issue/{id}/comment"
ATTACHMENTS = "POST /rest/api/3/issue/{id}/attachments"
CONCURRENCY = 8
ISSUES = 4
COMMENTS = 24
FILES = 24


@pytest.fixture(scope="module")
def sandbox() -> Iterator:
    with running_sandbox(items=5, seed=11) as server:
        yield server


def doc(text: str) -> dict:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


async def endpoint_counters(admin: SandboxAdmin) -> dict[str, dict]:
    return (await admin.faults())["counters"]["by_endpoint"]


async def test_a_429_on_comments_does_not_slow_attachments(sandbox) -> None:
    settings = HttpSettings(base_url=sandbox.jira_url, timeout_seconds=30, max_concurrency=CONCURRENCY)
    token = SecretStr(sandbox.sandbox.jira_token)
    async with (
        SandboxAdmin.for_jira(sandbox) as admin,
        JiraClient(sandbox.jira_url, sandbox.sandbox.jira_email, token, settings=settings) as jira,
    ):
        project = sandbox.sandbox.project_key
        types = await jira.get_issue_types(project)
        type_id = next(t.id for t in types if t.name == "Task")
        label = f"scoped-{uuid.uuid4().hex[:8]}"
        created = await jira.bulk_create_issues(
            [
                {
                    "fields": {
                        "project": {"key": project},
                        "issuetype": {"id": type_id},
                        "summary": f"s{i}",
                        "labels": [label],
                    }
                }
                for i in range(ISSUES)
            ]
        )
        keys = [created.key_for(i) for i in range(ISSUES)]
        assert all(keys)

        # Comments get 4 a second; every other endpoint is unlimited. The latency keeps requests in flight long
        # enough for the sandbox to see how many the client sends at once.
        await admin.replace_faults(
            FaultConfig(jira_burst_rps_by_endpoint={COMMENT: 4}, jira_burst_seconds=1, latency_ms=300)
        )
        await admin.reset_counters()

        comments = asyncio.gather(*(jira.add_comment(keys[i % ISSUES], doc(f"comment {i}")) for i in range(COMMENTS)))
        # Attachments start once comments have been refused a few times: the client has heard the 429s.
        while (await endpoint_counters(admin)).get(COMMENT, {}).get("throttled", 0) < 4:
            await asyncio.sleep(0.05)
        files = await asyncio.gather(
            *(jira.upload_attachment(keys[i % ISSUES], f"f{i}.txt", f"file {i}".encode()) for i in range(FILES))
        )
        await comments

        counters = await endpoint_counters(admin)
        attachments = counters[ATTACHMENTS]
        assert len(files) == FILES
        assert attachments["requests"] == FILES and attachments["throttled"] == 0, "each file sent once, never refused"
        assert attachments["peak_in_flight"] >= CONCURRENCY - 2, (
            f"attachments were sent {attachments['peak_in_flight']} at a time, slowed by comments' 429s"
        )
        assert {endpoint for endpoint, c in counters.items() if c["throttled"]} == {COMMENT}
        # Comments were slowed where they were refused, and all of them landed once.
        assert counters[COMMENT]["requests"] - counters[COMMENT]["throttled"] == COMMENTS
        assert sum([len(await jira.list_comments(key)) for key in keys]) == COMMENTS
        scopes = jira.http.counters.snapshot()["scopes"]["throttled"]
        assert set(scopes) == {f"endpoint {COMMENT}"}
        await admin.replace_faults()
