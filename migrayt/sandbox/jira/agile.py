"""The agile side of the project: components, the board's sprints and moving issues into a sprint."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .entities import Component, Issue, Sprint, parse_jira_time
from .errors import JiraError
from .issues import IssueOps

SPRINT_MOVE_MAX = 50


class AgileOps(IssueOps):
    def create_component(self, body: Any) -> Component:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        errors: dict[str, str] = {}
        name = body.get("name")
        project = body.get("project", body.get("projectId"))
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "The component name must not be empty."
        elif len(name) > 255:
            errors["name"] = "The component name must not exceed 255 characters."
        elif any(c.name.lower() == name.lower() for c in self.components.values()):
            errors["name"] = f"A component with the name {name} already exists in this project."
        if project is None:
            errors["project"] = "The project must be specified."
        elif str(project).upper() != self.config.project_key and str(project) != self.project_id:
            raise JiraError(404, [f"No project could be found with key '{project}'."])
        lead = body.get("leadAccountId")
        if lead is not None and lead not in self.users:
            errors["leadAccountId"] = "The user does not exist."
        assignee_type = body.get("assigneeType", "PROJECT_DEFAULT")
        if assignee_type not in ("PROJECT_DEFAULT", "COMPONENT_LEAD", "PROJECT_LEAD", "UNASSIGNED"):
            errors["assigneeType"] = "The assignee type is invalid."
        if errors or not isinstance(name, str):  # (the second: for the type checker; errors has it already)
            raise JiraError(400, [], errors)
        with self._tx():
            comp = Component(str(self._next("component")), name, body.get("description"), lead, assignee_type)
            self.components[comp.id] = comp
            self.store.put("component", comp.id, asdict(comp))
            return comp

    def create_sprint(self, body: Any) -> Sprint:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        errors: dict[str, str] = {}
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"] = "Sprint name is required."
        elif len(name) > 255:
            errors["name"] = "Sprint name must be less than 255 characters."
        board = body.get("originBoardId")
        if board != self.board_id:
            errors["originBoardId"] = f"Board with id '{board}' does not exist."
        for k in ("startDate", "endDate"):
            if body.get(k) is not None and not (isinstance(body[k], str) and parse_jira_time(body[k])):
                errors[k] = f"'{k}' is not a valid date."
        if errors or not isinstance(name, str):  # (the second: for the type checker; errors has it already)
            raise JiraError(400, [], errors)
        with self._tx():
            sp = Sprint(
                self._next("sprint"),
                name,
                self.board_id,
                "future",
                body.get("goal"),
                body.get("startDate"),
                body.get("endDate"),
                self.now(),
            )
            self.sprints[sp.id] = sp
            self.store.put("sprint", sp.id, asdict(sp))
            return sp

    def move_to_sprint(self, sprint_id: int, body: Any) -> None:
        sprint = self.sprints.get(sprint_id)
        if sprint is None:
            raise JiraError(
                404, [f"Sprint with id {sprint_id} does not exist or you do not have permission to see it."]
            )
        refs = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(refs, list) or not refs:
            raise JiraError(400, ["'issues' must list at least one issue."])
        if len(refs) > SPRINT_MOVE_MAX:
            raise JiraError(400, [f"Cannot move more than {SPRINT_MOVE_MAX} issues at once."])
        if sprint.state == "closed":
            raise JiraError(400, ["Issues cannot be moved to a closed sprint."])
        issues: list[Issue] = []
        for ref in refs:
            found = self.find_issue(str(ref), str(ref))
            if found is None:
                raise JiraError(400, [f"Issue '{ref}' does not exist or you do not have permission to see it."])
            issues.append(found)
        with self._tx():
            for issue in issues:
                self._apply(issue, {"sprint_ids": [sprint_id]})
                self._save_issue(issue)
