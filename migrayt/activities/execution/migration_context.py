"""What every phase activity needs about its migration: plan, clients, Jira catalog, lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.exceptions import ApplicationError

from migrayt.activities.execution.users import FALLBACK_USER
from migrayt.connections import SecretNotFound, SourceConnection, TargetConnection
from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import ApiError, TransportFailure
from migrayt.connectors.jira import JiraClient
from migrayt.connectors.outbound import OutboundRefused
from migrayt.connectors.pool import ConnectorPool
from migrayt.connectors.xray import XrayClient
from migrayt.contracts.record_kinds import COMPONENT, PROVENANCE_FIELD, SPRINT, USER
from migrayt.mapping.plan import MappingPlan
from migrayt.store.item_records import DONE
from migrayt.store.models import ItemRecord, Migration, StoredConnection
from migrayt.tenant_secrets import SecretRefRefused
from migrayt.translation import field_roles
from migrayt.translation.issue_fields import IssueTypeRef, Lookups, TargetCatalog
from migrayt.translation.provenance import FIELDS, MODE_KEY, PANEL, ProvenanceMode, ProvenanceTarget, chosen_facts


@dataclass
class MigrationContext:
    migration_id: str
    tenant_id: str
    plan: MappingPlan
    source: SourceConnection
    target: TargetConnection
    ado: AdoClient
    jira: JiraClient
    # Xray Cloud, when the target names its API key (migrayt/plugins/xray.py)
    xray: XrayClient | None = None


def bad_configuration(message: str) -> ApplicationError:
    return ApplicationError(message, type="BadConfiguration", non_retryable=True)


@contextmanager
def _secrets_checked(tenant: str) -> Iterator[None]:
    try:
        yield
    except SecretRefRefused as err:
        message = f"secret refused for tenant {tenant}: {err}"
        raise ApplicationError(message, type="SecretRefused", non_retryable=True) from None
    except SecretNotFound as err:
        raise bad_configuration(str(err)) from None


class MigrationContexts:
    """Loads and caches per-migration context in the worker process."""

    def __init__(self, sessions: async_sessionmaker, connectors: ConnectorPool) -> None:
        self._sessions = sessions
        self._connectors = connectors
        self._catalogs: dict[str, TargetCatalog] = {}
        self._lock = asyncio.Lock()

    async def load(self, migration_id: str) -> MigrationContext:
        async with self._sessions() as session:
            migration = await session.get(Migration, migration_id)
        if migration is None:
            raise bad_configuration(f"migration {migration_id} does not exist")
        try:
            source = SourceConnection.model_validate(migration.source)
            target = TargetConnection.model_validate(migration.target)
        except ValidationError as err:  # e.g. a URL kept before query strings were refused at input
            raise bad_configuration(
                f"migration {migration_id}: {err.error_count()} setting(s) no longer accepted, "
                "e.g. a URL with a query string; create it again"
            ) from None
        # The secrets are checked against the migration's own tenant here, at use, not only where it was made.
        tenant = migration.tenant_id
        owned = await self._owned_sealed(tenant, source.pat_ref, target.token_ref, target.xray_secret_ref or "")
        with _secrets_checked(tenant):
            ado, jira = self._connectors.ado(source, tenant, owned), self._connectors.jira(target, tenant, owned)
            xray = self._connectors.xray(target, tenant, owned)
        return MigrationContext(
            migration_id=migration.id,
            tenant_id=migration.tenant_id,
            plan=MappingPlan.model_validate(migration.plan),
            source=source,
            target=target,
            ado=ado,
            jira=jira,
            xray=xray,
        )

    async def jira_for(self, tenant: str, target: TargetConnection) -> JiraClient:
        """A client for a Jira connection no migration holds yet (a plan checked before the migration is made)."""
        owned = await self._owned_sealed(tenant, target.token_ref)
        with _secrets_checked(tenant):
            return self._connectors.jira(target, tenant, owned)

    async def _owned_sealed(self, tenant: str, *refs: str) -> frozenset[str]:
        """Of the sealed values `refs` name, those a saved connection of `tenant` holds (a sealed value is unique)."""
        sealed = [r.removeprefix("sealed:") for r in refs if r.startswith("sealed:")]
        if not sealed:
            return frozenset()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(StoredConnection.secret_encrypted).where(
                    StoredConnection.tenant_id == tenant, StoredConnection.secret_encrypted.in_(sealed)
                )
            )
            return frozenset(rows)

    async def catalog(self, ctx: MigrationContext, refresh: bool = False) -> TargetCatalog:
        async with self._lock:
            if refresh or ctx.migration_id not in self._catalogs:
                self._catalogs[ctx.migration_id] = await read_target_catalog(ctx.jira, ctx.target.project_key)
            return self._catalogs[ctx.migration_id]

    async def lookups(self, ctx: MigrationContext) -> Lookups:
        """Users, components and sprints resolved by preflight, from their item records."""
        lookups = Lookups()
        provenance: dict[str, str] = {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(ItemRecord.kind, ItemRecord.source_key, ItemRecord.target_key, ItemRecord.detail).where(
                    ItemRecord.migration_id == ctx.migration_id,
                    ItemRecord.kind.in_((USER, COMPONENT, SPRINT, PROVENANCE_FIELD)),
                    ItemRecord.state == DONE,
                )
            )
            for kind, source_key, target_key, detail in rows:
                if not target_key:
                    continue
                if kind == USER and source_key == FALLBACK_USER:
                    lookups.fallback_account = target_key
                elif kind == USER and (detail or {}).get("match") == "fallback":
                    continue  # resolve_user writes them as the fallback account; no mention of theirs
                elif kind == USER:
                    lookups.users_by_unique_name[source_key] = target_key
                    if ado_id := (detail or {}).get("ado_id"):
                        lookups.users_by_ado_id[ado_id] = target_key
                elif kind == COMPONENT:
                    lookups.components[source_key] = target_key
                elif kind == SPRINT:
                    lookups.sprints[source_key] = int(target_key)
                elif kind == PROVENANCE_FIELD:
                    provenance[source_key] = target_key
        lookups.provenance = provenance_target(ctx, provenance)
        return lookups


def provenance_target(ctx: MigrationContext, recorded: dict[str, str]) -> ProvenanceTarget | None:
    """Where this migration's provenance goes, as its last preflight recorded it; None: nowhere."""
    facts = chosen_facts(ctx.plan.provenance_fields)
    if not facts or MODE_KEY not in recorded:
        return None  # none chosen, or no preflight since provenance came in: written nowhere rather than guessed
    mode: ProvenanceMode = PANEL if recorded[MODE_KEY] == PANEL else FIELDS
    target = ProvenanceTarget(str(ctx.source.organization_url), ctx.source.project, facts, mode)
    if target.mode == FIELDS:
        target.field_ids = {f.key: recorded[f.key] for f in facts if f.key in recorded}
    return target


async def read_target_catalog(jira: JiraClient, project_key: str) -> TargetCatalog:
    try:
        project = await jira.get_project(project_key)
    except TransportFailure as err:
        raise bad_configuration(f"cannot reach Jira at {jira.base_url}: {err.reason}") from err
    except OutboundRefused as err:
        raise bad_configuration(f"Jira at {jira.base_url}: {err}") from None
    except ApiError as err:
        if err.status in (401, 403):
            raise bad_configuration(f"Jira refused the credentials for project {project_key} ({err.status})") from err
        if err.status == 404:
            raise bad_configuration(f"Jira project {project_key} does not exist or is not visible") from err
        raise
    issue_types = project.issue_types or await jira.get_issue_types(project_key)
    priorities, fields, statuses = await asyncio.gather(
        jira.get_priorities(), jira.get_fields(), jira.get_project_statuses(project_key)
    )
    return TargetCatalog(
        project_id=project.id,
        project_key=project.key,
        issue_types={
            t.name: IssueTypeRef(id=t.id, name=t.name, hierarchy_level=t.hierarchy_level, subtask=t.subtask)
            for t in issue_types
        },
        priorities={p.name: p.id for p in priorities},
        field_ids={f.id for f in fields},
        statuses={s.name for per_type in statuses for s in per_type.statuses},
        sprint_field=field_roles.sprint_field(fields),
        story_points_field=field_roles.story_points_field(fields),
    )
