"""Phases 4–8 predicted item by item, reading only: what each phase would count and which of its
records would fail, with which reason.

Each predictor mirrors one phase class in activities/execution (change them together) and reuses
its pure parts: source_links (which links exist and which item owns them), phase_links.link_blocker,
content_text (which files an item carries, their names), content_io.why_refused,
phase_transitions.no_status / not_in_workflow, content_text.split_at_cap, split_overflow and
overflow_file (the overflow parts under the upload limit) and comment_cap.

Known limits (also reported in `PreviewReport.unpredictable`):
- Transitions: Jira shows an issue's transitions only from the status it stands on, and the preview
  has no issue to ask, so reachability inside a type's workflow is assumed; a new issue is taken to
  start in the workflow's only status of category "new". A walk a condition or validator blocks
  fails in the run, not here.
- Refusals Jira alone decides (a comment or remote link refused with a 4xx) are not predicted.
- Issue keys Jira has not assigned yet appear in reasons as `KEY-(new <ADO id>)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.activities.execution.content_io import (
    why_refused,
)
from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.phase_comments import comment_cap
from migrayt.activities.execution.phase_links import link_blocker, no_issue
from migrayt.activities.execution.phase_transitions import no_status, not_in_workflow
from migrayt.connectors.ado import WorkItem
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import IssueTypeStatuses
from migrayt.contracts.phases import PHASES, Preview
from migrayt.contracts.record_kinds import (
    ATTACHMENT,
    COMMENT,
    COMMENT_OVERFLOW,
    DESCRIPTION,
    HISTORY,
    INLINE_IMAGE,
    LINK,
    REMOTE_LINK,
    TRANSITION,
)
from migrayt.contracts.runs import PhaseCounters
from migrayt.plugins import all_plugins
from migrayt.settings import get_settings
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord
from migrayt.translation.content_text import (
    ado_attachment_src,
    attachment_guid,
    description_html,
    image_file_name,
    image_sources,
    overflow_file,
    overflow_file_name,
    overflow_record_key,
    sanitise_filename,
    source_comment,
    split_at_cap,
    split_overflow,
)
from migrayt.translation.provenance import link_back
from migrayt.translation.source_links import UnknownArtifact, jira_link_for, owned_by, remote_link_for, work_item_links

CREATED, SKIPPED, FAILED = "created", "skipped", "failed"
READS_AT_ONCE = 8

TRANSITIONS_LIMIT = (
    "reachability is assumed: Jira lists an issue's transitions only from the status it stands on, so the "
    "workflow graph is learned by walking real issues; a status in the issue type's workflow is predicted "
    "reached, a walk blocked by a condition or validator would fail in the run only"
)


def too_large(filename: str, limit: int) -> str:
    """The phase's reason for a file over the site's upload limit: Jira Cloud's 413 message, as the
    phase reports it (content_io.why_refused)."""
    # Jira sees the multipart name as the client sends it (JiraClient.upload_attachment).
    sent = filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
    message = f"The file '{sent}' is too large to attach. Attachments cannot be larger than {limit} bytes."
    return why_refused(ApiError(413, [message]))


def combined(outcomes: Iterable[str]) -> str:
    """An item's outcome from its writes', as every content phase counts it."""
    seen = set(outcomes)
    if FAILED in seen:
        return FAILED
    return CREATED if CREATED in seen else SKIPPED


def transition_outcome(
    target: str, workflow: IssueTypeStatuses | None, start: str | None, issue_key: str, project_key: str
) -> tuple[str, str | None]:
    """TransitionsPhase._walk as far as it is known without walking: a status outside the type's
    workflow fails before any move; standing on the target already is a walk of no steps (skipped);
    any other status in the workflow is taken as reachable (see TRANSITIONS_LIMIT)."""
    if workflow is not None and target.casefold() not in {s.name.casefold() for s in workflow.statuses}:
        return FAILED, not_in_workflow(target, workflow, project_key, issue_key, start or "?")
    if start is not None and start.casefold() == target.casefold():
        return SKIPPED, None
    return CREATED, None


def later_phases() -> tuple[str, ...]:
    """The run's phases this module predicts, in run order."""
    return tuple(p.name for p in PHASES if p.run and p.preview == Preview.LATER_PHASES)


@dataclass
class Planned:
    source_id: int
    work_item_type: str
    parent_id: int | None
    tier: int


@dataclass
class CreatedIssues:
    """What create items leaves behind for the later phases."""

    keys: dict[str, str]  # ADO id → Jira key: done in earlier runs (any item) or predicted new
    type_ids: dict[int, str] = field(default_factory=dict)  # new issues: the issue type id they are created with
    new: set[int] = field(default_factory=set)


@dataclass
class Failure:
    phase: str
    kind: str
    source_key: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)  # the record's detail as the run writes it


class LaterPhases:
    def __init__(
        self,
        sessions: async_sessionmaker,
        ctx: MigrationContext,
        planned: list[Planned],
        work_items: dict[int, WorkItem],
        issues: CreatedIssues,
        beat: Callable[[str], None],
    ) -> None:
        self.sessions = sessions
        self.ctx = ctx
        self.planned = planned
        self.work_items = work_items
        self.issues = issues
        self.beat = beat
        self.counters: dict[str, PhaseCounters] = {}
        self.failures: list[Failure] = []
        self.unpredictable: dict[str, str] = {}
        self._failed_keys: set[tuple[str, str]] = set()
        self._done: dict[str, set[str]] = {}
        self._limit = 0
        # ADO id → guids of its own files Jira will refuse as too large (so never in Jira to point at).
        self._oversized: dict[int, dict[str, str]] = {}

    async def run(self) -> None:
        await self._load_done()
        self._limit = await self._upload_limit()
        for p in self.planned:
            for rel in self.work_items[p.source_id].relations:
                guid = attachment_guid(rel.url) if rel.is_attachment else None
                size = rel.attributes.get("resourceSize")
                if guid and guid not in self._done[ATTACHMENT] and isinstance(size, int) and size > self._limit:
                    self._oversized.setdefault(p.source_id, {})[guid] = sanitise_filename(
                        rel.attributes.get("name"), f"attachment-{guid}"
                    )
        predictors = self.predictors()
        for phase in later_phases():
            counters = self.counters[phase] = PhaseCounters(total=len(self.planned))
            if phase in self.ctx.plan.skip_phases:
                counters.skipped = len(self.planned)  # later_phases.run_phase_batch passes every item over
                continue
            self.beat(phase)
            for outcome in await predictors[phase]():
                setattr(counters, outcome, getattr(counters, outcome) + 1)

    async def _load_done(self) -> None:
        kinds = (LINK, REMOTE_LINK, ATTACHMENT, HISTORY, DESCRIPTION, TRANSITION, COMMENT, COMMENT_OVERFLOW)
        self._done = {k: set() for k in kinds}
        async with self.sessions() as session:
            rows = await session.execute(
                select(ItemRecord.kind, ItemRecord.source_key).where(
                    ItemRecord.migration_id == self.ctx.migration_id,
                    ItemRecord.kind.in_(kinds),
                    ItemRecord.state == DONE,
                )
            )
            for kind, key in rows:
                self._done[kind].add(key)

    @property
    def oversized_count(self) -> int:
        """Files Jira will refuse as too large: the set-up count the page shows beside their predicted failures."""
        return sum(len(files) for files in self._oversized.values())

    def predictors(self) -> dict[str, Callable[[], Awaitable[list[str]]]]:
        """Each registry phase predicted here (Preview.LATER_PHASES): its outcome per planned item."""
        return {
            "links": self.links,
            "attachments": self.attachments,
            "transitions": self.transitions,
            "comments": self.comments,
            # Each plugin of phase 8 predicts itself (migrayt/plugins/contract.py Plugin.preview).
            **{name: partial(p.preview, self) for name, p in all_plugins().items()},
        }

    def _fail(self, phase: str, kind: str, source_key: str, reason: str, detail: dict[str, Any] | None = None) -> str:
        # A record refused once in a run keeps its first reason (e.g. an inline image met again by comments).
        if (kind, source_key) not in self._failed_keys:
            self._failed_keys.add((kind, source_key))
            self.failures.append(Failure(phase, kind, source_key, reason, detail or {}))
        return FAILED

    def _key(self, source_id: int) -> str | None:
        return self.issues.keys.get(str(source_id)) or None

    # What a plugin's preview uses (migrayt/plugins/contract.py).
    fail = _fail
    issue_key = _key

    # --- phase 4: links ------------------------------------------------------------------------

    async def links(self) -> list[str]:
        """LinksPhase.run: owned links, remote links and unknown artifacts of each item."""
        ctx, done = self.ctx, self._done
        in_work_list = {p.source_id for p in self.planned}
        owned = {
            p.source_id: [
                link
                for link in work_item_links(
                    p.source_id, ((r.rel, r.target_id) for r in self.work_items[p.source_id].relations)
                )
                if owned_by(p.source_id, link, in_work_list)
            ]
            for p in self.planned
        }
        jira_types = {t.name.lower(): t for t in await ctx.jira.get_issue_link_types()} if any(owned.values()) else {}
        out = []
        for p in self.planned:
            wi = self.work_items[p.source_id]
            outcomes = []
            for link in owned[p.source_id]:
                if link.record_key in done[LINK]:
                    outcomes.append(SKIPPED)
                    continue
                plan = jira_link_for(link, ctx.plan.link_types)
                jira_type = jira_types.get(plan.type_name.lower()) if plan is not None else None
                reason = link_blocker(link, plan, jira_type, self.issues.keys)
                outcomes.append(self._fail("links", LINK, link.record_key, reason) if reason else CREATED)
            for rel in wi.relations:
                try:
                    remote = remote_link_for(wi.id, rel.rel, rel.url, rel.attributes, ctx.source.organization_url)
                except UnknownArtifact as err:
                    key = f"{wi.id}:{rel.url}"[:200]
                    outcomes.append(
                        SKIPPED if key in done[REMOTE_LINK] else self._fail("links", REMOTE_LINK, key, str(err))
                    )
                    continue
                if remote is None:
                    continue
                if remote.record_key in done[REMOTE_LINK]:
                    outcomes.append(SKIPPED)
                elif not self._key(wi.id):
                    outcomes.append(self._fail("links", REMOTE_LINK, remote.record_key, no_issue(remote.item_id)))
                else:
                    outcomes.append(CREATED)
            if ctx.plan.provenance_fields.link_back:
                back = link_back(ctx.source.organization_url, ctx.source.project, wi.id)
                if back.record_key in done[REMOTE_LINK]:
                    outcomes.append(SKIPPED)
                elif not self._key(wi.id):
                    outcomes.append(self._fail("links", REMOTE_LINK, back.record_key, no_issue(wi.id)))
                else:
                    outcomes.append(CREATED)
            # The item itself failed in create items: passed over, its links' reasons recorded above.
            out.append(combined(outcomes) if self._key(wi.id) else SKIPPED)
        return out

    # --- phase 5: attachments, history file, description -------------------------------------

    async def _upload_limit(self) -> int:
        """The site's upload limit, read as the scan reads it; the settings' default when Jira will not say."""
        limit = get_settings().jira_attachment_limit_bytes
        try:
            meta = await self.ctx.jira.http.get_json("/rest/api/3/attachment/meta")
            return int((meta or {}).get("uploadLimit") or limit)
        except ApiError:
            return limit

    async def attachments(self) -> list[str]:
        """AttachmentsPhase / ItemContent: each file, the history file, the description's second pass."""
        done = self._done
        out = []
        for p in self.planned:
            if not self._key(p.source_id):
                out.append(SKIPPED)
                continue
            wi = self.work_items[p.source_id]
            oversized = self._oversized.get(wi.id, {})
            outcomes: list[str] = []
            for rel in wi.relations:
                guid = attachment_guid(rel.url) if rel.is_attachment else None
                if not guid:
                    continue
                if guid in done[ATTACHMENT]:
                    outcomes.append(SKIPPED)
                elif guid in oversized:
                    outcomes.append(
                        self._fail(
                            "attachments",
                            ATTACHMENT,
                            guid,
                            too_large(oversized[guid], self._limit),
                            {"ado_item": wi.id, "filename": oversized[guid]},
                        )
                    )
                else:
                    outcomes.append(CREATED)
            # The revision history file: written for every migrated item.
            outcomes.append(SKIPPED if str(wi.id) in done[HISTORY] else CREATED)
            if str(wi.id) not in done[DESCRIPTION]:
                self._inline_images("attachments", wi.id, [description_html(wi.fields)])
            out.append(combined(outcomes))
        return out

    def _inline_images(self, phase: str, item_id: int, htmls: Iterable[str]) -> None:
        """RichText.prepare: an image showing one of the item's own files that Jira refuses is sent
        again as an inline image, unsized, and refused again (recorded, not counted: neither phase
        counts inline images)."""
        oversized = self._oversized.get(item_id)
        if not oversized:
            return
        for text in htmls:
            for src, _alt in image_sources(text) if text else ():
                guid = ado_attachment_src(src, self.ctx.source.organization_url)
                if guid in oversized:
                    self._fail(
                        phase, INLINE_IMAGE, f"{item_id}:{guid}", too_large(image_file_name(src, guid), self._limit)
                    )

    # --- phase 6: transitions ------------------------------------------------------------------

    async def transitions(self) -> list[str]:
        """TransitionsPhase: the mapped status, whether the type's workflow has it, and whether the
        issue already stands there (a walk of no steps counts as skipped)."""
        ctx = self.ctx
        workflows = {t.id: t for t in await ctx.jira.get_project_statuses(ctx.target.project_key)}
        initial: dict[str, str | None] = {}
        for type_id, wf in workflows.items():
            new = [s.name for s in wf.statuses if s.category_key == "new"]
            initial[type_id] = new[0] if len(new) == 1 else None
        self.unpredictable["transitions"] = TRANSITIONS_LIMIT
        # Issues from earlier runs stand where they stand: read them (a consistent read, no write).
        todo = [p for p in self.planned if str(p.source_id) not in self._done[TRANSITION] and self._key(p.source_id)]
        current: dict[int, tuple[str, str]] = {}
        limit = asyncio.Semaphore(READS_AT_ONCE)

        async def read(p: Planned) -> None:
            async with limit:
                issue = await ctx.jira.get_issue(self._key(p.source_id) or "", fields=["status", "issuetype"])
            current[p.source_id] = (
                str((issue.fields.get("issuetype") or {}).get("id") or ""),
                str((issue.fields.get("status") or {}).get("name") or ""),
            )

        await asyncio.gather(*(read(p) for p in todo if p.source_id not in self.issues.new))
        out = []
        for p in self.planned:
            source_key = str(p.source_id)
            issue_key = self._key(p.source_id)
            if source_key in self._done[TRANSITION] or not issue_key:
                out.append(SKIPPED)
                continue
            wi = self.work_items[p.source_id]
            ado_type = wi.type or p.work_item_type
            target = ctx.plan.target_status(ado_type, wi.state or "")
            if not target:
                out.append(self._fail("transitions", TRANSITION, source_key, no_status(wi.state, ado_type)))
                continue
            if p.source_id in self.issues.new:
                type_id = self.issues.type_ids.get(p.source_id, "")
                start = initial.get(type_id)
            else:
                type_id, start = current[p.source_id]
            workflow = workflows.get(type_id)
            if start is None:
                self.unpredictable["transitions"] = (
                    TRANSITIONS_LIMIT + f"; the status new issues of type {type_id} start in is not known "
                    "(their workflow has no single status of category 'new')"
                )
            outcome, reason = transition_outcome(target, workflow, start, issue_key, ctx.target.project_key)
            out.append(self._fail("transitions", TRANSITION, source_key, reason) if reason else outcome)
        return out

    # --- phase 7: comments ---------------------------------------------------------------------

    async def comments(self) -> list[str]:
        """CommentsPhase / ItemComments: the item's live comments up to the cap, the rest as files
        split under the upload limit (a part holding one comment too big for it alone is refused)."""
        ctx, cap = self.ctx, comment_cap()
        limit = asyncio.Semaphore(READS_AT_ONCE)

        async def one(p: Planned) -> str:
            if not self._key(p.source_id):
                return SKIPPED
            wi = self.work_items[p.source_id]
            count = wi.fields.get("System.CommentCount")
            if isinstance(count, int) and count == 0:
                return SKIPPED
            async with limit:
                live = [c async for c in ctx.ado.iter_comments(wi.id) if not c.is_deleted]
            if not live:
                return SKIPPED
            posted, overflow = split_at_cap(live, cap)
            todo = [c for c in posted if f"{wi.id}:{c.id}" not in self._done[COMMENT]]
            # Gathered concurrently, recorded in ADO order: an image's first reason is the run's.
            htmls[wi.id] = [c.text or "" for c in todo]
            outcomes = [SKIPPED] * (len(posted) - len(todo)) + [CREATED] * len(todo)
            if overflow:
                outcomes.extend(self._overflow_parts(wi.id, [source_comment(c) for c in overflow], len(posted)))
            return combined(outcomes)

        htmls: dict[int, list[str]] = {}
        out = list(await asyncio.gather(*(one(p) for p in self.planned)))
        for p in self.planned:
            self._inline_images("comments", p.source_id, htmls.get(p.source_id, ()))
        return out

    def _overflow_parts(self, item_id: int, overflow: list, cap: int) -> list[str]:
        out = []
        parts = split_overflow(overflow, cap + 1, self._limit)
        for part, (start, end) in enumerate(parts, start=1):
            key = overflow_record_key(item_id, part)
            if key in self._done[COMMENT_OVERFLOW]:
                out.append(SKIPPED)
                continue
            # Only a part of one comment can be over the limit (split_overflow fills the rest under it).
            if end - start == 1:
                size = len(
                    overflow_file(item_id, overflow[start:end], cap + 1 + start, part=part, parts=len(parts), cap=cap)
                )
                if size > self._limit:
                    out.append(
                        self._fail(
                            "comments", COMMENT_OVERFLOW, key, too_large(overflow_file_name(item_id, part), self._limit)
                        )
                    )
                    continue
            out.append(CREATED)
        return out
