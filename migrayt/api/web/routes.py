"""The web app: the wizard (connect → scan → map → preview → checkout → run) and the progress screen.

Server-rendered pages over the same services the HTTP API calls. Forms work without JavaScript
(POST, then a redirect); /static/app.js only polls the live parts and submits the run buttons in
place, so a click acts within a second. Pages carry no inline script or style (the CSP forbids both).

Who a request is comes from a server-side web session (sessions.py), never from a token in a cookie.
Every form carries the session's CSRF token and every POST is checked against it, in every mode;
form input goes through the API's own pydantic models, so the web cannot store what the API refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import SecretStr, ValidationError
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from migrayt.api.auth import LOCAL_ACTOR, Principal, principal_for_token
from migrayt.api.routers.billing import billing_service
from migrayt.api.routers.connections import AdoConnectionBody, JiraCloudConnectionBody
from migrayt.api.routers.migrations import CreateFromConnectionsBody
from migrayt.api.routers.schedules import schedule_service
from migrayt.api.web import views
from migrayt.api.web.sessions import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    end_session,
    find_session,
    new_secret,
    open_session,
    same_secret,
)
from migrayt.billing.service import (
    BillingMisconfigured,
    BillingService,
    PaymentProviderError,
)
from migrayt.connections_store import ConnectionRejected, SecretKeyMissing
from migrayt.contracts.phases import run_phases
from migrayt.contracts.preview import PreviewReport
from migrayt.contracts.runs import FINAL_STATUSES, RunKind, RunStatus, run_kind
from migrayt.contracts.schedules import ScheduledRunResult
from migrayt.contracts.undo import FORCE_CATEGORIES, UndoPlan
from migrayt.core import report_render
from migrayt.core.errors import NotFound, RunConflict, ServiceUnreachable
from migrayt.core.intake import IntakeService
from migrayt.core.runs import RERUNNABLE, MigrationService
from migrayt.core.undo import UndoService, UnknownForce
from migrayt.intake.catalog import Catalog
from migrayt.intake.lint import LintReport
from migrayt.intake.quote import Quote
from migrayt.intake.verdict import preview_refusal
from migrayt.mapping.jira_values import UnknownJiraValue
from migrayt.mapping.versions import APPROVED, VersionConflict
from migrayt.scheduling.service import ScheduleInvalid, ScheduleLimitReached, ScheduleView
from migrayt.words import plural

HERE = Path(__file__).parent
STATIC = {"app.css": "text/css", "app.js": "text/javascript"}
WIZARD = (
    ("connect", "Connect"),
    ("scan", "Scan"),
    ("mapping", "Mapping"),
    ("preview", "Preview"),
    ("checkout", "Checkout"),
    ("run", "Run"),
)

R = TypeVar("R", bound=Response)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    duration=views.duration,
    size=views.size,
    utc=views.utc,
    every=views.every,
    status_words=views.status_words,
    plural=plural,
)
templates.env.globals.update(
    wizard=WIZARD,
    phase_order=run_phases(),
    phase_labels=views.PHASE_LABELS,
    transforms=views.TRANSFORMS,
    skippable=views.SKIPPABLE,
    event_detail=views.event_detail,
)


class _LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=303, headers={"Location": "/app/login"})


class _FormRefused(HTTPException):
    """A POST without this session's CSRF token: another site's form, or a page older than its session."""

    def __init__(self) -> None:
        super().__init__(
            status_code=403,
            detail="form refused: it was not sent from this site's page, or the page is out of date. "
            "Reload the page and try again.",
        )


def _service(request: Request) -> MigrationService:
    return request.app.state.service


def _intake(request: Request) -> IntakeService:
    state = request.app.state
    if getattr(state, "intake", None) is None:
        svc = state.service
        state.intake = IntakeService(svc.settings, svc.sessions, svc.temporal)
    return state.intake


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookie(request: Request, response: Response, name: str, value: str, path: str = "/app") -> None:
    # HttpOnly: no script reads it; SameSite=Strict: no other site's request carries it.
    response.set_cookie(name, value, path=path, httponly=True, samesite="strict", secure=_https(request))


async def _who(request: Request) -> Principal:
    """The web session's principal; a POST must also carry that session's CSRF token.

    With auth off a browser without a session gets one (of the local user) on its first page; with
    auth on it is sent to sign in.
    """
    state = request.app.state
    sessions = _service(request).sessions
    session_id = request.cookies.get(SESSION_COOKIE)
    auth_off = state.auth_mode == "off"
    found = await find_session(sessions, session_id, auth_off, state.settings.tenant) if session_id else None
    if found is None:
        if not auth_off:
            raise _LoginRequired()
        if request.method != "GET":
            raise _FormRefused()
        local = Principal(tenant=state.settings.tenant, actor=LOCAL_ACTOR, admin=True)
        session_id, csrf = await open_session(sessions, local, state.settings.web_session_hours)
        request.state.new_session = session_id
        request.state.csrf_token = csrf
        return local
    if request.method != "GET" and not same_secret((await request.form()).get(CSRF_FIELD), found.csrf_token):
        raise _FormRefused()
    request.state.csrf_token = found.csrf_token
    return found.principal


def _remember(request: Request, response: R) -> R:
    """Hands a session opened during this request to the browser."""
    session_id = getattr(request.state, "new_session", None)
    if session_id:
        _set_cookie(request, response, SESSION_COOKIE, session_id)
    return response


def _fragment(request: Request) -> bool:
    return request.headers.get("x-fragment") == "1"


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("csrf_token", getattr(request.state, "csrf_token", ""))
    return _remember(request, templates.TemplateResponse(request, name, context, status_code=status_code))


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


FIELD_LABELS = {
    "organization_url": "Organization URL",
    "site_url": "Site URL",
    "project": "Project",
    "pat": "Personal access token",
    "api_token": "API token",
    "email": "E-mail",
    "name": "Name",
    "project_key": "Jira project key",
    "source_connection_id": "From",
    "target_connection_id": "To",
}


PROJECT_KEY_RULE = "must be 2 to 10 capital letters, digits or _, starting with a letter"


def _invalid(err: ValidationError) -> str:
    """What is wrong with a form, per field, in words; never the value typed (it may be a secret)."""
    problems = []
    for e in err.errors(include_input=False):
        field = str(e["loc"][0]) if e["loc"] else "form"
        message = PROJECT_KEY_RULE if field == "project_key" else e["msg"]
        problems.append(f"{FIELD_LABELS.get(field, field)}: {message}")
    return "; ".join(problems)


async def _migration(request: Request, who: Principal, migration_id: str):
    try:
        return await _service(request).get_migration(who.tenant, migration_id)
    except NotFound:
        raise HTTPException(404, f"migration {migration_id} not found") from None


# --- static, login, home ----------------------------------------------------------------------


@router.get("/")
async def root() -> RedirectResponse:
    return _see("/app")


@router.get("/app/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


def _login_page(request: Request, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    """The sign-in form with a fresh double-submit token: its cookie and its hidden field must match."""
    csrf = new_secret()
    response = _page(request, "login.html", status_code=status_code, error=error, csrf_token=csrf)
    _set_cookie(request, response, LOGIN_COOKIE, csrf, path="/app/login")
    return response


@router.get("/app/login")
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/app/login")
async def login(request: Request) -> Response:
    form = await request.form()
    if not same_secret(form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE) or ""):
        return _login_page(request, status_code=403, error="The sign-in form was out of date: enter the token again.")
    token = str(form.get("token") or "").strip()
    try:
        principal = await principal_for_token(request, token or None)
    except HTTPException as err:
        return _login_page(request, status_code=401, error=str(err.detail))
    sessions = _service(request).sessions
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await end_session(sessions, previous)  # a new id on sign-in: a session id planted earlier is worth nothing
    session_id, _ = await open_session(sessions, principal, request.app.state.settings.web_session_hours)
    response = _see("/app")
    _set_cookie(request, response, SESSION_COOKIE, session_id)
    response.delete_cookie(LOGIN_COOKIE, path="/app/login")
    return response


@router.post("/app/logout")
async def logout(request: Request) -> Response:
    try:
        await _who(request)
    except _LoginRequired:
        pass  # nothing to end
    else:
        await end_session(_service(request).sessions, request.cookies[SESSION_COOKIE])
    response = _see("/app/login")
    response.delete_cookie(SESSION_COOKIE, path="/app", httponly=True, samesite="strict", secure=_https(request))
    return response


# What a redirect back to the list says was done (a fixed text per key: nothing from the URL is echoed).
HOME_NOTICES = {"renamed": "Migration renamed.", "deleted": "Migration deleted; its audit trail stays."}


@router.get("/app")
async def home(request: Request, done: str | None = None) -> HTMLResponse:
    who = await _who(request)
    return await home_page(request, who, notice=HOME_NOTICES.get(done or ""))


async def home_page(
    request: Request, who: Principal, status_code: int = 200, notice: str | None = None, error: str | None = None
) -> HTMLResponse:
    svc = _service(request)
    migrations = await svc.list_migrations(who.tenant)
    latest_runs = {}
    for m in migrations:
        latest_runs[m.id] = svc.standing_run(await svc.list_runs(who.tenant, m.id))
    connections = await _intake(request).list_connections(who.tenant)
    return _page(
        request,
        "home.html",
        status_code=status_code,
        who=who,
        migrations=migrations,
        latest_runs=latest_runs,
        connections=connections,
        notice=notice,
        error=error,
    )


# --- connect ------------------------------------------------------------------------------------


async def _connect_page(request: Request, who: Principal, status_code: int = 200, **context: Any) -> HTMLResponse:
    connections = await _intake(request).list_connections(who.tenant)
    return _page(
        request,
        "connect.html",
        status_code=status_code,
        who=who,
        step="connect",
        migration=None,
        ado=[c for c in connections if c.kind == "ado"],
        jira=[c for c in connections if c.kind != "ado"],
        **context,
    )


# What a redirect back to the connect page says was done (fixed texts: nothing from the URL is echoed).
CONNECT_NOTICES = {
    "rotated": "Secret tested and replaced; the migrations made from this connection use the new one.",
    "deleted": "Connection deleted.",
}


@router.get("/app/connect")
async def connect(request: Request, done: str | None = None) -> HTMLResponse:
    who = await _who(request)
    return await _connect_page(
        request, who, saved=request.query_params.get("saved"), notice=CONNECT_NOTICES.get(done or "")
    )


@router.post("/app/connections/{kind}")
async def save_connection(request: Request, kind: Literal["ado", "jira"]) -> Response:
    who = await _who(request)
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if k != CSRF_FIELD}
    try:
        # The API's own bodies: the web cannot save what POST /api/connections refuses.
        entered: AdoConnectionBody | JiraCloudConnectionBody
        if kind == "ado":
            entered = AdoConnectionBody(
                name=values.get("name") or "Azure DevOps",
                organization_url=values.get("organization_url", ""),
                project=values.get("project", ""),
                pat=SecretStr(values.get("pat", "")),
            )
        else:
            entered = JiraCloudConnectionBody(
                name=values.get("name") or "Jira",
                site_url=values.get("site_url", ""),
                email=values.get("email", ""),
                api_token=SecretStr(values.get("api_token", "")),
            )
        saved = await _intake(request).save_connection(who.tenant, entered, who.actor, "web")
    except (ConnectionRejected, SecretKeyMissing, ValidationError) as err:
        # Never echo the secret back; the other fields are kept so the person fixes only what is wrong.
        kept = {k: v for k, v in values.items() if k not in ("pat", "api_token")}
        message = _invalid(err) if isinstance(err, ValidationError) else str(err)
        return await _connect_page(request, who, status_code=400, errors={kind: message}, entered={kind: kept})
    return _see(f"/app/connect?saved={saved.id}")


@router.post("/app/migrations")
async def create_migration(request: Request) -> Response:
    who = await _who(request)
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    if not (form.get("ado_connection") and form.get("jira_connection") and form.get("project_key")):
        return await _connect_page(
            request, who, status_code=400, errors={"migration": "choose both connections and a Jira project key"}
        )
    try:
        # The API's body for the same request, so the key is checked as POST /api/migrations checks it.
        body = CreateFromConnectionsBody(
            name=form.get("name") or "ADO to Jira",
            source_connection_id=form["ado_connection"],
            target_connection_id=form["jira_connection"],
            project_key=form["project_key"].upper(),
        )
    except ValidationError as err:
        return await _connect_page(request, who, status_code=400, errors={"migration": _invalid(err)})
    try:
        migration_id = await _intake(request).create_migration_from_connections(
            who.tenant,
            body.name,
            body.source_connection_id,
            body.target_connection_id,
            body.project_key,
            who.actor,
            "web",
        )
    except NotFound as err:
        return await _connect_page(request, who, status_code=400, errors={"migration": str(err)})
    return _see(f"/app/migrations/{migration_id}/scan")


@router.get("/app/migrations/{migration_id}")
async def migration(request: Request, migration_id: str) -> RedirectResponse:
    who = await _who(request)
    await _migration(request, who, migration_id)
    runs = await _service(request).list_runs(who.tenant, migration_id)
    return _remember(request, _see(f"/app/runs/{runs[-1].id}" if runs else f"/app/migrations/{migration_id}/scan"))


# --- scan ---------------------------------------------------------------------------------------


async def _scan_context(request: Request, who: Principal, migration_id: str) -> dict[str, Any]:
    migration = await _migration(request, who, migration_id)
    scans = await _service(request).list_scans(who.tenant, migration_id)
    scan = scans[-1] if scans else None
    context: dict[str, Any] = dict(who=who, migration=migration, step="scan", scan=scan)
    if scan is not None and scan.status == "COMPLETED":
        context.update(
            catalog=Catalog.model_validate(scan.catalog),
            lint=LintReport.model_validate(scan.lint),
            quote=Quote.model_validate(scan.quote),
        )
    return context


@router.get("/app/migrations/{migration_id}/scan")
async def scan_page(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return _page(request, "scan.html", **await _scan_context(request, who, migration_id))


@router.get("/app/migrations/{migration_id}/scan/live")
async def scan_live(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return _page(request, "_scan_live.html", **await _scan_context(request, who, migration_id))


@router.post("/app/migrations/{migration_id}/scan")
async def start_scan(request: Request, migration_id: str) -> RedirectResponse:
    who = await _who(request)
    await _migration(request, who, migration_id)
    await _intake(request).start_scan(who.tenant, migration_id, who.actor, "web")
    return _see(f"/app/migrations/{migration_id}/scan")


# --- mapping ------------------------------------------------------------------------------------


async def _mapping_page(
    request: Request, who: Principal, migration_id: str, status_code: int = 200, error: str | None = None
) -> HTMLResponse:
    migration = await _migration(request, who, migration_id)
    intake = _intake(request)
    row, plan = await intake.plan(who.tenant, migration_id)
    history = await intake.plan_versions(who.tenant, migration_id)
    users, users_error = None, None
    try:
        users = await intake.user_table(who.tenant, migration_id, row.version)
    except ServiceUnreachable as err:  # the rest of the plan stays editable
        users_error = str(err)
    options, options_error = None, None
    try:
        options = await intake.jira_options(who.tenant, migration_id)
    except ServiceUnreachable as err:  # without the lists the values are typed, and still checked on save
        options_error = str(err)
    scans = [s for s in await _service(request).list_scans(who.tenant, migration_id) if s.status == "COMPLETED"]
    catalog = Catalog.model_validate(scans[-1].catalog) if scans else None
    source_states = {t: [s.name for s in states] for t, states in catalog.type_states.items()} if catalog else None
    return _page(
        request,
        "mapping.html",
        status_code=status_code,
        who=who,
        migration=migration,
        step="mapping",
        version=row,
        plan=plan,
        rows=views.plan_rows(plan, options, source_states),
        fields=views.field_rows(plan, options, catalog),
        jira_fields=sorted(options.fields, key=lambda f: f.name.lower()) if options else [],
        options=options,
        options_error=options_error,
        history=list(reversed(history)),
        approved=row.status == APPROVED,
        to_acknowledge=await intake.findings_to_acknowledge(who.tenant, migration_id),
        error=error,
        edit=request.query_params.get("edit") == "1",
        users=users,
        users_error=users_error,
    )


def _refused(err: UnknownJiraValue, what: str) -> str:
    return f"{what}: " + " · ".join(err.problems)


@router.get("/app/migrations/{migration_id}/mapping")
async def mapping(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return await _mapping_page(request, who, migration_id)


@router.post("/app/migrations/{migration_id}/mapping")
async def edit_mapping(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    intake = _intake(request)
    form = await request.form()
    try:
        base_version = int(str(form.get("base_version") or "0"))
        row, plan = await intake.plan(who.tenant, migration_id, base_version)
        await intake.edit_plan(who.tenant, migration_id, base_version, views.apply_form(plan, form), who.actor, "web")
    except UnknownJiraValue as err:
        return await _mapping_page(request, who, migration_id, status_code=422, error=_refused(err, "Not saved"))
    except (VersionConflict, ValueError, ValidationError) as err:
        return await _mapping_page(request, who, migration_id, status_code=409, error=str(err))
    return _see(f"/app/migrations/{migration_id}/mapping")


@router.get("/app/migrations/{migration_id}/jira-users")
async def jira_users(request: Request, migration_id: str, query: str = "") -> JSONResponse:
    """The picker's search, for the signed-in page: the API's /jira-users with the web session."""
    who = await _who(request)
    if not query.strip() or len(query) > 200:
        return JSONResponse([])
    try:
        found = await _intake(request).search_jira_users(who.tenant, migration_id, query.strip())
    except ServiceUnreachable as err:
        return JSONResponse({"detail": str(err)}, status_code=502)
    return JSONResponse([u.model_dump() for u in found])


@router.post("/app/migrations/{migration_id}/mapping/approve")
async def approve_mapping(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    form = await request.form()
    try:
        await _intake(request).approve_plan(
            who.tenant,
            migration_id,
            int(str(form.get("version") or "0")),
            who.actor,
            "web",
            acknowledged=[str(v) for v in form.getlist("acknowledge")],
        )
    except UnknownJiraValue as err:
        return await _mapping_page(request, who, migration_id, status_code=422, error=_refused(err, "Not approved"))
    except ServiceUnreachable as err:
        return await _mapping_page(request, who, migration_id, status_code=502, error=str(err))
    except (VersionConflict, ValueError) as err:
        return await _mapping_page(request, who, migration_id, status_code=409, error=str(err))
    return _see(f"/app/migrations/{migration_id}/mapping")


# --- preview ------------------------------------------------------------------------------------


async def _preview_context(request: Request, who: Principal, migration_id: str) -> dict[str, Any]:
    migration = await _migration(request, who, migration_id)
    previews = await _service(request).list_previews(who.tenant, migration_id)
    preview = previews[-1] if previews else None
    report = (
        PreviewReport.model_validate(preview.report) if preview is not None and preview.status == "COMPLETED" else None
    )
    return dict(who=who, migration=migration, step="preview", preview=preview, report=report)


@router.get("/app/migrations/{migration_id}/preview")
async def preview_page(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return _page(request, "preview.html", **await _preview_context(request, who, migration_id))


@router.get("/app/migrations/{migration_id}/preview/live")
async def preview_live(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return _page(request, "_preview_live.html", **await _preview_context(request, who, migration_id))


@router.post("/app/migrations/{migration_id}/preview")
async def start_preview(request: Request, migration_id: str) -> RedirectResponse:
    who = await _who(request)
    await _migration(request, who, migration_id)
    await _intake(request).start_preview(who.tenant, migration_id, who.actor, "web")
    return _see(f"/app/migrations/{migration_id}/preview")


# --- checkout and run ---------------------------------------------------------------------------


def _billing(request: Request) -> BillingService | None:
    """The checkout service, as the API's checkout routes get it; None when billing is off (MIGRAYT_BILLING=off)."""
    billing = billing_service(request)
    return billing if billing.billing.enabled else None


async def _checkout_page(
    request: Request, who: Principal, migration_id: str, status_code: int = 200, error: str | None = None
) -> HTMLResponse:
    migration = await _migration(request, who, migration_id)
    intake = _intake(request)
    row, _ = await intake.plan(who.tenant, migration_id)
    scans = await _service(request).list_scans(who.tenant, migration_id)
    quote = Quote.model_validate(scans[-1].quote) if scans and scans[-1].status == "COMPLETED" else None
    billing = _billing(request)
    checkout = None
    if billing is not None:
        try:
            checkout = await billing.latest_checkout(who.tenant, migration_id)
        except NotFound:
            checkout = None  # none started yet
    async with _service(request).sessions() as session:
        refusal = await preview_refusal(session, migration_id)
    return _page(
        request,
        "checkout.html",
        status_code=status_code,
        who=who,
        migration=migration,
        step="checkout",
        version=row,
        approved=row.status == APPROVED,
        quote=quote,
        billing=billing,
        checkout=checkout,
        error=None if error == refusal else error,
        refusal=refusal,
    )


@router.get("/app/migrations/{migration_id}/checkout")
async def checkout_page(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return await _checkout_page(request, who, migration_id)


@router.post("/app/migrations/{migration_id}/checkout")
async def checkout(request: Request, migration_id: str) -> Response:
    """A Stripe Checkout Session for the latest quote, then off to Stripe's page (a paid one comes back here)."""
    who = await _who(request)
    await _migration(request, who, migration_id)
    billing = _billing(request)
    if billing is None:
        return _see(f"/app/migrations/{migration_id}/checkout")
    try:
        view = await billing.create_checkout(who.tenant, migration_id, actor=who.actor, door="web")
    except RunConflict as err:  # no quote yet
        return await _checkout_page(request, who, migration_id, status_code=409, error=str(err))
    except BillingMisconfigured as err:
        return await _checkout_page(request, who, migration_id, status_code=503, error=str(err))
    except PaymentProviderError as err:
        return await _checkout_page(request, who, migration_id, status_code=502, error=str(err))
    if view.status == "paid" or not view.url:
        return _see(f"/app/migrations/{migration_id}/checkout")
    return _see(view.url)


@router.post("/app/migrations/{migration_id}/runs")
async def start_run(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    await _migration(request, who, migration_id)
    try:
        run_id = await _service(request).start_run(who.tenant, migration_id, who.actor, "web")
    except RunConflict as err:
        return await _checkout_page(request, who, migration_id, status_code=409, error=str(err))
    return _see(f"/app/runs/{run_id}")


# The live page shows the first failures; the complete list is one click away (failures.html).
LIVE_FAILURES = 20


async def _run_context(
    request: Request, who: Principal, run_id: str, notice: str | None = None, error: str | None = None
) -> dict[str, Any]:
    svc = _service(request)
    try:
        report = await svc.run_report(who.tenant, run_id, failures_limit=LIVE_FAILURES)
    except NotFound:
        raise HTTPException(404, f"run {run_id} not found") from None
    migration = await svc.get_migration(who.tenant, report.migration_id)
    events = await svc.run_trail(who.tenant, report.migration_id, report.run_id)
    status = RunStatus(report.status)
    kind = run_kind(report.run_id)
    return dict(
        who=who,
        migration=migration,
        step="run",
        run=report,
        kind=kind.value,
        bars=views.phase_bars(status, report.phase, report.counters, report.phases, report.phases_running),
        final=status in FINAL_STATUSES,
        can_pause=status == RunStatus.RUNNING and not report.pause_requested,
        can_resume=status == RunStatus.PAUSED or report.pause_requested,
        can_cancel=status not in FINAL_STATUSES,
        # An undo is taken up again from the undo page (a dry run first), never re-run as a migration.
        can_rerun=kind != RunKind.UNDO and status in RERUNNABLE,
        events=events,
        notice=notice,
        error=error,
    )


@router.get("/app/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    who = await _who(request)
    context = await _run_context(request, who, run_id)
    listed = await request.app.state.savepoints.list_savepoints(who.tenant, run_id)
    return _page(request, "run.html", savepoints=listed, **context)


@router.get("/app/runs/{run_id}/savepoints/{name}")
async def download_savepoint(request: Request, run_id: str, name: str) -> Response:
    who = await _who(request)
    try:
        data = await request.app.state.savepoints.read_savepoint(who.tenant, run_id, name)
    except NotFound:
        raise HTTPException(404, f"no savepoint {name} for run {run_id}") from None
    return Response(
        data, media_type="application/json", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/app/runs/{run_id}/live")
async def run_live(request: Request, run_id: str) -> HTMLResponse:
    who = await _who(request)
    return _page(request, "_run_live.html", **await _run_context(request, who, run_id))


@router.post("/app/runs/{run_id}/{action}")
async def control_run(request: Request, run_id: str, action: Literal["pause", "resume", "cancel", "rerun"]) -> Response:
    who = await _who(request)
    svc = _service(request)
    notice = error = None
    try:
        if action == "rerun":
            new_run = await svc.rerun(who.tenant, run_id, who.actor, "web")
            return _see(f"/app/runs/{new_run}")
        await svc.control(who.tenant, run_id, action, who.actor, "web")
        notice = {
            "pause": "Pause requested: running batches finish, no new ones start.",
            "resume": "Resumed.",
            "cancel": "Cancel requested.",
        }[action]
    except NotFound:
        raise HTTPException(404, f"run {run_id} not found") from None
    except RunConflict as err:
        error = str(err)
    if _fragment(request):
        return _page(
            request,
            "_run_live.html",
            status_code=409 if error else 200,
            **await _run_context(request, who, run_id, notice, error),
        )
    return _see(f"/app/runs/{run_id}")


@router.get("/app/runs/{run_id}/report.{fmt}")
async def run_report_download(request: Request, run_id: str, fmt: Literal["html", "csv", "json"]) -> Response:
    who = await _who(request)
    try:
        report = await _service(request).run_report_document(who.tenant, run_id)
    except NotFound:
        raise HTTPException(404, f"run {run_id} not found") from None
    return Response(
        content=report_render.render(report, fmt),
        media_type=report_render.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{report_render.file_name(report, fmt)}"'},
    )


FAILURES_PER_PAGE = 100


@router.get("/app/runs/{run_id}/failures")
async def failures(
    request: Request, run_id: str, phase: str | None = None, page: int = 1, accepted: int | None = None
) -> HTMLResponse:
    notice = f"{plural(accepted, 'failure')} accepted." if accepted is not None else None
    return await failures_page(request, run_id, phase=phase, page=page, notice=notice)


async def failures_page(
    request: Request,
    run_id: str,
    *,
    phase: str | None = None,
    page: int = 1,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The failures of a run, grouped by reason, with the forms that accept them, and those accepted already."""
    who = await _who(request)
    svc = _service(request)
    page = max(page, 1)
    try:
        run = await svc.get_run(who.tenant, run_id)
        listing = await svc.failure_page(
            who.tenant, run_id, phase=phase or None, offset=(page - 1) * FAILURES_PER_PAGE, limit=FAILURES_PER_PAGE
        )
    except NotFound:
        raise HTTPException(404, f"run {run_id} not found") from None
    migration = await svc.get_migration(who.tenant, run.migration_id)
    return _page(
        request,
        "failures.html",
        status_code=status_code,
        who=who,
        migration=migration,
        step="run",
        run_id=run_id,
        run=run,
        final=RunStatus(run.status) in FINAL_STATUSES,
        accepted=await svc.accepted_failures(who.tenant, run_id),
        notice=notice,
        error=error,
        listing=listing,
        page=page,
        pages=max(1, -(-listing.total // FAILURES_PER_PAGE)),
        phases=list(run_phases()),  # preflight too: its lookups (users, areas, iterations) fail on their own
    )


@router.get("/app/migrations/{migration_id}/items")
async def item_trace_page(request: Request, migration_id: str, q: str = "", run: str | None = None) -> HTMLResponse:
    who = await _who(request)
    svc = _service(request)
    try:
        migration = await svc.get_migration(who.tenant, migration_id)
    except NotFound:
        raise HTTPException(404, f"migration {migration_id} not found") from None
    trace = error = None
    if q.strip():
        try:
            trace = await svc.item_trace(who.tenant, migration_id, q[:64])
        except NotFound as err:
            error = str(err)
    return _page(
        request,
        "item.html",
        status_code=404 if error else 200,
        who=who,
        migration=migration,
        step="run",
        q=q,
        run_id=run,
        trace=trace,
        error=error,
    )


# --- schedules ----------------------------------------------------------------------------------

SCHEDULE_NOTICES = {
    "cutover": "Cutover scheduled.",
    "delta": "Delta sync scheduled.",
    "pause": "Schedule paused: it starts nothing until resumed.",
    "resume": "Schedule resumed.",
    "trigger": "Started now (skipped if one of its runs is still going).",
    "delete": "Schedule deleted.",
}


async def _last_result(request: Request, who: Principal, view: ScheduleView) -> dict[str, str] | None:
    """What the schedule's latest action led to: the run it started and that run's status."""
    if not view.recent_runs:
        return None
    started = view.recent_runs[-1]
    svc = _service(request)
    try:
        run = await svc.get_run(who.tenant, started)  # a delta sync's workflow is the run
        return {"run_id": run.id, "status": run.status}
    except NotFound:
        pass
    # A cutover's action starts a normal run through the service; its result names that run.
    handle = svc.temporal.get_workflow_handle(started, result_type=ScheduledRunResult)
    try:
        status = (await handle.describe()).status
        if status != WorkflowExecutionStatus.COMPLETED:
            return {"status": status.name if status else "UNKNOWN"}
        result = await handle.result()
    except RPCError:
        return {"status": "UNKNOWN"}
    if result.run_id:
        try:
            run = await svc.get_run(who.tenant, result.run_id)
            return {"run_id": run.id, "status": run.status}
        except NotFound:
            return {"run_id": result.run_id, "status": "STARTED"}
    return {"status": "SKIPPED", "reason": result.skipped or ""}


async def _schedules_page(
    request: Request,
    who: Principal,
    migration_id: str,
    status_code: int = 200,
    error: str | None = None,
    entered: dict[str, str] | None = None,
) -> HTMLResponse:
    migration = await _migration(request, who, migration_id)
    schedules = await schedule_service(request).list(who.tenant, migration_id)
    results = {s.schedule_id: await _last_result(request, who, s) for s in schedules}
    runs = await _service(request).list_runs(who.tenant, migration_id)
    now = datetime.now(UTC)
    return _page(
        request,
        "schedules.html",
        status_code=status_code,
        who=who,
        migration=migration,
        step="schedules",
        schedules=schedules,
        results=results,
        latest_run=next((r for r in reversed(runs) if run_kind(r.id) != RunKind.UNDO), None),
        error=error,
        entered=entered or {},
        notice=SCHEDULE_NOTICES.get(request.query_params.get("done", "")),
        now=now,
        suggested_at=(now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0),
    )


@router.get("/app/migrations/{migration_id}/schedules")
async def schedules_page(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return await _schedules_page(request, who, migration_id)


def _cutover_time(value: str) -> datetime:
    """The form's date-time is UTC (the page says so); an explicit offset is honoured."""
    if not value:
        raise ScheduleInvalid("enter the date and time of the cutover (UTC)")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleInvalid(f"{value!r} is not a date and time (use YYYY-MM-DD HH:MM, UTC)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _every(value: str) -> timedelta | None:
    if not value:
        return None
    try:
        minutes = int(value)
    except ValueError:
        raise ScheduleInvalid(f"the interval must be a whole number of minutes, not {value!r}") from None
    if not 0 < minutes <= views.MAX_DELTA_MINUTES:
        raise ScheduleInvalid(f"the interval must be between 1 and {views.MAX_DELTA_MINUTES} minutes")
    return timedelta(minutes=minutes)


@router.post("/app/migrations/{migration_id}/schedules/{kind}")
async def create_schedule(request: Request, migration_id: str, kind: Literal["cutover", "delta"]) -> Response:
    who = await _who(request)
    await _migration(request, who, migration_id)
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    svc = schedule_service(request)
    try:
        if kind == "cutover":
            await svc.create_cutover(
                who.tenant, migration_id, _cutover_time(form.get("at", "")), actor=who.actor, door="web"
            )
        else:
            await svc.create_delta(
                who.tenant,
                migration_id,
                actor=who.actor,
                door="web",
                every=_every(form.get("every_minutes", "")),
                cron=form.get("cron") or None,
                paused="paused" in form,
            )
    except (ScheduleInvalid, ScheduleLimitReached) as err:
        return await _schedules_page(
            request, who, migration_id, status_code=422, error=str(err), entered={"kind": kind, **form}
        )
    return _see(f"/app/migrations/{migration_id}/schedules?done={kind}")


@router.post("/app/schedules/{schedule_id}/{action}")
async def change_schedule(
    request: Request, schedule_id: str, action: Literal["pause", "resume", "trigger", "delete"]
) -> Response:
    who = await _who(request)
    svc = schedule_service(request)
    try:
        view = await svc.get(who.tenant, schedule_id)
    except NotFound:
        raise HTTPException(404, f"schedule {schedule_id} not found") from None
    try:
        if action == "delete":
            await svc.delete(who.tenant, schedule_id, actor=who.actor, door="web")
        else:
            act = {"pause": svc.pause, "resume": svc.resume, "trigger": svc.trigger}[action]
            await act(who.tenant, schedule_id, actor=who.actor, door="web")
    except NotFound:
        raise HTTPException(404, f"schedule {schedule_id} not found") from None
    except (RunConflict, RPCError) as err:
        message = err.message if isinstance(err, RPCError) else str(err)
        return await _schedules_page(
            request, who, view.migration_id, status_code=409, error=f"Could not {action} {schedule_id}: {message}"
        )
    return _see(f"/app/migrations/{view.migration_id}/schedules?done={action}")


# --- undo ---------------------------------------------------------------------------------------


def _undo(request: Request) -> UndoService:
    state = request.app.state
    if getattr(state, "undo", None) is None:
        svc = state.service
        state.undo = UndoService(svc.settings, svc.sessions, svc.temporal)
    return state.undo


async def _undo_page(
    request: Request,
    who: Principal,
    migration_id: str,
    plan: UndoPlan | None = None,
    force: list[str] | None = None,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    migration = await _migration(request, who, migration_id)
    try:
        last = await _undo(request).progress(who.tenant, await _undo(request).latest(who.tenant, migration_id))
    except NotFound:
        last = None
    return _page(
        request,
        "undo.html",
        status_code=status_code,
        who=who,
        migration=migration,
        step="run",
        plan=plan,
        force=force or [],
        force_categories=FORCE_CATEGORIES,
        last=last,
        error=error,
    )


@router.get("/app/migrations/{migration_id}/undo")
async def undo_page(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return await _undo_page(request, who, migration_id)


@router.post("/app/migrations/{migration_id}/undo/dry-run")
async def undo_dry_run(request: Request, migration_id: str) -> HTMLResponse:
    """What would go: counts, samples, and what others built on (held back unless forced)."""
    who = await _who(request)
    force = [str(f) for f in (await request.form()).getlist("force")]
    try:
        plan = await _undo(request).dry_run(who.tenant, migration_id, force)
    except UnknownForce as err:
        return await _undo_page(request, who, migration_id, status_code=422, error=str(err))
    return await _undo_page(request, who, migration_id, plan=plan, force=force)


@router.post("/app/migrations/{migration_id}/undo")
async def undo_start(request: Request, migration_id: str) -> Response:
    """The undo, once the number typed is the dry run's count of what goes."""
    who = await _who(request)
    form = await request.form()
    force = [str(f) for f in form.getlist("force")]
    typed = str(form.get("confirm") or "").strip().replace(",", "")
    if not typed.isdigit():
        return await _undo_page(
            request, who, migration_id, force=force, status_code=422, error="type the number of items that will go"
        )
    try:
        run_id = await _undo(request).start(who.tenant, migration_id, int(typed), who.actor, "web", force)
    except (RunConflict, UnknownForce) as err:
        return await _undo_page(request, who, migration_id, force=force, status_code=409, error=str(err))
    return _see(f"/app/runs/{run_id}")
