"""The MappingPlan: how each ADO thing becomes a Jira thing. Versioned and approved elsewhere."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from migrayt.contracts.runs import PhaseSchedule

FieldTransform = Literal["text", "rich_text", "number", "date", "identity", "picklist", "tags"]


class FieldMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str  # ADO reference name, e.g. Microsoft.VSTS.Scheduling.StoryPoints
    target: str  # Jira field id as /rest/api/3/field lists it (custom ones differ per site)
    transform: FieldTransform = "text"
    values: dict[str, str] = Field(default_factory=dict)  # pick-list value map
    origin: Literal["rule", "ai", "human"] = "rule"
    confidence: float = 1.0


class EntryOrigin(BaseModel):
    """Where a plan entry came from: the deterministic matcher, the LLM, or a person."""

    origin: Literal["rule", "ai", "human"] = "rule"
    confidence: float = 1.0
    note: str | None = None  # why (e.g. "same name", "status category"); never ticket content


class ProvenanceChoice(BaseModel):
    """Which provenance facts a migration writes (each on by default) and whether it links back to ADO."""

    model_config = ConfigDict(extra="forbid")

    ado_id: bool = True
    ado_url: bool = True
    original_created: bool = True
    original_created_by: bool = True
    original_changed: bool = True
    original_resolved: bool = True
    original_closed: bool = True
    original_state: bool = True
    link_back: bool = True  # a remote link on every issue to its ADO work item


class MappingPlan(BaseModel):
    # A mistyped key in a hand-edited plan must be an error naming it, not silently dropped.
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    # ADO work item type → Jira issue type name; types not listed are skipped and reported.
    types: dict[str, str]
    # ADO types that become Jira sub-tasks when their ADO parent maps to a standard issue type.
    subtask_types: dict[str, str] = Field(default_factory=dict)
    # ADO state → Jira status name, per ADO type with "*" as the default.
    states: dict[str, dict[str, str]] = Field(default_factory=dict)
    priorities: dict[str, str] = Field(default_factory=dict)  # ADO priority value → Jira priority name
    fields: list[FieldMapping] = Field(default_factory=list)
    link_types: dict[str, str] = Field(default_factory=dict)  # ADO relation ref name → Jira link type name
    # ADO unique name or email → Jira accountId, supplied by the user; email lookups come first.
    users: dict[str, str] = Field(default_factory=dict)
    fallback_user_email: str | None = None
    areas_to_components: bool = True
    iterations_to_sprints: bool = True
    # Origin of each dict entry, keyed "types/<ADO type>", "subtask_types/<ADO type>",
    # "states/<ADO type or *>/<ADO state>", "priorities/<value>", "link_types/<relation>".
    provenance: dict[str, EntryOrigin] = Field(default_factory=dict)
    # Phases the customer chose to leave out (e.g. "attachments" for a structure-only move):
    # their batches count every item as skipped.
    skip_phases: list[str] = Field(default_factory=list)
    # Original dates, people, state and the way back to ADO, on every issue (migrayt/translation/provenance.py).
    provenance_fields: ProvenanceChoice = Field(default_factory=ProvenanceChoice)
    # Mute the Jira project's notifications during the run (a notification scheme without events, the project's own
    # restored at the end): a migration e-mails no one. Needs the Administer Projects permission; preflight says so.
    mute_notifications: bool = True
    # How a run goes through the phases after the issues exist: side by side (links, files, statuses, comments and
    # plugins at once, each on its own Jira budget; each item's files before its comments) or one after the other.
    # Both end in the same Jira state; a run fixes it when it starts.
    phase_schedule: PhaseSchedule = PhaseSchedule.SIDE_BY_SIDE

    def target_status(self, ado_type: str, ado_state: str) -> str | None:
        per_type = self.states.get(ado_type) or {}
        return per_type.get(ado_state) or (self.states.get("*") or {}).get(ado_state)


def default_plan() -> MappingPlan:
    """The plan for an ADO Agile process project moving into a Jira Software project."""
    return MappingPlan(
        types={
            "Epic": "Epic",
            "Feature": "Epic",
            "User Story": "Story",
            "Task": "Task",
            "Bug": "Bug",
            "Issue": "Task",
            "Test Case": "Test",
        },
        subtask_types={"Task": "Sub-task"},
        states={
            "*": {
                "New": "To Do",
                "Active": "In Progress",
                "Resolved": "In Review",
                "Closed": "Done",
                "Removed": "Done",
                "Design": "To Do",
                "Ready": "To Do",
            }
        },
        priorities={"1": "Highest", "2": "High", "3": "Medium", "4": "Low"},
        # No field entries: custom field ids differ per site. Story points and the sprint are found by their
        # schema when the run reads the site (translation.field_roles); a scan's draft maps the rest by name.
        link_types={
            "System.LinkTypes.Related": "Relates",
            "System.LinkTypes.Dependency-Forward": "Blocks",
            "System.LinkTypes.Duplicate-Forward": "Duplicate",
            "Microsoft.VSTS.Common.TestedBy-Forward": "Relates",
        },
    )
