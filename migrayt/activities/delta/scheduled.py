"""The cutover schedule's one activity: start a run through the service, as every door does."""

from __future__ import annotations

from temporalio import activity

from migrayt.contracts.schedules import ScheduledRunInput, ScheduledRunResult
from migrayt.core.errors import NotFound, RunConflict
from migrayt.core.runs import MigrationService


class ScheduledRunActivities:
    def __init__(self, service: MigrationService) -> None:
        self._service = service

    @activity.defn(name="start_scheduled_run")
    async def start_scheduled_run(self, input: ScheduledRunInput) -> ScheduledRunResult:
        try:
            run_id = await self._service.start_run(
                input.tenant, input.migration_id, actor=input.requested_by, door="schedule"
            )
        except (RunConflict, NotFound) as err:
            # Not an error of the schedule: the run is refused for a reason the user can read (and
            # a retry of this activity after a start that did happen lands here too).
            activity.logger.info("scheduled run of %s not started: %s", input.migration_id, err)
            return ScheduledRunResult(skipped=str(err))
        return ScheduledRunResult(run_id=run_id)
