"""Tenant API tokens: issued once, kept only as a SHA-256, looked up by that hash on every request.

A token is `mgt_` + 32 random bytes (url-safe base64). It is shown once when issued; the table
keeps its SHA-256 and its first characters (so a user can tell tokens apart), never the token.
A token of 256 random bits needs no slow hash: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.store.models import ApiToken, AuditEvent, Tenant
from migrayt.tenant_secrets import TENANT_ID_PATTERN, check_tenant_id

TOKEN_PREFIX = "mgt_"
# Tenant ids map one-to-one onto secret variable names (migrayt/tenant_secrets.py): no `.`, `_` or `--`.
TENANT_PATTERN = TENANT_ID_PATTERN


class TokenView(BaseModel):
    """A token as listed: never the token itself."""

    id: str
    tenant: str
    name: str
    prefix: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedToken(TokenView):
    token: str  # shown once, here


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _view(row: ApiToken) -> TokenView:
    return TokenView(
        id=row.id,
        tenant=row.tenant_id,
        name=row.name,
        prefix=row.prefix,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def issue_token(sessions: async_sessionmaker, tenant: str, name: str, actor: str, door: str) -> IssuedToken:
    """A new token of `tenant` (the tenant is created on its first token); TenantIdInvalid for a bad id."""
    check_tenant_id(tenant)
    token = new_token()
    row = ApiToken(
        id=f"tok-{uuid.uuid4().hex[:12]}",
        tenant_id=tenant,
        name=name,
        token_sha256=token_hash(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        created_by=actor,
        created_at=datetime.now(UTC),
    )
    async with sessions() as session:
        await session.execute(insert(Tenant).values(id=tenant).on_conflict_do_nothing(index_elements=[Tenant.id]))
        session.add(row)
        session.add(
            AuditEvent(
                tenant_id=tenant,
                action="api_token_issued",
                actor=actor,
                door=door,
                detail={"token_id": row.id, "name": name},
            )
        )
        await session.commit()
    return IssuedToken(**_view(row).model_dump(), token=token)


async def list_tokens(sessions: async_sessionmaker, tenant: str | None = None) -> list[TokenView]:
    async with sessions() as session:
        stmt = select(ApiToken).order_by(ApiToken.created_at)
        if tenant is not None:
            stmt = stmt.where(ApiToken.tenant_id == tenant)
        return [_view(r) for r in await session.scalars(stmt)]


async def revoke_token(sessions: async_sessionmaker, token_id: str, actor: str, door: str) -> TokenView | None:
    """Revoke; None when no such token. Revoking twice keeps the first time."""
    async with sessions() as session:
        row = await session.get(ApiToken, token_id)
        if row is None:
            return None
        if row.revoked_at is None:
            await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=datetime.now(UTC)))
            session.add(
                AuditEvent(
                    tenant_id=row.tenant_id,
                    action="api_token_revoked",
                    actor=actor,
                    door=door,
                    detail={"token_id": token_id},
                )
            )
            await session.commit()
            await session.refresh(row)
        return _view(row)


async def tenant_of(sessions: async_sessionmaker, token: str) -> tuple[str, str, str] | None:
    """(tenant, token id, token name) of a live token, or None."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(ApiToken.tenant_id, ApiToken.id, ApiToken.name).where(
                    ApiToken.token_sha256 == token_hash(token), ApiToken.revoked_at.is_(None)
                )
            )
        ).first()
    return tuple(row) if row else None
