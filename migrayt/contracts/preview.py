"""Contracts of the preview (a dry run): the PreviewWorkflow's input and result, its activity's, and the
report it keeps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, computed_field

from migrayt.contracts.phases import batched, in_order
from migrayt.contracts.runs import PhaseCounters


class PreviewWorkflowInput(BaseModel):
    preview_id: str
    migration_id: str
    tenant: str
    actor: str = "system"
    door: str = "api"
    samples: int = 5


class PreviewWorkflowResult(BaseModel):
    preview_id: str
    status: str  # COMPLETED | FAILED
    items_total: int = 0
    failures: int = 0
    would_start: bool = True
    error: str | None = None


class PredictedFailure(BaseModel):
    phase: str
    kind: str  # item record kind: issue, hierarchy, user, link, remote_link, attachment, inline_image, transition, ...
    source_key: str
    reason: str
    # Named as the run's failure lists name the record (its ADO item, and e.g. "attachment spec.pdf" for a file
    # whose key is a GUID); empty in previews kept from before these were given.
    ado_id: int | None = None
    what: str = ""


class PreviewSample(BaseModel):
    ado_id: int
    source: dict[str, Any]  # what ADO shows: type, state, title, text, tags, assigned
    jira: dict[str, Any]  # what Jira will show: type, summary, text, labels, priority, status, parent
    payload: dict[str, Any]  # the exact `fields` the create call would send
    # (provenance field name, the value it will show), in the fields' order (a list: stored JSON keeps no key order)
    provenance: list[tuple[str, str]] = Field(default_factory=list)
    outcome: str  # created | failed | skipped
    reason: str | None = None


class ProvenancePreview(BaseModel):
    """Where the run will keep the original dates, people and state, as its preflight will settle it."""

    where: str = "fields"  # fields | panel (an info panel at the top of each description) | none
    fields_found: dict[str, str] = Field(default_factory=dict)  # field name → id of the site's field it will use
    fields_to_create: list[str] = Field(default_factory=list)  # names preflight will create
    reason: str | None = None  # why the panel, when it is the panel
    link_back: bool = True


class PreviewReport(BaseModel):
    plan_version: int | None = None
    would_start: bool = True
    plan_problems: list[str] = Field(default_factory=list)
    items_total: int = 0
    skipped_types: dict[str, int] = Field(default_factory=dict)
    users_resolved: int = 0
    users_unresolved: int = 0
    users_fallback: int = 0  # ADO users without a Jira account, written as the plan's fallback user
    # Users resolved since an earlier run, and the issues it created without them that preflight will give them to.
    users_given: int = 0
    issues_given_users: int = 0
    components_to_create: int = 0
    sprints_to_create: int = 0
    phases: dict[str, PhaseCounters] = Field(default_factory=dict)
    failures: list[PredictedFailure] = Field(default_factory=list)
    # What phases 4–7 carry per the source, for the reader (links, attachments, transitions, comments).
    content: dict[str, int] = Field(default_factory=dict)
    # Phase → what the preview cannot know without writing, and what it assumed instead.
    unpredictable: dict[str, str] = Field(default_factory=dict)
    samples: list[PreviewSample] = Field(default_factory=list)
    # Items the target project holds already by source identity: the run adopts them, creating nothing.
    already_in_jira: int = 0
    already_in_jira_keys: list[str] = Field(default_factory=list)  # a sample
    provenance: ProvenancePreview | None = None
    # What the run does to the Jira project's notifications, in the user's words (None: a preview before it was said).
    notifications: str | None = None

    # The run's own counts, in its words (RunReport.failed_items, users_unmatched): the preview says what the run
    # will say. Unmatched users are no items: a run fails none for them, it counts them apart.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed_items(self) -> int:
        return sum(self.phases[name].failed for name in batched(in_order(self.phases)))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def users_unmatched(self) -> int:
        return self.users_unresolved


class PreviewInput(BaseModel):
    preview_id: str
    migration_id: str
    tenant: str
    samples: int = 5


class PreviewResult(BaseModel):
    items_total: int
    failures: int
    would_start: bool


class PreviewFinishedInput(BaseModel):
    preview_id: str
    migration_id: str
    tenant: str
    actor: str
    door: str
    status: str
    error: str | None = None
