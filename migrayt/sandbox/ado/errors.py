"""The service's error answer: the JSON body Azure DevOps sends with a 4xx."""

from __future__ import annotations

from typing import Any


class AdoError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_key: str,
        namespace: str = "Microsoft.TeamFoundation.WorkItemTracking.Server",
    ):
        super().__init__(message)
        self.status, self.message, self.type_key, self.namespace = status, message, type_key, namespace

    def body(self) -> dict[str, Any]:
        return {
            "$id": "1",
            "innerException": None,
            "message": self.message,
            "typeName": f"{self.namespace}.{self.type_key}, {self.namespace}",
            "typeKey": self.type_key,
            "errorCode": 0,
            "eventId": 3200,
        }


def no_such_item(item_id: int) -> AdoError:
    return AdoError(
        404,
        f"TF401232: Work item {item_id} does not exist, or you do not have permissions to read it.",
        "WorkItemUnauthorizedAccessException",
    )
