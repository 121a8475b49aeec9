"""The web app: the wizard (connect → scan → map → preview → checkout → run) and the progress screen.

Server-rendered pages over the same services the HTTP API calls. Forms work without JavaScript
(POST, then a redirect); /static/app.js only polls the live parts and submits the run buttons in
place, so a click acts within a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import SecretStr, ValidationError

from migrayt.activities.preview.dry_run import PreviewReport
from migrayt.api.auth import Principal, principal_for_token
from migrayt.api.intake_service import IntakeService
from migrayt.api.service import MigrationService, NotFound, RunConflict
from migrayt.api.web import views
from migrayt.connections_store import (
    AdoConnectionInput,
    ConnectionRejected,
    JiraCloudConnectionInput,
    SecretKeyMissing,
)
from migrayt.intake.catalog import Catalog
from migrayt.intake.lint import LintReport
from migrayt.intake.quote import Quote
from migrayt.mapping.versions import APPROVED, VersionConflict
from migrayt.workflows.run_models import FINAL_STATUSES, PHASES, RunStatus

HERE = Path(__file__).parent
STATIC = {"app.css": "text/css", "app.js": "text/javascript"}
TOKEN_COOKIE = "migrayt_token"
WIZARD = (("connect", "Connect"), ("scan", "Scan"), ("mapping", "Mapping"), ("preview", "Preview"), ("checkout", "Checkout"), ("run", "Run"))

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(duration=views.duration, size=views.size)
templates.env.globals.update(wizard=WIZARD, phase_order=PHASES, phase_labels=views.PHASE_LABELS, transforms=views.TRANSFORMS, skippable=views.SKIPPABLE, event_detail=views.event_detail)


class _LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=303, headers={"Location": "/app/login"})


def _service(request: Request) -> MigrationService:
    return request.app.state.service


def _intake(request: Request) -> IntakeService:
    state = request.app.state
    if getattr(state, "intake", None) is None:
        svc = state.service
        state.intake = IntakeService(svc.settings, svc.sessions, svc.temporal)
    return state.intake


async def _who(request: Request) -> Principal:
    """The API's own rule: a tenant token (kept in a cookie here), or the embedded default's user."""
    try:
        return await principal_for_token(request, request.cookies.get(TOKEN_COOKIE))
    except HTTPException as err:
        if err.status_code == 401:
            raise _LoginRequired() from None
        raise


def _fragment(request: Request) -> bool:
    return request.headers.get("x-fragment") == "1"


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


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


@router.get("/app/login")
async def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    return _page(request, "login.html", error=error)


@router.post("/app/login")
async def login(request: Request) -> Response:
    token = str((await request.form()).get("token") or "").strip()
    try:
        await principal_for_token(request, token or None)
    except HTTPException as err:
        return _page(request, "login.html", status_code=401, error=str(err.detail))
    response = _see("/app")
    # SameSite=Strict: another site's form cannot act with this cookie.
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/app/logout")
async def logout() -> Response:
    response = _see("/app/login")
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/app")
async def home(request: Request) -> HTMLResponse:
    who = await _who(request)
    svc = _service(request)
    migrations = await svc.list_migrations(who.tenant)
    latest_runs = {}
    for m in migrations:
        runs = await svc.list_runs(who.tenant, m.id)
        latest_runs[m.id] = runs[-1] if runs else None
    connections = await _intake(request).list_connections(who.tenant)
    return _page(request, "home.html", who=who, migrations=migrations, latest_runs=latest_runs, connections=connections)


# --- connect ------------------------------------------------------------------------------------


async def _connect_page(request: Request, who: Principal, status_code: int = 200, **context: Any) -> HTMLResponse:
    connections = await _intake(request).list_connections(who.tenant)
    return _page(
        request, "connect.html", status_code=status_code, who=who, step="connect", migration=None,
        ado=[c for c in connections if c.kind == "ado"], jira=[c for c in connections if c.kind != "ado"], **context,
    )


@router.get("/app/connect")
async def connect(request: Request) -> HTMLResponse:
    who = await _who(request)
    return await _connect_page(request, who, saved=request.query_params.get("saved"))


@router.post("/app/connections/{kind}")
async def save_connection(request: Request, kind: Literal["ado", "jira"]) -> Response:
    who = await _who(request)
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items()}
    try:
        if kind == "ado":
            entered = AdoConnectionInput(
                name=values.get("name") or "Azure DevOps", organization_url=values.get("organization_url", ""),
                project=values.get("project", ""), pat=SecretStr(values.get("pat", "")),
            )
        else:
            entered = JiraCloudConnectionInput(
                name=values.get("name") or "Jira", site_url=values.get("site_url", ""), email=values.get("email", ""),
                api_token=SecretStr(values.get("api_token", "")),
            )
        if not all(values.get(k) for k in (("organization_url", "project", "pat") if kind == "ado" else ("site_url", "email", "api_token"))):
            raise ConnectionRejected("fill in every field")
        saved = await _intake(request).save_connection(who.tenant, entered, who.actor, "web")
    except (ConnectionRejected, SecretKeyMissing, ValidationError) as err:
        # Never echo the secret back; the other fields are kept so the person fixes only what is wrong.
        kept = {k: v for k, v in values.items() if k not in ("pat", "api_token")}
        return await _connect_page(request, who, status_code=400, errors={kind: str(err)}, entered={kind: kept})
    return _see(f"/app/connect?saved={saved.id}")


@router.post("/app/migrations")
async def create_migration(request: Request) -> Response:
    who = await _who(request)
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    if not (form.get("ado_connection") and form.get("jira_connection") and form.get("project_key")):
        return await _connect_page(request, who, status_code=400, errors={"migration": "choose both connections and a Jira project key"})
    try:
        migration_id = await _intake(request).create_migration_from_connections(
            who.tenant, form.get("name") or "ADO to Jira", form["ado_connection"], form["jira_connection"],
            form["project_key"].upper(), who.actor, "web",
        )
    except NotFound as err:
        return await _connect_page(request, who, status_code=400, errors={"migration": str(err)})
    return _see(f"/app/migrations/{migration_id}/scan")


@router.get("/app/migrations/{migration_id}")
async def migration(request: Request, migration_id: str) -> RedirectResponse:
    who = await _who(request)
    await _migration(request, who, migration_id)
    runs = await _service(request).list_runs(who.tenant, migration_id)
    return _see(f"/app/runs/{runs[-1].id}" if runs else f"/app/migrations/{migration_id}/scan")


# --- scan ---------------------------------------------------------------------------------------


async def _scan_context(request: Request, who: Principal, migration_id: str) -> dict[str, Any]:
    migration = await _migration(request, who, migration_id)
    scans = await _service(request).list_scans(who.tenant, migration_id)
    scan = scans[-1] if scans else None
    context: dict[str, Any] = dict(who=who, migration=migration, step="scan", scan=scan)
    if scan is not None and scan.status == "COMPLETED":
        context.update(
            catalog=Catalog.model_validate(scan.catalog), lint=LintReport.model_validate(scan.lint), quote=Quote.model_validate(scan.quote)
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


async def _mapping_page(request: Request, who: Principal, migration_id: str, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    migration = await _migration(request, who, migration_id)
    intake = _intake(request)
    row, plan = await intake.plan(who.tenant, migration_id)
    history = await intake.plan_versions(who.tenant, migration_id)
    return _page(
        request, "mapping.html", status_code=status_code, who=who, migration=migration, step="mapping", version=row, plan=plan,
        rows=views.plan_rows(plan), fields=views.field_rows(plan), history=list(reversed(history)), approved=row.status == APPROVED,
        error=error, edit=request.query_params.get("edit") == "1",
    )


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
    except (VersionConflict, ValueError, ValidationError) as err:
        return await _mapping_page(request, who, migration_id, status_code=409, error=str(err))
    return _see(f"/app/migrations/{migration_id}/mapping")


@router.post("/app/migrations/{migration_id}/mapping/approve")
async def approve_mapping(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    form = await request.form()
    try:
        await _intake(request).approve_plan(who.tenant, migration_id, int(str(form.get("version") or "0")), who.actor, "web")
    except (VersionConflict, ValueError) as err:
        return await _mapping_page(request, who, migration_id, status_code=409, error=str(err))
    return _see(f"/app/migrations/{migration_id}/mapping")


# --- preview ------------------------------------------------------------------------------------


async def _preview_context(request: Request, who: Principal, migration_id: str) -> dict[str, Any]:
    migration = await _migration(request, who, migration_id)
    previews = await _service(request).list_previews(who.tenant, migration_id)
    preview = previews[-1] if previews else None
    report = PreviewReport.model_validate(preview.report) if preview is not None and preview.status == "COMPLETED" else None
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


def _billing(request: Request) -> Any | None:
    """The checkout service when billing is on (MIGRAYT_BILLING); None on the embedded default."""
    settings = _service(request).settings
    if str(getattr(settings, "billing", "off")).lower() in ("", "off", "false", "0"):
        return None
    return getattr(request.app.state, "billing", None)


async def _checkout_page(request: Request, who: Principal, migration_id: str, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    migration = await _migration(request, who, migration_id)
    intake = _intake(request)
    row, _ = await intake.plan(who.tenant, migration_id)
    scans = await _service(request).list_scans(who.tenant, migration_id)
    quote = Quote.model_validate(scans[-1].quote) if scans and scans[-1].status == "COMPLETED" else None
    billing = _billing(request)
    checkout = None
    if billing is not None and hasattr(billing, "checkout_status"):
        checkout = await billing.checkout_status(who.tenant, migration_id)
    return _page(
        request, "checkout.html", status_code=status_code, who=who, migration=migration, step="checkout", version=row,
        approved=row.status == APPROVED, quote=quote, billing=billing, checkout=checkout, error=error,
    )


@router.get("/app/migrations/{migration_id}/checkout")
async def checkout_page(request: Request, migration_id: str) -> HTMLResponse:
    who = await _who(request)
    return await _checkout_page(request, who, migration_id)


@router.post("/app/migrations/{migration_id}/checkout")
async def checkout(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    billing = _billing(request)
    if billing is None:
        return _see(f"/app/migrations/{migration_id}/checkout")
    base = str(request.base_url).rstrip("/")
    back = f"{base}/app/migrations/{migration_id}/checkout"
    url = await billing.start_checkout(who.tenant, migration_id, success_url=f"{back}?paid=1", cancel_url=back, actor=who.actor, door="web")
    return _see(url)


@router.post("/app/migrations/{migration_id}/runs")
async def start_run(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    await _migration(request, who, migration_id)
    try:
        run_id = await _service(request).start_run(who.tenant, migration_id, who.actor, "web")
    except RunConflict as err:
        return await _checkout_page(request, who, migration_id, status_code=409, error=str(err))
    return _see(f"/app/runs/{run_id}")


async def _run_context(request: Request, who: Principal, run_id: str, notice: str | None = None, error: str | None = None) -> dict[str, Any]:
    svc = _service(request)
    try:
        report = await svc.run_report(who.tenant, run_id)
    except NotFound:
        raise HTTPException(404, f"run {run_id} not found") from None
    migration = await svc.get_migration(who.tenant, report.migration_id)
    events = await svc.audit_events(who.tenant, migration_id=report.migration_id, limit=1000)
    status = RunStatus(report.status)
    return dict(
        who=who, migration=migration, step="run", run=report, bars=views.phase_bars(status, report.phase, report.counters),
        final=status in FINAL_STATUSES, can_pause=status == RunStatus.RUNNING and not report.pause_requested,
        can_resume=status == RunStatus.PAUSED or report.pause_requested, can_cancel=status not in FINAL_STATUSES,
        can_rerun=status in (RunStatus.FAILED, RunStatus.INCOMPLETE, RunStatus.CANCELLED),
        events=list(reversed(events[-200:])), notice=notice, error=error,
    )


@router.get("/app/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    who = await _who(request)
    return _page(request, "run.html", **await _run_context(request, who, run_id))


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
        notice = {"pause": "Pause requested: running batches finish, no new ones start.", "resume": "Resumed.", "cancel": "Cancel requested."}[action]
    except NotFound:
        raise HTTPException(404, f"run {run_id} not found") from None
    except RunConflict as err:
        error = str(err)
    if _fragment(request):
        return _page(request, "_run_live.html", status_code=409 if error else 200, **await _run_context(request, who, run_id, notice, error))
    return _see(f"/app/runs/{run_id}")
