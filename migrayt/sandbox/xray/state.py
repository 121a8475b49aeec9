"""What the sandbox Xray Cloud holds: API tokens, import jobs, and the Xray side of Jira issues.

Tests, Test Sets and Test Plans are Jira issues of the sandbox Jira site (created through its own store,
so JQL, `/_sandbox/state` and undo see them); Xray keeps only what Jira does not: a test's type, its
steps and dataset, and which tests a set or a plan holds. An entry whose Jira issue is gone no longer
shows (undo deletes the issue, as on a real site).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from migrayt.sandbox.jira import catalog as jira_catalog
from migrayt.sandbox.jira.errors import JiraError
from migrayt.sandbox.jira.state import JiraState

# Xray Cloud: "There is a maximum of 1000 tests that can be imported each time".
MAX_IMPORT_ITEMS = 1000
TEST_TYPES = {"manual": "Manual", "cucumber": "Cucumber", "generic": "Generic"}
_TEST_SET_ALIASES = {"testset", "test_set", "test set"}
MAX_STEP_CHARS = 32_000


class XrayError(Exception):
    """An answer Xray gives as `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class TestEntry:
    test_type: str = "Manual"
    steps: list[dict[str, str]] = field(default_factory=list)
    # parameter names, then one dict per data row (an iteration)
    parameters: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    # The import job that made it (None: made in Jira itself, or before imports named their job).
    job: str | None = None


@dataclass
class ImportJob:
    id: str
    client_id: str
    items: list[Any]
    project: str | None
    status: str = "pending"
    progress: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None


class XrayState:
    def __init__(self, jira: JiraState, client_id: str, client_secret: str, *, job_seconds: float) -> None:
        self.jira = jira
        self.client_id = client_id
        self.client_secret = client_secret
        self.job_seconds = job_seconds
        self.tokens: dict[str, str] = {}  # token → client id
        self.jobs: dict[str, ImportJob] = {}
        self.tests: dict[int, TestEntry] = {}
        self.test_sets: dict[int, list[int]] = {}
        self.test_plans: dict[int, list[int]] = {}
        # Sandbox control: a test imported with one of these labels is refused with these errors (as Jira refuses a
        # field value), so a job reports errors for some tests and creates the others.
        self.import_refusals: dict[str, dict[str, str]] = {}
        jira.reset_listeners.append(self.reset)

    def reset(self) -> None:
        self.jobs.clear()
        self.tests.clear()
        self.test_sets.clear()
        self.test_plans.clear()
        self.import_refusals.clear()

    # --- authentication -----------------------------------------------------------------------

    def authenticate(self, client_id: Any, client_secret: Any) -> str:
        ok = (
            isinstance(client_id, str)
            and isinstance(client_secret, str)
            and secrets.compare_digest(client_id.encode(), self.client_id.encode())
            and secrets.compare_digest(client_secret.encode(), self.client_secret.encode())
        )
        if not ok:
            raise XrayError(401, "Authentication failed. Invalid client credentials!")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = client_id
        return token

    def caller(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        client = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if client is None:
            raise XrayError(401, "Authentication failed. Invalid token!")
        return client

    # --- bulk test import -----------------------------------------------------------------------

    def start_import(self, client_id: str, items: Any, project: str | None) -> ImportJob:
        if not isinstance(items, list):
            raise XrayError(400, "Invalid input: expected a JSON array of tests.")
        if len(items) > MAX_IMPORT_ITEMS:
            raise XrayError(400, f"The maximum number of tests that can be imported each time is {MAX_IMPORT_ITEMS}.")
        if any(j.client_id == client_id and j.status in ("pending", "working") for j in self.jobs.values()):
            raise XrayError(400, "An import job is already in progress for this user.")
        job = ImportJob(id=uuid.uuid4().hex, client_id=client_id, items=items, project=project)
        job.progress.append(f"[{_now()}] Job queued: {len(items)} issue(s) to import.")
        self.jobs[job.id] = job
        return job

    def job(self, job_id: str) -> ImportJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise XrayError(404, "job not found.")
        return job

    def run_import(self, job: ImportJob) -> None:
        """Import every element on its own: one that fails is reported by its elementNumber, the others land."""
        job.status = "working"
        job.progress.append(f"[{_now()}] Creating {len(job.items)} issue(s) in JIRA.")
        errors: list[dict[str, Any]] = []
        issues: list[dict[str, Any]] = []
        set_ids: dict[str, int] = {}
        # Test Sets first, so tests in the same input can name them by their xray_id.
        order = sorted(range(len(job.items)), key=lambda n: not _is_test_set(job.items[n]))
        for n in order:
            item = job.items[n]
            refused = self._refusal(item)
            if refused:
                errors.append({"elementNumber": n, "errors": refused})
                continue
            try:
                issue_id, key = self._import_one(item, job.project, set_ids, job.id)
            except XrayError as exc:
                errors.append({"elementNumber": n, "errors": {"xray": exc.message}})
                continue
            except JiraError as exc:
                body = exc.body()
                errors.append({"elementNumber": n, "errors": body.get("errors") or {"jira": body.get("errorMessages")}})
                continue
            if _is_test_set(item) and isinstance(item.get("xray_id"), str):
                set_ids[item["xray_id"]] = issue_id
            issues.append({"elementNumber": n, "id": str(issue_id), "key": key})
        issues.sort(key=lambda i: i["elementNumber"])
        errors.sort(key=lambda e: e["elementNumber"])
        job.result = {"errors": errors, "issues": issues, "warnings": []}
        job.status = "successful" if not errors else ("partially_successful" if issues else "unsuccessful")
        job.progress.append(f"[{_now()}] Import finished: {len(issues)} created, {len(errors)} failed.")

    def _refusal(self, item: Any) -> dict[str, str] | None:
        labels = ((item.get("fields") or {}).get("labels") or []) if isinstance(item, dict) else []
        return next((self.import_refusals[lbl] for lbl in labels if lbl in self.import_refusals), None)

    def _import_one(self, item: Any, project: str | None, set_ids: dict[str, int], job: str) -> tuple[int, str]:
        if not isinstance(item, dict):
            raise XrayError(400, "Each element must be a JSON object.")
        fields = dict(item.get("fields") or {})
        for name in ("summary", "project", "labels", "description", "priority"):
            if name in item and name not in fields:
                fields[name] = item[name]
        if "project" not in fields:
            if project is None:
                raise XrayError(400, "Project information is missing.")
            fields["project"] = {"key": project}
        if _is_test_set(item):
            fields["issuetype"] = {"name": "Test Set"}
            issue = self.jira.create_issue({"fields": fields, "update": item.get("update") or {}})
            self.test_sets[issue.id] = []
            return issue.id, issue.key
        entry = self._test_entry(item)
        entry.job = job
        targets = self._test_set_targets(item.get("xray_test_sets"), set_ids)
        fields["issuetype"] = {"name": "Test"}
        issue = self.jira.create_issue({"fields": fields, "update": item.get("update") or {}})
        self.tests[issue.id] = entry
        for set_id in targets:
            self.test_sets.setdefault(set_id, [])
            if issue.id not in self.test_sets[set_id]:
                self.test_sets[set_id].append(issue.id)
        return issue.id, issue.key

    def _test_entry(self, item: dict[str, Any]) -> TestEntry:
        raw_type = item.get("testtype", item.get("xray_testtype"))
        if not isinstance(raw_type, str) or raw_type.lower() not in TEST_TYPES:
            raise XrayError(400, f"Test type {raw_type!r} is not valid; expected one of {sorted(TEST_TYPES.values())}.")
        steps_in = item.get("steps", item.get("xray_steps")) or []
        if not isinstance(steps_in, list):
            raise XrayError(400, "steps must be a list.")
        steps = []
        for n, step in enumerate(steps_in, start=1):
            if not isinstance(step, dict) or not isinstance(step.get("action"), str) or not step["action"].strip():
                raise XrayError(400, f"Step {n}: the action is required.")
            texts = {k: step.get(k) or "" for k in ("action", "data", "result")}
            if any(not isinstance(v, str) for v in texts.values()):
                raise XrayError(400, f"Step {n}: action, data and result must be strings.")
            if any(len(v) > MAX_STEP_CHARS for v in texts.values()):
                raise XrayError(400, f"Step {n}: a step field is longer than {MAX_STEP_CHARS} characters.")
            steps.append({"id": uuid.uuid4().hex, **texts})
        return TestEntry(test_type=TEST_TYPES[raw_type.lower()], steps=steps)

    def _test_set_targets(self, refs: Any, set_ids: dict[str, int]) -> list[int]:
        if refs is None:
            return []
        if not isinstance(refs, list):
            raise XrayError(400, "xray_test_sets must be a list.")
        out = []
        for ref in refs:
            if isinstance(ref, str) and ref in set_ids:
                out.append(set_ids[ref])
                continue
            issue = self.jira.find_issue(str(ref), str(ref))
            if issue is None or not self._is_kind(issue.id, "Test Set"):
                raise XrayError(400, f"Test Set {ref!r} does not exist.")
            out.append(issue.id)
        return out

    # --- tests edited in place (GraphQL) ---------------------------------------------------------

    def as_test(self, issue_id: str) -> int:
        """A Jira issue of type Test as Xray sees it: one made in Jira (not imported) gets Xray data on first
        write, as on a site where Xray is installed."""
        iid = int(issue_id) if str(issue_id).isdigit() else -1
        if not self.is_test(iid):
            raise XrayError(400, f"Test with id {issue_id} was not found.")
        self.entry(iid)
        return iid

    def set_test_type(self, issue_id: int, name: str) -> None:
        if name.lower() not in TEST_TYPES:
            raise XrayError(400, f"Test type {name!r} is not valid.")
        self.tests[issue_id].test_type = TEST_TYPES[name.lower()]

    def add_step(self, issue_id: int, step: dict[str, Any]) -> dict[str, str]:
        texts = {k: str(step.get(k) or "") for k in ("action", "data", "result")}
        if not texts["action"].strip():
            raise XrayError(400, "The step action is required.")
        if any(len(v) > MAX_STEP_CHARS for v in texts.values()):
            raise XrayError(400, f"A step field is longer than {MAX_STEP_CHARS} characters.")
        added = {"id": uuid.uuid4().hex, **texts}
        self.tests[issue_id].steps.append(added)
        return added

    # --- datasets ----------------------------------------------------------------------------------

    def set_dataset(self, issue_id: int, parameters: list[str], rows: list[dict[str, str]]) -> None:
        if not self.is_test(issue_id):
            raise XrayError(400, "The issue is not a Test.")
        entry = self.entry(issue_id)
        entry.parameters = parameters
        entry.rows = rows

    # --- sets and plans ---------------------------------------------------------------------------

    def create_container(self, kind: str, jira: Any, test_ids: list[str]) -> int:
        fields = dict((jira or {}).get("fields") or {}) if isinstance(jira, dict) else {}
        fields["issuetype"] = {"name": kind}
        if "project" not in fields:
            fields["project"] = {"key": self.jira.config.project_key}
        tests = self._tests(test_ids)
        issue = self.jira.create_issue({"fields": fields})
        holder = self.test_sets if kind == "Test Set" else self.test_plans
        holder[issue.id] = []
        self.add_tests(kind, issue.id, [str(t) for t in tests])
        return issue.id

    def add_tests(self, kind: str, holder_id: int, test_ids: list[str]) -> tuple[list[str], str | None]:
        holder = self.test_sets if kind == "Test Set" else self.test_plans
        if not self._is_kind(holder_id, kind):
            raise XrayError(400, f"issueId {holder_id} is not a {kind}.")
        holder.setdefault(holder_id, [])
        added = []
        already = []
        for tid in self._tests(test_ids):
            if tid in holder[holder_id]:
                already.append(str(tid))
                continue
            holder[holder_id].append(tid)
            added.append(str(tid))
        warning = f"Tests already associated with the {kind}: {', '.join(already)}" if already else None
        return added, warning

    def _tests(self, test_ids: list[str]) -> list[int]:
        out = []
        for raw in test_ids:
            tid = int(raw) if str(raw).isdigit() else -1
            if not self.is_test(tid):
                raise XrayError(400, f"Test with id {raw} was not found.")
            out.append(tid)
        return out

    # --- reads -------------------------------------------------------------------------------------

    def is_test(self, issue_id: int) -> bool:
        issue = self.jira.issues.get(issue_id)
        return issue is not None and jira_catalog.ISSUE_TYPES_BY_ID[issue.type_id].name == "Test"

    def entry(self, issue_id: int) -> TestEntry:
        """Xray's data of a Test issue; one created in Jira itself starts as a Manual test without steps."""
        return self.tests.setdefault(issue_id, TestEntry())

    def live_tests(self) -> list[int]:
        return sorted(i for i in self.jira.issues if self.is_test(i))

    def live(self, holder: dict[int, list[int]]) -> list[int]:
        """Every Test Set (or Test Plan) of the site: one created in Jira itself is one to Xray too."""
        kind = "Test Set" if holder is self.test_sets else "Test Plan"
        return sorted(i for i in self.jira.issues if self._is_kind(i, kind))

    def _is_kind(self, issue_id: int, kind: str) -> bool:
        issue = self.jira.issues.get(issue_id)
        return issue is not None and jira_catalog.ISSUE_TYPES_BY_ID[issue.type_id].name == kind

    def members(self, holder: dict[int, list[int]], holder_id: int) -> list[int]:
        return [t for t in holder.get(holder_id, []) if self.is_test(t)]

    def snapshot(self) -> dict[str, Any]:
        tests = self.live_tests()
        return {
            "tests": len(tests),
            "steps": sum(len(self.entry(t).steps) for t in tests),
            "datasets": sum(1 for t in tests if self.entry(t).parameters),
            "test_sets": {
                "total": len(self.live(self.test_sets)),
                "memberships": sum(len(self.members(self.test_sets, s)) for s in self.live(self.test_sets)),
            },
            "test_plans": {
                "total": len(self.live(self.test_plans)),
                "memberships": sum(len(self.members(self.test_plans, p)) for p in self.live(self.test_plans)),
            },
            "import_jobs": {
                status: sum(1 for j in self.jobs.values() if j.status == status)
                for status in ("pending", "working", "successful", "partially_successful", "unsuccessful", "failed")
            },
        }


def _is_test_set(item: Any) -> bool:
    kind = item.get("xray_issue_type") if isinstance(item, dict) else None
    return isinstance(kind, str) and kind.lower() in _TEST_SET_ALIASES


def _now() -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
