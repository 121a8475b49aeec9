"""`GET /rest/api/3/serverInfo`: what clients read first to tell Cloud from Data Center (the `jira` client
picks its user fields, search API and paging from `deploymentType` and `versionNumbers`).

Shaped by the platform v3 spec's ServerInformation; the values are those of a Jira Cloud site today.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from .entities import jira_time

# Jira Cloud has reported this version since it stopped numbering releases.
CLOUD_VERSION = "1001.0.0-SNAPSHOT"
CLOUD_VERSION_NUMBERS = [1001, 0, 0]
BUILD_NUMBER = 100_280
BUILD_DATE = 1_735_689_600.0  # 2025-01-01T00:00:00Z


def server_information(base_url: str) -> dict[str, Any]:
    return {
        "baseUrl": base_url,
        "displayUrl": base_url,
        "version": CLOUD_VERSION,
        "versionNumbers": CLOUD_VERSION_NUMBERS,
        "deploymentType": "Cloud",
        "buildNumber": BUILD_NUMBER,
        "buildDate": jira_time(BUILD_DATE),
        "serverTime": jira_time(time.time()),
        "scmInfo": "9f2b5e0c1d4a7b3e6f8a0c2d4e6f8a1b3c5d7e9f",
        "serverTitle": "Jira",
        "serverTimeZone": "Etc/UTC",
    }


def router() -> APIRouter:
    routes = APIRouter()

    @routes.get("/serverInfo")
    async def server_info(request: Request) -> dict:
        return server_information(str(request.base_url).rstrip("/"))

    return routes
