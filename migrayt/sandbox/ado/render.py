"""Generated records -> ADO REST 7.1 JSON shapes (as in the official httpExamples).

URLs are built on the generator's ORIGIN; the app swaps it for the request's base URL when it
serialises the response.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from urllib.parse import quote

from migrayt.sandbox.ado import catalog
from migrayt.sandbox.generator import (
    ORIGIN,
    ClassificationNode,
    GeneratedComment,
    GeneratedProject,
    GeneratedUser,
    GeneratedWorklog,
    ado_date,
)


class Renderer:
    def __init__(self, project: GeneratedProject):
        self.p = project
        self.org = project.spec.organization
        self.org_url = f"{ORIGIN}/{self.org}"
        self.project_url = f"{ORIGIN}/{self.org}/{project.project_guid}"

    # ---- identities ---------------------------------------------------------------------------

    def identity_ref(self, ref: dict[str, Any]) -> dict[str, Any]:
        out = dict(ref)
        out["url"] = f"{self.org_url}/_apis/Identities/{ref['id']}"
        out["_links"] = {"avatar": {"href": f"{self.org_url}/_apis/GraphProfile/MemberAvatars/{ref['descriptor']}"}}
        out["imageUrl"] = f"{self.org_url}/_api/_common/identityImage?id={ref['id']}"
        return out

    def user_ref(self, user: GeneratedUser) -> dict[str, Any]:
        return self.identity_ref(user.identity_ref())

    def _fields(self, fields: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
        if wanted is not None:
            keys = {w.lower() for w in wanted}
            fields = {k: v for k, v in fields.items() if k.lower() in keys}
        return {k: self.identity_ref(v) if isinstance(v, dict) and "descriptor" in v else v for k, v in fields.items()}

    # ---- work items ---------------------------------------------------------------------------

    def work_item_links(self, item_id: int, wit: str) -> dict[str, Any]:
        base = f"{self.project_url}/_apis/wit/workItems/{item_id}"
        return {
            "self": {"href": base},
            "workItemUpdates": {"href": f"{base}/updates"},
            "workItemRevisions": {"href": f"{base}/revisions"},
            "workItemComments": {"href": f"{base}/comments"},
            "html": {"href": f"{ORIGIN}/{self.org}/web/wi.aspx?pcguid={self.p.project_guid}&id={item_id}"},
            "workItemType": {"href": f"{self.project_url}/_apis/wit/workItemTypes/{quote(wit)}"},
            "fields": {"href": f"{self.project_url}/_apis/wit/fields"},
        }

    def work_item(
        self,
        item_id: int,
        expand: str | None,
        fields: list[str] | None,
        as_of: datetime | None = None,
        default_links: bool = True,
    ) -> dict[str, Any] | None:
        """None when `as_of` is before the item existed."""
        item = self.p.work_item(item_id)
        if as_of is not None:
            revision = self.p.as_of(item_id, as_of)
            if revision is None:
                return None
            rev, field_values = revision.rev, revision.fields
        else:
            rev, field_values = item.rev, item.fields
        e = (expand or "").lower()
        out: dict[str, Any] = {"id": item_id, "rev": rev, "fields": self._fields(field_values, fields)}
        comments = self.p.comment_count(item_id)
        if comments and as_of is None:
            last = self.p.comment_id(item_id, comments - 1)
            out["commentVersionRef"] = {
                "commentId": last,
                "version": 1,
                "url": f"{self.project_url}/_apis/wit/workItems/{item_id}/comments/{last}/versions/1",
            }
        if e in ("relations", "all") and item.relations:
            out["relations"] = [{"rel": r.rel, "url": r.url, "attributes": r.attributes} for r in item.relations]
        if e in ("links", "all") or (not e and default_links):
            out["_links"] = self.work_item_links(item_id, item.type)
        out["url"] = f"{self.project_url}/_apis/wit/workItems/{item_id}"
        return out

    def revision(self, item_id: int, rev: int, expand: str | None) -> dict[str, Any]:
        r = self.p.revisions(item_id)[rev - 1]
        out: dict[str, Any] = {"id": item_id, "rev": r.rev, "fields": self._fields(r.fields, None)}
        if (expand or "").lower() in ("relations", "all") and rev == len(self.p.revisions(item_id)):
            item = self.p.work_item(item_id)
            out["relations"] = [{"rel": x.rel, "url": x.url, "attributes": x.attributes} for x in item.relations]
        out["url"] = f"{self.project_url}/_apis/wit/workItems/{item_id}/revisions/{rev}"
        return out

    def updates(self, item_id: int) -> list[dict[str, Any]]:
        revs = self.p.revisions(item_id)
        item = self.p.work_item(item_id)
        out = []
        prev: dict[str, Any] = {}
        for r in revs:
            changed: dict[str, Any] = {}
            for k in sorted(set(prev) | set(r.fields)):
                old, new = prev.get(k), r.fields.get(k)
                if old == new:
                    continue
                entry: dict[str, Any] = {}
                if old is not None:
                    entry["oldValue"] = self.identity_ref(old) if isinstance(old, dict) else old
                if new is not None:
                    entry["newValue"] = self.identity_ref(new) if isinstance(new, dict) else new
                changed[k] = entry
            update: dict[str, Any] = {
                "id": r.rev,
                "workItemId": item_id,
                "rev": r.rev,
                "revisedBy": self.user_ref(self.p.user(r.changed_by)),
                "revisedDate": r.fields.get("System.RevisedDate", "9999-01-01T00:00:00Z"),
                "fields": changed,
            }
            if r.rev == 1 and item.relations:
                update["relations"] = {
                    "added": [{"rel": x.rel, "url": x.url, "attributes": x.attributes} for x in item.relations]
                }
            update["url"] = f"{self.project_url}/_apis/wit/workItems/{item_id}/updates/{r.rev}"
            out.append(update)
            prev = r.fields
        return out

    # ---- comments -----------------------------------------------------------------------------

    def comment(self, c: GeneratedComment) -> dict[str, Any]:
        by = self.user_ref(self.p.user(c.author_id))
        return {
            "workItemId": c.work_item_id,
            "id": c.id,  # 7.1 says `id`; the (5.1-era) official examples still say `commentId`
            "version": 1,
            "text": c.text,
            "createdBy": by,
            "createdDate": ado_date(c.created),
            "modifiedBy": by,
            "modifiedDate": ado_date(c.created),
            "isDeleted": False,
            "url": f"{self.project_url}/_apis/wit/workItems/{c.work_item_id}/comments/{c.id}",
        }

    # ---- classification ------------------------------------------------------------------------

    def node(self, n: ClassificationNode, depth: int) -> dict[str, Any]:
        group = "Areas" if n.structure_type == "area" else "Iterations"
        rel = n.path.split("\\")[1:]
        kind = "Area" if n.structure_type == "area" else "Iteration"
        path = "\\" + "\\".join([self.p.spec.project, kind, *rel])
        out: dict[str, Any] = {
            "id": n.id,
            "identifier": n.identifier,
            "name": n.name,
            "structureType": n.structure_type,
            "hasChildren": bool(n.children),
            "path": path,
        }
        if n.start is not None:
            out["attributes"] = {"startDate": ado_date(n.start), "finishDate": ado_date(n.finish)}  # type: ignore[arg-type]
        if depth > 0 and n.children:
            out["children"] = [self.node(c, depth - 1) for c in n.children]
        out["_links"] = {"self": {"href": self.node_url(group, rel)}}
        out["url"] = self.node_url(group, rel)
        return out

    def node_url(self, group: str, rel: list[str]) -> str:
        tail = "".join("/" + quote(x) for x in rel)
        return f"{self.project_url}/_apis/wit/classificationNodes/{group}{tail}"

    # ---- process metadata ---------------------------------------------------------------------

    def field(self, f: catalog.FieldDef) -> dict[str, Any]:
        return catalog.field_json(f, self.org_url)

    def field_ref(self, f: catalog.FieldDef) -> dict[str, Any]:
        return {
            "referenceName": f.reference_name,
            "name": f.name,
            "url": f"{self.org_url}/_apis/wit/fields/{f.reference_name}",
        }

    def work_item_type(self, wit: str) -> dict[str, Any]:
        ref, color, icon = catalog.TYPE_META[wit]
        refs = [*catalog.COMMON_TYPE_FIELDS, *catalog.TYPE_FIELDS[wit]]
        if not self.p.spec.test_management:
            refs = [r for r in refs if r not in catalog.TEST_MANAGEMENT_FIELDS]
        fields = []
        for r in refs:
            f = catalog.find_field(r)
            assert f is not None
            fields.append(
                {**self.field_ref(f), "alwaysRequired": r in ("System.Title", "System.State"), "helpText": ""}
            )
        states = catalog.states_json(wit)
        names = [s["name"] for s in states]
        transitions = {"": [{"to": names[0]}]}
        for s in names:
            transitions[s] = [{"to": t} for t in names if t != s]
        url = f"{self.project_url}/_apis/wit/workItemTypes/{quote(wit)}"
        return {
            "name": wit,
            "referenceName": ref,
            "description": f"Tracks a {wit.lower()}.",
            "color": color,
            "icon": {"id": icon, "url": f"{ORIGIN}/{self.org}/_apis/wit/workItemIcons/{icon}?color={color}&v=2"},
            "isDisabled": False,
            "fields": fields,
            "fieldInstances": fields,
            "transitions": transitions,
            "states": states,
            "_links": {"self": {"href": url}},
            "url": url,
        }

    def category(self, name: str, ref: str, types: list[str]) -> dict[str, Any]:
        def type_ref(t: str) -> dict[str, str]:
            return {"name": t, "url": f"{self.project_url}/_apis/wit/workItemTypes/{quote(t)}"}

        return {
            "name": name,
            "referenceName": ref,
            "defaultWorkItemType": type_ref(types[0]),
            "workItemTypes": [type_ref(t) for t in types],
            "url": f"{self.project_url}/_apis/wit/workItemTypeCategories/{ref}",
        }

    def relation_type(self, ref: str, name: str, attrs: dict[str, Any]) -> dict[str, Any]:
        return {
            "referenceName": ref,
            "name": name,
            "attributes": attrs,
            "url": f"{self.org_url}/_apis/wit/workItemRelationTypes/{ref}",
        }

    # ---- team iterations ----------------------------------------------------------------------

    def team_iteration(self, n: ClassificationNode, today: datetime) -> dict[str, Any]:
        assert n.start is not None and n.finish is not None
        frame = "past" if n.finish.date() < today.date() else "future" if n.start.date() > today.date() else "current"
        url = f"{self.project_url}/{self.p.team_guid}/_apis/work/teamsettings/iterations/{n.identifier}"
        return {
            "id": n.identifier,
            "name": n.name,
            "path": n.path,
            "attributes": {"startDate": ado_date(n.start), "finishDate": ado_date(n.finish), "timeFrame": frame},
            "url": url,
            "_links": {"self": {"href": url}},
        }

    # ---- graph and identities -----------------------------------------------------------------

    def graph_user(self, u: GeneratedUser) -> dict[str, Any]:
        d = u.descriptor
        url = f"{self.org_url}/_apis/Graph/Users/{d}"
        return {
            "subjectKind": "user",
            "metaType": "member",
            "domain": "45aa3d2d-7442-473d-b4d3-3c670da9dd96",
            "principalName": u.unique_name,
            "mailAddress": u.email or "",
            "origin": "aad",
            "originId": u.id,
            "displayName": u.display_name,
            "_links": {
                "self": {"href": url},
                "memberships": {"href": f"{self.org_url}/_apis/Graph/Memberships/{d}"},
                "membershipState": {"href": f"{self.org_url}/_apis/Graph/MembershipStates/{d}"},
                "storageKey": {"href": f"{self.org_url}/_apis/Graph/StorageKeys/{d}"},
                "avatar": {"href": f"{self.org_url}/_apis/GraphProfile/MemberAvatars/{d}"},
            },
            "url": url,
            "descriptor": d,
            "isDeletedInOrigin": u.deleted,
        }

    def identity(self, u: GeneratedUser) -> dict[str, Any]:
        def prop(v: str) -> dict[str, str]:
            return {"$type": "System.String", "$value": v}

        return {
            "id": u.id,
            "descriptor": (
                f"Microsoft.IdentityModel.Claims.ClaimsIdentity;45aa3d2d-7442-473d-b4d3-3c670da9dd96\\{u.unique_name}"
            ),
            "subjectDescriptor": u.descriptor,
            "providerDisplayName": u.display_name,
            "isActive": not u.deleted,
            "members": [],
            "memberOf": [],
            "memberIds": [],
            "properties": {
                "SchemaClassName": prop("User"),
                "Description": prop(""),
                "Account": prop(u.unique_name),
                "Mail": prop(u.email or ""),
                "Domain": prop("45aa3d2d-7442-473d-b4d3-3c670da9dd96"),
            },
            "resourceVersion": 2,
            "metaTypeId": 0,
        }

    # ---- 7pace --------------------------------------------------------------------------------

    def worklog(self, w: GeneratedWorklog) -> dict[str, Any]:
        u = self.p.user(w.user_id)
        return {
            "id": w.id,
            "timestamp": ado_date(w.timestamp),
            "length": w.length_seconds,
            "billableLength": w.billable_seconds,
            "workItemId": w.work_item_id,
            "comment": w.comment,
            "user": {"id": u.id, "name": u.display_name, "uniqueName": u.unique_name},
            "activityType": {"id": _activity_id(w.activity_type), "name": w.activity_type},
        }


def _activity_id(name: str) -> str:
    raw = name.encode().ljust(16, b"\0")[:16]
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    pad = "=" * (-len(token) % 4)
    raw = base64.urlsafe_b64decode(token + pad).decode()
    if not raw.startswith("o:"):
        raise ValueError(token)
    return int(raw[2:])
