"""JQL search over the search index, which sees a write only once the index lag has passed."""

from __future__ import annotations

import re
from typing import Any

from . import catalog as cat
from .custom_fields import CustomFieldOps
from .jql import JqlError, compile_where, narrowing, parse, sort_key


class SearchOps(CustomFieldOps):  # JQL reaches the created custom fields by name and kind
    def _catch_up_index(self, lag: float) -> None:
        cutoff = self.now() - lag
        while self.pending_index:
            iid, (written, view) = next(iter(self.pending_index.items()))
            if written > cutoff:
                break
            del self.pending_index[iid]
            if view is None:
                self.index.pop(iid, None)
            else:
                self.index[iid] = view

    def project_ref(self, value: str) -> str:
        if value.upper() == self.config.project_key or value == self.project_id:
            return self.config.project_key
        raise JqlError(f"The value '{value}' does not exist for the field 'project'.")

    def issue_id_ref(self, value: str, fld: str) -> int | None:
        if value.isdigit():
            return int(value)
        iid = self.by_key.get(value.upper())
        if iid is None:
            if (
                re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*-\d+", value)
                and value.split("-")[0].upper() == self.config.project_key
            ):
                raise JqlError(f"An issue with key '{value}' does not exist for field '{fld}'.")
            raise JqlError(f"The issue key '{value}' for field '{fld}' is invalid.")
        return iid

    def issue_type_ref(self, value: str) -> str:
        it = cat.ISSUE_TYPES_BY_ID.get(value) or cat.ISSUE_TYPES_BY_NAME.get(value.lower())
        if it is None:
            raise JqlError(f"The value '{value}' does not exist for the field 'issuetype'.")
        return it.id

    def status_ref(self, value: str) -> str:
        st = cat.STATUSES_BY_ID.get(value) or cat.STATUSES_BY_NAME.get(value.lower())
        if st is None:
            raise JqlError(f"The value '{value}' does not exist for the field 'status'.")
        return st.id

    def component_ref(self, value: str) -> str:
        if value in self.components:
            return value
        found = next((c for c in self.components.values() if c.name.lower() == value.lower()), None)
        if found is None:
            raise JqlError(f"The value '{value}' does not exist for the field 'component'.")
        return found.id

    def search(self, jql: str, lag: float) -> list[int]:
        """Ids of matching issues as the (lagging) search index sees them, in result order."""
        query = parse(jql, self.custom_clause_names())
        if query.where is None:
            raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")

        class _R:
            project = self.project_ref
            issue_id = self.issue_id_ref
            issue_type = self.issue_type_ref
            status = self.status_ref
            component = self.component_ref
            custom_kind = self.custom_kind

        pred = compile_where(query.where, _R)
        self._catch_up_index(lag)
        narrow = narrowing(query.where)
        if narrow is None:
            candidates: Any = self.index.keys()
        else:
            sets: list[set[int]] = []
            for fld, values in narrow:
                ids: set[int] = set()
                for v in values:
                    if fld == "labels":
                        ids |= self.label_index.get(v, set())
                    elif fld == "key":
                        iid = self.issue_id_ref(v, "key")
                        if iid is not None:
                            ids.add(iid)
                    else:
                        iid = self.issue_id_ref(v, "parent")
                        if iid is not None:
                            ids |= self.children.get(iid, set())
                sets.append(ids)
            candidates = set.intersection(*sets)
            # writes still pending in the index may carry values the live indexes no longer have
            candidates |= set(self.pending_index)
        views = [v for v in (self.index.get(i) for i in candidates) if v is not None and pred(v)]
        views.sort(key=sort_key(query.order_by))
        return [v.id for v in views if v.id in self.issues]
