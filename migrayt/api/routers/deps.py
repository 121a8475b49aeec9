"""Dependencies and validated path types shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from migrayt.core.intake import IntakeService
from migrayt.core.runs import MigrationService

# Ids are ours (mig-…, run-…, scan-…); anything else cannot name an object, so it is refused up front.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


def migration_service(request: Request) -> MigrationService:
    return request.app.state.service


def intake_service(request: Request) -> IntakeService:
    return request.app.state.intake


Service = Annotated[MigrationService, Depends(migration_service)]
Intake = Annotated[IntakeService, Depends(intake_service)]

MigrationId = Annotated[str, Path(pattern=ID_PATTERN, description="a migration id (mig-…)")]
RunId = Annotated[str, Path(pattern=ID_PATTERN, description="a run id (run-…)")]
ScanId = Annotated[str, Path(pattern=ID_PATTERN, description="a scan id (scan-…)")]
PreviewId = Annotated[str, Path(pattern=ID_PATTERN, description="a preview id (preview-…)")]
ConnectionId = Annotated[str, Path(pattern=ID_PATTERN, description="a connection id (conn-…)")]
