"""KubernetesStepOperator against the fake API server: logs, on_kill, and a spot reclaim
(SIGTERM from the pod's deletion) survived through the termination hook and a retry."""

from __future__ import annotations

import threading
import time

import pytest

from provider import FlowSpec, current, kubernetes, retry, step
from provider.datastore import FlowDataStore, storage_for
from provider.operators.kubernetes import KubernetesStepOperator

pytestmark = pytest.mark.slow


class _TI:
    dag_id, task_id, map_index = "SpotFlow", "start", -1  # the flow's own DAG

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number

    def xcom_push(self, *args, **kwargs):
        pass


class SpotFlow(FlowSpec):
    @retry(times=1, minutes_between_retries=0)
    @kubernetes(secrets=["aws-credentials"], termination_grace_period=10)
    @step
    def start(self):
        import time

        progress = current.load_checkpoint(default=0)
        print(f"attempt {current.retry_count} starts at {progress}", flush=True)

        @current.on_termination
        def keep():
            current.save_checkpoint(progress)

        while current.retry_count == 0:  # the first attempt runs until it is reclaimed
            progress += 1
            time.sleep(0.05)
        self.resumed_from = progress
        self.next(self.end)

    @step
    def end(self):
        pass


@pytest.fixture
def s3_pods(monkeypatch, s3_bucket, fake_k8s):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return FlowDataStore("SpotFlow", storage_for(s3_bucket))


def operator() -> KubernetesStepOperator:
    return KubernetesStepOperator(task_id="start", flow_cls=SpotFlow, step_name="start")


def context(try_number: int) -> dict:
    return {"ti": _TI(try_number), "run_id": "spot-run", "params": {}, "dag": None}


def test_a_reclaimed_pod_runs_the_hook_and_the_retry_resumes_from_the_checkpoint(s3_pods, fake_k8s):
    store = s3_pods
    first = operator()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            first.execute(context(1))
        except BaseException as exc:  # noqa: BLE001 - the first attempt must fail
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 60
    while time.time() < deadline and (
        first.pod is None or not store.read_attempt("spot-run", "start", "0", 0)
    ):
        time.sleep(0.1)
    time.sleep(0.5)
    first.on_kill()  # deletes the pod: SIGTERM, as when a spot node is reclaimed
    thread.join(timeout=60)
    assert not thread.is_alive() and errors
    record = store.read_attempt("spot-run", "start", "0", 0)
    assert record.status == "failed" and record.exception == "TaskTerminated"
    saved = store.checkpoints("spot-run", "start", "0").load()
    assert saved > 0

    assert operator().execute(context(2)) == "0"  # Airflow's retry: try 2
    task = store.task("spot-run", "start", "0")
    assert task.load("resumed_from") == saved
    pods = list(fake_k8s.pods.values())
    assert len(pods) == 2
    assert any(f"attempt 1 starts at {saved}" in fake_k8s.logs(p["metadata"]["name"]) for p in pods)
