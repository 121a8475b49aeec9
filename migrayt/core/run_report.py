"""The run report a customer downloads, the trace of one item, and complete failure lists.

Computed from the tables a run already writes: its work list (`run_source_item`), the item ledger
(`item_record`) and the run's counters. The records "of a run" are those the run wrote last
(`run_id` = the run) plus the migration's lookups preflight wrote (users, areas, iterations).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.contracts import record_kinds as K
from migrayt.contracts.phases import PHASES, batched, in_order, run_phases
from migrayt.contracts.runs import PhaseCounters, run_kind
from migrayt.core.acceptances import accepted_keys, is_accepted
from migrayt.core.errors import NotFound
from migrayt.core.item_records_view import (
    LOOKUP_KINDS,
    PHASE_OF_KIND,
    PREFLIGHT_RUN_ID,
    ReasonGroup,
    RecordLine,
    ado_item_url,
    ado_items_of,
    classify,
    group_by_reason,
    jira_issue_url,
    kinds_of_phase,
    phase_of,
    record_line,
)
from migrayt.core.ownership import owned
from migrayt.core.reports import failed_items
from migrayt.store.models import ItemRecord, Migration, Run, RunSourceItem

# An item's fate in a phase, from its records of the run: failed beats pending beats done.
FAILED, PENDING, DONE, ADOPTED, SKIPPED, NOTHING = "failed", "pending", "done", "adopted", "skipped", "—"
# A failed record the user accepted as a known exception (migrayt/core/acceptances.py).
ACCEPTED = "accepted"


class ItemFate(BaseModel):
    ado_id: int
    work_item_type: str | None = None
    ado_url: str
    jira_key: str | None = None
    jira_url: str | None = None
    phases: dict[str, str] = Field(default_factory=dict)
    failures: int = 0


class ReportTotals(BaseModel):
    items: int
    records: int
    failures: int  # failed records (lookups and every kind of record) not accepted
    accepted: int = 0  # failed records accepted as known exceptions
    # The run's counters added up, as every door shows them: items failed over the phases, and users apart.
    failed_items: int = 0
    accepted_items: int = 0
    users_unmatched: int = 0


class RunReportDocument(BaseModel):
    run_id: str
    kind: str = "run"  # run, delta_sync or undo (contracts/runs.run_kind): an undo's report says it is one
    migration_id: str
    migration_name: str
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    generated_at: datetime
    source: str  # "https://dev.azure.com/acme / Phoenix"
    target: str  # "https://acme.atlassian.net / PHX"
    phases: list[str]  # the batch phases of the run, in order
    counters: dict[str, PhaseCounters]
    totals: ReportTotals
    reasons: list[ReasonGroup]
    items: list[ItemFate]
    records: list[RecordLine]

    @property
    def failures(self) -> list[RecordLine]:
        return [r for r in self.records if r.state == FAILED]


class ItemTrace(BaseModel):
    migration_id: str
    ado_id: int
    ado_url: str
    jira_key: str | None = None
    jira_url: str | None = None
    # Every phase of a run, in order: the item's fate there ("—": nothing of this item to write in that phase).
    phases: dict[str, str] = Field(default_factory=dict)
    records: list[RecordLine]


class FailurePage(BaseModel):
    migration_id: str
    run_id: str | None = None
    phase: str | None = None
    total: int
    # Failed records accepted as known exceptions: not in `total` nor on the page (GET …/accepted lists them).
    accepted_total: int = 0
    offset: int
    limit: int
    groups: list[ReasonGroup]
    failures: list[RecordLine]
    next_offset: int | None = None


PHASE_ORDER = {p.name: i for i, p in enumerate(PHASES)}


def _phase_rank(phase: str) -> int:
    return PHASE_ORDER.get(phase, len(PHASE_ORDER))


def item_fates(
    work_list: list[tuple[int, str | None]],
    records: list[RecordLine],
    phases: list[str],
    issue_keys: dict[int, str],
    source: dict[str, Any],
    target: dict[str, Any],
) -> list[ItemFate]:
    """Every item of the run's work list, with its fate in each batch phase."""
    by_item: dict[tuple[int, str], list[RecordLine]] = {}
    for r in records:
        if r.ado_id is not None:
            by_item.setdefault((r.ado_id, r.phase), []).append(r)
    fates = []
    for ado_id, work_item_type in work_list:
        fate = ItemFate(
            ado_id=ado_id,
            work_item_type=work_item_type,
            ado_url=ado_item_url(source, ado_id),
            jira_key=issue_keys.get(ado_id),
            jira_url=jira_issue_url(target, issue_keys.get(ado_id)),
        )
        for phase in phases:
            recs = by_item.get((ado_id, phase), [])
            fate.failures += sum(1 for r in recs if r.state == FAILED)
            fate.phases[phase] = phase_fate(phase, recs, has_issue=ado_id in issue_keys)
        fates.append(fate)
    return fates


def phase_fate(phase: str, records: list[RecordLine], *, has_issue: bool) -> str:
    """One item's fate in one phase from its records there: failed beats pending beats done."""
    states = {r.state for r in records}
    if phase != "create_items" and not has_issue:
        return SKIPPED  # as the phases count it: an item that failed to be created is passed over, its reason there
    if FAILED in states:
        return FAILED
    if ACCEPTED in states:
        return ACCEPTED
    if PENDING in states:
        return PENDING
    if records:
        return ADOPTED if all(r.adopted for r in records) else DONE
    return NOTHING


def _ado_filter(ado_id: int) -> ColumnElement[bool]:
    """Records that may belong to item `ado_id` (refined in Python by ado_items_of)."""
    s = str(ado_id)
    return or_(
        ItemRecord.source_key == s,
        ItemRecord.source_key.like(f"{s}:%"),
        and_(ItemRecord.kind == K.LINK, ItemRecord.source_key.like(f"%:{s}:%")),
        ItemRecord.detail["ado_item"].astext == s,
    )


class RunReports:
    """Mixed into MigrationService (needs `sessions`, `get_run`, `progress_within`)."""

    sessions: Any

    async def users_unmatched(self, migration_id: str) -> int:
        """ADO identities of the migration with no Jira account (failed user lookups), as preflight left them."""
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ItemRecord)
                .where(
                    ItemRecord.migration_id == migration_id,
                    ItemRecord.kind == K.USER,
                    ItemRecord.state == FAILED,
                    ~is_accepted(),
                )
            )
        return int(count or 0)

    async def users_given(self, migration_id: str, run_id: str) -> tuple[int, int]:
        """(users, issues): the users resolved since an earlier run, and the issues this run gave them to."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(
                        func.count(func.distinct(ItemRecord.detail["user"].astext)),
                        func.count(func.distinct(ItemRecord.detail["issue"].astext)),
                    ).where(
                        ItemRecord.migration_id == migration_id,
                        ItemRecord.kind == K.USER_FIELD,
                        ItemRecord.run_id == run_id,
                        ItemRecord.state == DONE,
                    )
                )
            ).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def notifications(self, migration_id: str, run_id: str) -> str | None:
        """What the run did to the Jira project's notifications, in the user's words (None: it did not mute them)."""
        async with self.sessions() as session:
            record = await session.scalar(
                select(ItemRecord).where(
                    ItemRecord.migration_id == migration_id,
                    ItemRecord.kind == K.NOTIFICATION_SCHEME,
                    ItemRecord.source_key == run_id,
                )
            )
        if record is None:
            return None
        detail = record.detail or {}
        own = detail.get("original_name") or "its own"
        if detail.get("restored"):
            left = detail.get("left")
            if left:
                return f"Jira notifications were muted during the run; the project kept {left!r}, set while it ran"
            return f"Jira notifications were muted during the run; the project's scheme {own!r} is back"
        if detail.get("left_muted_for"):
            return (
                f"Jira notifications were muted during the run; it left the project muted for run "
                f"{detail['left_muted_for']}, still writing into it when this run ended: the last run to end puts "
                f"the scheme {own!r} back"
            )
        return (
            f"Jira notifications are muted while the run goes, paused included; the project's scheme {own!r} comes "
            "back when the last run writing into the project ends"
        )

    async def _issue_keys(
        self, session: AsyncSession, migration_id: str, only: set[int] | None = None
    ) -> dict[int, str]:
        """ADO id → Jira key of the migration's issues (`only` these items: a page needs a handful, not 10,000)."""
        stmt = select(ItemRecord.source_key, ItemRecord.target_key).where(
            ItemRecord.migration_id == migration_id,
            ItemRecord.kind == K.ISSUE,
            ItemRecord.state == DONE,
        )
        if only is not None:
            stmt = stmt.where(ItemRecord.source_key.in_([str(i) for i in only]))
        rows = await session.execute(stmt)
        return {int(k): t for k, t in rows if k.isdigit() and t}

    @staticmethod
    def _lines(rows: Any, issue_keys: dict[int, str]) -> list[RecordLine]:
        return [
            record_line(
                kind=r.kind,
                source_key=r.source_key,
                state=r.state,
                detail=r.detail,
                target_key=r.target_key,
                run_id=r.run_id,
                attempts=r.attempts,
                updated_at=r.updated_at,
                error=r.error,
                issue_keys=issue_keys,
            )
            for r in rows
        ]

    async def run_records(self, tenant: str, run_id: str) -> tuple[Run, list[RecordLine]]:
        """The item records of a run, named by ADO item, in phase order."""
        async with self.sessions() as session:
            run = await owned(session, Run, run_id, tenant, "run")
            rows = await session.scalars(
                select(ItemRecord)
                .where(
                    ItemRecord.migration_id == run.migration_id,
                    or_(
                        ItemRecord.run_id == run_id,
                        and_(ItemRecord.run_id == PREFLIGHT_RUN_ID, ItemRecord.kind.in_(LOOKUP_KINDS)),
                    ),
                )
                .order_by(ItemRecord.id)
            )
            issue_keys = await self._issue_keys(session, run.migration_id)
            lines = self._lines(rows, issue_keys)
            accepted = await accepted_keys(session, run.migration_id)
        for line in lines:
            if line.state == FAILED and (line.kind, line.source_key) in accepted:
                line.state = ACCEPTED
        lines.sort(key=lambda r: (_phase_rank(r.phase), r.ado_id if r.ado_id is not None else -1, r.kind, r.source_key))
        return run, lines

    async def run_report_document(self, tenant: str, run_id: str) -> RunReportDocument:
        _, progress, _ = await self.progress_within(tenant, run_id)  # type: ignore[attr-defined]
        run, records = await self.run_records(tenant, run_id)
        async with self.sessions() as session:
            migration = await session.get(Migration, run.migration_id)
            work_list = [
                (sid, wit)
                for sid, wit in await session.execute(
                    select(RunSourceItem.source_id, RunSourceItem.work_item_type)
                    .where(RunSourceItem.run_id == run_id)
                    .order_by(RunSourceItem.source_id)
                )
            ]
            issue_keys = await self._issue_keys(session, run.migration_id)
        counters = {
            name: (c if isinstance(c, PhaseCounters) else PhaseCounters.model_validate(c))
            for name, c in (progress.counters or {}).items()
        }
        phases = list(batched(in_order(counters)))
        source, target = migration.source or {}, migration.target or {}
        failures = [r for r in records if r.state == FAILED]
        return RunReportDocument(
            run_id=run.id,
            kind=run_kind(run.id).value,
            migration_id=run.migration_id,
            migration_name=migration.name,
            status=str(getattr(progress.status, "value", progress.status)),
            started_at=run.started_at,
            finished_at=run.finished_at,
            generated_at=datetime.now(UTC),
            source=f"{source.get('organization_url', '')} / {source.get('project', '')}",
            target=f"{target.get('base_url', '')} / {target.get('project_key', '')}",
            phases=phases,
            counters=counters,
            totals=ReportTotals(
                items=len(work_list),
                records=len(records),
                failures=len(failures),
                accepted=sum(1 for r in records if r.state == ACCEPTED),
                failed_items=failed_items(counters),
                accepted_items=sum(counters[p].accepted for p in phases),
                users_unmatched=sum(1 for r in failures if r.kind == K.USER),
            ),
            reasons=group_by_reason(failures),
            items=item_fates(work_list, records, phases, issue_keys, source, target),
            records=records,
        )

    async def _migration_of(self, session: AsyncSession, tenant: str, id: str) -> tuple[Migration, str | None]:
        """A migration id, or a run id standing for its migration."""
        if id.startswith("mig-"):
            return await owned(session, Migration, id, tenant, "migration"), None
        run = await owned(session, Run, id, tenant, "run")
        migration = await session.get(Migration, run.migration_id)
        if migration is None:  # the row cascades with its migration; a run without one was deleted meanwhile
            raise NotFound(f"run {id} not found")
        return migration, run.id

    async def item_trace(self, tenant: str, id: str, item: str) -> ItemTrace:
        """Every record of one item in every phase; `item` is an ADO id (48, #48) or its Jira key (PHX-144)."""
        text = item.strip().lstrip("#")
        async with self.sessions() as session:
            migration, _ = await self._migration_of(session, tenant, id)
            if text.isdigit():
                ado_id = int(text)
            else:
                found = await session.scalar(
                    select(ItemRecord.source_key).where(
                        ItemRecord.migration_id == migration.id,
                        ItemRecord.kind == K.ISSUE,
                        ItemRecord.target_key == text.upper(),
                    )
                )
                if found is None or not found.isdigit():
                    raise NotFound(f"no item {item} in migration {migration.id}")
                ado_id = int(found)
            rows = list(
                await session.scalars(
                    select(ItemRecord)
                    .where(ItemRecord.migration_id == migration.id, _ado_filter(ado_id))
                    .order_by(ItemRecord.id)
                )
            )
            rows = [r for r in rows if ado_id in ado_items_of(r.kind, r.source_key, r.detail)]
            if not rows:
                raise NotFound(f"no records of ADO #{ado_id} in migration {migration.id}")
            issue_keys = await self._issue_keys(session, migration.id)
            accepted = await accepted_keys(session, migration.id)
        lines = self._lines(rows, issue_keys)
        for line in lines:
            line.jira_key = issue_keys.get(ado_id)  # a link's record, seen from this end
            if line.state == FAILED and (line.kind, line.source_key) in accepted:
                line.state = ACCEPTED
        lines.sort(key=lambda r: (_phase_rank(r.phase), r.kind, r.source_key))
        key = issue_keys.get(ado_id)
        phases = {
            name: phase_fate(name, [r for r in lines if r.phase == name], has_issue=key is not None)
            for name in batched(run_phases())
        }
        return ItemTrace(
            phases=phases,
            migration_id=migration.id,
            ado_id=ado_id,
            ado_url=ado_item_url(migration.source or {}, ado_id),
            jira_key=key,
            jira_url=jira_issue_url(migration.target or {}, key),
            records=lines,
        )

    async def failure_page(
        self,
        tenant: str,
        id: str,
        *,
        phase: str | None = None,
        offset: int = 0,
        limit: int = 100,
        with_groups: bool = True,
    ) -> FailurePage:
        """A migration's failed records (a run id: its migration's), grouped by reason, paged, never capped."""
        async with self.sessions() as session:
            migration, run_id = await self._migration_of(session, tenant, id)
            where = [ItemRecord.migration_id == migration.id, ItemRecord.state == FAILED]
            if phase:
                where.append(ItemRecord.kind.in_(kinds_of_phase(phase)))
            accepted_total = (
                await session.scalar(select(func.count()).select_from(ItemRecord).where(*where, is_accepted())) or 0
            )
            where.append(~is_accepted())
            total = await session.scalar(select(func.count()).select_from(ItemRecord).where(*where)) or 0
            rank = case(
                {kind: _phase_rank(p) for kind, p in PHASE_OF_KIND.items()},
                value=ItemRecord.kind,
                else_=len(PHASE_ORDER),
            )
            rows = list(
                await session.scalars(
                    select(ItemRecord)
                    .where(*where)
                    .order_by(rank, ItemRecord.kind, ItemRecord.source_key)
                    .offset(offset)
                    .limit(limit)
                )
            )
            items = {i for r in rows for i in ado_items_of(r.kind, r.source_key, r.detail)}
            issue_keys = await self._issue_keys(session, migration.id, only=items)
            page = self._lines(rows, issue_keys)
            groups: list[ReasonGroup] = []
            if with_groups:
                errors = await session.execute(select(ItemRecord.kind, ItemRecord.error).where(*where))
                groups = group_by_reason(
                    [
                        RecordLine(
                            ado_id=None,
                            phase=phase_of(k),
                            kind=k,
                            what="",
                            source_key="",
                            state=FAILED,
                            reason=classify(e)[0],
                            remedy=classify(e)[1],
                        )
                        for k, e in errors
                    ]
                )
        return FailurePage(
            migration_id=migration.id,
            run_id=run_id,
            phase=phase,
            total=total,
            accepted_total=accepted_total,
            offset=offset,
            limit=limit,
            groups=groups,
            failures=page,
            next_offset=offset + limit if offset + limit < total else None,
        )
