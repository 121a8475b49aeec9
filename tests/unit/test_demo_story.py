"""The demo's story from the generated project: what it planted, named as the run names its failures."""

from __future__ import annotations

from migrayt.core.item_records_view import record_line
from migrayt.launcher.demo_story import failure_line, link_lines, planted
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec
from migrayt.sandbox.jira.config import DATA_CENTER_ATTACHMENT_BYTES

LIMIT = DATA_CENTER_ATTACHMENT_BYTES  # what `running_sandbox`, and so the demo, sets


def _failed(kind: str, source_key: str, error: str, detail: dict | None = None):
    return record_line(
        kind=kind,
        source_key=source_key,
        state="failed",
        detail=detail,
        target_key=None,
        run_id="run-1",
        attempts=1,
        updated_at=None,
        error=error,
        issue_keys={},
    )


def test_the_default_demo_plants_four_users_without_a_jira_account_and_one_file_over_the_limit():
    project = GeneratedProject(ProjectSpec(seed=7, items=300))
    story = planted(project, LIMIT)
    assert story.count == 5
    assert {u.unique for u in story.users} == {
        "morgan.ellery@partner-agency.example",
        "chris.walden@acme.example",
        "acme\\svc-phoenix-build",
        "ines-laptop\\ines",
    }
    assert all(u.item is not None and u.item <= 300 for u in story.users)
    (big,) = story.files
    assert big.item == project.ugly_cases()["huge_attachment"] and big.size > LIMIT


def test_a_failure_is_named_by_its_ado_item_or_user_and_a_surprise_is_not_taken_for_planted():
    story = planted(GeneratedProject(ProjectSpec(seed=3, items=40)), LIMIT)
    (big,) = story.files
    user = _failed("user", "acme\\svc-phoenix-build", "no Jira account", {"name": "Phoenix Build Service"})
    file = _failed("attachment", "guid-1", "too large (HTTP 413)", {"filename": big.name, "ado_item": big.item})
    other = _failed("attachment", "guid-2", "too large (HTTP 413)", {"filename": "other.bin", "ado_item": big.item})
    assert story.expects(user) and story.expects(file) and not story.expects(other)
    assert failure_line(user, story) == "ADO user Phoenix Build Service <acme\\svc-phoenix-build>: no Jira account"
    assert failure_line(file, story).startswith(f"ADO #{big.item} attachment {big.name}: too large")


def test_links_say_they_die_with_the_demo_unless_it_keeps_running():
    links = {"web app": "http://127.0.0.1:8000/app/runs/run-1"}
    assert "valid while the demo runs" in link_lines(links, keep_running=False)[0]
    assert "until you press Ctrl-C" in link_lines(links, keep_running=True)[0]
