"""Usage metering resends an interrupted report under the same identifier and never counts a write twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from migrayt.billing.gate import BillingSettings
from migrayt.billing.meter import UsageMeter
from migrayt.billing.service import BillingService
from migrayt.billing.store import Checkout, UsageReport
from migrayt.core.errors import RunConflict
from migrayt.mapping.plan import default_plan
from migrayt.store.models import ItemRecord, Migration, Run
from tests.billing.stripe_server import stripe_stand_in


async def test_interrupted_report_is_resent_with_its_identifier_then_only_new_writes(stack):
    mig, run = "mig-meter-0001", "run-meter-0001"
    paid_at = datetime.now(UTC) - timedelta(minutes=1)
    async with stack.service.sessions() as session:
        session.add(
            Migration(id=mig, tenant_id="meter-co", name="m", source={}, target={}, plan=default_plan().model_dump())
        )
        await session.flush()
        session.add(
            Checkout(
                id="cs_meter_1",
                tenant_id="meter-co",
                migration_id=mig,
                quote={},
                status="paid",
                customer_id="cus_m",
                created_by="t",
                paid_at=paid_at,
            )
        )
        session.add(
            Run(id=run, migration_id=mig, tenant_id="meter-co", status="RUNNING", phase="create_items", counters={})
        )
        for n in range(8):
            session.add(
                ItemRecord(
                    migration_id=mig,
                    kind="issue",
                    source_key=str(n),
                    target_key=f"M-{n}",
                    state="done",
                    run_id=run,
                    detail={},
                )
            )
        session.add(
            ItemRecord(
                migration_id=mig, kind="user", source_key="u@x", target_key="acc", state="done", run_id=run, detail={}
            )
        )
        # A report of 5 writes was on its way when the worker died: intent recorded, outcome unknown.
        session.add(UsageReport(run_id=run, migration_id=mig, customer_id="cus_m", reported_writes=0, pending_writes=5))
        await session.commit()

    async with stripe_stand_in() as stripe_api:
        billing = BillingSettings(
            billing="stripe", stripe_api_key=SecretStr("sk_test_m"), stripe_api_base=stripe_api.url
        )
        meter = UsageMeter(stack.service.sessions, billing)
        assert await meter.report_once() == 8
        assert await meter.report_once() == 0
        events = [
            (e.form["identifier"], e.form["payload[value]"])
            for e in stripe_api.calls("/v1/billing/meter_events")
            if e.form["identifier"].startswith(run)
        ]
        assert events == [(f"{run}:0-5", "5"), (f"{run}:5-8", "3")]

    off = BillingService(stack.settings, stack.service.sessions, BillingSettings(billing="off"))
    with pytest.raises(RunConflict, match="billing is off"):
        await off.create_checkout("meter-co", mig, actor="t", door="api")
    await off.require_paid("meter-co", mig)  # off: every migration may run


async def test_with_billing_off_the_webhook_is_not_there(stack):
    import httpx

    from migrayt.api.app import create_app

    app = create_app(stack.settings)
    app.state.service = stack.service
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost", timeout=10
    ) as http:
        r = await http.post("/api/billing/webhook", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
        assert r.status_code == 404 and "billing is off" in r.json()["detail"]


async def test_units_go_each_to_their_meter_adopted_issues_unbilled_and_an_interrupted_report_resent(stack):
    mig, run = "mig-meter-0002", "run-meter-0002"
    paid_at = datetime.now(UTC) - timedelta(minutes=1)
    async with stack.service.sessions() as session:
        session.add(
            Migration(id=mig, tenant_id="meter-co", name="m", source={}, target={}, plan=default_plan().model_dump())
        )
        await session.flush()
        session.add(
            Checkout(
                id="cs_meter_2",
                tenant_id="meter-co",
                migration_id=mig,
                quote={},
                status="paid",
                customer_id="cus_u",
                created_by="t",
                paid_at=paid_at,
            )
        )
        session.add(Run(id=run, migration_id=mig, tenant_id="meter-co", status="RUNNING", phase="7pace", counters={}))
        records = [("issue", str(n), {"adopted": True} if n < 2 else {}) for n in range(6)]
        records += [("worklog", f"5:w{n}", {"seconds": 60}) for n in range(3)]
        records += [("link", "1:2:Related", {}), ("comment", "5:1", {}), ("user", "u@x", {})]
        for kind, key, detail in records:
            session.add(
                ItemRecord(
                    migration_id=mig,
                    kind=kind,
                    source_key=key,
                    target_key="t",
                    state="done",
                    run_id=run,
                    detail=detail,
                )
            )
        # A report of 2 worklogs was on its way when the worker died.
        session.add(
            UsageReport(
                run_id=run, unit="worklog", migration_id=mig, customer_id="cus_u", reported_writes=0, pending_writes=2
            )
        )
        await session.commit()

    async with stripe_stand_in() as stripe_api:
        billing = BillingSettings(
            billing="stripe", stripe_api_key=SecretStr("sk_test_u"), stripe_api_base=stripe_api.url
        )
        meter = UsageMeter(stack.service.sessions, billing)
        # Four issues written (two adopted from another migration are not), three worklogs; links and comments
        # come with their item.
        assert await meter.report_once() == 7
        assert await meter.report_once() == 0
        events = sorted(
            (e.form["event_name"], e.form["identifier"], e.form["payload[value]"])
            for e in stripe_api.calls("/v1/billing/meter_events")
            if e.form["identifier"].startswith(run)
        )
        assert events == [
            ("migrayt_item", f"{run}:item:0-4", "4"),
            ("migrayt_worklog", f"{run}:worklog:0-2", "2"),
            ("migrayt_worklog", f"{run}:worklog:2-3", "1"),
        ]
