"""The controls every durable job of a migration has — the run, the delta sync, the undo (all on the run engine)
and the validation: pause, resume and cancel signals, each recorded as an audit event when the workflow takes it,
PAUSED only once nothing is under way, search attributes kept current, continue-as-new when the history grows.

A workflow on it keeps its own status enum, progress query, audit activity and search attributes (the hooks
below); the order of the commands these controls issue is part of every recorded history, so it must not change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from migrayt.contracts.runs import RunControl


class RunControls:
    """Mixin: the signals and the pause loop. The workflow sets `_status` and `_cp` (a checkpoint with `paused`)."""

    # The workflow's own statuses for "paused" and "running" (RunStatus, ValidationStatus).
    paused_status: StrEnum
    running_status: StrEnum

    def __init__(self) -> None:
        self._pause_requested = False
        self._cancel_requested = False
        self._controls: list[tuple[str, RunControl]] = []

    # --- the doors ------------------------------------------------------------------------------

    @workflow.signal
    def pause(self, control: RunControl | None = None) -> None:
        self._controls.append(("pause", control or RunControl()))
        if not self._cancel_requested:
            self._pause_requested = True

    @workflow.signal
    def resume(self, control: RunControl | None = None) -> None:
        self._controls.append(("resume", control or RunControl()))
        self._pause_requested = False

    @workflow.signal
    def cancel(self, control: RunControl | None = None) -> None:
        self._controls.append(("cancel", control or RunControl()))
        self._cancel_requested = True

    # --- what a workflow with these controls says -----------------------------------------------

    _status: Any
    _cp: Any

    async def _record(
        self, action: str, actor: str = "system", door: str = "system", reason: str | None = None
    ) -> object:
        """Writes one audit event (and the job's row) for `action`."""
        raise NotImplementedError

    def _upsert_search_attributes(self) -> None:
        raise NotImplementedError

    def _history_event_limit(self) -> int | None:
        """A fixed history length to continue as new at (tests); None: when Temporal suggests it."""
        raise NotImplementedError

    async def _paused_effective(self) -> None:
        """Called once the job is PAUSED and its event recorded (the run writes a savepoint here)."""

    # --- pause, resume, cancel ------------------------------------------------------------------

    async def _wait_while_paused(self) -> None:
        await self._apply_controls()
        while self._pause_requested and not self._cancel_requested:
            if self._status != self.paused_status:
                # Only now: nothing is under way any more, so PAUSED means nothing writes (or reads) any more.
                self._status = self.paused_status
                self._cp.paused = True
                self._upsert_search_attributes()
                await self._record("paused_effective")
                await self._paused_effective()
            await workflow.wait_condition(lambda: bool(self._controls))
            await self._apply_controls()
        if self._status == self.paused_status:
            self._status = self.running_status
            self._cp.paused = False
            self._upsert_search_attributes()
            await self._record("running")

    async def _apply_controls(self) -> None:
        """Each control signalled since, recorded in the order it came (the audit shows who asked, and how)."""
        while self._controls:
            action, control = self._controls.pop(0)
            await self._record(f"{action}_requested", actor=control.actor, door=control.door, reason=control.reason)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        limit = self._history_event_limit()
        if limit is not None:
            return info.get_current_history_length() >= limit
        return info.is_continue_as_new_suggested()
