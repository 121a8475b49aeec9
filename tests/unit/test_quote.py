from migrayt.intake.catalog import AttachmentStats, Catalog, CountStats
from migrayt.intake.quote import GIB, quote, writes

PRICES = {"item": 0.01, "link": 0.002, "attachment_gib": 1.5, "comment": 0.001, "plugin_record": 0.002, "minimum": 49.0}


def catalog(items: int) -> Catalog:
    return Catalog(
        items_total=items,
        links=items // 2,
        remote_links=items // 10,
        hierarchy_links=items - 10,
        attachments=AttachmentStats(count=10, total_bytes=3 * GIB),
        comments=CountStats(count=items * 3),
        time_logs=items // 4,
        test_cases=items // 20,
    )


def test_priced_per_write_from_the_volume():
    c = catalog(100_000)
    q = quote(c, PRICES)
    lines = {line.what: line for line in q.lines}
    assert lines["item"].quantity == 100_000 and lines["item"].amount == 1000.0
    assert lines["link"].quantity == 50_000 + 10_000 + 99_990
    assert lines["attachment_gib"].quantity == 3.0 and lines["attachment_gib"].amount == 4.5
    assert lines["comment"].amount == 300.0
    assert lines["plugin_record"].quantity == 25_000 + 5_000
    assert q.total == q.subtotal == round(sum(line.amount for line in q.lines), 2)


def test_a_small_project_pays_the_minimum():
    q = quote(catalog(100), PRICES)
    assert q.subtotal < 49.0 and q.total == 49.0


def test_more_writes_never_cost_less():
    assert quote(catalog(2000), PRICES).subtotal > quote(catalog(1000), PRICES).subtotal
    assert set(writes(catalog(1))) == {"item", "link", "attachment_gib", "comment", "plugin_record"}
