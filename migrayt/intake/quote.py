"""One price table, one count of units: what the quote charges, what the checkout subscribes to, what the meter
reports (migrayt/billing/). The quote counts the units from the scan; the meter counts the same units from the
records a run completed; priced by the same table (`MIGRAYT_PRICE_TABLE`, USD per unit), so for a run that writes
everything the scan found, the bill equals the quote.

Units: "item", a work item migrated (its issue; its hierarchy, links, files, comments and status come with it and
are not priced apart), and each plugin's own (7pace: "worklog", one per work log carried). A plugin that will not
run (not detected, or left out in the plan) has no units: neither quoted nor billed. No minimum: the meter could
not bill one, and the bill must equal the quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from migrayt.contracts.record_kinds import ISSUE
from migrayt.intake.catalog import Catalog
from migrayt.mapping.matcher import STEPS_ONLY_TYPES
from migrayt.plugins import all_plugins, will_run

ITEM = "item"


class QuoteLine(BaseModel):
    what: str  # the unit: item, worklog, … (a plugin's title says whose: `plugin`)
    quantity: float
    unit_price: float
    amount: float
    plugin: str | None = None  # the plugin phase whose unit it is ("7pace")


class Quote(BaseModel):
    currency: str = "USD"
    lines: list[QuoteLine] = Field(default_factory=list)
    subtotal: float = 0.0
    minimum: float = 0.0  # kept for readers of older quotes; always 0 now
    total: float = 0.0


def unit_of_kind() -> dict[str, str]:
    """Record kind → the unit a done record of it is billed as; kinds not here are not billed."""
    return {ISSUE: ITEM, **{kind: unit for p in all_plugins().values() for kind, unit in p.billed_kinds.items()}}


def units(catalog: Catalog, plan: Any = None) -> dict[str, int]:
    """The units a run will write, from the scan (with the plan: only the types it migrates, only the plugins it
    runs). Items first, then each running plugin's units in registry order."""
    if plan is not None and getattr(plan, "types", None):
        items = sum(n for t, n in catalog.by_type.items() if t in plan.types)
    else:
        # No plan yet: every item but those no plan makes an issue of (shared steps live inside their tests).
        items = catalog.items_total - sum(n for t, n in catalog.by_type.items() if t in STEPS_ONLY_TYPES)
    out = {ITEM: items}
    # Registry order, not the catalog's: a catalog read back from the database has its plugins in JSONB's key
    # order, and the checkout's quote must list its lines as the scan's does.
    for name in all_plugins():
        scan = catalog.plugins.get(name)
        if scan is not None and will_run(name, scan, plan):
            for unit, n in scan.units.items():
                out[unit] = out.get(unit, 0) + n
    return out


def billed(done_by_kind: Mapping[str, int]) -> dict[str, int]:
    """The units of done records, counted by kind (the meter's side of `units`)."""
    out: dict[str, int] = {}
    table = unit_of_kind()
    for kind, n in done_by_kind.items():
        if kind in table:
            out[table[kind]] = out.get(table[kind], 0) + n
    return out


def priced(
    counts: Mapping[str, float], price_table: Mapping[str, float], owners: Mapping[str, str] | None = None
) -> Quote:
    lines = []
    for what, quantity in counts.items():
        price = float(price_table.get(what, 0.0))
        lines.append(
            QuoteLine(
                what=what,
                quantity=quantity,
                unit_price=price,
                amount=round(quantity * price, 2),
                plugin=(owners or {}).get(what),
            )
        )
    subtotal = round(sum(line.amount for line in lines), 2)
    return Quote(lines=lines, subtotal=subtotal, total=subtotal)


def unit_owners() -> dict[str, str]:
    """Unit → the plugin phase it belongs to."""
    return {unit: name for name, p in all_plugins().items() for unit in p.billed_kinds.values()}


def quote(catalog: Catalog, price_table: Mapping[str, float], plan: Any = None) -> Quote:
    return priced(units(catalog, plan), price_table, unit_owners())
