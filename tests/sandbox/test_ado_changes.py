"""Sandbox ADO `/_sandbox/changes`: edits after generation look to a client like work done in ADO."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from pydantic import SecretStr

from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import HttpSettings
from migrayt.sandbox.testing import running_sandbox


def ado(sandbox) -> AdoClient:
    settings = HttpSettings(
        base_url=sandbox.ado_url, timeout_seconds=20, backoff_base_seconds=0.01, backoff_max_seconds=0.05
    )
    return AdoClient(
        sandbox.ado_url,
        sandbox.sandbox.project_name,
        SecretStr(sandbox.sandbox.ado_pat),
        settings=settings,
        team=sandbox.sandbox.project.spec.team,
    )


async def test_changes_bump_revisions_and_show_up_in_changed_since_queries():
    with running_sandbox(items=60, seed=5) as sandbox:
        async with ado(sandbox) as client, httpx.AsyncClient(timeout=10) as http:
            before = {wi.id: wi for wi in await client.get_work_items(list(range(1, 61)), expand="all")}
            comments_before = [c.id async for c in client.iter_comments(5)]
            since = datetime.now(UTC) - timedelta(seconds=1)
            assert [i async for i in client.iter_work_item_ids(changed_since=since)] == []

            r = await http.post(
                f"{sandbox.ado_root}/_sandbox/changes",
                json={
                    "changes": [
                        {
                            "id": 5,
                            "fields": {"System.Title": "Renamed after the migration"},
                            "state": "Closed",
                            "comments": 1,
                            "attachments": 1,
                            "links": [{"rel": "System.LinkTypes.Related", "to": 9}],
                        }
                    ],
                    "new_items": 2,
                },
            )
            assert r.status_code == 200, r.text
            added = r.json()["added"]
            assert added == [61, 62]

            changed = {i async for i in client.iter_work_item_ids(changed_since=since)}
            assert {5, 9, 61, 62} <= changed
            # Only 5, 9, the new items and what the new items link to moved; the rest is as it was.
            linked_to_new = {
                rel.target_id
                for wi in await client.get_work_items(added, expand="relations")
                for rel in wi.relations
                if rel.target_id
            }
            assert changed == {5, 9, 61, 62} | (linked_to_new - {61, 62})
            untouched = [i for i in range(1, 61) if i not in changed]
            after = {wi.id: wi for wi in await client.get_work_items(untouched, expand="all")}
            assert all(after[i].fields == before[i].fields for i in untouched)

            five = await client.get_work_item(5, expand="all")
            assert five.fields["System.Title"] == "Renamed after the migration"
            assert five.fields["System.State"] == "Closed"
            assert five.rev == before[5].rev + 1
            assert any(r.rel == "System.LinkTypes.Related" and r.target_id == 9 for r in five.relations)
            nine = await client.get_work_item(9, expand="relations")
            assert any(r.rel == "System.LinkTypes.Related" and r.target_id == 5 for r in nine.relations)
            new_files = [
                r for r in five.relations if r.rel == "AttachedFile" and "added-5-1" in str(r.attributes.get("name"))
            ]
            assert len(new_files) == 1
            comments_after = [c.id async for c in client.iter_comments(5)]
            assert (
                comments_after[: len(comments_before)] == comments_before
                and len(comments_after) == len(comments_before) + 1
            )

            # History: the item as it was before the change is still readable (asOf), and the last
            # revision is the item now.
            old = await client.get_work_item(5, expand="fields", as_of=since)
            assert old.fields["System.Title"] == before[5].fields["System.Title"]
            revisions = [rev async for rev in client.iter_revisions(5)]
            assert revisions[-1].fields["System.Title"] == "Renamed after the migration"
            assert [rv.rev for rv in revisions] == list(range(1, five.rev + 1))

            bad = await http.post(
                f"{sandbox.ado_root}/_sandbox/changes", json={"changes": [{"id": 5, "state": "Flying"}]}
            )
            assert bad.status_code == 400
            missing = await http.post(f"{sandbox.ado_root}/_sandbox/changes", json={"changes": [{"id": 999}]})
            assert missing.status_code == 404
