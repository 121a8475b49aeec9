"""The activities of a validation: list both sides, check a batch of items, finish, keep the row and the audit.

Read-only on ADO and Jira. A batch stores its differences and its counts in one transaction, replacing
what an earlier attempt of the same batch stored: a retried or re-run batch never counts twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from migrayt.activities.execution.adoption import SOURCE_PROPERTY, FoundIssue, Identity, organization_of
from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts
from migrayt.activities.execution.phase_comments import comment_cap
from migrayt.activities.heartbeat import heartbeating, keeps_heartbeat
from migrayt.connectors.adf import html_to_adf
from migrayt.connectors.ado import WorkItem
from migrayt.contracts.record_kinds import ISSUE
from migrayt.contracts.validation import (
    Counts,
    Difference,
    DifferenceKind,
    ValidationBatchInput,
    ValidationBatchResult,
    ValidationEventInput,
    ValidationEventResult,
    ValidationFinishInput,
    ValidationFinishResult,
    ValidationPrepareInput,
    ValidationPrepareResult,
    add_counts,
)
from migrayt.plugins import all_plugins
from migrayt.store.item_records import DONE
from migrayt.store.models import AuditEvent, ItemRecord, Run, Validation, ValidationBatch, ValidationDifference
from migrayt.translation import validation_rules as rules
from migrayt.translation.content_text import (
    description_file_name,
    description_parts,
    marker_of,
    original_html_file,
    overflow_block,
    overflow_file_name,
    sanitise_filename,
    source_comment,
    split_at_cap,
    with_header,
)
from migrayt.translation.issue_fields import ItemRejected, Lookups, build_issue_fields, target_type_for
from migrayt.translation.provenance import link_back
from migrayt.translation.source_links import (
    SYMMETRIC_JIRA_TYPES,
    UnknownArtifact,
    jira_link_for,
    remote_link_for,
    work_item_links,
)

ADO_LABEL = "ado-id-"
# Images become Jira media (no text); their file names must not count as description or comment text.
_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
RICH_FIELDS = ("System.Description", "Microsoft.VSTS.TCM.ReproSteps", "Microsoft.VSTS.Common.AcceptanceCriteria")
FIELDS = (
    "issuetype",
    "summary",
    "description",
    "status",
    "priority",
    "assignee",
    "reporter",
    "components",
    "parent",
    "issuelinks",
    "attachment",
    "comment",
    "labels",
)
# Items of one batch read from ADO (comments) and Jira (remote links, changelogs) at once.
ITEMS_AT_ONCE = 8


def _ado_ids(labels: list[str]) -> list[int]:
    return [int(lb[len(ADO_LABEL) :]) for lb in labels if lb.startswith(ADO_LABEL) and lb[len(ADO_LABEL) :].isdigit()]


async def _issue_keys(sessions: async_sessionmaker, migration_id: str) -> dict[int, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(ItemRecord.source_key, ItemRecord.target_key).where(
                ItemRecord.migration_id == migration_id, ItemRecord.kind == ISSUE, ItemRecord.state == DONE
            )
        )
        return {int(s): t for s, t in rows if s.isdigit() and t}


async def store_batch(
    sessions: async_sessionmaker, validation_id: str, start: int, items: int, found: list[Difference], jira_calls: int
) -> Counts:
    """The batch's differences and counts, replacing an earlier attempt's, in one transaction."""
    counts = rules.count(found)
    async with sessions() as session:
        await session.execute(
            delete(ValidationDifference).where(
                ValidationDifference.validation_id == validation_id, ValidationDifference.batch_start == start
            )
        )
        if found:
            await session.execute(
                insert(ValidationDifference),
                [{"validation_id": validation_id, "batch_start": start, **d.model_dump(mode="json")} for d in found],
            )
        row = insert(ValidationBatch).values(
            validation_id=validation_id, start=start, items=items, counts=counts, jira_calls=jira_calls
        )
        await session.execute(
            row.on_conflict_do_update(
                index_elements=[ValidationBatch.validation_id, ValidationBatch.start],
                set_={"items": items, "counts": counts, "jira_calls": jira_calls},
            )
        )
        await session.commit()
    return counts


class ValidationActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts) -> None:
        self._sessions = sessions
        self._contexts = contexts

    # ------------------------------------------------------------------ prepare: both sides listed

    @activity.defn(name="validation_prepare")
    async def validation_prepare(self, input: ValidationPrepareInput) -> ValidationPrepareResult:
        async with heartbeating():
            ctx = await self._contexts.load(input.migration_id)
            ids = sorted([i async for i in ctx.ado.iter_work_item_ids(types=list(ctx.plan.types))])
            identity = Identity.of(ctx.source)
            by_label: dict[int, list[str]] = {}
            foreign_free: list[tuple[int, str]] = []
            jql = f'project = "{ctx.target.project_key}" ORDER BY key ASC'
            calls = 0
            async for issue in ctx.jira.search_jql(jql, fields=("labels",), properties=(SOURCE_PROPERTY,)):
                for ado_id in _ado_ids(issue.labels):
                    verdict = identity.verdict(ado_id, FoundIssue(issue.key, "", issue.properties.get(SOURCE_PROPERTY)))
                    if verdict != "foreign":
                        by_label.setdefault(ado_id, []).append(issue.key)
                        foreign_free.append((ado_id, issue.key))
            calls += 1
            account = (await ctx.jira.myself()).account_id
            written_at = await self._written_at(input.migration_id)
            in_scope = set(ids)
            extras = [
                Difference(
                    check="items",
                    kind=DifferenceKind.EXTRA,
                    ado_id=ado_id,
                    jira_key=key,
                    actual=key,
                    note="carries the identity of an ADO item that is not in the source",
                )
                for ado_id, key in foreign_free
                if ado_id not in in_scope
            ]
            scope = {
                "ids": ids,
                "identity": {str(k): v for k, v in by_label.items() if k in in_scope},
                "account": account,
                "written_at": written_at.isoformat() if written_at else None,
                "organization": organization_of(ctx.source),
            }
            async with self._sessions() as session:
                await session.execute(
                    update(Validation)
                    .where(Validation.id == input.validation_id)
                    .values(scope=scope, items_total=len(ids), updated_at=func.now())
                )
                await session.commit()
            counts = await store_batch(self._sessions, input.validation_id, -1, 0, extras, calls)
        return ValidationPrepareResult(items_total=len(ids), counts=counts)

    async def _written_at(self, migration_id: str) -> datetime | None:
        """When the migration last wrote to Jira: the end of its latest run (edits after it are someone's own)."""
        async with self._sessions() as session:
            return await session.scalar(
                select(func.max(func.coalesce(Run.finished_at, Run.updated_at))).where(Run.migration_id == migration_id)
            )

    # ------------------------------------------------------------------ one batch of items

    @activity.defn(name="validate_batch")
    async def validate_batch(self, input: ValidationBatchInput) -> ValidationBatchResult:
        async with heartbeating():
            async with self._sessions() as session:
                validation = await session.get(Validation, input.validation_id)
            assert validation is not None, input.validation_id
            scope = validation.scope or {}
            ids: list[int] = list(scope.get("ids") or [])[input.start : input.end]
            checker = _BatchCheck(self._sessions, await self._contexts.load(input.migration_id), scope, input.deep)
            checker.catalog = await self._contexts.catalog(checker.ctx)
            checker.lookups = await self._contexts.lookups(checker.ctx)
            found = await checker.run(ids)
            counts = await store_batch(self._sessions, input.validation_id, input.start, len(ids), found, checker.calls)
        return ValidationBatchResult(items=len(ids), counts=counts, jira_calls=checker.calls)

    # ------------------------------------------------------------------ the verdict

    @activity.defn(name="validation_finish")
    @keeps_heartbeat
    async def validation_finish(self, input: ValidationFinishInput) -> ValidationFinishResult:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(ValidationBatch.items, ValidationBatch.counts).where(
                        ValidationBatch.validation_id == input.validation_id
                    )
                )
            ).all()
            counts: Counts = {}
            for _items, batch_counts in rows:
                add_counts(counts, batch_counts or {})
            items = sum(i for i, _ in rows)
            status = rules.verdict(counts, input.tolerances)
            await session.execute(
                update(Validation)
                .where(Validation.id == input.validation_id)
                .values(counts=counts, items_checked=items, updated_at=func.now())
            )
            await session.commit()
        return ValidationFinishResult(status=status, items_checked=items, counts=counts)

    # ------------------------------------------------------------------ the row and the audit trail

    @activity.defn(name="record_validation_event")
    async def record_validation_event(self, event: ValidationEventInput) -> ValidationEventResult:
        final = event.action == "validation_finished"
        async with self._sessions() as session:
            values: dict[str, Any] = {"status": event.status.value, "updated_at": func.now()}
            if final:
                values.update(finished_at=func.now(), error=event.error)
            await session.execute(update(Validation).where(Validation.id == event.validation_id).values(**values))
            audit = (
                insert(AuditEvent)
                .values(
                    event_key=event.event_key,
                    tenant_id=event.tenant,
                    migration_id=event.migration_id,
                    run_id=event.validation_id,
                    action=event.action,
                    actor=event.actor,
                    door=event.door,
                    detail={
                        "validation": event.validation_id,
                        "status": event.status.value,
                        "items_checked": event.items_checked,
                        **({"message": event.error} if event.error else {}),
                    },
                )
                .on_conflict_do_nothing(index_elements=[AuditEvent.event_key])
            )
            result = await session.execute(audit)
            await session.commit()
        return ValidationEventResult(recorded=bool(result.rowcount))


class _BatchCheck:
    """One batch: ADO items and their Jira issues side by side, check by check."""

    def __init__(self, sessions: async_sessionmaker, ctx: MigrationContext, scope: dict, deep: bool) -> None:
        self.sessions = sessions
        self.ctx = ctx
        self.scope = scope
        self.deep = deep
        self.calls = 0
        self.catalog: Any = None
        self.lookups = Lookups()
        self.account: str | None = scope.get("account")
        written = scope.get("written_at")
        self.written_at = datetime.fromisoformat(written) if written else None
        self.identity: dict[str, list[str]] = scope.get("identity") or {}

    async def run(self, ids: list[int]) -> list[Difference]:
        ctx = self.ctx
        records = await _issue_keys(self.sessions, ctx.migration_id)
        self.lookups.issue_keys = dict(records)
        work_items = {wi.id: wi for wi in await ctx.ado.get_work_items(ids, expand="relations")}
        wanted = {k for i in ids for k in [records.get(i), *self.identity.get(str(i), [])] if k}
        sprint_field = self.catalog.sprint_field if self.catalog is not None else None
        asked = (*FIELDS, sprint_field) if sprint_field else FIELDS
        asked = (*asked, *self._provenance_ids())
        issues = await ctx.jira.bulk_fetch_issues(sorted(wanted), asked) if wanted else []
        self.calls += -(-len(wanted) // 100)
        by_key = {i.key: i for i in issues}
        found: list[Difference] = []
        todo: list[tuple[WorkItem, Any]] = []
        for ado_id in ids:
            side = rules.SideBySide(ado_id, records.get(ado_id), list(self.identity.get(str(ado_id), [])))
            key, item_diffs = rules.item_differences(side, set(by_key))
            found += item_diffs
            wi = work_items.get(ado_id)
            if key is None or wi is None:
                continue
            todo.append((wi, by_key[key]))
        limit = asyncio.Semaphore(ITEMS_AT_ONCE)

        async def one(wi: WorkItem, issue: Any) -> list[Difference]:
            async with limit:
                return await self._item(wi, issue, records)

        for part in await asyncio.gather(*(one(wi, issue) for wi, issue in todo)):
            found += part
        # Each plugin the plan runs checks what it wrote for these items (migrayt/plugins/contract.py).
        pairs = [(wi, issue.key) for wi, issue in todo]
        for name, plugin in all_plugins().items():
            if pairs and name not in ctx.plan.skip_phases:
                found += await plugin.check_batch(ctx, pairs)
        return found

    async def _item(self, wi: WorkItem, issue: Any, records: dict[int, str]) -> list[Difference]:
        ctx, plan = self.ctx, self.ctx.plan
        fields = issue.fields
        ado_type = wi.type or ""
        parent_id = next(
            (r.target_id for r in wi.relations if r.rel == "System.LinkTypes.Hierarchy-Reverse" and r.target_id), None
        )
        parent_key = records.get(parent_id) if parent_id else None
        actual_type = (fields.get("issuetype") or {}).get("name")
        as_subtask = bool(plan.subtask_types.get(ado_type)) and actual_type == plan.subtask_types.get(ado_type)
        try:
            ado_fields = {
                k: _IMAGE.sub(" ", v) if k in RICH_FIELDS and isinstance(v, str) else v for k, v in wi.fields.items()
            }
            draft = build_issue_fields(
                wi.id, ado_fields, plan, self.catalog, self.lookups, as_subtask=as_subtask, parent_key=parent_key
            )
        except ItemRejected:
            draft = None
        types = {t for t in (target_type_for(ado_type, plan, False), plan.subtask_types.get(ado_type)) if t}
        priorities = {v: k for k, v in self.catalog.priorities.items()}
        expected = rules.ExpectedIssue(
            ado_id=wi.id,
            types=frozenset(types),
            summary=draft.fields["summary"] if draft else (fields.get("summary") or ""),
            description=rules.adf_text(draft.fields.get("description")) if draft else "",
            status=plan.target_status(ado_type, wi.state or ""),
            priority=priorities.get((draft.fields.get("priority") or {}).get("id")) if draft else None,
            assignee=(draft.fields.get("assignee") or {}).get("accountId") if draft else None,
            reporter=(draft.fields.get("reporter") or {}).get("accountId") if draft else None,
            components=frozenset(c["id"] for c in draft.fields.get("components") or []) if draft else None,
            sprint=draft.fields.get(self.catalog.sprint_field) if draft and self.catalog.sprint_field else None,
            parent=parent_key,
            children=frozenset(
                k
                for r in wi.relations
                if r.rel == "System.LinkTypes.Hierarchy-Forward" and (k := records.get(r.target_id or 0))
            ),
            links=frozenset(self._links(wi, records)),
            attachments=tuple(
                rules.FileRef(
                    sanitise_filename(r.attributes.get("name"), f"attachment-{r.url.rsplit('/', 1)[-1]}"),
                    r.attributes.get("resourceSize") if isinstance(r.attributes.get("resourceSize"), int) else None,
                )
                for r in wi.relations
                if r.rel == "AttachedFile"
            ),
            own_file_prefix=f"ado-{wi.id}-",
        )
        skipped = set(plan.skip_phases)
        if "attachments" in skipped:
            expected.attachments = None
        overflow: list[tuple[int, str]] = []
        if "comments" in skipped:
            expected.comments = None
        else:
            expected.comments, overflow = await self._expected_comments(wi.id)
        expected.remote_links = None if "links" in skipped else self._remote_links(wi)
        if "links" in skipped:
            expected.links = frozenset()
        comments = (fields.get("comment") or {}).get("comments") or []
        total = (fields.get("comment") or {}).get("total")
        all_comments = None
        if isinstance(total, int) and total > len(comments):
            all_comments = [c.model_dump(by_alias=True) for c in await ctx.jira.list_comments(issue.key)]
            self.calls += -(-total // 100)
        actual = rules.actual_issue(
            issue.key,
            fields,
            symmetric_types=SYMMETRIC_JIRA_TYPES,
            marker_of=marker_of,
            comments=all_comments,
            sprint_field=self.catalog.sprint_field,
        )
        if draft is not None and self._provenance_ids():
            expected.provenance = {fid: draft.fields.get(fid) for fid in self._provenance_ids()}
            actual.provenance = {fid: fields.get(fid) for fid in self._provenance_ids()}
        if expected.remote_links is not None:
            self.calls += 1
            actual.remote_links = tuple(
                str(r.object.get("url")) for r in await ctx.jira.get_remote_links(issue.key) if r.object.get("url")
            )
        if "transitions" in skipped:
            expected.status = None
        if self.deep and expected.attachments is not None:
            expected, actual = await self._with_digests(wi, expected, actual, fields)
        differences = rules.compare_issue(expected, actual, deep=self.deep)
        raw_files = fields.get("attachment") or []
        if "attachments" not in skipped and (
            (draft is not None and draft.description_truncated) or rules.CUT_NOTE in actual.description
        ):
            differences += await self._cut_description(wi, issue.key, raw_files)
        if overflow:
            differences += await self._overflow(wi.id, issue.key, overflow, raw_files)
        if not differences:
            return []
        self.calls += 1
        log = await ctx.jira.issue_changelog(issue.key)
        changes = rules.changes_from_changelog(entry.model_dump() for entry in log)
        return rules.classify(differences, changes, self.account, self.written_at, actual.comments)

    def _links(self, wi: WorkItem, records: dict[int, str]) -> list[rules.LinkEnd]:
        out = []
        relations = [(r.rel, r.target_id) for r in wi.relations]
        for link in work_item_links(wi.id, relations):
            plan = jira_link_for(link, self.ctx.plan.link_types)
            if plan is None:
                continue
            other_id = plan.object if plan.subject == wi.id else plan.subject
            other = records.get(other_id)
            if other is None:
                continue  # the other end never migrated: the link cannot exist (reported on that item)
            direction = "both" if plan.symmetric else ("outward" if plan.subject == wi.id else "inward")
            out.append(rules.LinkEnd(plan.type_name, direction, other))
        return out

    def _provenance_ids(self) -> tuple[str, ...]:
        """The provenance fields this migration writes (none where they go in the description panel)."""
        target = self.lookups.provenance
        return tuple(sorted(target.field_ids.values())) if target is not None else ()

    def _remote_links(self, wi: WorkItem) -> frozenset[str] | None:
        urls = set()
        for r in wi.relations:
            try:
                remote = remote_link_for(wi.id, r.rel, r.url, r.attributes, str(self.ctx.source.organization_url))
            except UnknownArtifact:
                continue
            if remote is not None:
                urls.add(remote.url)
        if self.ctx.plan.provenance_fields.link_back:
            urls.add(link_back(str(self.ctx.source.organization_url), self.ctx.source.project, wi.id).url)
        # Read only where the source has some: one Jira call per such item, none for the others.
        return frozenset(urls) if urls else None

    async def _expected_comments(self, ado_id: int) -> tuple[tuple[rules.CommentRef, ...], list[tuple[int, str]]]:
        """(the comments posted in Jira, (id, block) of each one past the cap as the overflow file holds it)."""
        comments = [source_comment(c) async for c in self.ctx.ado.iter_comments(ado_id) if not c.is_deleted]
        posted, overflow = split_at_cap(comments, comment_cap())
        refs = tuple(
            rules.CommentRef(c.id, rules.adf_text(with_header(c, html_to_adf(_IMAGE.sub(" ", c.html))))) for c in posted
        )
        first = len(posted) + 1
        return refs, [(c.id, overflow_block(first + i, c)) for i, c in enumerate(overflow)]

    async def _read_file(self, attachment: Mapping[str, Any]) -> bytes:
        self.calls += 1
        return b"".join([chunk async for chunk in self.ctx.jira.stream_attachment_content(str(attachment.get("id")))])

    async def _cut_description(self, wi: WorkItem, key: str, raw_files: list[dict]) -> list[Difference]:
        """A cut description against its attached original, rebuilt from the ADO text as the run writes it."""
        original = original_html_file(wi.id, "\n".join(description_parts(wi.fields)))
        attached: dict[str, bytes | None] = {}
        for a in rules.own_files(wi.id, raw_files, rules.DESCRIPTION_ORIGINAL_NAME):
            # Only a file of the right size can be the original: the others are not downloaded.
            attached[str(a.get("filename"))] = await self._read_file(a) if a.get("size") == len(original) else None
        return rules.cut_description_differences(wi.id, key, original, attached, description_file_name(wi.id))

    async def _overflow(
        self, ado_id: int, key: str, blocks: list[tuple[int, str]], raw_files: list[dict]
    ) -> list[Difference]:
        """The comments past Jira's per-issue cap against the overflow file (all its parts) attached to the issue."""
        attached = {
            str(a.get("filename")): await self._read_file(a)
            for a in rules.own_files(ado_id, raw_files, rules.OVERFLOW_NAME)
        }
        return rules.overflow_differences(ado_id, key, blocks, attached, comment_cap(), overflow_file_name(ado_id))

    async def _with_digests(
        self, wi: WorkItem, expected: rules.ExpectedIssue, actual: rules.ActualIssue, fields: dict
    ) -> tuple[rules.ExpectedIssue, rules.ActualIssue]:
        """Deep mode: the sha-256 of every file on both sides."""

        async def digest(chunks) -> str:
            h = hashlib.sha256()
            async for chunk in chunks:
                h.update(chunk)
            return h.hexdigest()

        assert expected.attachments is not None  # called only when the attachments phase ran
        files = [r for r in wi.relations if r.rel == "AttachedFile"]
        want = [
            replace(ref, sha256=await digest(self.ctx.ado.stream_attachment(r.url)))
            for ref, r in zip(expected.attachments, files, strict=True)
        ]
        have = []
        for raw, ref in zip(fields.get("attachment") or [], actual.attachments, strict=True):
            self.calls += 1
            have.append(replace(ref, sha256=await digest(self.ctx.jira.stream_attachment_content(str(raw.get("id"))))))
        expected.attachments = tuple(want)
        actual.attachments = tuple(have)
        return expected, actual
