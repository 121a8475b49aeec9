"""What every batch of a phase after create items starts from, written once: the batch's rows of the run's
work list, its counters, the migration's context, the ledger's records, the filter to the items that
have a Jira issue, the lookups and the ADO read.

A phase is a `BatchPhase` subclass in `activities/execution/phase_<name>.py` declared with
`phase="<name>"`; with its line in `migrayt/contracts/phases.py` (activity `run_phase_batch`) that is the
whole of adding one: `later_phases.py` finds the module by that name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from migrayt.activities.execution import adoption
from migrayt.activities.execution.create_items import SourceRow, batch_rows
from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
from migrayt.connectors.ado import Expand, WorkItem
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import ISSUE
from migrayt.contracts.runs import PhaseCounters
from migrayt.store import item_records
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord, RunSourceItem
from migrayt.translation.issue_fields import Lookups, TargetCatalog


class BatchSlice(Protocol):
    """The part of a batch input that names the batch: a phase's or the delta's source changes."""

    run_id: str
    migration_id: str
    tier: int
    start: int
    end: int


@dataclass
class PhaseBatch:
    """One batch of a phase: its rows (in work-list order) and counters, over the migration's context."""

    sessions: async_sessionmaker[AsyncSession]
    contexts: MigrationContexts
    ctx: MigrationContext
    run_id: str
    rows: list[SourceRow]
    counters: PhaseCounters

    @classmethod
    async def open(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        contexts: MigrationContexts,
        input: BatchSlice,
        content_order: bool = False,
    ) -> PhaseBatch:
        """`content_order`: the batch is a range of the run's content order (heaviest first, across tiers), not
        of `input.tier`."""
        ctx = await contexts.load(input.migration_id)
        if content_order:
            rows = await content_rows(sessions, input.run_id, input.start, input.end)
        else:
            rows = await batch_rows(sessions, input.run_id, input.tier, input.start, input.end)
        return cls(sessions, contexts, ctx, input.run_id, rows, PhaseCounters(total=len(rows)))

    @property
    def migration_id(self) -> str:
        return self.ctx.migration_id

    def source_keys(self, rows: Iterable[SourceRow] | None = None) -> list[str]:
        return [str(r.source_id) for r in (self.rows if rows is None else rows)]

    def passed_over(self) -> PhaseBatchResult:
        """Every item of the batch passed over (the plan skips the phase, or it carries nothing yet)."""
        return PhaseBatchResult(counters=PhaseCounters(total=len(self.rows), skipped=len(self.rows)))

    def keep(self, rows: list[SourceRow]) -> list[SourceRow]:
        """These of the batch's rows go on; the others are counted skipped (an item that failed in create
        items carries its reason there)."""
        self.counters.skipped += len(self.rows) - len(rows)
        return rows

    # --- the ledger --------------------------------------------------------------------------------

    async def records(self, kind: str, source_keys: Iterable[str]) -> dict[str, ItemRecord]:
        async with self.sessions() as session:
            return await item_records.load(session, self.migration_id, kind, source_keys)

    async def target_keys(self, kind: str, source_keys: Iterable[str]) -> dict[str, str]:
        """Done records' target keys: for ISSUE, the Jira issue key of each ADO id that has one."""
        async with self.sessions() as session:
            return await item_records.target_keys(session, self.migration_id, kind, source_keys)

    async def issues(self) -> dict[str, ItemRecord]:
        """The batch's items whose issue was created (done, with a key), by ADO id."""
        records = await self.records(ISSUE, self.source_keys())
        return {k: r for k, r in records.items() if r.state == DONE and r.target_key}

    async def adopted(self, source_keys: Iterable[str]) -> set[str]:
        """Of these items, those whose issue another migration wrote (adopted, not created)."""
        async with self.sessions() as session:
            return await adoption.adopted_issue_keys(session, self.migration_id, source_keys)

    # --- the context -------------------------------------------------------------------------------

    async def lookups(self) -> Lookups:
        return await self.contexts.lookups(self.ctx)

    async def catalog(self) -> TargetCatalog:
        return await self.contexts.catalog(self.ctx)

    async def work_items(
        self, rows: Iterable[SourceRow], expand: Expand | None = "relations", fields: Sequence[str] | None = None
    ) -> dict[int, WorkItem]:
        """These rows' work items as ADO has them now; an item deleted since the run started is absent."""
        ids = [r.source_id for r in rows]
        return {wi.id: wi for wi in await self.ctx.ado.get_work_items(ids, expand=expand, fields=fields)}

    def result(self, outcomes: Iterable[str] = ()) -> PhaseBatchResult:
        """The counters with one more item per outcome ("created", "adopted", "skipped", "failed")."""
        for outcome in outcomes:
            setattr(self.counters, outcome, getattr(self.counters, outcome) + 1)
        return PhaseBatchResult(counters=self.counters)


async def content_rows(
    sessions: async_sessionmaker[AsyncSession], run_id: str, start: int, end: int
) -> list[SourceRow]:
    """The run's work-list rows at content places [start, end), in that order."""
    rows = await _content_rows(sessions, run_id, start, end)
    if not rows and start < end:
        await _place_in_list_order(sessions, run_id)
        rows = await _content_rows(sessions, run_id, start, end)
    return rows


async def _content_rows(
    sessions: async_sessionmaker[AsyncSession], run_id: str, start: int, end: int
) -> list[SourceRow]:
    item = RunSourceItem
    async with sessions() as session:
        found = await session.execute(
            select(item.source_id, item.work_item_type, item.parent_id, item.tier)
            .where(item.run_id == run_id, item.content_ordinal >= start, item.content_ordinal < end)
            .order_by(item.content_ordinal)
        )
        return [SourceRow(*r) for r in found]


async def _place_in_list_order(sessions: async_sessionmaker[AsyncSession], run_id: str) -> None:
    """Content places for a list kept without them (its preflight ran on a worker from before them), in the
    work-list order: an empty range must never pass items over. Only unplaced rows are written, all in one
    statement, so batches that do this at once agree."""
    item = RunSourceItem
    place = func.row_number().over(order_by=(item.tier, item.ordinal)) - 1
    numbered = select(item.id, place.label("place")).where(item.run_id == run_id).subquery()
    async with sessions() as session:
        await session.execute(
            update(item)
            .where(item.id == numbered.c.id, item.content_ordinal.is_(None))
            .values(content_ordinal=numbered.c.place)
        )
        await session.commit()


class BatchPhase:
    """A phase after create items; the worker builds one of each with the store and the contexts."""

    name: ClassVar[str]
    by_name: ClassVar[dict[str, type[BatchPhase]]] = {}

    def __init_subclass__(cls, phase: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if phase is not None:
            cls.name = phase
            BatchPhase.by_name[phase] = cls

    def __init__(self, sessions: async_sessionmaker[AsyncSession], contexts: MigrationContexts) -> None:
        self._sessions = sessions
        self._contexts = contexts

    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        raise NotImplementedError
