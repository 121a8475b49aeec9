"""The web app's validation pages: start one, see its verdict, counts per check and every difference, paged."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from migrayt.api.routers.validations import check_counts
from migrayt.api.web.routes import _migration, _page, _see, _who, router
from migrayt.contracts.validation import CHECKS, FINAL_VALIDATION_STATUSES, DifferenceKind
from migrayt.core.errors import NotFound, RunConflict
from migrayt.core.validations import BadTolerance, ValidationService

PAGE_SIZE = 100


def _validations(request: Request) -> ValidationService:
    return request.app.state.validations


@router.get("/app/migrations/{migration_id}/validations")
async def validations_page(request: Request, migration_id: str, error: str | None = None) -> HTMLResponse:
    who = await _who(request)
    migration = await _migration(request, who, migration_id)
    rows = await _validations(request).list(who.tenant, migration_id)
    return _page(
        request,
        "validations.html",
        status_code=409 if error else 200,
        who=who,
        migration=migration,
        step="validate",
        validations=rows,
        error=error,
    )


@router.post("/app/migrations/{migration_id}/validations")
async def start_validation(request: Request, migration_id: str) -> Response:
    who = await _who(request)
    form = await request.form()
    try:
        vid = await _validations(request).start(
            who.tenant, migration_id, who.actor, "web", deep=form.get("deep") == "on"
        )
    except NotFound:
        raise HTTPException(404, f"migration {migration_id} not found") from None
    except (RunConflict, BadTolerance) as err:
        return await validations_page(request, migration_id, error=str(err))
    return _see(f"/app/migrations/{migration_id}/validations/{vid}")


@router.get("/app/migrations/{migration_id}/validations/{validation_id}")
async def validation_page(
    request: Request,
    migration_id: str,
    validation_id: str,
    page: int = 1,
    check: str | None = None,
    kind: str | None = None,
) -> HTMLResponse:
    who = await _who(request)
    migration = await _migration(request, who, migration_id)
    svc = _validations(request)
    check = check if check in CHECKS else None
    kind = kind if kind in {k.value for k in DifferenceKind} else None
    try:
        row, progress = await svc.progress(who.tenant, migration_id, validation_id)
        found = await svc.differences(
            who.tenant, migration_id, validation_id, page=max(1, page), page_size=PAGE_SIZE, check=check, kind=kind
        )
    except NotFound:
        raise HTTPException(404, f"validation {validation_id} not found") from None
    pages = max(1, -(-found.total // PAGE_SIZE))
    return _page(
        request,
        "validation.html",
        who=who,
        migration=migration,
        step="validate",
        validation=row,
        progress=progress,
        final=progress.status in FINAL_VALIDATION_STATUSES,
        checks=check_counts(progress.counts, row.tolerances or {}),
        found=found,
        pages=pages,
        check=check,
        kind=kind,
        kinds=[k.value for k in DifferenceKind],
        all_checks=CHECKS,
    )
