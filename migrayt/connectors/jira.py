"""Jira Cloud REST client: platform v3 and Agile 1.0, typed, through `ResilientHttp`.

Built against /work/shared/specs/jira. Writes that create something are sent once: when the
outcome is unknown they raise `AmbiguousWriteError` and the engine reconciles by the
`ado-id-N` label (`find_issue_keys_by_labels`). Writes that set a value (edit, property,
move to sprint, remote link with a globalId) are idempotent and retried.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from migrayt.connectors.http import (
    AmbiguousWriteError,
    ApiError,
    HttpSettings,
    ResilientHttp,
    SecretBasicAuth,
    SecretBearerAuth,
    chunked,
    next_start_at,
    paginate,
    parse_error_body,
)

API = "/rest/api/3"
AGILE = "/rest/agile/1.0"
BULK_CREATE_MAX = 50
SPRINT_MOVE_MAX = 50
# Labels per `labels in (...)` query: keeps the JQL short and each page small.
LABELS_PER_QUERY = 50
USERS_PAGE = 100  # GET /users/search: all accounts, a page at a time
BULK_FETCH_MAX = 100  # POST /issue/bulkfetch: issueIdsOrKeys holds at most 100
BULK_TRANSITION_MAX = 1000  # POST /bulk/issues/transition: issues per request, all inputs together
# GET /bulk/issues/transition takes the keys in its query string: this many keep the URL short.
BULK_TRANSITION_READ_MAX = 200


class _Wide(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class JiraUser(_Wide):
    account_id: str = Field(alias="accountId")
    display_name: str | None = Field(None, alias="displayName")
    email_address: str | None = Field(None, alias="emailAddress")
    active: bool = True
    account_type: str | None = Field(None, alias="accountType")


class IssueType(_Wide):
    id: str
    name: str
    subtask: bool = False
    hierarchy_level: int = Field(0, alias="hierarchyLevel")
    description: str | None = None


class NotificationScheme(_Wide):
    """A notification scheme as `/notificationscheme` and `/project/{key}/notificationscheme` answer it."""

    id: str
    name: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> NotificationScheme:
        return cls.model_validate({**body, "id": str(body["id"])})


class Project(_Wide):
    id: str
    key: str
    name: str | None = None
    issue_types: list[IssueType] = Field(default_factory=list, alias="issueTypes")
    style: str | None = None
    simplified: bool | None = None


class CreateMetaField(_Wide):
    field_id: str = Field(alias="fieldId")
    key: str | None = None
    name: str
    required: bool = False
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    allowed_values: list[Any] | None = Field(None, alias="allowedValues")
    operations: list[str] = Field(default_factory=list)
    has_default_value: bool = Field(False, alias="hasDefaultValue")


class JiraField(_Wide):
    id: str
    key: str | None = None
    name: str
    custom: bool = False
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class Priority(_Wide):
    id: str
    name: str


class Status(_Wide):
    id: str
    name: str
    status_category: dict[str, Any] | None = Field(None, alias="statusCategory")

    @property
    def category_key(self) -> str | None:
        return (self.status_category or {}).get("key")


class IssueTypeStatuses(_Wide):
    """One entry of GET /project/{key}/statuses: an issue type and its statuses."""

    id: str
    name: str
    subtask: bool = False
    statuses: list[Status] = Field(default_factory=list)


class Component(_Wide):
    id: str
    name: str
    description: str | None = None


class Board(_Wide):
    id: int
    name: str
    type: str | None = None
    location: dict[str, Any] | None = None


class Sprint(_Wide):
    id: int
    name: str
    state: str | None = None
    start_date: str | None = Field(None, alias="startDate")
    end_date: str | None = Field(None, alias="endDate")
    origin_board_id: int | None = Field(None, alias="originBoardId")
    goal: str | None = None


class CreatedIssue(_Wide):
    id: str
    key: str
    self_: str | None = Field(None, alias="self")


class ItemError(BaseModel):
    """Why one element of a bulk request failed."""

    status: int | None = None
    messages: list[str] = Field(default_factory=list)
    field_errors: dict[str, str] = Field(default_factory=dict)

    def describe(self) -> str:
        parts = list(self.messages) + [f"{k}: {v}" for k, v in sorted(self.field_errors.items())]
        return "; ".join(parts) or f"HTTP {self.status}"


class BulkCreateResult(BaseModel):
    """Outcome of one bulk create, by position in the request."""

    created: dict[int, CreatedIssue] = Field(default_factory=dict)
    errors: dict[int, ItemError] = Field(default_factory=dict)

    def key_for(self, index: int) -> str | None:
        created = self.created.get(index)
        return created.key if created else None


class Issue(_Wide):
    id: str
    key: str
    fields: dict[str, Any] = Field(default_factory=dict)
    # Entity properties asked for by key (search `properties`, issue `?properties=`), by key.
    properties: dict[str, Any] = Field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.fields.get("labels") or [])


class Transition(_Wide):
    id: str
    name: str
    to: Status | None = None
    is_available: bool = Field(True, alias="isAvailable")
    has_screen: bool = Field(False, alias="hasScreen")


class IssueLinkType(_Wide):
    id: str
    name: str
    inward: str
    outward: str


class RemoteLink(_Wide):
    id: int
    global_id: str | None = Field(None, alias="globalId")
    relationship: str | None = None
    object: dict[str, Any] = Field(default_factory=dict)


class Attachment(_Wide):
    id: str
    filename: str
    size: int | None = None
    mime_type: str | None = Field(None, alias="mimeType")
    content: str | None = None


class JiraComment(_Wide):
    id: str
    body: Any = None
    author: dict[str, Any] | None = None
    created: str | None = None
    properties: list[dict[str, Any]] = Field(default_factory=list)  # with expand=properties

    def property(self, key: str) -> Any:
        return next((p.get("value") for p in self.properties if isinstance(p, dict) and p.get("key") == key), None)


class JiraWorklog(_Wide):
    id: str
    time_spent_seconds: int | None = Field(None, alias="timeSpentSeconds")
    started: str | None = None
    comment: Any = None
    author: dict[str, Any] | None = None
    properties: list[dict[str, Any]] = Field(default_factory=list)  # with expand=properties

    def property(self, key: str) -> Any:
        return next((p.get("value") for p in self.properties if isinstance(p, dict) and p.get("key") == key), None)


class ChangelogEntry(_Wide):
    """One change of an issue: who (author.accountId) and when (created)."""

    id: str
    author: dict[str, Any] | None = None
    created: str | None = None
    items: list[dict[str, Any]] = Field(default_factory=list)


class BulkTaskProgress(_Wide):
    """An asynchronous bulk task as `GET /rest/api/3/bulk/queue/{taskId}` answers it (BulkOperationProgress)."""

    task_id: str | None = Field(None, alias="taskId")
    status: str = "ENQUEUED"  # ENQUEUED | RUNNING | COMPLETE | FAILED | CANCEL_REQUESTED | CANCELLED | DEAD
    processed: list[int] = Field(default_factory=list, alias="processedAccessibleIssues")
    failed: dict[str, list[str]] = Field(default_factory=dict, alias="failedAccessibleIssues")
    invalid_count: int = Field(0, alias="invalidOrInaccessibleIssueCount")

    @property
    def finished(self) -> bool:
        return self.status in ("COMPLETE", "FAILED", "CANCELLED", "DEAD")


class BulkTransitionStep(_Wide):
    """One transition of `GET /bulk/issues/transition` (SimplifiedIssueTransition): ids as Jira gives them, ints."""

    transition_id: int = Field(alias="transitionId")
    name: str = Field("", alias="transitionName")
    to: dict[str, Any] = Field(default_factory=dict)

    @property
    def to_id(self) -> str:
        return str(self.to.get("statusId") or "")

    @property
    def to_name(self) -> str:
        return str(self.to.get("statusName") or "")


class BulkWorkflowTransitions(_Wide):
    """The issues of one workflow and the transitions they all have (none needing a screen)."""

    issues: list[str] = Field(default_factory=list)
    transitions: list[BulkTransitionStep] = Field(default_factory=list)
    filtered: bool = Field(False, alias="isTransitionsFiltered")


def map_bulk_result(count: int, body: Mapping[str, Any]) -> BulkCreateResult:
    """Map Jira's CreatedIssues answer to request positions.

    Jira lists failures with `failedElementNumber` and the created issues, in request order,
    without their position: the created ones fill the positions that did not fail. If the
    numbers do not add up the mapping cannot be trusted, and the batch is ambiguous.
    """
    errors: dict[int, ItemError] = {}
    for err in body.get("errors") or []:
        index = err.get("failedElementNumber")
        if not isinstance(index, int) or not 0 <= index < count:
            raise AmbiguousWriteError("POST", f"{API}/issue/bulk", f"unmappable bulk error element {index!r}")
        messages, field_errors = parse_error_body(err.get("elementErrors") or {})
        errors[index] = ItemError(status=err.get("status"), messages=messages, field_errors=field_errors)
    created_list = [CreatedIssue.model_validate(i) for i in body.get("issues") or []]
    free = [i for i in range(count) if i not in errors]
    if len(created_list) != len(free):
        raise AmbiguousWriteError(
            "POST", f"{API}/issue/bulk", f"{len(created_list)} issues created for {len(free)} accepted elements"
        )
    return BulkCreateResult(created=dict(zip(free, created_list, strict=True)), errors=errors)


JQL_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jql_string(value: str) -> str:
    """`value` as one quoted JQL string literal: no quote, backslash or line break in it can end the literal."""
    if any(ord(c) < 0x20 and c not in "\n\r\t" for c in value):
        raise ValueError("a JQL value cannot hold control characters")
    return '"' + "".join(JQL_ESCAPES.get(c, c) for c in value) + '"'


def labels_jql(labels: Sequence[str]) -> str:
    return f"labels in ({', '.join(jql_string(label) for label in labels)})"


def labels_search_jql(labels: Sequence[str], project_key: str | None = None) -> str:
    """Issues carrying any of `labels` (in one project), oldest key first."""
    jql = labels_jql(labels)
    if project_key:
        jql = f"project = {jql_string(project_key)} AND {jql}"
    return jql + " ORDER BY key ASC"


ByteSource = bytes | AsyncIterable[bytes] | Callable[[], AsyncIterable[bytes]]


@dataclass(frozen=True)
class UploadFile:
    """One file of an upload: its bytes (a factory lets a throttled request be re-sent) and, where known, size."""

    filename: str
    data: ByteSource
    size: int | None = None
    content_type: str = "application/octet-stream"


class JiraClient:
    """One per process per Jira site; close it (or use `async with`)."""

    def __init__(
        self,
        base_url: str,
        email: str | None,
        api_token: SecretStr | str,
        *,
        settings: HttpSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **http_kwargs: Any,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        secret = api_token if isinstance(api_token, SecretStr) else SecretStr(api_token)
        settings = settings or HttpSettings(base_url=self.base_url)
        if settings.base_url.rstrip("/") != self.base_url:
            settings = settings.model_copy(update={"base_url": self.base_url})
        # Cloud: e-mail + API token as Basic auth. Data Center: a personal access token, sent as a
        # bearer token (it refuses a PAT as a Basic password), given here with no e-mail.
        auth = SecretBasicAuth(email, secret) if email else SecretBearerAuth(secret)
        self.http = ResilientHttp(settings, auth=auth, transport=transport, **http_kwargs)
        # Edits ask Jira to e-mail no one until the site says this user may not (edit_issue).
        self.quiet_edits = True

    def __repr__(self) -> str:
        return f"JiraClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> JiraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def issue_write_ready_in(self, key: str) -> float:
        """Seconds until this issue's write budget lets another write through (0: now, as far as anyone said)."""
        return self.http.scopes.issue_ready_in(key)

    # ------------------------------------------------------------------ plumbing

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.http.get_json(path, params=params)

    async def _send(
        self, method: str, path: str, *, idempotent: bool, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        r = await self.http.request(method, path, idempotent=idempotent, json=json, params=params)
        return r.json() if r.content else None

    async def _offset_pages(
        self, path: str, key: str, params: Mapping[str, Any] | None = None, *, page_size: int = 50
    ) -> AsyncIterator[dict[str, Any]]:
        """startAt/maxResults pages; ends on `isLast`, on `total`, or on an empty page."""
        start: int | None = 0
        while start is not None:
            body = await self._get(path, {**(params or {}), "startAt": start, "maxResults": page_size})
            values = body.get(key) or []
            for v in values:
                yield v
            start = next_start_at(start, len(values), total=body.get("total"), is_last=body.get("isLast"))

    # ------------------------------------------------------------------ site and project

    async def myself(self) -> JiraUser:
        return JiraUser.model_validate(await self._get(f"{API}/myself"))

    async def myself_v2(self) -> dict[str, Any]:
        """`/rest/api/2/myself`: the one check Data Center answers too (it serves no v3 and names
        users by `name`/`key`; Cloud answers with an `accountId`)."""
        return await self._get("/rest/api/2/myself")

    async def get_project(self, key: str) -> Project:
        return Project.model_validate(await self._get(f"{API}/project/{quote(key, safe='')}"))

    async def get_issue_types(self, project_key: str) -> list[IssueType]:
        """The project's issue types, each with its hierarchyLevel (epic 1, standard 0, subtask -1)."""
        return (await self.get_project(project_key)).issue_types

    async def get_create_meta_issue_types(self, project_key: str) -> list[IssueType]:
        path = f"{API}/issue/createmeta/{quote(project_key, safe='')}/issuetypes"
        return [IssueType.model_validate(v) async for v in self._offset_pages(path, "issueTypes", page_size=200)]

    async def get_create_meta_fields(self, project_key: str, issue_type_id: str) -> list[CreateMetaField]:
        path = f"{API}/issue/createmeta/{quote(project_key, safe='')}/issuetypes/{quote(str(issue_type_id), safe='')}"
        return [CreateMetaField.model_validate(v) async for v in self._offset_pages(path, "fields", page_size=200)]

    async def get_fields(self) -> list[JiraField]:
        return [JiraField.model_validate(v) for v in await self._get(f"{API}/field")]

    async def create_field(self, name: str, type_key: str, searcher_key: str, description: str = "") -> JiraField:
        """A custom field (needs the Administer Jira permission). Jira lets two fields share a name, so a repeat
        makes a second one: callers look for the name before they create (`write_once`)."""
        payload = {"name": name, "type": type_key, "searcherKey": searcher_key, "description": description}
        return JiraField.model_validate(await self._send("POST", f"{API}/field", idempotent=False, json=payload))

    async def delete_field(self, field_id: str) -> None:
        # Jira answers 303 with the deletion task; the field is gone from /field once it has run.
        await self.http.request(
            "DELETE", f"{API}/field/{quote(field_id, safe='')}", idempotent=True, accept_status=(303, 404)
        )

    async def has_global_permission(self, key: str) -> bool:
        body = await self._get(f"{API}/mypermissions", {"permissions": key})
        return bool(((body or {}).get("permissions") or {}).get(key, {}).get("havePermission"))

    async def project_screen_tabs(self, project_id: str) -> list[tuple[int, int]]:
        """(screen, first tab) of every create and edit screen the project's issue types use."""
        schemes = [
            v["issueTypeScreenScheme"]["id"]
            async for v in self._offset_pages(
                f"{API}/issuetypescreenscheme/project", "values", {"projectId": project_id}
            )
        ]
        screen_schemes: set[str] = set()
        for scheme in schemes:
            async for v in self._offset_pages(
                f"{API}/issuetypescreenscheme/mapping", "values", {"issueTypeScreenSchemeId": scheme}
            ):
                screen_schemes.add(str(v["screenSchemeId"]))
        screens: set[int] = set()
        if screen_schemes:
            params = {"id": ",".join(sorted(screen_schemes))}
            async for v in self._offset_pages(f"{API}/screenscheme", "values", params, page_size=25):
                kinds = v.get("screens") or {}
                screens |= {int(kinds.get(k) or kinds["default"]) for k in ("create", "edit")}
        out = []
        for screen in sorted(screens):
            tabs = await self._get(f"{API}/screens/{screen}/tabs")
            if tabs:
                out.append((screen, int(tabs[0]["id"])))
        return out

    async def screen_tab_fields(self, screen_id: int, tab_id: int) -> set[str]:
        return {str(f["id"]) for f in await self._get(f"{API}/screens/{screen_id}/tabs/{tab_id}/fields")}

    async def add_field_to_screen_tab(self, screen_id: int, tab_id: int, field_id: str) -> None:
        # Adding a field twice is refused (400), never doubled: callers read the tab first.
        await self._send(
            "POST", f"{API}/screens/{screen_id}/tabs/{tab_id}/fields", idempotent=False, json={"fieldId": field_id}
        )

    async def get_priorities(self) -> list[Priority]:
        return [Priority.model_validate(v) for v in await self._get(f"{API}/priority")]

    async def get_statuses(self) -> list[Status]:
        return [Status.model_validate(v) for v in await self._get(f"{API}/status")]

    async def get_project_statuses(self, project_key: str) -> list[IssueTypeStatuses]:
        body = await self._get(f"{API}/project/{quote(project_key, safe='')}/statuses")
        return [IssueTypeStatuses.model_validate(v) for v in body]

    # ------------------------------------------------------------------ components

    async def get_components(self, project_key: str) -> list[Component]:
        body = await self._get(f"{API}/project/{quote(project_key, safe='')}/components")
        return [Component.model_validate(v) for v in body]

    async def create_component(self, project_key: str, name: str, description: str | None = None) -> Component:
        payload: dict[str, Any] = {"project": project_key, "name": name}
        if description:
            payload["description"] = description
        return Component.model_validate(await self._send("POST", f"{API}/component", idempotent=False, json=payload))

    # ------------------------------------------------------------------ boards and sprints

    async def get_boards(self, project_key: str | None = None) -> list[Board]:
        params = {"projectKeyOrId": project_key} if project_key else {}
        return [Board.model_validate(v) async for v in self._offset_pages(f"{AGILE}/board", "values", params)]

    async def get_sprints(self, board_id: int, *, state: str | None = None) -> list[Sprint]:
        params = {"state": state} if state else {}
        path = f"{AGILE}/board/{int(board_id)}/sprint"
        return [Sprint.model_validate(v) async for v in self._offset_pages(path, "values", params)]

    async def create_sprint(
        self,
        board_id: int,
        name: str,
        *,
        start_date: str | None = None,
        end_date: str | None = None,
        goal: str | None = None,
    ) -> Sprint:
        payload: dict[str, Any] = {"name": name, "originBoardId": int(board_id)}
        if start_date:
            payload["startDate"] = start_date
        if end_date:
            payload["endDate"] = end_date
        if goal:
            payload["goal"] = goal
        return Sprint.model_validate(await self._send("POST", f"{AGILE}/sprint", idempotent=False, json=payload))

    async def move_issues_to_sprint(self, sprint_id: int, issue_keys: Sequence[str]) -> None:
        """Moves at most 50 per call (Jira's limit). Moving again is harmless, so it is retried."""
        for chunk in chunked(list(issue_keys), SPRINT_MOVE_MAX):
            await self._send("POST", f"{AGILE}/sprint/{int(sprint_id)}/issue", idempotent=True, json={"issues": chunk})

    # ------------------------------------------------------------------ users

    async def search_users(self, query: str, *, max_results: int = 50) -> list[JiraUser]:
        body = await self._get(f"{API}/user/search", {"query": query, "maxResults": max_results})
        return [JiraUser.model_validate(v) for v in body]

    async def get_user(self, account_id: str) -> JiraUser | None:
        """The account with this id, or None when Jira has none (or hides it from the migration user)."""
        try:
            return JiraUser.model_validate(await self._get(f"{API}/user", {"accountId": account_id}))
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    async def deactivated_users(self, *, most: int = 10_000) -> list[JiraUser]:
        """The site's deactivated accounts, from the list of all users (the user search never returns them), read
        up to `most` users: to tell someone who left from someone who never had an account."""
        found: list[JiraUser] = []
        for start in range(0, most, USERS_PAGE):
            page = await self._get(f"{API}/users/search", {"startAt": start, "maxResults": USERS_PAGE})
            found += [u for u in (JiraUser.model_validate(v) for v in page) if not u.active]
            if len(page) < USERS_PAGE:
                break
        return found

    async def find_user_by_email(self, email: str) -> JiraUser | None:
        """The active account with this e-mail; None when there is no unambiguous match."""
        users = [u for u in await self.search_users(email) if u.active]
        exact = [u for u in users if (u.email_address or "").lower() == email.lower()]
        if len(exact) == 1:
            return exact[0]
        # Jira hides e-mail addresses under privacy settings; a single hit is still a match.
        if not exact and len(users) == 1 and users[0].email_address is None:
            return users[0]
        return None

    # ------------------------------------------------------------------ issues

    async def bulk_create_issues(self, issue_updates: Sequence[Mapping[str, Any]]) -> BulkCreateResult:
        """Create up to 50 issues in one call; each request position maps to a key or an error.

        Raises AmbiguousWriteError when the outcome is unknown: reconcile by label, then resend.
        """
        if not issue_updates:
            return BulkCreateResult()
        if len(issue_updates) > BULK_CREATE_MAX:
            raise ValueError(f"at most {BULK_CREATE_MAX} issues per bulk create, got {len(issue_updates)}")
        # Jira answers 400 with the same body when every element failed.
        r = await self.http.request(
            "POST",
            f"{API}/issue/bulk",
            idempotent=False,
            json={"issueUpdates": list(issue_updates)},
            accept_status={400},
        )
        body = r.json() if r.content else {}
        if r.status_code == 400 and not body.get("errors"):
            messages, field_errors = parse_error_body(body)
            raise ApiError(400, messages, field_errors, method="POST", path=f"{API}/issue/bulk")
        return map_bulk_result(len(issue_updates), body)

    async def create_issue(self, fields: Mapping[str, Any], *, update: Mapping[str, Any] | None = None) -> CreatedIssue:
        payload: dict[str, Any] = {"fields": dict(fields)}
        if update:
            payload["update"] = dict(update)
        return CreatedIssue.model_validate(await self._send("POST", f"{API}/issue", idempotent=False, json=payload))

    async def edit_issue(
        self,
        key: str,
        fields: Mapping[str, Any] | None = None,
        *,
        update: Mapping[str, Any] | None = None,
        notify: bool | None = None,
    ) -> None:
        """Setting fields is idempotent and retried; `update` operations (add/remove) are not.

        `notify` None: no e-mail where the user may ask for none (notifyUsers=false needs project admin); a site that
        refuses it once is edited with notifications from then on (its notification scheme is muted for the run).
        """
        payload: dict[str, Any] = {}
        if fields:
            payload["fields"] = dict(fields)
        if update:
            payload["update"] = dict(update)
        quiet = self.quiet_edits if notify is None else not notify
        path = f"{API}/issue/{quote(key, safe='')}"
        try:
            await self._send(
                "PUT", path, idempotent=not update, json=payload, params={"notifyUsers": "false"} if quiet else None
            )
        except ApiError as err:
            if not (notify is None and quiet and err.status == 403 and _refuses_silent_edit(err)):
                raise
            # A 403 wrote nothing: the same edit again, with Jira's notifications.
            self.quiet_edits = False
            await self._send("PUT", path, idempotent=not update, json=payload)

    async def get_issue(self, key: str, *, fields: Sequence[str] | None = None) -> Issue:
        params = {"fields": ",".join(fields)} if fields else None
        return Issue.model_validate(await self._get(f"{API}/issue/{quote(key, safe='')}", params))

    async def bulk_fetch_issues(
        self, keys: Sequence[str], fields: Sequence[str], *, properties: Sequence[str] = ()
    ) -> list[Issue]:
        """The issues of `keys` that exist and are visible, 100 a call (`POST /issue/bulkfetch`), in no set order.

        Jira leaves out what it cannot find; `issueErrors` (a retriable failure for some issue) fails the read,
        so a lost issue is never mistaken for a deleted one."""
        out: list[Issue] = []
        for chunk in chunked(list(dict.fromkeys(keys)), BULK_FETCH_MAX):
            payload: dict[str, Any] = {"issueIdsOrKeys": chunk, "fields": list(fields), "fieldsByKeys": False}
            if properties:
                payload["properties"] = list(properties)
            body = await self._send("POST", f"{API}/issue/bulkfetch", idempotent=True, json=payload) or {}
            if body.get("issueErrors"):
                raise ApiError(
                    503,
                    [f"issueErrors: {body['issueErrors'][:3]}"],
                    method="POST",
                    path=f"{API}/issue/bulkfetch",
                    retryable=True,
                )
            out += [Issue.model_validate(i) for i in body.get("issues") or []]
        return out

    async def issue_changelog(self, key: str) -> list[ChangelogEntry]:
        """Every changelog entry of the issue, oldest first (`GET /issue/{key}/changelog`: startAt/maxResults
        pages to `isLast`). Validation reads who changed what after the write; undo, whose edits it would lose."""
        path = f"{API}/issue/{quote(key, safe='')}/changelog"
        return [ChangelogEntry.model_validate(v) async for v in self._offset_pages(path, "values", page_size=100)]

    async def delete_issue(self, key: str, *, delete_subtasks: bool = False) -> None:
        params = {"deleteSubtasks": "true"} if delete_subtasks else None
        await self._send("DELETE", f"{API}/issue/{quote(key, safe='')}", idempotent=True, params=params)

    async def search_jql(
        self, jql: str, fields: Sequence[str] = ("summary",), *, page_size: int = 100, properties: Sequence[str] = ()
    ) -> AsyncIterator[Issue]:
        """Every issue matching `jql` (enhanced search, nextPageToken pages), with the named entity properties."""

        async def fetch(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            payload: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": page_size}
            if properties:
                payload["properties"] = list(properties)
            if token:
                payload["nextPageToken"] = token
            body = await self._send("POST", f"{API}/search/jql", idempotent=True, json=payload)
            nxt = body.get("nextPageToken")
            return list(body.get("issues") or []), None if body.get("isLast", nxt is None) else nxt

        async for issue in paginate(fetch):
            yield Issue.model_validate(issue)

    async def find_issue_keys_by_labels(
        self, labels: Sequence[str], *, project_key: str | None = None
    ) -> dict[str, list[str]]:
        """Issue keys carrying each label (an empty list when none). More than one key = a duplicate.

        A label missing here may still exist if the search index lags: callers must not read
        an empty answer as "never created" for a write they just made.
        """
        wanted = list(dict.fromkeys(labels))
        found: dict[str, list[str]] = {label: [] for label in wanted}

        async def one(chunk: list[str]) -> None:
            async for issue in self.search_jql(labels_search_jql(chunk, project_key), fields=("labels",)):
                for label in issue.labels:
                    if label in found and issue.key not in found[label]:
                        found[label].append(issue.key)

        await asyncio.gather(*(one(c) for c in chunked(wanted, LABELS_PER_QUERY)))
        return found

    # ------------------------------------------------------------------ transitions

    async def get_transitions(self, key: str) -> list[Transition]:
        body = await self._get(f"{API}/issue/{quote(key, safe='')}/transitions")
        return [Transition.model_validate(v) for v in body.get("transitions") or []]

    async def do_transition(self, key: str, transition_id: str, *, fields: Mapping[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"transition": {"id": str(transition_id)}}
        if fields:
            payload["fields"] = dict(fields)
        await self._send("POST", f"{API}/issue/{quote(key, safe='')}/transitions", idempotent=False, json=payload)

    # ------------------------------------------------------------------ bulk transitions

    async def bulk_available_transitions(self, keys: Sequence[str]) -> list[BulkWorkflowTransitions]:
        """Per workflow, the transitions every one of `keys` has now (Jira leaves out those needing a screen)."""
        out: list[BulkWorkflowTransitions] = []
        for chunk in chunked(list(dict.fromkeys(keys)), BULK_TRANSITION_READ_MAX):
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"issueIdsOrKeys": ",".join(chunk)}
                if cursor:
                    params["startingAfter"] = cursor
                body = await self._get(f"{API}/bulk/issues/transition", params) or {}
                out += [BulkWorkflowTransitions.model_validate(w) for w in body.get("availableTransitions") or []]
                nxt = body.get("startingAfter")
                if not nxt or nxt == cursor or not body.get("availableTransitions"):
                    break
                cursor = nxt
        return out

    async def submit_bulk_transition(self, by_transition: Mapping[str, Sequence[str]]) -> str:
        """Submit one asynchronous bulk transition (issue keys grouped by transition id, at most 1,000 issues) with
        no notification; the task id to poll with `bulk_task`. Sent once: a lost answer raises
        `AmbiguousWriteError`, and the caller reads the issues' statuses instead of sending it again."""
        inputs = [
            {"selectedIssueIdsOrKeys": list(keys), "transitionId": str(tid)}
            for tid, keys in by_transition.items()
            if keys
        ]
        if sum(len(i["selectedIssueIdsOrKeys"]) for i in inputs) > BULK_TRANSITION_MAX:
            raise ValueError(f"a bulk transition takes at most {BULK_TRANSITION_MAX} issues")
        payload = {"bulkTransitionInputs": inputs, "sendBulkNotification": False}
        body = await self._send("POST", f"{API}/bulk/issues/transition", idempotent=False, json=payload)
        return str((body or {})["taskId"])

    # ------------------------------------------------------------------ links

    async def get_issue_link_types(self) -> list[IssueLinkType]:
        body = await self._get(f"{API}/issueLinkType")
        return [IssueLinkType.model_validate(v) for v in body.get("issueLinkTypes") or []]

    async def create_issue_link(self, link_type: str, inward_key: str, outward_key: str) -> None:
        payload = {
            "type": {"name": link_type},
            "inwardIssue": {"key": inward_key},
            "outwardIssue": {"key": outward_key},
        }
        await self._send("POST", f"{API}/issueLink", idempotent=False, json=payload)

    async def delete_issue_link(self, link_id: str) -> None:
        await self._send("DELETE", f"{API}/issueLink/{quote(link_id, safe='')}", idempotent=True)

    async def get_remote_links(self, key: str, *, global_id: str | None = None) -> list[RemoteLink]:
        params = {"globalId": global_id} if global_id else None
        body = await self._get(f"{API}/issue/{quote(key, safe='')}/remotelink", params)
        if isinstance(body, dict):
            body = [body]
        return [RemoteLink.model_validate(v) for v in body or []]

    async def create_remote_link(
        self,
        key: str,
        url: str,
        title: str,
        *,
        global_id: str | None = None,
        relationship: str | None = None,
    ) -> int:
        """Create (or, with a globalId, create-or-update, hence safe to retry) a remote link."""
        payload: dict[str, Any] = {"object": {"url": url, "title": title}}
        if global_id:
            payload["globalId"] = global_id
        if relationship:
            payload["relationship"] = relationship
        body = await self._send(
            "POST", f"{API}/issue/{quote(key, safe='')}/remotelink", idempotent=global_id is not None, json=payload
        )
        return int(body["id"])

    # ------------------------------------------------------------------ attachments

    async def upload_attachment(
        self,
        key: str,
        filename: str,
        data: ByteSource,
        size: int | None = None,
        *,
        content_type: str = "application/octet-stream",
    ) -> list[Attachment]:
        """Stream one file as multipart/form-data (field `file`), never holding it in memory.

        Pass a factory (a callable returning the async byte stream) to let a throttled upload be
        re-sent; a bare async stream can be sent once only.
        """
        return await self.upload_attachments(key, [UploadFile(filename, data, size, content_type)])

    async def upload_attachments(self, key: str, files: Sequence[UploadFile]) -> list[Attachment]:
        """Several files in one request, a `file` part each, streamed one after the other; Jira answers with the
        attachments in the order of the parts, and refuses the whole request when it refuses one file (413)."""
        boundary = "migrayt-" + os.urandom(12).hex()
        heads = []
        for f in files:
            safe_name = f.filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
            heads.append(
                (
                    f"--{boundary}\r\n"
                    f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
                    f"Content-Type: {f.content_type}\r\n\r\n"
                ).encode()
            )
        tail = f"--{boundary}--\r\n".encode()
        used = False

        def body() -> AsyncIterator[bytes]:
            nonlocal used
            sources: list[AsyncIterable[bytes]] = []
            for f in files:
                if isinstance(f.data, bytes):
                    sources.append(_once(f.data))
                elif callable(f.data):
                    sources.append(f.data())
                else:
                    if used:
                        raise ApiError(
                            429, ["throttled upload cannot be re-sent from a one-shot stream"], method="POST"
                        )
                    sources.append(f.data)
            used = True
            return _multipart(heads, sources, tail)

        headers = {"X-Atlassian-Token": "no-check", "Content-Type": f"multipart/form-data; boundary={boundary}"}
        sizes = [len(f.data) if isinstance(f.data, bytes) else f.size for f in files]
        if all(n is not None for n in sizes):
            framed = sum(len(h) + (n or 0) + 2 for h, n in zip(heads, sizes, strict=True))  # head, bytes, CRLF
            headers["Content-Length"] = str(framed + len(tail))
        r = await self.http.request(
            "POST", f"{API}/issue/{quote(key, safe='')}/attachments", idempotent=False, content=body, headers=headers
        )
        return [Attachment.model_validate(v) for v in r.json()]

    async def stream_attachment_content(
        self, attachment_id: str, *, chunk_size: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        """An attachment's bytes in chunks; `redirect=false` keeps the download on this site."""
        path = f"{API}/attachment/content/{quote(str(attachment_id), safe='')}"
        async with self.http.stream("GET", path, params={"redirect": "false"}, headers={"Accept": "*/*"}) as r:
            async for chunk in r.aiter_bytes(chunk_size):
                yield chunk

    # ------------------------------------------------------------------ comments and worklogs

    async def add_comment(
        self, key: str, body_adf: Mapping[str, Any], *, properties: Sequence[Mapping[str, Any]] = ()
    ) -> JiraComment:
        payload: dict[str, Any] = {"body": dict(body_adf)}
        if properties:
            payload["properties"] = [dict(p) for p in properties]
        return JiraComment.model_validate(
            await self._send("POST", f"{API}/issue/{quote(key, safe='')}/comment", idempotent=False, json=payload)
        )

    async def list_comments(self, key: str, *, with_properties: bool = False) -> list[JiraComment]:
        path = f"{API}/issue/{quote(key, safe='')}/comment"
        params = {"expand": "properties"} if with_properties else None
        pages = self._offset_pages(path, "comments", params, page_size=100)
        return [JiraComment.model_validate(v) async for v in pages]

    async def add_worklog(
        self,
        key: str,
        time_spent_seconds: int,
        started: str,
        *,
        comment_adf: Mapping[str, Any] | None = None,
        properties: Sequence[Mapping[str, Any]] = (),
    ) -> JiraWorklog:
        """`started` in Jira's format, e.g. 2021-01-17T12:34:00.000+0000. The issue's remaining estimate is left
        as it is and nobody is notified: a migrated worklog is history, not new work."""
        payload: dict[str, Any] = {"timeSpentSeconds": int(time_spent_seconds), "started": started}
        if comment_adf:
            payload["comment"] = dict(comment_adf)
        if properties:
            payload["properties"] = [dict(p) for p in properties]
        return JiraWorklog.model_validate(
            await self._send(
                "POST",
                f"{API}/issue/{quote(key, safe='')}/worklog",
                idempotent=False,
                json=payload,
                params={"adjustEstimate": "leave", "notifyUsers": "false"},
            )
        )

    async def list_worklogs(self, key: str, *, with_properties: bool = False) -> list[JiraWorklog]:
        path = f"{API}/issue/{quote(key, safe='')}/worklog"
        params = {"expand": "properties"} if with_properties else None
        pages = self._offset_pages(path, "worklogs", params, page_size=1000)
        return [JiraWorklog.model_validate(v) async for v in pages]

    # ------------------------------------------------------------------ removal (undo)

    async def bulk_delete_issues(self, keys: Sequence[str]) -> str:
        """Submit an asynchronous bulk delete (at most 1,000 issues); the task id to poll with `bulk_task`."""
        payload = {"selectedIssueIdsOrKeys": list(keys), "sendBulkNotification": False}
        body = await self._send("POST", f"{API}/bulk/issues/delete", idempotent=False, json=payload)
        return str((body or {})["taskId"])

    async def bulk_task(self, task_id: str) -> BulkTaskProgress:
        return BulkTaskProgress.model_validate(await self._get(f"{API}/bulk/queue/{quote(task_id, safe='')}"))

    async def delete_comment(self, key: str, comment_id: str) -> None:
        path = f"{API}/issue/{quote(key, safe='')}/comment/{quote(comment_id, safe='')}"
        await self._send("DELETE", path, idempotent=True)

    async def delete_worklog(self, key: str, worklog_id: str) -> None:
        path = f"{API}/issue/{quote(key, safe='')}/worklog/{quote(worklog_id, safe='')}"
        await self._send("DELETE", path, idempotent=True, params={"notifyUsers": "false"})

    async def delete_remote_link(self, key: str, link_id: str) -> None:
        path = f"{API}/issue/{quote(key, safe='')}/remotelink/{quote(link_id, safe='')}"
        await self._send("DELETE", path, idempotent=True)

    async def delete_attachment(self, attachment_id: str) -> None:
        await self._send("DELETE", f"{API}/attachment/{quote(attachment_id, safe='')}", idempotent=True)

    async def component_issue_count(self, component_id: str) -> int:
        body = await self._get(f"{API}/component/{quote(component_id, safe='')}/relatedIssueCounts")
        return int((body or {}).get("issueCount") or 0)

    async def delete_component(self, component_id: str) -> None:
        await self._send("DELETE", f"{API}/component/{quote(component_id, safe='')}", idempotent=True)

    async def field_issue_count(self, field_id: str) -> int:
        """Issues anywhere on the site with a value in this custom field (Jira's approximate count, by JQL)."""
        number = field_id.removeprefix("customfield_")
        body = await self._send(
            "POST", f"{API}/search/approximate-count", idempotent=True, json={"jql": f"cf[{number}] is not EMPTY"}
        )
        return int((body or {}).get("count") or 0)

    async def sprint_issue_count(self, sprint_id: int) -> int:
        body = await self._get(f"{AGILE}/sprint/{int(sprint_id)}/issue", {"maxResults": 0, "fields": "key"})
        return int((body or {}).get("total") or 0)

    async def delete_sprint(self, sprint_id: int) -> None:
        await self._send("DELETE", f"{AGILE}/sprint/{int(sprint_id)}", idempotent=True)

    # ------------------------------------------------------------------ issue properties

    async def get_issue_property(self, key: str, property_key: str) -> Any | None:
        """The property's value, or None when the issue has no such property."""
        try:
            body = await self._get(f"{API}/issue/{quote(key, safe='')}/properties/{quote(property_key, safe='')}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return (body or {}).get("value")

    async def set_issue_property(self, key: str, property_key: str, value: Any) -> None:
        await self._send(
            "PUT",
            f"{API}/issue/{quote(key, safe='')}/properties/{quote(property_key, safe='')}",
            idempotent=True,
            json=value,
        )

    # ------------------------------------------------------------------ notification schemes (a muted run)

    async def notification_schemes(self) -> list[NotificationScheme]:
        return [
            NotificationScheme.of(v)
            async for v in self._offset_pages(f"{API}/notificationscheme", "values", page_size=50)
        ]

    async def create_notification_scheme(self, name: str, description: str) -> str:
        """A scheme without events: a project using it e-mails no one. Sent once (a lost answer raises
        `AmbiguousWriteError`; find it by name)."""
        body = await self._send(
            "POST",
            f"{API}/notificationscheme",
            idempotent=False,
            json={"name": name, "description": description, "notificationSchemeEvents": []},
        )
        return str(body["id"])

    async def project_notification_scheme(self, project_key: str) -> NotificationScheme:
        return NotificationScheme.of(await self._get(f"{API}/project/{quote(project_key, safe='')}/notificationscheme"))

    async def set_project_notification_scheme(self, project_key: str, scheme_id: str) -> None:
        """Sent once, so that each assignment is one write: a lost answer raises `AmbiguousWriteError`, settled by
        reading the project's scheme."""
        await self._send(
            "PUT",
            f"{API}/project/{quote(project_key, safe='')}",
            idempotent=False,
            json={"notificationScheme": int(scheme_id)},
        )


def _refuses_silent_edit(err: ApiError) -> bool:
    """Jira's 403 to notifyUsers=false by a user who is no (project) administrator."""
    return any("notification" in m.lower() for m in err.messages)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _multipart(heads: list[bytes], sources: list[AsyncIterable[bytes]], tail: bytes) -> AsyncIterator[bytes]:
    for head, source in zip(heads, sources, strict=True):
        yield head
        async for chunk in source:
            if chunk:
                yield chunk
        yield b"\r\n"
    yield tail
