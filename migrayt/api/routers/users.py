"""Users on the mapping screen: who each ADO identity becomes in Jira, and a search of the Jira site's users."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from migrayt.api.auth import TenantId
from migrayt.api.routers.deps import Intake, MigrationId
from migrayt.core.user_mapping import JiraUserView, UserTable

router = APIRouter(prefix="/api/migrations/{migration_id}", tags=["mapping plans"])

UNREACHABLE: dict[int | str, dict[str, Any]] = {
    502: {"description": "Azure DevOps or Jira could not be asked with the migration's connection"}
}


@router.get(
    "/users",
    response_model=UserTable,
    responses=UNREACHABLE,
    summary="Every ADO identity with its Jira account under a plan version (default: the latest)",
)
async def user_table(
    migration_id: MigrationId,
    intake: Intake,
    tenant: TenantId,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> UserTable:
    return await intake.user_table(tenant, migration_id, version)


@router.get(
    "/jira-users",
    response_model=list[JiraUserView],
    responses=UNREACHABLE,
    summary="Search the Jira site's users by name or e-mail (Jira's /rest/api/3/user/search)",
)
async def search_jira_users(
    migration_id: MigrationId,
    intake: Intake,
    tenant: TenantId,
    query: Annotated[str, Query(min_length=1, max_length=200)],
) -> list[JiraUserView]:
    return await intake.search_jira_users(tenant, migration_id, query)
