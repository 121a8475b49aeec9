"""Who still holds a project's shared mute: the rule the last run to end decides by (migrayt/store/mute_holds.py)."""

from __future__ import annotations

from migrayt.store.mute_holds import Hold, released, site_of, still_holding


def hold(run_id: str, released: bool = False, status: str | None = "RUNNING") -> Hold:
    return Hold(run_id, "mig", "10000", "Default Notification Scheme", released, status)


def test_a_run_ending_alone_leaves_no_one_holding_the_mute() -> None:
    assert still_holding([hold("run-a")], me="run-a", open_runs={"run-a"}) == []


def test_a_run_still_writing_keeps_the_project_muted_for_the_other_one_ending() -> None:
    holds = [hold("run-a"), hold("run-b", status="PAUSED")]
    assert [h.run_id for h in still_holding(holds, me="run-a", open_runs={"run-a", "run-b"})] == ["run-b"]


def test_a_released_hold_or_a_run_in_a_final_state_holds_nothing() -> None:
    holds = [hold("run-a"), hold("run-b", released=True), hold("run-c", status="FAILED")]
    assert still_holding(holds, me="run-a", open_runs={"run-a", "run-b", "run-c"}) == []


def test_a_run_terminated_in_temporal_without_restoring_does_not_keep_the_project_muted() -> None:
    # Its row still says RUNNING (a terminated workflow writes no final status), but its workflow is closed.
    assert still_holding([hold("run-a"), hold("run-b")], me="run-a", open_runs={"run-a"}) == []


def test_records_from_before_shared_mutes_count_as_released_once_restored() -> None:
    assert released({"restored": True}) and released({"released": True}) and released({"left_muted_for": "run-b"})
    assert not released({"muted": True})


def test_one_jira_site_however_its_address_is_written() -> None:
    assert site_of("https://Acme.atlassian.net/") == site_of("https://acme.atlassian.net")
