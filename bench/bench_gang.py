"""A @parallel step's gang: how fast its nodes start, and how fast a failure stops them all.

Measured in the same run, on this machine:
  start     from the gang's task starting (run_task, as the local executor's worker and the
            Airflow worker call it) until all N nodes are inside the step's code, against
            starting N plain `python -c` processes until all of them run (target: <= 1.5x);
            also with the nodes started by posix_spawn (the caller runs other threads, as
            under `airflow dags test`)
  stop      from one node's failure until every node has ended (run_task has raised): nodes
            in Python stop at SIGTERM; a node that ignores SIGTERM is killed after the grace

Usage: python bench/bench_gang.py [--nodes 4] [--repeat 7]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from provider.datastore import FlowDataStore, storage_for  # noqa: E402
from provider.exceptions import GangFailed  # noqa: E402
from provider.flow.loader import load_flow_class  # noqa: E402
from provider.runtime.nodes import GRACE_SECONDS  # noqa: E402
from provider.runtime.run import run_task  # noqa: E402
from provider.runtime.task import TaskRequest  # noqa: E402

FLOW = load_flow_class(str(HERE / "gang_bench_flow.py"))


def entered(folder: str, nodes: int) -> tuple[float, list[int]]:
    """The time the last node entered the step, and the nodes' pids."""
    times, pids = [], []
    for node in range(nodes):
        when, pid = Path(folder, f"enter-{node}").read_text().split()
        times.append(float(when))
        pids.append(int(pid))
    return max(times), pids


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def gang(store: FlowDataStore, nodes: int, mode: str, threads: bool) -> tuple[float, float, str]:
    """Run one gang: (start time of its task, when it ended, its folder of notes)."""
    run_id = f"bench-{time.time_ns()}"
    run_task(FLOW, TaskRequest(run_id, "start", params={"nodes": nodes}), store)
    folder = tempfile.mkdtemp(prefix="airstep-bench-gang-")
    os.environ.update(BENCH_GANG_DIR=folder, BENCH_GANG_MODE=mode)
    idle = threading.Event()
    if threads:  # another thread in the caller: the nodes are spawned, not forked
        threading.Thread(target=idle.wait, daemon=True).start()
    quiet = open(os.devnull, "w")
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            began = time.time()
            try:
                run_task(FLOW, TaskRequest(run_id, "train", task_id="0"), store)
            except GangFailed:
                assert mode != "ok"
            ended = time.time()
    finally:
        idle.set()
    return began, ended, folder


def plain_processes(nodes: int) -> float:
    folder = tempfile.mkdtemp(prefix="airstep-bench-plain-")
    code = "import os, sys, time; open(sys.argv[1], 'w').write(repr(time.time()) + ' 0')"
    began = time.time()
    procs = [
        subprocess.Popen([sys.executable, "-c", code, os.path.join(folder, f"enter-{i}")])
        for i in range(nodes)
    ]
    for proc in procs:
        proc.wait()
    return entered(folder, nodes)[0] - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = args.nodes
    with tempfile.TemporaryDirectory() as root:
        store = FlowDataStore(FLOW.__name__, storage_for(root))
        gang(store, n, "ok", threads=False)  # warm up: imports, the datastore's folders
        plain, forked, spawned, stops = [], [], [], []
        for _ in range(args.repeat):
            plain.append(plain_processes(n))
            began, _, folder = gang(store, n, "ok", threads=False)
            forked.append(entered(folder, n)[0] - began)
            began, _, folder = gang(store, n, "ok", threads=True)
            spawned.append(entered(folder, n)[0] - began)
            _, ended, folder = gang(store, n, "fail", threads=False)
            stops.append(ended - float(Path(folder, "fail").read_text()))
            assert all(gone(pid) for pid in entered(folder, n)[1])
        _, ended, folder = gang(store, n, "stubborn", threads=False)
        stubborn = ended - float(Path(folder, "fail").read_text())
        assert all(gone(pid) for pid in entered(folder, n)[1])

    def ms(values: list[float]) -> float:
        return 1000 * statistics.median(values)

    base = ms(plain)
    print(f"gang of {n} nodes, {os.cpu_count()} cores, median of {args.repeat} runs")
    print(f"{'until every node runs user code':<52}{'ms':>9}{'vs baseline':>13}")
    rows = [
        (f"baseline: start {n} plain python processes", base),
        ("airstep gang, nodes forked (local run, worker)", ms(forked)),
        ("airstep gang, nodes spawned (caller has threads)", ms(spawned)),
    ]
    for name, value in rows:
        print(f"{name:<52}{value:>9.1f}{value / base:>12.2f}x")
    print(f"{'from a node failing until every node has ended':<52}{'ms':>9}")
    print(f"{'nodes in Python code (SIGTERM)':<52}{ms(stops):>9.1f}")
    print(
        f"{f'a node ignoring SIGTERM (SIGKILL after {GRACE_SECONDS:g} s)':<52}{1000 * stubborn:>9.1f}"
    )


if __name__ == "__main__":
    main()
