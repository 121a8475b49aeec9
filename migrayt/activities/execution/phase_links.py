"""Phase 4: work item links become Jira issue links (each once), hyperlinks and commits remote links."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from sqlalchemy import select

from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_batch import BatchPhase, PhaseBatch
from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.http import AmbiguousWriteError, ApiError
from migrayt.connectors.jira import IssueLinkType
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import ISSUE, LINK, REMOTE_LINK
from migrayt.store import item_records
from migrayt.store.item_records import DONE, PENDING
from migrayt.store.models import ItemRecord, RunSourceItem
from migrayt.translation.provenance import link_back
from migrayt.translation.source_links import (
    JiraLinkPlan,
    RemoteLinkPlan,
    SourceLink,
    UnknownArtifact,
    jira_link_for,
    linked_in_jira,
    owned_by,
    remote_link_for,
    work_item_links,
)

PER_BATCH_CONCURRENCY = 8
# A dropped answer to a link POST is settled on the spot by reading the issue's links; after this
# many unknown outcomes in a row the error goes up and the retried batch reconciles.
AMBIGUOUS_TRIES = 3

CREATED, SKIPPED, FAILED, ADOPTED = "created", "skipped", "failed", "adopted"


@dataclass
class ItemWork:
    source_id: int
    links: list[SourceLink] = field(default_factory=list)
    remote: list[RemoteLinkPlan] = field(default_factory=list)
    unknown_artifacts: list[tuple[str, str]] = field(default_factory=list)  # (record key, reason)


class LinksPhase(BatchPhase, phase="links"):
    async def run(self, batch: PhaseBatch) -> PhaseBatchResult:
        ctx, rows = batch.ctx, batch.rows
        if not rows:
            return batch.result()
        work_items = (await batch.work_items(rows)).values()

        items: list[ItemWork] = []
        all_links: list[SourceLink] = []
        for wi in work_items:
            work = ItemWork(wi.id)
            work.links = work_item_links(wi.id, ((r.rel, r.target_id) for r in wi.relations))
            for rel in wi.relations:
                try:
                    remote = remote_link_for(wi.id, rel.rel, rel.url, rel.attributes, ctx.source.organization_url)
                except UnknownArtifact as err:
                    work.unknown_artifacts.append((f"{wi.id}:{rel.url}"[:200], str(err)))
                    continue
                if remote is not None:
                    work.remote.append(remote)
            if ctx.plan.provenance_fields.link_back:
                work.remote.append(link_back(ctx.source.organization_url, ctx.source.project, wi.id))
            items.append(work)
            all_links += work.links
        # A work item gone from ADO since the run started has nothing to link: passed over.
        batch.counters.skipped += len(rows) - len(items)

        ends = {end for link in all_links for end in link.ends} | {r.source_id for r in rows}
        async with self._sessions() as session:
            in_work_list = set(
                (
                    await session.scalars(
                        select(RunSourceItem.source_id).where(
                            RunSourceItem.run_id == batch.run_id, RunSourceItem.source_id.in_(ends)
                        )
                    )
                ).all()
            )
            for work in items:
                work.links = [link for link in work.links if owned_by(work.source_id, link, in_work_list)]
            # Phase 3 keeps a parent Jira cannot nest as a Relates link; an ADO Related link between
            # the same two items is then that same Jira link, not a second one.
            family: set[tuple[int, int]] = {
                (min(child, parent), max(child, parent))
                for child, parent in (
                    await session.execute(
                        select(RunSourceItem.source_id, RunSourceItem.parent_id).where(
                            RunSourceItem.run_id == batch.run_id,
                            RunSourceItem.source_id.in_(ends),
                            RunSourceItem.parent_id.is_not(None),
                        )
                    )
                ).all()
                if parent is not None
            }
        keys = await batch.target_keys(ISSUE, [str(e) for e in ends])
        adopted = await batch.adopted(keys)
        link_records = await batch.records(LINK, [link.record_key for w in items for link in w.links])
        remote_records = await batch.records(
            REMOTE_LINK,
            [r.record_key for w in items for r in w.remote] + [k for w in items for k, _ in w.unknown_artifacts],
        )
        jira_types: dict[str, IssueLinkType] = {}
        if any(w.links for w in items):
            jira_types = {t.name.lower(): t for t in await ctx.jira.get_issue_link_types()}

        writer = _Writer(self._sessions, ctx, batch.run_id, keys, jira_types, family, adopted)
        limit = asyncio.Semaphore(PER_BATCH_CONCURRENCY)

        async def limited(coro):
            async with limit:
                return await coro

        async def one(work: ItemWork) -> str:
            outcomes = await gather_or_cancel(
                *(limited(writer.link(link, link_records.get(link.record_key))) for link in work.links),
                *(
                    limited(writer.remote(str(work.source_id), r, remote_records.get(r.record_key)))
                    for r in work.remote
                ),
                *(
                    limited(writer.unknown(key, reason, remote_records.get(key)))
                    for key, reason in work.unknown_artifacts
                ),
            )
            if str(work.source_id) not in keys:
                return SKIPPED  # the item itself failed in create items, with its reason there
            if FAILED in outcomes:
                return FAILED
            if CREATED in outcomes:
                return CREATED
            return ADOPTED if ADOPTED in outcomes else SKIPPED

        return batch.result(await gather_or_cancel(*(one(w) for w in items)))


def fails_alone(err: ApiError) -> bool:
    """A refusal about this one item; credentials, throttling and server trouble concern every item."""
    return 400 <= err.status < 500 and err.status not in (401, 403, 408, 429)


def no_issue(item_id: int) -> str:
    return f"ADO #{item_id} has no Jira issue (not migrated or failed)"


def link_blocker(
    link: SourceLink, plan: JiraLinkPlan | None, jira_type: IssueLinkType | None, keys: Mapping[str, str]
) -> str | None:
    """Why this link cannot be made, known before anything is sent (shared with the dry-run preview)."""
    if plan is None:
        return f"ADO link type {link.rel} (#{link.source} → #{link.target}) is not in the mapping plan's link map"
    if jira_type is None:
        return f"Jira has no issue link type named {plan.type_name!r} (mapped from {link.rel})"
    missing = [f"ADO #{end}" for end in (link.source, link.target) if not keys.get(str(end))]
    if missing:
        return (
            f"{' and '.join(missing)} {'have' if len(missing) > 1 else 'has'} no Jira issue (not migrated or failed), "
            f"so the {link.rel} link #{link.source} → #{link.target} cannot be made"
        )
    return None


class _Writer:
    """One link or remote link at a time, through the exactly-once protocol."""

    def __init__(
        self,
        sessions,
        ctx: MigrationContext,
        run_id: str,
        keys: Mapping[str, str],
        jira_types: Mapping[str, IssueLinkType],
        family: set[tuple[int, int]],
        adopted: AbstractSet[str] = frozenset(),
    ) -> None:
        self._sessions = sessions
        # Items whose issue another migration wrote: a link between two of them may be in Jira already.
        self._adopted = adopted
        self._family = family
        self._ctx = ctx
        self._run_id = run_id
        self._keys = keys
        self._jira_types = jira_types

    def _already(self, record: ItemRecord | None) -> str | None:
        if record is not None and record.state == DONE:
            # Done by an earlier attempt of this same run still counts as this run's work.
            if record.run_id != self._run_id:
                return SKIPPED
            return ADOPTED if (record.detail or {}).get("adopted") else CREATED
        return None

    async def _fail(self, kind: str, source_key: str, reason: str) -> str:
        async with self._sessions() as session:
            await item_records.mark_failed(session, self._ctx.migration_id, kind, source_key, reason, self._run_id)
            await session.commit()
        return FAILED

    async def _done(self, kind: str, source_key: str, target_key: str, detail: dict) -> str:
        async with self._sessions() as session:
            await item_records.mark_done(
                session, self._ctx.migration_id, kind, source_key, target_key[:200], self._run_id, detail
            )
            await session.commit()
        return CREATED

    async def _pending(self, kind: str, source_key: str) -> None:
        # Intent first, committed, so a crash after the write is reconciled rather than repeated.
        async with self._sessions() as session:
            await item_records.mark_pending(session, self._ctx.migration_id, kind, [source_key], self._run_id)
            await session.commit()

    async def link(self, link: SourceLink, record: ItemRecord | None) -> str:
        if (outcome := self._already(record)) is not None:
            return outcome
        try:
            return await self._link(link, record)
        except ApiError as err:
            # A 4xx on a read or write of this link (an issue deleted in Jira meanwhile...): it fails alone.
            if not fails_alone(err):
                raise
            return await self._fail(
                LINK, link.record_key, f"Jira refused a read or write for link {link.record_key}: {err}"
            )

    async def _link(self, link: SourceLink, record: ItemRecord | None) -> str:
        key = link.record_key
        plan = jira_link_for(link, self._ctx.plan.link_types)
        jira_type = self._jira_types.get(plan.type_name.lower()) if plan is not None else None
        if (reason := link_blocker(link, plan, jira_type, self._keys)) is not None:
            return await self._fail(LINK, key, reason)
        assert plan is not None and jira_type is not None  # link_blocker finds no reason only when both are known
        subject, obj = self._keys[str(plan.subject)], self._keys[str(plan.object)]
        detail = {
            "type": jira_type.name,
            "subject": subject,
            "object": obj,
            "ado": [link.source, link.target, link.rel],
        }
        target_key = f"{subject} {jira_type.outward} {obj}"
        pending = record is not None and record.state == PENDING
        shared = plan.symmetric and link.ends in self._family
        # Both ends adopted: the other migration may have made this very link (a new issue has no links yet).
        adopted = {str(plan.subject), str(plan.object)} <= self._adopted
        if adopted and await self._linked(subject, obj, jira_type, plan):
            await self._done(LINK, key, target_key, {**detail, "adopted": True})
            return ADOPTED
        if (pending or shared) and await self._linked(subject, obj, jira_type, plan):
            # An earlier attempt reached Jira, or phase 3 already made this very link.
            return await self._done(
                LINK, key, target_key, {**detail, "reconciled": pending, "shared_with_hierarchy": shared}
            )
        await self._pending(LINK, key)
        for attempt in range(1, AMBIGUOUS_TRIES + 1):
            try:
                # Jira reads a posted link as "inwardIssue <outward verb> outwardIssue" (A blocks B).
                await self._ctx.jira.create_issue_link(jira_type.name, inward_key=subject, outward_key=obj)
                break
            except AmbiguousWriteError:
                if await self._linked(subject, obj, jira_type, plan):
                    return await self._done(LINK, key, target_key, {**detail, "reconciled": True})
                if attempt == AMBIGUOUS_TRIES:
                    raise
            except ApiError as err:
                if not fails_alone(err):
                    raise
                return await self._fail(LINK, key, f"Jira refused the {jira_type.name} link {subject} → {obj}: {err}")
        return await self._done(LINK, key, target_key, detail)

    async def _linked(self, subject: str, obj: str, jira_type: IssueLinkType, plan: JiraLinkPlan) -> bool:
        """A consistent read of the subject's links (not JQL search, which lags)."""
        issue = await self._ctx.jira.get_issue(subject, fields=["issuelinks"])
        return linked_in_jira(issue.fields.get("issuelinks") or [], jira_type.name, obj, symmetric=plan.symmetric)

    async def remote(self, item_key: str, remote: RemoteLinkPlan, record: ItemRecord | None) -> str:
        if (outcome := self._already(record)) is not None:
            return outcome
        issue_key = self._keys.get(item_key)
        if not issue_key:
            return await self._fail(REMOTE_LINK, remote.record_key, no_issue(remote.item_id))
        await self._pending(REMOTE_LINK, remote.record_key)
        try:
            # With a globalId the POST is create-or-update: repeating it after a crash adds nothing.
            link_id = await self._ctx.jira.create_remote_link(
                issue_key, remote.url, remote.title, global_id=remote.global_id, relationship=remote.relationship
            )
        except ApiError as err:
            if not fails_alone(err):
                raise
            return await self._fail(
                REMOTE_LINK, remote.record_key, f"Jira refused the remote link to {remote.url}: {err}"
            )
        detail = {"url": remote.url, "global_id": remote.global_id}
        if item_key in self._adopted:
            # The same globalId on an adopted issue updated the other migration's remote link in place.
            await self._done(REMOTE_LINK, remote.record_key, f"{issue_key}:{link_id}", {**detail, "adopted": True})
            return ADOPTED
        return await self._done(REMOTE_LINK, remote.record_key, f"{issue_key}:{link_id}", detail)

    async def unknown(self, source_key: str, reason: str, record: ItemRecord | None) -> str:
        if (outcome := self._already(record)) is not None:
            return outcome
        return await self._fail(REMOTE_LINK, source_key, reason)
