"""Only money received unlocks a run: a signed `checkout.session.completed` without `payment_status == "paid"`
(missing, "unpaid" for a delayed payment, "no_payment_required") leaves the migration locked (issue 12)."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from migrayt.billing.gate import BillingSettings
from migrayt.billing.service import BillingService, PaymentRequired
from migrayt.billing.store import Checkout
from migrayt.connections import SourceConnection, TargetConnection
from migrayt.mapping.plan import default_plan
from tests.billing.test_checkout import WEBHOOK_SECRET, signed

TENANT = "billing-status-co"


def event(session_id: str, kind: str = "checkout.session.completed", **status: str) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{kind}_{time.time_ns()}",
            "object": "event",
            "type": kind,
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "customer": "cus_1",
                    "subscription": "sub_1",
                    "status": "complete",
                    "mode": "subscription",
                    **status,
                }
            },
        }
    ).encode()


@pytest.fixture
async def billing(stack):
    service = BillingService(
        stack.settings,
        stack.service.sessions,
        BillingSettings(
            billing="stripe", stripe_api_key=SecretStr("sk_test_x"), stripe_webhook_secret=SecretStr(WEBHOOK_SECRET)
        ),
    )
    migration_id = await stack.service.create_migration(
        TENANT,
        "billing status",
        SourceConnection(organization_url="http://ado.invalid", project="P", pat_ref="env:X"),
        TargetConnection(base_url="http://jira.invalid", project_key="PHX", email="a@b.c", token_ref="env:Y"),
        default_plan(),
        actor="tests",
        door="api",
    )
    session_id = f"cs_test_{time.time_ns()}"
    async with stack.service.sessions() as session:
        session.add(
            Checkout(
                id=session_id, tenant_id=TENANT, migration_id=migration_id, quote={}, status="open", created_by="tests"
            )
        )
        await session.commit()
    return service, migration_id, session_id


async def test_a_completed_checkout_unlocks_runs_only_when_paid(billing):
    service, migration_id, session_id = billing
    for not_paid in ({}, {"payment_status": "unpaid"}, {"payment_status": "no_payment_required"}):
        payload = event(session_id, **not_paid)
        answer = await service.handle_webhook(payload, signed(payload))
        assert "still locked" in answer, (not_paid, answer)
        with pytest.raises(PaymentRequired):
            await service.require_paid(TENANT, migration_id)
        assert (await service.latest_checkout(TENANT, migration_id)).status == "open"

    # A delayed payment that arrives later is Stripe's async_payment_succeeded, with the status paid.
    payload = event(session_id, "checkout.session.async_payment_succeeded", payment_status="paid")
    assert "unlocked" in await service.handle_webhook(payload, signed(payload))
    await service.require_paid(TENANT, migration_id)
    assert (await service.latest_checkout(TENANT, migration_id)).status == "paid"
