"""Undo: take out of Jira what a migration added. Inputs and results of its workflow and activities."""

from __future__ import annotations

from pydantic import BaseModel, Field

from migrayt.contracts.execution import BatchInput, BatchResult
from migrayt.contracts.runs import UNDO_RUN_PREFIX as UNDO_RUN_PREFIX  # where the doors have long imported it
from migrayt.contracts.runs import RunCheckpoint

UNDO_PHASE = "undo"
# An undo is a run of its migration (a `run` row) whose id starts with UNDO_RUN_PREFIX: see run_kind.

# What an undo removes, in the user's words; the dry run counts each.
CATEGORIES = ("issues", "links", "remote_links", "attachments", "comments", "worklogs", "sprints", "components")

# The point of no return: what others built on, each forced on its own (`--force edited-issues`).
EDITED_ISSUES = "edited-issues"  # an issue the migration created, edited in Jira by someone else after
OTHERS_COMMENTS = "others-comments"  # comments someone else added to an issue the migration created
OTHERS_WORKLOGS = "others-worklogs"  # work someone else logged on an issue the migration created
FORCE_CATEGORIES = (EDITED_ISSUES, OTHERS_COMMENTS, OTHERS_WORKLOGS)

# Work-list tiers, removed in this order: what was added to issues that stay, the issues, then
# the sprints and components (only once no issue of the migration uses them).
TIER_CONTENT, TIER_ISSUES, TIER_CONTAINERS = 0, 1, 2
SAMPLE = 10


class Blocker(BaseModel):
    """One issue an undo will not delete without force: who built on it, and what forcing would lose."""

    category: str  # one of FORCE_CATEGORIES
    issue_key: str
    by: list[str] = Field(default_factory=list)  # account ids of the others
    lost: str  # in words: "2 edits by others", "1 comment by others"


class UndoPlan(BaseModel):
    """What an undo would remove (the dry run) or is removing."""

    counts: dict[str, int] = Field(default_factory=dict)  # per category, what goes
    samples: dict[str, list[str]] = Field(default_factory=dict)  # per category, a few Jira keys or ids
    total: int = 0  # the number a confirmation must repeat
    blocked: list[Blocker] = Field(default_factory=list)  # held back: others built on them (not forced)
    forced: list[Blocker] = Field(default_factory=list)  # would be held back, but forced: what is lost
    tier_sizes: list[int] = Field(default_factory=list)
    refused: str | None = None  # why the undo does not start (another run active, count changed)


class UndoPlanInput(BaseModel):
    run_id: str
    migration_id: str
    tenant: str
    requested_by: str = "system"
    door: str = "api"
    force: list[str] = Field(default_factory=list)
    confirm: int | None = None  # the dry run's total, repeated by the user; None: a dry run
    dry_run: bool = True


class UndoInput(BaseModel):
    run_id: str
    migration_id: str
    tenant: str
    requested_by: str = "system"
    door: str = "api"
    force: list[str] = Field(default_factory=list)
    confirm: int
    batch_size: int = Field(500, ge=1, le=1000)  # bulk delete takes up to 1,000 issues a request
    concurrency: int = Field(2, ge=1, le=16)
    history_event_limit: int | None = None
    plan: UndoPlan | None = None
    checkpoint: RunCheckpoint | None = None


class UndoResult(BaseModel):
    run_id: str
    status: str
    plan: UndoPlan | None = None
    removed: int = 0
    already_gone: int = 0
    failed: int = 0
    error: str | None = None


class UndoBatchInput(BatchInput):
    phase: str = UNDO_PHASE


class UndoBatchResult(BatchResult):
    """counters: created = removed from Jira; skipped = already gone, removed by an earlier attempt, or a sprint
    or component still in use (it stays); failed = Jira refused the delete."""


class UndoSweepInput(BaseModel):
    run_id: str
    migration_id: str
    tenant: str = ""


class UndoSweepResult(BaseModel):
    released: int = 0  # records marked removed because what they wrote went with its issue
