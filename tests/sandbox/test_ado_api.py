"""Behaviour of the sandbox Azure DevOps REST API, in-process over ASGI."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest

from migrayt.sandbox.ado import AdoSandboxConfig, create_ado_app
from migrayt.sandbox.generator import GeneratedProject, ProjectSpec

BASE = "http://ado.test:8081"
PAT = "test-pat"


@pytest.fixture(scope="module")
def project() -> GeneratedProject:
    return GeneratedProject(ProjectSpec(seed=5, items=400))


@pytest.fixture(scope="module")
async def ado(project) -> AsyncIterator[httpx.AsyncClient]:
    app = create_ado_app(project, AdoSandboxConfig(pat=PAT, graph_page_size=10))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url=BASE, auth=("anyone", PAT), timeout=30
    ) as client:
        yield client


async def wiql(ado, query: str, **params) -> httpx.Response:
    return await ado.post(
        "/acme/Phoenix/_apis/wit/wiql", params={"api-version": "7.1", **params}, json={"query": query}
    )


async def wiql_ids(ado, where: str, order: str = "") -> list[int]:
    r = await wiql(ado, f"SELECT [System.Id] FROM WorkItems WHERE {where} {order}")
    assert r.status_code == 200, r.text
    return [w["id"] for w in r.json()["workItems"]]


# ---- auth ---------------------------------------------------------------------------------------


async def test_wrong_or_missing_pat_is_401_with_a_basic_challenge(ado):
    for auth in (("me", "wrong"), None):
        r = (
            await ado.get("/acme/Phoenix/_apis/wit/workitems/1", auth=auth)
            if auth
            else await httpx.AsyncClient(transport=ado._transport, base_url=BASE).get(
                "/acme/Phoenix/_apis/wit/workitems/1"
            )
        )
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic")
        assert "text/html" in r.headers["content-type"]
    r = await ado.get("/acme/Phoenix/_apis/wit/workitems/1", auth=("someone-else", PAT))
    assert r.status_code == 200
    r = await ado.get("/acme/Phoenix/_apis/wit/workitems/1", auth=None, headers={"Authorization": f"Bearer {PAT}"})
    assert r.status_code == 200


async def test_unknown_project_and_item_are_404_with_ado_error_bodies(ado, project):
    r = await ado.get("/acme/Nope/_apis/wit/workitems/1")
    assert r.status_code == 404 and r.json()["message"].startswith("TF200016")
    r = await ado.get(f"/acme/Phoenix/_apis/wit/workitems/{project.n + 1}")
    assert r.status_code == 404
    assert r.json()["typeKey"] == "WorkItemUnauthorizedAccessException" and "TF401232" in r.json()["message"]


# ---- WIQL ---------------------------------------------------------------------------------------


async def test_wiql_id_comparisons(ado, project):
    assert await wiql_ids(ado, "[System.Id] >= 10 AND [System.Id] < 20") == list(range(10, 20))
    assert await wiql_ids(ado, "[System.Id] > 395") == list(range(396, 401))
    assert await wiql_ids(ado, "[System.Id] <= 3") == [1, 2, 3]
    assert await wiql_ids(ado, "[System.Id] = 7") == [7]
    assert await wiql_ids(ado, "[System.Id] IN (5, 9, 3, 999)") == [3, 5, 9]
    assert await wiql_ids(ado, "[System.Id] <> 1 AND [System.Id] < 5") == [2, 3, 4]


async def test_wiql_types_states_dates_and_boolean_logic(ado, project):
    cores = [project.core(i) for i in project.item_ids()]
    got = await wiql_ids(ado, "[System.TeamProject] = @project AND [System.WorkItemType] = 'Bug'")
    assert got == [c.id for c in cores if c.type == "Bug"] and got

    got = await wiql_ids(ado, "[System.WorkItemType] IN ('Epic', 'Feature') AND NOT [System.State] = 'Closed'")
    assert got == [c.id for c in cores if c.type in ("Epic", "Feature") and c.state != "Closed"]

    got = await wiql_ids(
        ado, "([System.WorkItemType] = 'Task' OR [System.WorkItemType] = 'Issue') AND [System.Id] < 100"
    )
    assert got == [c.id for c in cores if c.type in ("Task", "Issue") and c.id < 100]

    pivot = cores[200].changed
    stamp = pivot.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    got = await wiql_ids(ado, f"[System.ChangedDate] > '{stamp}'", "ORDER BY [System.ChangedDate] DESC")
    expected = sorted((c for c in cores if c.changed > pivot), key=lambda c: c.changed, reverse=True)
    assert got == [c.id for c in expected]

    day = pivot.date().isoformat()  # date-only literals compare by day, as in ADO
    got = await wiql_ids(ado, f"[System.ChangedDate] >= '{day}' AND [System.ChangedDate] <= '{day}'")
    assert got == [c.id for c in cores if c.changed.date() == pivot.date()]


async def test_wiql_order_by_id_desc_and_top(ado):
    r = await wiql(
        ado,
        "SELECT [System.Id], [System.Title] FROM WorkItems WHERE [System.TeamProject] = 'Phoenix' "
        "ORDER BY [System.Id] DESC",
        **{"$top": "5"},
    )
    body = r.json()
    assert [w["id"] for w in body["workItems"]] == [400, 399, 398, 397, 396]
    assert body["queryType"] == "flat"
    assert [c["referenceName"] for c in body["columns"]] == ["System.Id", "System.Title"]
    assert body["sortColumns"] == [{"field": body["columns"][0], "descending": True}]
    assert body["workItems"][0]["url"] == f"{BASE}/acme/_apis/wit/workItems/400"


async def test_wiql_team_and_org_level_urls(ado):
    q = {"query": "SELECT [System.Id] FROM WorkItems WHERE [System.Id] < 3"}
    for path in ("/acme/Phoenix/Phoenix%20Team/_apis/wit/wiql", "/acme/_apis/wit/wiql"):
        r = await ado.post(path, json=q)
        assert [w["id"] for w in r.json()["workItems"]] == [1, 2]


async def test_wiql_rejects_bad_queries_like_the_service(ado):
    r = await wiql(ado, "SELECT [System.Id] FROM WorkItems WHERE [Bogus.Field] = 1")
    assert r.status_code == 400 and "TF51005" in r.json()["message"]
    r = await wiql(ado, "SELECT [System.Id] FROM WorkItems WHERE [System.Id] = ")
    assert r.status_code == 400 and "TF51006" in r.json()["message"]
    r = await wiql(ado, "SELECT [System.Id] WorkItems")
    assert r.status_code == 400


async def test_wiql_over_20000_results_is_vs402337_unless_top_caps_it():
    big = GeneratedProject(ProjectSpec(seed=1, items=20_050))
    app = create_ado_app(big, AdoSandboxConfig(pat=PAT))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE, auth=("u", PAT)) as c:
        q = {"query": "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"}
        r = await c.post("/acme/Phoenix/_apis/wit/wiql", json=q)
        assert r.status_code == 400
        assert r.json()["message"].startswith("VS402337") and "20000" in r.json()["message"]
        r = await c.post("/acme/Phoenix/_apis/wit/wiql", params={"$top": "20000"}, json=q)
        assert len(r.json()["workItems"]) == 20_000
        q = {"query": "SELECT [System.Id] FROM WorkItems WHERE [System.Id] > 20000"}
        r = await c.post("/acme/Phoenix/_apis/wit/wiql", json=q)
        assert [w["id"] for w in r.json()["workItems"]] == list(range(20_001, 20_051))


# ---- work items ---------------------------------------------------------------------------------


async def test_batch_is_limited_to_200_ids(ado):
    r = await ado.post("/acme/Phoenix/_apis/wit/workitemsbatch", json={"ids": list(range(1, 202))})
    assert r.status_code == 400 and "VS403474" in r.json()["message"]
    r = await ado.post("/acme/Phoenix/_apis/wit/workitemsbatch", json={"ids": list(range(1, 201))})
    assert r.status_code == 200 and r.json()["count"] == 200
    r = await ado.get("/acme/Phoenix/_apis/wit/workitems", params={"ids": ",".join(map(str, range(1, 202)))})
    assert r.status_code == 400


async def test_batch_fields_error_policy_and_expand(ado, project):
    r = await ado.post(
        "/acme/Phoenix/_apis/wit/workitemsbatch",
        json={"ids": [1, 9999, 2], "fields": ["System.Id", "System.Title"], "errorPolicy": "omit"},
    )
    body = r.json()
    assert body["value"][1] is None
    assert set(body["value"][0]["fields"]) == {"System.Id", "System.Title"}
    r = await ado.post("/acme/Phoenix/_apis/wit/workitemsbatch", json={"ids": [1, 9999]})
    assert r.status_code == 404
    r = await ado.post(
        "/acme/Phoenix/_apis/wit/workitemsbatch", json={"ids": [1], "fields": ["System.Title"], "$expand": "Relations"}
    )
    assert r.status_code == 400
    r = await ado.post("/acme/Phoenix/_apis/wit/workitemsbatch", json={"ids": [2], "$expand": "Relations"})
    item = r.json()["value"][0]
    rels = {(x["rel"], x["url"]) for x in item["relations"]}
    assert ("System.LinkTypes.Hierarchy-Reverse", f"{BASE}/acme/{project.project_guid}/_apis/wit/workItems/1") in rels


@pytest.mark.parametrize(
    "expand,relations,links",
    [
        (None, False, True),
        ("None", False, False),
        ("Relations", True, False),
        ("Fields", False, False),
        ("Links", False, True),
        ("All", True, True),
    ],
)
async def test_get_work_item_expand(ado, expand, relations, links):
    params = {"api-version": "7.1"} | ({"$expand": expand} if expand else {})
    r = await ado.get("/acme/Phoenix/_apis/wit/workitems/2", params=params)
    body = r.json()
    assert ("relations" in body) is relations
    assert ("_links" in body) is links
    assert body["fields"]["System.Id"] == 2


async def test_identity_fields_are_identity_refs(ado, project):
    body = (await ado.get("/acme/Phoenix/_apis/wit/workitems/3")).json()
    ref = body["fields"]["System.CreatedBy"]
    user = next(u for u in project.users if u.id == ref["id"])
    assert ref["displayName"] == user.display_name and ref["uniqueName"] == user.unique_name
    assert ref["url"].startswith(BASE) and ref["_links"]["avatar"]["href"].startswith(BASE)


async def test_as_of_returns_the_item_as_it_was(ado, project):
    item_id = next(i for i in project.item_ids() if project.core(i).rev >= 3)
    revs = project.revisions(item_id)
    before = revs[0].changed_date + (revs[1].changed_date - revs[0].changed_date) / 2
    r = await ado.get(f"/acme/Phoenix/_apis/wit/workitems/{item_id}", params={"asOf": before.isoformat()})
    assert r.json()["rev"] == 1 and r.json()["fields"]["System.State"] == revs[0].fields["System.State"]
    too_early = revs[0].changed_date - timedelta(days=1)
    r = await ado.get(f"/acme/Phoenix/_apis/wit/workitems/{item_id}", params={"asOf": too_early.isoformat()})
    assert r.status_code == 404


async def test_revisions_and_updates(ado, project):
    item_id = next(i for i in project.item_ids() if project.core(i).rev >= 3)
    revs = (await ado.get(f"/acme/Phoenix/_apis/wit/workItems/{item_id}/revisions")).json()
    assert [v["rev"] for v in revs["value"]] == list(range(1, project.core(item_id).rev + 1))
    ups = (await ado.get(f"/acme/Phoenix/_apis/wit/workItems/{item_id}/updates")).json()["value"]
    assert len(ups) == revs["count"]
    assert ups[0]["fields"]["System.Title"]["newValue"] == revs["value"][0]["fields"]["System.Title"]
    state_changes = [u["fields"]["System.State"]["newValue"] for u in ups if "System.State" in u["fields"]]
    assert state_changes[-1] == project.core(item_id).state
    one = (await ado.get(f"/acme/Phoenix/_apis/wit/workItems/{item_id}/revisions/2")).json()
    assert one["rev"] == 2


async def test_resource_words_are_case_insensitive(ado):
    r = await ado.get("/acme/Phoenix/_APIs/WIT/WorkItems/4")
    assert r.status_code == 200 and r.json()["id"] == 4


# ---- comments -----------------------------------------------------------------------------------


async def test_comments_page_with_continuation_token(ado, project):
    item_id = project.ugly_cases()["many_comments"]
    url = f"/acme/Phoenix/_apis/wit/workItems/{item_id}/comments"
    seen: list[int] = []
    params = {"api-version": "7.1-preview.4", "$top": "100"}
    pages = 0
    while True:
        body = (await ado.get(url, params=params)).json()
        pages += 1
        assert body["totalCount"] == len(project.comments(item_id))
        seen += [c["id"] for c in body["comments"]]
        if "continuationToken" not in body:
            break
        assert body["nextPage"].startswith(BASE)
        params["continuationToken"] = body["continuationToken"]
    expected = [c.id for c in reversed(project.comments(item_id))]  # newest first by default
    assert seen == expected and pages == -(-len(expected) // 100)
    asc = (await ado.get(url, params={"api-version": "7.1-preview.4", "order": "asc", "$top": "3"})).json()
    assert [c["id"] for c in asc["comments"]] == expected[::-1][:3]


async def test_comments_need_the_preview_flag(ado):
    r = await ado.get("/acme/Phoenix/_apis/wit/workItems/1/comments", params={"api-version": "7.1"})
    assert r.status_code == 400 and "preview" in r.json()["message"]


# ---- attachments --------------------------------------------------------------------------------


async def test_attachment_download_streams_the_real_bytes(ado, project):
    cases = project.ugly_cases()
    atts = project.attachments(cases["many_attachments"])[:5] + project.attachments(cases["zero_byte_attachment"])
    for att in atts:
        r = await ado.get(f"/acme/Phoenix/_apis/wit/attachments/{att.guid}", params={"fileName": att.file_name})
        assert r.status_code == 200
        assert int(r.headers["content-length"]) == att.size == len(r.content)
        assert hashlib.sha256(r.content).hexdigest() == project.attachment_sha256(att.guid)
    r = await ado.get("/acme/Phoenix/_apis/wit/attachments/0f0f0f0f-0000-4000-8000-000000000001")
    assert r.status_code == 404


async def test_huge_attachment_streams_in_chunks(ado, project):
    att = max(project.attachments(project.ugly_cases()["huge_attachment"]), key=lambda a: a.size)
    h = hashlib.sha256()
    size = 0
    async with ado.stream("GET", f"/acme/_apis/wit/attachments/{att.guid}") as r:
        async for chunk in r.aiter_bytes():
            h.update(chunk)
            size += len(chunk)
    assert size == att.size > 10 * 2**20
    assert h.hexdigest() == project.attachment_sha256(att.guid)


async def test_inline_images_in_html_resolve_on_this_server(ado, project):
    item_id = next(
        i for i in project.item_ids() if "<img" in (project.work_item(i).fields.get("System.Description") or "")
    )
    body = (await ado.get(f"/acme/Phoenix/_apis/wit/workitems/{item_id}")).json()
    src = re.search(r'<img src="([^"]+)"', body["fields"]["System.Description"]).group(1)
    assert src.startswith(BASE + "/acme/")
    r = await ado.get(src.replace("&amp;", "&"))
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


# ---- process metadata and people ----------------------------------------------------------------


async def test_classification_nodes_with_depth(ado, project):
    shallow = (await ado.get("/acme/Phoenix/_apis/wit/classificationnodes")).json()
    assert [n["structureType"] for n in shallow["value"]] == ["area", "iteration"]
    assert all("children" not in n for n in shallow["value"])
    deep = (await ado.get("/acme/Phoenix/_apis/wit/classificationnodes", params={"$depth": "2"})).json()
    areas = deep["value"][0]
    assert {c["name"] for c in areas["children"]} == {"Platform", "Web", "Mobile", "Operations"}
    api = (await ado.get("/acme/Phoenix/_apis/wit/classificationNodes/Areas/Platform/API")).json()
    assert api["path"] == "\\Phoenix\\Area\\Platform\\API" and api["hasChildren"] is False
    sprint = (await ado.get("/acme/Phoenix/_apis/wit/classificationnodes/Iterations/Release 1/Sprint 1")).json()
    assert sprint["attributes"]["startDate"] < sprint["attributes"]["finishDate"]
    r = await ado.get("/acme/Phoenix/_apis/wit/classificationnodes/Areas/Nowhere")
    assert r.status_code == 404


async def test_types_states_categories_fields_and_relation_types(ado):
    types = (await ado.get("/acme/Phoenix/_apis/wit/workitemtypes")).json()["value"]
    assert {t["name"] for t in types} == {"Epic", "Feature", "User Story", "Task", "Bug", "Issue", "Test Case"}
    states = (await ado.get("/acme/Phoenix/_apis/wit/workitemtypes/User%20Story/states")).json()["value"]
    assert [s["name"] for s in states] == ["New", "Active", "Resolved", "Closed", "Removed"]
    assert states[3]["category"] == "Completed"
    cats = (await ado.get("/acme/Phoenix/_apis/wit/workitemtypecategories")).json()["value"]
    assert any(c["referenceName"] == "Microsoft.RequirementCategory" for c in cats)
    fields = (await ado.get("/acme/_apis/wit/fields")).json()["value"]
    assert {"System.Title", "Custom.Team", "Microsoft.VSTS.TCM.Steps"} <= {f["referenceName"] for f in fields}
    rels = (await ado.get("/acme/_apis/wit/workitemrelationtypes")).json()["value"]
    assert {"System.LinkTypes.Hierarchy-Forward", "ArtifactLink", "AttachedFile"} <= {x["referenceName"] for x in rels}


async def test_team_iterations_and_current_sprint(ado, project):
    all_its = (await ado.get("/acme/Phoenix/Phoenix Team/_apis/work/teamsettings/iterations")).json()["value"]
    assert len(all_its) == len(project.team_iterations())
    current = (
        await ado.get("/acme/Phoenix/Phoenix Team/_apis/work/teamsettings/iterations", params={"$timeframe": "current"})
    ).json()["value"]
    assert len(current) == 1
    start = datetime.fromisoformat(current[0]["attributes"]["startDate"].replace("Z", "+00:00"))
    finish = datetime.fromisoformat(current[0]["attributes"]["finishDate"].replace("Z", "+00:00"))
    today = AdoSandboxConfig().today
    assert start.date() <= today.date() <= finish.date()


async def test_graph_users_page_with_continuation_header(ado, project):
    names: list[str] = []
    params = {"api-version": "7.1-preview.1"}
    while True:
        r = await ado.get("/acme/_apis/graph/users", params=params)
        names += [u["displayName"] for u in r.json()["value"]]
        token = r.headers.get("x-ms-continuationtoken")
        if not token:
            break
        params["continuationToken"] = token
    assert names == [u.display_name for u in project.users]


async def test_identities_search(ado, project):
    user = next(u for u in project.users if u.email)
    r = await ado.get("/acme/_apis/identities", params={"searchFilter": "General", "filterValue": user.email.upper()})
    assert [i["id"] for i in r.json()["value"]] == [user.id]
    r = await ado.get("/acme/_apis/identities", params={"identityIds": user.id})
    assert r.json()["value"][0]["providerDisplayName"] == user.display_name


async def test_7pace_worklogs(ado, project):
    ids = [i for i in project.item_ids() if project.worklogs(i)][:10]
    r = await ado.get(
        "/acme/_7pace/api/rest/workLogs", params={"api-version": "3.0", "workItemIds": ",".join(map(str, ids))}
    )
    rows = r.json()["data"]
    expected = [w for i in ids for w in project.worklogs(i)]
    assert [x["id"] for x in rows] == [w.id for w in expected]
    assert rows[0]["length"] == expected[0].length_seconds and rows[0]["activityType"]["name"]
    page = (await ado.get("/acme/_7pace/api/rest/workLogs/all", params={"$skip": "2", "$count": "3"})).json()["data"]
    everything = [w for i in project.item_ids() for w in project.worklogs(i)]
    assert [x["id"] for x in page] == [w.id for w in everything[2:5]]


async def test_sandbox_state_needs_no_auth_and_counts_the_project(ado, project):
    async with httpx.AsyncClient(transport=ado._transport, base_url=BASE) as anon:
        state = (await anon.get("/_sandbox/state")).json()
    assert state["items"] == project.n == sum(state["itemsByType"].values())
    assert state["attachments"] == sum(len(project.attachments(i)) for i in project.item_ids())
    assert state["comments"] == sum(len(project.comments(i)) for i in project.item_ids())
    assert (
        state["linksByType"]["System.LinkTypes.Hierarchy-Forward"]
        == state["linksByType"]["System.LinkTypes.Hierarchy-Reverse"]
    )


async def test_work_item_points_at_its_latest_comment(ado, project):
    item_id = next(i for i in project.item_ids() if len(project.comments(i)) > 1)
    body = (await ado.get(f"/acme/Phoenix/_apis/wit/workitems/{item_id}")).json()
    assert body["commentVersionRef"]["commentId"] == project.comments(item_id)[-1].id
    assert body["fields"]["System.CommentCount"] == len(project.comments(item_id))
    quiet = next(i for i in project.item_ids() if not project.comments(i))
    assert "commentVersionRef" not in (await ado.get(f"/acme/Phoenix/_apis/wit/workitems/{quiet}")).json()
