"""Preflight's part for provenance: find the Jira custom fields the plan's provenance facts go in, or create
them exactly once and put them on the project's create and edit screens; where the site will not let the
migration's user do that, the facts go in an info panel at the top of each description instead.

Jira lets two custom fields share a name, so a create repeated after a lost answer or a crash would make a
second one. Each creation is therefore a write like any other: its intent is recorded first (pending), and
a pending fact is settled by listing the site's fields by name before anything is created again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.activities.execution.migration_context import MigrationContext
from migrayt.activities.execution.write_once import write_once
from migrayt.connectors.http import ApiError
from migrayt.connectors.jira import JiraClient, JiraField
from migrayt.contracts.record_kinds import PROVENANCE_FIELD
from migrayt.mapping.plan import MappingPlan
from migrayt.store import item_records
from migrayt.store.item_records import DONE, PENDING
from migrayt.translation.provenance import FIELDS, MODE_KEY, PANEL, Fact, ProvenanceMode, chosen_facts

ADMINISTER = "ADMINISTER"
RUN_ID = "preflight"


def matching(fields: list[JiraField], fact: Fact) -> list[JiraField]:
    """The site's custom fields this fact can go in: its name and its type, oldest first."""
    found = [
        f
        for f in fields
        if f.custom and f.name == fact.name and (f.schema_ or {}).get("custom") in (None, fact.jira_type)
    ]
    return sorted(found, key=lambda f: (len(f.id), f.id))


@dataclass
class Survey:
    """What the site offers for the plan's facts, read without writing (shared with the preview)."""

    facts: list[Fact]
    found: dict[str, str] = field(default_factory=dict)  # fact key → existing field id
    missing: list[Fact] = field(default_factory=list)
    refusal: str | None = None  # why the fields cannot be created; None: they can (or none are missing)

    @property
    def mode(self) -> ProvenanceMode:
        return PANEL if self.refusal else FIELDS


def refusal_message(who: str, names: list[str], why: str) -> str:
    return (
        f"Jira user {who} cannot create the provenance fields {', '.join(names)} ({why}); the original "
        "dates, people and state go in an info panel at the top of each description instead. To have them as "
        "fields, ask a Jira administrator to create them (or to grant the Administer Jira permission) and run again."
    )


async def survey(jira: JiraClient, plan: MappingPlan, who: str, project_key: str) -> Survey:
    facts = chosen_facts(plan.provenance_fields)
    out = Survey(facts)
    if not facts:
        return out
    project = await jira.get_project(project_key)
    if not await jira.project_screen_tabs(project.id):
        # A team-managed project has no screens of its own to add a site's custom field to.
        out.refusal = refusal_message(
            who, [f.name for f in facts], f"project {project_key} has no create or edit screen to add fields to"
        )
        return out
    fields = await jira.get_fields()
    for fact in facts:
        found = matching(fields, fact)
        if found:
            out.found[fact.key] = found[0].id
        else:
            out.missing.append(fact)
    if out.missing and not await jira.has_global_permission(ADMINISTER):
        out.refusal = refusal_message(
            who, [f.name for f in out.missing], "creating custom fields needs the Administer Jira permission"
        )
    return out


class ProvenanceFields:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def ensure(self, ctx: MigrationContext) -> Survey:
        """Settle where this migration's provenance goes, and record it (read back by `provenance_target`)."""
        found = await survey(ctx.jira, ctx.plan, ctx.target.email, ctx.target.project_key)
        if not found.facts:
            await self._record_mode(ctx, FIELDS, None)
            return found
        if found.refusal is None:
            try:
                await self._create_missing(ctx, found)
                await self._put_on_screens(ctx, list(found.found.values()))
                if unsettable := await self._not_settable(ctx, list(found.found.values())):
                    found.refusal = refusal_message(
                        ctx.target.email, [f.name for f in found.facts], f"Jira does not offer them on {unsettable}"
                    )
            except ApiError as err:
                if err.status != 403:
                    raise
                found.refusal = refusal_message(
                    ctx.target.email, [f.name for f in found.facts], f"Jira answered: {err}"
                )
        await self._record_mode(ctx, found.mode, found.refusal)
        return found

    async def _create_missing(self, ctx: MigrationContext, found: Survey) -> None:
        async with self._sessions() as session:
            records = await item_records.load(session, ctx.migration_id, PROVENANCE_FIELD, [f.key for f in found.facts])
        # Fields already there (made by an earlier attempt whose answer was lost, or by anyone) are used as they are.
        for fact in found.facts:
            record = records.get(fact.key)
            ours = record is not None and bool(
                record.state == PENDING or (record.state == DONE and (record.detail or {}).get("created"))
            )
            if fact.key in found.found:
                await self._done(ctx, fact, found.found[fact.key], created=ours)
                continue
            async with self._sessions() as session:
                await item_records.mark_pending(session, ctx.migration_id, PROVENANCE_FIELD, [fact.key], RUN_ID)
                await session.commit()
            made = await write_once(partial(_create, ctx.jira, fact), partial(_named, ctx.jira, fact))
            found.found[fact.key] = made
            await self._done(ctx, fact, made, created=True)
        found.missing = []

    async def _done(self, ctx: MigrationContext, fact: Fact, field_id: str, created: bool) -> None:
        detail = {"name": fact.name, "created": True} if created else {"name": fact.name}
        async with self._sessions() as session:
            await item_records.mark_done(
                session, ctx.migration_id, PROVENANCE_FIELD, fact.key, field_id, RUN_ID, detail
            )
            await session.commit()

    async def _put_on_screens(self, ctx: MigrationContext, field_ids: list[str]) -> None:
        """Every field on every create and edit screen of the project (a field Jira cannot set there is refused)."""
        project = await ctx.jira.get_project(ctx.target.project_key)
        for screen, tab in await ctx.jira.project_screen_tabs(project.id):
            on_tab = await ctx.jira.screen_tab_fields(screen, tab)
            for field_id in field_ids:
                if field_id in on_tab:
                    continue
                try:
                    await write_once(
                        partial(ctx.jira.add_field_to_screen_tab, screen, tab, field_id),
                        partial(_on_tab, ctx.jira, screen, tab, field_id),
                    )
                except ApiError as err:
                    # Jira refuses a field already on the tab: an earlier attempt's lost answer put it there.
                    if err.status != 400 or field_id not in await ctx.jira.screen_tab_fields(screen, tab):
                        raise

    @staticmethod
    async def _not_settable(ctx: MigrationContext, field_ids: list[str]) -> str | None:
        """Where a create could not set the fields after all (a screen Migrayt did not reach), named; else None."""
        key = ctx.target.project_key
        for issue_type in await ctx.jira.get_create_meta_issue_types(key):
            offered = {f.field_id for f in await ctx.jira.get_create_meta_fields(key, issue_type.id)}
            if missing := [f for f in field_ids if f not in offered]:
                return f"the create screen of issue type {issue_type.name} ({', '.join(missing)})"
        return None

    async def _record_mode(self, ctx: MigrationContext, mode: str, reason: str | None) -> None:
        detail = {"reason": reason} if reason else {}
        async with self._sessions() as session:
            await item_records.mark_done(session, ctx.migration_id, PROVENANCE_FIELD, MODE_KEY, mode, RUN_ID, detail)
            await session.commit()


async def _create(jira: JiraClient, fact: Fact) -> str:
    return (await jira.create_field(fact.name, fact.jira_type, fact.searcher, fact.description)).id


async def _named(jira: JiraClient, fact: Fact) -> str | None:
    found = matching(await jira.get_fields(), fact)
    return found[0].id if found else None


async def _on_tab(jira: JiraClient, screen: int, tab: int, field_id: str) -> bool | None:
    return True if field_id in await jira.screen_tab_fields(screen, tab) else None
