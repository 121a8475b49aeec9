"""Limit lint: every place the source breaks a Jira limit, and what the run will do about it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from migrayt.intake.catalog import Catalog, IdList
from migrayt.words import plural

Severity = Literal["info", "warning", "blocker"]
# Past this share of Jira's custom field cap a site is "near" it (a migration's provenance fields may not fit).
NEAR_CAP_SHARE = 0.95


class LimitBreach(BaseModel):
    rule: str  # long_summary, long_text, large_attachment, attachment_storage, many_attachments, many_comments,
    # too_deep, user_without_email, custom_field_cap
    severity: Severity
    limit: int | None = None
    count: int  # items (or users, fields) concerned, complete
    items: list[int] = Field(default_factory=list)  # ADO ids, the first MAX_LISTED
    figures: dict[int, int] = Field(default_factory=dict)  # id → the measured size/count/depth
    # Users or fields, where the finding is not about items; the files themselves for large_attachment.
    names: list[str] = Field(default_factory=list)
    field: str | None = None
    message: str
    action: str  # what the run will do about it
    # The run will fail items over it: the plan can be approved only once this finding is acknowledged by its rule.
    must_acknowledge: bool = False


class LintReport(BaseModel):
    breaches: list[LimitBreach] = Field(default_factory=list)

    def by_rule(self, rule: str) -> list[LimitBreach]:
        return [b for b in self.breaches if b.rule == rule]

    def to_acknowledge(self) -> list[LimitBreach]:
        """Findings the run will fail items over: approving the plan takes an acknowledgement of each."""
        return [b for b in self.breaches if b.must_acknowledge]


def _from(ids: IdList) -> dict:
    return dict(count=ids.count, items=list(ids.items), figures=dict(ids.figures))


def plugin_findings(catalog: Catalog) -> list[LimitBreach]:
    """Each plugin's own lint, and a note for a plugin the source uses that will not run (nor be billed)."""
    out: list[LimitBreach] = []
    for scan in catalog.plugins.values():
        out += [LimitBreach.model_validate(x.model_dump()) for x in scan.findings]
        d = scan.detection
        if d.source_uses and not d.runs:
            out.append(
                LimitBreach(
                    rule="plugin_not_carried",
                    severity="warning",
                    count=sum(scan.units.values()),
                    names=[scan.title],
                    message=f"{scan.title}: in use in ADO, but {d.reason or 'the Jira site cannot receive it'}",
                    action="not carried, so neither quoted nor billed",
                )
            )
        elif d.fallback:
            out.append(
                LimitBreach(
                    rule="plugin_fallback",
                    severity="info",
                    count=sum(scan.units.values()),
                    names=[scan.title],
                    message=f"{scan.title}: {d.reason or 'the Jira site cannot receive it as it is'}",
                    action=d.fallback,
                )
            )
    return out


def lint(catalog: Catalog) -> LintReport:
    """Pure: the catalog already holds the ids measured against its limits."""
    lim = catalog.limits
    f = catalog.facts
    out: list[LimitBreach] = []
    if f.long_titles.count:
        out.append(
            LimitBreach(
                rule="long_summary",
                severity="warning",
                limit=lim.summary_chars,
                **_from(f.long_titles),
                message=(
                    f"{plural(f.long_titles.count, 'title')} longer than Jira's {lim.summary_chars}-character summary"
                ),
                action="the summary is cut to 255 characters with '…'; the full title heads the description",
            )
        )
    for field, ids in sorted(f.long_texts.items()):
        out.append(
            LimitBreach(
                rule="long_text",
                severity="warning",
                limit=lim.text_chars,
                field=field,
                **_from(ids),
                message=f"{plural(ids.count, field + ' value')} longer than Jira's {lim.text_chars:,} characters",
                action="the text is cut at a clean boundary with a visible note; the full original is attached as HTML",
            )
        )
    if f.large_attachments.count:
        out.append(
            LimitBreach(
                rule="large_attachment",
                severity="warning",
                limit=lim.attachment_bytes,
                **_from(f.large_attachments),
                names=list(f.large_attachment_files),
                message=(
                    f"{plural(f.large_attachments.count, 'attachment')} larger than the target's upload limit of "
                    f"{lim.attachment_bytes:,} bytes"
                ),
                action=(
                    "that attachment fails with its reason in the run report; the item and its other attachments go on"
                ),
            )
        )
    storage = lim.attachment_storage_bytes
    if storage is not None and catalog.attachments.total_bytes > storage:
        total = catalog.attachments.total_bytes
        out.append(
            LimitBreach(
                rule="attachment_storage",
                severity="warning",
                limit=storage,
                count=catalog.attachments.count,
                message=(
                    f"the {catalog.attachments.count:,} attachments add up to {total / 2**30:,.2f} GiB ({total:,} "
                    f"bytes), more than the {storage / 2**30:,.2f} GiB of attachment storage the Jira plan has"
                ),
                action=(
                    "once the site's storage is full Jira refuses further files and each fails with its reason; "
                    "move the site to a plan with more storage, or leave attachments out of the plan"
                ),
                must_acknowledge=True,
            )
        )
    if f.many_attachments.count:
        out.append(
            LimitBreach(
                rule="many_attachments",
                severity="warning",
                limit=lim.attachments_per_issue,
                **_from(f.many_attachments),
                message=(
                    f"{plural(f.many_attachments.count, 'item')} with more than {lim.attachments_per_issue} attachments"
                ),
                action="attachments over the per-issue cap fail with their reason; the first ones up to the cap land",
                must_acknowledge=True,
            )
        )
    for rule, ids, cap, what in (
        ("many_issue_links", f.many_issue_links, lim.issue_links_per_issue, "issue links"),
        ("many_remote_links", f.many_remote_links, lim.remote_links_per_issue, "remote links (hyperlinks, commits)"),
    ):
        if ids.count:
            out.append(
                LimitBreach(
                    rule=rule,
                    severity="warning",
                    limit=cap,
                    **_from(ids),
                    message=f"{plural(ids.count, 'item')} with more than Jira's {cap:,} {what} per issue",
                    action=f"the {what} over the cap fail with their reason in the run report; the first {cap:,} land",
                    must_acknowledge=True,
                )
            )
    if f.many_worklogs.count and "many_worklogs" not in {x.rule for p in catalog.plugins.values() for x in p.findings}:
        # A scan before the plugins scanned themselves: 7pace's own finding says the same.
        out.append(
            LimitBreach(
                rule="many_worklogs",
                severity="warning",
                limit=lim.worklogs_per_issue,
                **_from(f.many_worklogs),
                message=(
                    f"{plural(f.many_worklogs.count, 'item')} with more than Jira's "
                    f"{lim.worklogs_per_issue:,} worklogs (7pace time logs) per issue"
                ),
                action=(f"the first {lim.worklogs_per_issue:,} become worklogs; the rest are attached as a file"),
            )
        )
    out += plugin_findings(catalog)
    if f.many_comments.count:
        out.append(
            LimitBreach(
                rule="many_comments",
                severity="warning",
                limit=lim.comments_per_issue,
                **_from(f.many_comments),
                message=f"{plural(f.many_comments.count, 'item')} with more than {lim.comments_per_issue:,} comments",
                action="comments up to the cap land in order; the overflow is attached to the issue as a file",
            )
        )
    if f.too_deep.count:
        out.append(
            LimitBreach(
                rule="too_deep",
                severity="info",
                limit=lim.hierarchy_levels,
                **_from(f.too_deep),
                message=(
                    f"{plural(f.too_deep.count, 'item')} nested deeper than the {lim.hierarchy_levels} levels Jira "
                    f"has (source depth {catalog.hierarchy_depth})"
                ),
                action=(
                    "where Jira cannot nest a child under its parent the relation is kept as a 'Relates' "
                    "issue link and reported"
                ),
            )
        )
    no_email = [u.unique_name or u.display_name or "?" for u in catalog.users if not u.has_email]
    if no_email:
        out.append(
            LimitBreach(
                rule="user_without_email",
                severity="warning",
                count=len(no_email),
                names=no_email,
                message=(
                    f"{plural(len(no_email), 'user')} without an e-mail address cannot be matched to a Jira account "
                    "by e-mail"
                ),
                action="map them in the plan's user table, or name a fallback user their items are written as",
            )
        )
    custom = [fu.reference_name for fu in catalog.fields if fu.custom]
    if custom and lim.custom_fields_existing + len(custom) > lim.custom_fields_cap:
        out.append(
            LimitBreach(
                rule="custom_field_cap",
                severity="blocker",
                limit=lim.custom_fields_cap,
                count=len(custom),
                names=custom,
                message=(
                    f"{plural(len(custom), 'custom field')} in use would take the target past its cap of "
                    f"{lim.custom_fields_cap} ({lim.custom_fields_existing} exist)"
                ),
                action=(
                    "map them onto existing Jira fields or leave them out of the plan; the run creates no fields for "
                    "them (only its provenance fields, where the plan keeps them on)"
                ),
            )
        )
    near = int(lim.custom_fields_cap * NEAR_CAP_SHARE)
    if lim.provenance_fields_missing and lim.custom_fields_existing + lim.provenance_fields_missing > near:
        out.append(
            LimitBreach(
                rule="provenance_fields_near_cap",
                severity="warning",
                limit=lim.custom_fields_cap,
                count=lim.provenance_fields_missing,
                message=(
                    f"the Jira site has {lim.custom_fields_existing} custom fields, near its cap of "
                    f"{lim.custom_fields_cap}; the run's {plural(lim.provenance_fields_missing, 'provenance field')} "
                    "(original dates, people, state, ADO id and URL) would take it closer"
                ),
                action=(
                    "preflight creates the provenance fields the plan keeps on; where Jira refuses, the same facts go "
                    "in an info panel at the top of each description. Switch some off in the plan's provenance "
                    "section to save fields"
                ),
            )
        )
    return LintReport(breaches=out)
