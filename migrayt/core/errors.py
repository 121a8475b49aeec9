"""The errors the core raises; each door turns them into its own answer (404, 409, 422, an exit code)."""

from __future__ import annotations

from migrayt.mapping.versions import VersionConflict


class NotFound(Exception):
    """Not there, or not this tenant's: the two are answered alike so a tenant learns nothing of another's."""


class RunConflict(Exception):
    """The run is in a state where this action makes no sense; nothing was changed."""


class InUse(RunConflict):
    """Refused because something still uses it (an active run, a migration using a connection); the message names
    what. A RunConflict, so every door answers it as a conflict (409, exit 4) and nothing was changed."""


class WrongConnectionKind(NotFound):
    """The tenant's own connection, of the other kind (a Jira one as the source). A NotFound subclass so
    callers that only know NotFound still answer with the message; the HTTP API makes it a 422."""


class FindingsNotAcknowledged(VersionConflict):
    """Approval refused: the scan found what will fail items and nobody has acknowledged it yet. A VersionConflict,
    so every door answers it as it answers a refused approval (409, the web form's error, exit 4)."""


class ServiceUnreachable(Exception):
    """Azure DevOps or Jira could not be asked (refused credentials, unreachable, a secret the server lacks)."""


class SavepointRefused(Exception):
    """A savepoint not to be trusted for this migration (changed, signed elsewhere, another target, or its
    issues not found in Jira); the message says which, and nothing was imported."""
