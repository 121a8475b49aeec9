"""The run report in the three forms a customer downloads: JSON, CSV (one row per record) and one HTML page.

The HTML page stands alone (inline CSS, no script, no external asset) so it can be forwarded by e-mail;
ticket text in it is hostile (summaries, errors quoting Jira), so everything is escaped by the template engine.
"""

from __future__ import annotations

import csv
import io

from jinja2 import Environment, select_autoescape

from migrayt.contracts.phases import BY_NAME
from migrayt.contracts.phases import words as phase_words
from migrayt.core.run_report import RunReportDocument

CSV_COLUMNS = (
    "ado_item",
    "jira_issue",
    "phase",
    "kind",
    "what",
    "state",
    "target",
    "attempts",
    "updated_at",
    "error",
    "reason",
    "remedy",
    "source_key",
    "run_id",
)

MEDIA_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "json": "application/json"}


def _cell(value: object) -> str:
    """A spreadsheet must not run a cell as a formula (CSV injection): text starting with = + - @ is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(report: RunReportDocument) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.records:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    r.ado_label,
                    r.jira_key,
                    r.phase,
                    r.kind,
                    r.what,
                    r.state,
                    r.target_key,
                    r.attempts,
                    r.updated_at.isoformat() if r.updated_at else "",
                    r.error,
                    r.reason,
                    r.remedy,
                    r.source_key,
                    r.run_id,
                )
            ]
        )
    return out.getvalue()


def to_json(report: RunReportDocument) -> str:
    return report.model_dump_json(indent=2)


_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_env.filters["phase_title"] = lambda name: BY_NAME[name].title if name in BY_NAME else name
_env.filters["phase_words"] = phase_words

HTML = _env.from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{%- set job = {"undo": "Undo", "delta_sync": "Delta sync"}.get(r.kind, "Run") -%}
{%- set heading = "Undo report" if r.kind == "undo" else "Migration report" -%}
<title>{{ heading }} — {{ r.migration_name }} — {{ r.run_id }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;color:#1c2430}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin-top:.5rem}
th,td{border:1px solid #d5dbe3;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f4f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#b42318;font-weight:600}.done,.adopted{color:#1a7f37}.pending{color:#9a6700}
.muted{color:#5b6675}.meta td{border:none;padding:.1rem .6rem .1rem 0}
</style></head><body>
<h1>{{ heading }}: {{ r.migration_name }}</h1>
<table class="meta">
<tr><td class="muted">{{ job }}</td><td id="run-id">{{ r.run_id }} ({{ r.status|replace("_", " ") }})</td></tr>
<tr><td class="muted">From</td><td>Azure DevOps {{ r.source }}</td></tr>
<tr><td class="muted">To</td><td>Jira {{ r.target }}</td></tr>
<tr><td class="muted">Started / finished</td><td>{{ r.started_at or "—" }} / {{ r.finished_at or "—" }}</td></tr>
<tr><td class="muted">Generated</td><td>{{ r.generated_at }}</td></tr>
<tr><td class="muted">Totals</td><td id="totals">{{ r.totals.items }} items · {{ r.totals.records }} records ·
<span class="{{ 'failed' if r.totals.failures }}" id="failures-total">{{ r.totals.failures }} failed</span></td></tr>
<tr><td class="muted">Failed items</td><td id="failed-items">{{ r.totals.failed_items }} failed items
{%- if r.totals.accepted_items %} · <span id="accepted-items">{{ r.totals.accepted_items }} accepted</span>{% endif %}
{%- if r.totals.users_unmatched %} · <span id="users-unmatched">users: {{ r.totals.users_unmatched }} unmatched</span>
{%- endif %}</td></tr>
</table>

<h2>Counts per phase</h2>
<table id="counters"><thead><tr><th>Phase</th><th>Items</th><th>Done</th><th>Already in Jira</th>
<th>Passed over</th><th>Accepted</th><th>Failed</th></tr></thead><tbody>
{% for name in r.phases %}{% set c = r.counters[name] %}{% set w = name|phase_words %}
<tr data-phase="{{ name }}"><td>{{ name|phase_title }}<div class="muted">done: {{ w.created }};
passed over: {{ w.skipped }}</div></td><td class="n">{{ c.total }}</td>
<td class="n">{{ c.created }}</td>
<td class="n">{{ c.adopted }}</td><td class="n">{{ c.skipped }}</td><td class="n">{{ c.accepted }}</td>
<td class="n{{ ' failed' if c.failed }}">{{ c.failed }}</td></tr>
{% endfor %}</tbody></table>

<h2>Failures by reason</h2>
{% if r.reasons %}<table id="reasons"><thead><tr><th>Reason</th><th>Count</th><th>What to do</th></tr></thead><tbody>
{% for g in r.reasons %}<tr><td>{{ g.reason }}</td><td class="n">{{ g.count }}</td><td>{{ g.remedy }}</td></tr>
{% endfor %}</tbody></table>{% else %}<p id="no-failures">Nothing failed.</p>{% endif %}

{% if r.failures %}<h2>Every failure</h2>
<table id="failures"><thead><tr><th>ADO item</th><th>Jira issue</th><th>Phase</th><th>What</th><th>Error</th>
<th>What to do</th></tr></thead><tbody>
{% for f in r.failures %}<tr class="failure" data-ado="{{ f.ado_id if f.ado_id is not none else '' }}">
<td>{{ f.ado_label }}</td><td>{{ f.jira_key or "—" }}</td><td>{{ f.phase|phase_title }}</td><td>{{ f.what }}</td>
<td>{{ f.error }}</td><td>{{ f.remedy }}</td></tr>
{% endfor %}</tbody></table>{% endif %}

<h2>Every item</h2>
<table id="items"><thead><tr><th>ADO item</th><th>Type</th><th>Jira issue</th>
{% for name in r.phases %}<th>{{ name|phase_title }}</th>{% endfor %}</tr></thead><tbody>
{% for i in r.items %}<tr><td><a href="{{ i.ado_url }}">#{{ i.ado_id }}</a></td><td>{{ i.work_item_type or "" }}</td>
<td>{% if i.jira_url %}<a href="{{ i.jira_url }}">{{ i.jira_key }}</a>{% else %}—{% endif %}</td>
{% for name in r.phases %}{% set s = i.phases.get(name, "—") %}<td class="{{ s }}">{{ s }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>

<h2>Every record</h2>
<p class="muted">One row per thing written to Jira (or tried): the same rows as the CSV.</p>
<table id="records"><thead><tr><th>ADO item</th><th>Jira issue</th><th>Phase</th><th>What</th><th>State</th>
<th>Attempts</th><th>When</th></tr></thead><tbody>
{% for x in r.records %}<tr><td>{{ x.ado_label }}</td><td>{{ x.jira_key or "—" }}</td><td>{{ x.phase|phase_title }}</td>
<td>{{ x.what }}</td><td class="{{ x.state }}">{{ x.state }}</td><td class="n">{{ x.attempts }}</td>
<td>{{ x.updated_at or "" }}</td></tr>
{% endfor %}</tbody></table>
</body></html>
"""
)


def to_html(report: RunReportDocument) -> str:
    return HTML.render(r=report)


def render(report: RunReportDocument, fmt: str) -> str:
    return {"html": to_html, "csv": to_csv, "json": to_json}[fmt](report)


def file_name(report: RunReportDocument, fmt: str) -> str:
    return f"migrayt-report-{report.run_id}.{fmt}"
