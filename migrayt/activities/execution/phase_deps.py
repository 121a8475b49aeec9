"""What a phase of a run gets from the worker: the store and the per-migration context."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from migrayt.activities.execution.migration_context import MigrationContexts


@dataclass
class PhaseDeps:
    sessions: async_sessionmaker
    contexts: MigrationContexts
