"""What a door shows of a run: progress plus timing, ETA and failures. ETA is a pure function."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from migrayt.contracts.phases import batched, in_order
from migrayt.contracts.runs import FINAL_STATUSES, PhaseCounters, RunProgress, RunStatus


class FailedItem(BaseModel):
    kind: str
    source_key: str
    error: str | None = None
    # Named for a customer: the ADO item it belongs to, its phase, what it is, the reason's class and the remedy.
    ado_id: int | None = None
    jira_key: str | None = None
    phase: str | None = None
    what: str | None = None
    reason: str | None = None
    remedy: str | None = None


class RunReport(RunProgress):
    """`GET /api/migrations/{runId}`: RunProgress's fields (unchanged for existing scripts) and more."""

    migration_id: str
    original_run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    elapsed_seconds: float = 0.0
    # Items handled per second and the seconds left at that pace; None while nothing is done yet,
    # while paused, and once final.
    items_per_second: float | None = None
    eta_seconds: float | None = None
    error: str | None = None
    # True when the workflow answered the query; False when this is the last state kept in the database.
    live: bool = True
    # Items failed in the run's phases: the sum of its phase counters' `failed`, the one number every door shows.
    failed_items: int = 0
    # Failed items accepted as known exceptions (the phase counters' `accepted` added up): not counted as failed.
    accepted_items: int = 0
    # ADO identities with no Jira account (the plan's user table): counted apart, as they are not items.
    users_unmatched: int = 0
    # Users resolved since an earlier run, and the issues of earlier runs this run gave them to (as assignee/reporter).
    users_given: int = 0
    issues_given_users: int = 0
    # Whether the run muted the Jira project's notifications and put them back (None: it did not mute them).
    notifications: str | None = None
    # Failed records of the migration (every run's, lookups too), behind `failures_url`.
    failures_total: int = 0
    # The first failures; the complete list, paged and grouped by reason, is at `failures_url`.
    failures: list[FailedItem] = Field(default_factory=list)
    failures_url: str | None = None
    report_url: str | None = None


def failed_items(counters: dict[str, PhaseCounters]) -> int:
    """Items failed over the batch phases, as the phase table adds them up."""
    return sum(counters[name].failed for name in batched(in_order(counters)))


def accepted_items(counters: dict[str, PhaseCounters]) -> int:
    return sum(counters[name].accepted for name in batched(in_order(counters)))


def work_done(
    counters: dict[str, PhaseCounters], phases: list[str] | None = None, phase: str | None = None
) -> tuple[int, int]:
    """(done, total) over the batch phases; preflight has no items of its own. Phases before `phase` (the one under
    way, in the run's `phases`) are over: what they left uncounted is not work still to do."""
    order = list(phases or in_order(counters))
    current = order.index(phase) if phase in order else 0
    done = total = 0
    for index, name in enumerate(order):
        c = counters.get(name)
        if c is None or not batched([name]):
            continue
        total += c.total
        finished = min(c.created + c.adopted + c.skipped + c.failed + c.accepted, c.total)
        done += c.total if index < current else finished
    return done, total


def estimate_eta(
    status: RunStatus,
    counters: dict[str, PhaseCounters],
    elapsed_seconds: float,
    phases: list[str] | None = None,
    phase: str | None = None,
) -> tuple[float | None, float | None]:
    """(items per second, seconds left) from the pace so far over the phases still to run; (None, None) when there
    is no pace to go by."""
    if status in FINAL_STATUSES or status == RunStatus.PAUSED or elapsed_seconds <= 0:
        return None, None
    done, total = work_done(counters, phases, phase)
    if done <= 0 or total <= 0:
        return None, None
    rate = done / elapsed_seconds
    return round(rate, 3), round((total - done) / rate, 1)
