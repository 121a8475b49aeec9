"""Versioned mapping plans: drafts, human edits, approval; the migration runs its approved version.

Every change is a new version (never an update in place); approving one copies it onto the
migration row, which is what a run reads. Audit events say who drafted, edited and approved which
version and which model was asked — never what is in the tickets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from migrayt.mapping.plan import EntryOrigin, MappingPlan
from migrayt.settings import Settings, get_settings
from migrayt.store.models import AuditEvent, Migration, PlanVersion

DRAFT = "draft"
APPROVED = "approved"
SUPERSEDED = "superseded"


class PlanNotApproved(Exception):
    """The migration's current plan version is not approved; nothing runs from it."""


class VersionConflict(Exception):
    """The version named is not the one the action expects (stale edit, already approved...)."""


class PlanTooLarge(ValueError):
    """A plan a person gave is over the server's caps (entries per table, entries in all, bytes): 422."""


@dataclass(frozen=True)
class PlanLimits:
    entries_per_table: int
    entries: int
    bytes: int
    versions_kept: int

    @classmethod
    def of(cls, settings: Settings | None = None) -> PlanLimits:
        s = settings or get_settings()
        return cls(s.plan_max_entries_per_table, s.plan_max_entries, s.plan_max_bytes, s.plan_versions_kept)


def plan_tables(plan: MappingPlan) -> dict[str, int]:
    """Entries per table of a plan, as the mapping page lists them."""
    tables = {
        "types": len(plan.types),
        "subtask_types": len(plan.subtask_types),
        "states": len(plan.states),
        "priorities": len(plan.priorities),
        "fields": len(plan.fields),
        "link_types": len(plan.link_types),
        "users": len(plan.users),
        "provenance": len(plan.provenance),
        "skip_phases": len(plan.skip_phases),
    }
    tables.update({f"states/{t}": len(per_type) for t, per_type in plan.states.items()})
    tables.update({f"fields/{m.source}/values": len(m.values) for m in plan.fields})
    return tables


def check_plan_size(plan: MappingPlan, limits: PlanLimits) -> None:
    tables = plan_tables(plan)
    for table, count in tables.items():
        if count > limits.entries_per_table:
            raise PlanTooLarge(
                f"the plan's {table[:80]} has {count} entries; at most {limits.entries_per_table} per table"
            )
    total = sum(tables.values())
    if total > limits.entries:
        raise PlanTooLarge(f"the plan has {total} entries; at most {limits.entries} in all")
    size = len(plan.model_dump_json().encode())
    if size > limits.bytes:
        raise PlanTooLarge(f"the plan is {size} bytes as JSON; at most {limits.bytes}")


async def prune(session: AsyncSession, migration_id: str, newest: int, keep: int) -> None:
    """Only the newest `keep` versions stay, and the approved one (what runs read) however old it is."""
    await session.execute(
        delete(PlanVersion).where(
            PlanVersion.migration_id == migration_id,
            PlanVersion.version <= newest - keep,
            PlanVersion.status != APPROVED,
        )
    )


async def latest(session: AsyncSession, migration_id: str) -> PlanVersion | None:
    return await session.scalar(
        select(PlanVersion)
        .where(PlanVersion.migration_id == migration_id)
        .order_by(PlanVersion.version.desc())
        .limit(1)
    )


async def get(session: AsyncSession, migration_id: str, version: int) -> PlanVersion | None:
    return await session.scalar(
        select(PlanVersion).where(PlanVersion.migration_id == migration_id, PlanVersion.version == version)
    )


async def add_version(
    session: AsyncSession,
    *,
    tenant: str,
    migration_id: str,
    plan: MappingPlan,
    origin: str,
    actor: str,
    door: str,
    model: str | None = None,
    action: str = "plan_drafted",
    detail: dict | None = None,
    event_key: str | None = None,
    limits: PlanLimits | None = None,
) -> PlanVersion:
    """A new version; a person's plan (origin "human") must fit the caps. Versions past the kept number go."""
    limits = limits or PlanLimits.of()
    if origin == "human":
        check_plan_size(plan, limits)
    # Serialise version numbers per migration: the row lock makes concurrent drafts queue.
    await session.execute(select(Migration.id).where(Migration.id == migration_id).with_for_update())
    number = (
        await session.scalar(select(func.max(PlanVersion.version)).where(PlanVersion.migration_id == migration_id)) or 0
    ) + 1
    plan = plan.model_copy(update={"version": number})
    row = PlanVersion(
        migration_id=migration_id,
        version=number,
        plan=plan.model_dump(mode="json"),
        status=DRAFT,
        origin=origin,
        model=model,
        created_by=actor,
    )
    session.add(row)
    session.add(
        AuditEvent(
            tenant_id=tenant,
            migration_id=migration_id,
            action=action,
            actor=actor,
            door=door,
            event_key=event_key,
            detail={"version": number, "origin": origin, **({"model": model} if model else {}), **(detail or {})},
        )
    )
    await session.flush()
    await prune(session, migration_id, number, max(limits.versions_kept, 1))
    return row


def mark_human_edits(base: MappingPlan, edited: MappingPlan) -> tuple[MappingPlan, list[str]]:
    """Entries a person changed become origin 'human', confidence 1; returns their keys."""
    edited = edited.model_copy(deep=True)
    changed: list[str] = []
    for section in ("types", "subtask_types", "priorities", "link_types"):
        old, new = getattr(base, section), getattr(edited, section)
        for key in set(old) | set(new):
            if old.get(key) != new.get(key):
                changed.append(f"{section}/{key}")
    for ado_type in set(base.states) | set(edited.states):
        old, new = base.states.get(ado_type, {}), edited.states.get(ado_type, {})
        for key in set(old) | set(new):
            if old.get(key) != new.get(key):
                changed.append(f"states/{ado_type}/{key}")
    for key in changed:
        edited.provenance[key] = EntryOrigin(origin="human", confidence=1.0, note="edited")
    old_fields = {m.source: m for m in base.fields}
    for m in edited.fields:
        before = old_fields.get(m.source)
        if before is None or (before.target, before.transform, before.values) != (m.target, m.transform, m.values):
            m.origin, m.confidence = "human", 1.0
            changed.append(f"fields/{m.source}")
    for source in set(old_fields) - {m.source for m in edited.fields}:
        changed.append(f"fields/{source}")
    if (base.users, base.fallback_user_email) != (edited.users, edited.fallback_user_email):
        changed.append("users")
    return edited, sorted(changed)


async def edit(
    session: AsyncSession,
    *,
    tenant: str,
    migration_id: str,
    base_version: int,
    plan: MappingPlan,
    actor: str,
    door: str,
    limits: PlanLimits | None = None,
) -> PlanVersion:
    """A person's edit of `base_version`: a new draft version, which needs approval again."""
    base = await get(session, migration_id, base_version)
    if base is None:
        raise VersionConflict(f"plan version {base_version} of {migration_id} does not exist")
    current = await latest(session, migration_id)
    if current is not None and current.version != base_version:
        raise VersionConflict(f"plan version {base_version} is not the latest ({current.version}); edit the latest")
    marked, changed = mark_human_edits(MappingPlan.model_validate(base.plan), plan)
    return await add_version(
        session,
        tenant=tenant,
        migration_id=migration_id,
        plan=marked,
        origin="human",
        actor=actor,
        door=door,
        action="plan_edited",
        detail={"base_version": base_version, "changed": changed[:200]},
        limits=limits,
    )


async def approve(
    session: AsyncSession,
    *,
    tenant: str,
    migration_id: str,
    version: int,
    actor: str,
    door: str,
    acknowledged: Sequence[str] = (),
    jira_values_unchecked: str | None = None,
) -> PlanVersion:
    """Approve the latest version: it becomes the plan the migration's runs use. `jira_values_unchecked`: why its
    Jira values could not be checked against the project (the audit event keeps it)."""
    await session.execute(select(Migration.id).where(Migration.id == migration_id).with_for_update())
    row = await get(session, migration_id, version)
    current = await latest(session, migration_id)
    if row is None or current is None:
        raise VersionConflict(f"plan version {version} of {migration_id} does not exist")
    if row.version != current.version:
        raise VersionConflict(
            f"plan version {version} is not the latest ({current.version}); only the latest can be approved"
        )
    if row.status == APPROVED:
        return row
    await session.execute(
        update(PlanVersion)
        .where(PlanVersion.migration_id == migration_id, PlanVersion.status == APPROVED)
        .values(status=SUPERSEDED)
    )
    row.status = APPROVED
    row.approved_by = actor
    row.approved_at = datetime.now(UTC)
    await session.execute(update(Migration).where(Migration.id == migration_id).values(plan=row.plan))
    session.add(
        AuditEvent(
            tenant_id=tenant,
            migration_id=migration_id,
            action="plan_approved",
            actor=actor,
            door=door,
            detail={
                "version": version,
                "origin": row.origin,
                **({"model": row.model} if row.model else {}),
                **({"acknowledged": list(acknowledged)} if acknowledged else {}),
                **({"jira_values_unchecked": jira_values_unchecked} if jira_values_unchecked else {}),
            },
        )
    )
    await session.flush()
    return row


async def require_approved(session: AsyncSession, migration_id: str) -> int:
    """The approved version a run may start from, or PlanNotApproved naming why not."""
    current = await latest(session, migration_id)
    if current is None:
        raise PlanNotApproved(f"migration {migration_id} has no mapping plan version; draft and approve one first")
    if current.status != APPROVED:
        raise PlanNotApproved(
            f"plan version {current.version} of migration {migration_id} is a {current.status}, not approved; "
            "review and approve it before starting a run"
        )
    return current.version
