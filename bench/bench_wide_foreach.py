"""A wide foreach of trivial tasks on the local executor: wall time, per-task cost, peak
memory of the run process and datastore footprint, at several widths; and airstep against
Metaflow's local runtime at one width.

The flow is ``start`` -> ``work`` (foreach over ``range(width)``) -> ``join`` -> ``end``.
Each measurement runs in a fresh process that runs the flow in-process (airstep's
``LocalRun``; Metaflow's CLI through ``runpy``), so that process's own peak RSS
(``getrusage(RUSAGE_SELF)``) is the run process's; its task processes are counted in the
CPU time (``RUSAGE_CHILDREN``) but not in the peak RSS. Both sides run with 16 workers.

Metaflow runs from ``.venv-metaflow`` (``make metaflow-venv``; ``$AIRSTEP_METAFLOW_PYTHON``
names another python); without it its rows are skipped. ``--baseline-tree`` adds rows for
another airstep checkout (e.g. ``git worktree add /tmp/base main``), run in the same
session, so figures on a busy machine compare fairly.

``--per-task`` adds rows for ``--process-per-task`` (a fresh process for every task, no
process running several tasks of the foreach), in the same session.

Usage: python bench/bench_wide_foreach.py [--sizes 100,1000,10000] [--metaflow-size 1000]
           [--workers 16] [--baseline-tree PATH] [--per-task]
(``--metaflow-size 0`` skips Metaflow, which takes minutes at 1,000 items.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
METAFLOW_PYTHON = Path(
    os.environ.get("AIRSTEP_METAFLOW_PYTHON") or REPO / ".venv-metaflow" / "bin" / "python"
)
FLOW = """
from {library} import FlowSpec, Parameter, step


class WideForeachFlow(FlowSpec):
    width = Parameter("width", default=100)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WideForeachFlow()
"""


# -- one measurement, in its own process ------------------------------------------------------
def measure_airstep(
    tree: str, width: int, workers: int, folder: Path, per_task: bool = False
) -> None:
    sys.path.insert(0, tree)
    from provider.datastore import FlowDataStore, storage_for
    from provider.flow.loader import load_flow_class
    from provider.local.scheduler import LocalRun

    flow_file = folder / "wide_foreach_flow.py"
    flow_file.write_text(FLOW.format(library="provider"))
    flow_cls = load_flow_class(str(flow_file))
    root = folder / "datastore"
    store = FlowDataStore(flow_cls.__name__, storage_for(str(root)))
    with open(os.devnull, "w") as devnull:
        began = time.perf_counter()
        run_id = LocalRun(
            flow_cls,
            store=store,
            params={"width": width},
            max_workers=workers,
            max_num_splits=width,
            **({"reuse_processes": False} if per_task else {}),
            out=devnull,
            err=devnull,
        ).run()
        wall = time.perf_counter() - began
    assert store.task(run_id, "join", "0").load("total") == sum(range(width))
    report(wall, root)


def measure_metaflow(width: int, workers: int, folder: Path) -> None:
    import runpy

    flow_file = folder / "wide_foreach_flow.py"
    flow_file.write_text(FLOW.format(library="metaflow"))
    root = folder / "datastore"
    os.environ.update(
        METAFLOW_DEFAULT_DATASTORE="local",
        METAFLOW_DATASTORE_SYSROOT_LOCAL=str(root),
        METAFLOW_DEFAULT_METADATA="local",
        METAFLOW_HOME=str(folder / "metaflow-home"),
        USERNAME="bench",
    )
    os.chdir(folder)
    sys.argv = [str(flow_file), "--no-pylint", "run", "--width", str(width)]
    sys.argv += ["--max-num-splits", str(width), "--max-workers", str(workers)]
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    began = time.perf_counter()
    code = 0
    try:
        runpy.run_path(str(flow_file), run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    wall = time.perf_counter() - began
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    if code:
        raise SystemExit(f"Metaflow's run exited {code}")
    report(wall, root)


def report(wall: float, root: Path) -> None:
    me = resource.getrusage(resource.RUSAGE_SELF)
    tasks = resource.getrusage(resource.RUSAGE_CHILDREN)
    files = size = disk = 0
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.stat(os.path.join(folder, name))
            files, size, disk = files + 1, size + st.st_size, disk + st.st_blocks * 512
    cpu = me.ru_utime + me.ru_stime + tasks.ru_utime + tasks.ru_stime
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "rss_mb": me.ru_maxrss / 1024,
                "files": files,
                "bytes": size,
                "disk": disk,
            }
        )
    )


# -- the table ----------------------------------------------------------------------------------
def run_one(python: str, side: str, tree: str, width: int, workers: int) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="airstep-wide-") as folder:
        proc = subprocess.run(
            [python, __file__, "--one", side, "--tree", tree, "--folder", folder]
            + ["--width", str(width), "--workers", str(workers)],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        print(f"{side} at {width} items failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--metaflow-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--baseline-tree", default=None)
    parser.add_argument("--per-task", action="store_true", help="add rows with --process-per-task")
    parser.add_argument(
        "--one", choices=["airstep", "per-task", "metaflow"], help=argparse.SUPPRESS
    )
    parser.add_argument("--tree", default=str(REPO), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one in ("airstep", "per-task"):
        per_task = args.one == "per-task"
        return measure_airstep(args.tree, args.width, args.workers, Path(args.folder), per_task)
    if args.one == "metaflow":
        return measure_metaflow(args.width, args.workers, Path(args.folder))

    sizes = [int(s) for s in args.sizes.split(",") if s]
    runs: list[tuple[str, str, str, int]] = []  # (label, python, side, tree)
    for width in sizes:
        runs.append(("airstep", sys.executable, "airstep", str(REPO), width))
        if args.per_task:
            runs.append(("per-task", sys.executable, "per-task", str(REPO), width))
        if args.baseline_tree:
            runs.append(("baseline", sys.executable, "airstep", args.baseline_tree, width))
    if args.metaflow_size:
        if METAFLOW_PYTHON.exists():
            runs.append(("metaflow", str(METAFLOW_PYTHON), "metaflow", "", args.metaflow_size))
            runs.append(("airstep", sys.executable, "airstep", str(REPO), args.metaflow_size))
        else:
            print(f"Metaflow skipped: {METAFLOW_PYTHON} does not exist (make metaflow-venv)")
    print(
        f"foreach of trivial tasks (start, work x N, join, end), --max-workers {args.workers}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"
    )
    header = (
        f"{'executor':<10}{'items':>7}{'wall s':>9}{'ms/task':>9}{'cpu ms/task':>12}"
        f"{'run RSS MB':>11}{'files/task':>11}{'bytes/task':>11}{'disk KB/task':>13}"
    )
    print(header)
    for label, python, side, tree, width in runs:
        found = run_one(python, side, tree, width, args.workers)
        if found is None:
            continue
        tasks = width + 3
        print(
            f"{label:<10}{width:>7}{found['wall']:>9.2f}{1000 * found['wall'] / tasks:>9.2f}"
            f"{1000 * found['cpu'] / tasks:>12.2f}{found['rss_mb']:>11.1f}"
            f"{found['files'] / tasks:>11.2f}{found['bytes'] / tasks:>11.0f}"
            f"{found['disk'] / 1024 / tasks:>13.1f}",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
