"""Engine and session factory; schema applied by Alembic on start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_engine(database_url: str, pool_size: int = 10, max_overflow: int | None = None) -> AsyncEngine:
    overflow = pool_size if max_overflow is None else max_overflow
    return create_async_engine(database_url, pool_size=pool_size, max_overflow=overflow, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine a session factory opens its sessions on: for what must hold one connection for a whole
    block (session-level advisory locks), which a session gives back to the pool at each commit."""
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine), "a session factory made by session_factory(engine)"
    return engine


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_schema_sync(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_schema(database_url: str) -> None:
    # Alembic's env drives its own event loop for the async driver, so run it off this loop.
    await asyncio.to_thread(upgrade_schema_sync, database_url)
