"""The phase registry (migrayt/contracts/phases.py) is the only list of phases: every door and the preview show its
phases, in its order, and each phase's activity contract is what the worker runs."""

from __future__ import annotations

import inspect
from typing import get_type_hints

from temporalio import activity

from migrayt.activities.execution.later_phases import LaterPhaseActivities
from migrayt.activities.preview.dry_run import DryRun
from migrayt.activities.preview.later_phases import LaterPhases, later_phases
from migrayt.api.cli_commands import runs as cli
from migrayt.api.web import views
from migrayt.contracts.phases import BY_NAME, PHASES, PhaseKind, batched, delta_phases, plugins, run_phases
from migrayt.contracts.runs import LEGACY_RUN_PHASES, PhaseCounters, RunStatus
from migrayt.core import reports as run_report
from migrayt.plugins import all_plugins


class Beat:
    def __call__(self, what: str) -> None:
        pass


def test_a_run_goes_through_the_phases_it_always_had_with_each_plugin_for_plugins_and_a_delta_adds_source_changes():
    assert run_phases() == LEGACY_RUN_PHASES[:-1] + plugins()
    assert "7pace" in plugins()
    batches = tuple(n for n in run_phases() if n != "preflight")
    assert delta_phases() == batches[:4] + ("source_changes",) + batches[4:]
    assert len({p.name for p in PHASES}) == len(PHASES)
    assert [p.name for p in PHASES if p.kind == PhaseKind.PREFLIGHT] == ["preflight"]


def test_the_progress_screen_shows_the_registry_phases_in_order_in_their_words():
    counters = {name: PhaseCounters(total=10, created=3) for name in batched(run_phases())}
    bars = views.phase_bars(RunStatus.RUNNING, "links", counters)
    assert [b.phase for b in bars] == list(run_phases())
    assert [b.label for b in bars] == [p.title for p in PHASES if p.run]
    assert {b.phase: b.counts for b in bars}["create_items"] == "issues created"
    assert {b.phase: b.counts for b in bars}["transitions"] == "statuses set"
    # A delta sync's progress names its own phases: the bars follow them.
    delta = views.phase_bars(RunStatus.RUNNING, "source_changes", counters, list(delta_phases()))
    assert [b.phase for b in delta] == list(delta_phases())
    assert views.SKIPPABLE == later_phases()


def test_the_run_report_and_the_cli_count_the_registry_batch_phases(capsys):
    counters = {name: PhaseCounters(total=10, created=10) for name in reversed(run_phases())}
    assert run_report.work_done(counters) == (10 * len(batched(run_phases())), 10 * len(batched(run_phases())))
    from rich.console import Console

    cli._render_run(
        Console(width=200),
        {
            "run_id": "run-1",
            "status": "RUNNING",
            "phase": "links",
            "elapsed_seconds": 1,
            "counters": {name: c.model_dump() for name, c in counters.items()},
        },
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.count("│") > 2]
    rows = {line.split("│")[1].strip(): line for line in lines}
    # The web app's names for the phases (the registry's titles), each counting in its own words.
    assert [r for r in rows if r != "phase"] == [BY_NAME[n].title for n in batched(run_phases())]
    assert "10 issues created" in rows["Create issues"] and "0 already there" in rows["Create issues"]
    assert "10 links made" in rows["Links"] and "10 files attached" in rows["Attachments"]
    assert "PHASES" not in vars(cli)


def test_the_preview_predicts_each_run_phase_in_registry_order():
    dry = DryRun(sessions=None, ctx=None, catalog=None, samples=0, beat=Beat())  # type: ignore[arg-type]
    assert list(dry.report.phases) == list(run_phases())
    later = LaterPhases(None, None, [], {}, None, Beat())  # type: ignore[arg-type]
    assert list(later.predictors()) == list(later_phases())
    assert later_phases() == tuple(n for n in run_phases() if n not in ("preflight", "create_items", "hierarchy"))


def implementations() -> dict[str, object]:
    """The worker's activity implementations by name (worker/main.py registers these classes' methods)."""
    from migrayt.activities.delta.source_changes import SourceChangesActivities
    from migrayt.activities.execution.create_items import CreateItemsActivities
    from migrayt.activities.execution.preflight import PreflightActivities
    from migrayt.activities.undo.removal import UndoActivities

    found = {}
    for cls in (
        PreflightActivities,
        CreateItemsActivities,
        LaterPhaseActivities,
        SourceChangesActivities,
        UndoActivities,
    ):
        for _, member in inspect.getmembers(cls, inspect.isfunction):
            defn = activity._Definition.from_callable(member)
            if defn:
                found[defn.name] = member
    return found


def test_each_phase_activity_contract_is_what_the_worker_runs():
    impls = implementations()
    for phase in PHASES:
        contract = activity._Definition.must_from_callable(phase.activity)
        impl = impls[contract.name]
        want, got = get_type_hints(phase.activity), get_type_hints(impl)
        impl_input = next(v for k, v in got.items() if k != "return")
        assert (want["input"], want["return"]) == (impl_input, got["return"]), phase.name


def test_the_shared_batch_activity_has_a_phase_for_each_registry_phase_it_runs():
    from migrayt.contracts.phases import run_phase_batch

    served = set(LaterPhaseActivities.PHASE_CLASSES) | set(all_plugins())
    assert served == {p.name for p in PHASES if p.activity is run_phase_batch}
    # Each plugin's registry line names a module with exactly one Plugin, named after its phase.
    assert list(all_plugins()) == list(plugins())
    assert all(p.name == name for name, p in all_plugins().items())
