"""Rendering cards: a 1,000-row table and a 10,000-point line chart, each alone and together,
as the one self-contained HTML page a card is; the time to render (median of runs) and to
store it in the local datastore (a content-addressed, compressed blob), and the page's size.

Usage: python bench/bench_cards.py [--rows 1000] [--points 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from provider.cards import Table, VegaChart  # noqa: E402
from provider.cards.components import components_html  # noqa: E402
from provider.cards.page import card_page  # noqa: E402
from provider.datastore import FlowDataStore, LocalStorage  # noqa: E402
from provider.datastore.bytes_blobs import save_bytes  # noqa: E402


def table(rows: int) -> Table:
    return Table(
        [[i, f"run-{i}", i * 0.001, math.sin(i), "ok" if i % 3 else "retry"] for i in range(rows)],
        headers=["n", "name", "rate", "score", "status"],
    )


def chart(points: int) -> VegaChart:
    values = [{"step": i, "loss": 1 / (1 + i / 100) + 0.01 * math.sin(i)} for i in range(points)]
    return VegaChart({
        "mark": "line", "data": {"values": values},
        "encoding": {"x": {"field": "step", "type": "quantitative"},
                     "y": {"field": "loss", "type": "quantitative"}},
    })  # fmt: skip


def measure(components: list, repeat: int, store: FlowDataStore) -> tuple[float, float, int, int]:
    renders, stores, page = [], [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        page = card_page("bench", "blank card", components_html(components))
        t1 = time.perf_counter()
        # stored as a card is: its UTF-8 bytes, a new blob each time, as a new card would be
        save_bytes(store.storage, store.flow_name, (page + str(t1)).encode())
        t2 = time.perf_counter()
        renders.append(t1 - t0)
        stores.append(t2 - t1)
    blob_dir = os.path.join(store.root, "Bench", "blobs")
    blob = max(
        (os.path.join(d, f) for d, _, fs in os.walk(blob_dir) for f in fs), key=os.path.getmtime
    )
    return (
        statistics.median(renders),
        statistics.median(stores),
        len(page.encode()),
        os.path.getsize(blob),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        store = FlowDataStore("Bench", LocalStorage(root))
        cases = [
            (f"table, {args.rows:,} rows", [table(args.rows)]),
            (f"line chart, {args.points:,} points", [chart(args.points)]),
            ("both on one card", [table(args.rows), chart(args.points)]),
        ]
        print(f"{'card':<28} {'render ms':>10} {'store ms':>9} {'HTML KB':>9} {'stored KB':>10}")
        for name, components in cases:
            render, put, size, stored = measure(components, args.repeat, store)
            print(
                f"{name:<28} {render * 1000:>10.1f} {put * 1000:>9.1f} {size / 1024:>9.1f} "
                f"{stored / 1024:>10.1f}"
            )


if __name__ == "__main__":
    main()
