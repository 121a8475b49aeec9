"""Process metadata of the sandbox project (Agile process): fields, work item types, link types.

Shapes follow the ADO 7.1 examples (fields/GET__wit_fields.json, workItemRelationTypes/...,
workItemTypeCategories/...); only what the generated project uses is listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrayt.sandbox.generator import STATES


@dataclass(frozen=True)
class FieldDef:
    reference_name: str
    name: str
    # WorkItemField2.type enum: string, integer, dateTime, plainText, html, treePath, double, identity, boolean,
    # history
    type: str
    read_only: bool = False
    is_identity: bool = False
    is_picklist: bool = False


_F = FieldDef
FIELDS: tuple[FieldDef, ...] = (
    _F("System.Id", "ID", "integer", True),
    _F("System.Rev", "Rev", "integer", True),
    _F("System.Title", "Title", "string"),
    _F("System.State", "State", "string"),
    _F("System.Reason", "Reason", "string"),
    _F("System.WorkItemType", "Work Item Type", "string", True),
    _F("System.TeamProject", "Team Project", "string", True),
    _F("System.AreaPath", "Area Path", "treePath"),
    _F("System.AreaId", "Area ID", "integer"),
    _F("System.AreaLevel1", "Area Level 1", "string", True),
    _F("System.NodeName", "Node Name", "string", True),
    _F("System.IterationPath", "Iteration Path", "treePath"),
    _F("System.IterationId", "Iteration ID", "integer"),
    _F("System.IterationLevel1", "Iteration Level 1", "string", True),
    _F("System.AssignedTo", "Assigned To", "string", False, True),
    _F("System.CreatedBy", "Created By", "string", True, True),
    _F("System.CreatedDate", "Created Date", "dateTime", True),
    _F("System.ChangedBy", "Changed By", "string", True, True),
    _F("System.ChangedDate", "Changed Date", "dateTime", True),
    _F("System.AuthorizedAs", "Authorized As", "string", True, True),
    _F("System.AuthorizedDate", "Authorized Date", "dateTime", True),
    _F("System.RevisedDate", "Revised Date", "dateTime", True),
    _F("System.Description", "Description", "html"),
    _F("System.History", "History", "history"),
    _F("System.Tags", "Tags", "plainText"),
    _F("System.CommentCount", "Comment Count", "integer", True),
    _F("System.Parent", "Parent", "integer", True),
    _F("System.BoardColumn", "Board Column", "string", True),
    _F("Microsoft.VSTS.Common.Priority", "Priority", "integer", False, False, True),
    _F("Microsoft.VSTS.Common.Severity", "Severity", "string", False, False, True),
    _F("Microsoft.VSTS.Common.StateChangeDate", "State Change Date", "dateTime", True),
    _F("Microsoft.VSTS.Common.ActivatedDate", "Activated Date", "dateTime", True),
    _F("Microsoft.VSTS.Common.ActivatedBy", "Activated By", "string", True, True),
    _F("Microsoft.VSTS.Common.ResolvedDate", "Resolved Date", "dateTime", True),
    _F("Microsoft.VSTS.Common.ResolvedBy", "Resolved By", "string", True, True),
    _F("Microsoft.VSTS.Common.ClosedDate", "Closed Date", "dateTime", True),
    _F("Microsoft.VSTS.Common.ClosedBy", "Closed By", "string", True, True),
    _F("Microsoft.VSTS.Common.ValueArea", "Value Area", "string", False, False, True),
    _F("Microsoft.VSTS.Common.BusinessValue", "Business Value", "integer"),
    _F("Microsoft.VSTS.Common.TimeCriticality", "Time Criticality", "double"),
    _F("Microsoft.VSTS.Common.AcceptanceCriteria", "Acceptance Criteria", "html"),
    _F("Microsoft.VSTS.Common.Activity", "Activity", "string", False, False, True),
    _F("Microsoft.VSTS.Scheduling.StoryPoints", "Story Points", "double"),
    _F("Microsoft.VSTS.Scheduling.Effort", "Effort", "double"),
    _F("Microsoft.VSTS.Scheduling.OriginalEstimate", "Original Estimate", "double"),
    _F("Microsoft.VSTS.Scheduling.RemainingWork", "Remaining Work", "double"),
    _F("Microsoft.VSTS.Scheduling.CompletedWork", "Completed Work", "double"),
    _F("Microsoft.VSTS.Scheduling.DueDate", "Due Date", "dateTime"),
    _F("Microsoft.VSTS.TCM.ReproSteps", "Repro Steps", "html"),
    _F("Microsoft.VSTS.TCM.SystemInfo", "System Info", "html"),
    _F("Microsoft.VSTS.TCM.Steps", "Steps", "html"),
    _F("Microsoft.VSTS.TCM.AutomationStatus", "Automation status", "string"),
    _F("Microsoft.VSTS.TCM.Parameters", "Parameters", "html"),
    _F("Microsoft.VSTS.TCM.LocalDataSource", "Local Data Source", "html"),
    _F("Custom.Team", "Team", "string", False, False, True),
    _F("Custom.CustomerImpact", "Customer Impact", "string", False, False, True),
)
_BY_REF = {f.reference_name.lower(): f for f in FIELDS}
_BY_NAME = {f.name.lower(): f for f in FIELDS}


def find_field(name: str) -> FieldDef | None:
    """WIQL accepts reference names and display names, in any letter case."""
    key = name.strip().lower()
    return _BY_REF.get(key) or _BY_NAME.get(key)


_OPS = {
    "integer": ["=", "<>", ">", "<", ">=", "<=", "In", "Not In", "Was Ever"],
    "double": ["=", "<>", ">", "<", ">=", "<=", "In", "Not In", "Was Ever"],
    "dateTime": ["=", "<>", ">", "<", ">=", "<=", "In", "Not In", "Was Ever"],
    "string": ["=", "<>", ">", "<", ">=", "<=", "Contains", "Does Not Contain", "In", "Not In", "Was Ever"],
    "treePath": ["=", "<>", "In", "Not In", "Under", "Not Under"],
    "html": ["Contains Words", "Does Not Contain Words", "Is Empty", "Is Not Empty"],
    "plainText": ["Contains Words", "Does Not Contain Words", "Is Empty", "Is Not Empty"],
    "history": ["Contains Words", "Does Not Contain Words"],
}


def field_json(f: FieldDef, origin_org: str) -> dict:
    usage = "workItem"
    return {
        "name": f.name,
        "referenceName": f.reference_name,
        "description": "",
        "type": f.type,
        "usage": usage,
        "readOnly": f.read_only,
        "canSortBy": f.type not in ("html", "plainText", "history"),
        "isQueryable": True,
        "supportedOperations": [
            {"referenceName": f"SupportedOperations.{op.replace(' ', '')}", "name": op}
            for op in _OPS.get(f.type, ["=", "<>"])
        ],
        "isIdentity": f.is_identity,
        "isPicklist": f.is_picklist,
        "isPicklistSuggested": False,
        "url": f"{origin_org}/_apis/wit/fields/{f.reference_name}",
    }


COMMON_TYPE_FIELDS = (
    "System.Id",
    "System.Rev",
    "System.Title",
    "System.State",
    "System.Reason",
    "System.WorkItemType",
    "System.TeamProject",
    "System.AreaPath",
    "System.IterationPath",
    "System.AssignedTo",
    "System.CreatedBy",
    "System.CreatedDate",
    "System.ChangedBy",
    "System.ChangedDate",
    "System.Tags",
    "System.CommentCount",
    "System.Parent",
    "System.History",
    "Microsoft.VSTS.Common.StateChangeDate",
    "Custom.Team",
)
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "Epic": (
        "System.Description",
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.Common.BusinessValue",
        "Microsoft.VSTS.Common.TimeCriticality",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Common.ValueArea",
    ),
    "Feature": (
        "System.Description",
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.Common.BusinessValue",
        "Microsoft.VSTS.Common.TimeCriticality",
        "Microsoft.VSTS.Scheduling.Effort",
        "Microsoft.VSTS.Common.ValueArea",
    ),
    "User Story": (
        "System.Description",
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.Scheduling.StoryPoints",
        "Microsoft.VSTS.Common.ValueArea",
        "Microsoft.VSTS.Common.AcceptanceCriteria",
    ),
    "Task": (
        "System.Description",
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.Common.Activity",
        "Microsoft.VSTS.Scheduling.OriginalEstimate",
        "Microsoft.VSTS.Scheduling.RemainingWork",
        "Microsoft.VSTS.Scheduling.CompletedWork",
    ),
    "Bug": (
        "Microsoft.VSTS.TCM.ReproSteps",
        "Microsoft.VSTS.TCM.SystemInfo",
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.Common.Severity",
        "Microsoft.VSTS.Scheduling.StoryPoints",
        "Custom.CustomerImpact",
    ),
    "Issue": ("System.Description", "Microsoft.VSTS.Common.Priority", "Microsoft.VSTS.Scheduling.DueDate"),
    "Test Case": (
        "System.Description",
        "Microsoft.VSTS.Common.Priority",
        "Microsoft.VSTS.TCM.Steps",
        "Microsoft.VSTS.TCM.AutomationStatus",
        "Microsoft.VSTS.TCM.Parameters",
        "Microsoft.VSTS.TCM.LocalDataSource",
    ),
    "Shared Steps": ("System.Description", "Microsoft.VSTS.TCM.Steps", "Microsoft.VSTS.TCM.Parameters"),
}
TYPE_META = {  # reference name, colour, icon
    "Epic": ("Microsoft.VSTS.WorkItemTypes.Epic", "FF7B00", "icon_crown"),
    "Feature": ("Microsoft.VSTS.WorkItemTypes.Feature", "773B93", "icon_trophy"),
    "User Story": ("Microsoft.VSTS.WorkItemTypes.UserStory", "009CCC", "icon_book"),
    "Task": ("Microsoft.VSTS.WorkItemTypes.Task", "F2CB1D", "icon_clipboard"),
    "Bug": ("Microsoft.VSTS.WorkItemTypes.Bug", "CC293D", "icon_insect"),
    "Issue": ("Microsoft.VSTS.WorkItemTypes.Issue", "B4009E", "icon_traffic_cone"),
    "Test Case": ("Microsoft.VSTS.WorkItemTypes.TestCase", "004B50", "icon_test_case"),
    "Shared Steps": ("Microsoft.VSTS.WorkItemTypes.SharedStep", "004B50", "icon_test_step"),
}
# Types and fields a project shows only when it uses them (the generator's test management option), so
# projects without it answer exactly as before.
TEST_MANAGEMENT_TYPES = frozenset({"Shared Steps"})
TEST_MANAGEMENT_FIELDS = frozenset({"Microsoft.VSTS.TCM.Parameters", "Microsoft.VSTS.TCM.LocalDataSource"})


def shown_types(test_management: bool) -> list[str]:
    return [t for t in TYPE_META if test_management or t not in TEST_MANAGEMENT_TYPES]


def shown_fields(test_management: bool) -> list[FieldDef]:
    return [f for f in FIELDS if test_management or f.reference_name not in TEST_MANAGEMENT_FIELDS]


def shown_categories(test_management: bool) -> list[tuple[str, str, list[str]]]:
    return [c for c in CATEGORIES if test_management or not set(c[2]) <= TEST_MANAGEMENT_TYPES]


STATE_META = {  # colour, category
    "New": ("b2b2b2", "Proposed"),
    "Design": ("b2b2b2", "Proposed"),
    "Active": ("007acc", "InProgress"),
    "Ready": ("007acc", "InProgress"),
    "Resolved": ("ff9d00", "Resolved"),
    "Closed": ("339933", "Completed"),
    "Removed": ("ffffff", "Removed"),
}
CATEGORIES = (
    ("Epic Category", "Microsoft.EpicCategory", ["Epic"]),
    ("Feature Category", "Microsoft.FeatureCategory", ["Feature"]),
    ("Requirement Category", "Microsoft.RequirementCategory", ["User Story"]),
    ("Task Category", "Microsoft.TaskCategory", ["Task"]),
    ("Bug Category", "Microsoft.BugCategory", ["Bug"]),
    ("Test Case Category", "Microsoft.TestCaseCategory", ["Test Case"]),
    ("Shared Step Category", "Microsoft.SharedStepCategory", ["Shared Steps"]),
)


def states_json(wit: str) -> list[dict]:
    return [{"name": s, "color": STATE_META[s][0], "category": STATE_META[s][1]} for s in STATES[wit]]


def find_type(name: str) -> str | None:
    key = name.strip().lower()
    return next((t for t in STATES if t.lower() == key or TYPE_META[t][0].lower() == key), None)


# (referenceName, name, attributes) as in workItemRelationTypes/GET__relation_types.json
def _wl(
    ref: str, name: str, opposite: str | None, topology: str, forward: bool | None, single: bool, editable: bool = False
) -> tuple[str, str, dict]:
    attrs: dict = {
        "usage": "workItemLink",
        "editable": editable,
        "enabled": True,
        "acyclic": topology != "network",
        "directional": forward is not None,
        "singleTarget": single,
        "topology": topology,
    }
    if forward is not None:
        attrs["isForward"] = forward
        attrs["oppositeEndReferenceName"] = opposite
    return ref, name, attrs


RELATION_TYPES: tuple[tuple[str, str, dict], ...] = (
    _wl(
        "Microsoft.VSTS.Common.Affects-Forward",
        "Affects",
        "Microsoft.VSTS.Common.Affects-Reverse",
        "dependency",
        True,
        True,
        True,
    ),
    _wl(
        "Microsoft.VSTS.Common.Affects-Reverse",
        "Affected By",
        "Microsoft.VSTS.Common.Affects-Forward",
        "dependency",
        False,
        True,
        True,
    ),
    _wl(
        "Microsoft.VSTS.Common.TestedBy-Forward",
        "Tested By",
        "Microsoft.VSTS.Common.TestedBy-Reverse",
        "dependency",
        True,
        True,
        True,
    ),
    _wl(
        "Microsoft.VSTS.Common.TestedBy-Reverse",
        "Tests",
        "Microsoft.VSTS.Common.TestedBy-Forward",
        "dependency",
        False,
        True,
        True,
    ),
    _wl("System.LinkTypes.Duplicate-Forward", "Duplicate", "System.LinkTypes.Duplicate-Reverse", "tree", True, False),
    _wl(
        "System.LinkTypes.Duplicate-Reverse", "Duplicate Of", "System.LinkTypes.Duplicate-Forward", "tree", False, False
    ),
    _wl(
        "System.LinkTypes.Dependency-Forward",
        "Successor",
        "System.LinkTypes.Dependency-Reverse",
        "dependency",
        True,
        True,
    ),
    _wl(
        "System.LinkTypes.Dependency-Reverse",
        "Predecessor",
        "System.LinkTypes.Dependency-Forward",
        "dependency",
        False,
        True,
    ),
    _wl("System.LinkTypes.Hierarchy-Forward", "Child", "System.LinkTypes.Hierarchy-Reverse", "tree", True, False),
    _wl("System.LinkTypes.Hierarchy-Reverse", "Parent", "System.LinkTypes.Hierarchy-Forward", "tree", False, False),
    _wl("System.LinkTypes.Related", "Related", None, "network", None, True),
    ("AttachedFile", "Attached File", {"usage": "resourceLink", "editable": False, "enabled": True}),
    ("Hyperlink", "Hyperlink", {"usage": "resourceLink", "editable": False, "enabled": True}),
    ("ArtifactLink", "Artifact Link", {"usage": "resourceLink", "editable": False, "enabled": True}),
)
