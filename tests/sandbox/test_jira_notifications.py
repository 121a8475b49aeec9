"""The sandbox Jira's notification schemes, the project's scheme and its assignment, and the e-mails a scheme
would send, answer as the spec says and count what a muted or an unmuted migration would e-mail."""

from __future__ import annotations

import httpx
from jira_support import AUTH, create, doc, jira
from test_jira_contract import Recorder

from migrayt.connectors.http import HttpSettings
from migrayt.connectors.jira import JiraClient
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.jira.app import JiraSandboxConfig, JiraUserSeed, create_jira_app

ADA = JiraUserSeed(account_id="u-ada", display_name="Ada Lovelace", email="ada@example.com")


async def _sent(client) -> dict:
    return (await client.get("/_sandbox/state")).json()["notifications"]


async def test_a_scheme_without_events_assigned_to_the_project_sends_no_email_and_the_old_one_comes_back() -> None:
    async with jira(JiraSandboxConfig(users=[ADA])) as (client, _):
        rec = Recorder(client)
        c = rec.call
        perms = (await c("GET", "/rest/api/3/mypermissions?permissions=ADMINISTER_PROJECTS&projectKey=PHX", 200)).json()
        assert perms["permissions"]["ADMINISTER_PROJECTS"]["havePermission"] is True
        original = (await c("GET", "/rest/api/3/project/PHX/notificationscheme", 200)).json()
        assert original["name"] == "Default Notification Scheme"
        created = (await c("POST", "/rest/api/3/notificationscheme", 201, json={"name": "Silent"})).json()
        listed = (await c("GET", "/rest/api/3/notificationscheme?expand=all", 200)).json()
        assert {s["name"] for s in listed["values"]} == {"Default Notification Scheme", "Silent"}
        await c("GET", f"/rest/api/3/notificationscheme/{created['id']}?expand=all", 200)
        # A second scheme of the same name is refused, as Jira refuses it.
        assert (await client.post("/rest/api/3/notificationscheme", json={"name": "silent"})).status_code == 400

        # Unmuted: creating, editing, commenting on and moving an issue assigned to Ada e-mails her.
        key = await create(client, "loud", assignee={"accountId": ADA.account_id})
        await client.put(f"/rest/api/3/issue/{key}", json={"fields": {"summary": "loud edit"}})
        comment = (await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": doc("hi")})).json()
        await client.post(f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": "21"}})
        loud = await _sent(client)
        assert loud["by_user"] == {ADA.account_id: loud["sent"]} and loud["sent"] >= 3
        await client.put(f"/rest/api/3/issue/{key}/comment/{comment['id']}", json={"body": doc("edited")})
        edited = await _sent(client)
        assert edited["sent"] == loud["sent"] + 1 and edited["by_event"]["Issue Comment Edited"] == 1
        loud = edited
        # An edit with notifyUsers=false e-mails no one.
        await client.put(f"/rest/api/3/issue/{key}?notifyUsers=false", json={"fields": {"summary": "quiet edit"}})
        assert (await _sent(client))["sent"] == loud["sent"]

        await c("PUT", "/rest/api/3/project/PHX", 200, json={"notificationScheme": int(created["id"])})
        assert (await client.get("/rest/api/3/project/PHX/notificationscheme")).json()["name"] == "Silent"
        quiet = await create(client, "quiet", assignee={"accountId": ADA.account_id})
        await client.put(f"/rest/api/3/issue/{quiet}", json={"fields": {"summary": "quiet edit"}})
        await client.post(f"/rest/api/3/issue/{quiet}/comment", json={"body": doc("hi")})
        muted = await _sent(client)
        assert muted["sent"] == loud["sent"] and muted["scheme_name"] == "Silent"

        await c("PUT", "/rest/api/3/project/PHX", 200, json={"notificationScheme": original["id"]})
        assert (await _sent(client))["assigned"] == {"Silent": 1, "Default Notification Scheme": 1}
        # An unknown scheme is refused and changes nothing.
        assert (await client.put("/rest/api/3/project/PHX", json={"notificationScheme": 99})).status_code == 400
        assert (await _sent(client))["scheme_name"] == "Default Notification Scheme"


async def test_only_a_jira_administrator_changes_notification_schemes_and_a_project_admin_edits_silently() -> None:
    async with jira(JiraSandboxConfig(field_admin=False)) as (client, _):
        rec = Recorder(client)
        perms = (await rec.call("GET", "/rest/api/3/mypermissions?permissions=ADMINISTER", 200)).json()
        assert perms["permissions"]["ADMINISTER"]["havePermission"] is False
        await rec.call("POST", "/rest/api/3/notificationscheme", 403, json={"name": "Silent"})
        assert (await client.put("/rest/api/3/project/PHX", json={"notificationScheme": 10000})).status_code == 403
        # A project administrator still reads the project's scheme and edits without e-mail.
        await rec.call("GET", "/rest/api/3/project/PHX/notificationscheme", 200)
        key = await create(client, "an issue")
        r = await client.put(f"/rest/api/3/issue/{key}?notifyUsers=false", json={"fields": {"summary": "x"}})
        assert r.status_code == 204


async def test_a_user_who_may_not_administer_the_project_cannot_edit_silently() -> None:
    async with jira(JiraSandboxConfig(field_admin=False, project_admin=False)) as (client, _):
        rec = Recorder(client)
        perms = (await rec.call("GET", "/rest/api/3/mypermissions?permissions=ADMINISTER_PROJECTS", 200)).json()
        assert perms["permissions"]["ADMINISTER_PROJECTS"]["havePermission"] is False
        await rec.call("GET", "/rest/api/3/project/PHX/notificationscheme", 404)
        key = await create(client, "an issue")
        r = await client.put(f"/rest/api/3/issue/{key}?notifyUsers=false", json={"fields": {"summary": "x"}})
        assert r.status_code == 403 and "project admin" in r.text
        assert (await client.get("/rest/api/3/mypermissions")).status_code == 400


async def _client_edits(config: JiraSandboxConfig) -> tuple[bool, dict]:
    """Edit an issue assigned to Ada through JiraClient as a run does; (quiet_edits after, notifications)."""
    app = create_jira_app(config, lambda: FaultConfig())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://jira.test", auth=AUTH) as c:
            key = await create(c, "to edit", assignee={"accountId": ADA.account_id})
            before = await _sent(c)
            http = HttpSettings(base_url="http://jira.test", backoff_base_seconds=0.01, backoff_max_seconds=0.05)
            transport = httpx.ASGITransport(app)
            async with JiraClient("http://jira.test", AUTH[0], AUTH[1], settings=http, transport=transport) as jira:
                await jira.edit_issue(key, {"summary": "edited by the run"})
                await jira.edit_issue(key, {"summary": "edited again"})
                quiet = jira.quiet_edits
            after = await _sent(c)
            assert (await c.get(f"/rest/api/3/issue/{key}")).json()["fields"]["summary"] == "edited again"
            return quiet, {"sent": after["sent"] - before["sent"]}
    finally:
        app.state.jira.close()


async def test_the_client_edits_without_email_where_allowed_and_with_email_where_jira_refuses_silence() -> None:
    quiet, sent = await _client_edits(JiraSandboxConfig(users=[ADA]))
    assert quiet is True and sent["sent"] == 0
    quiet, sent = await _client_edits(JiraSandboxConfig(users=[ADA], field_admin=False, project_admin=False))
    assert quiet is False and sent["sent"] == 2, "refused once, then every edit goes through with notifications"
