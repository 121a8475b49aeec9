"""Savepoints against the real stack and the sandbox over HTTP: a run paused after phase 4 leaves a signed savepoint;
its database is dropped; a fresh installation (a new PostgreSQL, the same Jira, the same secret key) starts a new
migration from the savepoint — the run finishes with no duplicate and without one issue create sent — and refuses
a tampered savepoint, one for another Jira project, and one whose issues Jira does not confirm."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from migrayt.api.cli import app as cli_app
from migrayt.contracts.runs import FINAL_STATUSES, RunProgress, RunStatus
from migrayt.contracts.savepoints import SavepointBody
from migrayt.core.runs import MigrationService
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.stack.postgres import EmbeddedPostgres
from migrayt.store import savepoints
from migrayt.store.db import create_engine, session_factory, upgrade_schema
from migrayt.store.models import ItemRecord, Migration
from migrayt.worker.main import run_worker
from tests.api.conftest import ADMIN_TOKEN, Api, served
from tests.integration import harness
from tests.integration.harness import (
    ISSUE_CREATES,
    Stack,
    ado_labels,
    create_sandbox_migration,
    hold_jira,
    jira_issues,
    jira_state,
    release_jira,
    structure_only_plan,
    wait_for,
    wait_until_held,
)
from tests.integration.test_run_control import jira_faults, taken
from tests.security.test_local_doors import sign_in

TENANT = "savepoint-co"
TRANSITIONS = r"POST /rest/api/3/bulk/issues/transition"


@asynccontextmanager
async def installation(stack: Stack, database_url: str, key: str, folder) -> AsyncIterator[tuple[Stack, Api]]:
    """A Migrayt of its own on `database_url` (schema made here): its worker, its API, the given secret key."""
    await upgrade_schema(database_url)
    settings = harness.test_settings(
        task_queue=f"savepoint-{uuid.uuid4().hex[:8]}", secret_key=SecretStr(key), savepoint_dir=folder
    )
    engine = create_engine(database_url)
    try:
        own = Stack(
            settings,
            database_url,
            stack.temporal_address,
            stack.client,
            MigrationService(settings, session_factory(engine), stack.client),
        )
        async with (
            run_worker(settings, stack.client, database_url, shared=False),
            served(own, auth="on", admin_token=SecretStr(ADMIN_TOKEN)) as api,
        ):
            yield own, api
    finally:
        await engine.dispose()


async def records(stack: Stack, migration_id: str) -> int:
    async with stack.service.sessions() as session:
        return await session.scalar(select(func.count()).where(ItemRecord.migration_id == migration_id))


async def test_a_fresh_installation_finishes_a_paused_run_from_its_savepoint_without_sending_it_again(
    stack, postgres, pg_home, tmp_path
):
    key = Fernet.generate_key().decode()
    admin = create_async_engine(postgres.url_for("postgres"), isolation_level="AUTOCOMMIT")
    first_db = f"savepoint_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{first_db}"'))
    fresh_pg = EmbeddedPostgres(pg_home / "fresh", fsync=False)
    with running_sandbox(ProjectSpec(seed=21, items=40)) as sandbox:
        # --- the first installation: a run paused after phase 4 (links), its savepoint downloaded ---------------
        async with installation(stack, postgres.url_for(first_db), key, tmp_path / "first") as (one, api):
            token = await api.issue_token(TENANT)
            migration_id = await create_sandbox_migration(one, sandbox, plan=structure_only_plan(), tenant=TENANT)
            await hold_jira(sandbox, TRANSITIONS)
            run_id = await one.service.start_run(TENANT, migration_id, actor="test", door="api")
            await wait_until_held(sandbox)
            await one.service.control(TENANT, run_id, "pause", actor="ops@acme", door="api")
            await taken(one, run_id, "pause_requested", tenant=TENANT)
            await release_jira(sandbox)
            paused = await wait_for(one, TENANT, run_id, lambda p: p.status == RunStatus.PAUSED, timeout=120)
            assert paused.counters["links"].created > 0 and paused.phase == "transitions"
            async with api.client(token) as http:
                listed = await wait_listed(http, run_id, "pause")
                assert [s["reason"] for s in listed[:1]] == ["pause"]
                assert {"phase_end"} <= {s["reason"] for s in listed}
                r = await http.get(f"/api/runs/{run_id}/savepoints/{listed[0]['name']}")
                assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
                raw = r.content
                # The CLI downloads the same bytes (the newest savepoint when no name is given).
                cli = await migrayt(api, token, "savepoint", "download", run_id, "-o", str(tmp_path / "saved.json"))
                assert cli.exit_code == 0, cli.output
                assert (tmp_path / "saved.json").read_bytes() == raw
            # The run page lists them, each a download link, for a signed-in user of the tenant.
            async with api.client() as browser:
                assert (await sign_in(browser, token)).status_code == 303
                page = await browser.get(f"/app/runs/{run_id}")
                link = f"/app/runs/{run_id}/savepoints/{listed[0]['name']}"
                assert page.status_code == 200 and f'href="{link}"' in page.text
                assert (await browser.get(link)).content == raw
                # Another tenant sees none of it.
                other = await api.issue_token("someone-else")
                async with api.client(other) as stranger:
                    assert (await stranger.get(f"/api/runs/{run_id}/savepoints")).status_code == 404
            await one.client.get_workflow_handle(run_id).terminate("its installation is gone")
        saved = savepoints.SavepointFile.model_validate_json(raw)
        saved_issues = {r.source_key: r.target_key for r in saved.body.records if r.kind == "issue"}
        assert saved_issues and len(saved_issues) == paused.counters["create_items"].created
        assert all(r.state == "done" for r in saved.body.records if r.kind in ("issue", "link"))
        assert key not in raw.decode()
        async with admin.connect() as conn:  # the first installation's database is gone
            await conn.execute(text(f'DROP DATABASE "{first_db}" WITH (FORCE)'))
        await admin.dispose()
        before = await jira_state(sandbox)

        # --- a fresh installation: a new PostgreSQL, the same Jira and secret key ------------------------------
        fresh_pg.start()
        try:
            async with installation(stack, fresh_pg.database_url, key, tmp_path / "fresh") as (two, api):
                token = await api.issue_token(TENANT)
                async with api.client(token) as http:
                    await refusals(two, sandbox, http, raw, key)
                    migration_id = await create_sandbox_migration(
                        two, sandbox, plan=structure_only_plan(), tenant=TENANT
                    )
                    # Any issue create would wait here unanswered, and be counted.
                    await hold_jira(sandbox, ISSUE_CREATES)
                    async with httpx.AsyncClient(timeout=10) as plain:
                        (await plain.delete(f"{sandbox.jira_url}/_sandbox/faults/counters")).raise_for_status()
                    cli = await migrayt(
                        api, token, "run", migration_id, "--from-savepoint", str(tmp_path / "saved.json"), "--json"
                    )
                    assert cli.exit_code == 0, cli.output
                    run_id = json.loads(cli.output)["run_id"]
                    done, creates_sent = await final_or_create_sent(two, sandbox, run_id)
                    await release_jira(sandbox)
                    after, issues = await jira_state(sandbox), await jira_issues(sandbox)
        finally:
            fresh_pg.stop()
            shutil.rmtree(pg_home / "fresh", ignore_errors=True)

    assert creates_sent == 0, "an issue create was sent for an item the savepoint holds"
    assert done.status == RunStatus.COMPLETED, done.model_dump_json()
    c = done.counters["create_items"]
    assert (c.created, c.adopted, c.skipped) == (0, 0, len(saved_issues)), "skipped, not looked up or sent again"
    assert done.counters["links"].created == 0 and done.counters["hierarchy"].created == 0
    assert after["issues"]["total"] == before["issues"]["total"]
    assert after["links"] == before["links"]
    assert all(len(keys) == 1 for keys in ado_labels(issues).values()), "a duplicate issue"
    assert {label.removeprefix("ado-id-"): keys[0] for label, keys in ado_labels(issues).items()} == saved_issues


async def migrayt(api: Api, token: str, *args: str):
    """The `migrayt` CLI against this API (in a thread: the API is served by this event loop)."""
    return await asyncio.to_thread(
        CliRunner().invoke, cli_app, [*args, "--api-url", api.url, "--token", token], catch_exceptions=False
    )


async def final_or_create_sent(stack: Stack, sandbox, run_id: str) -> tuple[RunProgress, int]:
    """The run's final progress, or its progress as soon as an issue create reaches the hold; and the creates held."""
    for _ in range(2400):
        progress = await stack.service.progress(TENANT, run_id)
        creates = (await jira_faults(sandbox))["counters"]["held"]
        if progress.status in FINAL_STATUSES or creates:
            return progress, creates
        await asyncio.sleep(0.1)
    raise AssertionError(f"the run did not finish: {progress.model_dump_json()}")


async def wait_listed(http: httpx.AsyncClient, run_id: str, reason: str) -> list[dict]:
    """The run's savepoints once the one written for `reason` is there (it follows the run event at once)."""
    for _ in range(600):
        r = await http.get(f"/api/runs/{run_id}/savepoints")
        assert r.status_code == 200, r.text
        if r.json() and r.json()[0]["reason"] == reason:
            return r.json()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {reason} savepoint: {r.json()}")


async def refusals(two: Stack, sandbox, http: httpx.AsyncClient, raw: bytes, key: str) -> None:
    """A tampered savepoint, one for another project and one whose issues Jira does not confirm: each refused,
    with a message saying which, and nothing imported."""
    migration_id = await create_sandbox_migration(two, sandbox, plan=structure_only_plan(), tenant=TENANT)

    async def start(body: bytes, migration: str = migration_id) -> httpx.Response:
        return await http.post(
            f"/api/migrations/{migration}/runs/from-savepoint",
            content=body,
            headers={"Content-Type": "application/json"},
        )

    tampered = json.loads(raw)
    issue = next(r for r in tampered["body"]["records"] if r["kind"] == "issue")
    issue["target_key"] = "PHX-99999"
    r = await start(json.dumps(tampered).encode())
    assert r.status_code == 422 and "checksum does not match" in r.json()["detail"], r.text

    other_project = await create_sandbox_migration(two, sandbox, plan=structure_only_plan(), tenant=TENANT)
    async with two.service.sessions() as session:
        row = await session.get(Migration, other_project)
        row.target = {**row.target, "project_key": "OPS"}
        await session.commit()
    r = await start(raw, other_project)
    assert r.status_code == 422, r.text
    assert "another migration target" in r.json()["detail"] and "Jira project PHX, not OPS" in r.json()["detail"]

    # Signed with the right key, but its keys shifted by one: Jira says the issues are not these items.
    body = SavepointBody.model_validate(json.loads(raw)["body"])
    issues = [r for r in body.records if r.kind == "issue"]
    keys = [r.target_key for r in issues]
    for r, k in zip(issues, keys[1:] + keys[:1], strict=True):
        r.target_key = k
    settings = two.settings
    forged = savepoints.dumps(savepoints.seal(body, savepoints.signing_key(settings)))
    r = await start(forged)
    assert r.status_code == 422 and "do not match Jira" in r.json()["detail"] and "ado-id-" in r.json()["detail"]

    assert await records(two, migration_id) == 0 and await records(two, other_project) == 0
