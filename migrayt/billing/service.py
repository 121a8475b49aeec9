"""Checkout for a quote (Stripe Checkout Session), the webhook that unlocks runs, the run gate.

Billing is off unless `MIGRAYT_BILLING=stripe`; then a migration runs only once a checkout of its
latest quote is paid (`checkout.session.completed` with `payment_status` "paid", signature verified by
the `stripe` library). The session is usage-based: a subscription to a metered price, and the writes each run
makes are reported as billing meter events while it runs (see meter.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import stripe
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.billing.gate import BillingSettings, paid_checkout, unpaid_reason
from migrayt.billing.store import Checkout
from migrayt.core.errors import NotFound, RunConflict
from migrayt.core.ownership import owned
from migrayt.intake.catalog import Catalog
from migrayt.intake.quote import quote as quote_of
from migrayt.intake.verdict import preview_refusal
from migrayt.mapping.plan import MappingPlan
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, Migration, Scan

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParamsLineItem

STRIPE_TIMEOUT_SECONDS = 20


def _digest(line_items: list[SessionCreateParamsLineItem]) -> str:
    return hashlib.sha256(json.dumps(line_items, sort_keys=True).encode()).hexdigest()[:12]


class BillingMisconfigured(Exception):
    pass


class PaymentRequired(RunConflict):
    """Billing is on and the migration's quote has not been paid: no run starts (HTTP 409)."""


class PaymentProviderError(Exception):
    """Stripe refused or could not be reached (a wrong key, an outage): HTTP 502, the key never named."""


class BadSignature(Exception):
    """The webhook was not signed by Stripe with our secret: nothing is changed (HTTP 400)."""


class CheckoutView(BaseModel):
    checkout_id: str
    migration_id: str
    scan_id: str | None
    status: str
    url: str | None
    quote: dict[str, Any]
    created_at: datetime | None = None
    paid_at: datetime | None = None


def stripe_client(billing: BillingSettings) -> stripe.StripeClient:
    if billing.stripe_api_key is None:
        raise BillingMisconfigured("MIGRAYT_BILLING=stripe needs MIGRAYT_STRIPE_API_KEY")
    return stripe.StripeClient(
        billing.stripe_api_key.get_secret_value(),
        base_addresses={"api": billing.stripe_api_base} if billing.stripe_api_base else None,
        http_client=stripe.HTTPXClient(timeout=STRIPE_TIMEOUT_SECONDS),
        max_network_retries=3,
    )


def _view(c: Checkout) -> CheckoutView:
    return CheckoutView(
        checkout_id=c.id,
        migration_id=c.migration_id,
        scan_id=c.scan_id,
        status=c.status,
        url=c.url,
        quote=c.quote or {},
        created_at=c.created_at,
        paid_at=c.paid_at,
    )


class BillingService:
    def __init__(
        self, settings: Settings, sessions: async_sessionmaker, billing: BillingSettings | None = None
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.billing = billing or BillingSettings()

    async def require_paid(self, tenant: str, migration_id: str) -> None:
        async with self.sessions() as session:
            if reason := await unpaid_reason(session, migration_id, self.billing):
                raise PaymentRequired(reason)

    async def create_checkout(self, tenant: str, migration_id: str, actor: str, door: str) -> CheckoutView:
        async with self.sessions() as session:
            await owned(session, Migration, migration_id, tenant, "migration")
            if refused := await preview_refusal(session, migration_id):
                raise RunConflict(refused)  # never take payment for a run that cannot start
        if not self.billing.enabled:
            raise RunConflict("billing is off on this server (MIGRAYT_BILLING=off): runs need no checkout")
        if not self.billing.prices():
            raise BillingMisconfigured(
                "MIGRAYT_BILLING=stripe needs MIGRAYT_STRIPE_PRICES (a metered price per unit) "
                "or MIGRAYT_STRIPE_PRICE_ID"
            )
        async with self.sessions() as session:
            migration = await owned(session, Migration, migration_id, tenant, "migration")
            if (paid := await paid_checkout(session, migration_id)) is not None:
                return _view(paid)
            scan = await session.scalar(
                select(Scan)
                .where(Scan.migration_id == migration_id, Scan.status == "COMPLETED")
                .order_by(Scan.finished_at.desc())
                .limit(1)
            )
        if scan is None or not scan.quote:
            raise RunConflict(
                f"migration {migration_id} has no quote yet: scan the source first (the quote comes from the scan)"
            )
        # Priced again with the plan as it stands: a plugin left out since the scan is not quoted (nor billed).
        plan = MappingPlan.model_validate(migration.plan) if migration.plan else None
        quote = quote_of(Catalog.model_validate(scan.catalog or {}), self.settings.price_table, plan).model_dump(
            mode="json"
        )
        line_items = await self._line_items(quote)
        base = f"http://{self.settings.api_host}:{self.settings.api_port}"
        metadata = {
            "tenant": tenant,
            "migration_id": migration_id,
            "scan_id": scan.id,
            "quote_total": str(quote.get("total", "")),
        }
        try:
            session_obj = await stripe_client(self.billing).v1.checkout.sessions.create_async(
                {
                    "mode": "subscription",
                    "line_items": line_items,  # metered, one price per unit: billed by the units reported
                    "client_reference_id": migration_id,
                    "metadata": metadata,
                    "subscription_data": {
                        "metadata": metadata,
                        "description": (
                            f"Migrayt: {migration.name} — quoted {quote.get('total')} "
                            f"{quote.get('currency', 'USD')}, billed per unit written"
                        ),
                    },
                    "success_url": self.billing.checkout_success_url
                    or f"{base}/app/migrations/{migration_id}/checkout?checkout=done",
                    "cancel_url": self.billing.checkout_cancel_url
                    or f"{base}/app/migrations/{migration_id}/checkout?checkout=cancelled",
                },
                # The same quote asked twice is the same session, not a second one.
                options={"idempotency_key": f"checkout-{migration_id}-{scan.id}-{_digest(line_items)}"},
            )
        except stripe.StripeError as err:
            # Stripe's own wording for people (never the request, which carries the key).
            message = getattr(err, "user_message", None) or type(err).__name__
            raise PaymentProviderError(f"Stripe did not create the checkout: {message}") from None
        async with self.sessions() as session:
            checkout = await session.get(Checkout, session_obj.id)
            if checkout is None:
                checkout = Checkout(
                    id=session_obj.id,
                    tenant_id=tenant,
                    migration_id=migration_id,
                    scan_id=scan.id,
                    quote=quote,
                    status="open",
                    url=session_obj.url,
                    created_by=actor,
                )
                session.add(checkout)
                session.add(
                    AuditEvent(
                        tenant_id=tenant,
                        migration_id=migration_id,
                        action="checkout_created",
                        actor=actor,
                        door=door,
                        detail={"checkout_id": session_obj.id, "quote_total": quote.get("total")},
                    )
                )
                await session.commit()
                await session.refresh(checkout)
        return _view(checkout)

    async def _line_items(self, quote: dict[str, Any]) -> list[SessionCreateParamsLineItem]:
        """One metered Stripe price per quoted unit, each checked against the price table: Stripe charges exactly
        what the quote says, or no checkout is made."""
        prices = self.billing.prices()
        client = stripe_client(self.billing)
        items: list[SessionCreateParamsLineItem] = []
        for line in quote.get("lines") or []:
            unit = line["what"]
            if not line.get("quantity"):
                continue
            if unit not in prices:
                raise BillingMisconfigured(f"MIGRAYT_STRIPE_PRICES has no Stripe price for the unit {unit!r}")
            try:
                price = (await client.v1.prices.retrieve_async(prices[unit])).to_dict()
            except stripe.StripeError as err:
                message = getattr(err, "user_message", None) or type(err).__name__
                raise PaymentProviderError(
                    f"Stripe did not create the checkout: the price of {unit!r} could not be read: {message}"
                ) from None
            charged = Decimal(str(price.get("unit_amount_decimal") or price.get("unit_amount") or 0))
            quoted = Decimal(str(line["unit_price"])) * 100
            if charged != quoted or str(price.get("currency") or "").lower() != str(quote.get("currency")).lower():
                raise BillingMisconfigured(
                    f"Stripe price {prices[unit]} charges {charged} cents ({price.get('currency')}) per {unit}, the "
                    f"price table {quoted} cents ({quote.get('currency')}): make them agree"
                )
            items.append({"price": prices[unit]})
        return items

    async def latest_checkout(self, tenant: str, migration_id: str) -> CheckoutView:
        async with self.sessions() as session:
            checkout = await session.scalar(
                select(Checkout)
                .where(Checkout.migration_id == migration_id, Checkout.tenant_id == tenant)
                .order_by(Checkout.created_at.desc())
                .limit(1)
            )
        if checkout is None:
            raise NotFound(f"migration {migration_id} has no checkout")
        return _view(checkout)

    async def handle_webhook(self, payload: bytes, signature: str | None) -> str:
        """Verify Stripe's signature, then apply the event; returns what was done (for the log)."""
        secret = self.billing.stripe_webhook_secret
        if secret is None:
            raise BillingMisconfigured("MIGRAYT_STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified")
        try:
            event = stripe.Webhook.construct_event(payload, signature or "", secret.get_secret_value())
        except (stripe.SignatureVerificationError, ValueError) as err:
            raise BadSignature(f"webhook refused: {type(err).__name__}") from None
        # A session paid later (bank debits) completes "unpaid", then Stripe sends async_payment_succeeded.
        if event.type not in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            return f"ignored {event.type}"
        obj = event.data.object.to_dict()
        return await self._completed(
            str(obj["id"]), obj.get("customer"), obj.get("subscription"), obj.get("payment_status")
        )

    async def _completed(
        self, session_id: str, customer: str | None, subscription: str | None, payment_status: str | None
    ) -> str:
        async with self.sessions() as session:
            checkout = await session.get(Checkout, session_id, with_for_update=True)
            if checkout is None:
                return f"no checkout {session_id} here"
            if checkout.status == "paid":
                return f"checkout {session_id} already paid"  # Stripe delivers at least once
            # Only money received unlocks a run: a completed session may be unpaid (a delayed payment
            # still pending) or say nothing about payment at all.
            if payment_status != "paid":
                status = payment_status or "missing"
                return f"checkout {session_id} completed with payment status {status}: still locked"
            checkout.status = "paid"
            checkout.customer_id = customer
            checkout.subscription_id = subscription
            checkout.paid_at = datetime.now(UTC)
            session.add(
                AuditEvent(
                    tenant_id=checkout.tenant_id,
                    migration_id=checkout.migration_id,
                    action="checkout_completed",
                    actor="stripe",
                    door="stripe",
                    detail={"checkout_id": session_id},
                )
            )
            await session.commit()
        return f"checkout {session_id} paid: migration unlocked"
