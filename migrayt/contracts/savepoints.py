"""The savepoint file (issue 14 part 5) and the activities that write and check one.

A savepoint carries a migration's item ledger to another run or another installation: who the migration
is (ADO organisation and project, Jira site and project), the plan version it ran, and every item record.
Its `body` is checksummed and signed (migrayt/store/savepoints.py); the schema is versioned so a later
Migrayt can still read, or clearly refuse, an older file. Add fields with defaults only within a version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

FORMAT: Final = "migrayt-savepoint"
SCHEMA_VERSION = 1


class SavepointIdentity(BaseModel):
    """Which source and which target the records are about; a savepoint is used only for the same pair."""

    ado_organization: str  # the organisation URL, lower-case, no trailing slash (as `migrayt.source` names it)
    ado_project: str
    jira_site: str  # the Jira base URL, no trailing slash
    jira_project: str  # the project key


class SavepointRecord(BaseModel):
    kind: str
    source_key: str
    target_key: str | None = None  # the Jira key or id written for it
    state: str  # done | pending | failed
    detail: dict[str, Any] = Field(default_factory=dict)


class SavepointBody(BaseModel):
    """What the checksum and the signature cover."""

    format: Literal["migrayt-savepoint"] = FORMAT
    schema_version: int = SCHEMA_VERSION
    migration_id: str
    run_id: str | None = None
    written_at: datetime
    reason: str  # phase_end | pause | periodic
    phase: str | None = None
    plan_version: int | None = None
    identity: SavepointIdentity
    records: list[SavepointRecord]


class SavepointFile(BaseModel):
    body: SavepointBody
    checksum: str  # "sha256:<hex>" of the body's canonical JSON
    # "hmac-sha256:<hex>" of the same bytes, with a key derived from the installation's secret key.
    signature: str
    # Which key signed it (a fingerprint of the derived key, never the key): names a file of another installation.
    key_fingerprint: str


class SavepointInfo(BaseModel):
    """One savepoint as a door lists it."""

    name: str
    run_id: str
    reason: str
    phase: str | None = None
    written_at: datetime
    records: int
    size_bytes: int


class WriteSavepointInput(BaseModel):
    run_id: str
    migration_id: str
    tenant: str
    reason: str
    phase: str | None = None


class WriteSavepointResult(BaseModel):
    name: str
    records: int


class SavepointSampleInput(BaseModel):
    """Records of a savepoint to look up in the migration's Jira before it is trusted: (ADO id, issue key)."""

    migration_id: str
    issues: list[tuple[str, str]]


class SavepointSampleResult(BaseModel):
    # Empty when every sampled issue exists, is in the project and carries the item's source identity.
    problems: list[str] = Field(default_factory=list)
