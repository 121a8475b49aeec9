"""The README's commands on the embedded default: `migrayt demo` end to end, `migrayt up` and busy ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx

from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.stack.ports import free_port
from tests.integration.harness import REPO


def command_env(state_dir, **extra) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MIGRAYT_STATE_DIR=str(state_dir),
        MIGRAYT_API_PORT=str(free_port()),
        MIGRAYT_TEMPORAL_PORT=str(free_port()),
        MIGRAYT_TEMPORAL_UI_PORT=str(free_port()),
        MIGRAYT_TASK_QUEUE="migrayt-commands-test",
    )
    env.update(extra)
    return env


def test_demo_tells_what_was_planted_fixes_it_and_reruns_to_completed(tmp_path):
    """`make demo`'s story: the first run's failures are said to be planted, each named by its ADO item or user
    and reason, with what to do next; the demo fixes them as a user would and the re-run COMPLETES."""
    env = command_env(tmp_path / "state")
    result = subprocess.run(
        [sys.executable, "-m", "migrayt.api.cli", "demo", "--items", "40", "--seed", "3"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = " ".join(result.stdout.split())  # Rich wraps lines at the terminal's width
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    project = GeneratedProject(ProjectSpec(seed=3, items=40, timetracker=True, test_management=True))
    big_file_item = project.ugly_cases()["huge_attachment"]

    first = summary["first_run"]
    assert first["status"] == "INCOMPLETE" and first["failed"] == first["planted"] == 5
    assert "Planted to show how failures look" in out
    # Each failure named by its ADO item (or, for a user, the ADO user) with its reason.
    assert f"ADO #{big_file_item} attachment db-dump-{big_file_item}.bin: Jira refused the file as too large" in out
    for name, unique, reason in (
        ("Morgan Ellery (Contractor)", "morgan.ellery@partner-agency.example", "no Jira account"),
        ("Chris Walden", "chris.walden@acme.example", "deactivated in Jira"),  # he left: his account is kept
        # Service and local accounts have no e-mail to match by, and are told so.
        ("Phoenix Build Service", "acme\\svc-phoenix-build", "no e-mail in Azure DevOps"),
        ("Ines Corbeau", "ines-laptop\\ines", "no e-mail in Azure DevOps"),
    ):
        assert f"ADO user {name} <{unique}>: {reason}" in out
    assert "not planted" not in out
    assert f"migrayt rerun {first['run_id']}" in out and "--fallback-user" in out
    # Phase 8 writes through each plugin, named per plugin: 7pace work logs and Xray tests.
    worklogs, tests = first["phases"]["7pace"], first["phases"]["xray"]
    assert worklogs["created"] > 0 and tests["created"] > 0
    assert f"7pace worklogs: {worklogs['created']:,} logged" in out
    assert f"Xray tests: {tests['created']:,} tests written" in out

    # The fix, then the re-run: COMPLETED, only the file sent again, every issue still there once.
    assert summary["status"] == "COMPLETED" and summary["run_id"] != first["run_id"]
    # The seconds beside the re-run's id are the re-run's; the whole demo's, sandbox and both runs, are apart.
    assert 0 < summary["duration_seconds"] < summary["demo_seconds"] - first["duration_seconds"]
    again = summary["phases"]
    assert again["attachments"]["created"] == 1 and again["create_items"]["created"] == 0
    assert all(c["failed"] == 0 for c in again.values())
    # Every work item an issue once (shared steps live inside their tests), and a Test Set per suite and a Test Plan
    # per plan next to them.
    shared_steps = sum(1 for i in project.item_ids() if project.core(i).type == "Shared Steps")
    containers = sum(len(p.suites) for p in project.test_plans())  # a plan's root suite is the plan itself
    assert first["phases"]["create_items"]["created"] == 40 - shared_steps
    assert summary["jira_issues"] == 40 - shared_steps + containers

    api = f"http://127.0.0.1:{env['MIGRAYT_API_PORT']}"
    assert f"Web app {api}/app" in out
    assert summary["web_app"] == f"{api}/app/runs/{summary['run_id']}"
    assert "valid while the demo runs" in out and "--keep-running" in out
    assert summary["temporal_ui"].startswith("http://127.0.0.1:")
    assert "sandbox-token" not in result.stdout + result.stderr


def test_up_serves_the_api_and_stops_on_ctrl_c(tmp_path):
    env = command_env(tmp_path / "state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrayt.api.cli", "up"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        api = f"http://127.0.0.1:{env['MIGRAYT_API_PORT']}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{api}/openapi.json", timeout=2)
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
        else:
            raise AssertionError("migrayt up never served its API")
        assert httpx.get(f"{api}/api/migrations/run-does-not-exist", timeout=5).status_code in (401, 404)
    finally:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert (tmp_path / "state" / "temporal" / "temporal.db").exists()
    assert f"Web app {api}/app" in out  # the banner says where the web app is


def test_up_on_a_busy_port_names_the_port(tmp_path):
    env = command_env(tmp_path / "state")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["MIGRAYT_API_PORT"])))
        busy.listen()
        result = subprocess.run(
            [sys.executable, "-m", "migrayt.api.cli", "up"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert env["MIGRAYT_API_PORT"] in result.stdout + result.stderr
