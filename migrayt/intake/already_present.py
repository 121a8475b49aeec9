"""The scan's "already in Jira" finding: items of this source the target project holds already."""

from __future__ import annotations

from migrayt.activities.execution.adoption import Present
from migrayt.intake.catalog import MAX_LISTED
from migrayt.intake.lint import LimitBreach

RULE = "already_in_jira"


def already_in_jira(present: Present) -> LimitBreach | None:
    if not present.keys:
        return None
    ids = sorted(present.keys)
    sample = present.sample()
    more = f", {present.duplicates} more as duplicates" if present.duplicates else ""
    return LimitBreach(
        rule=RULE,
        severity="info",
        count=len(ids),
        items=ids[:MAX_LISTED],
        names=sample,
        message=f"{len(ids)} item(s) are already in the Jira project (by source identity: label and "
        f"migrayt.source property), e.g. {', '.join(sample[:5])}{more}",
        action="the run adopts them (recorded with their key, counted as already in Jira) instead of creating "
        "them again; later phases add only what is missing",
    )
