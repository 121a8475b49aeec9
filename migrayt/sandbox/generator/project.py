"""A seeded, lazily computed Azure DevOps Boards project.

Nothing is stored per item. The hierarchy is arithmetic on the id (blocks of 40 ids: an Epic,
then three Features each followed by its Stories, Tasks, Bugs, a Test Case and an Issue), and
every other property comes from an RNG seeded by (seed, id, purpose). Links that have two ends
are decided by a hash both ends can compute, so the two ends always agree.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from migrayt.sandbox.generator import content
from migrayt.sandbox.generator.models import (
    ORIGIN,
    ClassificationNode,
    GeneratedAttachment,
    GeneratedComment,
    GeneratedRelation,
    GeneratedRevision,
    GeneratedTestPlan,
    GeneratedTestSuite,
    GeneratedUser,
    GeneratedWorkItem,
    GeneratedWorklog,
    ProjectSpec,
)

TYPES = ("Epic", "Feature", "User Story", "Task", "Bug", "Issue", "Test Case")
BLOCK = 40  # ids per Epic
SPAN = 13  # ids per Feature (the Feature itself and what hangs under it)
SPAN_TYPES = (
    "Feature",
    "User Story",
    "Task",
    "Task",
    "User Story",
    "Task",
    "Task",
    "Bug",
    "User Story",
    "Task",
    "Bug",
    "Test Case",
    "Issue",
)
# Offset of the parent inside the span; -1 = the Epic; None = no parent.
SPAN_PARENT: tuple[int | None, ...] = (-1, 0, 1, 1, 0, 4, 4, 4, 0, 8, 0, None, None)
STORY_TESTED, TEST_CASE = 8, 11  # Tested By pair inside a span
SHARED_STEPS = 12  # with test management on, the first span's Issue is Shared Steps
TEST_PLAN_BASE = 1_000_000  # test plan and suite ids: their own id space, above any work item id
DUP_ORIGINAL, DUP_COPY = 7, 10  # Duplicate pair (two Bugs) inside a span
RELATED_OFFSETS = (3, 17)
DEPENDENCY_OFFSETS = (2, 5)

STATES: dict[str, tuple[str, ...]] = {
    "Epic": ("New", "Active", "Resolved", "Closed", "Removed"),
    "Feature": ("New", "Active", "Resolved", "Closed", "Removed"),
    "User Story": ("New", "Active", "Resolved", "Closed", "Removed"),
    "Task": ("New", "Active", "Closed", "Removed"),
    "Bug": ("New", "Active", "Resolved", "Closed"),
    "Issue": ("Active", "Closed"),
    "Test Case": ("Design", "Ready", "Closed"),
    "Shared Steps": ("Active", "Closed"),
}
# Generic lifecycle stage -> the state each type uses for it.
_STAGE_STATE = {
    "Task": {"Resolved": "Closed"},
    "Bug": {"Removed": "Closed"},
    "Issue": {"New": "Active", "Resolved": "Closed", "Removed": "Closed"},
    "Test Case": {"New": "Design", "Active": "Ready", "Resolved": "Ready", "Removed": "Closed"},
    "Shared Steps": {"New": "Active", "Resolved": "Active", "Removed": "Closed"},
}
REASONS = {
    "New": "New",
    "Active": "Implementation started",
    "Resolved": "Code complete and unit tests pass",
    "Closed": "Acceptance tests pass",
    "Removed": "Removed from the backlog",
    "Design": "New",
    "Ready": "Completed",
}
_LIFECYCLE_FIELDS = frozenset(
    f"Microsoft.VSTS.Common.{k}"
    for k in ("ActivatedDate", "ActivatedBy", "ResolvedDate", "ResolvedBy", "ClosedDate", "ClosedBy")
)
BUG_REASONS = {"New": "New", "Active": "Approved", "Resolved": "Fixed", "Closed": "Verified"}

UGLY_CASES = (
    "long_title",
    "emoji_rtl",
    "control_chars",
    "broken_html",
    "long_description",
    "many_comments",
    "many_attachments",
    "huge_attachment",
    "zero_byte_attachment",
    "ado_only_user",
    "no_email_user",
    "deleted_user",
)
MANY_COMMENTS = 350
MANY_ATTACHMENTS = 120
HUGE_ATTACHMENT_BYTES = 10 * 1024 * 1024 + 123_457  # over Jira Data Center's 10 MiB default (tests set it)
LONG_DESCRIPTION_CHARS = 40_000  # over Jira's 32,767
BLOCK_BYTES = 64 * 1024

START = datetime(2023, 1, 2, 9, 0, tzinfo=UTC)
SPAN_DAYS = 700
END = START + timedelta(days=SPAN_DAYS + 30)
SPRINT_DAYS = 14
SPRINTS_PER_RELEASE = 6

FIRST = [
    "Alex",
    "Blair",
    "Casey",
    "Devon",
    "Emery",
    "Finley",
    "Gray",
    "Harper",
    "Indira",
    "Jonas",
    "Keiko",
    "Lars",
    "Mina",
    "Noah",
    "Olu",
    "Pia",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomas",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
    "Zane",
]
LAST = [
    "Anders",
    "Baptiste",
    "Chen",
    "Dubois",
    "Eze",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quispe",
    "Rossi",
    "Singh",
    "Tanaka",
]
TEAMS = ["Falcon", "Orca", "Lynx", "Kestrel"]
AREA_TREE = {
    "Platform": ["API", "Data", "Identity"],
    "Web": ["Frontend", "Design System"],
    "Mobile": ["iOS", "Android"],
    "Operations": [],
}
ACTIVITY_TYPES = ("Development", "Testing", "Design", "Documentation", "Meeting", "Deployment")
ATTACHMENT_KINDS = (
    ("screenshot", "png"),
    ("trace", "log"),
    ("notes", "txt"),
    ("export", "csv"),
    ("spec", "pdf"),
    ("bundle", "zip"),
)


@dataclass(frozen=True, slots=True)
class ItemCore:
    """The cheap per-item facts WIQL filters on, derived without generating any content."""

    id: int
    type: str
    parent_id: int | None
    state: str
    created: datetime
    changed: datetime
    rev: int
    state_path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceChange:
    """One edit made to an item after generation (the sandbox's stand-in for someone working in ADO)."""

    at: datetime
    fields: dict[str, Any] = field(default_factory=dict)
    state: str | None = None
    comments: int = 0
    attachments: int = 0
    links: tuple[tuple[str, int], ...] = ()
    # Comments with exactly this HTML (after the `comments` generic ones), e.g. hostile text.
    comment_texts: tuple[str, ...] = ()
    # Work item links taken away (both ends lose them, as in ADO).
    removed_links: tuple[tuple[str, int], ...] = ()
    # Moved under another parent, or (unparent) taken from its parent.
    parent: int | None = None
    unparent: bool = False
    # Images pasted into the description: uploaded to ADO's attachment store, not attached files.
    inline_images: int = 0


REVERSE_LINK = {
    "System.LinkTypes.Related": "System.LinkTypes.Related",
    "System.LinkTypes.Dependency-Forward": "System.LinkTypes.Dependency-Reverse",
    "System.LinkTypes.Dependency-Reverse": "System.LinkTypes.Dependency-Forward",
    "System.LinkTypes.Duplicate-Forward": "System.LinkTypes.Duplicate-Reverse",
    "System.LinkTypes.Duplicate-Reverse": "System.LinkTypes.Duplicate-Forward",
    "Microsoft.VSTS.Common.TestedBy-Forward": "Microsoft.VSTS.Common.TestedBy-Reverse",
    "Microsoft.VSTS.Common.TestedBy-Reverse": "Microsoft.VSTS.Common.TestedBy-Forward",
}
# Pasted images get attachment indexes from here on, apart from the item's attached files.
INLINE_IMAGE_INDEX = 0x1000


def ado_date(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _position(item_id: int) -> tuple[int, int, int]:
    """(epic block, feature index or -1 for the Epic, offset inside the feature span)."""
    block, offset = divmod(item_id - 1, BLOCK)
    if offset == 0:
        return block, -1, -1
    feature, r = divmod(offset - 1, SPAN)
    return block, feature, r


def _id_at(block: int, feature: int, r: int) -> int:
    return block * BLOCK + 1 if feature < 0 else block * BLOCK + 2 + feature * SPAN + r


def type_of(item_id: int) -> str:
    _, feature, r = _position(item_id)
    return "Epic" if feature < 0 else SPAN_TYPES[r]


class GeneratedProject:
    def __init__(self, spec: ProjectSpec):
        if not 1 <= spec.items <= 1_000_000:
            raise ValueError("items must be between 1 and 1,000,000")
        self.spec = spec
        self.n = spec.items
        # Edits after generation (see `change` / `add_items`); generated content keys off the
        # original size so existing items stay what they were when items are added.
        self._base_n = spec.items
        self._changes: dict[int, list[SourceChange]] = {}
        self._added_at: dict[int, datetime] = {}
        # Items moved to another parent (None: taken from their parent) after generation.
        self._moved: dict[int, int | None] = {}
        # Items deleted in ADO: they answer 404 and leave queries; links to them stay on the others.
        self.deleted: set[int] = set()
        self.project_guid = self._guid("project")
        self.team_guid = self._guid("team")
        self.users = self._make_users()
        self._users_by_id = {u.id: u for u in self.users}
        self._active_users = [u for u in self.users if not u.deleted and u.in_jira]
        self.areas = self._make_areas()
        self.iterations = self._make_iterations()
        self._sprints = [n for n in self.iterations.walk() if n.start is not None and not n.children]
        self._leaf_areas = [n for n in self.areas.walk() if not n.children and n is not self.areas]
        self._ugly_by_case = self._place_ugly_cases()
        self._ugly_by_id: dict[int, list[str]] = {}
        for case, item_id in self._ugly_by_case.items():
            self._ugly_by_id.setdefault(item_id, []).append(case)
        self._large_by_item = self._place_large_files()
        # Per-instance caches: bounded, so 100k items never sit in memory at once.
        self.work_item = lru_cache(maxsize=1024)(self._build_work_item)
        self.core = lru_cache(maxsize=16384)(self._core)
        self.attachments = lru_cache(maxsize=1024)(self._attachments)
        self.attachment_sha256 = lru_cache(maxsize=256)(self._attachment_sha256)

    # ---- deterministic randomness -------------------------------------------------------------

    def _hash(self, *parts: Any) -> int:
        data = repr((self.spec.seed, *parts)).encode()
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")

    def _rng(self, *parts: Any) -> random.Random:
        return random.Random(self._hash(*parts))

    def _guid(self, *parts: Any) -> str:
        d = hashlib.blake2b(repr((self.spec.seed, "guid", *parts)).encode(), digest_size=16).hexdigest()
        return f"{d[:8]}-{d[8:12]}-4{d[13:16]}-{'89ab'[int(d[16], 16) % 4]}{d[17:20]}-{d[20:32]}"

    # ---- users, areas, iterations -------------------------------------------------------------

    def _make_users(self) -> list[GeneratedUser]:
        rng = self._rng("users")
        count = 22 + min(self.n // 1000, 100)
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < count:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if name not in seen:
                seen.add(name)
                names.append(name)
        users = []
        for i, name in enumerate(names):
            email = f"{name.lower().replace(' ', '.')}@acme.example"
            uid = self._guid("user", i)
            users.append(
                GeneratedUser(
                    id=uid,
                    display_name=name,
                    unique_name=email,
                    email=email,
                    descriptor=_descriptor(uid),
                    jira_email_visible=i % 5 != 3,
                )
            )
        specials: list[dict[str, Any]] = [
            dict(
                key="ado_only",
                display_name="Morgan Ellery (Contractor)",
                unique_name="morgan.ellery@partner-agency.example",
                email="morgan.ellery@partner-agency.example",
                in_jira=False,
            ),
            dict(
                key="deleted",
                display_name="Chris Walden",
                unique_name="chris.walden@acme.example",
                email="chris.walden@acme.example",
                deleted=True,
            ),
            dict(
                key="no_email_1",
                display_name="Phoenix Build Service",
                unique_name="ACME\\svc-phoenix-build",
                email=None,
                jira_email_visible=False,
            ),
            dict(
                key="no_email_2",
                display_name="Ines Corbeau",
                unique_name="INES-LAPTOP\\ines",
                email=None,
                jira_email_visible=False,
            ),
        ]
        for s in specials:
            uid = self._guid("user", s.pop("key"))
            users.append(GeneratedUser(id=uid, descriptor=_descriptor(uid), **s))
        return users

    def _special(self, kind: str) -> GeneratedUser:
        uid = self._guid("user", kind)
        return self._users_by_id[uid]

    def user(self, user_id: str) -> GeneratedUser:
        return self._users_by_id[user_id]

    def _make_areas(self) -> ClassificationNode:
        p = self.spec.project
        next_id = iter(range(1001, 2000))
        root = ClassificationNode(
            id=next(next_id), identifier=self._guid("area", p), name=p, path=p, structure_type="area"
        )
        for group, leaves in AREA_TREE.items():
            node = ClassificationNode(
                id=next(next_id),
                identifier=self._guid("area", group),
                name=group,
                path=f"{p}\\{group}",
                structure_type="area",
            )
            for leaf in leaves:
                node.children.append(
                    ClassificationNode(
                        id=next(next_id),
                        identifier=self._guid("area", group, leaf),
                        name=leaf,
                        path=f"{p}\\{group}\\{leaf}",
                        structure_type="area",
                    )
                )
            root.children.append(node)
        return root

    def _make_iterations(self) -> ClassificationNode:
        p = self.spec.project
        next_id = iter(range(2001, 3000))
        root = ClassificationNode(
            id=next(next_id), identifier=self._guid("iter", p), name=p, path=p, structure_type="iteration"
        )
        sprint_count = -(-(END - START).days // SPRINT_DAYS)
        release = None
        for s in range(sprint_count):
            if s % SPRINTS_PER_RELEASE == 0:
                r = s // SPRINTS_PER_RELEASE + 1
                release = ClassificationNode(
                    id=next(next_id),
                    identifier=self._guid("iter", "release", r),
                    name=f"Release {r}",
                    path=f"{p}\\Release {r}",
                    structure_type="iteration",
                    start=START + timedelta(days=s * SPRINT_DAYS),
                    finish=START + timedelta(days=min(s + SPRINTS_PER_RELEASE, sprint_count) * SPRINT_DAYS - 3),
                )
                root.children.append(release)
            start = START + timedelta(days=s * SPRINT_DAYS)
            assert release is not None
            release.children.append(
                ClassificationNode(
                    id=next(next_id),
                    identifier=self._guid("iter", "sprint", s + 1),
                    name=f"Sprint {s + 1}",
                    path=f"{release.path}\\Sprint {s + 1}",
                    structure_type="iteration",
                    start=start,
                    finish=start + timedelta(days=SPRINT_DAYS - 3),
                )
            )
        return root

    def team_iterations(self) -> list[ClassificationNode]:
        """The sprints the team subscribes to (every sprint, as most teams do)."""
        return list(self._sprints)

    # ---- ugly cases ---------------------------------------------------------------------------

    def _place_large_files(self) -> dict[int, list[tuple[int, int]]]:
        """item id -> [(k, size)] for the spec's large files: one per item, after the ugly ones (ids <= 50)."""
        placed: dict[int, list[tuple[int, int]]] = {}
        sizes = self.spec.large_attachments
        if not sizes:
            return placed
        pool = list(itertools.islice((i for i in range(1, self.n + 1) if i not in self._ugly_by_id), len(sizes))) or [1]
        for k, size in enumerate(sizes):
            placed.setdefault(pool[k % len(pool)], []).append((k, size))
        return placed

    def large_attachment_items(self) -> dict[int, list[int]]:
        """Which item carries which of the spec's large files (their sizes)."""
        return {i: [size for _, size in files] for i, files in self._large_by_item.items()}

    def _place_ugly_cases(self) -> dict[str, int]:
        if not self.spec.ugly:
            return {}
        rng = self._rng("ugly")
        candidates = [i for i in range(2, min(self.n, 50) + 1) if type_of(i) != "Bug"]
        if len(candidates) >= len(UGLY_CASES):
            ids = rng.sample(candidates, len(UGLY_CASES))
        else:  # tiny projects: cases share items
            pool = candidates or list(range(1, self.n + 1))
            ids = [rng.choice(pool) for _ in UGLY_CASES]
        return dict(zip(UGLY_CASES, ids, strict=True))

    def ugly_cases(self) -> dict[str, int]:
        """Which item id carries which ugly case (one item per case; ids <= 50)."""
        return dict(self._ugly_by_case)

    # ---- structure ----------------------------------------------------------------------------

    def type_of(self, item_id: int) -> str:
        """With test management on, each Epic block's first Issue is a Shared Steps item its test cases use."""
        if self.spec.test_management and _position(item_id)[1:] == (0, SHARED_STEPS):
            return "Shared Steps"
        return type_of(item_id)

    def item_ids(self) -> range:
        return range(1, self.n + 1)

    # ---- test management ----------------------------------------------------------------------

    def test_case_design(self, item_id: int) -> dict[str, Any]:
        """What a generated test case holds when test management is on: its Steps XML, its own steps in order
        (action, expected), the Shared Steps it references, its parameters and their data rows."""
        block, feature, _ = _position(item_id)
        rng = self._rng("test-case", item_id)
        shared = _id_at(block, 0, SHARED_STEPS)
        shared_id = shared if feature in (0, 2) and shared <= self._base_n else None
        params: tuple[str, ...] = ("user", "password") if feature in (0, 1) else ()
        rows = (
            [(f"{rng.choice(FIRST).lower()}{k}", f"pw-{rng.randint(1000, 9999)}") for k in range(2)] if params else []
        )
        xml, own = content.test_case_steps(rng, shared_id, params)
        return {"steps_xml": xml, "steps": own, "shared_steps_id": shared_id, "parameters": params, "rows": rows}

    def _test_case_fields(self, item_id: int) -> dict[str, Any]:
        design = self.test_case_design(item_id)
        fields: dict[str, Any] = {"Microsoft.VSTS.TCM.Steps": design["steps_xml"]}
        if design["parameters"]:
            fields["Microsoft.VSTS.TCM.Parameters"] = content.parameters_xml(design["parameters"])
            fields["Microsoft.VSTS.TCM.LocalDataSource"] = content.data_source_xml(design["parameters"], design["rows"])
        return fields

    def test_plans(self) -> list[GeneratedTestPlan]:
        """One plan per Epic block with test cases: a static suite per Feature holding its test case, and a
        regression suite holding every test case of the block (so a test case sits in two suites). Empty without
        test management. (Migrayt carries a plan or suite through its tests: an empty one has nothing to hold.)"""
        if not self.spec.test_management:
            return []
        plans = []
        for block in range((self._base_n - 1) // BLOCK + 1):
            epic = _id_at(block, -1, 0)
            plan_id = TEST_PLAN_BASE + block * 10
            cases = [tc for f in range(3) if (tc := _id_at(block, f, TEST_CASE)) <= self.n and tc not in self.deleted]
            root = GeneratedTestSuite(
                id=plan_id + 1, plan_id=plan_id, name=f"Release {block + 1}", parent_id=None, test_case_ids=[]
            )
            suites = [root]
            for f in range(3):
                tc = _id_at(block, f, TEST_CASE)
                if tc in cases:
                    suites.append(
                        GeneratedTestSuite(
                            id=plan_id + 2 + f,
                            plan_id=plan_id,
                            name=f"Feature {_id_at(block, f, 0)}",
                            parent_id=root.id,
                            test_case_ids=[tc],
                        )
                    )
            if not cases:
                continue  # a block whose test cases are past the project's end has no plan
            suites.append(
                GeneratedTestSuite(
                    id=plan_id + 5, plan_id=plan_id, name="Regression", parent_id=root.id, test_case_ids=list(cases)
                )
            )
            owner, _ = self._people(epic) if epic <= self.n else (self._active_users[0], None)
            area, iteration = self._area_and_iteration(epic, self.core(epic)) if epic <= self.n else (None, None)
            plans.append(
                GeneratedTestPlan(
                    id=plan_id,
                    name=f"Release {block + 1} tests",
                    area_path=area.path if area else self.spec.project,
                    iteration=iteration.path if iteration else self.spec.project,
                    state="Active" if block == (self._base_n - 1) // BLOCK else "Inactive",
                    owner_id=owner.id,
                    updated=START + timedelta(days=block * 7),
                    suites=suites,
                )
            )
        return plans

    def parent_of(self, item_id: int) -> int | None:
        if item_id in self._moved:
            return self._moved[item_id]
        return self._generated_parent(item_id)

    def _generated_parent(self, item_id: int) -> int | None:
        block, feature, r = _position(item_id)
        if feature < 0:
            return None
        p = SPAN_PARENT[r]
        if p is None:
            return None
        return _id_at(block, -1, 0) if p == -1 else _id_at(block, feature, p)

    def children_of(self, item_id: int) -> list[int]:
        block, feature, r = _position(item_id)
        if feature < 0:
            ids = [_id_at(block, f, 0) for f in range(3)]
        else:
            ids = [_id_at(block, feature, c) for c, p in enumerate(SPAN_PARENT) if p == r and c != r]
        ids = [i for i in ids if i <= self.n and i not in self._moved]
        return ids + sorted(c for c, p in self._moved.items() if p == item_id)

    # ---- edits after generation ---------------------------------------------------------------

    def _clear_caches(self) -> None:
        for cached in (self.work_item, self.core, self.attachments):
            cached.cache_clear()

    def change(self, item_id: int, change: SourceChange) -> int:
        """Apply one edit as a new revision (ChangedDate = change.at); links get their other end too."""
        if not 1 <= item_id <= self.n:
            raise KeyError(item_id)
        if change.state is not None and change.state not in STATES[self.type_of(item_id)]:
            raise ValueError(f"{change.state!r} is not a state of {self.type_of(item_id)}")
        for rel, other in change.links:
            if rel not in REVERSE_LINK or not 1 <= other <= self.n or other == item_id:
                raise ValueError(f"cannot add link {rel} to {other}")
        current = self.linked_items(item_id)
        for link in change.removed_links:
            if link[0] not in REVERSE_LINK or link not in current:
                raise ValueError(f"item {item_id} has no link {link[0]} to {link[1]}")
        old_parent = self.parent_of(item_id)
        if change.parent is not None and (not 1 <= change.parent <= self.n or change.parent == item_id):
            raise ValueError(f"cannot move {item_id} under {change.parent}")
        if change.inline_images:
            change = replace(change, fields={**change.fields, **self._paste_images(item_id, change)})
        self._changes.setdefault(item_id, []).append(change)
        for rel, other in change.links:
            self._changes.setdefault(other, []).append(
                SourceChange(at=change.at, links=((REVERSE_LINK[rel], item_id),))
            )
        for rel, other in change.removed_links:
            self._changes.setdefault(other, []).append(
                SourceChange(at=change.at, removed_links=((REVERSE_LINK[rel], item_id),))
            )
        if change.parent is not None or change.unparent:
            # Both parents get a revision for their changed child list, as in ADO.
            self._moved[item_id] = change.parent
            for parent in {old_parent, change.parent}:
                if parent is not None:
                    self._changes.setdefault(parent, []).append(SourceChange(at=change.at))
        self._clear_caches()
        return self.core(item_id).rev

    def _paste_images(self, item_id: int, change: SourceChange) -> dict[str, Any]:
        """The description with `change.inline_images` images appended, as a paste in ADO's editor."""
        name = "Microsoft.VSTS.TCM.ReproSteps" if self.type_of(item_id) == "Bug" else "System.Description"
        html = str(change.fields.get(name, self.work_item(item_id).fields.get(name) or ""))
        first = self._inline_count(item_id)
        for k in range(first, first + change.inline_images):
            guid = self._attachment_guid(item_id, INLINE_IMAGE_INDEX + k)
            html += (
                f'<div><img src="{self.attachment_url(guid)}?fileName={_pasted_name(item_id, k)}" '
                f'alt="pasted screenshot {k + 1}"></div>'
            )
        return {name: html}

    def _inline_count(self, item_id: int) -> int:
        return sum(c.inline_images for c in self._changes.get(item_id, ()))

    def exists(self, item_id: int) -> bool:
        return 1 <= item_id <= self.n and item_id not in self.deleted

    def delete(self, item_id: int) -> None:
        """Delete an item as a user does in ADO (to the recycle bin): its children still name it as parent."""
        if not self.exists(item_id):
            raise KeyError(item_id)
        self.deleted.add(item_id)

    def add_items(self, count: int, at: datetime) -> list[int]:
        """New items at the end of the id range; the items they link to get a revision, as in ADO."""
        new = list(range(self.n + 1, self.n + count + 1))
        self.n += count
        for item_id in new:
            self._added_at[item_id] = at
        self._clear_caches()
        touched = {other for i in new for _, other in self.linked_items(i) if other not in self._added_at}
        for other in sorted(touched):
            self._changes.setdefault(other, []).append(SourceChange(at=at))
        self._clear_caches()
        return new

    def _core(self, item_id: int) -> ItemCore:
        base = self._base_core(item_id)
        changes = self._changes.get(item_id)
        if not changes:
            return base
        state = base.state
        for c in changes:
            state = c.state or state
        return replace(
            base, state=state, changed=changes[-1].at, rev=base.rev + len(changes), parent_id=self.parent_of(item_id)
        )

    def _base_core(self, item_id: int) -> ItemCore:
        if not 1 <= item_id <= self.n:
            raise KeyError(item_id)
        wit = self.type_of(item_id)
        if (added := self._added_at.get(item_id)) is not None:
            first = STATES[wit][0]
            return ItemCore(item_id, wit, self._generated_parent(item_id), first, added, added, 1, (first,))
        h = self._hash("core", item_id)
        frac = (item_id - 1) / max(1, self._base_n - 1)  # 0 = oldest, 1 = newest
        created = START + timedelta(seconds=int(frac * SPAN_DAYS * 86400) + (h & 0xFFFF) % 21600)
        age = 1.0 - frac
        roll = ((h >> 16) & 0xFFFF) / 65536
        p_closed = 0.1 + 0.7 * age
        if roll < p_closed:
            stage = "Closed"
        elif roll < p_closed + 0.03:
            stage = "Removed"
        elif roll < p_closed + 0.1:
            stage = "Resolved"
        elif roll < p_closed + 0.1 + (1 - p_closed) * 0.45:
            stage = "Active"
        else:
            stage = "New"
        state = _STAGE_STATE.get(wit, {}).get(stage, stage)
        order = STATES[wit]
        if state == "Removed":
            path: tuple[str, ...] = (order[0], "Removed")
        else:
            path = order[: order.index(state) + 1]
        rev = len(path) + (h >> 32) % 4
        if rev == 1:
            changed = created
        else:
            max_delta = 3 * 86400 if state in ("New", "Design") else 90 * 86400
            changed = min(created + timedelta(seconds=600 + ((h >> 40) & 0xFFFFFF) % max_delta), END)
        return ItemCore(item_id, wit, self._generated_parent(item_id), state, created, changed, rev, path)

    def _related(self, low: int, d: int) -> bool:
        return self._hash("related", low, d) % 9 == 0

    def _depends(self, low: int, d: int) -> bool:
        return self._hash("depends", low, d) % 11 == 0

    def _duplicated(self, feature_id: int) -> bool:
        return self._hash("dup", feature_id) % 4 == 0

    def linked_items(self, item_id: int) -> list[tuple[str, int]]:
        """Work item links of one item as (relation type, other id), both ends as ADO stores them."""
        out: list[tuple[str, int]] = []
        parent = self.parent_of(item_id)
        if parent is not None:
            out.append(("System.LinkTypes.Hierarchy-Reverse", parent))
        out += [("System.LinkTypes.Hierarchy-Forward", c) for c in self.children_of(item_id)]
        block, feature, r = _position(item_id)
        if r == STORY_TESTED and (tc := _id_at(block, feature, TEST_CASE)) <= self.n:
            out.append(("Microsoft.VSTS.Common.TestedBy-Forward", tc))
        if r == TEST_CASE:
            out.append(("Microsoft.VSTS.Common.TestedBy-Reverse", _id_at(block, feature, STORY_TESTED)))
        if feature >= 0 and r in (DUP_ORIGINAL, DUP_COPY) and self._duplicated(_id_at(block, feature, 0)):
            if r == DUP_ORIGINAL and (copy := _id_at(block, feature, DUP_COPY)) <= self.n:
                out.append(("System.LinkTypes.Duplicate-Forward", copy))
            elif r == DUP_COPY:
                out.append(("System.LinkTypes.Duplicate-Reverse", _id_at(block, feature, DUP_ORIGINAL)))
        for d in RELATED_OFFSETS:
            if item_id + d <= self.n and self._related(item_id, d):
                out.append(("System.LinkTypes.Related", item_id + d))
            if item_id - d >= 1 and self._related(item_id - d, d):
                out.append(("System.LinkTypes.Related", item_id - d))
        for d in DEPENDENCY_OFFSETS:
            if item_id + d <= self.n and self._depends(item_id, d):
                out.append(("System.LinkTypes.Dependency-Forward", item_id + d))
            if item_id - d >= 1 and self._depends(item_id - d, d):
                out.append(("System.LinkTypes.Dependency-Reverse", item_id - d))
        if self.spec.test_management:
            # Shared Steps are reused by test cases, not linked to work: neither end of a generated link is one.
            mine = self.type_of(item_id) == "Shared Steps"
            out = [(rel, other) for rel, other in out if not mine and self.type_of(other) != "Shared Steps"]
        for change in self._changes.get(item_id, ()):
            out += [link for link in change.links if link not in out]
            out = [link for link in out if link not in change.removed_links]
        return out

    # ---- people on an item --------------------------------------------------------------------

    def _people(self, item_id: int) -> tuple[GeneratedUser, GeneratedUser | None]:
        """(created by, assigned to) with the ugly-case people forced onto their items."""
        rng = self._rng("people", item_id)
        created_by = rng.choice(self._active_users)
        assigned = rng.choice(self._active_users) if rng.random() < 0.85 else None
        roll = rng.random()
        if roll < 0.01:
            created_by = self._special("deleted")
        elif roll < 0.015:
            assigned = self._special("ado_only")
        elif roll < 0.02:
            assigned = self._special("no_email_1")
        cases = self._ugly_by_id.get(item_id, [])
        if "deleted_user" in cases:
            created_by = assigned = self._special("deleted")
        if "no_email_user" in cases:
            created_by, assigned = self._special("no_email_1"), self._special("no_email_2")
        if "ado_only_user" in cases:
            assigned = self._special("ado_only")
        return created_by, assigned

    # ---- attachments --------------------------------------------------------------------------

    def _attachment_plan(self, item_id: int) -> list[tuple[str, str, int]]:
        """(file name, extension, size) per attachment; png sizes are whatever the image encodes to."""
        rng = self._rng("attachments", item_id)
        roll = rng.random()
        count = 0 if roll < 0.7 else 1 if roll < 0.9 else 2 if roll < 0.98 else rng.randint(3, 5)
        cases = self._ugly_by_id.get(item_id, [])
        if "many_attachments" in cases:
            count = MANY_ATTACHMENTS
        plan = []
        for i in range(count):
            stem, ext = rng.choice(ATTACHMENT_KINDS)
            size = int(2 ** rng.uniform(8, 21)) if ext != "png" else -1
            plan.append((f"{stem}-{item_id}-{i + 1}.{ext}", ext, size))
        if "huge_attachment" in cases:
            plan.append((f"db-dump-{item_id}.bin", "bin", HUGE_ATTACHMENT_BYTES))
        if "zero_byte_attachment" in cases:
            plan.append((f"empty-{item_id}.log", "log", 0))
        plan += [(f"large-{k + 1}.bin", "bin", size) for k, size in self._large_by_item.get(item_id, ())]
        added = sum(c.attachments for c in self._changes.get(item_id, ()))
        plan += [(f"added-{item_id}-{k + 1}.txt", "txt", 3000 + 17 * k) for k in range(added)]
        return plan

    def _attachment_guid(self, item_id: int, index: int) -> str:
        # The guid carries (item, index) in its last groups so a download can find its bytes
        # without a stored index; the rest is hash so guids look random.
        h = self._hash("attguid", item_id, index)
        return (
            f"{(h >> 32) & 0xFFFFFFFF:08x}-{(h >> 16) & 0xFFFF:04x}-4{h & 0xFFF:03x}-"
            f"{0x8000 | index:04x}-{item_id:012x}"
        )

    def _attachments(self, item_id: int) -> list[GeneratedAttachment]:
        core = self.core(item_id)
        created_by, assigned = self._people(item_id)
        out = []
        for i, (name, ext, size) in enumerate(self._attachment_plan(item_id)):
            guid = self._attachment_guid(item_id, i)
            if ext == "png":
                size = len(self._png(guid))
            span = max(1, int((core.changed - core.created).total_seconds()))
            created = core.created + timedelta(seconds=self._hash("attdate", item_id, i) % span)
            out.append(
                GeneratedAttachment(
                    guid=guid,
                    work_item_id=item_id,
                    index=i,
                    file_name=name,
                    size=size,
                    created=created,
                    author_id=(assigned or created_by).id,
                    comment="" if i % 3 else "attached while triaging",
                )
            )
        return out

    def attachment(self, guid: str) -> GeneratedAttachment:
        try:
            parts = guid.lower().split("-")
            item_id, index = int(parts[4], 16), int(parts[3], 16) & 0x3FFF
        except (IndexError, ValueError):
            raise KeyError(guid) from None
        if not 1 <= item_id <= self.n:
            raise KeyError(guid)
        if index >= INLINE_IMAGE_INDEX:
            return self._pasted_image(guid, item_id, index - INLINE_IMAGE_INDEX)
        atts = self.attachments(item_id)
        if index >= len(atts) or atts[index].guid != guid.lower():
            raise KeyError(guid)
        return atts[index]

    def _pasted_image(self, guid: str, item_id: int, k: int) -> GeneratedAttachment:
        if k >= self._inline_count(item_id) or self._attachment_guid(item_id, INLINE_IMAGE_INDEX + k) != guid.lower():
            raise KeyError(guid)
        core = self.core(item_id)
        return GeneratedAttachment(
            guid=guid.lower(),
            work_item_id=item_id,
            index=INLINE_IMAGE_INDEX + k,
            file_name=_pasted_name(item_id, k),
            size=len(self._png(guid.lower())),
            created=core.changed,
            author_id=self._people(item_id)[0].id,
        )

    def _png(self, guid: str) -> bytes:
        rng = self._rng("png", guid)
        w, h = rng.randint(8, 48), rng.randint(8, 48)
        base = [rng.randrange(256) for _ in range(3)]
        noise = rng.randbytes(w * h)
        raw = bytearray()
        for y in range(h):
            raw.append(0)
            g = (base[1] + y * 5) % 256
            for x in range(w):
                raw += bytes(((base[0] + x * 5) % 256, g, (base[2] + (noise[y * w + x] & 31)) % 256))

        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 6))
            + chunk(b"IEND", b"")
        )

    def _block(self, guid: str, ext: str, index: int) -> bytes:
        rng = self._rng("block", guid, index)
        if ext in ("txt", "log", "csv"):
            lines = []
            size = 0
            n = index * 1000
            while size < BLOCK_BYTES:
                n += 1
                if ext == "csv":
                    line = f"{n},{rng.choice(content.WORDS)},{rng.randint(0, 99999)},{rng.random():.4f}\n"
                elif ext == "log":
                    line = f"2024-03-{n % 28 + 1:02d}T10:{n % 60:02d}:00Z INFO {content.sentence(rng)}\n"
                else:
                    line = content.sentence(rng) + "\n"
                lines.append(line)
                size += len(line)
            data = "".join(lines).encode()[:BLOCK_BYTES]
        else:
            data = rng.randbytes(BLOCK_BYTES)
        if index == 0:
            magic = {"pdf": b"%PDF-1.4\n", "zip": b"PK\x03\x04", "csv": b"id,word,count,ratio\n"}.get(ext, b"")
            data = magic + data[len(magic) :]
        return data

    def _attachment_blocks(self, att: GeneratedAttachment, start: int = 0) -> Iterator[bytes]:
        """The file's blocks from byte `start` on (the first one cut): every block but the last is BLOCK_BYTES,
        so a range request starts at its block without generating the ones before."""
        ext = att.file_name.rsplit(".", 1)[-1]
        if ext == "png":
            yield self._png(att.guid)[start:]
            return
        index, skip = divmod(start, BLOCK_BYTES)
        remaining = att.size - index * BLOCK_BYTES
        if skip and remaining > 0:
            block = self._block(att.guid, ext, index)[:remaining]
            remaining -= len(block)
            index += 1
            yield block[skip:]
        while remaining > 0:
            block = self._block(att.guid, ext, index)[:remaining]
            remaining -= len(block)
            index += 1
            yield block

    def attachment_chunks(self, guid: str, chunk: int = 64 * 1024, start: int = 0) -> Iterator[bytes]:
        """The attachment's bytes from byte `start` as a stream of `chunk`-sized pieces (last one shorter)."""
        att = self.attachment(guid)
        buf = b""
        for block in self._attachment_blocks(att, start):
            buf += block
            while len(buf) >= chunk:
                yield buf[:chunk]
                buf = buf[chunk:]
        if buf:
            yield buf

    def large_attachment_content(self, size: int, sha256: str) -> Iterator[bytes] | None:
        """The bytes of the planted large file with this size and sha-256, if there is one (for a Jira that kept
        only the digest of what it received)."""
        for item_id in self._large_by_item:
            for att in self.attachments(item_id):
                if (
                    att.size == size
                    and att.file_name.startswith("large-")
                    and self.attachment_sha256(att.guid) == sha256
                ):
                    return self.attachment_chunks(att.guid)
        return None

    def _attachment_sha256(self, guid: str) -> str:
        h = hashlib.sha256()
        for piece in self.attachment_chunks(guid, BLOCK_BYTES):
            h.update(piece)
        return h.hexdigest()

    # ---- comments -----------------------------------------------------------------------------

    def comment_count(self, item_id: int) -> int:
        return self._base_comment_count(item_id) + sum(
            c.comments + len(c.comment_texts) for c in self._changes.get(item_id, ())
        )

    def _base_comment_count(self, item_id: int) -> int:
        if "many_comments" in self._ugly_by_id.get(item_id, []):
            return MANY_COMMENTS
        rng = self._rng("comment-count", item_id)
        roll = rng.random()
        if roll < 0.4:
            return 0
        if roll < 0.8:
            return rng.randint(1, 3)
        if roll < 0.97:
            return rng.randint(4, 12)
        return rng.randint(13, 40)

    @staticmethod
    def comment_id(item_id: int, index: int) -> int:
        """Comment ids are unique in the organization; past an item's 999th they leave the dense range."""
        if index < 999:
            return item_id * 1000 + index + 1
        return 1_000_000_000 + item_id * 1_000_000 + index

    def _html_context(self, item_id: int, rng: random.Random, images: list[tuple[str, str]]) -> content.HtmlContext:
        mentions = [(u.id, u.display_name) for u in rng.sample(self._active_users, 3)]
        if "ado_only_user" in self._ugly_by_id.get(item_id, []):
            u = self._special("ado_only")
            mentions.append((u.id, u.display_name))
        refs = sorted({rng.randint(1, self._base_n) for _ in range(3)} - {item_id})
        return content.HtmlContext(
            ORIGIN, self.spec.organization, self.spec.project, self.project_guid, mentions, refs, images
        )

    def comments(self, item_id: int) -> list[GeneratedComment]:
        """Oldest first; comments added by `change` come last, at the time of their change."""
        core = self._base_core(item_id)
        count = self._base_comment_count(item_id)
        rng = self._rng("comments", item_id)
        ctx = self._html_context(item_id, rng, [])
        # Discussion happens while the item is worked on.
        span = max(120, int((core.changed - core.created).total_seconds()))
        offsets = sorted(rng.randrange(60, span) for _ in range(count))
        created_by, assigned = self._people(item_id)
        cases = self._ugly_by_id.get(item_id, [])
        out = []
        for k, off in enumerate(offsets):
            author = (
                created_by
                if k == 0
                else (assigned or created_by)
                if rng.random() < 0.4
                else rng.choice(self._active_users)
            )
            if k == 0 and "ado_only_user" in cases:
                author = self._special("ado_only")
            if author.deleted and k > 0:
                author = rng.choice(self._active_users)
            out.append(
                GeneratedComment(
                    id=self.comment_id(item_id, k),
                    work_item_id=item_id,
                    author_id=author.id,
                    created=core.created + timedelta(seconds=off),
                    text=content.comment_html(rng, ctx),
                )
            )
        for change in self._changes.get(item_id, ()):
            for _ in range(change.comments):
                k = len(out)
                out.append(
                    GeneratedComment(
                        id=self.comment_id(item_id, k),
                        work_item_id=item_id,
                        author_id=created_by.id,
                        created=change.at,
                        text=f"<div>Follow-up {k + 1} on #{item_id}: still reproducible.</div>",
                    )
                )
            for text in change.comment_texts:
                out.append(
                    GeneratedComment(
                        id=self.comment_id(item_id, len(out)),
                        work_item_id=item_id,
                        author_id=created_by.id,
                        created=change.at,
                        text=text,
                    )
                )
        return out

    # ---- the work item ------------------------------------------------------------------------

    def _area_and_iteration(self, item_id: int, core: ItemCore) -> tuple[ClassificationNode, ClassificationNode]:
        block, _, _ = _position(item_id)
        leaf = self._leaf_areas[self._hash("area", block) % len(self._leaf_areas)]
        if core.type == "Epic":
            area = next(n for n in self.areas.children if leaf.path.startswith(n.path + "\\") or n is leaf)
        else:
            area = leaf
        if core.state in ("New", "Design") or core.type in ("Epic", "Feature"):
            return area, self.iterations
        when = core.changed if core.state in ("Closed", "Resolved") else core.created
        idx = min(len(self._sprints) - 1, max(0, (when - START).days // SPRINT_DAYS))
        return area, self._sprints[idx]

    def area_path_of(self, item_id: int) -> str:
        return self._area_and_iteration(item_id, self.core(item_id))[0].path

    def _build_work_item(self, item_id: int, core: ItemCore | None = None, edited: bool = True) -> GeneratedWorkItem:
        core = core or self.core(item_id)
        wit = core.type
        rng = self._rng("item", item_id)
        cases = self._ugly_by_id.get(item_id, [])
        created_by, assigned = self._people(item_id)
        changed_by = assigned or created_by
        if changed_by.deleted:
            changed_by = created_by if not created_by.deleted else self._active_users[0]
        atts = self.attachments(item_id)
        images = [(a.guid, a.file_name) for a in atts if a.file_name.endswith(".png")][:5]
        ctx = self._html_context(item_id, rng, images)
        area, iteration = self._area_and_iteration(item_id, core)

        title = content.title(rng, wit)
        body = content.rich_html(rng, ctx)
        if "long_title" in cases:
            title = (title + " — ") * 12
            title = title[:300] + " (imported from legacy tracker, see the original ticket for the full text)"
        if "emoji_rtl" in cases:
            title = f"🚀 {title} — {content.RTL_HE[:16]} ✅"
            body = content.emoji_rtl_html(rng) + body
        if "control_chars" in cases:
            title = f"{title}\x0b\x1b[31m"
            body = f"<div>NUL here:\x00 bell:\x07 escape:\x1b[0m vertical tab:\x0b</div>{body}{content.CONTROL}"
        if "broken_html" in cases:
            body = content.broken_html(rng, ctx)
        if "long_description" in cases:
            body = content.long_html(rng, ctx, LONG_DESCRIPTION_CHARS)

        reason = (BUG_REASONS if wit == "Bug" else REASONS).get(core.state, "New")
        f: dict[str, Any] = {
            "System.Id": item_id,
            "System.AreaId": area.id,
            "System.AreaPath": area.path,
            "System.TeamProject": self.spec.project,
            "System.NodeName": area.name,
            "System.AreaLevel1": self.spec.project,
            "System.Rev": core.rev,
            "System.AuthorizedDate": ado_date(core.changed),
            "System.RevisedDate": "9999-01-01T00:00:00Z",
            "System.IterationId": iteration.id,
            "System.IterationPath": iteration.path,
            "System.IterationLevel1": self.spec.project,
            "System.WorkItemType": wit,
            "System.State": core.state,
            "System.Reason": reason,
            "System.CreatedDate": ado_date(core.created),
            "System.CreatedBy": created_by.identity_ref(),
            "System.ChangedDate": ado_date(core.changed),
            "System.ChangedBy": changed_by.identity_ref(),
            "System.AuthorizedAs": changed_by.identity_ref(),
            "System.CommentCount": self.comment_count(item_id),
            "System.Title": title,
            "System.BoardColumn": core.state if core.state != "Removed" else core.state_path[0],
            "Microsoft.VSTS.Common.StateChangeDate": ado_date(core.changed),
            "Custom.Team": TEAMS[self._hash("team", _position(item_id)[0]) % len(TEAMS)],
        }
        if assigned is not None:
            f["System.AssignedTo"] = assigned.identity_ref()
        if core.parent_id is not None:
            f["System.Parent"] = core.parent_id
        if wit != "Test Case":
            f["Microsoft.VSTS.Common.Priority"] = rng.choices([1, 2, 3, 4], weights=[1, 4, 4, 1])[0]
        if rng.random() < 0.45:
            f["System.Tags"] = "; ".join(sorted(rng.sample(content.TAGS, rng.randint(1, 3))))
        if wit == "Bug":
            f["Microsoft.VSTS.TCM.ReproSteps"] = body
            f["Microsoft.VSTS.TCM.SystemInfo"] = f"Browser: Edge {rng.randint(110, 130)}; OS: Windows 11"
            f["Microsoft.VSTS.Common.Severity"] = rng.choice(["1 - Critical", "2 - High", "3 - Medium", "4 - Low"])
            f["Custom.CustomerImpact"] = rng.choice(["Low", "Medium", "High"])
        else:
            f["System.Description"] = body
        if wit in ("User Story", "Bug"):
            f["Microsoft.VSTS.Scheduling.StoryPoints"] = float(rng.choice([1, 2, 3, 5, 8, 13]))
        if wit == "User Story":
            f["Microsoft.VSTS.Common.ValueArea"] = rng.choice(["Business", "Architectural"])
            f["Microsoft.VSTS.Common.AcceptanceCriteria"] = content._list(rng, ctx)
        if wit in ("Epic", "Feature"):
            f["Microsoft.VSTS.Common.BusinessValue"] = rng.randint(1, 100)
            f["Microsoft.VSTS.Common.TimeCriticality"] = float(rng.randint(1, 20))
            f["Microsoft.VSTS.Scheduling.Effort"] = float(rng.choice([5, 8, 13, 20, 40]))
            f["Microsoft.VSTS.Common.ValueArea"] = "Business"
        if wit == "Task":
            est = float(rng.choice([1, 2, 4, 6, 8, 12, 16]))
            done = est if core.state == "Closed" else round(est * rng.random(), 1)
            f["Microsoft.VSTS.Common.Activity"] = rng.choice(["Development", "Testing", "Design", "Documentation"])
            f["Microsoft.VSTS.Scheduling.OriginalEstimate"] = est
            f["Microsoft.VSTS.Scheduling.CompletedWork"] = done
            f["Microsoft.VSTS.Scheduling.RemainingWork"] = max(0.0, est - done)
        if wit == "Issue":
            f["Microsoft.VSTS.Scheduling.DueDate"] = ado_date(core.created + timedelta(days=rng.randint(7, 60)))
        if wit == "Test Case" and self.spec.test_management:
            f.update(self._test_case_fields(item_id))
            f["Microsoft.VSTS.TCM.AutomationStatus"] = "Not Automated"
            f["Microsoft.VSTS.Common.Priority"] = 2
        elif wit == "Test Case":
            f["Microsoft.VSTS.TCM.Steps"] = content.steps_xml(rng)
            f["Microsoft.VSTS.TCM.AutomationStatus"] = "Not Automated"
            f["Microsoft.VSTS.Common.Priority"] = 2
        if wit == "Shared Steps":
            f["Microsoft.VSTS.TCM.Steps"] = content.steps_xml(rng)
        if core.state in ("Active", "Resolved", "Closed", "Ready"):
            f["Microsoft.VSTS.Common.ActivatedDate"] = ado_date(core.created + (core.changed - core.created) / 3)
            f["Microsoft.VSTS.Common.ActivatedBy"] = changed_by.identity_ref()
        if core.state in ("Resolved", "Closed") and "Resolved" in STATES[wit]:
            f["Microsoft.VSTS.Common.ResolvedDate"] = ado_date(core.created + (core.changed - core.created) * 2 / 3)
            f["Microsoft.VSTS.Common.ResolvedBy"] = changed_by.identity_ref()
        if core.state == "Closed":
            f["Microsoft.VSTS.Common.ClosedDate"] = ado_date(core.changed)
            f["Microsoft.VSTS.Common.ClosedBy"] = changed_by.identity_ref()

        if edited:
            for change in self._changes.get(item_id, ()):
                f.update(change.fields)
        return GeneratedWorkItem(
            id=item_id,
            rev=core.rev,
            type=wit,
            fields=f,
            parent_id=core.parent_id,
            relations=self._relations(item_id, core, atts, rng),
            ugly=list(cases),
        )

    def work_item_url(self, item_id: int) -> str:
        return f"{ORIGIN}/{self.spec.organization}/{self.project_guid}/_apis/wit/workItems/{item_id}"

    def attachment_url(self, guid: str) -> str:
        return f"{ORIGIN}/{self.spec.organization}/{self.project_guid}/_apis/wit/attachments/{guid}"

    def _relations(
        self, item_id: int, core: ItemCore, atts: list[GeneratedAttachment], rng: random.Random
    ) -> list[GeneratedRelation]:
        names = {
            "System.LinkTypes.Hierarchy-Reverse": "Parent",
            "System.LinkTypes.Hierarchy-Forward": "Child",
            "System.LinkTypes.Related": "Related",
            "System.LinkTypes.Dependency-Forward": "Successor",
            "System.LinkTypes.Dependency-Reverse": "Predecessor",
            "System.LinkTypes.Duplicate-Forward": "Duplicate",
            "System.LinkTypes.Duplicate-Reverse": "Duplicate Of",
            "Microsoft.VSTS.Common.TestedBy-Forward": "Tested By",
            "Microsoft.VSTS.Common.TestedBy-Reverse": "Tests",
        }
        out = [
            GeneratedRelation(
                rel=rel,
                url=self.work_item_url(other),
                target_id=other,
                attributes={"isLocked": False, "name": names[rel]},
            )
            for rel, other in self.linked_items(item_id)
        ]

        def resource_attrs(n: int, when: datetime) -> dict[str, Any]:
            return {
                "authorizedDate": ado_date(when),
                "id": item_id * 1000 + n,
                "resourceCreatedDate": ado_date(when),
                "resourceModifiedDate": ado_date(when),
                "revisedDate": "9999-01-01T00:00:00Z",
            }

        if rng.random() < 0.15:
            out.append(
                GeneratedRelation(
                    rel="Hyperlink",
                    url=f"https://wiki.example.com/phoenix/{rng.choice(content.WORDS)}-{item_id}",
                    attributes={**resource_attrs(500, core.created), "comment": "design notes"},
                )
            )
        if self.spec.extra_hyperlinks and item_id == self.item_ids()[0]:
            out += [
                GeneratedRelation(
                    rel="Hyperlink",
                    url=f"https://wiki.example.com/phoenix/crowded-{item_id}/{n}",
                    attributes={**resource_attrs(10_000 + n, core.created), "comment": "one of many"},
                )
                for n in range(self.spec.extra_hyperlinks)
            ]
        if core.type in ("User Story", "Task", "Bug") and rng.random() < 0.25:
            repo = self._guid("repo", _position(item_id)[0] % 3)
            sha = hashlib.sha1(f"{self.spec.seed}:{item_id}".encode()).hexdigest()
            out.append(
                GeneratedRelation(
                    rel="ArtifactLink",
                    url=f"vstfs:///Git/Commit/{self.project_guid}%2F{repo}%2F{sha}",
                    attributes={**resource_attrs(501, core.changed), "name": "Fixed in Commit"},
                )
            )
            if rng.random() < 0.6:
                out.append(
                    GeneratedRelation(
                        rel="ArtifactLink",
                        url=f"vstfs:///Git/PullRequestId/{self.project_guid}%2F{repo}%2F{1000 + item_id}",
                        attributes={**resource_attrs(502, core.changed), "name": "Pull Request"},
                    )
                )
        for a in atts:
            out.append(
                GeneratedRelation(
                    rel="AttachedFile",
                    url=self.attachment_url(a.guid),
                    attributes={
                        **resource_attrs(a.index, a.created),
                        "resourceSize": a.size,
                        "name": a.file_name,
                        **({"comment": a.comment} if a.comment else {}),
                    },
                )
            )
        return out

    # ---- history ------------------------------------------------------------------------------

    def revisions(self, item_id: int) -> list[GeneratedRevision]:
        """Full snapshots, rev 1 first; the last one equals work_item(id).fields."""
        changes = self._changes.get(item_id)
        if not changes:
            return self._generated_revisions(self.work_item(item_id), self.core(item_id))
        base_core = self._base_core(item_id)
        snapshots = self._generated_revisions(self._build_work_item(item_id, base_core, edited=False), base_core)
        final = self.work_item(item_id).fields
        current = dict(snapshots[-1].fields)
        for n, change in enumerate(changes, start=1):
            current.update(change.fields)
            if change.state:
                current["System.State"] = change.state
                current["System.Reason"] = (BUG_REASONS if base_core.type == "Bug" else REASONS).get(
                    change.state, "New"
                )
            snapshots[-1].fields["System.RevisedDate"] = ado_date(change.at)
            snap = dict(final) if n == len(changes) else dict(current)
            snap.update(
                {
                    "System.Rev": base_core.rev + n,
                    "System.ChangedDate": ado_date(change.at),
                    "System.AuthorizedDate": ado_date(change.at),
                    "System.RevisedDate": "9999-01-01T00:00:00Z",
                }
            )
            snapshots.append(
                GeneratedRevision(
                    rev=base_core.rev + n,
                    changed_date=change.at,
                    changed_by=snap["System.ChangedBy"]["id"],
                    fields=snap,
                )
            )
        return snapshots

    def _generated_revisions(self, item: GeneratedWorkItem, core: ItemCore) -> list[GeneratedRevision]:
        item_id = item.id
        rng = self._rng("revisions", item_id)
        final = item.fields
        created_by = final["System.CreatedBy"]
        late_fields = [
            k
            for k in (
                "System.AssignedTo",
                "System.Tags",
                "Microsoft.VSTS.Common.Priority",
                "Microsoft.VSTS.Scheduling.StoryPoints",
                "System.IterationPath",
            )
            if k in final
        ]
        extra_steps = core.rev - len(core.state_path)
        span = core.changed - core.created
        snapshots: list[GeneratedRevision] = []
        # Lifecycle stamps only appear once the item reaches those states (the final revision).
        current = {k: v for k, v in final.items() if k not in _LIFECYCLE_FIELDS}
        for k in late_fields[:extra_steps]:
            if k == "System.IterationPath":
                current[k] = self.iterations.path
            else:
                current.pop(k, None)
        state_i = 0
        for rev in range(1, core.rev + 1):
            if rev == core.rev:
                snap = dict(final)
            else:
                if rev > 1:
                    if state_i + 1 < len(core.state_path) and (extra_steps <= 0 or rng.random() < 0.6):
                        state_i += 1
                    elif extra_steps > 0:
                        extra_steps -= 1
                        pending = [k for k in late_fields if current.get(k) != final.get(k)]
                        if pending:
                            current[pending[0]] = final[pending[0]]
                current["System.State"] = core.state_path[state_i]
                current["System.Reason"] = (BUG_REASONS if core.type == "Bug" else REASONS).get(
                    current["System.State"], "New"
                )
                snap = dict(current)
            when = core.created + span * ((rev - 1) / max(1, core.rev - 1)) if rev < core.rev else core.changed
            snap["System.Rev"] = rev
            snap["System.ChangedDate"] = ado_date(when)
            snap["System.AuthorizedDate"] = ado_date(when)
            if rev == 1:
                snap["System.ChangedBy"] = created_by
            if rev < core.rev:
                nxt = core.created + span * (rev / max(1, core.rev - 1)) if rev + 1 < core.rev else core.changed
                snap["System.RevisedDate"] = ado_date(nxt)
            by = snap["System.ChangedBy"]["id"]
            snapshots.append(GeneratedRevision(rev=rev, changed_date=when, changed_by=by, fields=snap))
        return snapshots

    def as_of(self, item_id: int, when: datetime) -> GeneratedRevision | None:
        """The revision current at `when`, or None if the item did not exist yet."""
        found = None
        for r in self.revisions(item_id):
            if r.changed_date <= when:
                found = r
        return found

    # ---- 7pace time logs ----------------------------------------------------------------------

    def worklogs(self, item_id: int) -> list[GeneratedWorklog]:
        core = self._base_core(item_id)
        if core.type not in ("Task", "Bug", "User Story") or core.state in ("New", "Removed"):
            return []
        rng = self._rng("worklogs", item_id)
        count = rng.choice([0, 1, 2, 3, 4, 6]) if core.type == "Task" else rng.choice([0, 0, 1, 2])
        created_by, assigned = self._people(item_id)
        worker = assigned or created_by
        span = max(3600, int((core.changed - core.created).total_seconds()))
        out = []
        for k in range(count):
            length = rng.choice([15, 30, 45, 60, 90, 120, 180, 240, 480]) * 60
            who = worker if rng.random() < 0.8 else rng.choice(self._active_users)
            out.append(
                GeneratedWorklog(
                    id=self._guid("worklog", item_id, k),
                    work_item_id=item_id,
                    user_id=who.id,
                    timestamp=core.created + timedelta(seconds=rng.randrange(0, span)),
                    length_seconds=length,
                    billable_seconds=length if rng.random() < 0.7 else 0,
                    activity_type=rng.choice(ACTIVITY_TYPES),
                    comment=content.sentence(rng, (3, 8)),
                )
            )
        out.sort(key=lambda w: w.timestamp)
        return out


def _pasted_name(item_id: int, k: int) -> str:
    return f"pasted-{item_id}-{k + 1}.png"


def _descriptor(guid: str) -> str:
    return "aad." + base64.urlsafe_b64encode(guid.encode()).decode().rstrip("=")
