"""Validations of a migration: start one, list them, read one with its counts per check, page its differences,
pause/resume/cancel it. Thin: migrayt/core/validations.py does the work."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from migrayt.api.auth import CurrentPrincipal
from migrayt.api.routers.deps import ID_PATTERN, MigrationId
from migrayt.api.routers.schemas import ACTOR
from migrayt.contracts.validation import CHECKS
from migrayt.core.validations import BadTolerance, ValidationService
from migrayt.translation.validation_rules import errors_of

router = APIRouter(prefix="/api/migrations", tags=["validations"])

ValidationId = Annotated[str, Path(pattern=ID_PATTERN, description="a validation id (val-…)")]


def validation_service(request: Request) -> ValidationService:
    return request.app.state.validations


Validations = Annotated[ValidationService, Depends(validation_service)]


class ValidationRequest(BaseModel):
    deep: bool = Field(False, description="also compare every attachment's sha-256 (downloads both sides)")
    tolerances: dict[str, int] = Field(
        default_factory=dict, description=f"accepted differences per check ({', '.join(CHECKS)}); 0 unless set"
    )
    actor: str | None = ACTOR


class CheckCount(BaseModel):
    check: str
    missing: int = 0
    extra: int = 0
    different: int = 0
    changed_after: int = 0
    errors: int = 0  # what the verdict counts: all but changed_after
    tolerance: int = 0
    passed: bool = True


class ValidationView(BaseModel):
    id: str
    migration_id: str
    status: str
    deep: bool
    items_total: int
    items_checked: int
    checks: list[CheckCount]
    differences_url: str
    requested_by: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class DifferenceView(BaseModel):
    check: str
    kind: str
    ado_id: int | None
    jira_key: str | None
    expected: str | None
    actual: str | None
    note: str | None


class DifferencesPage(BaseModel):
    validation_id: str
    total: int
    page: int
    page_size: int
    differences: list[DifferenceView]
    next_url: str | None = None


class ValidationAccepted(BaseModel):
    validation_id: str
    action: str
    status_url: str


def check_counts(counts: dict[str, Any], tolerances: dict[str, int]) -> list[CheckCount]:
    out = []
    for check in CHECKS:
        kinds = counts.get(check) or {}
        errors, tolerance = errors_of(kinds), tolerances.get(check, 0)
        out.append(
            CheckCount(
                check=check,
                errors=errors,
                tolerance=tolerance,
                passed=errors <= tolerance,
                **{k: int(v) for k, v in kinds.items()},
            )
        )
    return out


def _view(row: Any, progress: Any) -> ValidationView:
    return ValidationView(
        id=row.id,
        migration_id=row.migration_id,
        status=progress.status.value,
        deep=row.deep,
        items_total=progress.items_total,
        items_checked=progress.items_checked,
        checks=check_counts(progress.counts, row.tolerances or {}),
        differences_url=f"/api/migrations/{row.migration_id}/validations/{row.id}/differences",
        requested_by=row.requested_by,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
    )


@router.post(
    "/{migration_id}/validations",
    status_code=202,
    response_model=ValidationAccepted,
    summary="Validate a migration: compare what is in Jira with the ADO source (read-only)",
    responses={409: {"description": "a run or a validation of the migration is under way"}},
)
async def start_validation(
    migration_id: MigrationId,
    svc: Validations,
    who: CurrentPrincipal,
    body: Annotated[ValidationRequest | None, Body()] = None,
) -> ValidationAccepted:
    body = body or ValidationRequest()
    try:
        vid = await svc.start(
            who.tenant,
            migration_id,
            actor=who.acting_as(body.actor),
            door=who.door,
            deep=body.deep,
            tolerances=body.tolerances,
        )
    except BadTolerance as err:
        raise HTTPException(422, str(err)) from None
    return ValidationAccepted(
        validation_id=vid, action="start", status_url=f"/api/migrations/{migration_id}/validations/{vid}"
    )


@router.get(
    "/{migration_id}/validations",
    response_model=list[ValidationView],
    summary="A migration's validations, newest first",
)
async def list_validations(migration_id: MigrationId, svc: Validations, who: CurrentPrincipal) -> list[ValidationView]:
    out = []
    for row in await svc.list(who.tenant, migration_id):
        _, progress = await svc.progress(who.tenant, migration_id, row.id, query_timeout=2.0)
        out.append(_view(row, progress))
    return out


@router.get(
    "/{migration_id}/validations/{validation_id}",
    response_model=ValidationView,
    summary="A validation: status (PASSED/FAILED when done), counts per check and kind, tolerances",
)
async def get_validation(
    migration_id: MigrationId, validation_id: ValidationId, svc: Validations, who: CurrentPrincipal
) -> ValidationView:
    row, progress = await svc.progress(who.tenant, migration_id, validation_id)
    return _view(row, progress)


@router.get(
    "/{migration_id}/validations/{validation_id}/differences",
    response_model=DifferencesPage,
    summary="A page of a validation's differences, item by item; filter by check and kind",
)
async def list_differences(
    migration_id: MigrationId,
    validation_id: ValidationId,
    svc: Validations,
    who: CurrentPrincipal,
    page: int = Query(1, ge=1),
    page_size: int = Query(100, ge=1, le=500),
    check: str | None = Query(None, max_length=30),
    kind: str | None = Query(None, max_length=20),
) -> DifferencesPage:
    try:
        found = await svc.differences(
            who.tenant, migration_id, validation_id, page=page, page_size=page_size, check=check, kind=kind
        )
    except BadTolerance as err:
        raise HTTPException(422, str(err)) from None
    more = found.page * found.page_size < found.total
    query = "".join(f"&{k}={v}" for k, v in (("check", check), ("kind", kind)) if v)
    return DifferencesPage(
        validation_id=validation_id,
        total=found.total,
        page=found.page,
        page_size=found.page_size,
        differences=[
            DifferenceView(
                check=d.check,
                kind=d.kind,
                ado_id=d.ado_id,
                jira_key=d.jira_key,
                expected=d.expected,
                actual=d.actual,
                note=d.note,
            )
            for d in found.differences
        ],
        next_url=(
            f"/api/migrations/{migration_id}/validations/{validation_id}/differences"
            f"?page={found.page + 1}&page_size={found.page_size}{query}"
            if more
            else None
        ),
    )


async def _control(
    svc: ValidationService, who: Any, migration_id: str, validation_id: str, action: str, actor: str | None
) -> ValidationAccepted:
    await svc.control(who.tenant, migration_id, validation_id, action, actor=who.acting_as(actor), door=who.door)
    return ValidationAccepted(
        validation_id=validation_id,
        action=action,
        status_url=f"/api/migrations/{migration_id}/validations/{validation_id}",
    )


class ValidationControl(BaseModel):
    actor: str | None = ACTOR


for _action in ("pause", "resume", "cancel"):

    def _make(action: str):
        async def control(
            migration_id: MigrationId,
            validation_id: ValidationId,
            svc: Validations,
            who: CurrentPrincipal,
            body: Annotated[ValidationControl | None, Body()] = None,
        ) -> ValidationAccepted:
            return await _control(svc, who, migration_id, validation_id, action, body.actor if body else None)

        control.__name__ = f"{action}_validation"
        return control

    router.add_api_route(
        f"/{{migration_id}}/validations/{{validation_id}}/{_action}",
        _make(_action),
        methods=["POST"],
        status_code=202,
        response_model=ValidationAccepted,
        summary=f"{_action.capitalize()} a validation",
        responses={409: {"description": f"the validation is not in a state to {_action}"}},
    )
