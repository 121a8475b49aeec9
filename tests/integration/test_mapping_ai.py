"""AI drafting against a local OpenAI-compatible server: only schema metadata reaches it, and only with consent."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import select

from migrayt.core.intake import IntakeService
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import AuditEvent, Base
from migrayt.temporal.codec import _payloads_in, decoded_history
from migrayt.worker.main import run_worker
from tests.integration import harness
from tests.integration.harness import create_sandbox_migration

TENANT = "ai-corp"
ITEMS, SEED = 60, 5
MODEL = "local-test-model"
ANSWER = {
    "types": [{"source": "Issue", "target": "Incident", "confidence": 0.9}],  # no such Jira type: ignored
    "states": [{"source": "Removed", "target": "Done", "confidence": 0.85}],
    "priorities": [],
    "fields": [
        {
            "source": "Microsoft.VSTS.TCM.SystemInfo",
            "target": "environment",
            "transform": "rich_text",
            "confidence": 0.7,
        }
    ],
    "link_types": [],
}


@contextmanager
def fake_llm():
    """A tiny OpenAI-compatible chat completions server that records every request body."""
    bodies: list[bytes] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict:
        bodies.append(await request.body())
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": json.dumps(ANSWER), "refusal": None},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", bodies
    finally:
        server.should_exit = True
        thread.join(10)


def ticket_text(project: GeneratedProject) -> set[str]:
    """Summaries, descriptions and comments of the source, as sentences a copy would still hold."""

    def text(html: str) -> list[str]:
        plain = re.sub(r"<[^>]+>", " ", html)
        return [s.strip() for s in re.split(r"[.!?\n]", plain) if len(s.strip()) >= 16]

    out: set[str] = set()
    for i in project.item_ids():
        f = project.work_item(i).fields
        out.add(str(f["System.Title"]))
        for ref in ("System.Description", "Microsoft.VSTS.TCM.ReproSteps", "Microsoft.VSTS.Common.AcceptanceCriteria"):
            out.update(text(str(f.get(ref) or "")))
        for c in project.comments(i):
            out.update(text(c.text))
    return {s for s in out if len(s) >= 6}


def source_secrets(project: GeneratedProject) -> set[str]:
    """Ticket text plus user names and e-mails: what the LLM must never see."""
    people = {x for u in project.users for x in (u.display_name, u.unique_name, u.email) if x and len(x) >= 6}
    return ticket_text(project) | people


def leaks(blob: str, secrets: set[str]) -> list[str]:
    low = blob.lower()
    return sorted(s for s in secrets if s.lower() in low)


async def test_ai_drafting_sees_only_schema_and_needs_consent(stack):
    with running_sandbox(items=ITEMS, seed=SEED) as sandbox, fake_llm() as (base_url, bodies):
        settings = harness.test_settings(
            task_queue=stack.settings.task_queue,
            openai_api_key="sk-test-key",
            openai_base_url=base_url,
            openai_model=MODEL,
        )
        intake = IntakeService(settings, stack.service.sessions, stack.client)
        async with run_worker(settings, stack.client, stack.database_url):
            migration_id = await create_sandbox_migration(stack, sandbox, tenant=TENANT)

            # A key alone is not enough: without the tenant's consent no request is made at all.
            scan_ids = [await intake.start_scan(TENANT, migration_id, actor="ana@ai.example", door="api")]
            first = await intake.scan_result(scan_ids[0])
            assert first.status == "COMPLETED" and not first.ai_used
            assert bodies == []

            await intake.set_ai_consent(TENANT, True, actor="owner@ai.example", door="api")
            scan_ids.append(await intake.start_scan(TENANT, migration_id, actor="ana@ai.example", door="api"))
            second = await intake.scan_result(scan_ids[-1])
            assert second.status == "COMPLETED" and second.ai_used, second.error
            assert len(bodies) >= 1

            await intake.set_ai_consent(TENANT, False, actor="owner@ai.example", door="api")
            asked = len(bodies)
            scan_ids.append(await intake.start_scan(TENANT, migration_id, actor="ana@ai.example", door="api"))
            third = await intake.scan_result(scan_ids[-1])
            assert not third.ai_used and len(bodies) == asked

        # Every byte the LLM received is schema metadata: no ticket text, summary, comment, user name or e-mail.
        project = GeneratedProject(ProjectSpec(seed=SEED, items=ITEMS))
        secrets = source_secrets(project)
        for raw in bodies:
            body = json.loads(raw)
            assert body["model"] == MODEL and body.get("store") is False
            seen = raw.decode() + "".join(m["content"] for m in body["messages"])
            assert leaks(seen, secrets) == []
            assert (
                "Microsoft.VSTS.Scheduling.StoryPoints" in seen and "Story point estimate" in seen
            )  # it did get the schema

        # The AI's choices land where both ends exist, marked as AI with a confidence; the rest stays rule.
        row, plan = await intake.plan(TENANT, migration_id, second.plan_version)
        assert row.origin == "ai" and row.model == MODEL and row.status == "draft"
        assert plan.states["*"]["Removed"] == "Done" and plan.provenance["states/*/Removed"].origin == "ai"
        assert 0 < plan.provenance["states/*/Removed"].confidence <= 0.9
        assert plan.types["Issue"] == "Task" and plan.provenance["types/Issue"].origin == "rule"
        ai_field = next(m for m in plan.fields if m.source == "Microsoft.VSTS.TCM.SystemInfo")
        assert (ai_field.target, ai_field.origin) == ("environment", "ai")

        # The audit trail names the model asked and the version drafted, never ticket content.
        async with stack.service.sessions() as session:
            events = list(
                await session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == TENANT).order_by(AuditEvent.id))
            )
        actions = [e.action for e in events]
        assert (
            actions.count("ai_draft_requested") == 1
            and "ai_consent_given" in actions
            and "ai_consent_withdrawn" in actions
        )
        drafted = [e for e in events if e.action == "plan_drafted" and e.detail.get("version") == second.plan_version]
        assert drafted and drafted[0].detail["model"] == MODEL and drafted[0].actor == "ana@ai.example"
        assert leaks(json.dumps([e.detail for e in events], ensure_ascii=False), secrets) == []

        # Once mapping is done, no ticket text is kept anywhere but the item records and the preview:
        # not in any other table, not in the scan workflows' histories (read decrypted).
        text = ticket_text(project)
        async with stack.service.sessions() as session:
            for table in Base.metadata.sorted_tables:
                # A validation report's differences show the values that differ, as item records keep what moved;
                # other tests of this session validate runs of projects whose text is alike.
                if table.name in ("item_record", "preview", "validation_difference"):
                    continue
                rows = (await session.execute(select(table))).all()
                assert leaks(json.dumps([[str(v) for v in row] for row in rows], ensure_ascii=False), text) == [], (
                    table.name
                )
        for scan_id in scan_ids:
            history = await stack.client.get_workflow_handle(scan_id).fetch_history()
            plain = await decoded_history(history, stack.client.data_converter.payload_codec)
            data = [p.data.decode("utf-8", "replace") for event in plain.events for p in _payloads_in(event)]
            assert len(data) > 3 and any('"items_total"' in d for d in data)  # it did read the catalog back
            assert leaks("\n".join(data), text) == [], scan_id
