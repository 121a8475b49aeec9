"""The run gate: with billing on (`MIGRAYT_BILLING=stripe`), a migration runs only once its checkout completed.

No API imports here, so the service module can ask it without an import cycle.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.billing.store import Checkout


class BillingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIGRAYT_", env_file=".env", extra="ignore")

    billing: Literal["off", "stripe"] = "off"
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # Another API host (stripe-mock, a recording test server); unset means Stripe itself.
    stripe_api_base: str | None = None
    # The recurring metered price per unit of the price table ({"item": "price_…", "worklog": "price_…"}, JSON in
    # MIGRAYT_STRIPE_PRICES); each price's meter counts the events "<stripe_meter_prefix>_<unit>", and its amount must
    # be the price table's (the checkout checks). `stripe_price_id` alone: the price of "item".
    stripe_prices: dict[str, str] = {}
    stripe_price_id: str | None = None
    stripe_meter_prefix: str = "migrayt"
    # The one meter of reports made before units (flat writes): only an interrupted one of those is ever resent.
    stripe_meter_event: str = "migrayt_writes"
    checkout_success_url: str | None = None
    checkout_cancel_url: str | None = None
    meter_interval_seconds: float = 15.0

    @property
    def enabled(self) -> bool:
        return self.billing == "stripe"

    def prices(self) -> dict[str, str]:
        """Unit → Stripe price id."""
        if self.stripe_price_id and "item" not in self.stripe_prices:
            return {"item": self.stripe_price_id, **self.stripe_prices}
        return dict(self.stripe_prices)


async def paid_checkout(session: AsyncSession, migration_id: str) -> Checkout | None:
    return await session.scalar(
        select(Checkout)
        .where(Checkout.migration_id == migration_id, Checkout.status == "paid")
        .order_by(Checkout.paid_at.desc())
        .limit(1)
    )


async def unpaid_reason(session: AsyncSession, migration_id: str, billing: BillingSettings | None = None) -> str | None:
    """Why the migration may not run yet (None: it may): billing on and no completed checkout."""
    if not (billing or BillingSettings()).enabled or await paid_checkout(session, migration_id) is not None:
        return None
    return (
        f"migration {migration_id} has no completed checkout: pay the quote first "
        f"(POST /api/migrations/{migration_id}/checkout, then complete it in Stripe)"
    )
