"""The README's commands on the embedded default: `migrayt demo` end to end, `migrayt up` and busy ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx

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


def test_demo_migrates_a_generated_project_and_ends_with_a_json_summary(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "migrayt.api.cli", "demo", "--items", "40", "--seed", "3"],
        env=command_env(tmp_path / "state"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] in ("COMPLETED", "INCOMPLETE")
    created = summary["phases"]["create_items"]
    assert created["created"] + created["skipped"] + created["failed"] == created["total"] == 40
    assert summary["jira_issues"] == created["created"]
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
        proc.wait(60)
    assert proc.returncode == 0
    assert (tmp_path / "state" / "temporal" / "temporal.db").exists()


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
