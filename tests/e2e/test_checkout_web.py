"""The web checkout with billing on: a real Stripe Checkout Session (the `stripe` client against a recording
stand-in), the browser sent to its URL, and the page showing the latest checkout's status until Stripe's webhook."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import Page, Route, expect

from migrayt.sandbox.testing import running_sandbox
from tests.billing.stripe_server import stripe_stand_in
from tests.billing.test_checkout import PRICE, PRICES, WEBHOOK_SECRET, WORKLOG_PRICE, completed_event, signed
from tests.e2e.conftest import TENANT, screenshot
from tests.e2e.test_run_controls import approved_migration

STRIPE_PAGE = "<html><body><h1 id='stripe'>Stripe Checkout (test stand-in)</h1></body></html>"


@pytest.fixture
def small_sandbox():
    with running_sandbox(items=6, seed=47) as server:
        yield server


async def test_pay_with_stripe_from_the_checkout_page(web, page: Page, small_sandbox, monkeypatch):
    migration_id = await approved_migration(web, small_sandbox)
    async with stripe_stand_in(PRICES) as stripe_api:
        for name, value in dict(
            MIGRAYT_BILLING="stripe",
            MIGRAYT_STRIPE_API_KEY="sk_test_local",
            MIGRAYT_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            MIGRAYT_STRIPE_API_BASE=stripe_api.url,
            MIGRAYT_STRIPE_PRICES=json.dumps({"item": PRICE, "worklog": WORKLOG_PRICE}),
        ).items():
            monkeypatch.setenv(name, value)
        # The browser cannot reach Stripe from here: the checkout page's host answers with a stand-in page.
        stripe_pages: list[str] = []

        async def stripe_checkout(route: Route) -> None:
            stripe_pages.append(route.request.url)
            await route.fulfill(status=200, content_type="text/html", body=STRIPE_PAGE)

        await page.route("https://checkout.stripe.test/**", stripe_checkout)
        checkout_url = f"{web.url}/app/migrations/{migration_id}/checkout"

        # No quote yet: the service's reason on the page, and no session at Stripe.
        await page.goto(checkout_url)
        await expect(page.locator("#billing-off")).to_have_count(0)
        await page.get_by_role("button", name="Pay with Stripe").click()
        await expect(page.locator(".alert.error")).to_contain_text("no quote yet")
        assert stripe_api.calls("/v1/checkout/sessions") == []

        scan_id = await web.intake.start_scan(TENANT, migration_id, "setup", "api", draft_plan=False)
        await web.intake.scan_result(scan_id)
        await page.goto(checkout_url)
        await screenshot(page, "17-checkout-billing-on")
        await page.get_by_role("button", name="Pay with Stripe").click()
        await expect(page).to_have_url(re.compile(r"^https://checkout\.stripe\.test/c/pay/cs_test_\w+$"))
        await expect(page.locator("#stripe")).to_be_visible()
        session_id = page.url.rsplit("/", 1)[-1]
        [sent] = stripe_api.calls("/v1/checkout/sessions")
        assert sent.form["client_reference_id"] == migration_id and sent.form["line_items[0][price]"] == PRICE

        # Back on the page before paying: the open checkout, and the button leads to the same session.
        await page.goto(checkout_url)
        await expect(page.locator("#checkout-id")).to_have_text(session_id)
        await expect(page.locator("#checkout-status")).to_have_text("open")
        await screenshot(page, "18-checkout-open")
        await page.get_by_role("button", name="Continue to Stripe").click()
        await expect(page).to_have_url(re.compile(re.escape(session_id) + "$"))
        assert len(stripe_pages) == 2

        # Stripe's signed event marks it paid; the page says so and the run is unlocked.
        event = completed_event(session_id)
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.post(
                f"{web.url}/api/billing/webhook", content=event, headers={"Stripe-Signature": signed(event)}
            )
            assert r.status_code == 200, r.text
        await page.goto(checkout_url)
        await expect(page.locator("#paid")).to_contain_text("the run is unlocked")
        await expect(page.locator("#checkout-status")).to_have_text("paid")
        await expect(page.get_by_role("button", name=re.compile("Pay with Stripe|Continue to Stripe"))).to_have_count(0)
        await screenshot(page, "19-checkout-paid")

        events = await web.service.audit_events(TENANT, migration_id=migration_id, limit=1000)
        assert [(e.action, e.door) for e in events if e.action == "checkout_created"] == [("checkout_created", "web")]
