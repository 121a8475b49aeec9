"""Which tenant owns which Temporal Schedule. The schedule's state (paused, next times) lives in Temporal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from migrayt.store.models import Base


class ScheduleRecord(Base):
    __tablename__ = "schedule"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # = Temporal Schedule id
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    migration_id: Mapped[str] = mapped_column(ForeignKey("migration.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # cutover | delta
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the user asked for: at / every / cron
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
