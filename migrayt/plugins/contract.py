"""The plugin contract: what a plugin of phase 8 (7pace worklogs, Xray tests, …) answers, in one place.

A plugin is one module `migrayt/plugins/<module>.py` holding one `Plugin` subclass, plus one line in the phase
registry (migrayt/contracts/phases.py) that names the module:

    Phase("7pace", "7pace worklogs", "logged", PhaseKind.BATCHED, run_phase_batch, Preview.LATER_PHASES,
          delta=True, plugin="sevenpace"),

That line is what makes it a sub-phase of its own: the engine goes through it like any phase, so it has its own
counters, its own checkpoint (resumable on its own) and its own heading ("7pace worklogs: 1,204 logged") in
scan, preview, progress, report and CLI. A batch of a plugin that still fails after its retries (or raises a
non-retryable error) fails that batch's items with the reason, never the run: the other plugins go on and the
run ends INCOMPLETE (workflows/engine.py, patch PLUGIN_ISOLATED).

Everything a plugin answers goes through this class; the places that ask it:
- detect / scan  activities/intake/scan.py → `Catalog.plugins[name]` (a PluginScan), lint and quote read it;
- units          intake/quote.py (quote), billing/service.py (checkout), billing/meter.py (the meter): one price
                 table, one count of units (`unit`, `billed_kinds`); a plugin that will not run is neither
                 quoted nor billed (`will_run`);
- mapping_needs  the mapping screen (questions the plan must answer; none for 7pace);
- preview        activities/preview/later_phases.py: the outcome per planned item, as `write` would count it;
- write          activities/execution/later_phases.py (activity run_phase_batch) through PluginPhase below;
- delta          the registry line's `delta=True`: a delta sync calls `write` over the changed items, so
                 `write` must skip what its records say is done and write only what is new;
- check          activities/validation/check.py, per migrated item;
- remove         activities/undo/removal.py, per record of one of `billed_kinds` or `undone_kinds` (what the
                 plugin wrote).

Exactly once (docs: /work/shared/DESIGN.md): every write has an item record of the plugin's own kind
(`billed_kinds`), marked pending and committed before the write, done with the Jira id after it; a pending
record is reconciled with Jira (a consistent read, never the search index) before anything is written again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # the contract stays importable from every layer; the hooks' arguments come from below
    from migrayt.activities.execution.migration_context import MigrationContext
    from migrayt.activities.execution.phase_batch import PhaseBatch
    from migrayt.activities.preview.later_phases import LaterPhases
    from migrayt.connectors.ado import AdoClient, WorkItem
    from migrayt.connectors.jira import JiraClient
    from migrayt.connectors.xray import XrayClient
    from migrayt.contracts.execution import PhaseBatchResult
    from migrayt.contracts.validation import Difference
    from migrayt.intake.catalog import TargetLimits
    from migrayt.mapping.plan import MappingPlan
    from migrayt.store.models import ItemRecord


class Detection(BaseModel):
    """Does the ADO organisation use it, and can the Jira site receive it."""

    source_uses: bool = False
    target_accepts: bool = True
    # Why it will not run, in the user's words ("7pace Timetracker is not installed in this organization").
    reason: str | None = None
    # Set when the plugin runs another way than its full one (Xray absent: test cases as issues with a steps table).
    fallback: str | None = None

    @property
    def runs(self) -> bool:
        return self.source_uses and (self.target_accepts or self.fallback is not None)


class PluginFinding(BaseModel):
    """A lint finding of a plugin, shaped like intake/lint.py's LimitBreach so the lint lists it with the rest."""

    rule: str
    severity: str = "warning"  # info | warning | blocker
    limit: int | None = None
    count: int = 0
    items: list[int] = Field(default_factory=list)  # ADO ids, the first few
    figures: dict[int, int] = Field(default_factory=dict)
    message: str
    action: str
    must_acknowledge: bool = False


class PluginScan(BaseModel):
    """What the scan found for one plugin; kept in the scan's catalog as `Catalog.plugins[name]`."""

    name: str  # the registry phase name
    title: str  # "7pace worklogs"
    detection: Detection = Field(default_factory=Detection)
    # What the quote charges for: one unit per write the plugin will make (a worklog, a test, a membership…).
    units: dict[str, int] = Field(default_factory=dict)
    # Figures the scan screen shows, in the user's words ({"work logs": 1204, "hours logged": 311}).
    counts: dict[str, int] = Field(default_factory=dict)
    findings: list[PluginFinding] = Field(default_factory=list)


class MappingNeed(BaseModel):
    """A question the plan must answer before the plugin can run (e.g. Xray absent: which issue type)."""

    key: str
    question: str
    default: str | None = None
    choices: list[str] = Field(default_factory=list)


class Plugin(ABC):
    """One plugin. The worker builds one instance per process; hooks get everything they use as arguments."""

    # The registry phase name; set from the registry line when the module is loaded (migrayt/plugins/__init__.py).
    name: ClassVar[str] = ""
    # Record kinds it writes → the price-table unit each done record is billed as (the quote counts the same units).
    billed_kinds: ClassVar[Mapping[str, str]] = {}
    # Record kinds it writes that are not billed but that an undo must take out too (Xray's Test Sets and Plans).
    undone_kinds: ClassVar[frozenset[str]] = frozenset()

    # --- intake -------------------------------------------------------------------------------------

    # `xray` is the target's Xray Cloud client when the migration names an Xray API key (None otherwise): Xray is an
    # app of its own with its own credentials, so the Jira client alone cannot tell whether the site can receive it.

    @abstractmethod
    async def detect(self, ado: AdoClient, jira: JiraClient | None, xray: XrayClient | None = None) -> Detection:
        """Cheap and read-only; `jira` is None when the scan has no target connection yet."""

    @abstractmethod
    async def scan(
        self, ado: AdoClient, jira: JiraClient | None, limits: TargetLimits, xray: XrayClient | None = None
    ) -> PluginScan:
        """Detection, the counts, the units to quote and the lint findings; read-only."""

    def mapping_needs(self, scan: PluginScan) -> list[MappingNeed]:
        return []

    # --- the run ------------------------------------------------------------------------------------

    @abstractmethod
    async def write(self, batch: PhaseBatch) -> PhaseBatchResult:
        """One batch of the run's work list: for each item, write what the plugin carries, exactly once.

        Count one outcome per item ("created", "adopted", "skipped": nothing to carry or issue not migrated,
        "failed": at least one of its records failed, each with its reason)."""

    @abstractmethod
    async def preview(self, preview: LaterPhases) -> list[str]:
        """The outcome per `preview.planned` item, as `write` would count it; failures through `preview.fail`."""

    # --- trust after the run ------------------------------------------------------------------------

    async def check(self, ctx: MigrationContext, wi: WorkItem, issue_key: str) -> list[Difference]:
        """Validation: what the plugin wrote for this item, compared with the source now."""
        return []

    async def check_batch(self, ctx: MigrationContext, items: Sequence[tuple[WorkItem, str]]) -> list[Difference]:
        """Validation of a batch's items (work item, issue key): `check` each, unless the plugin reads in bulk."""
        found: list[Difference] = []
        for wi, key in items:
            found += await self.check(ctx, wi, key)
        return found

    async def remove(self, ctx: MigrationContext, record: ItemRecord, issue_key: str | None) -> str:
        """Undo one done record of `billed_kinds` / `undone_kinds`: "deleted", "already gone" or "refused: <why>"."""
        return "already gone"


def will_run(name: str, scan: PluginScan | None, plan: MappingPlan | Any | None = None) -> bool:
    """Quoted, billed and run: detected on both sides and not left out in the plan (`plan.skip_phases`)."""
    if scan is None or not scan.detection.runs:
        return False
    return plan is None or name not in (getattr(plan, "skip_phases", None) or ())
