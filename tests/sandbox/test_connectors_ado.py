"""AdoClient against the sandbox ADO over real HTTP: paging, WIQL ranges, batches, comments, attachments."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import ApiError, HttpSettings
from migrayt.sandbox.fault_config import FaultConfig
from migrayt.sandbox.testing import SandboxAdmin, running_sandbox

ITEMS = 320


@pytest.fixture(scope="module")
def sandbox() -> Iterator:
    with running_sandbox(items=ITEMS, seed=11) as server:
        yield server


def client(sandbox, **kwargs) -> AdoClient:
    settings = HttpSettings(
        base_url=sandbox.ado_url, timeout_seconds=20, backoff_base_seconds=0.01, backoff_max_seconds=0.05
    )
    return AdoClient(
        sandbox.ado_url,
        sandbox.sandbox.project_name,
        SecretStr(sandbox.sandbox.ado_pat),
        settings=settings,
        team=sandbox.sandbox.project.spec.team,
        **kwargs,
    )


def expected_ids(sandbox) -> list[int]:
    return list(sandbox.sandbox.project.item_ids())


async def test_all_ids_in_small_wiql_ranges(sandbox):
    async with client(sandbox, wiql_page_size=37) as ado:
        ids = [i async for i in ado.iter_work_item_ids()]
        requests = ado.http.counters.requests
    assert ids == expected_ids(sandbox)
    assert len(ids) == ITEMS
    # One query per 37 ids, plus the final short (or empty) page.
    assert requests == ITEMS // 37 + 1


async def test_ids_filtered_by_type(sandbox):
    wanted = {"Bug"}
    project = sandbox.sandbox.project
    truth = [i for i in project.item_ids() if project.work_item(i).type in wanted]
    async with client(sandbox, wiql_page_size=50) as ado:
        ids = [i async for i in ado.iter_work_item_ids(types=sorted(wanted))]
    assert ids == truth and truth


async def test_batch_of_more_than_200_ids_is_chunked(sandbox):
    ids = expected_ids(sandbox)[::-1]
    async with client(sandbox) as ado:
        items = await ado.get_work_items(ids, expand="relations")
        counters = ado.http.counters.snapshot()
    assert [w.id for w in items] == ids
    assert counters["requests"] == 2  # 320 ids -> 200 + 120
    project = sandbox.sandbox.project
    for w in items[:25]:
        truth = project.work_item(w.id)
        assert w.fields["System.Title"] == truth.fields["System.Title"]
        assert len(w.relations) == len(truth.relations)


async def test_single_item_and_missing_item(sandbox):
    first = expected_ids(sandbox)[0]
    async with client(sandbox) as ado:
        wi = await ado.get_work_item(first)
        assert wi.id == first and wi.type
        with pytest.raises(ApiError) as err:
            await ado.get_work_item(10_000_000)
    assert err.value.status == 404
    assert err.value.messages


async def test_comments_follow_continuation(sandbox):
    project = sandbox.sandbox.project
    work_item_id = next(i for i in project.item_ids() if 5 <= project.comment_count(i) <= 12)
    count = project.comment_count(work_item_id)
    async with client(sandbox) as ado:
        comments = [c async for c in ado.iter_comments(work_item_id, page_size=2)]
        pages = ado.http.counters.requests
    assert sorted(c.id for c in comments) == sorted(c.id for c in project.comments(work_item_id))
    assert pages >= (count + 1) // 2


async def test_attachment_streams_with_matching_sha(sandbox):
    async with client(sandbox) as ado:
        items = await ado.get_work_items(expected_ids(sandbox), expand="relations")
        with_file = [(w, r) for w in items for r in w.relations if r.is_attachment]
        assert with_file, "the generated project has attachments"
        work_item, relation = max(with_file, key=lambda wr: wr[1].attributes.get("resourceSize", 0))
        digest = hashlib.sha256()
        chunks = 0
        size = 0
        async for chunk in ado.stream_attachment(relation.url, chunk_size=4096):
            digest.update(chunk)
            size += len(chunk)
            chunks += 1
    expected = relation.attributes.get("resourceSize")
    if expected is not None:
        assert size == expected
    assert size > 0
    # The generator's own bytes for that attachment are the truth.
    guid = relation.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    truth = hashlib.sha256()
    for piece in sandbox.sandbox.project.attachment_chunks(guid):
        truth.update(piece)
    assert digest.hexdigest() == truth.hexdigest()
    if size > 4096:
        assert chunks > 1


async def test_metadata(sandbox):
    async with client(sandbox) as ado:
        areas = await ado.get_areas(depth=5)
        iterations = await ado.get_iterations(depth=5)
        types = await ado.get_work_item_types()
        fields = await ado.get_fields()
        relation_types = await ado.get_relation_types()
        team_iterations = await ado.get_team_iterations()
        users = [u async for u in ado.iter_graph_users()]
    assert len(list(areas.walk())) > 1
    assert len(list(iterations.walk())) > 1
    assert all(t.states for t in types if not t.is_disabled)
    assert any(f.reference_name == "System.Title" for f in fields)
    assert any(r.reference_name == "System.LinkTypes.Hierarchy-Reverse" for r in relation_types)
    assert team_iterations and all(t.path for t in team_iterations)
    assert users


async def test_reads_survive_throttling_and_server_errors(sandbox):
    async with SandboxAdmin.for_ado(sandbox) as admin:
        await admin.replace_faults(FaultConfig(share_429=0.3, share_5xx=0.2, retry_after_seconds=0, seed=3))
        try:
            async with client(sandbox, wiql_page_size=40) as ado:
                ids = [i async for i in ado.iter_work_item_ids()]
                items = await ado.get_work_items(ids, expand="none")
                counters = ado.http.counters.snapshot()
        finally:
            await admin.replace_faults()
    assert ids == expected_ids(sandbox)
    assert len(items) == ITEMS
    assert counters["throttled"] > 0 and counters["retries"] > 0


async def test_comments_come_oldest_first(sandbox):
    project = sandbox.sandbox.project
    work_item_id = next(i for i in project.item_ids() if 5 <= project.comment_count(i) <= 12)
    async with client(sandbox) as ado:
        comments = [c async for c in ado.iter_comments(work_item_id, page_size=3)]
    assert [c.id for c in comments] == [c.id for c in project.comments(work_item_id)]
    dates = [c.created_date for c in comments]
    assert dates == sorted(dates)


async def test_worklogs_page_through_7pace(sandbox):
    project = sandbox.sandbox.project
    ids = [i for i in project.item_ids() if project.worklogs(i)][:30]
    truth = [w.id for i in ids for w in project.worklogs(i)]
    assert len(truth) > 5
    async with client(sandbox) as ado:
        got = [w async for w in ado.iter_worklogs(ids, page_size=4)]
    assert [w.id for w in got] == truth
    assert all(w.length > 0 and w.user_unique_name for w in got)


async def test_7pace_pages_survive_the_same_faults_as_the_rest_of_ado(sandbox):
    project = sandbox.sandbox.project
    truth = [w.id for i in project.item_ids() for w in project.worklogs(i)]
    async with SandboxAdmin.for_ado(sandbox) as admin:
        await admin.replace_faults(
            FaultConfig(share_429=0.3, share_5xx=0.2, retry_after_seconds=0, latency_ms=2, jitter_ms=2, seed=5)
        )
        try:
            async with client(sandbox) as ado:
                got = [w.id async for w in ado.iter_worklogs(page_size=7)]
                counters = ado.http.counters.snapshot()
        finally:
            await admin.replace_faults()
    assert got == truth and counters["throttled"] > 0 and counters["retries"] > 0


async def test_revisions_updates_and_as_of(sandbox):
    project = sandbox.sandbox.project
    item_id = max(list(project.item_ids())[:60], key=lambda i: len(project.revisions(i)))
    revs = project.revisions(item_id)
    assert len(revs) >= 3
    async with client(sandbox) as ado:
        revisions = [r async for r in ado.iter_revisions(item_id, page_size=2)]
        updates = [u async for u in ado.iter_updates(item_id, page_size=2)]
        first = revisions[0]
        as_of = first.fields["System.ChangedDate"]
        from datetime import datetime

        then = await ado.get_work_items(
            [item_id], expand=None, as_of=datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        )
    assert [r.rev for r in revisions] == [r.rev for r in revs]
    assert [u.rev for u in updates] == [r.rev for r in revs]
    assert updates[0].revised_by is not None and "System.Title" in updates[0].fields
    assert then[0].rev == first.rev


async def test_identity_lookup_by_email(sandbox):
    user = next(u for u in sandbox.sandbox.project.users if u.email and not u.deleted)
    async with client(sandbox) as ado:
        found = await ado.find_identities(user.email)
    assert [i.mail for i in found] == [user.email]
