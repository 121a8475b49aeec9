"""A Quote priced per write from the scanned volume, with the price table from settings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from migrayt.intake.catalog import Catalog

GIB = 1024**3


class QuoteLine(BaseModel):
    what: str  # item, link, attachment_gib, comment, plugin_record
    quantity: float
    unit_price: float
    amount: float


class Quote(BaseModel):
    currency: str = "USD"
    lines: list[QuoteLine] = Field(default_factory=list)
    subtotal: float = 0.0
    minimum: float = 0.0
    total: float = 0.0


def writes(catalog: Catalog) -> dict[str, float]:
    """Writes a run makes, by what the price table charges for."""
    return {
        # One create per item, plus the parent edit or link that places it in the tree.
        "item": catalog.items_total,
        "link": catalog.links + catalog.remote_links + catalog.hierarchy_links,
        "attachment_gib": round(catalog.attachments.total_bytes / GIB, 6),
        "comment": catalog.comments.count,
        "plugin_record": catalog.time_logs + catalog.test_cases,
    }


def quote(catalog: Catalog, price_table: dict[str, float]) -> Quote:
    lines = []
    for what, quantity in writes(catalog).items():
        price = float(price_table.get(what, 0.0))
        lines.append(QuoteLine(what=what, quantity=quantity, unit_price=price, amount=round(quantity * price, 2)))
    subtotal = round(sum(line.amount for line in lines), 2)
    minimum = float(price_table.get("minimum", 0.0))
    return Quote(lines=lines, subtotal=subtotal, minimum=minimum, total=max(subtotal, minimum))
