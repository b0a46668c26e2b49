"""Per-task overhead of the local executor on a foreach of trivial tasks.

Compares, in the same run and with the same worker limit:
  airstep   LocalRun: each task is a process forked from the warm parent
  baseline  one fresh `python -m provider.runtime` process per task, importing the flow
            file anew (the way one-process-per-task runners work)

Usage: python bench/bench_local_overhead.py [--width 500] [--workers 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from provider.datastore import FlowDataStore, storage_for  # noqa: E402
from provider.flow.loader import load_flow_class  # noqa: E402
from provider.local.scheduler import LocalRun  # noqa: E402


def run_airstep(flow_cls, width: int, workers: int, root: str) -> float:
    store = FlowDataStore(flow_cls.__name__, storage_for(root))
    devnull = open(os.devnull, "w")
    began = time.perf_counter()
    run_id = LocalRun(
        flow_cls,
        store=store,
        params={"width": width},
        max_workers=workers,
        max_num_splits=width,
        out=devnull,
        err=devnull,
    ).run()
    elapsed = time.perf_counter() - began
    assert store.task(run_id, "join", "0").load("total") == sum(range(width))
    return elapsed


def run_baseline(width: int, workers: int, root: str) -> float:
    flow_file = str(HERE / "trivial_flow.py")
    run_id = "baseline"

    def command(step: str, task_id: str, extra=()):
        return [
            sys.executable,
            "-m",
            "provider.runtime",
            "--flow-file",
            flow_file,
            "--run-id",
            run_id,
            "--step",
            step,
            "--task-id",
            task_id,
            "--datastore-root",
            root,
            "--max-num-splits",
            str(width),
            *extra,
        ]

    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    began = time.perf_counter()
    subprocess.run(
        command("start", "0", ["--params-json", f'{{"width": {width}}}']), check=True, env=env
    )
    pending = [command("each", str(i)) for i in range(width)]
    running: list[subprocess.Popen] = []
    while pending or running:
        while pending and len(running) < workers:
            running.append(subprocess.Popen(pending.pop(0), env=env))
        for proc in running[:]:
            if proc.poll() is not None:
                assert proc.returncode == 0
                running.remove(proc)
        time.sleep(0.002)
    subprocess.run(command("join", "0"), check=True, env=env)
    subprocess.run(command("end", "0"), check=True, env=env)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    flow_cls = load_flow_class(str(HERE / "trivial_flow.py"))
    tasks = args.width + 3
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        fast = run_airstep(flow_cls, args.width, args.workers, a)
        slow = run_baseline(args.width, args.workers, b)
    print(
        f"foreach of {args.width} trivial tasks ({tasks} tasks), --max-workers {args.workers}, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'executor':<34}{'wall s':>9}{'ms/task':>10}{'vs baseline':>13}")
    print(
        f"{'baseline: fresh python per task':<34}{slow:>9.2f}{1000 * slow / tasks:>10.1f}{1.0:>12.1f}x"
    )
    print(
        f"{'airstep LocalRun (fork)':<34}{fast:>9.2f}{1000 * fast / tasks:>10.1f}{slow / fast:>12.1f}x"
    )


if __name__ == "__main__":
    main()
