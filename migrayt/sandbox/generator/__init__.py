"""Seeded generator of Azure DevOps Boards projects (see project.py for how items are derived)."""

from migrayt.sandbox.generator.models import (
    ORIGIN,
    ClassificationNode,
    GeneratedAttachment,
    GeneratedComment,
    GeneratedRelation,
    GeneratedRevision,
    GeneratedUser,
    GeneratedWorkItem,
    GeneratedWorklog,
    ProjectSpec,
)
from migrayt.sandbox.generator.project import (
    STATES,
    TYPES,
    UGLY_CASES,
    GeneratedProject,
    ItemCore,
    ado_date,
)

__all__ = [
    "ORIGIN",
    "STATES",
    "TYPES",
    "UGLY_CASES",
    "ClassificationNode",
    "GeneratedAttachment",
    "GeneratedComment",
    "GeneratedProject",
    "GeneratedRelation",
    "GeneratedRevision",
    "GeneratedUser",
    "GeneratedWorkItem",
    "GeneratedWorklog",
    "ItemCore",
    "ProjectSpec",
    "ado_date",
]
