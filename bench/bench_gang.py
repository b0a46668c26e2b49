"""A @parallel step's gang: how fast its nodes start, and how fast a failure stops them all.

Measured in the same run, on this machine:
  start     from the gang's task starting (run_task, as the local executor's worker and the
            Airflow worker call it) until all N nodes are inside the step's code, against
            starting N plain `python -c` processes until all of them run (target: <= 1.5x);
            also with the nodes started by posix_spawn (the caller runs other threads, as
            under `airflow dags test`)
  stop      from one node's failure until every node has ended (run_task has raised): nodes
            in Python stop at SIGTERM; a node that ignores SIGTERM is killed after the grace
  remote    the same two, for the gang as pods: KubernetesGangOperator against the loopback
            fake Kubernetes API server of the tests (pods are local processes; artifacts in
            moto's S3 on 127.0.0.1), as an Indexed Job and as a JobSet; the stop is timed
            until every pod's process has ended, and until the step has failed

Usage: python bench/bench_gang.py [--nodes 4] [--repeat 7] [--remote-repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
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
sys.path.insert(0, str(HERE.parent / "tests"))  # the fake Kubernetes API server

from provider.datastore import FlowDataStore, storage_for  # noqa: E402
from provider.exceptions import GangFailed, StepError  # noqa: E402
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


class _TI:
    dag_id, task_id, map_index = "bench", "train", -1

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number

    def xcom_push(self, *args: object, **kwargs: object) -> None:
        pass


class FakeCluster:
    """The fake Kubernetes API server and moto's S3, for gangs of pods on this machine."""

    def __enter__(self) -> FakeCluster:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self.home = tempfile.mkdtemp(prefix="airstep-bench-k8s-")
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        aws = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        os.environ.update(aws, AIRFLOW_HOME=self.home)
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench")
        os.environ["AIRSTEP_DATASTORE_ROOT"] = "s3://bench/airstep"
        from airstep_testing.fake_apiserver import FakeKubeApiServer

        self.api = FakeKubeApiServer(workdir=Path(self.home) / "pods").start()
        self.api.extra_env.update(aws)
        config = self.api.write_kubeconfig(Path(self.home) / "kubeconfig")
        extra = {"kube_config_path": config, "in_cluster": False}
        os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(
            {"conn_type": "kubernetes", "extra": extra}
        )
        self.store = FlowDataStore(FLOW.__name__, storage_for(os.environ["AIRSTEP_DATASTORE_ROOT"]))
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.stop()
        self.moto.stop()

    def gang(self, nodes: int, mode: str, kind: str) -> tuple[float, float, list[float], str]:
        """Run one gang of pods: (its task's start, when the step ended, when the first and
        the last pod process ended, its folder of notes)."""
        from provider.operators.kubernetes_gang import KubernetesGangOperator

        run_id = f"bench-{time.time_ns()}"
        run_task(FLOW, TaskRequest(run_id, "start", params={"nodes": nodes}), self.store)
        folder = tempfile.mkdtemp(prefix="airstep-bench-pods-")
        self.api.extra_env.update(BENCH_GANG_DIR=folder, BENCH_GANG_MODE=mode)
        os.environ["AIRFLOW__AIRSTEP__KUBERNETES_GANG"] = kind
        before = set(self.api.records)
        stopped: list[float] = []  # when the first pod process ended, and the last

        def every_pod_ended() -> None:
            def ended(count: int) -> bool:
                pods = [r for name, r in self.api.records.items() if name not in before]
                done = [r for r in pods if r.state == "terminated"]
                return len(pods) == nodes and len(done) >= count

            for count in (1, nodes):
                self.api.wait_for(lambda count=count: ended(count), timeout=300)
                stopped.append(time.time())

        watcher = threading.Thread(target=every_pod_ended, daemon=True)
        watcher.start()
        op = KubernetesGangOperator(task_id="train", flow_cls=FLOW, step_name="train")
        quiet = open(os.devnull, "w")
        logging.disable(logging.CRITICAL)
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                began = time.time()
                try:
                    op.execute({"ti": _TI(1), "run_id": run_id, "params": {}, "dag": None})
                except StepError:
                    assert mode != "ok"
                ended = time.time()
        finally:
            logging.disable(logging.NOTSET)
        watcher.join(300)
        return began, ended, stopped, folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--remote-repeat", type=int, default=3)
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

    kinds = ("indexed_job", "jobset")
    pod_start: dict[str, list[float]] = {k: [] for k in kinds}
    pod_stop: dict[str, list[float]] = {k: [] for k in kinds}
    pod_first: dict[str, list[float]] = {k: [] for k in kinds}
    pod_fail: dict[str, list[float]] = {k: [] for k in kinds}
    with FakeCluster() as cluster:
        cluster.gang(n, "ok", "indexed_job")  # warm up: the code package, the clients
        for _ in range(args.remote_repeat):
            for kind in kinds:
                began, _, _, folder = cluster.gang(n, "ok", kind)
                pod_start[kind].append(entered(folder, n)[0] - began)
                _, ended, stopped, folder = cluster.gang(n, "fail", kind)
                failed = float(Path(folder, "fail").read_text())
                pod_first[kind].append(stopped[0] - failed)
                pod_stop[kind].append(stopped[1] - failed)
                pod_fail[kind].append(ended - failed)

    def ms(values: list[float]) -> float:
        return 1000 * statistics.median(values)

    base = ms(plain)
    print(
        f"gang of {n} nodes, {os.cpu_count()} cores; median of {args.repeat} runs "
        f"({args.remote_repeat} for pods on the fake Kubernetes API server)"
    )
    width = 62
    print(f"{'until every node runs user code':<{width}}{'ms':>9}{'vs baseline':>13}")
    rows = [
        (f"baseline: start {n} plain python processes", base),
        ("local gang, nodes forked (local run, worker)", ms(forked)),
        ("local gang, nodes spawned (caller has threads)", ms(spawned)),
        ("pods, Indexed Job + Service (fake API server)", ms(pod_start["indexed_job"])),
        ("pods, JobSet (fake API server)", ms(pod_start["jobset"])),
    ]
    for name, value in rows:
        print(f"{name:<{width}}{value:>9.1f}{value / base:>12.2f}x")
    print(f"{'from a node failing until every node has ended':<{width}}{'ms':>9}")
    stop_rows = [
        ("local gang, nodes in Python code (SIGTERM)", ms(stops)),
        (
            f"local gang, a node ignoring SIGTERM (SIGKILL after {GRACE_SECONDS:g} s)",
            1000 * stubborn,
        ),
        ("pods, Indexed Job: the failing pod's process ended", ms(pod_first["indexed_job"])),
        ("pods, Indexed Job: every pod process ended", ms(pod_stop["indexed_job"])),
        ("pods, Indexed Job: the step failed (pods deleted)", ms(pod_fail["indexed_job"])),
        ("pods, JobSet: the failing pod's process ended", ms(pod_first["jobset"])),
        ("pods, JobSet: every pod process ended", ms(pod_stop["jobset"])),
        ("pods, JobSet: the step failed (JobSet deleted)", ms(pod_fail["jobset"])),
    ]
    for name, value in stop_rows:
        print(f"{name:<{width}}{value:>9.1f}")


if __name__ == "__main__":
    main()
