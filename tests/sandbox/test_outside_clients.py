"""Clients we did not write, used as their users use them, against the sandbox over real HTTP: Microsoft's
`azure-devops` SDK (which finds every URL through ADO's resource-location service) and the community
`jira` package (which reads serverInfo on connect and speaks REST v2 by default)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

# The SDK caches every server's locations on disk, under the home folder unless told otherwise; a
# folder of our own keeps the user's cache out of it (and it out of the user's cache).
os.environ.setdefault("AZURE_DEVOPS_CACHE_DIR", tempfile.mkdtemp(prefix="migrayt-ado-sdk-cache-"))

import httpx
import pytest
from azure.devops.connection import Connection
from azure.devops.v7_1.work_item_tracking.models import TeamContext, Wiql
from jira import JIRA
from msrest.authentication import BasicAuthentication

from migrayt.sandbox.server import (
    DEFAULT_ADO_PAT,
    DEFAULT_JIRA_EMAIL,
    DEFAULT_JIRA_TOKEN,
    SandboxServer,
)
from migrayt.sandbox.testing import running_sandbox

ITEMS = 25


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(items=ITEMS) as server:
        yield server


@pytest.fixture(scope="module")
def ado(sandbox: SandboxServer) -> Connection:
    return Connection(base_url=sandbox.ado_url, creds=BasicAuthentication("", DEFAULT_ADO_PAT))


def sandbox_item(sandbox: SandboxServer, item_id: int) -> dict:
    r = httpx.get(f"{sandbox.ado_url}/_apis/wit/workitems/{item_id}", auth=("", DEFAULT_ADO_PAT), timeout=30)
    r.raise_for_status()
    return r.json()


def test_the_ado_sdk_lists_the_project(ado: Connection, sandbox: SandboxServer) -> None:
    core = ado.clients_v7_1.get_core_client()
    projects = core.get_projects()
    assert [p.name for p in projects] == [sandbox.sandbox.project_name]
    project = core.get_project(projects[0].id, include_capabilities=True)
    assert project.name == "Phoenix" and project.state == "wellFormed"
    assert project.capabilities["processTemplate"]["templateName"] == "Agile"
    assert project.default_team.name == "Phoenix Team"


def test_the_ado_sdk_reads_work_items(ado: Connection, sandbox: SandboxServer) -> None:
    wit = ado.clients_v7_1.get_work_item_tracking_client()
    item = wit.get_work_item(7, expand="relations")
    expected = sandbox_item(sandbox, 7)
    assert item.id == 7 and item.rev == expected["rev"]
    assert item.fields["System.Title"] == expected["fields"]["System.Title"]

    wiql = Wiql(query="SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project ORDER BY [System.Id]")
    result = wit.query_by_wiql(wiql, team_context=TeamContext(project="Phoenix"))
    ids = [ref.id for ref in result.work_items]
    assert ids == list(range(1, ITEMS + 1))

    batch = wit.get_work_items(ids[:5], project="Phoenix", fields=["System.Title", "System.State"])
    assert [w.id for w in batch] == ids[:5]
    assert all(set(w.fields) >= {"System.Title", "System.State"} for w in batch)
    assert [u.rev for u in wit.get_updates(7, project="Phoenix")][-1] == expected["rev"]


def test_the_ado_sdk_reads_comments_and_team_iterations(ado: Connection, sandbox: SandboxServer) -> None:
    wit = ado.clients_v7_1.get_work_item_tracking_client()
    with_comments = next(i for i in sandbox.sandbox.project.item_ids() if sandbox.sandbox.project.comments(i))
    comments = wit.get_comments("Phoenix", with_comments)
    assert comments.total_count == len(sandbox.sandbox.project.comments(with_comments))
    work = ado.clients_v7_1.get_work_client()
    iterations = work.get_team_iterations(TeamContext(project="Phoenix", team="Phoenix Team"))
    assert len(iterations) == len(sandbox.sandbox.project.team_iterations())


@pytest.fixture(scope="module")
def jira(sandbox: SandboxServer) -> Iterator[JIRA]:
    client = JIRA(server=sandbox.jira_url, basic_auth=(DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN))
    yield client
    client.close()


def test_the_jira_client_connects_to_a_cloud_site_and_lists_the_project(jira: JIRA) -> None:
    assert jira.deploymentType == "Cloud"  # decides accountId users and the /search/jql API
    assert [p.key for p in jira.projects()] == ["PHX"]
    assert jira.project("PHX").name == "Phoenix"


def test_the_jira_client_reads_and_finds_an_issue_made_through_the_sandbox(jira: JIRA, sandbox: SandboxServer) -> None:
    description = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Carried over from ADO."}]}],
    }
    r = httpx.post(
        f"{sandbox.jira_url}/rest/api/3/issue",
        auth=(DEFAULT_JIRA_EMAIL, DEFAULT_JIRA_TOKEN),
        timeout=30,
        json={
            "fields": {
                "project": {"key": "PHX"},
                "issuetype": {"name": "Story"},
                "summary": "Smoke story",
                "description": description,
                "labels": ["outside-client"],
            }
        },
    )
    assert r.status_code == 201, r.text
    key = r.json()["key"]

    issue = jira.issue(key)
    assert issue.fields.summary == "Smoke story"
    assert issue.fields.description == "Carried over from ADO."  # REST v2 sends rich text as a string
    assert issue.fields.issuetype.name == "Story"

    found = jira.search_issues("labels = outside-client", fields="summary,labels")
    assert [(i.key, i.fields.summary) for i in found] == [(key, "Smoke story")]
