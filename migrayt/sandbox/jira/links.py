"""Issue links (typed, between two issues) and remote links (to a URL, upserted by globalId)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from . import catalog as cat
from .comments import CommentOps
from .entities import Issue, Link, RemoteLink, parse_ref
from .errors import JiraError


class LinkOps(CommentOps):
    def link_type(self, ref: Any) -> cat.LinkType:
        ident, name = parse_ref(ref)
        found = cat.LINK_TYPES_BY_ID.get(ident or "") or cat.LINK_TYPES_BY_NAME.get((name or "").lower())
        if found is None:
            raise JiraError(404, [f"No issue link type with name '{name or ident}' found."])
        return found

    def create_link(self, body: Any) -> None:
        if not isinstance(body, dict) or not all(k in body for k in ("type", "inwardIssue", "outwardIssue")):
            raise JiraError(400, ["Issue link type, inward issue and outward issue are required."])
        lt = self.link_type(body["type"])
        inward = self.find_issue(*parse_ref(body["inwardIssue"]))
        outward = self.find_issue(*parse_ref(body["outwardIssue"]))
        if inward is None or outward is None:
            raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
        comment = body.get("comment")
        if comment is not None:
            self._check_comment_body(comment.get("body") if isinstance(comment, dict) else None)
        with self._tx():
            exists = any(
                self.links[lid].type_id == lt.id
                and self.links[lid].inward_id == inward.id
                and self.links[lid].outward_id == outward.id
                for lid in self.issue_links.get(inward.id, ())
            )
            if not exists:  # Jira answers 201 to a duplicate link request without adding a second link
                link = Link(self._next("link"), lt.id, inward.id, outward.id)
                self._attach_link(link)
                self.store.put("link", link.id, asdict(link))
            if isinstance(comment, dict):
                self._add_comment(outward, comment)

    def delete_link(self, link_id: int) -> None:
        link = self.links.get(link_id)
        if link is None:
            raise JiraError(404, [f"No issue link with id '{link_id}' exists."])
        with self._tx():
            del self.links[link_id]
            lt = cat.LINK_TYPES_BY_ID.get(link.type_id)
            for iid, other in ((link.inward_id, link.outward_id), (link.outward_id, link.inward_id)):
                other_issue, this_issue = self.issues.get(other), self.issues.get(iid)
                if this_issue is None:
                    continue
                named = f"{lt.name if lt else link.type_id} {other_issue.key if other_issue else other}"
                self.record_change(
                    this_issue,
                    [
                        {
                            "field": "Link",
                            "fieldtype": "jira",
                            "fieldId": "issuelinks",
                            "fromString": named,
                            "toString": None,
                        }
                    ],
                )
            for iid in (link.inward_id, link.outward_id):
                if iid in self.issue_links:
                    self.issue_links[iid] = [x for x in self.issue_links[iid] if x != link_id]
            self.store.delete("link", link_id)

    def upsert_remote_link(self, issue: Issue, body: Any) -> tuple[RemoteLink, bool]:
        if not isinstance(body, dict):
            raise JiraError(400, ["Can not deserialize instance of the request body."])
        obj = body.get("object")
        errors: dict[str, str] = {}
        if not isinstance(obj, dict):
            errors["object"] = "'object' is required."
        else:
            if not obj.get("title"):
                errors["title"] = "'title' is required."
            if not obj.get("url"):
                errors["url"] = "'url' is required."
        if errors or not isinstance(obj, dict):  # (the second: for the type checker; errors has it already)
            raise JiraError(400, [], errors)
        gid = body.get("globalId")
        existing = None
        if gid:
            existing = next(
                (
                    self.remote_links[r]
                    for r in self.issue_remote_links.get(issue.id, ())
                    if self.remote_links[r].global_id == gid
                ),
                None,
            )
        with self._tx():
            if existing is not None:
                # fields missing from an update are cleared, as the API documents
                existing.object = obj
                existing.application = body.get("application")
                existing.relationship = body.get("relationship")
                link, created = existing, False
            else:
                link = RemoteLink(
                    self._next("remotelink"), issue.id, gid, obj, body.get("application"), body.get("relationship")
                )
                self.remote_links[link.id] = link
                self.issue_remote_links.setdefault(issue.id, []).append(link.id)
                created = True
            self.store.put("remotelink", link.id, asdict(link))
        return link, created
