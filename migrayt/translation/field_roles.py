"""Jira fields found by what they are, not by id: custom field ids differ from site to site.

The sprint field is the one whose schema is Jira Software's sprint type; story points are Jira Software's
estimate type, or a number field named as Jira names it (company-managed "Story Points", team-managed
"Story point estimate"), or Advanced Roadmaps' own story points type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

SPRINT_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
STORY_POINTS_TYPES = ("com.pyxis.greenhopper.jira:jsw-story-points", "com.atlassian.jpo:jpo-custom-field-story-points")
NUMBER_TYPE = "com.atlassian.jira.plugin.system.customfieldtypes:float"
STORY_POINTS_NAMES = ("story point estimate", "story points")
# The ADO field whose values become the story points field, unless the plan maps it elsewhere.
ADO_STORY_POINTS = "Microsoft.VSTS.Scheduling.StoryPoints"


class FieldLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


def _custom(field: Any) -> str:
    schema: Mapping[str, Any] | None = getattr(field, "schema_", None)
    if schema is None:
        return str(getattr(field, "custom_type", None) or "")
    return str(schema.get("custom") or "")


def sprint_field(fields: Iterable[FieldLike]) -> str | None:
    """The id of the sprint field (None: the site has no Jira Software, so no sprints)."""
    return next((f.id for f in fields if _custom(f) == SPRINT_TYPE), None)


def story_points_field(fields: Iterable[FieldLike]) -> str | None:
    """The id of the story points field: Jira Software's own type first, then a number field named for it."""
    fields = list(fields)
    for wanted in STORY_POINTS_TYPES:
        if (found := next((f.id for f in fields if _custom(f) == wanted), None)) is not None:
            return found
    return next(
        (f.id for f in fields if _custom(f) == NUMBER_TYPE and f.name.strip().lower() in STORY_POINTS_NAMES), None
    )
