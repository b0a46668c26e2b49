# ruff: noqa: F811 - remote_settings is a fixture, imported from test_remote_steps
"""Gangs on the fake Kubernetes API server under dag.test(): torch.distributed all_reduce
(gloo, CPU) across three pods that find node 0 by its DNS name, and the task stopped by
SIGTERM while the gang runs (Airflow's task runner calls on_kill), and a pod that fails:
the try fails within seconds, and @retry reruns the gang as a new Job. Nothing is left."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from dagrun_helpers import TEST_FLOWS, states, sync_dag, xcom_values
from helpers import require_torch
from test_remote_steps import fresh_module, remote_settings  # noqa: F401 - the fixture

from provider import Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def nothing_left(fake_k8s) -> None:
    fake_k8s.wait_for(lambda: not fake_k8s.jobs.live_objects() or None, timeout=30)
    assert all(r.state == "terminated" for r in fake_k8s.records.values())


@pytest.mark.parametrize("kind", ["indexed_job", "jobset"])
def test_torch_all_reduce_across_a_gang_of_three_pods(
    remote_settings, fake_k8s, capfd, monkeypatch, kind
):
    require_torch()
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_GANG", kind)
    dag = fresh_module(TEST_FLOWS / "kube_torch_gang_flow.py").KubeTorchFlow.to_dag()
    assert {t.task_id: t.task_type for t in dag.tasks}["reduce"] == "KubernetesGangOperator"
    sync_dag(dag)
    run = dag.test()
    assert run.state == "success", states(run)

    data = Run(f"KubeTorchFlow/{run.run_id}", root=remote_settings).data
    assert data.reduced == [(rank, 3, 6.0) for rank in range(3)]  # 1 + 2 + 3 on every node
    assert data.where == [(str(i), "127.0.0.1") for i in range(3)]
    assert xcom_values(run)[("reduce", -1)] == ["0", "1", "2"]
    (job,) = [o for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    (main_addr,) = [a.split("=", 1)[1] for a in args if a.startswith("--main-addr=")]  # a DNS name
    if kind == "jobset":
        (jobset,) = fake_k8s.jobsets.created
        name = jobset["metadata"]["name"]
        assert main_addr == f"{name}-node-0-0.{name}"
    else:
        name = job["metadata"]["name"]
        assert main_addr == f"{name}-0.{name}"
    logged = capfd.readouterr()
    for rank in range(3):
        assert f"[node {rank}] rank {rank} of 3: all_reduce gave 6.0" in logged.out + logged.err
    nothing_left(fake_k8s)


@pytest.mark.parametrize("kind", ["indexed_job", "jobset"])
def test_a_task_stopped_while_its_torch_gang_runs_leaves_nothing(
    remote_settings, fake_k8s, monkeypatch, kind
):
    require_torch()
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_GANG", kind)
    fake_k8s.extra_env["KUBE_TORCH_HOLD"] = "1"
    dag = fresh_module(TEST_FLOWS / "kube_torch_gang_flow.py").KubeTorchFlow.to_dag()
    sync_dag(dag)

    def stop_when_reduced() -> None:
        def reduced() -> bool:
            pods = [r for r in fake_k8s.records.values() if r.obj["spec"].get("subdomain")]
            done = [p for p in pods if any(b"all_reduce gave" in line for _, line in p.lines)]
            return len(done) == 3

        fake_k8s.wait_for(reduced, timeout=240)
        os.kill(os.getpid(), signal.SIGTERM)  # what the supervisor sends a task it stops

    previous = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_when_reduced, daemon=True)
    stopper.start()
    try:
        run = dag.test()
    finally:
        signal.signal(signal.SIGTERM, previous)
    stopper.join(5)
    assert not stopper.is_alive()
    assert run.state == "failed"
    assert states(run)["reduce"] == {"failed"}
    nothing_left(fake_k8s)
    (job,) = [o for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    assert any(
        p["metadata"]["labels"].get("job-name") == job["metadata"]["name"]
        for p in fake_k8s.pods.values()
    )


def test_a_failing_pod_fails_the_try_within_seconds_and_the_retry_is_a_new_job(
    remote_settings, fake_k8s
):
    fake_k8s.extra_env["KUBE_GANG_FAIL_FIRST"] = "1"
    dag = fresh_module(TEST_FLOWS / "kube_retry_gang_flow.py").KubeRetryGangFlow.to_dag()
    sync_dag(dag)
    failed_at: list[float] = []
    stopped_at: list[float] = []

    def watch() -> None:  # when node 1's pod fails, and when node 0's pod is stopped
        def node(index: str):
            return [
                r
                for r in fake_k8s.records.values()
                if (r.obj["metadata"].get("annotations") or {}).get(
                    "batch.kubernetes.io/job-completion-index"
                )
                == index
            ]

        fake_k8s.wait_for(lambda: any(r.exit_code for r in node("1")), timeout=240)
        failed_at.append(time.monotonic())
        fake_k8s.wait_for(lambda: node("0")[0].state == "terminated", timeout=60)
        stopped_at.append(time.monotonic())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    run = dag.test()
    watcher.join(5)
    assert run.state == "success", states(run)
    # node 0, waiting for node 1 for ever, was stopped within seconds of node 1's failure
    assert stopped_at[0] - failed_at[0] < 10
    first, second = [o for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    assert first["metadata"]["name"] != second["metadata"]["name"]
    first_pods = [
        r
        for r in fake_k8s.records.values()
        if r.obj["metadata"]["labels"].get("job-name") == first["metadata"]["name"]
    ]
    assert len(first_pods) == 2 and all(r.exit_code != 0 for r in first_pods)  # both failed
    data = Run(f"KubeRetryGangFlow/{run.run_id}", root=remote_settings).data
    assert data.attempts == [1, 1]
    nothing_left(fake_k8s)
