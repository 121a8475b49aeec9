"""How the sandbox Jira site is set up: project, credentials, users, per-issue limits, where state lives."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

# Jira Cloud's default upload limit per file ("1 GB", configurable up to 2 GB), reported by /attachment/meta.
CLOUD_ATTACHMENT_BYTES = 1024**3
# Jira Data Center's default (10 MB): what a test sets to see the generator's planted too-large file refused.
DATA_CENTER_ATTACHMENT_BYTES = 10 * 1024 * 1024


class JiraUserSeed(BaseModel):
    account_id: str
    display_name: str
    email: str | None = None
    email_visible: bool = True
    active: bool = True


class JiraSandboxConfig(BaseModel):
    project_key: str = "PHX"
    project_name: str = "Phoenix"
    email: str = "migrator@example.com"
    api_token: str = Field("sandbox-token", repr=False)
    # When set, `Authorization: Bearer <this>` is accepted too, as a Data Center PAT is.
    data_center_pat: str | None = Field(None, repr=False)
    users: list[JiraUserSeed] = []  # the runner fills these from the generated ADO project
    max_attachment_bytes: int = CLOUD_ATTACHMENT_BYTES
    # The site's plan as /rest/api/3/instance/license reports it (Standard and Premium are both "PAID"; Free has 2 GB
    # of file storage).
    license_plan: Literal["FREE", "PAID", "UNLICENSED"] = "PAID"
    # Uploads over this size are kept as name, size and sha-256 only (so 20 GB of test files fit on one machine);
    # their content is served again only when the generator planted those very bytes.
    keep_attachment_bytes: int = 64 * 1024 * 1024
    max_attachments_per_issue: int = 2000
    # Jira does not promise that an upload's answer lists its files in the order they were sent: "reversed" answers
    # a request of several files last first, so a client that pairs answer and files by position is caught.
    attachments_answer_order: Literal["sent", "reversed"] = "sent"
    max_comments_per_issue: int = 5000
    max_worklogs_per_issue: int = 5000
    # False: the migration's user is no Jira administrator, so creating custom fields, creating a notification scheme
    # and changing the project's are refused (403).
    field_admin: bool = True
    # False (and no Jira administrator either): the migration's user may not administer the project, so it can
    # neither read the project's notification scheme nor edit an issue with notifyUsers=false (403, as Jira answers).
    # Creating a notification scheme and assigning one to the project take a Jira administrator (field_admin).
    project_admin: bool = True
    state_dir: Path | None = None  # when set, Jira state survives a restart of the sandbox
    # The ids the site serves its custom fields under, by the sandbox's default id (e.g. the sprint field as
    # customfield_10104 instead of customfield_10020): a real site numbers custom fields as it pleases.
    field_ids: dict[str, str] = {}
