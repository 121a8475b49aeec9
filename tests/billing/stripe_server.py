"""A local stand-in for api.stripe.com that records what the real `stripe` client sends."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Price:
    """A recurring metered price: its amount per unit in cents (a decimal string, as Stripe's `unit_amount_decimal`)
    and the meter event it counts."""

    unit_amount_decimal: str
    meter_event: str
    currency: str = "usd"


@dataclass
class StripeStandIn:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    prices: dict[str, Price] = field(default_factory=dict)

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


def _app(stand_in: StripeStandIn) -> FastAPI:
    app = FastAPI()
    ids = itertools.count(1)
    by_key: dict[str, dict] = {}

    async def record(request: Request) -> Recorded:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        rec = Recorded(request.method, request.url.path, form, {k.lower(): v for k, v in request.headers.items()})
        stand_in.requests.append(rec)
        return rec

    @app.post("/v1/checkout/sessions")
    async def checkout(request: Request) -> JSONResponse:
        rec = await record(request)
        key = rec.headers.get("idempotency-key")
        if key and key in by_key:  # as Stripe: the same key answers the same object
            return JSONResponse(by_key[key])
        sid = f"cs_test_{secrets.token_hex(4)}{next(ids):04d}"  # unique across stand-ins: tests share one database
        body = {
            "id": sid,
            "object": "checkout.session",
            "mode": rec.form.get("mode"),
            "status": "open",
            "livemode": False,
            "url": f"https://checkout.stripe.test/c/pay/{sid}",
            "client_reference_id": rec.form.get("client_reference_id"),
            "metadata": {k[9:-1]: v for k, v in rec.form.items() if k.startswith("metadata[")},
        }
        if key:
            by_key[key] = body
        return JSONResponse(body)

    @app.get("/v1/prices/{price_id}")
    async def price(price_id: str, request: Request) -> JSONResponse:
        await record(request)
        p = stand_in.prices.get(price_id)
        if p is None:
            message = f"No such price: '{price_id}'"
            return JSONResponse({"error": {"type": "invalid_request_error", "message": message}}, status_code=404)
        return JSONResponse(
            {
                "id": price_id,
                "object": "price",
                "currency": p.currency,
                "unit_amount_decimal": p.unit_amount_decimal,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": p.meter_event},
            }
        )

    @app.post("/v1/invoices/create_preview")
    async def invoice_preview(request: Request) -> JSONResponse:
        """The subscription's next invoice, as Stripe bills metered prices: per subscribed price, the meter's events
        for the customer (one per identifier: Stripe deduplicates) times its unit amount."""
        rec = await record(request)
        [checkout] = [r for r in stand_in.requests if r.path == "/v1/checkout/sessions"][-1:]
        subscribed = [v for k, v in checkout.form.items() if k.startswith("line_items[") and k.endswith("[price]")]
        customer = rec.form.get("customer")
        events: dict[str, tuple[str, int]] = {}
        for r in stand_in.calls("/v1/billing/meter_events"):
            if customer is None or r.form.get("payload[stripe_customer_id]") == customer:
                events.setdefault(r.form["identifier"], (r.form["event_name"], int(r.form["payload[value]"])))
        lines = []
        for price_id in subscribed:
            p = stand_in.prices[price_id]
            quantity = sum(v for name, v in events.values() if name == p.meter_event)
            amount = int((Decimal(p.unit_amount_decimal) * quantity).quantize(Decimal(1), ROUND_HALF_UP))
            lines.append(
                {
                    "object": "line_item",
                    "amount": amount,
                    "currency": p.currency,
                    "quantity": quantity,
                    "pricing": {"price_details": {"price": price_id}},
                }
            )
        total = sum(line["amount"] for line in lines)
        return JSONResponse(
            {"object": "invoice", "currency": "usd", "lines": {"object": "list", "data": lines}, "total": total}
        )

    @app.post("/v1/billing/meter_events")
    async def meter_event(request: Request) -> JSONResponse:
        rec = await record(request)
        return JSONResponse(
            {
                "object": "billing.meter_event",
                "created": int(time.time()),
                "livemode": False,
                "event_name": rec.form.get("event_name"),
                "identifier": rec.form.get("identifier"),
                "payload": {k[8:-1]: v for k, v in rec.form.items() if k.startswith("payload[")},
                "timestamp": int(rec.form.get("timestamp") or 0),
            }
        )

    return app


@asynccontextmanager
async def stripe_stand_in(prices: dict[str, Price] | None = None) -> AsyncIterator[StripeStandIn]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stand_in = StripeStandIn(url=f"http://127.0.0.1:{port}", prices=dict(prices or {}))
    server = uvicorn.Server(uvicorn.Config(_app(stand_in), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield stand_in
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
