"""Checkouts of quotes and how many writes of each run were reported to Stripe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from migrayt.store.models import Base


class Checkout(Base):
    __tablename__ = "checkout"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # Stripe Checkout Session id
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    scan_id: Mapped[str | None] = mapped_column(String(100))
    quote: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20))  # open | paid
    url: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(String(200))
    subscription_id: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsageReport(Base):
    """Units of one run (of one kind: item, worklog, …) already sent to Stripe as meter events (the next event sends
    the rest). "write" is a row from before units: flat writes under the old meter event."""

    __tablename__ = "usage_report"

    run_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    unit: Mapped[str] = mapped_column(String(40), primary_key=True, server_default="write")
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    reported_writes: Mapped[int] = mapped_column(Integer, default=0)
    # Sent (or about to be) but not yet known to have reached Stripe: resent with the same identifier.
    pending_writes: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
