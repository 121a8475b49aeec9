"""Attachments, comments and worklogs on the sandbox Jira: XSRF header, size and count limits, ADF bodies."""

from __future__ import annotations

import hashlib
import os

from jira_support import create, doc, jira

from migrayt.sandbox.jira.app import JiraSandboxConfig

XSRF = {"X-Atlassian-Token": "no-check"}


async def test_attachment_upload_needs_the_xsrf_header() -> None:
    async with jira() as (client, _):
        key = await create(client, "with file")
        r = await client.post(f"/rest/api/3/issue/{key}/attachments", files={"file": ("a.txt", b"hello")})
        assert r.status_code == 403
        assert (await client.get("/_sandbox/state")).json()["attachments"]["total"] == 0


async def test_attachment_bytes_round_trip_with_size_and_sha() -> None:
    async with jira() as (client, _):
        key = await create(client, "with file")
        payload = os.urandom(3 * 1024 * 1024 + 17)
        r = await client.post(
            f"/rest/api/3/issue/{key}/attachments",
            headers=XSRF,
            files=[
                ("file", ("big.bin", payload, "application/octet-stream")),
                ("file", ("note.txt", b"note", "text/plain")),
            ],
        )
        assert r.status_code == 200, r.text
        first = r.json()[0]
        assert first["filename"] == "big.bin" and first["size"] == len(payload)
        meta = (await client.get(f"/rest/api/3/attachment/{first['id']}")).json()
        assert meta["size"] == len(payload)
        redirect = await client.get(f"/rest/api/3/attachment/content/{first['id']}")
        assert redirect.status_code == 303
        content = await client.get(f"/rest/api/3/attachment/content/{first['id']}", follow_redirects=True)
        assert content.content == payload
        detail = (await client.get("/_sandbox/state/issues")).json()["issues"][0]["attachments"]
        assert detail[0] == {
            "id": first["id"],
            "filename": "big.bin",
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        fields = (await client.get(f"/rest/api/3/issue/{key}")).json()["fields"]
        assert [a["filename"] for a in fields["attachment"]] == ["big.bin", "note.txt"]


async def test_attachment_over_size_or_count_limit_is_413() -> None:
    config = JiraSandboxConfig(max_attachment_bytes=1000, max_attachments_per_issue=2)
    async with jira(config) as (client, _):
        key = await create(client, "limits")
        r = await client.post(
            f"/rest/api/3/issue/{key}/attachments", headers=XSRF, files={"file": ("big.bin", b"x" * 1001)}
        )
        assert r.status_code == 413
        for n in range(2):
            r = await client.post(
                f"/rest/api/3/issue/{key}/attachments", headers=XSRF, files={"file": (f"f{n}.txt", b"x" * 1000)}
            )
            assert r.status_code == 200
        r = await client.post(f"/rest/api/3/issue/{key}/attachments", headers=XSRF, files={"file": ("third.txt", b"x")})
        assert r.status_code == 413
        assert (await client.get("/_sandbox/state")).json()["attachments"]["total"] == 2


async def test_an_admin_raising_the_upload_limit_lets_the_refused_file_in() -> None:
    """What the demo's fix does, as a Jira administrator would in System › Attachments."""
    async with jira(JiraSandboxConfig(max_attachment_bytes=1000)) as (client, _):
        key = await create(client, "limits")
        big = {"file": ("big.bin", b"x" * 1001)}
        assert (await client.post(f"/rest/api/3/issue/{key}/attachments", headers=XSRF, files=big)).status_code == 413
        for refused in ({}, {"max_attachment_bytes": 0}, {"max_attachment_bytes": "2000"}, {"project_key": "X"}):
            assert (await client.patch("/_sandbox/settings", json=refused)).status_code == 400
        r = await client.patch("/_sandbox/settings", json={"max_attachment_bytes": 2000})
        assert r.status_code == 200 and r.json() == {"max_attachment_bytes": 2000}
        assert (await client.get("/_sandbox/settings")).json() == {"max_attachment_bytes": 2000}
        assert (await client.post(f"/rest/api/3/issue/{key}/attachments", headers=XSRF, files=big)).status_code == 200


async def test_comments_need_adf_keep_order_and_page() -> None:
    async with jira() as (client, _):
        key = await create(client, "talk")
        r = await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": "plain"})
        assert r.status_code == 400 and "comment" in r.json()["errors"]
        r = await client.post(
            f"/rest/api/3/issue/{key}/comment",
            json={"body": {"type": "doc", "version": 1, "content": [{"type": "nope"}]}},
        )
        assert r.status_code == 400
        for n in range(5):
            r = await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": doc(f"comment {n}")})
            assert r.status_code == 201
        page = (await client.get(f"/rest/api/3/issue/{key}/comment", params={"startAt": 3, "maxResults": 10})).json()
        assert page["total"] == 5 and [c["body"] for c in page["comments"]] == [doc("comment 3"), doc("comment 4")]
        detail = (await client.get("/_sandbox/state/issues")).json()["issues"][0]["comments"]
        assert [c["body"] for c in detail] == [f"comment {n}" for n in range(5)]


async def test_comment_cap_per_issue() -> None:
    async with jira(JiraSandboxConfig(max_comments_per_issue=3)) as (client, _):
        key = await create(client, "chatty")
        for n in range(3):
            assert (
                await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": doc(str(n))})
            ).status_code == 201
        r = await client.post(f"/rest/api/3/issue/{key}/comment", json={"body": doc("one too many")})
        assert r.status_code == 413 and r.json()["errorMessages"]
        assert (await client.get("/_sandbox/state")).json()["comments"] == 3


async def test_worklogs() -> None:
    async with jira() as (client, _):
        key = await create(client, "work")
        r = await client.post(
            f"/rest/api/3/issue/{key}/worklog",
            json={"timeSpentSeconds": 5400, "started": "2024-03-01T09:00:00.000+0000", "comment": doc("pairing")},
        )
        assert r.status_code == 201 and r.json()["timeSpent"] == "1h 30m"
        r = await client.post(f"/rest/api/3/issue/{key}/worklog", json={"timeSpent": "2h"})
        assert r.status_code == 201 and r.json()["timeSpentSeconds"] == 7200
        assert (await client.post(f"/rest/api/3/issue/{key}/worklog", json={"timeSpentSeconds": 0})).status_code == 400
        assert (
            await client.post(f"/rest/api/3/issue/{key}/worklog", json={"timeSpentSeconds": 60, "comment": "plain"})
        ).status_code == 400
        logs = (await client.get(f"/rest/api/3/issue/{key}/worklog")).json()
        assert logs["total"] == 2


async def test_worklog_properties_come_back_with_expand_and_the_estimate_and_notify_flags_are_kept() -> None:
    async with jira() as (client, _):
        key = await create(client, "time")
        source = {"key": "migrayt.source", "value": {"id": 7, "worklog": "w-1"}}
        r = await client.post(
            f"/rest/api/3/issue/{key}/worklog",
            params={"adjustEstimate": "leave", "notifyUsers": "false"},
            json={"timeSpentSeconds": 900, "started": "2024-03-01T09:00:00.000+0000", "properties": [source]},
        )
        assert r.status_code == 201 and "properties" not in r.json()
        plain, expanded = [
            (await client.get(f"/rest/api/3/issue/{key}/worklog", params=params)).json()["worklogs"][0]
            for params in ({}, {"expand": "properties"})
        ]
        assert "properties" not in plain and expanded["properties"] == [source]
        [kept] = [i for i in (await client.get("/_sandbox/state/issues")).json()["issues"] if i["key"] == key][0][
            "worklogs"
        ]
        assert (kept["adjust_estimate"], kept["notify_users"]) == ("leave", False)
        assert kept["properties"] == {"migrayt.source": {"id": 7, "worklog": "w-1"}}
        # As Jira: an unknown estimate mode, or "new" without the new estimate, is refused.
        for params in ({"adjustEstimate": "sometimes"}, {"adjustEstimate": "new"}, {"notifyUsers": "maybe"}):
            r = await client.post(f"/rest/api/3/issue/{key}/worklog", params=params, json={"timeSpentSeconds": 60})
            assert r.status_code == 400, params
