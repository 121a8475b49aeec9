"""What the generator hands out: plain pydantic records, no HTTP shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

# Generated URLs (attachment links, inline images, #refs) use this origin; the sandbox app swaps it
# for the base URL a request came in on, so they resolve against whichever port serves them.
ORIGIN = "https://dev.azure.com"


class ProjectSpec(BaseModel):
    seed: int = 7
    items: int = 500
    # Test management: Shared Steps items, test cases that reference them and take parameters with data rows,
    # and Test Plans with suites (the Test Plans REST API). Off keeps every other project exactly as it was.
    test_management: bool = False
    organization: str = "acme"
    project: str = "Phoenix"
    team: str = "Phoenix Team"
    # The first item carries this many hyperlinks more (over 2,000: past Jira's per-issue cap on remote links).
    extra_hyperlinks: int = Field(0, ge=0, le=10_000)
    # Extra files of these sizes (bytes), one per item from the first item without an ugly case on: the real-size
    # attachments of a big project (100 MB to 1 GB), generated block by block as they are read, never held whole.
    large_attachments: list[int] = Field(default_factory=list)
    # False: no planted ugly cases (a project whose only oddity is what a test adds, e.g. its large files).
    ugly: bool = True
    # 7pace Timetracker installed in the organization (False: its REST API answers 404, as an absent extension).
    timetracker: bool = True


class GeneratedUser(BaseModel):
    id: str  # guid
    display_name: str
    unique_name: str
    email: str | None
    descriptor: str
    deleted: bool = False
    in_jira: bool = True  # False for the one person who exists only in ADO
    jira_email_visible: bool = True

    def identity_ref(self) -> dict[str, Any]:
        """IdentityRef as ADO puts it in fields; the app adds url/_links/imageUrl for its own base URL."""
        ref: dict[str, Any] = {
            "displayName": self.display_name,
            "id": self.id,
            "uniqueName": self.unique_name,
            "descriptor": self.descriptor,
        }
        if self.deleted:
            ref["inactive"] = True
        return ref


class GeneratedRelation(BaseModel):
    rel: str
    url: str  # absolute, on ORIGIN for sandbox resources; external for hyperlinks; vstfs:/// for artifacts
    target_id: int | None = None  # work item links only
    attributes: dict[str, Any] = {}


class GeneratedWorkItem(BaseModel):
    id: int
    rev: int
    type: str
    fields: dict[str, Any]
    parent_id: int | None
    relations: list[GeneratedRelation]
    ugly: list[str] = []


class GeneratedComment(BaseModel):
    id: int  # commentId, unique in the organization
    work_item_id: int
    author_id: str
    created: datetime
    text: str  # HTML


class GeneratedAttachment(BaseModel):
    guid: str
    work_item_id: int
    index: int
    file_name: str
    size: int
    created: datetime
    author_id: str
    comment: str = ""


class GeneratedRevision(BaseModel):
    rev: int
    changed_date: datetime
    changed_by: str  # user id
    fields: dict[str, Any]


class GeneratedWorklog(BaseModel):
    id: str  # guid
    work_item_id: int
    user_id: str
    timestamp: datetime
    length_seconds: int
    billable_seconds: int
    activity_type: str
    comment: str


class ClassificationNode(BaseModel):
    id: int
    identifier: str
    name: str
    path: str  # "Phoenix\\Platform\\API" (no structure segment)
    structure_type: str  # "area" | "iteration"
    start: datetime | None = None
    finish: datetime | None = None
    children: list[ClassificationNode] = []

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class GeneratedTestSuite(BaseModel):
    id: int
    plan_id: int
    name: str
    parent_id: int | None  # None: the plan's root suite
    test_case_ids: list[int]


class GeneratedTestPlan(BaseModel):
    id: int
    name: str
    area_path: str
    iteration: str
    state: str  # "Active" | "Inactive"
    owner_id: str
    updated: datetime
    suites: list[GeneratedTestSuite]  # the root suite first

    @property
    def root_suite(self) -> GeneratedTestSuite:
        return self.suites[0]
