"""Pure parts of the doors: the ETA from counters and elapsed time; which secret references a tenant may name."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrayt.api.cli_commands.client import exit_code_for
from migrayt.contracts.phases import run_phases
from migrayt.contracts.runs import PhaseCounters, RunStatus
from migrayt.core.reports import estimate_eta, failed_items, work_done
from migrayt.tenant_secrets import SecretPolicy, SecretRefRefused, check_secret_ref, tenant_env_prefix


def counters(**done: tuple[int, int]) -> dict[str, PhaseCounters]:
    out = {p: PhaseCounters(total=100) for p in run_phases()[1:]}
    for phase, (created, skipped) in done.items():
        out[phase] = PhaseCounters(total=100, created=created, skipped=skipped)
    return out


def test_eta_follows_the_pace_over_all_remaining_phases():
    # Every phase after preflight x 100 items; 140 handled in 70 s: 2 items/s, the rest at that pace.
    c = counters(create_items=(90, 10), hierarchy=(40, 0))
    total = 100 * len(run_phases()[1:])
    assert work_done(c) == (140, total)
    assert estimate_eta(RunStatus.RUNNING, c, 70.0) == (2.0, (total - 140) / 2)


@pytest.mark.parametrize("status", [RunStatus.PAUSED, RunStatus.COMPLETED, RunStatus.CANCELLED, RunStatus.FAILED])
def test_no_eta_while_paused_or_once_final(status):
    assert estimate_eta(status, counters(create_items=(50, 0)), 10.0) == (None, None)


def test_no_eta_before_anything_is_done():
    assert estimate_eta(RunStatus.RUNNING, counters(), 30.0) == (None, None)
    assert estimate_eta(RunStatus.RUNNING, {}, 30.0) == (None, None)


SHARED = SecretPolicy(shared=True, secrets_dir=Path("/nonexistent/secrets"))
LOCAL = SecretPolicy(shared=False, secrets_dir=Path("/nonexistent/secrets"))


def test_a_shared_server_lets_a_tenant_name_only_its_own_variables():
    prefix = tenant_env_prefix("acme-corp")
    assert prefix == "MIGRAYT_T_ACME_CORP__"
    check_secret_ref(f"env:{prefix}JIRA", tenant="acme-corp", policy=SHARED)
    for ref in (f"env:{prefix}", "env:MIGRAYT_T_OTHER__JIRA", "env:AWS_SECRET_ACCESS_KEY", "file:/run/secrets/jira"):
        with pytest.raises(SecretRefRefused):
            check_secret_ref(ref, tenant="acme-corp", policy=SHARED)


def test_migraits_own_settings_are_never_a_migration_secret():
    for ref in ("env:MIGRAYT_SECRET_KEY", "env:MIGRAYT_ADMIN_TOKEN", "env:migrayt_openai_api_key"):
        with pytest.raises(SecretRefRefused, match="Migrayt's own settings"):
            check_secret_ref(ref, tenant="default", policy=LOCAL)
    check_secret_ref("env:MY_ADO_PAT", tenant="default", policy=LOCAL)
    check_secret_ref("file:/nonexistent/secrets/jira-token", tenant="default", policy=LOCAL)


def test_cli_exit_codes_follow_the_http_status():
    assert [exit_code_for(s) for s in (400, 401, 403, 404, 409, 422, 500, 503)] == [2, 1, 1, 3, 4, 2, 1, 1]


def test_eta_counts_only_the_phases_still_to_run():
    # Create issues is over with 10 items it never counted (items gone from ADO, say): that is no work left.
    # Hierarchy is under way, 40 of 100 handled; the phases after it, 100 each, to come.
    c = counters(create_items=(80, 10), hierarchy=(40, 0))
    phases = list(run_phases())
    total = 100 * len(phases[1:])
    assert work_done(c, phases, "hierarchy") == (140, total)
    assert estimate_eta(RunStatus.RUNNING, c, 70.0, phases, "hierarchy") == (2.0, (total - 140) / 2)


def test_the_failed_items_are_the_phase_table_added_up():
    c = counters(create_items=(90, 0), links=(90, 0))
    c["create_items"].failed, c["links"].failed, c["attachments"].failed = 3, 1, 1
    assert failed_items(c) == 5
