"""Intake: connect, scan, map, preview — the service the doors (HTTP, CLI, web) call before a run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from migrayt.connections import SourceConnection, TargetConnection
from migrayt.connections_store import (
    AdoConnectionInput,
    ConnectionStore,
    ConnectionView,
    JiraCloudConnectionInput,
    JiraDataCenterConnectionInput,
)
from migrayt.contracts.preview import PreviewWorkflowInput, PreviewWorkflowResult
from migrayt.contracts.scan import ScanInput, ScanResult
from migrayt.core.errors import FindingsNotAcknowledged, NotFound, ServiceUnreachable, WrongConnectionKind
from migrayt.core.jira_options import JiraOptions
from migrayt.core.migrations import Migrations
from migrayt.core.ownership import owned
from migrayt.core.user_mapping import JiraUserView, UserMapping, UserTable
from migrayt.intake.lint import LimitBreach, LintReport
from migrayt.mapping import versions
from migrayt.mapping.plan import MappingPlan, default_plan
from migrayt.mapping.schema import TargetSchema
from migrayt.settings import Settings
from migrayt.store.models import AuditEvent, Migration, PlanVersion, Preview, Scan, StoredConnection, TenantConsent
from migrayt.temporal.search_attributes import tenant_only
from migrayt.workflows.preview import PreviewWorkflow
from migrayt.workflows.scan import ScanWorkflow


class IntakeService:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], temporal: Client) -> None:
        self.settings = settings
        self.sessions = sessions
        self.temporal = temporal
        self.connections = ConnectionStore(settings, sessions)
        self.users = UserMapping(settings, sessions)
        self.options = JiraOptions(settings, sessions)

    async def _migration(self, tenant: str, migration_id: str) -> Migration:
        async with self.sessions() as session:
            return await owned(session, Migration, migration_id, tenant, "migration")

    # --- connect -------------------------------------------------------------------------------

    async def save_connection(
        self,
        tenant: str,
        input: AdoConnectionInput | JiraCloudConnectionInput | JiraDataCenterConnectionInput,
        actor: str,
        door: str,
    ) -> ConnectionView:
        """Tested with a real call first; a wrong URL or secret raises ConnectionRejected and nothing is kept."""
        return await self.connections.save(tenant, input, actor, door)

    async def list_connections(self, tenant: str) -> list[ConnectionView]:
        return await self.connections.list(tenant)

    async def delete_connection(self, tenant: str, connection_id: str, actor: str, door: str) -> None:
        """Refused (InUse, naming them) while a migration uses it."""
        await self.connections.delete(tenant, connection_id, actor, door)

    async def rotate_connection_secret(
        self, tenant: str, connection_id: str, secret: SecretStr, actor: str, door: str
    ) -> tuple[ConnectionView, Sequence[str]]:
        """The new secret is tested first; refused (ConnectionRejected), the old one stays."""
        return await self.connections.rotate(tenant, connection_id, secret, actor, door)

    async def create_migration_from_connections(
        self,
        tenant: str,
        name: str,
        ado_connection_id: str,
        jira_connection_id: str,
        jira_project_key: str,
        actor: str,
        door: str,
        *,
        ado_project: str | None = None,
        plan: MappingPlan | None = None,
        approved: bool = False,
    ) -> str:
        """A migration between two saved (tested) connections, with `plan` (default: the built-in one) as a
        draft to review, or approved.

        Another tenant's connection is NotFound; the tenant's own of the wrong kind is WrongConnectionKind.
        The worker reads the secrets as `sealed:` references (still encrypted under MIGRAYT_SECRET_KEY)."""
        ado, ado_secret = await self._saved(tenant, ado_connection_id, ("ado",))
        jira, jira_secret = await self._saved(tenant, jira_connection_id, ("jira_cloud", "jira_dc"))
        if jira.kind == "jira_dc":
            raise WrongConnectionKind(
                f"connection {jira_connection_id} is Jira Data Center: a run writes through Jira Cloud's REST API v3 "
                "(rich text as ADF), which Data Center does not serve; migrate into a Jira Cloud site"
            )
        source = SourceConnection(
            organization_url=ado.url,
            project=ado_project or (ado.detail or {}).get("project") or "",
            pat_ref=f"sealed:{ado_secret}",
        )
        target = TargetConnection(
            base_url=jira.url,
            project_key=jira_project_key,
            email=jira.username or "",
            token_ref=f"sealed:{jira_secret}",
        )
        plan = plan or default_plan()
        if approved:  # approved as it is made: the check an approval makes, on the saved (tested) connection
            versions.check_plan_size(plan, versions.PlanLimits.of(self.settings))
            try:
                await self.options.check_new(tenant, target, plan)
            except ServiceUnreachable:
                pass  # as on approval: the run's preflight and the preview check the values against Jira
        return await Migrations(self.settings, self.sessions, self.temporal).create_migration(
            tenant, name, source, target, plan, actor=actor, door=door, approved=approved
        )

    async def _saved(self, tenant: str, connection_id: str, kinds: tuple[str, ...]) -> tuple[StoredConnection, str]:
        async with self.sessions() as session:
            row = await owned(session, StoredConnection, connection_id, tenant, "connection")
        if row.kind not in kinds:
            raise WrongConnectionKind(
                f"connection {connection_id} is a {row.kind} connection; this needs a {' or '.join(kinds)} one"
            )
        return row, row.secret_encrypted

    # --- consent -------------------------------------------------------------------------------

    async def set_ai_consent(self, tenant: str, consent: bool, actor: str, door: str) -> None:
        async with self.sessions() as session:
            stmt = insert(TenantConsent).values(tenant_id=tenant, ai_drafting=consent, given_by=actor)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[TenantConsent.tenant_id], set_={"ai_drafting": consent, "given_by": actor}
                )
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    action="ai_consent_given" if consent else "ai_consent_withdrawn",
                    actor=actor,
                    door=door,
                    detail={"model": self.settings.openai_model},
                )
            )
            await session.commit()

    # --- scan ----------------------------------------------------------------------------------

    async def start_scan(
        self,
        tenant: str,
        migration_id: str,
        actor: str,
        door: str,
        *,
        limit_overrides: dict[str, int] | None = None,
        draft_plan: bool = True,
    ) -> str:
        await self._migration(tenant, migration_id)
        scan_id = f"scan-{uuid.uuid4().hex[:12]}"
        async with self.sessions() as session:
            session.add(
                Scan(
                    id=scan_id,
                    tenant_id=tenant,
                    migration_id=migration_id,
                    status="RUNNING",
                    catalog={},
                    lint={},
                    quote={},
                )
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    action="scan_requested",
                    actor=actor,
                    door=door,
                    detail={"scan_id": scan_id},
                )
            )
            await session.commit()
        await self.temporal.start_workflow(
            ScanWorkflow.run,
            ScanInput(
                scan_id=scan_id,
                migration_id=migration_id,
                tenant=tenant,
                actor=actor,
                door=door,
                limit_overrides=limit_overrides or {},
                draft_plan=draft_plan,
            ),
            id=scan_id,
            task_queue=self.settings.task_queue,
            search_attributes=tenant_only(tenant),
        )
        return scan_id

    async def scan_result(self, scan_id: str) -> ScanResult:
        return await self.temporal.get_workflow_handle_for(ScanWorkflow.run, scan_id).result()

    async def get_scan(self, tenant: str, scan_id: str) -> Scan:
        async with self.sessions() as session:
            return await owned(session, Scan, scan_id, tenant, "scan")

    # --- mapping -------------------------------------------------------------------------------

    async def plan_versions(self, tenant: str, migration_id: str) -> list[PlanVersion]:
        await self._migration(tenant, migration_id)
        async with self.sessions() as session:
            rows = await session.scalars(
                select(PlanVersion).where(PlanVersion.migration_id == migration_id).order_by(PlanVersion.version)
            )
            return list(rows)

    async def plan(self, tenant: str, migration_id: str, version: int | None = None) -> tuple[PlanVersion, MappingPlan]:
        await self._migration(tenant, migration_id)
        async with self.sessions() as session:
            row = await (
                versions.get(session, migration_id, version) if version else versions.latest(session, migration_id)
            )
        if row is None:
            raise NotFound(f"plan version {version or 'latest'} of {migration_id} not found")
        return row, MappingPlan.model_validate(row.plan)

    async def jira_options(self, tenant: str, migration_id: str) -> TargetSchema:
        """What the plan's Jira side may name: the project's types with their statuses, fields, priorities, links."""
        await self._migration(tenant, migration_id)
        return await self.options.read(migration_id)

    async def edit_plan(
        self, tenant: str, migration_id: str, base_version: int, plan: MappingPlan, actor: str, door: str
    ) -> int:
        """A new version; refused (UnknownJiraValue) while it names a Jira value the project does not have."""
        await self._migration(tenant, migration_id)
        versions.check_plan_size(plan, versions.PlanLimits.of(self.settings))  # a huge plan is refused unread
        try:
            await self.options.check(migration_id, plan)
        except ServiceUnreachable:
            pass  # Jira cannot be read now: the draft is kept, and approval checks it (and refuses while unread)
        async with self.sessions() as session:
            row = await versions.edit(
                session,
                tenant=tenant,
                migration_id=migration_id,
                base_version=base_version,
                plan=plan,
                actor=actor,
                door=door,
                limits=versions.PlanLimits.of(self.settings),
            )
            await session.commit()
            return row.version

    async def findings_to_acknowledge(self, tenant: str, migration_id: str) -> list[LimitBreach]:
        """The latest completed scan's findings the run will fail items over (none before a scan)."""
        await self._migration(tenant, migration_id)
        async with self.sessions() as session:
            lint = await session.scalar(
                select(Scan.lint)
                .where(Scan.migration_id == migration_id, Scan.status == "COMPLETED")
                .order_by(Scan.started_at.desc())
                .limit(1)
            )
        return LintReport.model_validate(lint or {}).to_acknowledge()

    async def approve_plan(
        self,
        tenant: str,
        migration_id: str,
        version: int,
        actor: str,
        door: str,
        acknowledged: Sequence[str] = (),
    ) -> None:
        """Approve the latest version; refused while a finding that will fail items is not acknowledged (by rule),
        or while it names a Jira value the project does not have (a plan saved before values were checked)."""
        unchecked = None
        try:
            _, plan = await self.plan(tenant, migration_id, version)
            await self.options.check(migration_id, plan)
        except NotFound:
            pass  # versions.approve answers a version that does not exist
        except ServiceUnreachable as err:
            # Jira cannot be read from here (down, or its secret only where the worker runs): the approval is
            # recorded as unchecked, and the run's preflight and the preview check the values against Jira.
            unchecked = str(err)[:300]
        missing = [f for f in await self.findings_to_acknowledge(tenant, migration_id) if f.rule not in acknowledged]
        if missing:
            raise FindingsNotAcknowledged(
                "the plan cannot be approved until these scan findings, which will fail items, are acknowledged: "
                + "; ".join(f"{f.rule} ({f.message})" for f in missing)
                + ". Acknowledge each by name (API: acknowledge, CLI: map approve --acknowledge "
                + " --acknowledge ".join(f.rule for f in missing)
                + ")"
            )
        async with self.sessions() as session:
            await versions.approve(
                session,
                tenant=tenant,
                migration_id=migration_id,
                version=version,
                actor=actor,
                door=door,
                acknowledged=sorted(set(acknowledged)),
                jira_values_unchecked=unchecked,
            )
            await session.commit()

    async def user_table(self, tenant: str, migration_id: str, version: int | None = None) -> UserTable:
        """Every ADO identity with the Jira account the run would write for it under this plan version."""
        _, plan = await self.plan(tenant, migration_id, version)
        return await self.users.table(migration_id, plan)

    async def search_jira_users(self, tenant: str, migration_id: str, query: str) -> list[JiraUserView]:
        await self._migration(tenant, migration_id)
        return await self.users.search(migration_id, query)

    # --- preview -------------------------------------------------------------------------------

    async def start_preview(self, tenant: str, migration_id: str, actor: str, door: str, *, samples: int = 5) -> str:
        """A dry run of the migration's current plan version (approved or not: previewing helps decide)."""
        await self._migration(tenant, migration_id)
        preview_id = f"preview-{uuid.uuid4().hex[:12]}"
        async with self.sessions() as session:
            session.add(
                Preview(id=preview_id, tenant_id=tenant, migration_id=migration_id, status="RUNNING", report={})
            )
            session.add(
                AuditEvent(
                    tenant_id=tenant,
                    migration_id=migration_id,
                    action="preview_requested",
                    actor=actor,
                    door=door,
                    detail={"preview_id": preview_id},
                )
            )
            await session.commit()
        await self.temporal.start_workflow(
            PreviewWorkflow.run,
            PreviewWorkflowInput(
                preview_id=preview_id, migration_id=migration_id, tenant=tenant, actor=actor, door=door, samples=samples
            ),
            id=preview_id,
            task_queue=self.settings.task_queue,
            search_attributes=tenant_only(tenant),
        )
        return preview_id

    async def preview_result(self, preview_id: str) -> PreviewWorkflowResult:
        return await self.temporal.get_workflow_handle_for(PreviewWorkflow.run, preview_id).result()

    async def get_preview(self, tenant: str, preview_id: str) -> Preview:
        async with self.sessions() as session:
            return await owned(session, Preview, preview_id, tenant, "preview")

    async def audit(self, tenant: str, migration_id: str | None = None) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            stmt = select(AuditEvent).where(AuditEvent.tenant_id == tenant).order_by(AuditEvent.id)
            if migration_id:
                stmt = stmt.where(AuditEvent.migration_id == migration_id)
            rows = await session.scalars(stmt)
            return [dict(action=r.action, actor=r.actor, door=r.door, detail=r.detail) for r in rows]
