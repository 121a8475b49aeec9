"""The shared mute's records and lock against the real PostgreSQL: a tenant reads only its own holds on one Jira
site and project, with their runs' statuses; the lock per (tenant, site, project) lets one run at a time decide."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from migrayt.contracts.record_kinds import NOTIFICATION_SCHEME
from migrayt.store.db import create_engine, session_factory, upgrade_schema
from migrayt.store.models import ItemRecord, Migration, Run
from migrayt.store.mute_holds import holds, project_locked, site_of

SITE = "https://mute-test.atlassian.net"


@pytest.fixture
async def engine(postgres):
    await upgrade_schema(postgres.database_url)
    engine = create_engine(postgres.database_url, pool_size=4)
    yield engine
    await engine.dispose()


async def add_hold(sessions, tenant: str, run_status: str, site: str = SITE, project: str = "PHX", **detail) -> str:
    migration_id, run_id = f"mig-{uuid.uuid4().hex[:8]}", f"run-{uuid.uuid4().hex[:8]}"
    async with sessions() as session:
        session.add(
            Migration(
                id=migration_id,
                tenant_id=tenant,
                name="Phoenix to PHX",
                source={},
                target={"base_url": site, "project_key": project},
                plan={},
            )
        )
        await session.flush()
        session.add(Run(id=run_id, migration_id=migration_id, tenant_id=tenant, status=run_status))
        session.add(
            ItemRecord(
                migration_id=migration_id,
                kind=NOTIFICATION_SCHEME,
                source_key=run_id,
                target_key="10000",
                state="done",
                run_id=run_id,
                detail={"original_name": "Default Notification Scheme", "project": project, **detail},
            )
        )
        await session.commit()
    return run_id


async def test_a_tenant_reads_only_its_own_holds_on_that_site_and_project(engine):
    sessions = session_factory(engine)
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    holding = await add_hold(sessions, tenant, "RUNNING", site=SITE + "/")
    ended = await add_hold(sessions, tenant, "COMPLETED", restored=True)
    await add_hold(sessions, "another-tenant", "RUNNING")
    await add_hold(sessions, tenant, "RUNNING", project="OTHER")
    await add_hold(sessions, tenant, "RUNNING", site="https://elsewhere.atlassian.net")
    async with sessions() as session:
        found = await holds(session, tenant, site_of(SITE), "PHX")
    assert [(h.run_id, h.released, h.run_ended) for h in found] == [(holding, False, False), (ended, True, True)]
    assert found[0].original_id == "10000" and found[0].original_name == "Default Notification Scheme"


async def test_one_run_at_a_time_decides_for_a_project_and_other_projects_do_not_wait(engine):
    site = site_of(SITE)
    entered: list[str] = []
    first_in = asyncio.Event()
    first_may_leave = asyncio.Event()

    async def decide(name: str, tenant: str) -> None:
        async with project_locked(engine, tenant, site, "PHX"):
            entered.append(name)
            if name == "first":
                first_in.set()
                await first_may_leave.wait()

    first = asyncio.create_task(decide("first", "t-lock"))
    await first_in.wait()
    second = asyncio.create_task(decide("second", "t-lock"))
    async with engine.connect() as conn:
        while not await conn.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")):
            await conn.rollback()
            await asyncio.sleep(0.05)
    await decide("another tenant's", "t-other")
    assert entered == ["first", "another tenant's"], "the second run waits while the first decides"
    first_may_leave.set()
    await asyncio.gather(first, second)
    assert entered == ["first", "another tenant's", "second"]
