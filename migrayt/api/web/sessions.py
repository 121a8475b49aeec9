"""Web app sessions: the cookie holds a random session id, the server keeps who it is and its CSRF token.

- With auth on, signing in with an API token opens a session of that token's tenant; the token itself
  never goes into the cookie. Signing out revokes the session at once (the old cookie stops working),
  and so does revoking the token.
- With auth off, a browser's first page opens a session of the local user: its only purpose is the
  CSRF token every form carries, so another site's form cannot act here even on the open default.
- The sign-in form has no session yet; it carries a double-submit token (a cookie only this site can set,
  echoed in the form).
Only the SHA-256 of a session id is stored, as for API tokens: a leaked table opens no session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.api.auth import LOCAL_ACTOR, Principal
from migrayt.store.models import ApiToken, WebSession

SESSION_COOKIE = "migrayt_session"
LOGIN_COOKIE = "migrayt_login_csrf"
CSRF_FIELD = "csrf_token"
# Revoked and expired sessions are deleted a while later, when a new one opens.
KEEP_ENDED = timedelta(days=1)


@dataclass
class OpenSession:
    principal: Principal
    csrf_token: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same_secret(given: object, expected: str) -> bool:
    return isinstance(given, str) and bool(expected) and secrets.compare_digest(given.encode(), expected.encode())


async def open_session(sessions: async_sessionmaker, principal: Principal, hours: float) -> tuple[str, str]:
    """A new session of `principal`: (session id for the cookie, its CSRF token)."""
    session_id, csrf = new_secret(), new_secret()
    now = datetime.now(UTC)
    async with sessions() as db:
        await db.execute(
            delete(WebSession).where(
                or_(WebSession.expires_at < now - KEEP_ENDED, WebSession.revoked_at < now - KEEP_ENDED)
            )
        )
        db.add(
            WebSession(
                id_sha256=_hash(session_id),
                tenant_id=principal.tenant,
                actor=principal.actor,
                token_id=principal.token_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
        await db.commit()
    return session_id, csrf


async def find_session(
    sessions: async_sessionmaker, session_id: str, auth_off: bool, local_tenant: str
) -> OpenSession | None:
    """The live session behind a cookie, or None (unknown, expired, signed out, or its token revoked)."""
    now = datetime.now(UTC)
    async with sessions() as db:
        row = (
            await db.execute(
                select(WebSession, ApiToken.revoked_at)
                .outerjoin(ApiToken, ApiToken.id == WebSession.token_id)
                .where(
                    WebSession.id_sha256 == _hash(session_id),
                    WebSession.revoked_at.is_(None),
                    WebSession.expires_at > now,
                )
            )
        ).first()
    if row is None:
        return None
    session, token_revoked_at = row
    if session.token_id is None:
        # The local user exists only while auth is off: a restart with auth on ends these sessions.
        if not auth_off:
            return None
        return OpenSession(Principal(tenant=local_tenant, actor=LOCAL_ACTOR, admin=True), session.csrf_token)
    if token_revoked_at is not None:
        return None
    return OpenSession(
        Principal(tenant=session.tenant_id, actor=session.actor, token_id=session.token_id), session.csrf_token
    )


async def end_session(sessions: async_sessionmaker, session_id: str) -> None:
    async with sessions() as db:
        await db.execute(
            update(WebSession)
            .where(WebSession.id_sha256 == _hash(session_id), WebSession.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        await db.commit()
