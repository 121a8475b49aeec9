"""The dry run: every source item turned into the payload the run would send, checked, nothing written.

It walks the run's own steps with the run's own code (plan_problems, is_subtask, build_issue_fields,
ItemRejected) and reads what the run reads (Jira project, users by e-mail, components, boards, the
item records of earlier runs). Where the run writes (components, sprints) it predicts the write.
Phase predictors mirror the phase classes in activities/execution: change them together. Phases 4–8
are predicted in preview/later_phases.py (its docstring lists what cannot be known without writing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from migrayt.activities.execution import adoption
from migrayt.activities.execution.migration_context import (
    MigrationContext,
    MigrationContexts,
)
from migrayt.activities.execution.notifications import cannot_mute
from migrayt.activities.execution.phase_hierarchy import missing_parent_reasons
from migrayt.activities.execution.preflight import (
    component_name,
    node_path,
    plan_problems,
)
from migrayt.activities.execution.provenance_fields import survey
from migrayt.activities.execution.user_fields import users_to_give
from migrayt.activities.execution.users import NO_ACCOUNT, resolve_users
from migrayt.activities.execution.work_list import HIERARCHY_REVERSE, is_subtask
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.activities.preview.later_phases import CreatedIssues, LaterPhases, Planned
from migrayt.activities.preview.validate import validate_create
from migrayt.connectors.adf import adf_to_text, html_to_adf
from migrayt.connectors.ado import WorkItem
from migrayt.connectors.jira import CreateMetaField
from migrayt.contracts.phases import batched, run_phases
from migrayt.contracts.preview import (
    PredictedFailure,
    PreviewFinishedInput,
    PreviewInput,
    PreviewReport,
    PreviewResult,
    PreviewSample,
    ProvenancePreview,
)
from migrayt.contracts.record_kinds import COMPONENT, HIERARCHY, ISSUE, SPRINT, USER
from migrayt.contracts.runs import PhaseCounters
from migrayt.core.item_records_view import ado_item_of, describe
from migrayt.store.item_records import DONE
from migrayt.store.models import AuditEvent, ItemRecord, Preview
from migrayt.translation.issue_fields import (
    ItemRejected,
    Lookups,
    TargetCatalog,
    build_issue_fields,
    target_type_for,
)
from migrayt.translation.provenance import FIELDS, ProvenanceTarget, chosen_facts, shown, source_facts

ENUMERATE_CHUNK = 2000
SAMPLE_TEXT_CHARS = 600


class DryRun:
    """One preview of one migration; `run()` fills `report`."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        ctx: MigrationContext,
        catalog: TargetCatalog,
        samples: int,
        beat: Callable[[str], None],
    ) -> None:
        self.sessions = sessions
        self.ctx = ctx
        self.catalog = catalog
        self.samples = samples
        self.beat = beat
        self.report = PreviewReport(phases={p: PhaseCounters() for p in run_phases()})

    async def run(self) -> PreviewReport:
        ctx, report = self.ctx, self.report
        report.plan_version = ctx.plan.version
        if problems := plan_problems(ctx.plan, self.catalog):
            # The run stops in preflight with these, before writing anything.
            report.would_start = False
            report.plan_problems = problems
            return report
        await self._notifications()
        lookups = await self._lookups()
        if lookups is None:
            return report
        planned, work_items = await self._enumerate()
        report.items_total = len(planned)
        for phase in batched(run_phases()):
            report.phases[phase].total = len(planned)
        created = await self._predict_create(planned, work_items, lookups)
        if "hierarchy" in ctx.plan.skip_phases:
            report.phases["hierarchy"].skipped = len(planned)
        else:
            await self._predict_hierarchy(planned, {int(k): v for k, v in created.keys.items()})
        later = LaterPhases(self.sessions, ctx, planned, work_items, created, self.beat)
        await later.run()
        report.phases.update(later.counters)
        report.unpredictable.update(later.unpredictable)
        report.failures.extend(
            PredictedFailure(
                phase=f.phase,
                kind=f.kind,
                source_key=f.source_key,
                reason=f.reason,
                ado_id=ado_item_of(f.kind, f.source_key, f.detail),
                what=describe(f.kind, f.source_key, f.detail),
            )
            for f in later.failures
        )
        self._content(planned, work_items)
        report.content["attachments_over_limit"] = later.oversized_count
        for f in report.failures:
            if not f.what:  # those whose key names the ADO item itself (issues, parents, users)
                f.ado_id, f.what = ado_item_of(f.kind, f.source_key, {}), describe(f.kind, f.source_key, {})
        return report

    # --- preflight -----------------------------------------------------------------------------

    async def _notifications(self) -> None:
        """What the run will do to the project's notifications; a run that cannot mute them stops in preflight."""
        ctx, report = self.ctx, self.report
        if not ctx.plan.mute_notifications:
            report.notifications = "on: every issue the run writes e-mails its reporter, assignee and watchers"
        elif await ctx.jira.has_global_permission("ADMINISTER"):
            report.notifications = (
                "muted during the run (a notification scheme without events), the project's own put back when it ends"
            )
        else:
            report.would_start = False
            report.plan_problems.append(cannot_mute(ctx.target.project_key))

    async def _lookups(self) -> Lookups | None:
        ctx, report = self.ctx, self.report
        self.beat("users")
        users = await resolve_users(ctx.ado, ctx.jira, ctx.plan)
        if users.fallback_problem:
            # Preflight stops the run on it, before writing anything.
            report.would_start = False
            report.plan_problems.append(users.fallback_problem)
            return None
        for user in users.users:
            if user.account is None:
                report.users_unresolved += 1
                report.failures.append(
                    PredictedFailure(
                        phase="preflight", kind=USER, source_key=user.unique, reason=user.reason or NO_ACCOUNT
                    )
                )
            elif user.match == "fallback":
                report.users_fallback += 1
            else:
                report.users_resolved += 1
        lookups = users.lookups()
        to_give = await users_to_give(self.sessions, ctx.migration_id, lookups)
        report.issues_given_users = len(to_give)
        report.users_given = len({u for give in to_give.values() for u in give.users.values()})
        lookups.provenance = await self._provenance()
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(ItemRecord.kind, ItemRecord.source_key, ItemRecord.target_key).where(
                        ItemRecord.migration_id == ctx.migration_id,
                        ItemRecord.kind.in_((COMPONENT, SPRINT)),
                        ItemRecord.state == DONE,
                    )
                )
            ).all()
        known = {(k, s): t for k, s, t in rows if t}
        if ctx.plan.areas_to_components:
            self.beat("components")
            existing = {c.name: c.id for c in await ctx.jira.get_components(ctx.target.project_key)}
            for node in (await ctx.ado.get_areas()).walk():
                path = node_path(node)
                component_id = known.get((COMPONENT, path)) or existing.get(component_name(path))
                if component_id is None:
                    report.components_to_create += 1
                    component_id = f"(new component {component_name(path)})"
                lookups.components[path] = component_id
        if ctx.plan.iterations_to_sprints:
            self.beat("sprints")
            boards = await ctx.jira.get_boards(ctx.target.project_key)
            scrum = [b for b in boards if b.type == "scrum"] or boards
            if scrum:
                existing_sprints = {s.name: s.id for s in await ctx.jira.get_sprints(scrum[0].id)}
                for iteration in await ctx.ado.get_team_iterations():
                    path = iteration.path or iteration.name
                    sprint = known.get((SPRINT, path)) or existing_sprints.get(iteration.name[:30])
                    if sprint is None:
                        report.sprints_to_create += 1
                        sprint = -1  # created by preflight; its id is Jira's to give
                    lookups.sprints[path] = int(sprint)
        return lookups

    async def _provenance(self) -> ProvenanceTarget | None:
        """Preflight's survey of the provenance fields, with placeholders for the fields it would create."""
        ctx = self.ctx
        self.beat("provenance fields")
        found = await survey(ctx.jira, ctx.plan, ctx.target.email, ctx.target.project_key)
        choice = ctx.plan.provenance_fields
        if not found.facts:
            self.report.provenance = ProvenancePreview(where="none", link_back=choice.link_back)
            return None
        names = {f.key: f.name for f in found.facts}
        self.report.provenance = ProvenancePreview(
            where=found.mode,
            fields_found={names[k]: v for k, v in found.found.items()},
            fields_to_create=[] if found.refusal else [f.name for f in found.missing],
            reason=found.refusal,
            link_back=choice.link_back,
        )
        target = ProvenanceTarget(str(ctx.source.organization_url), ctx.source.project, found.facts, found.mode)
        if target.mode == FIELDS:
            target.field_ids = {**found.found, **{f.key: new_field(f.name) for f in found.missing}}
        return target

    async def _enumerate(self) -> tuple[list[Planned], dict[int, WorkItem]]:
        """Preflight's work list: same order, same tiers, same skipped types."""
        ctx = self.ctx
        ids = [i async for i in ctx.ado.iter_work_item_ids()]
        kinds: dict[int, tuple[str, int | None]] = {}
        work_items: dict[int, WorkItem] = {}
        for start in range(0, len(ids), ENUMERATE_CHUNK):
            self.beat(f"read {start}")
            for wi in await ctx.ado.get_work_items(ids[start : start + ENUMERATE_CHUNK], expand="relations"):
                parent = next((r.target_id for r in wi.relations if r.rel == HIERARCHY_REVERSE), None)
                kinds[wi.id] = (wi.type or "", parent)
                work_items[wi.id] = wi
        tiers: list[list[Planned]] = [[], []]
        for source_id in ids:
            if source_id not in kinds:
                continue
            work_item_type, parent = kinds[source_id]
            if work_item_type not in ctx.plan.types:
                self.report.skipped_types[work_item_type] = self.report.skipped_types.get(work_item_type, 0) + 1
                continue
            tier = 1 if is_subtask(work_item_type, parent, kinds, ctx.plan, self.catalog) else 0
            tiers[tier].append(Planned(source_id=source_id, work_item_type=work_item_type, parent_id=parent, tier=tier))
        return tiers[0] + tiers[1], work_items

    # --- create items --------------------------------------------------------------------------

    async def _records(self, kind: str) -> dict[str, str]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(ItemRecord.source_key, ItemRecord.target_key).where(
                    ItemRecord.migration_id == self.ctx.migration_id,
                    ItemRecord.kind == kind,
                    ItemRecord.state == DONE,
                )
            )
            return {s: t or "" for s, t in rows}

    async def _predict_create(
        self, planned: list[Planned], work_items: dict[int, WorkItem], lookups: Lookups
    ) -> CreatedIssues:
        """ADO id → the Jira key it will have (a placeholder for new issues), and the new issues' types."""
        ctx, report, counters = self.ctx, self.report, self.report.phases["create_items"]
        done = await self._records(ISSUE)
        created = CreatedIssues(keys={k: v for k, v in done.items() if v})
        metas = await self._create_meta()
        keys: dict[int, str] = {}
        present = await self._already_in_jira([r for r in planned if str(r.source_id) not in done], work_items)
        sampled = 0
        for row in planned:
            if str(row.source_id) in done:
                keys[row.source_id] = done[str(row.source_id)]
                counters.skipped += 1
                continue
            if row.source_id in present:
                keys[row.source_id] = created.keys[str(row.source_id)] = present[row.source_id]
                counters.adopted += 1
                continue
            wi = work_items[row.source_id]
            parent_key = keys.get(row.parent_id) if (row.tier == 1 and row.parent_id) else None
            reason, fields = None, {}
            try:
                draft = build_issue_fields(
                    wi.id,
                    wi.fields,
                    ctx.plan,
                    self.catalog,
                    lookups,
                    as_subtask=row.tier == 1 and parent_key is not None,
                    parent_key=parent_key,
                )
                fields = draft.fields
                type_id = (fields.get("issuetype") or {}).get("id")
                # Preflight puts the provenance fields on the project's screens before any issue is created.
                provenance = set((lookups.provenance.field_ids if lookups.provenance else {}).values())
                checked = {k: v for k, v in fields.items() if k not in provenance}
                error = validate_create(checked, metas.get(type_id, {}) if type_id is not None else {})
                if error is not None:
                    reason = "Jira refused the issue: " + error.describe()
            except ItemRejected as err:
                reason = str(err)
            if reason:
                counters.failed += 1
                report.failures.append(
                    PredictedFailure(phase="create_items", kind=ISSUE, source_key=str(row.source_id), reason=reason)
                )
            else:
                counters.created += 1
                keys[row.source_id] = f"{ctx.target.project_key}-(new {row.source_id})"
                created.keys[str(row.source_id)] = keys[row.source_id]
                created.new.add(row.source_id)
                created.type_ids[row.source_id] = str((fields.get("issuetype") or {}).get("id") or "")
            if sampled < self.samples:
                sampled += 1
                report.samples.append(
                    self._sample(wi, row, fields, reason, keys.get(row.parent_id) if row.parent_id else None)
                )
        created.keys.update({str(k): v for k, v in keys.items()})
        return created

    async def _already_in_jira(self, rows: list[Planned], work_items: dict[int, WorkItem]) -> dict[int, str]:
        """ADO id → the key of the issue the run would adopt, by the run's own rule (see adoption.py)."""
        if not rows:
            return {}
        ctx = self.ctx
        found = await adoption.find_by_label(ctx.jira, ctx.target.project_key, [r.source_id for r in rows])
        decided = adoption.decide(adoption.Identity.of(ctx.source), found)
        adoption.settle_legacy(
            decided, {i: adoption.expected_summary(i, work_items[i].fields) for i in decided.legacy if i in work_items}
        )
        self.report.already_in_jira = len(decided.keys)
        sample = sorted(decided.keys.values(), key=adoption.issue_number)[: adoption.SAMPLE_KEYS]
        self.report.already_in_jira_keys = sample
        return decided.keys

    async def _create_meta(self) -> dict[str, dict[str, CreateMetaField]]:
        ctx = self.ctx
        types = list(self.catalog.issue_types.values())
        metas = await asyncio.gather(*(ctx.jira.get_create_meta_fields(ctx.target.project_key, t.id) for t in types))
        return {t.id: {f.field_id: f for f in meta} for t, meta in zip(types, metas, strict=True)}

    # --- hierarchy -----------------------------------------------------------------------------

    async def _predict_hierarchy(self, planned: list[Planned], keys: dict[int, str]) -> None:
        """HierarchyPhase.run, outcome by outcome."""
        counters, report = self.report.phases["hierarchy"], self.report
        done = await self._records(HIERARCHY)
        listed = {row.source_id for row in planned}
        absent = sorted({row.parent_id for row in planned if row.parent_id and row.parent_id not in keys})
        refused = {
            int(f.source_key): f.reason for f in report.failures if f.phase == "create_items" and f.kind == ISSUE
        }
        why = await missing_parent_reasons(self.ctx, absent, {p: refused.get(p) for p in absent if p in listed})
        for row in planned:
            if not row.parent_id:
                counters.skipped += 1
            elif str(row.source_id) in done or row.source_id not in keys:
                counters.skipped += 1
            elif row.parent_id not in keys:
                counters.failed += 1
                report.failures.append(
                    PredictedFailure(
                        phase="hierarchy",
                        kind=HIERARCHY,
                        source_key=str(row.source_id),
                        reason=why[row.parent_id],
                    )
                )
            else:
                counters.created += 1

    # --- what the later phases will carry ------------------------------------------------------

    def _content(self, planned: list[Planned], work_items: dict[int, WorkItem]) -> None:
        ctx, c = self.ctx, self.report.content
        c.update(
            links=0,
            remote_links=0,
            attachments=0,
            attachments_over_limit=0,
            comments=0,
            transitions=0,
            unmapped_links=0,
        )
        for row in planned:
            wi = work_items[row.source_id]
            for rel in wi.relations:
                if rel.rel == "AttachedFile":
                    c["attachments"] += 1
                elif rel.rel in ("Hyperlink", "ArtifactLink"):
                    c["remote_links"] += 1
                elif (
                    rel.target_id is not None
                    and not rel.rel.startswith("System.LinkTypes.Hierarchy")
                    and not rel.rel.endswith("-Reverse")
                ):
                    if rel.rel in ctx.plan.link_types:
                        c["links"] += 1
                    else:
                        c["unmapped_links"] += 1
            c["comments"] += int(wi.fields.get("System.CommentCount") or 0)
            status = ctx.plan.target_status(row.work_item_type, str(wi.fields.get("System.State") or ""))
            if status and status not in ("To Do",):
                c["transitions"] += 1

    def _sample(
        self, wi: WorkItem, row: Planned, fields: dict[str, Any], reason: str | None, parent_key: str | None
    ) -> PreviewSample:
        plan = self.ctx.plan
        html = str(wi.fields.get("System.Description") or wi.fields.get("Microsoft.VSTS.TCM.ReproSteps") or "")
        type_name = target_type_for(row.work_item_type, plan, row.tier == 1 and parent_key is not None)
        priorities = {v: k for k, v in self.catalog.priorities.items()}
        priority_id = (fields.get("priority") or {}).get("id")
        return PreviewSample(
            ado_id=wi.id,
            source={
                "type": wi.type,
                "state": wi.state,
                "title": wi.title,
                "tags": wi.fields.get("System.Tags"),
                "text": adf_to_text(html_to_adf(html))[:SAMPLE_TEXT_CHARS],
                "parent": row.parent_id,
            },
            jira={
                "type": type_name,
                "summary": fields.get("summary"),
                "labels": fields.get("labels"),
                "priority": priorities.get(priority_id) if priority_id is not None else None,
                "status": plan.target_status(row.work_item_type, str(wi.state or "")),
                "text": adf_to_text(fields["description"])[:SAMPLE_TEXT_CHARS] if fields.get("description") else "",
                "parent": parent_key,
                "comments": int(wi.fields.get("System.CommentCount") or 0),
            },
            payload=fields,
            provenance=self._provenance_shown(wi),
            outcome="failed" if reason else "created",
            reason=reason,
        )

    def _provenance_shown(self, wi: WorkItem) -> list[tuple[str, str]]:
        """The provenance facts this item's issue will carry, as a reader will see them."""
        choice, source = self.ctx.plan.provenance_fields, self.ctx.source
        facts = source_facts(wi.id, wi.fields, str(source.organization_url), source.project)
        return [(f.name, shown(f, facts[f.key])) for f in chosen_facts(choice) if facts.get(f.key) is not None]


def new_field(name: str) -> str:
    """The placeholder for a custom field preflight will create (its id is Jira's to give)."""
    return f"(new field {name})"


class PreviewActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts) -> None:
        self._sessions = sessions
        self._contexts = contexts

    @activity.defn(name="preview_migration")
    @keeps_heartbeat
    async def preview_migration(self, input: PreviewInput) -> PreviewResult:
        ctx = await self._contexts.load(input.migration_id)
        catalog = await self._contexts.catalog(ctx, refresh=True)
        report = await DryRun(self._sessions, ctx, catalog, input.samples, lambda what: activity.heartbeat(what)).run()
        async with self._sessions() as session:
            await session.execute(
                update(Preview)
                .where(Preview.id == input.preview_id)
                .values(report=report.model_dump(mode="json"), plan_version=report.plan_version)
            )
            await session.commit()
        return PreviewResult(
            items_total=report.items_total, failures=len(report.failures), would_start=report.would_start
        )

    @activity.defn(name="preview_finished")
    async def preview_finished(self, input: PreviewFinishedInput) -> None:
        async with self._sessions() as session:
            row = await session.get(Preview, input.preview_id)
            if row is None or row.finished_at is not None:
                return
            row.status, row.error, row.finished_at = input.status, input.error, func.now()
            report = row.report or {}
            session.add(
                AuditEvent(
                    tenant_id=input.tenant,
                    migration_id=input.migration_id,
                    action="preview_finished",
                    actor=input.actor,
                    door=input.door,
                    event_key=f"{input.preview_id}:finished",
                    detail={
                        "preview_id": input.preview_id,
                        "status": input.status,
                        "plan_version": report.get("plan_version"),
                        "items": report.get("items_total"),
                        "failures": len(report.get("failures") or []),
                        **({"error": input.error} if input.error else {}),
                    },
                )
            )
            await session.commit()
