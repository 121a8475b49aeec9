"""Azure DevOps Boards REST 7.1 client: typed reads of a project (and the few writes tests need).

Built against /work/shared/specs/ado (wit, work, graph, ims). Every call goes through
`ResilientHttp`; pagination (WIQL id ranges under the 20,000 cap, workitemsbatch chunks of 200,
continuation tokens, $top/$skip) lives here so the engine only sees async iterators and lists.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

from migrayt.connectors.http import (
    HttpSettings,
    ResilientHttp,
    SecretBasicAuth,
    TransportFailure,
    chunked,
    continuation_token,
    decode_json,
    paginate,
    utc_iso,
)

API_VERSION = "7.1"
COMMENTS_API_VERSION = "7.1-preview.4"
GRAPH_API_VERSION = "7.1-preview.1"

# WIQL refuses to return more than 20,000 ids; ranges stay well under it.
WIQL_CAP = 20_000
BATCH_SIZE = 200

Expand = Literal["none", "relations", "fields", "links", "all"]


class _Wide(BaseModel):
    """ADO resources carry many optional properties; keep what we do not model."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class IdentityRef(_Wide):
    id: str | None = None
    display_name: str | None = Field(None, alias="displayName")
    unique_name: str | None = Field(None, alias="uniqueName")
    descriptor: str | None = None
    url: str | None = None


class WorkItemRelation(_Wide):
    rel: str
    url: str
    attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_attachment(self) -> bool:
        return self.rel == "AttachedFile"

    @property
    def target_id(self) -> int | None:
        """The work item id a work-item link points to (None for attachments, hyperlinks...)."""
        if "/workitems/" not in self.url.lower():
            return None
        tail = self.url.rstrip("/").rsplit("/", 1)[-1]
        return int(tail) if tail.isdigit() else None


class WorkItem(_Wide):
    id: int
    rev: int | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    relations: list[WorkItemRelation] = Field(default_factory=list)
    url: str | None = None

    @property
    def type(self) -> str | None:
        return self.fields.get("System.WorkItemType")

    @property
    def title(self) -> str | None:
        return self.fields.get("System.Title")

    @property
    def state(self) -> str | None:
        return self.fields.get("System.State")


class Comment(_Wide):
    # The 7.1 schema says `id`; the service's own examples (and answers) say `commentId`.
    id: int = Field(validation_alias=AliasChoices("id", "commentId"))
    work_item_id: int | None = Field(None, alias="workItemId")
    version: int | None = None
    text: str = ""
    rendered_text: str | None = Field(None, alias="renderedText")
    format: str | None = None
    created_by: IdentityRef | None = Field(None, alias="createdBy")
    created_date: datetime | None = Field(None, alias="createdDate")
    modified_by: IdentityRef | None = Field(None, alias="modifiedBy")
    modified_date: datetime | None = Field(None, alias="modifiedDate")
    is_deleted: bool = Field(False, alias="isDeleted")
    url: str | None = None


class ClassificationNode(_Wide):
    id: int | None = None
    identifier: str | None = None
    name: str
    structure_type: str | None = Field(None, alias="structureType")
    path: str | None = None
    has_children: bool = Field(False, alias="hasChildren")
    children: list[ClassificationNode] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)

    def walk(self) -> Iterable[ClassificationNode]:
        yield self
        for child in self.children:
            yield from child.walk()


class WorkItemStateColor(_Wide):
    name: str
    color: str | None = None
    category: str | None = None


class WorkItemType(_Wide):
    name: str
    reference_name: str | None = Field(None, alias="referenceName")
    description: str | None = None
    is_disabled: bool = Field(False, alias="isDisabled")
    states: list[WorkItemStateColor] = Field(default_factory=list)
    fields: list[dict[str, Any]] = Field(default_factory=list)


class FieldDefinition(_Wide):
    name: str
    reference_name: str = Field(alias="referenceName")
    type: str | None = None
    read_only: bool = Field(False, alias="readOnly")
    is_identity: bool = Field(False, alias="isIdentity")
    is_picklist: bool = Field(False, alias="isPicklist")


class RelationType(_Wide):
    name: str
    reference_name: str = Field(alias="referenceName")
    attributes: dict[str, Any] = Field(default_factory=dict)


class TeamIteration(_Wide):
    id: str
    name: str
    path: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def start_date(self) -> str | None:
        return self.attributes.get("startDate")

    @property
    def finish_date(self) -> str | None:
        return self.attributes.get("finishDate")


class GraphUser(_Wide):
    descriptor: str
    display_name: str | None = Field(None, alias="displayName")
    mail_address: str | None = Field(None, alias="mailAddress")
    principal_name: str | None = Field(None, alias="principalName")
    origin: str | None = None
    origin_id: str | None = Field(None, alias="originId")
    subject_kind: str | None = Field(None, alias="subjectKind")


class Identity(_Wide):
    id: str
    descriptor: str | None = None
    subject_descriptor: str | None = Field(None, alias="subjectDescriptor")
    provider_display_name: str | None = Field(None, alias="providerDisplayName")
    is_active: bool | None = Field(None, alias="isActive")
    properties: dict[str, Any] = Field(default_factory=dict)

    @property
    def mail(self) -> str | None:
        for key in ("Mail", "Account"):
            prop = self.properties.get(key)
            value = prop.get("$value") if isinstance(prop, dict) else prop
            if isinstance(value, str) and "@" in value:
                return value
        return None


class WorkItemUpdate(_Wide):
    id: int
    rev: int | None = None
    work_item_id: int | None = Field(None, alias="workItemId")
    revised_by: IdentityRef | None = Field(None, alias="revisedBy")
    revised_date: datetime | None = Field(None, alias="revisedDate")
    fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    relations: dict[str, Any] | None = None


class Worklog(_Wide):
    """A 7pace Timetracker work log (REST api 3.0; no public machine-readable spec exists)."""

    id: str
    work_item_id: int | None = Field(None, alias="workItemId")
    length: int = 0  # seconds
    billable_length: int | None = Field(None, alias="billableLength")
    timestamp: datetime | None = None
    comment: str | None = None
    user: dict[str, Any] = Field(default_factory=dict)
    activity_type: dict[str, Any] | None = Field(None, alias="activityType")

    @property
    def user_unique_name(self) -> str | None:
        return self.user.get("uniqueName")


ClassificationNode.model_rebuild()


def _wiql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def build_id_range_query(
    after_id: int, *, types: Sequence[str] | None = None, changed_since: datetime | None = None
) -> str:
    """One WIQL page: ids above `after_id`, in id order, within @project."""
    clauses = ["[System.TeamProject] = @project", f"[System.Id] > {int(after_id)}"]
    if types:
        clauses.append("[System.WorkItemType] IN (" + ", ".join(_wiql_literal(t) for t in types) + ")")
    if changed_since is not None:
        clauses.append(f"[System.ChangedDate] >= {_wiql_literal(utc_iso(changed_since))}")
    return "SELECT [System.Id] FROM WorkItems WHERE " + " AND ".join(clauses) + " ORDER BY [System.Id] ASC"


class AdoClient:
    """One per process per organization; close it (or use `async with`)."""

    def __init__(
        self,
        organization_url: str,
        project: str,
        pat: SecretStr | str,
        *,
        settings: HttpSettings | None = None,
        team: str | None = None,
        vssps_url: str | None = None,
        wiql_page_size: int = 10_000,
        transport: httpx.AsyncBaseTransport | None = None,
        **http_kwargs: Any,
    ) -> None:
        if not 1 <= wiql_page_size < WIQL_CAP:
            raise ValueError(f"wiql_page_size must be between 1 and {WIQL_CAP - 1}")
        self.organization_url = organization_url.rstrip("/")
        self.project = project
        self.team = team or f"{project} Team"
        self.wiql_page_size = wiql_page_size
        secret = pat if isinstance(pat, SecretStr) else SecretStr(pat)
        settings = settings or HttpSettings(base_url=self.organization_url)
        if settings.base_url.rstrip("/") != self.organization_url:
            settings = settings.model_copy(update={"base_url": self.organization_url})
        self.http = ResilientHttp(settings, auth=SecretBasicAuth("", secret), transport=transport, **http_kwargs)
        self.vssps_url = (vssps_url or self._default_vssps_url()).rstrip("/")

    def __repr__(self) -> str:
        return f"AdoClient(organization_url={self.organization_url!r}, project={self.project!r})"

    def _default_vssps_url(self) -> str:
        parts = urlsplit(self.organization_url)
        if parts.hostname == "dev.azure.com":
            return f"{parts.scheme}://vssps.dev.azure.com{parts.path}"
        return self.organization_url

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AdoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ url helpers

    @property
    def _p(self) -> str:
        return f"{self.organization_url}/{quote(self.project, safe='')}"

    async def _get(self, url: str, params: dict[str, Any] | None = None, api_version: str = API_VERSION) -> Any:
        return await self._get_json(url, {"api-version": api_version, **(params or {})})

    async def _get_json(self, url: str, params: dict[str, Any]) -> Any:
        # Every ADO body is decoded by `decode_json`: lone surrogates become U+FFFD here, once.
        return decode_json(await self.http.request("GET", url, idempotent=True, params=params))

    # ------------------------------------------------------------------ work items

    async def wiql_ids(self, query: str, *, top: int | None = None) -> list[int]:
        params: dict[str, Any] = {"api-version": API_VERSION}
        if top is not None:
            params["$top"] = top
        r = await self.http.request(
            "POST", f"{self._p}/_apis/wit/wiql", idempotent=True, params=params, json={"query": query}
        )
        body = decode_json(r)
        return [int(w["id"]) for w in body.get("workItems") or []]

    async def iter_work_item_ids(
        self, types: Sequence[str] | None = None, changed_since: datetime | None = None
    ) -> AsyncIterator[int]:
        """Every matching id in ascending order, in id ranges that stay under WIQL's 20,000 cap."""
        last = 0
        while True:
            query = build_id_range_query(last, types=types, changed_since=changed_since)
            ids = await self.wiql_ids(query, top=self.wiql_page_size)
            for i in ids:
                yield i
            if len(ids) < self.wiql_page_size:
                return
            nxt = max(ids)
            if nxt <= last:
                raise RuntimeError("WIQL id range did not advance")
            last = nxt

    async def _batch(
        self, ids: list[int], expand: Expand | None, fields: Sequence[str] | None, as_of: datetime | None
    ) -> list[WorkItem]:
        body: dict[str, Any] = {"ids": ids, "errorPolicy": "omit"}
        if expand and expand != "none":
            body["$expand"] = expand
        if fields:
            body["fields"] = list(fields)
        if as_of is not None:
            body["asOf"] = utc_iso(as_of)
        r = await self.http.request(
            "POST",
            f"{self._p}/_apis/wit/workitemsbatch",
            idempotent=True,
            params={"api-version": API_VERSION},
            json=body,
        )
        # errorPolicy=omit answers null for ids that are gone (deleted or no permission).
        return [WorkItem.model_validate(v) for v in decode_json(r).get("value") or [] if v]

    async def get_work_items(
        self,
        ids: Sequence[int],
        *,
        expand: Expand | None = "relations",
        fields: Sequence[str] | None = None,
        as_of: datetime | None = None,
    ) -> list[WorkItem]:
        """Work items in the order asked, fetched 200 at a time, the chunks concurrently.

        Ids that no longer exist are left out. ADO refuses `fields` together with a relations
        expand, so that combination is rejected here rather than by a 400.
        """
        if fields and expand in ("relations", "all", "fields"):
            raise ValueError("ADO cannot combine `fields` with expand=relations/all; pass expand=None")
        ids = list(dict.fromkeys(int(i) for i in ids))
        chunks = await asyncio.gather(*(self._batch(c, expand, fields, as_of) for c in chunked(ids, BATCH_SIZE)))
        by_id = {wi.id: wi for chunk in chunks for wi in chunk}
        return [by_id[i] for i in ids if i in by_id]

    async def get_work_item(self, id: int, *, expand: Expand | None = "all", as_of: datetime | None = None) -> WorkItem:
        params: dict[str, Any] = {}
        if expand:
            params["$expand"] = expand
        if as_of is not None:
            params["asOf"] = utc_iso(as_of)
        return WorkItem.model_validate(await self._get(f"{self._p}/_apis/wit/workitems/{int(id)}", params))

    async def create_work_item(
        self, work_item_type: str, fields: dict[str, Any], *, relations: Sequence[dict[str, Any]] = ()
    ) -> WorkItem:
        """Create one work item (JSON Patch). Used by tests and tooling; the engine only reads ADO."""
        ops = [{"op": "add", "path": f"/fields/{k}", "value": v} for k, v in fields.items()]
        ops += [{"op": "add", "path": "/relations/-", "value": rel} for rel in relations]
        r = await self.http.request(
            "POST",
            f"{self._p}/_apis/wit/workitems/${quote(work_item_type, safe='')}",
            idempotent=False,
            params={"api-version": API_VERSION},
            json=ops,
            headers={"Content-Type": "application/json-patch+json"},
        )
        return WorkItem.model_validate(decode_json(r))

    async def iter_revisions(self, id: int, *, page_size: int = 200) -> AsyncIterator[WorkItem]:
        async for item in self._skip_pages(f"{self._p}/_apis/wit/workItems/{int(id)}/revisions", page_size):
            yield WorkItem.model_validate(item)

    async def iter_updates(self, id: int, *, page_size: int = 200) -> AsyncIterator[WorkItemUpdate]:
        async for item in self._skip_pages(f"{self._p}/_apis/wit/workItems/{int(id)}/updates", page_size):
            yield WorkItemUpdate.model_validate(item)

    async def _skip_pages(self, url: str, page_size: int) -> AsyncIterator[dict[str, Any]]:
        skip = 0
        while True:
            body = await self._get(url, {"$top": page_size, "$skip": skip})
            values = body.get("value") or []
            for v in values:
                yield v
            if len(values) < page_size:
                return
            skip += len(values)

    # ------------------------------------------------------------------ comments

    async def iter_comments(
        self, work_item_id: int, *, page_size: int = 200, include_deleted: bool = False
    ) -> AsyncIterator[Comment]:
        """Comments oldest first (the service defaults to newest first; a migration replays history)."""
        params: dict[str, Any] = {"api-version": COMMENTS_API_VERSION, "$top": page_size, "order": "asc"}
        if include_deleted:
            params["includeDeleted"] = "true"
        url = f"{self._p}/_apis/wit/workItems/{int(work_item_id)}/comments"
        async for c in self._token_pages(url, params, "comments"):
            yield Comment.model_validate(c)

    async def _token_pages(self, url: str, params: dict[str, Any], key: str) -> AsyncIterator[dict[str, Any]]:
        """Pages chained by ADO's continuation token (response header or body)."""

        async def fetch(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            r = await self.http.request(
                "GET", url, idempotent=True, params={**params, **({"continuationToken": token} if token else {})}
            )
            body = decode_json(r)
            return list(body.get(key) or []), continuation_token(r, body)

        async for item in paginate(fetch):
            yield item

    async def add_comment(self, work_item_id: int, text: str) -> Comment:
        r = await self.http.request(
            "POST",
            f"{self._p}/_apis/wit/workItems/{int(work_item_id)}/comments",
            idempotent=False,
            params={"api-version": COMMENTS_API_VERSION},
            json={"text": text},
        )
        return Comment.model_validate(decode_json(r))

    # ------------------------------------------------------------------ attachments

    def _own_url(self, url: str) -> str:
        """Attachment urls come from item data: never send the PAT to another host."""
        target = httpx.URL(url)
        if not target.is_absolute_url:
            return url
        own = httpx.URL(self.organization_url)
        if (target.scheme, target.host, target.port) != (own.scheme, own.host, own.port):
            raise ValueError(f"refusing to fetch an attachment from another host: {target.host}")
        return url

    async def stream_attachment(self, url: str, *, chunk_size: int = 64 * 1024, start: int = 0) -> AsyncIterator[bytes]:
        """The attachment's bytes from byte `start` in chunks, never the whole file in memory.

        A connection lost mid-file is picked up where it stopped with a Range request; where the service answers
        with the whole file instead, the bytes already had are read past, so the stream restarts cleanly either way.
        """
        url = self._own_url(url)
        params: dict[str, Any] = {}
        if "api-version" not in httpx.URL(url).params:
            params["api-version"] = API_VERSION
        got = start
        drops = 0
        while True:
            headers = {"Accept": "application/octet-stream"}
            if got:
                headers["Range"] = f"bytes={got}-"
            try:
                async with self.http.stream("GET", url, params=params, headers=headers) as r:
                    skip = got - _range_start(r) if got else 0
                    if skip < 0:
                        raise TransportFailure("GET", r.request.url.path, "range answered past the bytes asked", 1)
                    async for chunk in r.aiter_bytes(chunk_size):
                        if skip:
                            cut = min(skip, len(chunk))
                            skip -= cut
                            chunk = chunk[cut:]
                            if not chunk:
                                continue
                        got += len(chunk)
                        yield chunk
                return
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout) as exc:
                drops += 1
                self.http.counters.transport_errors += 1
                if drops >= self.http.settings.max_attempts:
                    raise TransportFailure("GET", httpx.URL(url).path, type(exc).__name__, drops) from None
                await asyncio.sleep(self.http.backoff(drops))

    async def upload_attachment(self, file_name: str, data: bytes) -> dict[str, Any]:
        """Upload an attachment (returns {id, url}); for seeding tests against a real ADO."""
        r = await self.http.request(
            "POST",
            f"{self._p}/_apis/wit/attachments",
            idempotent=False,
            params={"api-version": API_VERSION, "fileName": file_name},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return decode_json(r)

    # ------------------------------------------------------------------ process metadata

    async def get_classification_nodes(
        self, structure: Literal["areas", "iterations"], *, depth: int = 20
    ) -> ClassificationNode:
        body = await self._get(f"{self._p}/_apis/wit/classificationnodes/{structure}", {"$depth": depth})
        return ClassificationNode.model_validate(body)

    async def get_areas(self, depth: int = 20) -> ClassificationNode:
        return await self.get_classification_nodes("areas", depth=depth)

    async def get_iterations(self, depth: int = 20) -> ClassificationNode:
        return await self.get_classification_nodes("iterations", depth=depth)

    async def get_work_item_types(self, *, with_states: bool = True) -> list[WorkItemType]:
        body = await self._get(f"{self._p}/_apis/wit/workitemtypes")
        types = [WorkItemType.model_validate(v) for v in body.get("value") or []]
        if with_states:
            missing = [t for t in types if not t.states]
            states = await asyncio.gather(*(self.get_work_item_type_states(t.name) for t in missing))
            for t, s in zip(missing, states, strict=True):
                t.states = s
        return types

    async def get_work_item_type_states(self, work_item_type: str) -> list[WorkItemStateColor]:
        body = await self._get(f"{self._p}/_apis/wit/workitemtypes/{quote(work_item_type, safe='')}/states")
        return [WorkItemStateColor.model_validate(v) for v in body.get("value") or []]

    async def get_fields(self) -> list[FieldDefinition]:
        body = await self._get(f"{self._p}/_apis/wit/fields")
        return [FieldDefinition.model_validate(v) for v in body.get("value") or []]

    async def get_relation_types(self) -> list[RelationType]:
        body = await self._get(f"{self.organization_url}/_apis/wit/workitemrelationtypes")
        return [RelationType.model_validate(v) for v in body.get("value") or []]

    async def get_team_iterations(
        self, team: str | None = None, *, timeframe: str | None = None
    ) -> list[TeamIteration]:
        params = {"$timeframe": timeframe} if timeframe else {}
        url = f"{self._p}/{quote(team or self.team, safe='')}/_apis/work/teamsettings/iterations"
        body = await self._get(url, params)
        return [TeamIteration.model_validate(v) for v in body.get("value") or []]

    # ------------------------------------------------------------------ people

    async def iter_graph_users(self, *, subject_types: Sequence[str] | None = None) -> AsyncIterator[GraphUser]:
        params: dict[str, Any] = {"api-version": GRAPH_API_VERSION}
        if subject_types:
            params["subjectTypes"] = ",".join(subject_types)
        async for u in self._token_pages(f"{self.vssps_url}/_apis/graph/users", params, "value"):
            yield GraphUser.model_validate(u)

    async def find_identities(self, filter_value: str, *, search_filter: str = "General") -> list[Identity]:
        """Identities by e-mail or name (ReadIdentities with searchFilter)."""
        body = await self._get_json(
            f"{self.vssps_url}/_apis/identities",
            params={
                "api-version": API_VERSION,
                "searchFilter": search_filter,
                "filterValue": filter_value,
                "queryMembership": "None",
            },
        )
        return [Identity.model_validate(v) for v in (body or {}).get("value") or []]

    # ------------------------------------------------------------------ 7pace

    # ------------------------------------------------------------------ test plans (Test Plans REST 7.1)

    async def get_test_plans(self) -> list[dict[str, Any]]:
        """The project's test plans (id, name, rootSuite, …); the generated projects fit one page."""
        body = await self._get(f"{self._p}/_apis/testplan/plans")
        return list((body or {}).get("value") or [])

    async def get_test_suites(self, plan_id: int) -> list[dict[str, Any]]:
        """A plan's suites, flat; the root suite is the one without `parentSuite`."""
        body = await self._get(f"{self._p}/_apis/testplan/Plans/{int(plan_id)}/suites")
        return list((body or {}).get("value") or [])

    async def get_suite_test_case_ids(self, plan_id: int, suite_id: int) -> list[int]:
        body = await self._get(f"{self._p}/_apis/testplan/Plans/{int(plan_id)}/Suites/{int(suite_id)}/TestCase")
        return [int(c["workItem"]["id"]) for c in (body or {}).get("value") or [] if c.get("workItem")]

    async def iter_worklogs(
        self,
        work_item_ids: Sequence[int] | None = None,
        *,
        page_size: int = 500,
        path: str = "/_7pace/api/rest/worklogs/all",
    ) -> AsyncIterator[Worklog]:
        """7pace Timetracker work logs ($skip/$count pages), optionally for some work items only."""
        skip = 0
        params: dict[str, Any] = {"api-version": "3.0", "$count": page_size}
        if work_item_ids:
            params["workItemIds"] = ",".join(str(int(i)) for i in work_item_ids)
        while True:
            body = await self._get_json(f"{self.organization_url}{path}", params={**params, "$skip": skip})
            values = (body or {}).get("data") or []
            for v in values:
                yield Worklog.model_validate(v)
            if len(values) < page_size:
                return
            skip += len(values)


def _range_start(response: httpx.Response) -> int:
    """Where the body starts in the file: a 206's Content-Range, else 0 (the whole file again)."""
    if response.status_code != 206:
        return 0
    first = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-", 1)[0]
    return int(first) if first.isdigit() else 0
