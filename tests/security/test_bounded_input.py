"""Bounded input: request bodies are capped while read and before authentication; 422s stay short; plans have caps.

The API is served in this process, so its memory is this process's: a sampler thread records the peak RSS
while a 200 MB body streams in, and the growth must stay far below the body's size.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator

import httpx
import psutil
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from migrayt.mapping.plan import MappingPlan
from tests.api.conftest import ADMIN_TOKEN, Api, served
from tests.api.helpers import tenant_secret_refs
from tests.integration.harness import structure_only_plan

TENANT = "bounds-co"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
async def api(stack) -> AsyncIterator[Api]:
    async with served(
        stack,
        auth="on",
        admin_token=SecretStr(ADMIN_TOKEN),
        secret_key=SecretStr(Fernet.generate_key().decode()),
        plan_versions_kept=3,
    ) as running:
        yield running


def migration_body(plan: dict | None = None, project_key: str = "PHX") -> dict:
    pat_ref, token_ref = tenant_secret_refs(TENANT)
    return {
        "name": "bounded",
        "source": {"organization_url": "https://dev.azure.com/acme", "project": "Phoenix", "pat_ref": pat_ref},
        "target": {
            "base_url": "https://acme.atlassian.net",
            "project_key": project_key,
            "email": "m@example.com",
            "token_ref": token_ref,
        },
        "plan": plan or structure_only_plan().model_dump(mode="json"),
        "approve_plan": True,
    }


class PeakRss:
    """The highest RSS of this process while the block runs, sampled from a thread (the loop is busy serving)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.baseline = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.002)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


async def raw_request(api: Api, head: str, body_parts: list[bytes], answer_within: float = 60.0) -> tuple[int, bytes]:
    """Send `head` and the parts, keep the connection open (the rest of the body never comes) and read the answer.

    A server that wants the whole body before answering never answers: the wait ends in a timeout that fails the test.
    """
    host, port = api.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode())
        for part in body_parts:
            writer.write(part)
            try:
                await writer.drain()
            except ConnectionError:
                break  # the server has answered and closed: read what it said
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), answer_within)
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head_bytes.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        body = await asyncio.wait_for(reader.readexactly(length), answer_within)
    finally:
        writer.close()
    return int(head_bytes.split(b" ", 2)[1]), body


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def test_a_200_mb_unauthenticated_body_is_refused_without_growing_the_api(api):
    chunk = b'{"name": "' + b"x" * (MiB - 10)

    async def two_hundred_megabytes() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield chunk

    answer = None
    with PeakRss() as rss:
        async with api.client() as anonymous:
            try:
                answer = await anonymous.post(
                    "/api/migrations", content=two_hundred_megabytes(), headers={"Content-Type": "application/json"}
                )
            except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
                pass  # refused and closed while the client was still sending: also a refusal
    assert rss.growth < 50 * MiB, f"the API grew by {rss.growth / MiB:.0f} MB reading a body it should refuse"
    if answer is not None:
        assert answer.status_code == 413 and answer.json()["detail"].startswith("request body too large"), answer.text[
            :200
        ]


async def test_a_declared_oversize_body_is_answered_before_it_is_sent(api):
    head = (
        f"POST /api/migrations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200 * MiB}\r\n\r\n"
    )
    status, body = await raw_request(api, head, [b'{"name": '])
    assert status == 413 and len(body) < 200, body


async def test_a_chunked_body_is_refused_at_the_cap_not_at_its_end(api):
    head = (
        "POST /api/migrations HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    status, body = await raw_request(api, head, [chunked(b"x" * 256 * 1024) for _ in range(6)])
    assert status == 413, body


async def test_a_422_answer_to_a_big_invalid_body_is_small(api):
    token = await api.issue_token(TENANT)
    async with api.client(token) as http:
        for invalid in (
            {**migration_body(), "name": "n" * 900_000},  # too long a field
            ["x" * 900_000],  # not an object at all: pydantic's error holds the whole body
            {**migration_body(), "plan": {"types": {f"t{i}": 1 for i in range(40_000)}}},  # thousands of errors
        ):
            r = await http.post("/api/migrations", json=invalid)
            assert r.status_code == 422, r.text[:300]
            assert len(r.content) < 8 * 1024, f"a 422 of {len(r.content)} bytes echoes the input"
            assert r.json()["detail"], r.text


async def test_plans_over_the_caps_are_refused_and_old_versions_pruned(api):
    token = await api.issue_token(TENANT)
    base = structure_only_plan().model_dump(mode="json")
    async with api.client(token) as http:
        too_many_in_a_table = {**base, "users": {f"user{i}@example.com": f"acct-{i}" for i in range(5001)}}
        too_many_in_all = {
            **base,
            "users": {f"u{i}": "a" for i in range(4000)},
            "priorities": {f"p{i}": "High" for i in range(4000)},
            "link_types": {f"l{i}": "Relates" for i in range(3000)},
        }
        too_big = {**base, "fallback_user_email": "x" * (600 * 1024)}
        for plan, says in ((too_many_in_a_table, "users"), (too_many_in_all, "in all"), (too_big, "bytes")):
            r = await http.post("/api/migrations", json=migration_body(plan))
            assert r.status_code == 422 and says in r.json()["detail"], r.text[:300]

        r = await http.post("/api/migrations", json=migration_body())
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        plan_path = f"/api/migrations/{mid}/plan"
        r = await http.put(plan_path, json={"base_version": 1, "plan": too_many_in_a_table})
        assert r.status_code == 422 and "users" in r.json()["detail"], r.text[:300]

        # Keep 3: edits 2..6 leave the approved 1 and the newest three.
        for base_version in range(1, 6):
            edited = MappingPlan.model_validate(base).model_copy(update={"priorities": {"1": f"P{base_version}"}})
            r = await http.put(plan_path, json={"base_version": base_version, "plan": edited.model_dump(mode="json")})
            assert r.status_code == 201, r.text
        versions = (await http.get(f"{plan_path}/versions")).json()
        assert [(v["version"], v["status"]) for v in versions] == [
            (1, "approved"),
            (4, "draft"),
            (5, "draft"),
            (6, "draft"),
        ]
        assert (await http.get(plan_path, params={"version": 2})).status_code == 404
        assert (await http.get(plan_path, params={"version": 1})).status_code == 200

        # Once 6 is approved, 1 is history like any other version.
        assert (await http.post(f"{plan_path}/approve", json={"version": 6})).status_code == 200
        assert (await http.put(plan_path, json={"base_version": 6, "plan": base})).status_code == 201
        versions = (await http.get(f"{plan_path}/versions")).json()
        assert [(v["version"], v["status"]) for v in versions] == [(5, "draft"), (6, "approved"), (7, "draft")]


async def test_a_project_key_that_would_change_the_jql_is_refused(api):
    token = await api.issue_token(TENANT)
    async with api.client(token) as http:
        for key in ('PHX" OR project != "PHX', "phx", "P", "PHX ORDER BY", "ABCDEFGHIJK"):
            r = await http.post("/api/migrations", json=migration_body(project_key=key))
            assert r.status_code == 422, (key, r.text[:300])
            r = await http.post(
                "/api/migrations",
                json={
                    "name": "saved",
                    "source_connection_id": "conn-a",
                    "target_connection_id": "conn-b",
                    "project_key": key,
                },
            )
            assert r.status_code == 422, (key, r.text[:300])
        assert (await http.post("/api/migrations", json=migration_body(project_key="PHX_2"))).status_code == 201


async def test_webhook_over_its_cap_is_refused_without_reading_it_whole(stack, monkeypatch):
    monkeypatch.setenv("MIGRAYT_BILLING", "stripe")
    monkeypatch.setenv("MIGRAYT_STRIPE_API_KEY", "sk_test_local")
    monkeypatch.setenv("MIGRAYT_STRIPE_WEBHOOK_SECRET", "whsec_" + os.urandom(8).hex())
    async with served(
        stack, auth="on", admin_token=SecretStr(ADMIN_TOKEN), max_webhook_bytes=64 * 1024, max_body_bytes=4 * MiB
    ) as api:
        path = "/api/billing/webhook"
        # Declared too long: answered before a byte of it is sent.
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nStripe-Signature: t=1,v1=00\r\n"
            f"Content-Length: {50 * MiB}\r\n\r\n"
        )
        status, body = await raw_request(api, head, [])
        assert status == 413, body
        # Not declared (chunked): refused once past its own cap (64 KiB, under the general 4 MiB), the rest never sent.
        head = (
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nStripe-Signature: t=1,v1=00\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        status, body = await raw_request(api, head, [chunked(b"{" + b" " * 32 * 1024) for _ in range(4)])
        assert status == 413 and b"at most 65536 bytes" in body, body
        # Under the cap it is read and judged on its signature.
        async with api.client() as anonymous:
            r = await anonymous.post(
                path, content=json.dumps({"type": "ping"}), headers={"Stripe-Signature": "t=1,v1=00"}
            )
            assert r.status_code == 400, r.text
