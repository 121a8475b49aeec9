"""Checkout with the real `stripe` client against a recording stand-in: session, webhook, metering — and for a full
run, the meter events and the invoice lines equal the quote, unit by unit."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import stripe
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import func, select

from migrayt.contracts.runs import RunStatus
from migrayt.sandbox.generator import ProjectSpec
from migrayt.sandbox.testing import running_sandbox
from migrayt.store.models import ItemRecord
from migrayt.worker.main import run_worker
from tests.api.conftest import ADMIN_TOKEN, served
from tests.billing.stripe_server import Price, stripe_stand_in
from tests.integration.harness import create_sandbox_migration, structure_only_plan, wait_final

TENANT = "billing-co"
WEBHOOK_SECRET = "whsec_test_" + "k" * 24
PRICE = "price_test_metered_items"
WORKLOG_PRICE = "price_test_metered_worklogs"
TEST_PRICE = "price_test_metered_tests"
MEMBERSHIP_PRICE = "price_test_metered_test_memberships"
# What Stripe charges per unit, in cents: the price table's (0.02, 0.002, 0.01 and 0.001 USD), as the checkout checks.
PRICES = {
    PRICE: Price(unit_amount_decimal="2", meter_event="migrayt_item"),
    WORKLOG_PRICE: Price(unit_amount_decimal="0.2", meter_event="migrayt_worklog"),
    TEST_PRICE: Price(unit_amount_decimal="1", meter_event="migrayt_test"),
    MEMBERSHIP_PRICE: Price(unit_amount_decimal="0.1", meter_event="migrayt_test_membership"),
}
UNIT_PRICES = {"item": PRICE, "worklog": WORKLOG_PRICE, "test": TEST_PRICE, "test_membership": MEMBERSHIP_PRICE}
# Record kind of a done write → the unit the quote counts it as.
UNIT_OF_KIND = {"issue": "item", "worklog": "worklog", "xray_test": "test", "xray_membership": "test_membership"}


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's signature scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    at = at or int(time.time())
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def completed_event(session_id: str) -> bytes:
    return json.dumps(
        {
            "id": "evt_test_1",
            "object": "event",
            "type": "checkout.session.completed",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "customer": "cus_test_42",
                    "subscription": "sub_test_42",
                    "payment_status": "paid",
                    "status": "complete",
                    "mode": "subscription",
                }
            },
        }
    ).encode()


async def units_of(stack, run_id: str) -> dict[str, int]:
    """What the run wrote, in the quote's units: issues are items, 7pace worklogs worklogs, Xray tests and their
    places in Test Sets and Test Plans tests and test memberships."""
    async with stack.service.sessions() as session:
        rows = await session.execute(
            select(ItemRecord.kind, func.count())
            .where(ItemRecord.run_id == run_id, ItemRecord.state == "done", ItemRecord.kind.in_(UNIT_OF_KIND))
            .group_by(ItemRecord.kind)
        )
        by_kind = dict(rows.all())
    return {unit: by_kind.get(kind, 0) for kind, unit in UNIT_OF_KIND.items()}


async def test_checkout_unlocks_the_run_and_the_meter_and_the_invoice_equal_the_quote(stack, monkeypatch):
    async with stripe_stand_in(PRICES) as stripe_api:
        for name, value in dict(
            MIGRAYT_BILLING="stripe",
            MIGRAYT_STRIPE_API_KEY="sk_test_local",
            MIGRAYT_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            MIGRAYT_STRIPE_API_BASE=stripe_api.url,
            MIGRAYT_STRIPE_PRICES=json.dumps(UNIT_PRICES),
            MIGRAYT_METER_INTERVAL_SECONDS="0.5",
        ).items():
            monkeypatch.setenv(name, value)
        async with (
            run_worker(stack.settings, stack.client, stack.database_url),
            served(
                stack,
                auth="on",
                admin_token=SecretStr(ADMIN_TOKEN),
                secret_key=SecretStr(Fernet.generate_key().decode()),
            ) as api,
        ):
            token = await api.issue_token(TENANT)
            # A project with 7pace work logs and test cases, and the target's Xray key: every plugin runs.
            with running_sandbox(ProjectSpec(items=20, seed=91, test_management=True)) as sandbox:
                migration_id = await create_sandbox_migration(
                    stack, sandbox, plan=structure_only_plan(), tenant=TENANT, with_xray=True
                )
                async with api.client(token) as http, api.client() as anonymous:
                    # No quote yet: no checkout. Not paid: no run.
                    assert (await http.post(f"/api/migrations/{migration_id}/checkout")).status_code == 409
                    refused = await http.post(f"/api/migrations/{migration_id}/runs")
                    assert refused.status_code == 409 and "checkout" in refused.json()["detail"]

                    scan = (await http.post(f"/api/migrations/{migration_id}/scans", json={"draft_plan": False})).json()
                    for _ in range(200):
                        view = (await http.get(f"/api/scans/{scan['scan_id']}")).json()
                        if view["status"] != "RUNNING":
                            break
                        await asyncio.sleep(0.2)
                    assert view["status"] == "COMPLETED", view
                    quote = view["quote"]

                    r = await http.post(f"/api/migrations/{migration_id}/checkout")
                    assert r.status_code == 201, r.text
                    checkout = r.json()
                    assert checkout["status"] == "open" and checkout["url"].startswith("https://checkout.stripe.test/")
                    assert checkout["quote"] == quote
                    [sent] = stripe_api.calls("/v1/checkout/sessions")
                    assert sent.headers["authorization"] == "Bearer sk_test_local"
                    assert sent.form["mode"] == "subscription"
                    # One metered price per quoted unit: work items, the 7pace worklogs and the Xray tests and
                    # memberships the sandbox has.
                    assert [line["what"] for line in quote["lines"]] == list(UNIT_PRICES)
                    assert [sent.form[f"line_items[{n}][price]"] for n in range(len(UNIT_PRICES))] == list(
                        UNIT_PRICES.values()
                    )
                    assert sent.form["client_reference_id"] == migration_id and sent.form[
                        "metadata[quote_total]"
                    ] == str(quote["total"])
                    # Asked again: the same session, not a second one.
                    assert (await http.post(f"/api/migrations/{migration_id}/checkout")).json()[
                        "checkout_id"
                    ] == checkout["checkout_id"]

                    # A webhook not signed with our secret changes nothing.
                    event = completed_event(checkout["checkout_id"])
                    tampered = event.replace(b"cus_test_42", b"cus_attacker")
                    for body, headers in (
                        (event, {}),
                        (event, {"Stripe-Signature": signed(event, "whsec_someone_else")}),
                        (event, {"Stripe-Signature": signed(event, at=int(time.time()) - 3600)}),  # replayed
                        (tampered, {"Stripe-Signature": signed(event)}),
                    ):
                        r = await anonymous.post("/api/billing/webhook", content=body, headers=headers)
                        assert r.status_code == 400, (headers, r.text)
                    assert (await http.get(f"/api/migrations/{migration_id}/checkout")).json()["status"] == "open"
                    assert (await http.post(f"/api/migrations/{migration_id}/runs")).status_code == 409

                    # Stripe's signed event unlocks the run (delivered twice, applied once).
                    for _ in range(2):
                        r = await anonymous.post(
                            "/api/billing/webhook", content=event, headers={"Stripe-Signature": signed(event)}
                        )
                        assert r.status_code == 200, r.text
                    paid = (await http.get(f"/api/migrations/{migration_id}/checkout")).json()
                    assert paid["status"] == "paid" and paid["paid_at"]
                    started = await http.post(f"/api/migrations/{migration_id}/runs")
                    assert started.status_code == 202, started.text
                    run_id = started.json()["run_id"]
                    final = await wait_final(stack, TENANT, run_id)
                    assert final.status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)

                    # Every unit the run wrote reached Stripe as meter usage, once, on its unit's meter.
                    written = await units_of(stack, run_id)
                    # Shared steps are not issues of their own (expanded inside their tests): not quoted, not billed.
                    items = 20 - view["catalog"]["by_type"].get("Shared Steps", 0)
                    assert final.status == RunStatus.COMPLETED and written["item"] == items
                    assert written["worklog"] > 0 and written["test"] > 0 and written["test_membership"] > 0
                    deadline = time.monotonic() + 20
                    while True:
                        events = stripe_api.calls("/v1/billing/meter_events")
                        if sum(int(e.form["payload[value]"]) for e in events) >= sum(written.values()):
                            break
                        if time.monotonic() > deadline:
                            break
                        await asyncio.sleep(0.2)
                    metered: dict[str, int] = {}
                    for e in events:
                        unit = e.form["event_name"].removeprefix("migrayt_")
                        metered[unit] = metered.get(unit, 0) + int(e.form["payload[value]"])
                    assert {e.form["payload[stripe_customer_id]"] for e in events} == {"cus_test_42"}
                    # The meter and Stripe's invoice equal the quote, line by line: a quote that equals the bill.
                    assert metered == written == {line["what"]: line["quantity"] for line in quote["lines"]}
                    invoice = await stripe.StripeClient(
                        "sk_test_local", base_addresses={"api": stripe_api.url}
                    ).v1.invoices.create_preview_async({"subscription": "sub_test_42", "customer": "cus_test_42"})
                    billed = [(line["quantity"], line["amount"]) for line in invoice.to_dict()["lines"]["data"]]
                    assert billed == [(line["quantity"], round(line["amount"] * 100)) for line in quote["lines"]]
                    assert invoice["total"] == round(quote["total"] * 100)
                    identifiers = [e.form["identifier"] for e in events]
                    assert len(identifiers) == len(set(identifiers)) and all(
                        i.startswith(f"{run_id}:") for i in identifiers
                    )
