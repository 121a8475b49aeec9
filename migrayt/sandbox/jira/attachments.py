"""Attachments: files kept beside the store, one per id, capped in number per issue."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict
from pathlib import Path

from .entities import Attachment, Issue
from .errors import JiraError
from .store import JiraStore


class AttachmentOps(JiraStore):
    def attachment_slots(self, issue: Issue) -> int:
        return self.config.max_attachments_per_issue - len(self.issue_attachments.get(issue.id, ()))

    def new_attachment_path(self) -> Path:
        return self.attachment_dir / f"upload-{uuid.uuid4().hex}.part"

    def add_attachment(
        self, issue: Issue, filename: str, mime: str, part: Path | None, size: int, sha256: str
    ) -> Attachment:
        """`part` None: the bytes were not kept (a large upload), only their size and digest."""
        with self._tx():
            a = Attachment(
                self._next("attachment"),
                issue.id,
                filename,
                size,
                sha256,
                mime,
                self.me.account_id,
                self.now(),
                kept=part is not None,
            )
            if part is not None:
                part.replace(self.attachment_dir / str(a.id))
            self.attachments[a.id] = a
            self.issue_attachments.setdefault(issue.id, []).append(a.id)
            self.store.put("attachment", a.id, asdict(a))
            return a

    def attachment_path(self, att: Attachment) -> Path:
        return self.attachment_dir / str(att.id)

    def attachment(self, att_id: str) -> Attachment:
        att = self.attachments.get(int(att_id)) if att_id.isdigit() else None
        if att is None:
            raise JiraError(404, [f"The attachment with id '{att_id}' does not exist."])
        return att

    def replace_attachment_content(self, att: Attachment, data: bytes) -> Attachment:
        """Other bytes under the same attachment (name, id, author kept), as a file swapped on the server would be:
        only a check of the content itself (sha-256) can see it when the size stays the same."""
        with self._tx():
            self.attachment_path(att).write_bytes(data)
            att.size, att.sha256 = len(data), hashlib.sha256(data).hexdigest()
            self.store.put("attachment", att.id, asdict(att))
            return att

    def delete_attachment(self, att: Attachment) -> None:
        with self._tx():
            self.attachments.pop(att.id, None)
            owner = self.issues.get(att.issue_id)
            if owner is not None:
                self.record_change(
                    owner,
                    [{"field": "Attachment", "fieldtype": "jira", "fieldId": "attachment", "fromString": att.filename}],
                )
            self.issue_attachments[att.issue_id] = [
                a for a in self.issue_attachments.get(att.issue_id, []) if a != att.id
            ]
            self.store.delete("attachment", att.id)
        self.attachment_path(att).unlink(missing_ok=True)
