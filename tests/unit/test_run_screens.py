"""What the run screens say in the states a user stops at: `status --watch` on a PAUSED run, the web app's ETA
once a run has ended without finishing its phases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.console import Console

from migrayt.api.cli_commands import runs as cli
from migrayt.api.web import views
from migrayt.api.web.routes import templates
from migrayt.contracts.phases import batched, run_phases
from migrayt.contracts.runs import PhaseCounters, RunStatus
from migrayt.core.reports import RunReport


def progress(status: str, created: int) -> dict:
    counters = {n: {"total": 10, "created": created, "skipped": 0, "failed": 0, "adopted": 0} for n in ["create_items"]}
    return {"run_id": "run-1", "status": status, "phase": "create_items", "counters": counters, "phases": []}


class Events:
    """The API's event stream of a run that is paused, resumed and completes (what `status --watch` reads)."""

    def events(self, path: str) -> Iterator[tuple[str, dict]]:
        yield "progress", progress("RUNNING", 2)
        yield "progress", progress("PAUSED", 4)
        yield "progress", progress("RUNNING", 4)
        yield "progress", progress("COMPLETED", 10)
        yield "end", progress("COMPLETED", 10)


def test_status_watch_shows_a_paused_run_as_paused(capsys):
    assert cli._watch(Events(), "run-1", as_json=False) == 0  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "Run run-1 PAUSED (resume with: migrayt resume run-1)" in out
    assert out.index("PAUSED") < out.index("Run run-1 COMPLETED")


def live_page(status: RunStatus) -> str:
    counters = {n: PhaseCounters(total=10, created=4) for n in batched(run_phases())}
    report = RunReport(
        run_id="run-1", status=status, phase="links", counters=counters, migration_id="mig-1", eta_seconds=None
    )
    return templates.get_template("_run_live.html").render(
        run=report,
        bars=views.phase_bars(status, "links", counters),
        final=status not in (RunStatus.RUNNING, RunStatus.PAUSED),
        events=[],
        csrf_token="x",
    )


@pytest.mark.parametrize(
    ("status", "eta"),
    [(RunStatus.FAILED, "—"), (RunStatus.CANCELLED, "—"), (RunStatus.COMPLETED, "done"), (RunStatus.PAUSED, "paused")],
)
def test_the_eta_says_done_only_for_a_run_that_went_through_its_phases(status, eta):
    page = live_page(status)
    assert f'id="eta">{eta}</div>' in page


def test_phases_side_by_side_are_all_named_on_the_run_page_and_in_runs_show(capsys):
    running = ["attachments", "comments"]
    counters = {n: PhaseCounters(total=10, created=10) for n in batched(run_phases())}
    counters["attachments"] = PhaseCounters(total=10, created=4)
    counters["comments"] = PhaseCounters(total=10, created=2)
    report = RunReport(
        run_id="run-1",
        status=RunStatus.RUNNING,
        phase="attachments",
        phases_running=running,
        counters=counters,
        migration_id="mig-1",
    )
    bars = views.phase_bars(report.status, report.phase, counters, list(run_phases()), running)
    states = {b.phase: b.state for b in bars}
    # Statuses finished beside the files still being attached; links before them are over.
    assert states["links"] == states["transitions"] == "done"
    assert states["attachments"] == states["comments"] == "active"
    page = templates.get_template("_run_live.html").render(
        run=report, bars=bars, final=False, events=[], csrf_token="x"
    )
    assert "phases <strong>Attachments</strong>, <strong>Comments</strong>" in page

    cli._render_run(Console(width=120), report.model_dump(mode="json"))
    assert "phases attachments, comments" in capsys.readouterr().out
