"""The fixed configuration of the sandbox Jira site: issue types, statuses, workflows, fields, link types.

Ids follow the shapes a fresh Jira Cloud company-managed Scrum project uses, so clients that cache
ids (or wrongly hard-code them) behave the way they would against a real site.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    hierarchy_level: int
    description: str

    @property
    def subtask(self) -> bool:
        return self.hierarchy_level < 0


ISSUE_TYPES: tuple[IssueType, ...] = (
    IssueType("10000", "Epic", 1, "A big user story that needs to be broken down."),
    IssueType("10001", "Story", 0, "Functionality or a feature expressed as a user goal."),
    IssueType("10002", "Task", 0, "A small, distinct piece of work."),
    IssueType("10004", "Bug", 0, "A problem or error."),
    IssueType("10005", "Test", 0, "A test case."),
    # Xray's own issue types: a site with Xray installed has them next to Test.
    IssueType("10006", "Test Set", 0, "A group of tests."),
    IssueType("10007", "Test Plan", 0, "Tests planned for a release or a cycle."),
    IssueType("10003", "Sub-task", -1, "A small piece of work that's part of a larger task."),
)
ISSUE_TYPES_BY_ID = {t.id: t for t in ISSUE_TYPES}
ISSUE_TYPES_BY_NAME = {t.name.lower(): t for t in ISSUE_TYPES}


@dataclass(frozen=True)
class StatusCategory:
    id: int
    key: str
    name: str
    color: str


CATEGORY_NEW = StatusCategory(2, "new", "To Do", "blue-gray")
CATEGORY_IN_PROGRESS = StatusCategory(4, "indeterminate", "In Progress", "yellow")
CATEGORY_DONE = StatusCategory(3, "done", "Done", "green")


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: StatusCategory


STATUSES: tuple[Status, ...] = (
    Status("10000", "To Do", CATEGORY_NEW),
    Status("3", "In Progress", CATEGORY_IN_PROGRESS),
    Status("10001", "In Review", CATEGORY_IN_PROGRESS),
    Status("10002", "Done", CATEGORY_DONE),
    Status("10003", "Won't Fix", CATEGORY_DONE),
)
STATUSES_BY_ID = {s.id: s for s in STATUSES}
STATUSES_BY_NAME = {s.name.lower(): s for s in STATUSES}
INITIAL_STATUS_ID = "10000"


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    sources: frozenset[str]  # status ids the transition is available from
    to: str


_STANDARD = (
    Transition("11", "Start Progress", frozenset({"10000"}), "3"),
    Transition("21", "Request Review", frozenset({"3"}), "10001"),
    Transition("31", "Done", frozenset({"10001"}), "10002"),
    Transition("41", "Stop Progress", frozenset({"3"}), "10000"),
    Transition("51", "Back to In Progress", frozenset({"10001"}), "3"),
    Transition("61", "Reopen", frozenset({"10002"}), "10000"),
)
# Bugs can also end as Won't Fix, and be reopened from it: a status only the Bug workflow has.
_BUG_EXTRA = (
    Transition("71", "Won't Fix", frozenset({"3"}), "10003"),
    Transition("81", "Reopen", frozenset({"10003"}), "10000"),
)


def workflow_for(issue_type_id: str) -> tuple[Transition, ...]:
    """Each issue type's workflow: Done is never one step from To Do; Bugs can also end as Won't Fix."""
    if issue_type_id == "10004":
        return _STANDARD + _BUG_EXTRA
    return _STANDARD


def statuses_for(issue_type_id: str) -> list[Status]:
    used = {INITIAL_STATUS_ID}
    for t in workflow_for(issue_type_id):
        used.add(t.to)
        used |= t.sources
    return [s for s in STATUSES if s.id in used]


@dataclass(frozen=True)
class Priority:
    id: str
    name: str
    color: str


PRIORITIES: tuple[Priority, ...] = (
    Priority("1", "Highest", "#d04437"),
    Priority("2", "High", "#f15C75"),
    Priority("3", "Medium", "#f79232"),
    Priority("4", "Low", "#707070"),
    Priority("5", "Lowest", "#999999"),
)
PRIORITIES_BY_ID = {p.id: p for p in PRIORITIES}
PRIORITIES_BY_NAME = {p.name.lower(): p for p in PRIORITIES}
DEFAULT_PRIORITY_ID = "3"


@dataclass(frozen=True)
class LinkType:
    id: str
    name: str
    inward: str
    outward: str


LINK_TYPES: tuple[LinkType, ...] = (
    LinkType("10000", "Blocks", "is blocked by", "blocks"),
    LinkType("10001", "Cloners", "is cloned by", "clones"),
    LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
    LinkType("10003", "Relates", "relates to", "relates to"),
)
LINK_TYPES_BY_ID = {t.id: t for t in LINK_TYPES}
LINK_TYPES_BY_NAME = {t.name.lower(): t for t in LINK_TYPES}

# Field ids the sandbox knows; the kind drives validation of values sent on create/edit.
STORY_POINTS = "customfield_10016"
SPRINT = "customfield_10020"
ACCEPTANCE_CRITERIA = "customfield_10030"
SOURCE_URL = "customfield_10031"
RICH_TEXT_FIELDS = ("description", "environment", ACCEPTANCE_CRITERIA)


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    schema: dict
    custom: bool = False
    settable: bool = True  # can be sent on create/edit
    navigable: bool = True
    clause_names: tuple[str, ...] = ()
    operations: tuple[str, ...] = ("set",)


def _custom(fid: str, name: str, type_: str, custom: str, items: str | None = None) -> FieldDef:
    schema: dict = {"type": type_, "custom": custom, "customId": int(fid.split("_")[1])}
    if items:
        schema["items"] = items
    return FieldDef(fid, name, schema, custom=True, clause_names=(f"cf[{fid.split('_')[1]}]", name))


FIELDS: tuple[FieldDef, ...] = (
    FieldDef("summary", "Summary", {"type": "string", "system": "summary"}, clause_names=("summary",)),
    FieldDef(
        "issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, clause_names=("issuetype", "type")
    ),
    FieldDef("project", "Project", {"type": "project", "system": "project"}, clause_names=("project",)),
    FieldDef("description", "Description", {"type": "string", "system": "description"}, clause_names=("description",)),
    FieldDef("environment", "Environment", {"type": "string", "system": "environment"}, clause_names=("environment",)),
    FieldDef("priority", "Priority", {"type": "priority", "system": "priority"}, clause_names=("priority",)),
    FieldDef(
        "labels",
        "Labels",
        {"type": "array", "items": "string", "system": "labels"},
        clause_names=("labels",),
        operations=("add", "set", "remove"),
    ),
    FieldDef(
        "components",
        "Components",
        {"type": "array", "items": "component", "system": "components"},
        clause_names=("component",),
        operations=("add", "set", "remove"),
    ),
    FieldDef("parent", "Parent", {"type": "issuelink", "system": "parent"}, clause_names=("parent",)),
    FieldDef("assignee", "Assignee", {"type": "user", "system": "assignee"}, clause_names=("assignee",)),
    FieldDef("reporter", "Reporter", {"type": "user", "system": "reporter"}, clause_names=("reporter",)),
    FieldDef("duedate", "Due date", {"type": "date", "system": "duedate"}, clause_names=("due", "duedate")),
    FieldDef("status", "Status", {"type": "status", "system": "status"}, settable=False, clause_names=("status",)),
    FieldDef(
        "created",
        "Created",
        {"type": "datetime", "system": "created"},
        settable=False,
        clause_names=("created", "createdDate"),
    ),
    FieldDef(
        "updated",
        "Updated",
        {"type": "datetime", "system": "updated"},
        settable=False,
        clause_names=("updated", "updatedDate"),
    ),
    FieldDef(
        "issuekey", "Key", {"type": "string", "system": "issuekey"}, settable=False, clause_names=("id", "issue", "key")
    ),
    FieldDef(
        "issuelinks",
        "Linked Issues",
        {"type": "array", "items": "issuelinks", "system": "issuelinks"},
        settable=False,
        clause_names=("issueLink",),
    ),
    FieldDef(
        "attachment",
        "Attachment",
        {"type": "array", "items": "attachment", "system": "attachment"},
        settable=False,
        clause_names=("attachments",),
    ),
    FieldDef(
        "comment", "Comment", {"type": "comments-page", "system": "comment"}, settable=False, clause_names=("comment",)
    ),
    FieldDef(
        "worklog",
        "Log Work",
        {"type": "array", "items": "worklog", "system": "worklog"},
        settable=False,
        clause_names=("worklogComment",),
    ),
    FieldDef(
        "subtasks",
        "Sub-tasks",
        {"type": "array", "items": "issuelinks", "system": "subtasks"},
        settable=False,
        clause_names=("subtasks",),
    ),
    _custom(STORY_POINTS, "Story point estimate", "number", "com.pyxis.greenhopper.jira:jsw-story-points"),
    _custom(SPRINT, "Sprint", "array", "com.pyxis.greenhopper.jira:gh-sprint", items="json"),
    _custom(
        ACCEPTANCE_CRITERIA,
        "Acceptance criteria",
        "string",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
    ),
    _custom(SOURCE_URL, "Source URL", "string", "com.atlassian.jira.plugin.system.customfieldtypes:textfield"),
)
FIELDS_BY_ID = {f.id: f for f in FIELDS}
SETTABLE_FIELDS = frozenset(f.id for f in FIELDS if f.settable)


GONE = "#renamed"  # marks a default id the site serves under another id: unknown there


@dataclass(frozen=True)
class FieldIds:
    """Custom field ids as served (the config's `field_ids`), mapped to and from the ids used inside."""

    served: dict[str, str]

    def out(self, fid: str) -> str:
        return self.served.get(fid, fid)

    def into(self, fid: str) -> str:
        """The inside id of a served one; a default id the site renamed is unknown there, as on a real site."""
        for inside, served in self.served.items():
            if fid == served:
                return inside
        return f"{fid}{GONE}" if fid in self.served else fid

    def shown(self, fid: str) -> str:
        """The id an answer names: the served one, or the id the client sent."""
        return fid.removesuffix(GONE) if fid.endswith(GONE) else self.out(fid)

    def field(self, f: FieldDef) -> FieldDef:
        served = self.out(f.id)
        if served == f.id:
            return f
        number = served.split("_")[-1]
        schema = {**f.schema, "customId": int(number)} if number.isdigit() else dict(f.schema)
        clauses = tuple(f"cf[{number}]" if c.startswith("cf[") else c for c in f.clause_names)
        return FieldDef(served, f.name, schema, f.custom, f.settable, f.navigable, clauses, f.operations)


def required_fields(issue_type_id: str) -> frozenset[str]:
    required = {"summary", "issuetype", "project"}
    if issue_type_id == "10004":
        required.add("priority")
    if ISSUE_TYPES_BY_ID[issue_type_id].subtask:
        required.add("parent")
    return frozenset(required)


def create_fields(issue_type_id: str) -> list[str]:
    """Fields on each issue type's create screen (Epics carry no sprint, sub-tasks no story points)."""
    ids = [f.id for f in FIELDS if f.settable]
    level = ISSUE_TYPES_BY_ID[issue_type_id].hierarchy_level
    if level > 0:
        ids.remove(SPRINT)
    return ids
