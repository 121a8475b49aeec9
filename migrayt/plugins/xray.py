"""ADO Test Cases → Xray Cloud tests, ADO test suites and plans → Xray Test Sets and Test Plans.

Each test case becomes its Xray Test through Xray's bulk test import, an asynchronous job, run inside create items
(migrayt/plugins/xray_import.py: the job's id is committed before it is polled, so a restarted worker reads the job
instead of importing again). Made in phase 2 with every other issue, the Tests are items like any other: their
links ("Tested By"), attachments, comments and statuses travel in phases 3–7 through their `issue` records. The
import carries the manual steps in order (`Microsoft.VSTS.TCM.Steps`, shared steps expanded in place: see
migrayt/translation/test_steps.py); this plugin's phase then adds what the import cannot: the parameters' data rows
as the Test's dataset, and its place in every suite and plan (each ADO suite a Test Set, each ADO plan a Test Plan
holding every test of its suites). It reads the imported steps back first (equal: nothing written), and is also
what carries steps changed in ADO since onto the Test (a delta sync, a later run).

Exactly once, by converging on what Xray holds (a consistent read by issue id, never the search index):
- a test case (record "xray_test", pending before any write): its steps are read back first; equal → nothing,
  a prefix → the rest are added, anything else → replaced; a lost answer is settled by reading back again,
  so no step is ever added twice. The dataset is replaced as a whole (repeating it changes nothing).
- a Test Set / Test Plan (record "xray_container"): created under a PostgreSQL advisory lock (batches run side
  by side and share containers), labelled `ado-test-suite-N` / `ado-test-plan-N`; a pending one is looked up by
  that label (after the index grace) before it is created again.
- a membership (record "xray_membership"): Xray adds a test to a set or plan once, so adding is repeatable; the
  record is done once the container's tests, read back, include it.

Without Xray on the Jira site (no API key on the target): the test case's steps (and dataset) are appended to its
issue's description as an ADF table, once (record "steps_table"; the heading marks it, read back first). Steps that
would push the description past Jira's limit go to an attached file instead (record "steps_file", uploaded first),
and the description keeps the heading with a note naming the file.

Undo deletes the Test Sets and Test Plans the migration made (`undone_kinds`); the Tests go as its issues.

Runs and results (ADO test runs and outcomes) are not carried: they are execution history bound to builds,
configurations and testers that have no counterpart until the tests run in Xray; a migration carries the tests,
the teams run them there. The scan says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from migrayt.activities.execution.content_io import IssueFiles, bytes_source
from migrayt.activities.side_by_side import gather_or_cancel
from migrayt.connectors.adf.fit import adf_char_count, fit_adf
from migrayt.connectors.ado import AdoClient
from migrayt.connectors.http import AmbiguousWriteError, ApiError
from migrayt.connectors.jira import Issue, JiraClient
from migrayt.connectors.xray import XrayClient
from migrayt.contracts.execution import PhaseBatchResult
from migrayt.contracts.record_kinds import (
    ISSUE,
    STEPS_FILE,
    STEPS_TABLE,
    XRAY_CONTAINER,
    XRAY_MEMBERSHIP,
    XRAY_TEST,
)
from migrayt.contracts.validation import Difference, DifferenceKind
from migrayt.plugins.contract import Detection, Plugin, PluginFinding, PluginScan
from migrayt.store import item_records
from migrayt.store.item_records import DONE
from migrayt.translation.issue_fields import TEXT_LIMIT
from migrayt.translation.test_steps import (
    STEPS_TABLE_HEADING,
    StepsError,
    TestCaseSteps,
    parse_test_case,
    shared_step_ids,
)
from migrayt.translation.validation_rules import CUT_NOTE

if TYPE_CHECKING:  # create items imports this module (plugins/xray_import.py), and phase_batch imports create items
    from migrayt.activities.execution.phase_batch import PhaseBatch

TEST_CASE = "Test Case"
STEPS_FIELDS = ("Microsoft.VSTS.TCM.Steps", "Microsoft.VSTS.TCM.Parameters", "Microsoft.VSTS.TCM.LocalDataSource")
TABLE_HEADING = STEPS_TABLE_HEADING
# Tries of one test's convergence when answers keep getting lost.
CONVERGE_TRIES = 5
ITEMS_AT_ONCE = 4


def index_grace() -> float:
    from migrayt.settings import get_settings

    return get_settings().index_lag_grace_seconds


# --- what ADO holds ---------------------------------------------------------------------------------


@dataclass
class Container:
    kind: str  # "Test Set" | "Test Plan"
    key: str  # record source key: "suite:N" | "plan:N"
    label: str
    summary: str


@dataclass
class Memberships:
    """Test case id → the containers it belongs in (its suites' Test Sets and its plans' Test Plans)."""

    of: dict[int, list[Container]] = field(default_factory=lambda: defaultdict(list))
    containers: dict[str, Container] = field(default_factory=dict)


async def read_memberships(ado: AdoClient) -> Memberships:
    """Every plan's suites and their test cases, through the Test Plans REST API (a root suite is its plan)."""
    out = Memberships()
    for plan in await ado.get_test_plans():
        plan_c = Container("Test Plan", f"plan:{plan['id']}", f"ado-test-plan-{plan['id']}", str(plan.get("name")))
        out.containers[plan_c.key] = plan_c
        for suite in await ado.get_test_suites(plan["id"]):
            ids = await ado.get_suite_test_case_ids(plan["id"], suite["id"])
            suite_c: Container | None = None
            if suite.get("parentSuite"):
                suite_c = Container(
                    "Test Set", f"suite:{suite['id']}", f"ado-test-suite-{suite['id']}", str(suite.get("name"))
                )
                out.containers[suite_c.key] = suite_c
            for tc in ids:
                if suite_c is not None and suite_c not in out.of[tc]:
                    out.of[tc].append(suite_c)
                if plan_c not in out.of[tc]:
                    out.of[tc].append(plan_c)
    return out


_MEMBERSHIPS: dict[tuple[str, str], Memberships] = {}


async def memberships_for(batch: PhaseBatch) -> Memberships:
    """Read once per run in this process: every batch of the run asks for the same suites."""
    key = (batch.migration_id, batch.run_id)
    if key not in _MEMBERSHIPS:
        _MEMBERSHIPS.clear()
        _MEMBERSHIPS[key] = await read_memberships(batch.ctx.ado)
    return _MEMBERSHIPS[key]


async def read_steps(ado: AdoClient, fields: dict[str, Any]) -> TestCaseSteps:
    """The test case's steps with its shared steps fetched and expanded; StepsError says why not."""
    steps_xml = fields.get("Microsoft.VSTS.TCM.Steps")
    refs = shared_step_ids(steps_xml)
    shared: dict[int, str | None] = {}
    if refs:
        found = {wi.id: wi for wi in await ado.get_work_items(refs, expand=None, fields=["Microsoft.VSTS.TCM.Steps"])}
        shared = {i: (found[i].fields.get("Microsoft.VSTS.TCM.Steps") or "") if i in found else None for i in refs}
    return parse_test_case(
        steps_xml,
        shared_steps=shared,
        parameters_xml=fields.get("Microsoft.VSTS.TCM.Parameters"),
        data_source_xml=fields.get("Microsoft.VSTS.TCM.LocalDataSource"),
    )


def desired_steps(parsed: TestCaseSteps) -> list[tuple[str, str, str]]:
    return [(s.action, "", s.expected) for s in parsed.steps]


def source_digest(parsed: TestCaseSteps) -> str:
    """What a test case's steps and dataset were when carried: a later run (a delta sync) rewrites the Test only
    when the source changed since, so edits made in Xray after the migration stay otherwise."""
    data = repr((desired_steps(parsed), parsed.dataset.as_csv_rows() if parsed.dataset else None))
    return hashlib.blake2b(data.encode(), digest_size=16).hexdigest()


# --- the fallback: a table in the description -----------------------------------------------------


def _cell(text_: str, header: bool = False) -> dict[str, Any]:
    para: dict[str, Any] = {"type": "paragraph", "content": [{"type": "text", "text": text_}] if text_ else []}
    return {"type": "tableHeader" if header else "tableCell", "content": [para]}


def steps_table_adf(parsed: TestCaseSteps) -> list[dict[str, Any]]:
    """ADF nodes: a heading, the steps as a table (#, action, expected result), and the dataset when there is one."""
    rows = [{"type": "tableRow", "content": [_cell("#", True), _cell("Action", True), _cell("Expected result", True)]}]
    for n, s in enumerate(parsed.steps, start=1):
        rows.append({"type": "tableRow", "content": [_cell(str(n)), _cell(s.action), _cell(s.expected)]})
    nodes: list[dict[str, Any]] = [
        {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": TABLE_HEADING}]},
        {"type": "table", "content": rows},
    ]
    if parsed.dataset is not None and parsed.dataset.rows:
        data = [{"type": "tableRow", "content": [_cell(p, True) for p in parsed.dataset.parameters]}]
        data += [{"type": "tableRow", "content": [_cell(v) for v in r]} for r in parsed.dataset.rows]
        nodes.append({"type": "table", "content": data})
    return nodes


def steps_file_name(item_id: int) -> str:
    return f"ado-{item_id}-test-steps.txt"


def steps_file(item_id: int, parsed: TestCaseSteps) -> bytes:
    """The steps (and dataset) as a readable page when the table would not fit in the description."""
    lines = [f"Test steps of ADO test case #{item_id} ({len(parsed.steps)} step(s)), in order.", ""]
    for n, s in enumerate(parsed.steps, start=1):
        lines += [f"Step {n}", f"Action: {s.action}", f"Expected result: {s.expected}", ""]
    if parsed.dataset is not None and parsed.dataset.rows:
        lines.append("Dataset (one row per iteration)")
        lines += ["\t".join(row) for row in parsed.dataset.as_csv_rows()]
    return ("\n".join(lines) + "\n").encode()


def with_steps_note(description: dict[str, Any], parsed: TestCaseSteps, file_name: str) -> dict[str, Any]:
    """The description with the steps heading and a note naming the attached file, within Jira's limit.

    A description the migration already cut (its note names the attached original) is cut a little further to make
    room and keeps that note, so it still says where the full text is. One that is whole is never cut (its text
    exists nowhere else): when the steps note does not fit beside it, it stays as it is and the file alone holds
    the steps."""
    note = [
        {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": TABLE_HEADING}]},
        {
            "type": "paragraph",
            "content": [
                {
                    "type": "text",
                    "text": f"{len(parsed.steps)} step(s), too long for the description: see the attached {file_name}.",
                }
            ],
        },
    ]
    room = TEXT_LIMIT - adf_char_count({"type": "doc", "version": 1, "content": note})
    content = list(description.get("content") or [])
    if adf_char_count({"type": "doc", "version": 1, "content": content}) <= room:
        return {**description, "content": [*content, *note]}
    cut_note = _cut_note(content[-1]) if content else None
    if cut_note is None:
        return description
    base, _ = fit_adf({"type": "doc", "version": 1, "content": content[:-1]}, limit=room, note=cut_note)
    return {**description, "content": [*(base.get("content") or []), *note]}


def _cut_note(node: Any) -> str | None:
    """The text of the paragraph with which the migration ended a description it cut, if `node` is that one."""
    if not isinstance(node, dict) or node.get("type") != "paragraph":
        return None
    text = "".join(str(c.get("text") or "") for c in node.get("content") or [] if isinstance(c, dict))
    return text if text.startswith(CUT_NOTE) else None


def has_table(description: Any) -> bool:
    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            if node.get("type") == "text" and node.get("text") == TABLE_HEADING:
                return True
            return any(walk(c) for c in node.get("content") or [])
        return False

    return walk(description)


# --- the plugin -------------------------------------------------------------------------------------


class Xray(Plugin):
    # Without Xray the steps table is part of the test case's issue (billed as an item): no unit of its own.
    billed_kinds = {XRAY_TEST: "test", XRAY_MEMBERSHIP: "test_membership"}
    # The Test Sets and Test Plans it made: an undo deletes them (the tests go as issues, memberships with them).
    undone_kinds = frozenset({XRAY_CONTAINER})

    async def detect(self, ado: AdoClient, jira: JiraClient | None, xray: XrayClient | None = None) -> Detection:
        ids = await ado.wiql_ids(
            f"SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
            f"AND [System.WorkItemType] = '{TEST_CASE}'",
            top=1,
        )
        if not ids:
            return Detection(source_uses=False, reason="the project has no test cases")
        if xray is None:
            return Detection(
                source_uses=True,
                target_accepts=False,
                reason="no Xray API key is given for this Jira site",
                fallback="test cases become their mapped issue type with their steps as a table in the description",
            )
        try:
            await xray.authenticate()
        except ApiError as err:
            return Detection(
                source_uses=True,
                target_accepts=False,
                reason=f"Xray Cloud refused the API key (HTTP {err.status})",
                fallback="test cases become their mapped issue type with their steps as a table in the description",
            )
        return Detection(source_uses=True, target_accepts=True)

    async def scan(
        self, ado: AdoClient, jira: JiraClient | None, limits: Any, xray: XrayClient | None = None
    ) -> PluginScan:
        detection = await self.detect(ado, jira, xray)
        scan = PluginScan(name=self.name, title="Xray tests", detection=detection)
        if not detection.source_uses:
            return scan
        ids = await ado.wiql_ids(
            f"SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
            f"AND [System.WorkItemType] = '{TEST_CASE}'"
        )
        members = await read_memberships(ado)
        memberships = sum(len(v) for k, v in members.of.items() if k in set(ids))
        scan.counts = {"test cases": len(ids), "suites and plans": len(members.containers)}
        if detection.target_accepts:
            scan.units = {"test": len(ids), "test_membership": memberships}
            scan.counts["suite memberships"] = memberships
        else:
            scan.findings.append(
                PluginFinding(
                    rule="xray_absent",
                    severity="warning",
                    count=len(ids),
                    items=ids[:20],
                    message=f"{len(ids)} test case(s) and no Xray on the Jira site ({detection.reason})",
                    action=(
                        "each test case becomes its mapped issue type with its steps as a table in the description; "
                        "suites and plans are not carried. Give an Xray API key to carry them as Xray tests"
                    ),
                )
            )
        scan.findings.append(
            PluginFinding(
                rule="test_runs_not_carried",
                severity="info",
                message="ADO test runs and their results are not carried",
                action="the tests are carried; run them in Xray to record new results",
            )
        )
        return scan

    # --- the run ------------------------------------------------------------------------------------

    async def write(self, batch: PhaseBatch) -> PhaseBatchResult:
        rows = [r for r in batch.rows if r.work_item_type == TEST_CASE]
        batch.counters.skipped += len(batch.rows) - len(rows)
        if not rows:
            return batch.result()
        issues = await batch.target_keys(ISSUE, batch.source_keys(rows))
        work_items = {
            wi.id: wi for wi in await batch.ctx.ado.get_work_items([r.source_id for r in rows], expand="fields")
        }
        xray = batch.ctx.xray
        members = await memberships_for(batch) if xray is not None else Memberships()
        ids = IssueIds(batch.ctx.jira, [k for k in (issues.get(str(r.source_id)) for r in rows) if k])
        limit = asyncio.Semaphore(ITEMS_AT_ONCE)

        async def one(item_id: int) -> str:
            async with limit:
                issue = issues.get(str(item_id))
                wi = work_items.get(item_id)
                if issue is None or wi is None:
                    # As in every later phase: an item that failed in create items carries its reason there.
                    return "skipped"
                if xray is None:
                    return await StepsTable(batch, item_id, issue, wi.fields).run()
                test = TestCaseToXray(batch, xray, item_id, issue, wi.fields, ids)
                outcome = await test.run()
                if outcome == "failed":
                    return outcome
                joined = await Membership(batch, xray, item_id, issue, members.of.get(item_id, []), ids).run()
                return "failed" if joined == "failed" else outcome

        return batch.result(await gather_or_cancel(*(one(r.source_id) for r in rows)))

    async def preview(self, preview: Any) -> list[str]:
        """As `write` counts: a test case with a parseable design and an issue is created; others are skipped."""
        kind = XRAY_TEST if preview.ctx.xray is not None else STEPS_TABLE
        cases = [str(p.source_id) for p in preview.planned if p.work_item_type == TEST_CASE]
        async with preview.sessions() as session:
            records = await item_records.load(session, preview.ctx.migration_id, kind, cases)
        done = {k: r for k, r in records.items() if r.state == DONE}
        out = []
        for p in preview.planned:
            if p.work_item_type != TEST_CASE or (kind == STEPS_TABLE and str(p.source_id) in done):
                out.append("skipped")
                continue
            if preview.issue_key(p.source_id) is None:
                out.append("skipped")  # create items predicts its reason
                continue
            wi = preview.work_items.get(p.source_id)
            try:
                parsed = await read_steps(preview.ctx.ado, wi.fields if wi is not None else {})
            except StepsError as err:
                preview.fail(self.name, kind, str(p.source_id), f"test case #{p.source_id}: {err}")
                out.append("failed")
                continue
            record = done.get(str(p.source_id))
            if record is not None and (record.detail or {}).get("source") in (None, source_digest(parsed)):
                out.append("skipped")  # carried from these very steps by an earlier run
                continue
            # Without Xray a test case without steps has no table to carry.
            out.append("skipped" if kind == STEPS_TABLE and not parsed.steps else "created")
        return out

    # --- trust after the run ------------------------------------------------------------------------

    async def remove(self, ctx: Any, record: Any, issue_key: str | None) -> str:
        """A Test Set or Test Plan the migration made is deleted (a 404 counts as already gone); steps, datasets and
        memberships live on their Test or container and go with it."""
        if record.kind != XRAY_CONTAINER or not record.target_key:
            return "already gone"
        await ctx.jira.delete_issue(record.target_key)
        return "deleted"

    async def check(self, ctx: Any, wi: Any, issue_key: str) -> list[Difference]:
        """A test case's steps in Xray (or its description's table without Xray) equal the source's now."""
        if (wi.fields or {}).get("System.WorkItemType") != TEST_CASE:
            return []
        fresh = await ctx.ado.get_work_items([wi.id], expand=None, fields=list(STEPS_FIELDS))
        try:
            parsed = await read_steps(ctx.ado, fresh[0].fields if fresh else {})
        except StepsError:
            return []  # the run failed this test case with its reason; nothing was written to compare
        want = [f"{a} → {r}" for a, _, r in desired_steps(parsed)]
        if ctx.xray is None:
            issue = await ctx.jira.get_issue(issue_key, fields=["description"])
            if not want or has_table(issue.fields.get("description")):
                return []
            return [
                Difference(
                    check="test steps",
                    kind=DifferenceKind.MISSING,
                    ado_id=wi.id,
                    jira_key=issue_key,
                    expected=f"{len(want)} step(s) in a table",
                    actual="no steps table in the description",
                )
            ]
        issue_id = (await ctx.jira.get_issue(issue_key, fields=["issuetype"])).id
        test = await ctx.xray.test(issue_id) or {}
        have = [f"{s.get('action') or ''} → {s.get('result') or ''}" for s in test.get("steps") or []]
        if have == want:
            return []
        return [
            Difference(
                check="test steps",
                kind=DifferenceKind.MISSING if len(have) < len(want) else DifferenceKind.DIFFERENT,
                ado_id=wi.id,
                jira_key=issue_key,
                expected=" | ".join(want)[:2000],
                actual=" | ".join(have)[:2000],
            )
        ]


async def _fail(batch: PhaseBatch, kind: str, key: str, reason: str) -> None:
    async with batch.sessions() as session:
        await item_records.mark_failed(session, batch.migration_id, kind, key, reason, batch.run_id)
        await session.commit()


def _outcome(batch: PhaseBatch, record: Any) -> str:
    """A done record: "created" when this run wrote it, else "skipped"."""
    return "created" if record.run_id == batch.run_id else "skipped"


class IssueIds:
    """The Jira ids of a batch's Tests and containers (Xray's API takes an issue's id, not its key): the Tests' read
    the first time one is needed in one `POST /issue/bulkfetch` for the whole batch, instead of one `GET /issue` per
    test case and another per membership."""

    def __init__(self, jira: JiraClient, keys: list[str]) -> None:
        self._jira, self._keys = jira, keys
        self._ids: dict[str, str] = {}
        self._read = False
        self._lock = asyncio.Lock()

    def know(self, key: str, issue_id: Any) -> None:
        """An id learnt elsewhere (a container's record, the answer to its create): not read again."""
        if issue_id:
            self._ids[key] = str(issue_id)

    async def of(self, key: str) -> str:
        if key in self._ids:
            return self._ids[key]
        async with self._lock:
            if not self._read:
                self._ids.update({i.key: i.id for i in await self._jira.bulk_fetch_issues(self._keys, ["issuetype"])})
                self._read = True
            found = self._ids.get(key)
            if found is None:
                # A Test Set or Plan, or a Test moved since (the bulk read answers under its new key) or gone: the
                # issue's own read follows a move and says 404 for a deleted issue. Kept for the batch's next ask.
                found = self._ids[key] = (await self._jira.get_issue(key, fields=["issuetype"])).id
        return found


class TestCaseToXray:
    """One test case's steps and dataset onto its Test, converging on what Xray holds."""

    def __init__(
        self,
        batch: PhaseBatch,
        xray: XrayClient,
        item_id: int,
        issue_key: str,
        fields: dict[str, Any],
        ids: IssueIds,
    ) -> None:
        self._batch, self._xray, self._id, self._key, self._fields = batch, xray, item_id, issue_key, fields
        self._ids = ids

    async def run(self) -> str:
        batch = self._batch
        key = str(self._id)
        record = (await batch.records(XRAY_TEST, [key])).get(key)
        if record is not None and record.state == DONE and record.run_id == batch.run_id:
            return _outcome(batch, record)
        try:
            parsed = await read_steps(batch.ctx.ado, self._fields)
        except StepsError as err:
            if record is not None and record.state == DONE:
                return "skipped"  # carried before; the source's new steps cannot be read (a later run says why)
            await _fail(batch, XRAY_TEST, key, f"test case #{self._id}: {err}")
            return "failed"
        source = source_digest(parsed)
        if record is not None and record.state == DONE and (record.detail or {}).get("source") in (None, source):
            # Carried by an earlier run from the same steps: nothing to do (edits made in Xray since are kept).
            return "skipped"
        async with batch.sessions() as session:
            await item_records.mark_pending(session, batch.migration_id, XRAY_TEST, [key], batch.run_id)
            await session.commit()
        issue_id = await self._ids.of(self._key)
        try:
            await self._converge(issue_id, desired_steps(parsed))
            if parsed.dataset is not None:
                await self._xray.import_dataset(self._key, parsed.dataset.as_csv_rows())
        except ApiError as err:
            if err.status in (401, 403) or err.status >= 500 or err.retryable:
                raise
            await _fail(batch, XRAY_TEST, key, f"Xray refused test case #{self._id}'s steps: {err}")
            return "failed"
        detail = {
            "steps": len(parsed.steps),
            "dataset_rows": len(parsed.dataset.rows) if parsed.dataset else 0,
            "source": source,
        }
        async with batch.sessions() as session:
            await item_records.mark_done(session, batch.migration_id, XRAY_TEST, key, self._key, batch.run_id, detail)
            await session.commit()
        return "created"

    async def _converge(self, issue_id: str, want: list[tuple[str, str, str]]) -> None:
        """Make the Test's steps equal `want`, reading back before every write and after a lost answer."""
        for _ in range(CONVERGE_TRIES):
            try:
                test = await self._xray.test(issue_id) or {}
                have = [(s["action"] or "", s["data"] or "", s["result"] or "") for s in test.get("steps") or []]
                if (test.get("testType") or {}).get("name") != "Manual":
                    await self._xray.set_manual(issue_id)
                if have == want:
                    return
                if have != want[: len(have)]:
                    await self._xray.remove_all_steps(issue_id)
                    have = []
                for action, data, result in want[len(have) :]:
                    await self._xray.add_step(issue_id, action, data, result)
                return
            except AmbiguousWriteError:
                continue  # the write may or may not have happened: read back and go on from there
        raise AmbiguousWriteError("POST", "/api/v2/graphql", f"test case #{self._id}: answers kept getting lost")


class Membership:
    """One test case into its Test Sets and Test Plans (containers made once, under a lock)."""

    def __init__(
        self,
        batch: PhaseBatch,
        xray: XrayClient,
        item_id: int,
        issue_key: str,
        containers: list[Container],
        ids: IssueIds,
    ) -> None:
        self._batch, self._xray, self._id, self._key, self._containers = batch, xray, item_id, issue_key, containers
        self._ids = ids

    async def run(self) -> str:
        if not self._containers:
            return "skipped"
        batch = self._batch
        keys = [f"{c.key}:{self._id}" for c in self._containers]
        records = await batch.records(XRAY_MEMBERSHIP, keys)
        test_id: str | None = None
        for c, key in zip(self._containers, keys, strict=True):
            if getattr(records.get(key), "state", None) == DONE:
                continue
            container_key = await self._container(c)
            if container_key is None:
                await _fail(batch, XRAY_MEMBERSHIP, key, f"the {c.kind} for ADO {c.key} could not be made")
                return "failed"
            test_id = test_id or await self._ids.of(self._key)
            container_id = await self._ids.of(container_key)
            async with batch.sessions() as session:
                await item_records.mark_pending(session, batch.migration_id, XRAY_MEMBERSHIP, [key], batch.run_id)
                await session.commit()
            try:
                await self._join(c.kind, container_id, test_id)
            except ApiError as err:
                if err.status in (401, 403) or err.status >= 500 or err.retryable:
                    raise
                await _fail(
                    batch, XRAY_MEMBERSHIP, key, f"Xray refused test case #{self._id} in {c.kind} {c.key}: {err}"
                )
                return "failed"
            async with batch.sessions() as session:
                await item_records.mark_done(
                    session, batch.migration_id, XRAY_MEMBERSHIP, key, container_key, batch.run_id, {}
                )
                await session.commit()
        return "created"

    async def _join(self, kind: str, container_id: str, test_id: str) -> None:
        """Read back, add if missing; a lost answer is settled by the next read."""
        for _ in range(CONVERGE_TRIES):
            try:
                if test_id not in await self._xray.members(kind, container_id):
                    await self._xray.add_tests(kind, container_id, [test_id])
                return
            except AmbiguousWriteError:
                continue
        raise AmbiguousWriteError("POST", "/api/v2/graphql", f"test case #{self._id}: answers kept getting lost")

    async def _container(self, c: Container) -> str | None:
        """The Test Set / Test Plan's issue key, made once across every batch of every worker."""
        batch = self._batch
        record = (await batch.records(XRAY_CONTAINER, [c.key])).get(c.key)
        if record is not None and record.state == DONE:
            return self._made(record)
        lock = int.from_bytes(hashlib.blake2b(f"{batch.migration_id}/{c.key}".encode(), digest_size=8).digest(), "big")
        # A transaction-scoped lock on a session of its own, held until this block ends (its rollback releases
        # it), while the records are committed through other sessions as the protocol needs.
        async with batch.sessions() as lock_session:
            await lock_session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock - (1 << 63)})
            record = (await batch.records(XRAY_CONTAINER, [c.key])).get(c.key)
            if record is not None and record.state == DONE:
                return self._made(record)
            if record is not None:  # pending: an earlier attempt may have made it; the search must be able to see it
                settled = record.updated_at.timestamp() if record.updated_at else time.time()
                wait = settled + index_grace() - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                found = await self._find(c)
                if found is not None:
                    self._ids.know(found.key, found.id)
                    await self._done(c, found.key, {"reconciled": True, "issue_id": found.id})
                    return found.key
            async with batch.sessions() as session:
                await item_records.mark_pending(session, batch.migration_id, XRAY_CONTAINER, [c.key], batch.run_id)
                await session.commit()
            created = await batch.ctx.jira.create_issue(
                {
                    "project": {"key": batch.ctx.target.project_key},
                    "issuetype": {"name": c.kind},
                    "summary": c.summary[:255] or c.key,
                    "labels": [c.label],
                }
            )
            self._ids.know(created.key, created.id)
            await self._done(c, created.key, {"kind": c.kind, "issue_id": created.id})
            return created.key

    def _made(self, record: Any) -> str | None:
        """A made container's key; its id too, where its record keeps it (recorded before 2026-12-07: read)."""
        self._ids.know(record.target_key, (record.detail or {}).get("issue_id"))
        return record.target_key

    async def _done(self, c: Container, issue_key: str, detail: dict[str, Any]) -> None:
        batch = self._batch
        async with batch.sessions() as session:
            await item_records.mark_done(
                session, batch.migration_id, XRAY_CONTAINER, c.key, issue_key, batch.run_id, detail
            )
            await session.commit()

    async def _find(self, c: Container) -> Issue | None:
        jql = f'project = "{self._batch.ctx.target.project_key}" AND labels = "{c.label}" ORDER BY key ASC'
        async for issue in self._batch.ctx.jira.search_jql(jql, fields=("labels",)):
            return issue
        return None


class StepsTable:
    """No Xray: the steps as a table at the end of the issue's description, once."""

    def __init__(self, batch: PhaseBatch, item_id: int, issue_key: str, fields: dict[str, Any]) -> None:
        self._batch, self._id, self._key, self._fields = batch, item_id, issue_key, fields

    async def run(self) -> str:
        batch = self._batch
        key = str(self._id)
        record = (await batch.records(STEPS_TABLE, [key])).get(key)
        if record is not None and record.state == DONE:
            return _outcome(batch, record)
        try:
            parsed = await read_steps(batch.ctx.ado, self._fields)
        except StepsError as err:
            await _fail(batch, STEPS_TABLE, key, f"test case #{self._id}: {err}")
            return "failed"
        if not parsed.steps:
            return "skipped"
        async with batch.sessions() as session:
            await item_records.mark_pending(session, batch.migration_id, STEPS_TABLE, [key], batch.run_id)
            await session.commit()
        issue = await batch.ctx.jira.get_issue(self._key, fields=["description"])
        description = issue.fields.get("description") or {"type": "doc", "version": 1, "content": []}
        detail: dict[str, Any] = {"steps": len(parsed.steps)}
        if not has_table(description):  # read back first: an earlier attempt may have written it
            doc = {**description, "content": [*(description.get("content") or []), *steps_table_adf(parsed)]}
            if adf_char_count(doc) > TEXT_LIMIT:
                # Past Jira's description limit: the steps go to an attached file (uploaded first, so a description
                # that names it always has it), the description keeps the heading and says where they are.
                filed = await self._attach(parsed)
                if filed.state == "failed":
                    await _fail(batch, STEPS_TABLE, key, f"the steps file could not be attached: {filed.error}")
                    return "failed"
                doc = with_steps_note(description, parsed, steps_file_name(self._id))
                detail["file"] = steps_file_name(self._id)
            try:
                await batch.ctx.jira.edit_issue(self._key, {"description": doc})
            except ApiError as err:
                if err.status in (401, 403) or err.status >= 500 or err.retryable:
                    raise
                reason = f"Jira refused the steps table in {self._key}'s description: {err}"
                await _fail(batch, STEPS_TABLE, key, reason)
                return "failed"
        async with batch.sessions() as session:
            await item_records.mark_done(session, batch.migration_id, STEPS_TABLE, key, self._key, batch.run_id, detail)
            await session.commit()
        return "created"

    async def _attach(self, parsed: TestCaseSteps) -> Any:
        batch, key = self._batch, str(self._id)
        record = (await batch.records(STEPS_FILE, [key])).get(key)
        issue = (await batch.records(ISSUE, [key])).get(key)
        adopted = bool((getattr(issue, "detail", None) or {}).get("adopted"))
        data = steps_file(self._id, parsed)
        files = IssueFiles(batch.sessions, batch.ctx, batch.run_id, self._key, adopted=adopted)
        return await files.put(
            STEPS_FILE,
            key,
            steps_file_name(self._id),
            len(data),
            bytes_source(data),
            record,
            {"steps": len(parsed.steps)},
        )
