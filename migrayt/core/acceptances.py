"""Known failures accepted with a reason: who, when, why; the run counts them "accepted", not failed.

An acceptance names a failed item record by the ledger's identity (kind, source key). The run the migration stands
at counts, per phase, the failed items whose every failed record there is accepted as `accepted` instead of
`failed`; once none is left failed, the INCOMPLETE run is closed as COMPLETED_WITH_ACCEPTED_EXCEPTIONS.

A re-run still retries accepted items (the ledger is unchanged: the record stays failed): if the cause is gone the
item lands and the acceptance no longer matters; if it fails again it stays accepted, and the re-run, settled when it
ends, is closed the same way. Unmatched users are failures too and can be accepted, but they are not items: they
never decide a run's status (see `users_unmatched`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.contracts.phases import batched, in_order
from migrayt.contracts.runs import PhaseCounters, RunKind, RunStatus, run_kind
from migrayt.core.errors import NotFound
from migrayt.core.item_records_view import LOOKUP_KINDS, ado_item_of, classify, describe, phase_of
from migrayt.store.models import AuditEvent, FailureAcceptance, ItemRecord, Migration, Run

FAILED = "failed"
# Statuses a settle may move between: a run that ended with failed items, before and after they were all accepted.
SETTLED_STATUSES = (RunStatus.INCOMPLETE.value, RunStatus.COMPLETED_WITH_ACCEPTED_EXCEPTIONS.value)


class RecordRef(BaseModel):
    kind: str = Field(min_length=1, max_length=30)
    source_key: str = Field(min_length=1, max_length=200)


class AcceptedFailure(BaseModel):
    kind: str
    source_key: str
    what: str
    phase: str
    ado_id: int | None = None
    error: str | None = None
    reason: str
    accepted_by: str
    door: str
    accepted_at: datetime | None = None


class AcceptOutcome(BaseModel):
    migration_id: str
    accepted: int  # failed records newly accepted (or accepted again with this reason)
    run_id: str | None = None  # the run the migration stands at, settled
    status: str | None = None  # its status after the acceptance
    failed_items: int = 0  # items still failed in it
    accepted_items: int = 0


def _accepted_items_per_phase(rows: list[Any]) -> dict[str, int]:
    """Items per phase whose every failed record of the run is accepted (rows: kind, source_key, detail, accepted)."""
    items: dict[tuple[str, Any], bool] = {}
    for kind, source_key, detail, accepted in rows:
        if kind in LOOKUP_KINDS:
            continue  # users, areas, iterations: not items of a phase
        key = (phase_of(kind), ado_item_of(kind, source_key, detail) or f"{kind}:{source_key}")
        items[key] = items.get(key, True) and accepted
    out: dict[str, int] = {}
    for (phase, _), all_accepted in items.items():
        if all_accepted:
            out[phase] = out.get(phase, 0) + 1
    return out


async def settle_run(session: AsyncSession, run: Run) -> None:
    """Recount the run's accepted items and close it (or open it again) by what is left failed. Idempotent;
    the caller commits."""
    if run.status not in SETTLED_STATUSES:
        return
    rows = list(
        await session.execute(
            select(ItemRecord.kind, ItemRecord.source_key, ItemRecord.detail, FailureAcceptance.id.is_not(None))
            .outerjoin(
                FailureAcceptance,
                and_(
                    FailureAcceptance.migration_id == ItemRecord.migration_id,
                    FailureAcceptance.kind == ItemRecord.kind,
                    FailureAcceptance.source_key == ItemRecord.source_key,
                ),
            )
            .where(ItemRecord.migration_id == run.migration_id, ItemRecord.run_id == run.id, ItemRecord.state == FAILED)
        )
    )
    accepted = _accepted_items_per_phase(rows)
    counters = {name: PhaseCounters.model_validate(c) for name, c in (run.counters or {}).items()}
    for name in batched(in_order(counters)):
        c = counters[name]
        failed_at_end = c.failed + c.accepted  # what the phase counted failed when the run ended
        c.accepted = min(accepted.get(name, 0), failed_at_end)
        c.failed = failed_at_end - c.accepted
    phases = batched(in_order(counters))
    still_failed = sum(counters[p].failed for p in phases)
    run.counters = {name: c.model_dump() for name, c in counters.items()}
    if still_failed:
        run.status = RunStatus.INCOMPLETE.value
    elif sum(counters[p].accepted for p in phases):
        run.status = RunStatus.COMPLETED_WITH_ACCEPTED_EXCEPTIONS.value


def standing_run_of(runs: list[Run]) -> Run | None:
    """The run a migration stands at: its latest full run (a delta sync carries only changed items, so it does not
    clear that run's failures). An undo is no migration run at all (its COMPLETED means the issues are gone), so it
    never stands for the migration. Migrations.standing_run for the doors."""
    full = [r for r in runs if run_kind(r.id) == RunKind.RUN]
    syncs = [r for r in runs if run_kind(r.id) == RunKind.DELTA_SYNC]
    return full[-1] if full else (syncs[-1] if syncs else None)


async def accept_failures(
    session: AsyncSession,
    migration: Migration,
    *,
    reason: str,
    actor: str,
    door: str,
    records: list[RecordRef] | None = None,
    failure_reason: str | None = None,
    phase: str | None = None,
) -> AcceptOutcome:
    """Accept the migration's failed records named in `records` (accepted already: with this reason now), or every
    open one whose failure reason (the class the failure lists group by, e.g. "File too large for Jira") is
    `failure_reason` (in `phase`, if given). A record that is not failed is NotFound: only a failure can be accepted.
    The caller commits."""
    stmt = select(ItemRecord.kind, ItemRecord.source_key, ItemRecord.error).where(
        ItemRecord.migration_id == migration.id, ItemRecord.state == FAILED
    )
    if records is not None:
        wanted = {(r.kind, r.source_key) for r in records}
        stmt = stmt.where(ItemRecord.source_key.in_({k for _, k in wanted}))
        found = [(k, s, e) for k, s, e in await session.execute(stmt) if (k, s) in wanted]
        missing = wanted - {(k, s) for k, s, _ in found}
        if missing:
            kind, key = sorted(missing)[0]
            raise NotFound(f"no failed {kind} record {key} in migration {migration.id}: only a failure can be accepted")
    else:
        # The open failures of that reason: one accepted already keeps its own reason.
        found = [
            (k, s, e)
            for k, s, e in await session.execute(stmt.where(~is_accepted()))
            if classify(e)[0] == failure_reason and (phase is None or phase_of(k) == phase)
        ]
    if found:
        values = [
            dict(
                tenant_id=migration.tenant_id,
                migration_id=migration.id,
                kind=k,
                source_key=s,
                reason=reason,
                error=e,
                accepted_by=actor,
                door=door,
            )
            for k, s, e in found
        ]
        insert_stmt = insert(FailureAcceptance).values(values)
        await session.execute(
            insert_stmt.on_conflict_do_update(
                constraint="uq_failure_acceptance_migration_id_kind_source_key",
                set_=dict(
                    reason=insert_stmt.excluded.reason,
                    error=insert_stmt.excluded.error,
                    accepted_by=insert_stmt.excluded.accepted_by,
                    door=insert_stmt.excluded.door,
                    accepted_at=insert_stmt.excluded.accepted_at,
                ),
            )
        )
    runs = list(await session.scalars(select(Run).where(Run.migration_id == migration.id).order_by(Run.started_at)))
    standing = standing_run_of(runs)
    if standing is not None:
        await session.flush()
        await settle_run(session, standing)
    outcome = AcceptOutcome(migration_id=migration.id, accepted=len(found))
    if standing is not None:
        counters = {n: PhaseCounters.model_validate(c) for n, c in (standing.counters or {}).items()}
        phases = batched(in_order(counters))
        outcome.run_id, outcome.status = standing.id, standing.status
        outcome.failed_items = sum(counters[p].failed for p in phases)
        outcome.accepted_items = sum(counters[p].accepted for p in phases)
    # Audit: how many and why, the reason class or the records' kinds; never what the items hold.
    session.add(
        AuditEvent(
            tenant_id=migration.tenant_id,
            migration_id=migration.id,
            run_id=outcome.run_id,
            action="failures_accepted",
            actor=actor,
            door=door,
            detail={
                "count": len(found),
                "reason": reason,
                **({"failure_reason": failure_reason} if failure_reason else {}),
                **({"phase": phase} if phase else {}),
                **({"run_status": outcome.status} if outcome.status else {}),
            },
        )
    )
    return outcome


async def accepted_failures(session: AsyncSession, migration_id: str) -> list[AcceptedFailure]:
    """The migration's accepted records that are still failed, oldest acceptance first."""
    rows = await session.execute(
        select(FailureAcceptance, ItemRecord.detail)
        .join(
            ItemRecord,
            and_(
                ItemRecord.migration_id == FailureAcceptance.migration_id,
                ItemRecord.kind == FailureAcceptance.kind,
                ItemRecord.source_key == FailureAcceptance.source_key,
            ),
        )
        .where(FailureAcceptance.migration_id == migration_id, ItemRecord.state == FAILED)
        .order_by(FailureAcceptance.accepted_at, FailureAcceptance.id)
    )
    return [
        AcceptedFailure(
            kind=a.kind,
            source_key=a.source_key,
            what=describe(a.kind, a.source_key, detail),
            phase=phase_of(a.kind),
            ado_id=ado_item_of(a.kind, a.source_key, detail),
            error=a.error,
            reason=a.reason,
            accepted_by=a.accepted_by,
            door=a.door,
            accepted_at=a.accepted_at,
        )
        for a, detail in rows
    ]


async def accepted_keys(session: AsyncSession, migration_id: str) -> set[tuple[str, str]]:
    rows = await session.execute(
        select(FailureAcceptance.kind, FailureAcceptance.source_key).where(
            FailureAcceptance.migration_id == migration_id
        )
    )
    return {(k, s) for k, s in rows}


def is_accepted() -> Any:
    """A filter on item records: a failed record with an acceptance."""
    return (
        select(FailureAcceptance.id)
        .where(
            FailureAcceptance.migration_id == ItemRecord.migration_id,
            FailureAcceptance.kind == ItemRecord.kind,
            FailureAcceptance.source_key == ItemRecord.source_key,
        )
        .exists()
    )
