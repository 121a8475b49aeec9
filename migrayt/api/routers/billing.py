"""Checkout: a Stripe Checkout Session for the migration's quote; Stripe's webhook unlocks the run."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request
from pydantic import BaseModel

from migrayt.api.auth import CurrentPrincipal
from migrayt.billing.service import (
    BadSignature,
    BillingMisconfigured,
    BillingService,
    CheckoutView,
    PaymentProviderError,
)
from migrayt.core.runs import MigrationService

router = APIRouter(prefix="/api", tags=["checkout"])
log = logging.getLogger("migrayt.billing")

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
MigrationId = Annotated[str, Path(pattern=ID_PATTERN, description="a migration id (mig-…)")]


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, read as a stream and refused at the first chunk past `limit` (never buffered whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"webhook body too large: at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"webhook body too large: at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def billing_service(request: Request) -> BillingService:
    svc = request.app.state.service
    return BillingService(svc.settings, svc.sessions)


Billing = Annotated[BillingService, Depends(billing_service)]


async def owned(request: Request, migration_id: str, tenant: str) -> None:
    """Another tenant's migration is 404 before anything else is said (billing off, no quote…), so ids don't leak."""
    service: MigrationService = request.app.state.service
    await service.get_migration(tenant, migration_id)  # NotFound → 404


class WebhookAnswer(BaseModel):
    received: bool
    outcome: str


@router.post(
    "/migrations/{migration_id}/checkout",
    response_model=CheckoutView,
    status_code=201,
    summary="A Stripe Checkout Session for the latest quote (usage-based: billed per write)",
    responses={
        404: {"description": "no such migration for this tenant (checked first)"},
        409: {"description": "billing is off, or no quote yet (scan first)"},
        502: {"description": "Stripe refused or is unreachable"},
    },
)
async def create_checkout(
    request: Request, migration_id: MigrationId, billing: Billing, who: CurrentPrincipal
) -> CheckoutView:
    await owned(request, migration_id, who.tenant)
    try:
        return await billing.create_checkout(who.tenant, migration_id, actor=who.actor, door=who.door)
    except BillingMisconfigured as err:
        raise HTTPException(503, str(err)) from None
    except PaymentProviderError as err:
        raise HTTPException(502, str(err)) from None


@router.get(
    "/migrations/{migration_id}/checkout", response_model=CheckoutView, summary="The migration's latest checkout"
)
async def get_checkout(
    request: Request, migration_id: MigrationId, billing: Billing, who: CurrentPrincipal
) -> CheckoutView:
    await owned(request, migration_id, who.tenant)
    return await billing.latest_checkout(who.tenant, migration_id)


@router.post(
    "/billing/webhook",
    response_model=WebhookAnswer,
    summary="Stripe webhook (signed; `checkout.session.completed` unlocks the run)",
    responses={
        400: {"description": "bad or missing Stripe-Signature: nothing changed"},
        404: {"description": "billing is off"},
    },
)
async def webhook(
    request: Request, billing: Billing, stripe_signature: Annotated[str | None, Header()] = None
) -> WebhookAnswer:
    if not billing.billing.enabled:
        raise HTTPException(404, "billing is off on this server (MIGRAYT_BILLING=off): no webhooks are expected")
    payload = await read_capped(request, request.app.state.settings.max_webhook_bytes)
    try:
        outcome = await billing.handle_webhook(payload, stripe_signature)
    except BadSignature as err:
        raise HTTPException(400, str(err)) from None
    except BillingMisconfigured as err:
        raise HTTPException(503, str(err)) from None
    log.info("stripe webhook: %s", outcome)
    return WebhookAnswer(received=True, outcome=outcome)
