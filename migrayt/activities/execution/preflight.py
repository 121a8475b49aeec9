"""Phase 1: check the plan against Jira, resolve users, create components and sprints, list the work."""

from __future__ import annotations

from functools import partial

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.migration_context import MigrationContext, MigrationContexts, bad_configuration
from migrayt.activities.execution.notifications import cannot_mute
from migrayt.activities.execution.provenance_fields import ProvenanceFields
from migrayt.activities.execution.user_fields import give_left_out_users
from migrayt.activities.execution.users import FALLBACK_USER, NO_ACCOUNT, resolve_users
from migrayt.activities.execution.work_list import build_work_list
from migrayt.activities.execution.write_once import write_once
from migrayt.activities.heartbeat import keeps_heartbeat
from migrayt.connectors.ado import TeamIteration
from migrayt.connectors.http import ApiError, TransportFailure
from migrayt.connectors.outbound import OutboundRefused
from migrayt.contracts.execution import PreflightInput, PreflightResult
from migrayt.contracts.record_kinds import COMPONENT, SPRINT, USER
from migrayt.mapping.plan import MappingPlan
from migrayt.store import item_records
from migrayt.store.models import ItemRecord
from migrayt.translation.issue_fields import Lookups, TargetCatalog


def plan_problems(plan: MappingPlan, catalog: TargetCatalog) -> list[str]:
    """Every way the plan does not fit the Jira project, each naming what is wrong."""
    problems = []
    for ado_type, jira_type in {**plan.types, **plan.subtask_types}.items():
        if jira_type not in catalog.issue_types:
            problems.append(
                f"type {ado_type!r} maps to Jira issue type {jira_type!r}, which project {catalog.project_key} "
                "does not have"
            )
    for jira_type in plan.subtask_types.values():
        if jira_type in catalog.issue_types and not catalog.issue_types[jira_type].subtask:
            problems.append(f"{jira_type!r} is mapped as a sub-task type but is not a sub-task type in Jira")
    for ado_type, states in plan.states.items():
        for ado_state, status in states.items():
            if catalog.statuses and status not in catalog.statuses:
                problems.append(
                    f"state {ado_state!r} ({ado_type}) maps to status {status!r}, which does not exist in "
                    f"{catalog.project_key}"
                )
    for value, name in plan.priorities.items():
        if catalog.priorities and name not in catalog.priorities:
            problems.append(f"priority {value} maps to Jira priority {name!r}, which does not exist")
    for mapping in plan.fields:
        if mapping.target not in catalog.field_ids:
            problems.append(f"field {mapping.source} maps to Jira field {mapping.target!r}, which does not exist")
    return problems


class PreflightActivities:
    def __init__(
        self, sessions: async_sessionmaker, contexts: MigrationContexts, *, parents_at_create: bool = True
    ) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._parents_at_create = parents_at_create

    @activity.defn(name="preflight")
    @keeps_heartbeat
    async def preflight(self, input: PreflightInput) -> PreflightResult:
        ctx = await self._contexts.load(input.migration_id)
        catalog = await self._contexts.catalog(ctx, refresh=True)
        if problems := plan_problems(ctx.plan, catalog):
            raise ApplicationError(
                "the mapping plan does not fit Jira: " + "; ".join(problems), type="BadMapping", non_retryable=True
            )
        # Read-only, before any write: a run that could not mute Jira's notifications stops here.
        if ctx.plan.mute_notifications and not await ctx.jira.has_global_permission("ADMINISTER"):
            raise bad_configuration(cannot_mute(ctx.target.project_key))
        await self._check_source(ctx)
        activity.heartbeat("users")
        resolved, fallback, unresolved, lookups = await self._resolve_users(ctx)
        activity.heartbeat("users given to issues")
        issues_given_users = await give_left_out_users(
            self._sessions, ctx.jira, ctx.migration_id, input.run_id, lookups, activity.heartbeat
        )
        activity.heartbeat("components")
        components = await self._ensure_components(ctx) if ctx.plan.areas_to_components else 0
        activity.heartbeat("sprints")
        sprints = await self._ensure_sprints(ctx) if ctx.plan.iterations_to_sprints else 0
        activity.heartbeat("provenance fields")
        provenance = await ProvenanceFields(self._sessions).ensure(ctx)
        if provenance.refusal:
            activity.logger.warning(provenance.refusal)
        work = await build_work_list(
            self._sessions, input.run_id, ctx, catalog, parents_at_create=self._parents_at_create
        )
        return PreflightResult(
            tier_sizes=work.tier_sizes,
            items_total=work.total,
            skipped_types=work.skipped_types,
            users_resolved=resolved,
            users_unresolved=unresolved,
            users_fallback=fallback,
            issues_given_users=issues_given_users,
            components=components,
            sprints=sprints,
        )

    async def _check_source(self, ctx: MigrationContext) -> None:
        try:
            await ctx.ado.get_work_item_types(with_states=False)
        except TransportFailure as err:
            # Preflight fails fast: a source that cannot be reached at the start is a setting to fix.
            raise bad_configuration(
                f"cannot reach Azure DevOps at {ctx.source.organization_url}: {err.reason}"
            ) from err
        except OutboundRefused as err:
            raise bad_configuration(f"Azure DevOps at {ctx.source.organization_url}: {err}") from None
        except ApiError as err:
            if err.status in (401, 403):
                raise bad_configuration(
                    f"Azure DevOps refused the PAT for {ctx.source.organization_url} ({err.status})"
                ) from err
            if err.status == 404:
                raise bad_configuration(
                    f"Azure DevOps project {ctx.source.project} not found at {ctx.source.organization_url}"
                ) from err
            raise

    async def _resolve_users(self, ctx: MigrationContext) -> tuple[int, int, int, Lookups]:
        """Record resolve_users' answer: (own account, fallen back, unmatched) counts and the users' lookups. The
        records are rewritten whole each time: a user mapped in an earlier run and unmapped since must not keep the
        old account."""
        resolution = await resolve_users(ctx.ado, ctx.jira, ctx.plan)
        if resolution.fallback_problem:
            raise bad_configuration(resolution.fallback_problem)
        counts = {"own": 0, "fallback": 0, "unmatched": 0}
        async with self._sessions() as session:
            await session.execute(
                delete(ItemRecord).where(ItemRecord.migration_id == ctx.migration_id, ItemRecord.kind == USER)
            )
            for user in resolution.users:
                detail = {"ado_id": user.ado_id, "match": user.match, "name": user.display_name}
                if user.account is None:
                    counts["unmatched"] += 1
                    await item_records.mark_failed(
                        session, ctx.migration_id, USER, user.unique, user.reason or NO_ACCOUNT, "preflight", detail
                    )
                    continue
                counts["fallback" if user.match == "fallback" else "own"] += 1
                await item_records.mark_done(
                    session, ctx.migration_id, USER, user.unique, user.account, run_id="preflight", detail=detail
                )
            if resolution.fallback_account:
                await item_records.mark_done(
                    session, ctx.migration_id, USER, FALLBACK_USER, resolution.fallback_account, run_id="preflight"
                )
            await session.commit()
        return counts["own"], counts["fallback"], counts["unmatched"], resolution.lookups()

    async def _ensure_components(self, ctx: MigrationContext) -> int:
        root = await ctx.ado.get_areas()
        paths = [node_path(n) for n in root.walk()]
        existing = {c.name: c.id for c in await ctx.jira.get_components(ctx.target.project_key)}
        async with self._sessions() as session:
            done = await item_records.target_keys(session, ctx.migration_id, COMPONENT, paths)
            for path in paths:
                if path in done:
                    continue
                name = component_name(path)
                component_id = existing.get(name)
                # Only what this migration created is an undo's to remove; a component it found stays.
                created = {"created": True} if component_id is None else {}
                if component_id is None:
                    component_id = await write_once(
                        partial(_create_component, ctx, name, path), partial(_component_named, ctx, name)
                    )
                await item_records.mark_done(
                    session, ctx.migration_id, COMPONENT, path, component_id, run_id="preflight", detail=created
                )
                await session.commit()
        return len(paths)

    async def _ensure_sprints(self, ctx: MigrationContext) -> int:
        boards = await ctx.jira.get_boards(ctx.target.project_key)
        scrum = [b for b in boards if b.type == "scrum"] or boards
        if not scrum:
            return 0
        board_id = scrum[0].id
        iterations = await ctx.ado.get_team_iterations()
        existing = {s.name: s.id for s in await ctx.jira.get_sprints(board_id)}
        async with self._sessions() as session:
            paths = [it.path or it.name for it in iterations]
            done = await item_records.target_keys(session, ctx.migration_id, SPRINT, paths)
            for iteration in iterations:
                path = iteration.path or iteration.name
                if path in done:
                    continue
                name = iteration.name[:30]
                sprint_id = existing.get(name)
                created = {"created": True} if sprint_id is None else {}
                if sprint_id is None:
                    sprint_id = await write_once(
                        partial(_create_sprint, ctx, board_id, name, iteration),
                        partial(_sprint_named, ctx, board_id, name),
                    )
                await item_records.mark_done(
                    session, ctx.migration_id, SPRINT, path, str(sprint_id), run_id="preflight", detail=created
                )
                await session.commit()
        return len(iterations)


def node_path(node) -> str:
    """Classification node path (`\\Phoenix\\Area\\API`) as work items carry it (`Phoenix\\API`)."""
    parts = str(getattr(node, "path", None) or node.name).strip("\\").split("\\")
    if len(parts) > 1 and parts[1] in ("Area", "Iteration"):
        del parts[1]
    return "\\".join(parts)


def component_name(area_path: str) -> str:
    parts = area_path.split("\\")
    return ("/".join(parts[1:]) or parts[0])[:255]


async def _create_component(ctx: MigrationContext, name: str, area_path: str) -> str:
    return (await ctx.jira.create_component(ctx.target.project_key, name, f"ADO area {area_path}")).id


async def _create_sprint(ctx: MigrationContext, board_id: int, name: str, iteration: TeamIteration) -> int:
    sprint = await ctx.jira.create_sprint(
        board_id, name, start_date=iteration.start_date, end_date=iteration.finish_date
    )
    return sprint.id


async def _component_named(ctx: MigrationContext, name: str) -> str | None:
    return next((c.id for c in await ctx.jira.get_components(ctx.target.project_key) if c.name == name), None)


async def _sprint_named(ctx: MigrationContext, board_id: int, name: str) -> int | None:
    return next((s.id for s in await ctx.jira.get_sprints(board_id) if s.name == name), None)
