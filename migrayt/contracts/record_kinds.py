"""Every kind of `item_record` (the exactly-once ledger, migrayt/store/item_records.py), in one place.

A record is (migration, kind, source key) → state and target key. The kinds are plain strings on
purpose: they are stored in the ledger and in its JSON, and must read the same there as here.
"""

from __future__ import annotations

from typing import Final

# Preflight: what a run looks up or creates once per migration.
USER: Final = "user"  # source identity → Jira account id (not a write: billing does not count it)
COMPONENT: Final = "component"  # area path → Jira component id
SPRINT: Final = "sprint"  # iteration path → Jira sprint id
# provenance fact (e.g. "original_created") → Jira custom field id; detail "created" when Migrayt made it
PROVENANCE_FIELD: Final = "provenance_field"

# The batch phases, one kind per thing written.
ISSUE: Final = "issue"  # work item id → issue key
HIERARCHY: Final = "hierarchy"  # child work item id → parent issue key (detail "as": parent | sub-task | link)
LINK: Final = "link"
REMOTE_LINK: Final = "remote_link"
ATTACHMENT: Final = "attachment"
INLINE_IMAGE: Final = "inline_image"
HISTORY: Final = "history"
DESCRIPTION: Final = "description"
DESCRIPTION_ORIGINAL: Final = "description_original"
COMMENT: Final = "comment"
COMMENT_ORIGINAL: Final = "comment_original"
COMMENT_OVERFLOW: Final = "comment_overflow"
TRANSITION: Final = "transition"
# Preflight of a later run: an assignee or reporter left empty because the user had no account then, set now that
# they have one (or the plan names a fallback user): "itemid:assignee" → the account id set (detail: issue, user).
USER_FIELD: Final = "user_field"

# Phase 8's plugins (migrayt/plugins/), each kind named by the plugin that writes it.
WORKLOG: Final = "worklog"  # 7pace: "itemid:worklogid" → Jira worklog id (detail: seconds, issue)
WORKLOG_OVERFLOW: Final = "worklog_overflow"  # 7pace: an item's work logs past Jira's cap, as one attached file
XRAY_TEST: Final = "xray_test"  # Xray: test case id → its Test issue key, once its steps and dataset are in Xray
XRAY_CONTAINER: Final = "xray_container"  # Xray: "plan:N" / "suite:N" → the Test Plan / Test Set issue key
XRAY_MEMBERSHIP: Final = "xray_membership"  # Xray: "suite:N:testcase" → the container's issue key
STEPS_TABLE: Final = "steps_table"  # no Xray: test case id → the issue whose description got the steps table
STEPS_FILE: Final = "steps_file"  # no Xray: test case id → the attached file of steps too long for the description

# Delta sync: one per ADO revision applied ("id:rev").
SOURCE_CHANGE: Final = "source_change"

# A muted run (migrayt/activities/execution/notifications.py): run id → the project's own notification scheme id,
# recorded before the silent one is assigned; detail says whether it was muted and restored. No migrated content:
# never billed, never undone (NOT_CONTENT).
NOTIFICATION_SCHEME: Final = "notification_scheme"

ALL: Final = frozenset(
    {
        USER,
        COMPONENT,
        SPRINT,
        PROVENANCE_FIELD,
        ISSUE,
        HIERARCHY,
        LINK,
        REMOTE_LINK,
        ATTACHMENT,
        INLINE_IMAGE,
        HISTORY,
        DESCRIPTION,
        DESCRIPTION_ORIGINAL,
        COMMENT,
        COMMENT_ORIGINAL,
        COMMENT_OVERFLOW,
        TRANSITION,
        USER_FIELD,
        WORKLOG,
        WORKLOG_OVERFLOW,
        XRAY_TEST,
        XRAY_CONTAINER,
        XRAY_MEMBERSHIP,
        STEPS_TABLE,
        STEPS_FILE,
        SOURCE_CHANGE,
        NOTIFICATION_SCHEME,
    }
)
# Records of what a run looked up or set about the site, not of content it migrated: no write to bill or to undo.
NOT_CONTENT: Final = frozenset({USER, NOTIFICATION_SCHEME})
