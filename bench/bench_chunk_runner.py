"""The chunk runner: what one Airflow task instance of a wide foreach runs (in the worker, a pod
or a Batch job), timed per item, against another airstep checkout in the same session.

A trivial foreach (``bench/trivial_flow.py``: ``start`` -> ``each`` x N -> ``join``) is split
locally first; then the ``each`` tasks run as one chunk through ``run_items`` (the chunk runner of each tree), with
``--processes`` at once, every item its own flow task. Each measurement runs in a fresh
process; the trees alternate, so a drifting machine affects both alike.

Usage: python bench/bench_chunk_runner.py [--items 1000] [--processes 2] [--rounds 3]
           [--baseline-tree PATH]   (e.g. ``git worktree add /tmp/base <commit>``)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: the foreach of trivial tasks the other per-task benchmarks use (its body step: ``each``)
FLOW_FILE = Path(__file__).resolve().parent / "trivial_flow.py"


def measure(tree: str, items: int, processes: int) -> None:
    """In a fresh process: split the foreach, then run its items as one chunk; print JSON."""
    sys.path.insert(0, tree)
    from provider.datastore import FlowDataStore, storage_for
    from provider.flow.loader import load_flow_class

    try:
        from provider.runtime.chunk import run_items
    except ImportError:  # a tree from before the process layer
        from provider.local.items import run_items  # type: ignore[no-redef]
    try:
        from provider.runtime.run import run_task
    except ImportError:
        from provider.runtime.task import run_task  # type: ignore[no-redef]
    from provider.runtime.request import TaskRequest

    folder = Path(tempfile.mkdtemp(prefix="airstep-chunk-bench-"))
    flow_cls = load_flow_class(str(FLOW_FILE))
    store = FlowDataStore(flow_cls.__name__, storage_for(str(folder / "datastore")))
    run_task(
        flow_cls, TaskRequest("r1", "start", params={"width": items}, max_num_splits=items), store
    )
    requests = [TaskRequest("r1", "each", str(i), max_num_splits=items) for i in range(items)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.devnull, "w") as devnull:
        began = time.perf_counter()
        manifests = run_items(
            flow_cls, requests, store, processes=processes, out=devnull, err=devnull
        )
        wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert len(manifests) == items
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"wall": wall, "cpu": cpu}))


def run_one(tree: str, items: int, processes: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, __file__, "--measure", tree, "--items", str(items),
         "--processes", str(processes)],
        capture_output=True, text=True, env=env, check=True, timeout=1800,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-tree")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.items, args.processes)
        return
    trees = [("airstep", str(REPO))]
    if args.baseline_tree:
        trees.append(("baseline", str(Path(args.baseline_tree).resolve())))
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for _ in range(args.rounds):
        for name, tree in trees:
            results[name].append(run_one(tree, args.items, args.processes))
    print(
        f"chunk runner: {args.items} trivial items, {args.processes} at once, "
        f"{args.rounds} rounds (median), {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"{'tree':<10}{'wall s':>9}{'ms/item':>10}{'CPU ms/item':>13}")
    for name, rows in results.items():
        wall = statistics.median(r["wall"] for r in rows)
        cpu = statistics.median(r["cpu"] for r in rows)
        per = 1000 / args.items
        print(f"{name:<10}{wall:>9.2f}{wall * per:>10.2f}{cpu * per:>13.2f}")


if __name__ == "__main__":
    main()
