"""No secret leaves its place: a full migration with canary credentials, then every log line, every
database row and every Temporal history event is searched for them (raw and as sent in Basic auth).

Also the dependency audit (pip-audit) on the installed environment; skipped, saying why, when
PyPI's vulnerability data cannot be reached.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import text

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.mapping.plan import default_plan
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.workflows.run_models import RunStatus
from tests.integration.harness import wait_final, worker_process

TENANT = "secret-co"
PAT_ENV, TOKEN_ENV = "MIGRAYT_CANARY_ADO_PAT", "MIGRAYT_CANARY_JIRA_TOKEN"
EMAIL = "canary-migrator@example.com"
COMMENT_CAP = 30


def forms(secret: str, user: str = "") -> set[str]:
    """The secret as typed and as it travels in a Basic Authorization header."""
    return {secret, base64.b64encode(f"{user}:{secret}".encode()).decode(), base64.b64encode(secret.encode()).decode()}


async def all_table_rows(stack) -> dict[str, list[str]]:
    async with stack.service.sessions() as session:
        tables = (await session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars().all()
        return {t: list((await session.execute(text(f'SELECT t::text FROM "{t}" t'))).scalars()) for t in tables}


async def all_history_text(stack) -> tuple[int, str]:
    """Every event of every workflow the server holds, serialised with payloads as raw bytes."""
    chunks, count = [], 0
    async for wf in stack.client.list_workflows():
        history = await stack.client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        count += 1
        chunks.append(history.to_json())
        for event in history.events:
            chunks.append(event.SerializeToString().decode("utf-8", "replace"))
    return count, "\n".join(chunks)


def leaks(haystack: str, needles: set[str]) -> list[str]:
    return sorted(n[:6] + "…" for n in needles if n in haystack)


async def test_canary_secrets_never_appear_in_logs_rows_or_history(stack, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    pat, token = f"adopat{secrets.token_hex(20)}", f"jiratok{secrets.token_hex(20)}"
    monkeypatch.setenv(PAT_ENV, pat)
    monkeypatch.setenv(TOKEN_ENV, token)
    monkeypatch.setenv("MIGRAYT_JIRA_COMMENTS_PER_ISSUE", str(COMMENT_CAP))
    monkeypatch.setenv("MIGRAYT_LOG_LEVEL", "DEBUG")
    canaries = forms(pat) | forms(token, EMAIL)
    spec = ProjectSpec(seed=41, items=30)
    with running_sandbox(spec, ado_pat=pat, jira_token=token, jira_email=EMAIL, jira_options={"max_comments_per_issue": COMMENT_CAP}) as sandbox:
        migration_id = await stack.service.create_migration(
            TENANT, "Canary",
            SourceConnection(organization_url=sandbox.ado_url, project="Phoenix", team="Phoenix Team", pat_ref=f"env:{PAT_ENV}"),
            TargetConnection(base_url=sandbox.jira_url, project_key="PHX", email=EMAIL, token_ref=f"env:{TOKEN_ENV}"),
            default_plan(), actor="test@secret.example", door="api",
        )
        log_path = tmp_path / "worker.log"
        async with worker_process(stack, log_path):
            run_id = await stack.service.start_run(TENANT, migration_id, actor="test", door="api")
            final = await wait_final(stack, TENANT, run_id, timeout=120)
    # The canaries really were used: a wrong one would have failed the run before any write.
    assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE), final
    assert final.counters["create_items"].created == spec.items

    worker_log = log_path.read_text(errors="replace")
    assert worker_log, "the worker wrote no log: nothing was checked"
    assert leaks(worker_log, canaries) == [], "secret in the worker's log"
    captured = "\n".join(r.getMessage() + " " + repr(r.args) + (str(r.exc_info) if r.exc_info else "") for r in caplog.records)
    assert leaks(captured, canaries) == [], "secret in the test process's log records"

    rows = await all_table_rows(stack)
    assert sum(len(v) for v in rows.values()) > 0
    for table, values in rows.items():
        assert leaks("\n".join(values), canaries) == [], f"secret in clear in table {table}"

    workflows, history = await all_history_text(stack)
    assert workflows >= 1 and run_id in history
    assert leaks(history, canaries) == [], "secret in Temporal history"


def test_installed_dependencies_have_no_known_vulnerabilities():
    exe = shutil.which("pip-audit", path=os.path.dirname(sys.executable)) or shutil.which("pip-audit")
    if exe is None:
        pytest.skip("pip-audit is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [exe, "--skip-editable", "--progress-spinner", "off", "-f", "json"], capture_output=True, text=True, timeout=300,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.skip(f"pip-audit could not run (offline?): {done.stderr.strip()[-300:]}")
    deps = report["dependencies"]
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        pytest.skip("PyPI's vulnerability data is unreachable from here (every package 'not found on PyPI'): audit not run")
    vulnerable = {f"{d['name']} {d['version']}": [v["id"] for v in d["vulns"]] for d in audited if d.get("vulns")}
    assert vulnerable == {}, f"known vulnerabilities: {vulnerable}"
