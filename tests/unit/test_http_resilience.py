"""ResilientHttp: retry policy, exactly-once safety of writes, AIMD throttling, error parsing, secrets."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random

import httpx
import pytest
from pydantic import SecretStr

from migrayt.connectors.http import (
    AdaptiveLimiter,
    AmbiguousWriteError,
    ApiError,
    HttpSettings,
    ResilientHttp,
    SecretBasicAuth,
    TransportFailure,
    parse_error_body,
    parse_retry_after,
)

TOKEN = "s3cr3t-T0KEN-do-not-leak"


class Recorder:
    """A fake sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_http(handler, *, sleep=None, max_attempts=5, max_concurrency=8, clock=None, auth=None) -> ResilientHttp:
    settings = HttpSettings(
        base_url="https://svc.example",
        max_attempts=max_attempts,
        max_concurrency=max_concurrency,
        grow_after_successes=3,
        backoff_base_seconds=1.0,
        backoff_max_seconds=8.0,
    )
    return ResilientHttp(
        settings,
        transport=httpx.MockTransport(handler),
        sleep=sleep or Recorder(),
        rng=random.Random(1),
        clock=clock,
        auth=auth,
    )


def scripted(*responses):
    """A handler answering with the given responses (or raising the given exceptions) in order."""
    calls: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


async def test_retry_after_seconds_is_honoured():
    sleep = Recorder()
    handler, calls = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json={"ok": True}),
    )
    async with make_http(handler, sleep=sleep) as http:
        r = await http.request("GET", "/thing", idempotent=True)
    assert r.json() == {"ok": True}
    assert sleep.delays == [7.0]
    assert len(calls) == 2
    assert http.counters.throttled == 1 and http.counters.retries == 1


async def test_retry_after_http_date_is_honoured():
    now = 1_700_000_000.0
    sleep = Recorder()
    when = email.utils.formatdate(now + 12, usegmt=True)
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": when}), httpx.Response(204))
    async with make_http(handler, sleep=sleep, clock=lambda: now) as http:
        await http.request("DELETE", "/thing/1", idempotent=True)
    assert sleep.delays == [pytest.approx(12.0)]


async def test_ado_rate_limit_delay_is_honoured():
    sleep = Recorder()
    handler, _ = scripted(httpx.Response(429, headers={"X-RateLimit-Delay": "2.5"}), httpx.Response(200, json=[]))
    async with make_http(handler, sleep=sleep) as http:
        await http.request("GET", "/x", idempotent=True)
    assert sleep.delays == [2.5]


def test_parse_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    past = email.utils.formatdate(1000, usegmt=True)
    assert parse_retry_after(past, now=2000) == 0.0


async def test_without_server_hint_backoff_grows_exponentially_with_jitter():
    sleep = Recorder()
    handler, calls = scripted(
        httpx.Response(502), httpx.Response(502), httpx.Response(502), httpx.Response(200, json={})
    )
    async with make_http(handler, sleep=sleep) as http:
        await http.request("GET", "/x", idempotent=True)
    assert len(calls) == 4
    # attempt n waits within [cap/2, cap], cap = 1 * 2**(n-1)
    for n, delay in enumerate(sleep.delays, start=1):
        cap = 2 ** (n - 1)
        assert cap / 2 <= delay <= cap


async def test_retry_after_is_clipped():
    sleep = Recorder()
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "99999"}), httpx.Response(200))
    async with make_http(handler, sleep=sleep) as http:
        await http.request("GET", "/x", idempotent=True)
    assert sleep.delays == [300.0]


async def test_reads_are_retried_on_transport_errors_and_5xx():
    handler, calls = scripted(
        httpx.ReadError("connection reset"),
        httpx.Response(500),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"n": 1}),
    )
    async with make_http(handler) as http:
        r = await http.request("POST", "/search", idempotent=True, json={"jql": "x"})
    assert r.json() == {"n": 1}
    assert len(calls) == 4
    assert http.counters.retries == 3


async def test_reads_give_up_after_max_attempts():
    handler, calls = scripted(httpx.Response(500, json={"message": "boom"}))
    async with make_http(handler, max_attempts=3) as http:
        with pytest.raises(ApiError) as err:
            await http.request("GET", "/x", idempotent=True)
    assert err.value.status == 500 and err.value.retryable
    assert len(calls) == 3

    handler, calls = scripted(httpx.ConnectError("refused"))
    async with make_http(handler, max_attempts=2) as http:
        with pytest.raises(TransportFailure):
            await http.request("GET", "/x", idempotent=True)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "outcome",
    [
        httpx.RemoteProtocolError("server disconnected without sending a response"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),  # 503 without Retry-After: may have been applied
    ],
    ids=["dropped", "timeout", "500", "502", "503"],
)
async def test_ambiguous_write_is_not_resent(outcome):
    handler, calls = scripted(outcome, httpx.Response(201, json={"key": "X-1"}))
    async with make_http(handler) as http:
        with pytest.raises(AmbiguousWriteError) as err:
            await http.request("POST", "/rest/api/3/issue", idempotent=False, json={"fields": {}})
    assert len(calls) == 1, "an ambiguous write must reach the service exactly once"
    assert err.value.path == "/rest/api/3/issue"
    assert http.counters.ambiguous_writes == 1


async def test_write_lost_while_reading_the_body_is_ambiguous():
    class Exploding(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"key":'
            raise httpx.ReadError("connection dropped mid-body")

    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(201, stream=Exploding())

    async with make_http(handler) as http:
        with pytest.raises(AmbiguousWriteError):
            await http.request("POST", "/rest/api/3/issue", idempotent=False, json={})
    assert len(calls) == 1


async def test_refusal_whose_body_is_lost_is_still_a_typed_refusal():
    """A 413 whose body never arrives is still Jira saying no: the file fails alone with its status."""

    class Exploding(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"errorMessages":'
            raise httpx.ReadError("connection dropped mid-body")

    async with make_http(lambda request: httpx.Response(413, stream=Exploding())) as http:
        with pytest.raises(ApiError) as err:
            await http.request("POST", "/rest/api/3/issue/X-1/attachments", idempotent=False, content=b"x")
    assert err.value.status == 413 and err.value.messages == []


@pytest.mark.parametrize(
    "refusal",
    [
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(503, headers={"Retry-After": "1"}),
        httpx.ConnectError("connection refused"),
    ],
    ids=["429", "503+Retry-After", "connect"],
)
async def test_writes_are_retried_when_the_service_did_not_take_them(refusal):
    handler, calls = scripted(refusal, httpx.Response(201, json={"key": "X-1"}))
    async with make_http(handler) as http:
        r = await http.request("POST", "/rest/api/3/issue", idempotent=False, json={})
    assert r.json() == {"key": "X-1"}
    assert len(calls) == 2


async def test_streamed_write_body_is_rebuilt_for_each_attempt():
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return httpx.Response(429, headers={"Retry-After": "0"}) if len(bodies) == 1 else httpx.Response(200, json=[])

    async def chunks():
        for part in (b"abc", b"def"):
            yield part

    async with make_http(handler) as http:
        await http.request("POST", "/upload", idempotent=False, content=chunks)
    assert bodies == [b"abcdef", b"abcdef"]


async def test_client_errors_are_typed_and_not_retried():
    jira_body = {"errorMessages": ["Issue does not exist"], "errors": {"summary": "Summary is required."}}
    handler, calls = scripted(httpx.Response(400, json=jira_body))
    async with make_http(handler) as http:
        with pytest.raises(ApiError) as err:
            await http.request("POST", "/rest/api/3/issue", idempotent=False, json={})
    assert len(calls) == 1
    e = err.value
    assert e.status == 400
    assert e.messages == ["Issue does not exist"]
    assert e.field_errors == {"summary": "Summary is required."}
    assert "Summary is required." in str(e)


def test_ado_error_body_is_parsed():
    body = {
        "$id": "1",
        "innerException": None,
        "message": "TF401232: Work item 999 does not exist, or you do not have permissions to read it.",
        "typeName": "Microsoft.TeamFoundation.WorkItemTracking.Server.WorkItemUnauthorizedAccessException",
        "typeKey": "WorkItemUnauthorizedAccessException",
        "errorCode": 0,
        "eventId": 3200,
    }
    messages, fields = parse_error_body(body)
    assert messages == [body["message"]]
    assert fields == {}
    assert parse_error_body("plain text failure") == (["plain text failure"], {})


async def test_accepted_error_status_is_returned_not_raised():
    handler, _ = scripted(httpx.Response(400, json={"issues": [], "errors": []}))
    async with make_http(handler) as http:
        r = await http.request("POST", "/bulk", idempotent=False, json={}, accept_status={400})
    assert r.status_code == 400


async def test_aimd_halves_on_429_and_grows_back():
    limiter = AdaptiveLimiter(16, grow_after_successes=3)
    gen = await limiter.acquire()
    await limiter.release()
    limiter.on_throttled(gen)
    assert limiter.limit == 8
    # Another request from the same generation reports the same overload: no second halving.
    limiter.on_throttled(gen)
    assert limiter.limit == 8
    gen2 = await limiter.acquire()
    await limiter.release()
    limiter.on_throttled(gen2)
    assert limiter.limit == 4
    for _ in range(3):
        limiter.on_success()
    assert limiter.limit == 5
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 16, "never above max"
    for _ in range(10):
        g = await limiter.acquire()
        await limiter.release()
        limiter.on_throttled(g)
    assert limiter.limit == 1, "never below one"


async def test_limiter_bounds_in_flight_requests_after_throttling():
    """After a 429 storm the client really sends fewer requests at once."""
    in_flight = 0
    peak_after_storm = 0
    throttle_left = 1
    storm_over = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak_after_storm, throttle_left
        in_flight += 1
        try:
            await asyncio.sleep(0.002)
            if throttle_left > 0:
                throttle_left -= 1
                return httpx.Response(429, headers={"Retry-After": "0"})
            if storm_over.is_set():
                peak_after_storm = max(peak_after_storm, in_flight)
            return httpx.Response(200, json={})
        finally:
            in_flight -= 1

    settings = HttpSettings(base_url="https://svc.example", max_concurrency=8, grow_after_successes=1000)
    async with ResilientHttp(settings, transport=httpx.MockTransport(handler), sleep=Recorder()) as http:
        await http.request("GET", "/warm", idempotent=True)
        assert http.limiter.limit == 4
        storm_over.set()
        await asyncio.gather(*(http.request("GET", f"/x/{i}", idempotent=True) for i in range(40)))
    assert 1 <= peak_after_storm <= 4
    assert http.counters.requests == 42


async def test_secrets_never_leak_into_repr_errors_or_logs(caplog):
    seen_auth: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_auth.append(request.headers["Authorization"])
        if request.url.path == "/fail":
            return httpx.Response(401, json={"errorMessages": ["Unauthorized"]})
        if request.url.path == "/drop":
            raise httpx.ReadError("dropped")
        return httpx.Response(429, headers={"Retry-After": "0"}) if len(seen_auth) == 1 else httpx.Response(200)

    auth = SecretBasicAuth("me@example.com", SecretStr(TOKEN))
    caplog.set_level(logging.DEBUG)
    async with make_http(handler, auth=auth) as http:
        await http.request("GET", "/ok", idempotent=True)
        with pytest.raises(ApiError) as api_err:
            await http.request("GET", "/fail", idempotent=True)
        with pytest.raises(AmbiguousWriteError) as amb_err:
            await http.request("POST", "/drop", idempotent=False)
        texts = [repr(http), str(http), repr(auth), str(api_err.value), repr(api_err.value), str(amb_err.value)]
    import base64

    encoded = base64.b64encode(f"me@example.com:{TOKEN}".encode()).decode()
    assert seen_auth and seen_auth[0] == f"Basic {encoded}", "the credential is sent"
    texts.append(caplog.text)
    ado = AdoClient("https://ado.example/org", "Proj", SecretStr(TOKEN))
    jira = JiraClient("https://jira.example", "me@example.com", TOKEN)
    texts += [repr(ado), str(ado), repr(jira), repr(ado.http), repr(vars(ado)), repr(vars(jira))]
    await ado.aclose()
    await jira.aclose()
    for text in texts:
        assert TOKEN not in text
        assert encoded not in text


# --------------------------------------------------------------------------- pagination and mapping
# Fakes speak just enough of the contract to check that the clients page and map correctly.

import json as _json  # noqa: E402

from migrayt.connectors.ado import AdoClient, build_id_range_query  # noqa: E402
from migrayt.connectors.jira import JiraClient, labels_jql, map_bulk_result  # noqa: E402


def test_bulk_result_maps_created_issues_around_failed_elements():
    body = {
        "issues": [{"id": "10000", "key": "ED-24", "self": "x"}, {"id": "10001", "key": "ED-25", "self": "y"}],
        "errors": [
            {
                "elementErrors": {"errorMessages": [], "errors": {"issuetype": "The issue type selected is invalid."}},
                "failedElementNumber": 1,
                "status": 400,
            }
        ],
    }
    result = map_bulk_result(3, body)
    assert result.key_for(0) == "ED-24"
    assert result.key_for(2) == "ED-25"
    assert result.key_for(1) is None
    assert result.errors[1].field_errors == {"issuetype": "The issue type selected is invalid."}
    assert "issue type selected is invalid" in result.errors[1].describe()


def test_bulk_result_that_does_not_add_up_is_ambiguous():
    with pytest.raises(AmbiguousWriteError):
        map_bulk_result(3, {"issues": [{"id": "1", "key": "A-1"}], "errors": []})


def test_labels_jql_quotes_labels():
    assert labels_jql(["ado-id-1", 'we"ird']) == 'labels in ("ado-id-1", "we\\"ird")'


def test_id_range_query_shape():
    q = build_id_range_query(42, types=["Bug", "User's Story"])
    assert "[System.Id] > 42" in q
    assert "IN ('Bug', 'User''s Story')" in q
    assert q.endswith("ORDER BY [System.Id] ASC")


def fake_ado(ids: list[int], requests: list[httpx.Request]):
    import re

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        path = request.url.path
        if path.endswith("/_apis/wit/wiql"):
            query = _json.loads(request.content)["query"]
            after = int(re.search(r"\[System\.Id\] > (\d+)", query).group(1))
            top = int(request.url.params.get("$top", 20_000))
            hits = [i for i in ids if i > after]
            if len(hits) > 20_000 and "$top" not in request.url.params:
                return httpx.Response(400, json={"message": "VS402337: more than 20000 results"})
            return httpx.Response(
                200, json={"queryType": "flat", "workItems": [{"id": i, "url": ""} for i in hits[:top]]}
            )
        if path.endswith("/_apis/wit/workitemsbatch"):
            body = _json.loads(request.content)
            assert len(body["ids"]) <= 200
            return httpx.Response(
                200,
                json={
                    "count": len(body["ids"]),
                    "value": [
                        None if i % 7 == 0 else {"id": i, "rev": 1, "fields": {"System.Title": f"t{i}"}}
                        for i in body["ids"]
                    ],
                },
            )
        if "/comments" in path:
            token = request.url.params.get("continuationToken")
            page = int(token or 0)
            headers = {"x-ms-continuationtoken": str(page + 1)} if page < 2 else {}
            return httpx.Response(
                200, headers=headers, json={"comments": [{"id": page * 10 + k, "text": "c"} for k in range(3)]}
            )
        return httpx.Response(404, json={"message": "no route"})

    return handler


async def test_ado_ids_in_ranges_and_batches_of_200():
    ids = list(range(1, 452))
    requests: list[httpx.Request] = []
    async with AdoClient(
        "https://ado.example/org",
        "Proj",
        SecretStr("pat"),
        transport=httpx.MockTransport(fake_ado(ids, requests)),
        wiql_page_size=100,
    ) as ado:
        got = [i async for i in ado.iter_work_item_ids()]
        assert got == ids
        wiqls = [r for r in requests if r.url.path.endswith("/wiql")]
        assert len(wiqls) == 5  # 100+100+100+100+51
        requests.clear()
        items = await ado.get_work_items(list(reversed(ids)))
    batches = [r for r in requests if r.url.path.endswith("/workitemsbatch")]
    assert len(batches) == 3
    assert [w.id for w in items] == [i for i in reversed(ids) if i % 7 != 0]


async def test_ado_comments_follow_continuation():
    requests: list[httpx.Request] = []
    async with AdoClient(
        "https://ado.example/org", "Proj", "pat", transport=httpx.MockTransport(fake_ado([], requests))
    ) as ado:
        comments = [c.id async for c in ado.iter_comments(5)]
    assert comments == [0, 1, 2, 10, 11, 12, 20, 21, 22]


async def test_ado_refuses_to_send_the_pat_to_another_host():
    async with AdoClient(
        "https://ado.example/org", "Proj", "pat", transport=httpx.MockTransport(lambda r: httpx.Response(200))
    ) as ado:
        with pytest.raises(ValueError):
            async for _ in ado.stream_attachment("https://evil.example/_apis/wit/attachments/1"):
                pass


async def test_jira_search_follows_next_page_token():
    seen_tokens: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = _json.loads(request.content)
        token = body.get("nextPageToken")
        seen_tokens.append(token)
        page = int(token or 0)
        last = page == 2
        out = {
            "issues": [{"id": str(page * 10 + k), "key": f"P-{page * 10 + k}", "fields": {}} for k in range(2)],
            "isLast": last,
        }
        if not last:
            out["nextPageToken"] = str(page + 1)
        return httpx.Response(200, json=out)

    async with JiraClient(
        "https://jira.example", "me@example.com", "tok", transport=httpx.MockTransport(handler)
    ) as jira:
        keys = [i.key async for i in jira.search_jql("project = P", page_size=2)]
    assert keys == ["P-0", "P-1", "P-10", "P-11", "P-20", "P-21"]
    assert seen_tokens == [None, "1", "2"]


async def test_ado_zero_rate_limit_delay_falls_back_to_backoff_and_near_limit_holds_growth():
    sleep = Recorder()
    handler, _ = scripted(
        httpx.Response(429, headers={"X-RateLimit-Delay": "0.000"}),
        httpx.Response(200, headers={"X-RateLimit-NearLimit": "true"}),
    )
    async with make_http(handler, sleep=sleep) as http:
        await http.request("GET", "/x", idempotent=True)
        assert 0.5 <= sleep.delays[0] <= 1.0  # backoff of attempt 1, not an instant retry
        assert http.limiter.limit == 4
        for _ in range(10):
            await http.request("GET", "/x", idempotent=True)
        assert http.limiter.limit == 4, "no growth while the service says we are near its limit"
