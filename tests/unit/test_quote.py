"""One price table, one count of units: the quote counts from the scan what the meter counts from the records."""

from migrayt.intake.catalog import AttachmentStats, Catalog, CountStats
from migrayt.intake.quote import billed, quote, units
from migrayt.mapping.plan import default_plan
from migrayt.plugins import Detection, PluginScan

PRICES = {"item": 0.02, "worklog": 0.002}


def catalog(items: int, seven_pace: bool = True) -> Catalog:
    logs = items // 4
    return Catalog(
        items_total=items,
        by_type={"Task": items - 10, "Test Case": 10},
        links=items // 2,
        attachments=AttachmentStats(count=10, total_bytes=3 * 1024**3),
        comments=CountStats(count=items * 3),
        time_logs=logs,
        plugins={
            "7pace": PluginScan(
                name="7pace",
                title="7pace worklogs",
                detection=Detection(source_uses=seven_pace, reason=None if seven_pace else "not installed"),
                units={"worklog": logs} if seven_pace else {},
            )
        },
    )


def test_priced_per_unit_from_the_scan_items_and_each_running_plugins_units():
    q = quote(catalog(100_000), PRICES)
    lines = {line.what: line for line in q.lines}
    assert list(lines) == ["item", "worklog"]
    assert lines["item"].quantity == 100_000 and lines["item"].amount == 2000.0 and lines["item"].plugin is None
    assert lines["worklog"].quantity == 25_000 and lines["worklog"].amount == 50.0
    assert lines["worklog"].plugin == "7pace"
    assert q.total == q.subtotal == 2050.0 and q.minimum == 0.0


def test_a_plugin_that_will_not_run_is_not_quoted_nor_billed():
    # Not detected in the organisation.
    assert units(catalog(100, seven_pace=False)) == {"item": 100}
    # Left out in the plan; and the plan's types only.
    plan = default_plan()
    plan.skip_phases = ["7pace"]
    plan.types = {"Task": "Task"}
    assert units(catalog(100), plan) == {"item": 90}
    assert billed({"issue": 90, "link": 40, "comment": 300, "user": 5}) == {"item": 90}


def test_the_meter_counts_the_same_units_the_quote_counts():
    assert billed({"issue": 100_000, "worklog": 25_000, "attachment": 10, "transition": 7}) == units(catalog(100_000))
    assert quote(catalog(2000), PRICES).subtotal > quote(catalog(1000), PRICES).subtotal
