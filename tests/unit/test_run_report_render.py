"""The pure parts of the run report: naming records, remedies per error class, CSV rows, HTML escaping."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from migrayt.contracts.runs import PhaseCounters
from migrayt.core import report_render
from migrayt.core.item_records_view import OTHER_REASON, classify, describe, group_by_reason, record_line
from migrayt.core.run_report import ItemFate, ReportTotals, RunReportDocument

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(
    ("error", "reason", "remedy_words"),
    [
        ("no Jira account with this e-mail and none given in the plan's user table", "Unmapped user", "user table"),
        (
            "deactivated in Jira: that account can no longer be assigned; pick another Jira user for them in the "
            "plan's user table, or set a fallback user",
            "Deactivated Jira user",
            "reactivate",
        ),
        (
            "Jira refused the file as too large (HTTP 413): The file is larger than 4000 bytes.",
            "File too large for Jira",
            "attachment size limit",
        ),
        ("status 'Won't Fix' is not in the workflow of Task issues in PHX", "Status not reachable", "status table"),
        (
            "Jira refused the issue: customfield_10031: The entry must be less than 255 characters.",
            "Field too long",
            "field table",
        ),
        ("ADO #12 has no Jira issue (not migrated or failed)", "Other item not migrated", "other end"),
        ("something nobody foresaw", OTHER_REASON, "support"),
    ],
)
def test_each_known_error_class_has_its_reason_and_remedy(error, reason, remedy_words):
    got_reason, remedy = classify(error)
    assert got_reason == reason
    assert remedy_words in remedy


def test_records_are_named_by_their_ado_item_never_by_an_internal_id_alone():
    guid = "6f1c2b3a-0000-4000-8000-000000000001"
    line = record_line(
        kind="attachment",
        source_key=guid,
        state="failed",
        detail={"ado_item": 48, "filename": "spec.pdf"},
        target_key=None,
        run_id="run-1",
        attempts=2,
        updated_at=None,
        error="Jira refused the file as too large (HTTP 413): over the site attachment limit",
        issue_keys={48: "PHX-144"},
    )
    assert (line.ado_label, line.jira_key, line.phase, line.what) == (
        "#48",
        "PHX-144",
        "attachments",
        "attachment spec.pdf",
    )
    assert line.reason == "File too large for Jira"
    assert describe("link", "12:48:System.LinkTypes.Hierarchy-Forward", {}) == "link #12 → #48 (Hierarchy-Forward)"
    assert record_line(
        kind="comment", source_key="48:7", state="done", detail={}, target_key="10001", run_id="r", attempts=1,
        updated_at=None, error=None, issue_keys={},
    ).ado_id == 48  # fmt: skip


def report(summary: str = HOSTILE) -> RunReportDocument:
    failed = record_line(
        kind="issue",
        source_key="48",
        state="failed",
        detail={},
        target_key=None,
        run_id="run-1",
        attempts=1,
        updated_at=datetime(2026, 1, 2, tzinfo=UTC),
        error=f"Jira refused the issue: summary {summary}",
        issue_keys={},
    )
    done = record_line(
        kind="issue",
        source_key="49",
        state="done",
        detail={},
        target_key="PHX-2",
        run_id="run-1",
        attempts=1,
        updated_at=None,
        error=None,
        issue_keys={49: "PHX-2"},
    )
    formula = record_line(
        kind="transition",
        source_key="49",
        state="failed",
        detail={},
        target_key=None,
        run_id="run-1",
        attempts=1,
        updated_at=None,
        error='=HYPERLINK("http://evil")',
        issue_keys={49: "PHX-2"},
    )
    records = [failed, done, formula]
    return RunReportDocument(
        run_id="run-1",
        migration_id="mig-1",
        migration_name=summary,
        status="INCOMPLETE",
        generated_at=datetime(2026, 1, 2, tzinfo=UTC),
        source="https://dev.azure.com/acme / Phoenix",
        target="https://acme.atlassian.net / PHX",
        phases=["create_items", "transitions"],
        counters={
            "create_items": PhaseCounters(total=2, created=1, failed=1),
            "transitions": PhaseCounters(total=2, failed=1, skipped=1),
        },
        totals=ReportTotals(items=2, records=3, failures=2),
        reasons=group_by_reason([failed, formula]),
        items=[
            ItemFate(
                ado_id=48,
                ado_url="https://dev.azure.com/acme/Phoenix/_workitems/edit/48",
                phases={"create_items": "failed"},
            ),
            ItemFate(
                ado_id=49,
                ado_url="https://dev.azure.com/acme/Phoenix/_workitems/edit/49",
                jira_key="PHX-2",
                jira_url="https://acme.atlassian.net/browse/PHX-2",
                phases={"create_items": "done"},
            ),
        ],
        records=records,
    )


def test_csv_has_one_row_per_record_and_never_a_formula():
    rows = list(csv.DictReader(io.StringIO(report_render.to_csv(report()))))
    assert [(r["ado_item"], r["jira_issue"], r["state"]) for r in rows] == [
        ("#48", "", "failed"),
        ("#49", "PHX-2", "done"),
        ("#49", "PHX-2", "failed"),
    ]
    assert rows[0]["remedy"] and rows[0]["error"].endswith(HOSTILE)  # the text is kept, as data
    assert rows[2]["error"].startswith("'=")  # a spreadsheet shows it, never runs it


def test_html_escapes_hostile_ticket_text_and_stands_alone():
    page = report_render.to_html(report())
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<link" not in page and "src=" not in page.replace("&lt;img src=x", "")
    assert page.count('<tr class="failure"') == 2 and 'id="failures-total">2 failed' in page
    assert '<a href="https://acme.atlassian.net/browse/PHX-2">PHX-2</a>' in page


def test_json_carries_the_same_records():
    import json

    body = json.loads(report_render.to_json(report()))
    assert [r["source_key"] for r in body["records"]] == ["48", "49", "49"]
    assert body["totals"] == {
        "items": 2,
        "records": 3,
        "failures": 2,
        "accepted": 0,
        "failed_items": 0,
        "accepted_items": 0,
        "users_unmatched": 0,
    }
