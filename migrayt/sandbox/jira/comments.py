"""Comments and worklogs on an issue, each capped per issue as Jira Cloud caps them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .entities import Comment, Issue, Worklog, duration_seconds, jira_time, parse_jira_time
from .errors import JiraError
from .fields import FieldRules
from .notifications import COMMENT_EDITED, ISSUE_COMMENTED, WORK_LOGGED


class CommentOps(FieldRules):
    def _check_comment_body(self, body: Any, fid: str = "comment") -> None:
        if body is None or body == "":
            raise JiraError(400, [], {fid: "Comment body can not be empty!"})
        errors: dict[str, str] = {}
        messages: list[str] = []
        self._check_rich_text(fid, body, errors, messages)
        if errors:
            raise JiraError(400, messages, errors)

    def _add_comment(self, issue: Issue, body: dict) -> Comment:
        now = self.now()
        props = [
            {"key": p["key"], "value": p.get("value")}
            for p in body.get("properties") or []
            if isinstance(p, dict) and isinstance(p.get("key"), str)
        ]
        c = Comment(
            self._next("comment"), issue.id, self.acting(), body["body"], now, now, body.get("visibility"), props
        )
        self.comments[c.id] = c
        self.issue_comments.setdefault(issue.id, []).append(c.id)
        self.store.put("comment", c.id, asdict(c))
        self.notify(ISSUE_COMMENTED, issue)
        return c

    def add_comment(self, issue: Issue, body: Any) -> Comment:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        self._check_comment_body(body.get("body"))
        if len(self.issue_comments.get(issue.id, ())) >= self.config.max_comments_per_issue:
            raise JiraError(
                413, [f"The issue has reached the limit of {self.config.max_comments_per_issue} comments per issue."]
            )
        with self._tx():
            return self._add_comment(issue, body)

    def update_comment(self, issue: Issue, comment_id: str, body: Any) -> Comment:
        c = self.comments.get(int(comment_id)) if str(comment_id).isdigit() else None
        if c is None or c.issue_id != issue.id:
            raise JiraError(404, [f"Can not find a comment for key: {comment_id}."])
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        self._check_comment_body(body.get("body"))
        with self._tx():
            c.body = body["body"]
            c.updated = self.now()
            c.update_author_id = self.acting()
            self.store.put("comment", c.id, asdict(c))
            self.notify(COMMENT_EDITED, issue)
        return c

    def add_worklog(self, issue: Issue, body: Any, adjust_estimate: str = "auto", notify_users: bool = True) -> Worklog:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        seconds = body.get("timeSpentSeconds")
        if seconds is None and isinstance(body.get("timeSpent"), str):
            seconds = duration_seconds(body["timeSpent"])
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            raise JiraError(400, [], {"timeLogged": "You must indicate the time spent working."})
        started = body.get("started")
        if started is None:
            started = jira_time(self.now())
        elif not isinstance(started, str) or not parse_jira_time(started):
            raise JiraError(
                400,
                [],
                {"started": "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."},
            )
        comment = body.get("comment")
        if comment is not None:
            self._check_comment_body(comment)
        if len(self.issue_worklogs.get(issue.id, ())) >= self.config.max_worklogs_per_issue:
            raise JiraError(
                413, [f"The issue has reached the limit of {self.config.max_worklogs_per_issue} worklogs per issue."]
            )
        with self._tx():
            props = [
                {"key": p["key"], "value": p.get("value")}
                for p in body.get("properties") or []
                if isinstance(p, dict) and isinstance(p.get("key"), str)
            ]
            w = Worklog(
                self._next("worklog"),
                issue.id,
                self.acting(),
                seconds,
                started,
                self.now(),
                comment,
                props,
                adjust_estimate,
                notify_users,
            )
            self.worklogs[w.id] = w
            self.issue_worklogs.setdefault(issue.id, []).append(w.id)
            self.store.put("worklog", w.id, asdict(w))
            self.notify(WORK_LOGGED, issue, notify_users)
            return w
