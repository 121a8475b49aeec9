"""Notification schemes and the e-mails they would send.

The project uses one notification scheme; each event (issue created, updated, commented, a transition's generic
event, work logged) e-mails the recipients the scheme names for it. The sandbox sends nothing: it counts, per event
and per user, the e-mails Jira would have sent, so a test can see that a muted migration e-mails no one.
Recipients are the issue's reporter and assignee (Jira's default scheme also names the watchers, whom the sandbox
does not keep), never the user who made the change (Jira's default "do not notify me of my own changes").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .entities import Issue
from .errors import JiraError
from .store import JiraStore

# Jira's system event ids, as a notification scheme names them.
ISSUE_CREATED, ISSUE_UPDATED, ISSUE_COMMENTED, WORK_LOGGED, GENERIC_EVENT, COMMENT_EDITED = 1, 2, 6, 10, 13, 14
EVENT_NAMES = {
    ISSUE_CREATED: "Issue Created",
    ISSUE_UPDATED: "Issue Updated",
    ISSUE_COMMENTED: "Issue Commented",
    WORK_LOGGED: "Work Logged On Issue",
    GENERIC_EVENT: "Generic Event",
    COMMENT_EDITED: "Issue Comment Edited",
}
DEFAULT_SCHEME_ID = 10000
_DEFAULT_RECIPIENTS = ["CurrentAssignee", "Reporter", "AllWatchers"]

NOT_ADMIN = "You are not authorized to perform this action. Administrator privileges are required."
# What Jira answers an edit with notifyUsers=false by a user who may not administer the project.
NO_SILENT_EDIT = "To discard the user notification either admin or project admin permissions are required."


def _default_scheme() -> dict[str, Any]:
    return {
        "id": DEFAULT_SCHEME_ID,
        "name": "Default Notification Scheme",
        "description": "",
        "events": {str(e): list(_DEFAULT_RECIPIENTS) for e in EVENT_NAMES},
    }


class NotificationOps(JiraStore):
    def _empty(self) -> None:
        super()._empty()
        self.notification_schemes: dict[int, dict[str, Any]] = {DEFAULT_SCHEME_ID: _default_scheme()}
        self.project_notification_scheme = DEFAULT_SCHEME_ID
        # How often each scheme was assigned to the project (PUT /project/{key} with notificationScheme).
        self.notification_scheme_assigned: Counter[str] = Counter()
        # The e-mails the project's scheme would have sent: by event name, and by recipient account.
        self.notifications_by_event: Counter[str] = Counter()
        self.notifications_by_user: Counter[str] = Counter()

    def _load(self) -> None:
        super()._load()
        for rec in self.store.load("notifications"):
            self.notification_schemes = {int(k): v for k, v in rec["schemes"].items()}
            self.project_notification_scheme = rec["project"]
            self.notification_scheme_assigned = Counter(rec["assigned"])
            self.notifications_by_event = Counter(rec["by_event"])
            self.notifications_by_user = Counter(rec["by_user"])

    def _save_notifications(self) -> None:
        self.store.put(
            "notifications",
            "state",
            {
                "schemes": self.notification_schemes,
                "project": self.project_notification_scheme,
                "assigned": dict(self.notification_scheme_assigned),
                "by_event": dict(self.notifications_by_event),
                "by_user": dict(self.notifications_by_user),
            },
        )

    def notify(self, event: int, issue: Issue, notify_users: bool = True) -> None:
        """Count the e-mails `event` on `issue` sends under the project's scheme; called inside the write's `_tx`."""
        if not notify_users:
            return
        scheme = self.notification_schemes.get(self.project_notification_scheme) or {}
        kinds = scheme.get("events", {}).get(str(event)) or []
        recipients = set()
        if "Reporter" in kinds or "AllWatchers" in kinds:  # the reporter watches the issue from its creation
            recipients.add(issue.reporter_id)
        if "CurrentAssignee" in kinds:
            recipients.add(issue.assignee_id)
        recipients.discard(None)
        recipients.discard(self.acting())
        if not recipients:
            return
        for account in sorted(r for r in recipients if r is not None):
            self.notifications_by_event[EVENT_NAMES[event]] += 1
            self.notifications_by_user[account] += 1
        self._save_notifications()

    def create_notification_scheme(self, body: Any) -> int:
        self.require_jira_admin(NOT_ADMIN)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise JiraError(400, [], {"name": "The name of the notification scheme is required."})
        if len(name) > 255:
            raise JiraError(400, ["The length of the name must not exceed 255 characters."])
        if any(s["name"].lower() == name.lower() for s in self.notification_schemes.values()):
            raise JiraError(400, [f"The notification scheme name '{name}' is already used."])
        events: dict[str, list[str]] = {}
        for entry in body.get("notificationSchemeEvents") or []:
            event_id = str(((entry or {}).get("event") or {}).get("id"))
            if not event_id.isdigit() or int(event_id) not in EVENT_NAMES:
                raise JiraError(400, [f"The event with id '{event_id}' does not exist."])
            kinds = [n.get("notificationType") for n in entry.get("notifications") or [] if isinstance(n, dict)]
            events.setdefault(event_id, []).extend(k for k in kinds if isinstance(k, str))
        with self._tx():
            scheme_id = max(self.notification_schemes) + 1
            self.notification_schemes[scheme_id] = {
                "id": scheme_id,
                "name": name,
                "description": str(body.get("description") or ""),
                "events": events,
            }
            self._save_notifications()
        return scheme_id

    def notification_scheme(self, scheme_id: str | int) -> dict[str, Any]:
        scheme = self.notification_schemes.get(int(scheme_id)) if str(scheme_id).isdigit() else None
        if scheme is None:
            raise JiraError(404, [f"Notification scheme with id {scheme_id} not found."])
        return scheme

    def assign_notification_scheme(self, scheme_id: Any) -> None:
        self.require_jira_admin(NOT_ADMIN)
        if isinstance(scheme_id, bool) or not isinstance(scheme_id, int | str) or not str(scheme_id).isdigit():
            raise JiraError(400, [], {"notificationScheme": "The notification scheme id must be a number."})
        if int(scheme_id) not in self.notification_schemes:
            raise JiraError(400, [], {"notificationScheme": f"Notification scheme {scheme_id} does not exist."})
        with self._tx():
            self.project_notification_scheme = int(scheme_id)
            self.notification_scheme_assigned[str(scheme_id)] += 1
            self._save_notifications()

    def notifications_state(self) -> dict[str, Any]:
        """What `/_sandbox/state` shows of notifications."""
        return {
            "scheme": self.project_notification_scheme,
            "scheme_name": self.notification_schemes[self.project_notification_scheme]["name"],
            "assigned": {
                self.notification_schemes[int(k)]["name"] if int(k) in self.notification_schemes else k: n
                for k, n in self.notification_scheme_assigned.items()
            },
            "sent": sum(self.notifications_by_event.values()),
            "by_event": dict(self.notifications_by_event),
            "by_user": dict(self.notifications_by_user),
        }
