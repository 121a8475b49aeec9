"""A delta sync fires at most once per minimum interval however it is written (cron, `@every`, seconds fields),
and a tenant holds a bounded number of schedules.

Crons are judged on the firings Temporal itself computes from them.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.api.conftest import ADMIN_TOKEN, Api, served
from tests.api.helpers import tenant_secret_refs
from tests.integration.harness import structure_only_plan

TENANT, OTHER = "cron-a", "cron-b"

TOO_OFTEN = [
    {"cron": "@every 1s"},
    {"cron": "@every 59s"},
    {"cron": "@every 30s/5s"},
    {"cron": "* * * * * * *"},  # 7 fields: every second
    {"cron": "*/30 * * * * * *"},
    {"cron": "0,59 * * * * * *"},  # :59, then :00 of the next minute
    {"cron": "* * * * * * 2031"},  # every second, from a year that is not this one
    {"cron": "CRON_TZ=Europe/Paris * * * * * * *"},
    {"cron": "* * * * * *"},  # 6 fields: second…weekday to most tools, minute…year to Temporal
    {"cron": "*/10 * * * * *"},
]
ALLOWED = ["*/5 * * * *", "0 * * * * * *", "@every 1m", "@every 2h", "15 9 * * 1-5"]


async def new_migration(api: Api, token: str, tenant: str) -> str:
    pat_ref, token_ref = tenant_secret_refs(tenant)
    async with api.client(token) as http:
        r = await http.post(
            "/api/migrations",
            json={
                "name": "scheduled",
                "source": {"organization_url": "https://dev.azure.com/acme", "project": "Phoenix", "pat_ref": pat_ref},
                "target": {
                    "base_url": "https://acme.atlassian.net",
                    "project_key": "PHX",
                    "email": "m@example.com",
                    "token_ref": token_ref,
                },
                "plan": structure_only_plan().model_dump(mode="json"),
                "approve_plan": True,
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]


def delta(migration_id: str, **spec) -> dict:
    return {"migration_id": migration_id, "kind": "delta", "paused": True, **spec}


@pytest.fixture
async def api(stack):
    async with served(
        stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), max_schedules_per_tenant=len(ALLOWED) + 1
    ) as running:
        yield running


async def test_no_cron_spelling_fires_more_often_than_the_minimum(api):
    token = await api.issue_token(TENANT)
    mid = await new_migration(api, token, TENANT)
    async with api.client(token) as http:
        for spec in TOO_OFTEN:
            r = await http.post("/api/schedules", json=delta(mid, **spec))
            assert r.status_code == 422, (spec, r.text)
            assert "at most every 1 minute" in r.text or "6-field" in r.text, (spec, r.text)
        assert (await http.get("/api/schedules", params={"migration_id": mid})).json() == []
        created = []
        for cron in ALLOWED:
            r = await http.post("/api/schedules", json=delta(mid, cron=cron))
            assert r.status_code == 201, (cron, r.text)
            assert r.json()["paused"] is True and r.json()["cron"] == cron
            created.append(r.json()["schedule_id"])
        listed = (await http.get("/api/schedules", params={"migration_id": mid})).json()
        assert sorted(s["schedule_id"] for s in listed) == sorted(created)
        for schedule_id in created:
            assert (await http.delete(f"/api/schedules/{schedule_id}")).status_code == 204


async def test_the_minimum_counts_between_firings_not_only_within_a_field(stack):
    """Minutes 0 and 59 are 59 minutes apart in the field, but :59 and the next hour's :00 only one."""
    async with served(stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), schedule_min_interval_seconds=300) as api:
        token = await api.issue_token(TENANT)
        mid = await new_migration(api, token, TENANT)
        async with api.client(token) as http:
            for spec in ({"cron": "0,59 * * * *"}, {"cron": "*/2 * * * *"}, {"every_minutes": 4}):
                r = await http.post("/api/schedules", json=delta(mid, **spec))
                assert r.status_code == 422 and "at most every 5 minute" in r.text, (spec, r.text)
            r = await http.post("/api/schedules", json=delta(mid, cron="0,30 * * * *"))
            assert r.status_code == 201, r.text
            assert (await http.delete(f"/api/schedules/{r.json()['schedule_id']}")).status_code == 204


async def test_schedules_per_tenant_are_capped(stack):
    async with served(stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), max_schedules_per_tenant=2) as api:
        token, other_token = await api.issue_token(TENANT), await api.issue_token(OTHER)
        mid, other_mid = await new_migration(api, token, TENANT), await new_migration(api, other_token, OTHER)
        async with api.client(token) as http, api.client(other_token) as other:
            first = await http.post("/api/schedules", json=delta(mid, every_minutes=60))
            second = await http.post(
                "/api/schedules", json={"migration_id": mid, "kind": "cutover", "at": "2099-01-01T00:00:00Z"}
            )
            assert first.status_code == second.status_code == 201, (first.text, second.text)
            r = await http.post("/api/schedules", json=delta(mid, cron="@every 2h"))
            assert r.status_code == 409 and "2 schedules" in r.json()["detail"], r.text
            # Another tenant's quota is its own.
            theirs = await other.post("/api/schedules", json=delta(other_mid, every_minutes=60))
            assert theirs.status_code == 201, theirs.text
            # Deleting one makes room again.
            assert (await http.delete(f"/api/schedules/{first.json()['schedule_id']}")).status_code == 204
            again = await http.post("/api/schedules", json=delta(mid, cron="@every 2h"))
            assert again.status_code == 201, again.text
            for schedule_id, client in (
                (second.json()["schedule_id"], http),
                (again.json()["schedule_id"], http),
                (theirs.json()["schedule_id"], other),
            ):
                assert (await client.delete(f"/api/schedules/{schedule_id}")).status_code == 204
