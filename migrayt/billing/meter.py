"""Usage metering: the units each paid run writes, reported to Stripe as billing meter events, one meter per unit.

A unit is what the quote prices (migrayt/intake/quote.py): a done item record of a billed kind — an issue is an
"item", a 7pace worklog a "worklog" — counted by the same table the quote counts from, so the bill equals the quote.
What another migration wrote and this one adopted is not billed. The worker reports every `meter_interval_seconds`
while runs proceed. Exactly once: the amount about to be sent is recorded first (`pending_writes`), and each event's
identifier is `run:unit:from-to`, so a report interrupted after Stripe took it is resent under the same identifier,
which Stripe deduplicates. One reporter at a time (a PostgreSQL advisory lock), however many workers run.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import and_, false, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.billing.gate import BillingSettings
from migrayt.billing.service import stripe_client
from migrayt.billing.store import Checkout, UsageReport
from migrayt.contracts.record_kinds import NOT_CONTENT
from migrayt.intake.quote import billed
from migrayt.store.db import engine_of
from migrayt.store.models import ItemRecord, Run

log = logging.getLogger("migrayt.billing")
LOCK_KEY = 0x6D696772_6D657472 & 0x7FFFFFFFFFFFFFFF  # "migrmetr"
# Reports from before units: flat writes, resent (if one was interrupted) under the old event and identifier.
LEGACY_UNIT = "write"


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
        adopted = func.coalesce(ItemRecord.detail["adopted"].as_boolean(), false()).label("adopted")
        done = (
            select(ItemRecord.run_id, ItemRecord.kind, adopted, func.count().label("n"))
            .where(ItemRecord.state == "done", ItemRecord.kind.not_in(NOT_CONTENT))
            .group_by(ItemRecord.run_id, ItemRecord.kind, adopted)
            .subquery()
        )
        paid_runs = (
            select(Run.id, Run.migration_id, Checkout.customer_id)
            .join(
                Checkout,
                and_(
                    Checkout.migration_id == Run.migration_id,
                    Checkout.status == "paid",
                    Checkout.customer_id.is_not(None),
                ),
            )
            .where(Run.started_at >= Checkout.paid_at)
        )
        async with self._sessions() as session:
            runs = {run: (migration, customer) for run, migration, customer in (await session.execute(paid_runs)).all()}
            if not runs:
                return 0
            by_kind: dict[str, dict[str, int]] = {}  # what this migration wrote: units
            flat: dict[str, int] = {}  # every write, adopted or not: the meter before units
            for run_id, kind, was_adopted, n in (
                await session.execute(select(done).where(done.c.run_id.in_(list(runs))))
            ).all():
                flat[run_id] = flat.get(run_id, 0) + n
                if not was_adopted:
                    by_kind.setdefault(run_id, {})[kind] = by_kind.get(run_id, {}).get(kind, 0) + n
            reports = {
                (r.run_id, r.unit): r
                for r in await session.scalars(select(UsageReport).where(UsageReport.run_id.in_(list(runs))))
            }
        sent = 0
        for run_id, (migration_id, customer) in runs.items():
            if (run_id, LEGACY_UNIT) in reports:
                # A run whose usage was reported before units finishes the way it began: flat writes, one meter.
                counts = {LEGACY_UNIT: flat.get(run_id, 0)}
            else:
                counts = billed(by_kind.get(run_id, {}))
            units = list(counts) + [u for (r, u) in reports if r == run_id and u not in counts]
            for unit in units:
                row = reports.get((run_id, unit))
                reported = row.reported_writes if row else 0
                pending = row.pending_writes if row else 0
                if pending > reported:
                    await self._send(run_id, unit, customer, reported, pending)  # an earlier report may not have landed
                    sent += pending - reported
                    reported = pending
                    await self._save(run_id, unit, migration_id, customer, reported, pending)
                n = counts.get(unit, 0)
                if n > reported:
                    await self._save(run_id, unit, migration_id, customer, reported, n)  # intent first
                    await self._send(run_id, unit, customer, reported, n)
                    await self._save(run_id, unit, migration_id, customer, n, n)
                    sent += n - reported
        return sent

    def event_name(self, unit: str) -> str:
        """The meter a unit's usage goes to (its metered price in Stripe counts this event)."""
        if unit == LEGACY_UNIT:
            return self._billing.stripe_meter_event
        return f"{self._billing.stripe_meter_prefix}_{unit}"

    async def _send(self, run_id: str, unit: str, customer: str, start: int, end: int) -> None:
        identifier = f"{run_id}:{start}-{end}" if unit == LEGACY_UNIT else f"{run_id}:{unit}:{start}-{end}"
        await self._stripe.v1.billing.meter_events.create_async(
            {
                "event_name": self.event_name(unit),
                "payload": {"stripe_customer_id": customer, "value": str(end - start)},
                "identifier": identifier,
                "timestamp": int(time.time()),
            }
        )

    async def _save(
        self, run_id: str, unit: str, migration_id: str, customer: str, reported: int, pending: int
    ) -> None:
        async with self._sessions() as session:
            stmt = insert(UsageReport).values(
                run_id=run_id,
                unit=unit,
                migration_id=migration_id,
                customer_id=customer,
                reported_writes=reported,
                pending_writes=pending,
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[UsageReport.run_id, UsageReport.unit],
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
                log.info("reported %d units to Stripe", sent)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 — Stripe or the database unavailable: try again later
            log.warning(
                "usage report failed (%s); retrying in %.0fs", type(err).__name__, billing.meter_interval_seconds
            )
        await asyncio.sleep(billing.meter_interval_seconds)
