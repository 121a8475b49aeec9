"""Usage metering: the writes each paid run makes, reported to Stripe as billing meter events.

A write is an item record the run completed (issues, links, files, comments, transitions...;
user lookups are not writes). The worker reports every `meter_interval_seconds` while runs proceed.
Exactly once: the amount about to be sent is recorded first (`pending_writes`), and each event's
identifier is `run:from-to`, so a report interrupted after Stripe took it is resent under the same
identifier, which Stripe deduplicates. One reporter at a time (a PostgreSQL advisory lock), however
many workers run.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.billing.gate import BillingSettings
from migrayt.billing.service import stripe_client
from migrayt.billing.store import Checkout, UsageReport
from migrayt.contracts.record_kinds import USER
from migrayt.store.db import engine_of
from migrayt.store.models import ItemRecord, Run

log = logging.getLogger("migrayt.billing")
LOCK_KEY = 0x6D696772_6D657472 & 0x7FFFFFFFFFFFFFFF  # "migrmetr"
NOT_WRITES = (USER,)


class UsageMeter:
    def __init__(self, sessions: async_sessionmaker, billing: BillingSettings) -> None:
        self._sessions = sessions
        self._billing = billing
        self._stripe = stripe_client(billing)

    async def report_once(self) -> int:
        """Report what is unreported; returns how many writes were sent this time."""
        engine = engine_of(self._sessions)
        async with engine.connect() as lock:
            if not await lock.scalar(select(func.pg_try_advisory_lock(LOCK_KEY))):
                return 0
            try:
                return await self._report()
            finally:
                await lock.scalar(select(func.pg_advisory_unlock(LOCK_KEY)))

    async def _report(self) -> int:
        writes = (
            select(ItemRecord.run_id, func.count().label("n"))
            .where(ItemRecord.state == "done", ItemRecord.kind.not_in(NOT_WRITES))
            .group_by(ItemRecord.run_id)
            .subquery()
        )
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Run.id,
                        Run.migration_id,
                        Checkout.customer_id,
                        writes.c.n,
                        UsageReport.reported_writes,
                        UsageReport.pending_writes,
                    )
                    .join(
                        Checkout,
                        and_(
                            Checkout.migration_id == Run.migration_id,
                            Checkout.status == "paid",
                            Checkout.customer_id.is_not(None),
                        ),
                    )
                    .join(writes, writes.c.run_id == Run.id)
                    .outerjoin(UsageReport, UsageReport.run_id == Run.id)
                    .where(Run.started_at >= Checkout.paid_at)
                )
            ).all()
        sent = 0
        for run_id, migration_id, customer, n, reported, pending in rows:
            reported = reported or 0
            if pending and pending > reported:
                await self._send(run_id, customer, reported, pending)  # an earlier report may not have landed
                sent += pending - reported
                reported = pending
                await self._save(run_id, migration_id, customer, reported, pending)
            if n > reported:
                await self._save(run_id, migration_id, customer, reported, n)  # intent first
                await self._send(run_id, customer, reported, n)
                await self._save(run_id, migration_id, customer, n, n)
                sent += n - reported
        return sent

    async def _send(self, run_id: str, customer: str, start: int, end: int) -> None:
        await self._stripe.v1.billing.meter_events.create_async(
            {
                "event_name": self._billing.stripe_meter_event,
                "payload": {"stripe_customer_id": customer, "value": str(end - start)},
                "identifier": f"{run_id}:{start}-{end}",
                "timestamp": int(time.time()),
            }
        )

    async def _save(self, run_id: str, migration_id: str, customer: str, reported: int, pending: int) -> None:
        async with self._sessions() as session:
            stmt = insert(UsageReport).values(
                run_id=run_id,
                migration_id=migration_id,
                customer_id=customer,
                reported_writes=reported,
                pending_writes=pending,
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[UsageReport.run_id],
                    set_=dict(reported_writes=reported, pending_writes=pending, updated_at=func.now()),
                )
            )
            await session.commit()


async def meter_loop(sessions: async_sessionmaker, billing: BillingSettings) -> None:
    """Runs in the worker while billing is on; a failed report is retried at the next tick."""
    meter = UsageMeter(sessions, billing)
    while True:
        try:
            if sent := await meter.report_once():
                log.info("reported %d writes to Stripe", sent)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 — Stripe or the database unavailable: try again later
            log.warning(
                "usage report failed (%s); retrying in %.0fs", type(err).__name__, billing.meter_interval_seconds
            )
        await asyncio.sleep(billing.meter_interval_seconds)
