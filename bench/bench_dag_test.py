"""`dag.test()` wall time of the foreach example (dags/train_sweep.py) against a hand-written
TaskFlow DAG doing the same work (same data, same training loop, XCom for the data), same
run, same temporary Airflow (SQLite). A warm-up run of each comes first; the table shows the
median of --repeat runs.

Usage: python bench/bench_dag_test.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TASKFLOW = '''"""The train_sweep example written by hand with TaskFlow (airflow dag)."""
import random

from airflow.sdk import dag, task


def make_data(n, seed):
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(n)]
    return [(x, 3.0 * x - 2.0 + rng.gauss(0, 0.1)) for x in xs]


def mse(w, b, rows):
    return sum((w * x + b - y) ** 2 for x, y in rows) / len(rows)


@dag(dag_id="TrainSweepTaskFlow", schedule=None)
def sweep(epochs: int = 30, samples: int = 2000, rates: list = [0.3, 0.1, 0.03, 0.01]):
    @task
    def start(samples, rates):
        data = make_data(samples, seed=7)
        cut = int(0.8 * len(data))
        return {"train": data[:cut], "valid": data[cut:], "rates": list(rates)}

    @task
    def rates_of(prepared):
        return prepared["rates"]

    @task(retries=2)
    def train(rate, prepared, epochs):
        rows = prepared["train"]
        w = b = 0.0
        for _ in range(epochs):
            gw = sum(2 * (w * x + b - y) * x for x, y in rows) / len(rows)
            gb = sum(2 * (w * x + b - y) for x, y in rows) / len(rows)
            w, b = w - rate * gw, b - rate * gb
        return {"rate": rate, "w": w, "b": b, "loss": mse(w, b, prepared["valid"])}

    @task
    def choose(results):
        return min(results, key=lambda r: r["loss"])

    @task
    def end(best):
        print("best", best)

    prepared = start(samples, rates)
    end(choose(train.partial(prepared=prepared, epochs=epochs).expand(rate=rates_of(prepared))))


sweep()
'''


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="airstep-bench-")
    dags = Path(home) / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "train_sweep.py", dags / "train_sweep.py")
    (dags / "train_sweep_taskflow.py").write_text(TASKFLOW)
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRSTEP_DATASTORE_ROOT=str(Path(home) / "datastore"),
    )
    sys.path.insert(0, str(ROOT))
    try:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils import db

        db.initdb()
        bag = DagBag(dag_folder=str(dags))
        assert not bag.import_errors, bag.import_errors
        timings = {}
        for dag_id in ("TrainSweepTaskFlow", "TrainSweepFlow"):
            dag = bag.get_dag(dag_id)
            dag.test()  # warm-up
            runs = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                run = dag.test()
                runs.append(time.perf_counter() - began)
                assert run.state == "success", (dag_id, run.state)
            timings[dag_id] = statistics.median(runs)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base, ours = timings["TrainSweepTaskFlow"], timings["TrainSweepFlow"]
    print(f"dag.test() of the foreach example, median of {args.repeat} after a warm-up, seconds")
    print(f"{'DAG':<34}{'seconds':>9}{'ratio':>8}")
    print(f"{'hand-written TaskFlow':<34}{base:>9.2f}{1.0:>8.2f}")
    print(f"{'airstep (dags/train_sweep.py)':<34}{ours:>9.2f}{ours / base:>8.2f}")


if __name__ == "__main__":
    main()
