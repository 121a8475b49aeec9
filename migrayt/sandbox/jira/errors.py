"""Jira's error body, `ErrorCollection`, raised anywhere and rendered by the app."""

from __future__ import annotations


class JiraError(Exception):
    def __init__(
        self,
        status: int,
        messages: list[str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, messages, errors)
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}

    def body(self) -> dict:
        return {"errorMessages": self.messages, "errors": self.errors}


def not_found_issue() -> JiraError:
    return JiraError(404, ["Issue does not exist or you do not have permission to see it."])
