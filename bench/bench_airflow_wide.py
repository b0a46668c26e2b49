"""A wide foreach under Airflow: chunked (one mapped task instance per slice of items) against
one task instance per item, and the code package of a wide remote foreach.

Rows, all in one temporary Airflow (SQLite) and local datastore:

* ``dag.test()`` of a 1,000-wide foreach with one task instance per item (``[core]
  max_map_length`` and ``[airstep] max_map_tasks`` raised to 1,000): the baseline;
* the same foreach chunked with the default ``max_map_tasks`` (256): 250 chunks of 4;
* a 10,000-wide foreach chunked (250 chunks of 40), by ``dag.test()``, and by ``airflow dags
  test`` in a fresh process with Airflow's default ``max_map_length`` (1,024);
* a 1,000-wide ``@kubernetes`` foreach on the loopback fake Kubernetes API server (each pod a
  local process) with an S3 datastore on moto_server: the pods, and how often the code
  package was built and uploaded, counted as if every task instance ran in a worker process
  of its own (nothing remembered between them). ``--remote-chunks`` sets its
  ``max_map_tasks`` (20 by default: each pod here is a Python process on this machine).

Usage: python bench/bench_airflow_wide.py [--skip-remote] [--remote-chunks 20]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WIDE_FLOW = '''"""A foreach as wide as asked (an Airflow DAG)."""
from provider import FlowSpec, Parameter, step


class WideBenchFlow(FlowSpec):
    width = Parameter("width", default=1000)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


dag = WideBenchFlow.to_dag()
'''

REMOTE_FLOW = '''"""A foreach as wide as asked, each item in a pod (an Airflow DAG)."""
from provider import FlowSpec, Parameter, kubernetes, step


class RemoteWideBenchFlow(FlowSpec):
    width = Parameter("width", default=1000)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @kubernetes(secrets=["aws-credentials"])
    @step
    def work(self):
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


dag = RemoteWideBenchFlow.to_dag()
'''


def expected_total(width: int) -> int:
    return sum(i * i for i in range(width))


def mapped_count(dag_run, task_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return (
            session.query(TaskInstance)
            .filter(
                TaskInstance.dag_id == dag_run.dag_id,
                TaskInstance.run_id == dag_run.run_id,
                TaskInstance.task_id == task_id,
            )
            .count()
        )


def run_dag_test(bag, dag_id: str, width: int, env: dict[str, str]) -> tuple[float, int, str]:
    from provider import Run

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        began = time.perf_counter()
        dag_run = bag.get_dag(dag_id).test(run_conf={"width": width})
        seconds = time.perf_counter() - began
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert dag_run.state == "success", (dag_id, width, dag_run.state)
    assert Run(f"{dag_id}/{dag_run.run_id}")["join"]["0"].data.total == expected_total(width)
    return seconds, mapped_count(dag_run, "work"), dag_run.run_id


def run_cli(width: int) -> float:
    """``airflow dags test`` in a fresh process, with Airflow's default max_map_length."""
    from provider import Flow

    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__MAX_MAP_LENGTH"}
    airflow = str(Path(sys.executable).with_name("airflow"))
    conf = f'{{"width": {width}}}'
    began = time.perf_counter()
    done = subprocess.run(
        [airflow, "dags", "test", "WideBenchFlow", "-c", conf],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - began
    run = Flow("WideBenchFlow").latest_run
    if done.returncode != 0 or not run.successful:
        tail = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"airflow dags test failed ({done.returncode}):\n{tail}")
    assert run["join"]["0"].data.total == expected_total(width)
    return seconds


def chunks_for(width: int, max_tasks: int = 256) -> int:
    return math.ceil(width / math.ceil(width / max_tasks)) if width > max_tasks else width


def remote_row(bag, width: int, chunks: int) -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "tests"))
    import boto3
    from airstep_testing.fake_apiserver import FakeKubeApiServer
    from moto.server import ThreadedMotoServer

    from provider import Run
    from provider.datastore import code
    from provider.datastore.s3 import S3Storage

    class Forgetful(dict):
        """What a worker process knows of earlier task instances: nothing."""

        def __setitem__(self, key, value) -> None:
            pass

    builds, uploads = [], []
    package_code, put_bytes = code.package_code, S3Storage.put_bytes

    def counting_package(flow_file):
        builds.append(flow_file)
        return package_code(flow_file)

    def counting_put(self, key, data):
        if "/code/" in key:
            uploads.append(key)
        return put_bytes(self, key, data)

    work = Path(tempfile.mkdtemp(prefix="airstep-bench-remote-"))
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    os.environ.update(env)
    boto3.client("s3").create_bucket(Bucket="bench")
    server = FakeKubeApiServer(workdir=work / "pods").start()
    server.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    server.write_kubeconfig(work / "kubeconfig")
    extra = f'{{"kube_config_path": "{server.kubeconfig}", "in_cluster": false}}'
    settings = {
        "KUBECONFIG": server.kubeconfig,
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": f'{{"conn_type": "kubernetes", "extra": {extra}}}',
        "AIRSTEP_LOCAL_OVERRIDE": "false",
        "AIRSTEP_DATASTORE_ROOT": "s3://bench/airstep",
        "AIRFLOW__AIRSTEP__MAX_MAP_TASKS": str(chunks),
    }
    code.package_code, S3Storage.put_bytes, code._KNOWN = (
        counting_package,
        counting_put,
        Forgetful(),
    )
    try:
        seconds, tis, run_id = run_dag_test_remote(bag, width, settings)
        pods = [
            p for p in server.pods.values() if p["metadata"]["labels"]["airstep/step"] == "work"
        ]
        total = Run(f"RemoteWideBenchFlow/{run_id}", root="s3://bench/airstep").data.total
        assert total == expected_total(width)
    finally:
        code.package_code, S3Storage.put_bytes = package_code, put_bytes
        server.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "tis": tis, "pods": len(pods), "builds": len(builds),
            "uploads": len(uploads)}  # fmt: skip


def run_dag_test_remote(bag, width: int, settings: dict[str, str]) -> tuple[float, int, str]:
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        from airflow.dag_processing.dagbag import DagBag

        fresh = DagBag(dag_folder=bag.dag_folder)  # parsed with the remote settings
        began = time.perf_counter()
        dag_run = fresh.get_dag("RemoteWideBenchFlow").test(run_conf={"width": width})
        seconds = time.perf_counter() - began
        assert dag_run.state == "success", dag_run.state
        return seconds, mapped_count(dag_run, "work"), dag_run.run_id
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-remote", action="store_true")
    parser.add_argument("--remote-chunks", type=int, default=20)
    parser.add_argument("--wide", type=int, default=10_000)
    parser.add_argument("--base-width", type=int, default=1000)
    parser.add_argument("--remote-width", type=int, default=1000)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="airstep-bench-")
    dags = Path(home) / "dags"
    dags.mkdir()
    (dags / "wide_bench_flow.py").write_text(WIDE_FLOW)
    (dags / "remote_wide_bench_flow.py").write_text(REMOTE_FLOW)
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRSTEP_DATASTORE_ROOT=str(Path(home) / "datastore"),
        AIRSTEP_LOCAL_OVERRIDE="false",
    )
    os.environ.pop("AIRFLOW__CORE__MAX_MAP_LENGTH", None)
    os.environ.pop("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", None)
    sys.path.insert(0, str(ROOT))
    rows: list[tuple[str, int, int, float]] = []
    remote = None
    try:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils import db

        db.initdb()
        bag = DagBag(dag_folder=str(dags))
        assert not bag.import_errors, bag.import_errors
        run_dag_test(bag, "WideBenchFlow", 10, {})  # warm-up
        per_item = {
            "AIRFLOW__CORE__MAX_MAP_LENGTH": "1000",
            "AIRFLOW__AIRSTEP__MAX_MAP_TASKS": "1000",
        }
        for label, width, env in (
            ("dag.test(), one task instance per item", args.base_width, per_item),
            ("dag.test(), chunked (max_map_tasks 256)", args.base_width, {}),
            ("dag.test(), chunked (max_map_tasks 256)", args.wide, {}),
        ):
            seconds, tis, _ = run_dag_test(bag, "WideBenchFlow", width, env)
            rows.append((label, width, tis, seconds))
            print(f"  {label}: {width} items, {tis} task instances, {seconds:.1f} s", flush=True)
        seconds = run_cli(args.wide)
        rows.append(
            ("airflow dags test, default limits", args.wide, chunks_for(args.wide), seconds)
        )
        print(f"  airflow dags test: {args.wide} items, {seconds:.1f} s", flush=True)
        if not args.skip_remote:
            remote = remote_row(bag, args.remote_width, args.remote_chunks)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base = rows[0][3] / rows[0][1]
    print()
    print("A wide foreach under Airflow: wall seconds of the whole DAG run (2 shared cores)")
    print(f"{'run':<44}{'items':>8}{'task inst.':>12}{'seconds':>9}{'ms/item':>9}{'vs base':>9}")
    for label, width, tis, seconds in rows:
        ms = 1000 * seconds / width
        print(f"{label:<44}{width:>8}{tis:>12}{seconds:>9.1f}{ms:>9.1f}{ms / 1000 / base:>9.2f}")
    if remote is not None:
        print()
        print(
            f"{args.remote_width}-wide @kubernetes foreach (max_map_tasks {args.remote_chunks}, fake API "
            "server, S3 on moto): every task instance counted as its own worker process"
        )
        print(f"{'task inst.':>12}{'pods':>6}{'package builds':>16}{'uploads':>9}{'seconds':>9}")
        print(
            f"{remote['tis']:>12}{remote['pods']:>6}{remote['builds']:>16}"
            f"{remote['uploads']:>9}{remote['seconds']:>9.1f}"
        )


if __name__ == "__main__":
    main()
