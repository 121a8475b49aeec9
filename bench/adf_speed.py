"""html_to_adf throughput over the test corpus: docs/s and MB/s of input HTML.

.venv/bin/python bench/adf_speed.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from migrayt.connectors.adf import AdfContext, AdfImage, adf_char_count, fit_adf, html_to_adf

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "unit" / "adf_corpus"

CONTEXT = AdfContext(
    mention=lambda identity, name: "acc-" + identity[:8],
    work_item_key=lambda ado_id: f"FAB-{ado_id}",
    image=lambda src, alt: AdfImage(url="https://x.atlassian.net/rest/api/3/attachment/content/1", alt=alt),
    drop_source_host="dev.azure.com",
)


def run(docs: list[tuple[str, str]], seconds: float) -> tuple[int, int, float]:
    count = size = 0
    start = time.perf_counter()
    while True:
        for _, html in docs:
            html_to_adf(html, CONTEXT)
            count += 1
            size += len(html.encode("utf-8"))
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count, size, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    docs = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(CORPUS.glob("*.html"))]

    print(f"{'file':32} {'KB':>8} {'ms/doc':>9} {'MB/s':>7} {'ADF chars':>10}")
    for name, html in docs:
        n, size, elapsed = run([(name, html)], min(args.seconds / 4, 1.0))
        doc = html_to_adf(html, CONTEXT)
        print(
            f"{name:32} {len(html.encode()) / 1024:8.1f} {elapsed / n * 1000:9.2f} "
            f"{size / elapsed / 1e6:7.2f} {adf_char_count(doc):10}"
        )

    n, size, elapsed = run(docs, args.seconds)
    print(
        f"\nwhole corpus ({len(docs)} files, {sum(len(h.encode()) for _, h in docs) / 1024:.0f} KB): "
        f"{n / elapsed:.1f} docs/s, {size / elapsed / 1e6:.2f} MB/s"
    )

    small = [d for d in docs if len(d[1]) < 10_000]
    n, size, elapsed = run(small, args.seconds)
    print(
        f"typical descriptions ({len(small)} files under 10 KB): {n / elapsed:.0f} docs/s, "
        f"{size / elapsed / 1e6:.2f} MB/s"
    )

    big = html_to_adf(dict(docs)["table_10000_cells.html"], CONTEXT)
    start = time.perf_counter()
    fit_adf(big, note="… truncated; full original attached as description.html")
    print(f"fit_adf on the 10,000-cell table: {(time.perf_counter() - start) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
