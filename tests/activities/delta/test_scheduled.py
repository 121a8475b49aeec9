"""The cutover schedule's activity, in Temporal's ActivityEnvironment with a fake service."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from migrayt.activities.delta.scheduled import ScheduledRunActivities
from migrayt.contracts.schedules import ScheduledRunInput, ScheduledRunResult
from migrayt.core.errors import NotFound, RunConflict

CUTOVER = ScheduledRunInput(migration_id="mig-1", tenant="acme-corp", schedule_id="cutover-1", requested_by="ann")


class FakeService:
    """Starts runs as MigrationService.start_run does, or refuses them with the error it is given."""

    def __init__(self, refusal: Exception | None = None) -> None:
        self.refusal = refusal
        self.starts: list[dict] = []

    async def start_run(self, tenant: str, migration_id: str, actor: str, door: str) -> str:
        self.starts.append(dict(tenant=tenant, migration_id=migration_id, actor=actor, door=door))
        if self.refusal is not None:
            raise self.refusal
        return "run-1"


async def test_a_scheduled_cutover_starts_a_run_through_the_service_as_the_schedule():
    service = FakeService()
    result = await ActivityEnvironment().run(ScheduledRunActivities(service).start_scheduled_run, CUTOVER)

    assert result == ScheduledRunResult(run_id="run-1")
    assert service.starts == [dict(tenant="acme-corp", migration_id="mig-1", actor="ann", door="schedule")]


@pytest.mark.parametrize(
    "refusal",
    [RunConflict("migration mig-1 already has an active run run-0"), NotFound("migration mig-1 not found")],
    ids=["run-active", "migration-gone"],
)
async def test_a_refused_cutover_is_skipped_with_the_reason_not_retried(refusal):
    # Raising would have Temporal retry a start that cannot succeed (or that already happened).
    service = FakeService(refusal)
    result = await ActivityEnvironment().run(ScheduledRunActivities(service).start_scheduled_run, CUTOVER)

    assert result == ScheduledRunResult(skipped=str(refusal))
    assert len(service.starts) == 1
