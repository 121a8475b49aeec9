import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

# Every module that declares tables on Base: a model missing here looks to
# `alembic revision --autogenerate` like a table to drop.
import migrayt.billing.store  # noqa: F401  (checkout, usage_report)
import migrayt.scheduling.store  # noqa: F401  (schedule)
from migrayt.store.models import Base

target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: sqlalchemy.url is not set")
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
