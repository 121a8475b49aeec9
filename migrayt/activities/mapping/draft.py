"""Draft a mapping plan from a scan: the matcher always; AI on top with the tenant's consent and a key."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio import activity

from migrayt.activities.execution.migration_context import MigrationContexts, bad_configuration
from migrayt.contracts.scan import DraftPlanInput, DraftPlanResult
from migrayt.intake.catalog import Catalog
from migrayt.mapping import versions
from migrayt.mapping.ai_draft import ask_model, merge
from migrayt.mapping.matcher import draft_by_rules
from migrayt.mapping.plan import MappingPlan
from migrayt.mapping.sanitiser import sanitise
from migrayt.mapping.schema import read_target_schema, source_schema
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, Scan, TenantConsent

log = logging.getLogger("migrayt.mapping")


async def ai_allowed(sessions: async_sessionmaker, tenant: str, settings: Settings) -> bool:
    """Both an explicit tenant consent and a configured key; either missing means no request at all."""
    if settings.openai_api_key is None or not settings.openai_api_key.get_secret_value():
        return False
    async with sessions() as session:
        consent = await session.get(TenantConsent, tenant)
    return bool(consent and consent.ai_drafting)


class DraftActivities:
    def __init__(self, sessions: async_sessionmaker, contexts: MigrationContexts, settings: Settings) -> None:
        self._sessions = sessions
        self._contexts = contexts
        self._settings = settings

    @activity.defn(name="draft_plan")
    async def draft_plan(self, input: DraftPlanInput) -> DraftPlanResult:
        event_key = f"{input.scan_id}:drafted"
        async with self._sessions() as session:
            done = await session.scalar(select(AuditEvent).where(AuditEvent.event_key == event_key))
            if done is not None:  # an earlier attempt already stored this draft
                return DraftPlanResult(
                    version=int(done.detail.get("version", 0)), ai_used=done.detail.get("origin") == "ai"
                )
            scan = await session.get(Scan, input.scan_id)
            previous = await versions.latest(session, input.migration_id)
        if scan is None or not scan.catalog:
            raise bad_configuration(f"scan {input.scan_id} has no catalog to draft from")
        ctx = await self._contexts.load(input.migration_id)
        catalog = Catalog.model_validate(scan.catalog)
        source = source_schema(catalog)
        target = await read_target_schema(ctx.jira, ctx.target.project_key)
        plan, report = draft_by_rules(source, target)
        if previous is not None:
            # People mapping is the user's own table; a new draft keeps it.
            before = MappingPlan.model_validate(previous.plan)
            plan.users, plan.fallback_user_email = before.users, before.fallback_user_email

        ai_used, ai_entries, model = False, 0, None
        if await ai_allowed(self._sessions, input.tenant, self._settings):
            api_key = self._settings.openai_api_key
            assert api_key is not None  # ai_allowed: no key, no AI
            model = self._settings.openai_model
            people = {p for u in catalog.users for p in (u.display_name, u.unique_name) if p}
            payload = sanitise(source, target, people)
            async with self._sessions() as session:
                session.add(
                    AuditEvent(
                        tenant_id=input.tenant,
                        migration_id=input.migration_id,
                        action="ai_draft_requested",
                        actor=input.actor,
                        door=input.door,
                        detail={
                            "model": model,
                            "source_fields": len(payload.source.fields),
                            "source_types": len(payload.source.types),
                        },
                    )
                )
                await session.commit()
            try:
                answer = await ask_model(payload, api_key=api_key, model=model, base_url=self._settings.openai_base_url)
                ai_entries = merge(plan, answer, source, target, model)
                ai_used = True
            except Exception as err:  # the rule draft stands; the failure is recorded, not the payload
                log.warning("AI drafting failed (%s); keeping the rule draft", type(err).__name__)
                async with self._sessions() as session:
                    session.add(
                        AuditEvent(
                            tenant_id=input.tenant,
                            migration_id=input.migration_id,
                            action="ai_draft_failed",
                            actor=input.actor,
                            door=input.door,
                            detail={"model": model, "error": type(err).__name__},
                        )
                    )
                    await session.commit()

        async with self._sessions() as session:
            row = await versions.add_version(
                session,
                tenant=input.tenant,
                migration_id=input.migration_id,
                plan=plan,
                origin="ai" if ai_used else "rule",
                actor=input.actor,
                door=input.door,
                model=model if ai_used else None,
                detail={
                    "scan_id": input.scan_id,
                    "ai_entries": ai_entries,
                    "unmapped": [u.model_dump() for u in report.unmapped][:100],
                },
                event_key=event_key,
                limits=versions.PlanLimits.of(self._settings),
            )
            await session.commit()
            version = row.version
        return DraftPlanResult(version=version, ai_used=ai_used, ai_entries=ai_entries, unmapped=len(report.unmapped))
