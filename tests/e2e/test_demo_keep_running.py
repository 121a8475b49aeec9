"""`migrayt demo --keep-running` on the embedded default: its run is there for a user with no token — in the web
app, through the API and through the CLI — until Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import httpx
from playwright.async_api import Page, expect

from tests.e2e.conftest import screenshot
from tests.integration.harness import REPO
from tests.integration.test_commands import command_env

# What a new user's shell does not have: the demo must be visible without any of them.
NOT_ON_A_NEW_MACHINE = ("MIGRAYT_AUTH", "MIGRAYT_TENANT", "MIGRAYT_API_TOKEN", "MIGRAYT_API_URL")


async def _summary_line(proc: subprocess.Popen[str], seen: list[str]) -> dict:
    """The demo's JSON summary, read as it prints it (the demo keeps running after)."""
    while True:
        line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
        assert line, "the demo ended before its summary:\n" + "".join(seen[-60:])
        seen.append(line)
        if line.startswith("{"):
            return json.loads(line)


async def test_keep_running_shows_the_demo_run_without_a_token(tmp_path, page: Page):
    env = command_env(tmp_path / "state")
    for name in NOT_ON_A_NEW_MACHINE:
        env.pop(name, None)
    api = f"http://127.0.0.1:{env['MIGRAYT_API_PORT']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrayt.api.cli", "demo", "--items", "12", "--seed", "5", "--keep-running"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        summary = await _summary_line(proc, seen)
        run_id = summary["run_id"]
        async with httpx.AsyncClient(base_url=api, timeout=30) as http:
            run = await http.get(f"/api/migrations/{run_id}")  # no token, as a new user's browser or curl
            assert run.status_code == 200, run.text
            listed = (await http.get("/api/migrations")).json()
            assert summary["migration_id"] in json.dumps(listed)
        assert summary["status"] == run.json()["status"] == "COMPLETED"
        assert run.json()["original_run_id"] == summary["first_run"]["run_id"]

        status = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "migrayt.api.cli", "status", run_id, "--api-url", api, "--json"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["status"] == "COMPLETED"

        await page.goto(f"{api}/app")
        await expect(page.get_by_text("Demo: Phoenix → PHX").first).to_be_visible()
        await screenshot(page, "demo-keep-running-migrations")
        await page.goto(summary["web_app"])
        await expect(page.get_by_text("COMPLETED").first).to_be_visible()
        await expect(page.get_by_text(run_id).first).to_be_visible()
        await screenshot(page, "demo-keep-running-run")
        printed = " ".join("".join(seen).split())
        assert "valid until you press Ctrl-C" in printed and f"migrayt status {run_id} --api-url {api}" in printed
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.to_thread(proc.communicate, timeout=120)
    assert proc.returncode == 0, "".join(seen[-40:]) + rest[-3000:]
