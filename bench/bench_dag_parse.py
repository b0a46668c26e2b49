"""DAG file parse time: airstep flows against hand-written TaskFlow DAG files of the same
shape, same run. Shapes: a chain of 100 steps, and a 1,000-wide foreach (fan-out, mapped
step, join). Each file is parsed with Airflow's DagBag --repeat times (modules re-imported
each time); the table shows the median.

Usage: python bench/bench_dag_parse.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def chain_flow(n: int) -> str:
    lines = [
        "# airflow dag",
        "from provider import FlowSpec, step",
        "",
        "class ChainFlow(FlowSpec):",
    ]
    names = ["start"] + [f"s{i}" for i in range(1, n - 1)] + ["end"]
    for name, nxt in zip(names, names[1:] + [None], strict=True):
        lines += ["    @step", f"    def {name}(self):", f"        self.v_{name} = 1"]
        if nxt:
            lines.append(f"        self.next(self.{nxt})")
        lines.append("")
    lines += ["dag = ChainFlow.to_dag()"]
    return "\n".join(lines) + "\n"


def chain_taskflow(n: int) -> str:
    lines = [
        "from airflow.sdk import dag, task",
        "",
        "@dag(dag_id='ChainTaskFlow', schedule=None)",
        "def chain():",
    ]
    names = ["start"] + [f"s{i}" for i in range(1, n - 1)] + ["end"]
    for name in names:
        lines += ["    @task", f"    def {name}():", "        return 1", ""]
    lines.append("    " + " >> ".join(f"{name}()" for name in names))
    lines += ["", "chain()"]
    return "\n".join(lines) + "\n"


FOREACH_FLOW = """# airflow dag
from provider import FlowSpec, step

class WideFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(1000))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.value = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass

dag = WideFlow.to_dag(max_active_tasks=16)
"""

FOREACH_TASKFLOW = """from airflow.sdk import dag, task

@dag(dag_id="WideTaskFlow", schedule=None, max_active_tasks=16)
def wide():
    @task
    def start():
        return list(range(1000))

    @task
    def work(item):
        return item * 2

    @task
    def join(values):
        return sum(values)

    @task
    def end(total):
        return total

    end(join(work.expand(item=start())))

wide()
"""


def parse_seconds(path: Path, repeat: int) -> float:
    from airflow.dag_processing.dagbag import DagBag

    times = []
    for _ in range(repeat):
        for name in [m for m in sys.modules if m.startswith("unusual_prefix")]:
            del sys.modules[name]
        began = time.perf_counter()
        bag = DagBag(dag_folder=str(path), safe_mode=False)
        times.append(time.perf_counter() - began)
        assert bag.dags and not bag.import_errors, bag.import_errors
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("AIRFLOW_HOME", tmp)
        os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        files = {
            "chain_flow.py": chain_flow(100),
            "chain_taskflow.py": chain_taskflow(100),
            "wide_flow.py": FOREACH_FLOW,
            "wide_taskflow.py": FOREACH_TASKFLOW,
        }
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        import airflow  # noqa: F401 - imported once, outside the timings

        parse_seconds(Path(tmp) / "chain_taskflow.py", 1)  # warm-up
        rows = []
        for shape, ours, theirs in (
            ("100-step chain", "chain_flow.py", "chain_taskflow.py"),
            ("1,000-wide foreach", "wide_flow.py", "wide_taskflow.py"),
        ):
            a = parse_seconds(Path(tmp) / ours, args.repeat)
            b = parse_seconds(Path(tmp) / theirs, args.repeat)
            rows.append((shape, b, a))
    print(f"DAG file parse time (DagBag), median of {args.repeat}, ms")
    print(f"{'shape':<22}{'TaskFlow':>10}{'airstep':>10}{'ratio':>8}")
    for shape, b, a in rows:
        print(f"{shape:<22}{1000 * b:>10.1f}{1000 * a:>10.1f}{a / b:>8.2f}")


if __name__ == "__main__":
    main()
