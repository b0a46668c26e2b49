"""KubernetesGangOperator against the fake API server: a gang as one Indexed Job whose pods
meet at node 0's DNS name over plain sockets, a failing node, and on_kill; nothing is left."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from provider.dag import gang_operator_for
from provider.datastore import FlowDataStore, storage_for
from provider.exceptions import StepError
from provider.operators.kubernetes_gang import KubernetesGangOperator
from provider.runtime.request import TaskRequest
from provider.runtime.run import run_task

FLOW = Path(__file__).resolve().parents[1] / "flows" / "gang_flow.py"


def _gang_flow() -> type:
    """GangFlow, imported under its own name (load_flow_class would turn to_dag() off for the
    whole test session)."""
    name = "airstep_test_operators_gang_flow"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FLOW)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name].GangFlow


GangFlow = _gang_flow()
pytestmark = pytest.mark.slow


class _TI:
    dag_id, task_id, map_index = "GangFlow", "train", -1  # the flow's own DAG

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number

    def xcom_push(self, *args, **kwargs):
        pass


def context(run_id: str, try_number: int = 1) -> dict:
    return {"ti": _TI(try_number), "run_id": run_id, "params": {}, "dag": None}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def operator() -> KubernetesGangOperator:
    return KubernetesGangOperator(
        task_id="train",
        flow_cls=GangFlow,
        step_name="train",
        main_port=free_port(),
        poll_interval=0.2,
    )


@pytest.fixture
def store(monkeypatch, s3_bucket, fake_k8s) -> FlowDataStore:
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    fake_k8s.extra_env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return FlowDataStore("GangFlow", storage_for(s3_bucket))


def start(store: FlowDataStore, run_id: str, nodes: int) -> None:
    request = TaskRequest(run_id=run_id, step="start", params={"nodes": nodes})
    run_task(GangFlow, request, store)


def nothing_left(fake_k8s) -> None:
    fake_k8s.wait_for(lambda: not fake_k8s.jobs.live_objects() or None, timeout=30)


def test_kubernetes_places_a_gang_in_one_indexed_job():
    assert gang_operator_for("kubernetes", GangFlow.graph()["train"]) is KubernetesGangOperator


def test_a_gang_of_three_pods_meets_at_node_0_and_the_join_sees_every_node(store, fake_k8s, capfd):
    start(store, "k8s-gang", nodes=3)
    op = operator()
    assert op.execute(context("k8s-gang")) == ["0", "1", "2"]

    for i in range(3):
        node = store.task("k8s-gang", "train", str(i))
        assert node.load("seen") == [0, 1, 2]
        assert node.load("rank") == i
    join = run_task(GangFlow, TaskRequest(run_id="k8s-gang", step="join"), store)
    assert store.task("k8s-gang", "join", join.task_id).load("ranks") == [0, 1, 2]
    logged = capfd.readouterr()
    for i in range(3):
        assert f"[node {i}] node {i} of 3 meets the others" in logged.out + logged.err

    (job,) = [o for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    (service,) = [o for o in fake_k8s.jobs.created if o["kind"] == "Service"]
    name = job["metadata"]["name"]
    assert service["metadata"]["name"] == name
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["completionMode"]) == (3, 3, "Indexed")
    assert spec["backoffLimit"] == 0
    assert spec["podFailurePolicy"]["rules"][0]["action"] == "FailJob"
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == name and pod["restartPolicy"] == "Never"
    args = pod["containers"][0]["args"]
    # every value rides in one argument, as --option=value
    main, port = f"--main-addr={name}-0.{name}", f"--main-port={op.main_port}"
    assert args[-3:] == ["--num-nodes=3", main, port]
    assert not any(a.startswith("--node-index") for a in args)  # its JOB_COMPLETION_INDEX
    nothing_left(fake_k8s)


def test_a_failing_node_fails_the_step_quickly_and_the_retry_is_a_new_job(store, fake_k8s):
    start(store, "k8s-fail", nodes=2)
    # node 1 fails on attempt 0, before connecting: node 0 would wait for it for ever
    fake_k8s.extra_env.update(GANG_FAIL_NODE="1", GANG_FAIL_ATTEMPTS="1")
    began = time.monotonic()
    with pytest.raises(StepError) as raised:
        operator().execute(context("k8s-fail"))
    assert time.monotonic() - began < 60
    message = str(raised.value)
    assert "Step *train*" in message and "node 1 (pod " in message and "exited 1" in message
    nothing_left(fake_k8s)
    assert store.read_attempt("k8s-fail", "train", "1", 0).status == "failed"

    assert operator().execute(context("k8s-fail", try_number=2)) == ["0", "1"]
    assert store.task("k8s-fail", "train", "1").load("attempt") == 1
    first, second = [o["metadata"]["name"] for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    assert first != second
    nothing_left(fake_k8s)


def test_a_gang_that_does_not_start_in_time_fails_and_leaves_nothing(store, fake_k8s):
    start(store, "k8s-slow", nodes=2)
    fake_k8s.start_delay = 30  # the containers stay ContainerCreating
    op = operator()
    op.startup_timeout_seconds = 1
    with pytest.raises(StepError) as raised:
        op.execute(context("k8s-slow"))
    message = str(raised.value)
    assert "did not start within 1 s" in message and "(ContainerCreating)" in message
    nothing_left(fake_k8s)


def test_on_kill_deletes_the_job_its_pods_and_the_service(store, fake_k8s):
    start(store, "k8s-kill", nodes=2)
    fake_k8s.extra_env["GANG_HOLD"] = "1"
    op = operator()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context("k8s-kill"))
        except BaseException as exc:  # noqa: BLE001 - the killed task must fail
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    fake_k8s.wait_for(
        lambda: sum(r.state == "running" for r in fake_k8s.records.values()) == 2, timeout=60
    )
    op.on_kill()
    thread.join(timeout=60)
    assert not thread.is_alive() and errors
    nothing_left(fake_k8s)
    assert all(r.state == "terminated" for r in fake_k8s.records.values())


def test_a_gang_inside_a_foreach_runs_for_its_item(store, fake_k8s):
    start(store, "k8s-item", nodes=2)
    for step, task_id in (("train", "0"), ("join", "0"), ("prepare", "1")):
        run_task(GangFlow, TaskRequest(run_id="k8s-item", step=step, task_id=task_id), store)
    op = KubernetesGangOperator(
        task_id="pair",
        flow_cls=GangFlow,
        step_name="pair",
        flow_task_id="1.0",
        main_port=free_port(),
        poll_interval=0.2,
    )
    assert op.execute(context("k8s-item")) == ["1.0", "1.1"]
    nodes = [store.task("k8s-item", "pair", f"1.{i}").load("node") for i in range(2)]
    assert nodes == [("b", 0, "1.0", "1.0"), ("b", 1, "1.0", "1.1")]
    nothing_left(fake_k8s)
