"""BatchStepOperator against moto_server: job definitions, overrides, logs and on_kill."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from provider import FlowSpec, Run, batch, environment, step, timeout
from provider.datastore import FlowDataStore, storage_for
from provider.operators.base import TIMEOUT_MARGIN_SECONDS
from provider.operators.batch import (
    BatchStepOperator,
    job_definition_body,
    job_definition_name,
)


class _TI:
    dag_id, task_id, map_index, try_number = "BatchedFlow", "t", -1, 1  # the flow's own DAG

    def xcom_push(self, *args, **kwargs):
        pass


class BatchedFlow(FlowSpec):
    @environment(vars={"GREETING": "from @environment"})
    @timeout(minutes=10)
    @batch(
        cpu=2,
        memory=2048,
        gpu=1,
        shared_memory=256,
        max_swap=1024,
        swappiness=10,
        use_tmpfs=True,
        tmpfs_size=128,
        iam_role="arn:aws:iam::1:role/job",
        execution_role="arn:aws:iam::1:role/exec",
        privileged=False,
        tags={"team": "ml"},
        host_volumes=["/mnt/data"],
        log_driver="awslogs",
        log_options=["awslogs-group=g"],
    )
    @step
    def start(self):
        import os
        import time

        print("hello from batch", flush=True)
        self.job = os.environ.get("AWS_BATCH_JOB_ID")
        self.greeting = os.environ.get("GREETING")
        if os.environ.get("SLEEP_FOREVER"):
            time.sleep(120)
        self.next(self.end)

    @step
    def end(self):
        pass


def context(run_id: str) -> dict:
    return {"ti": _TI(), "run_id": run_id, "params": {}, "dag": None}


def test_job_definition_carries_every_setting_and_its_name_follows_the_content():
    node = BatchedFlow.graph()["start"]
    body = job_definition_body(node, "BatchedFlow")
    props = body["containerProperties"]
    assert {r["type"]: r["value"] for r in props["resourceRequirements"]} == {
        "VCPU": "2",
        "MEMORY": "2048",
        "GPU": "1",
    }
    assert props["jobRoleArn"].endswith("role/job") and props["executionRoleArn"].endswith("exec")
    assert props["linuxParameters"] == {
        "sharedMemorySize": 256,
        "maxSwap": 1024,
        "swappiness": 10,
        "tmpfs": [{"containerPath": "/airstep_tmp", "size": 128}],
    }
    assert props["mountPoints"] == [{"sourceVolume": "host0", "containerPath": "/mnt/data"}]
    assert props["logConfiguration"] == {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}
    assert body["tags"] == {"team": "ml"}
    name = job_definition_name(node, "BatchedFlow", body)
    assert name.startswith("airstep-BatchedFlow-start-")
    assert job_definition_name(node, "BatchedFlow", {**body, "tags": {}}) != name
    op = BatchStepOperator(task_id="start", flow_cls=BatchedFlow, step_name="start", job_queue="q")
    # @timeout -> attemptDurationSeconds, a safety net behind the runtime's own alarm
    assert op.submit_job_timeout == 600 + TIMEOUT_MARGIN_SECONDS


WITHOUT_KUBERNETES = textwrap.dedent(
    """
    import importlib.abc
    import sys

    import airflow  # Airflow first reads the metadata of every installed provider

    GONE = ("kubernetes", "kubernetes_asyncio", "airflow.providers.cncf.kubernetes")


    def gone(name):
        return any(name == g or name.startswith(g + ".") for g in GONE)


    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if gone(name):
                raise ImportError(f"No module named {name!r}")
            return None


    for name in [m for m in sys.modules if gone(m)]:
        del sys.modules[name]
    sys.meta_path.insert(0, NotInstalled())

    from provider.operators.batch import BatchStepOperator

    print(BatchStepOperator.__name__, sorted(m for m in sys.modules if gone(m)))
    """
)


def test_the_batch_operator_imports_without_the_kubernetes_provider():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_KUBERNETES], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["BatchStepOperator", "[]"]


@pytest.mark.slow
def test_a_step_runs_as_a_batch_job_registers_its_definition_once_and_logs_its_output(
    monkeypatch, s3_bucket, batch_env, local_batch_runner, fast_batch_polling, moto_server, capfd
):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    client = moto_server.client("batch")
    for run_id in ("r1", "r2"):
        op = BatchStepOperator(
            task_id="start", flow_cls=BatchedFlow, step_name="start", job_queue=batch_env
        )
        assert op.execute(context(run_id)) == "0"
    defs = client.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert len([d for d in defs if d["jobDefinitionName"].startswith("airstep-BatchedFlow")]) == 1
    (first, second) = [j for j in local_batch_runner.jobs if "--step=start" in j.command]
    assert first.command[:3] == ["python", "-m", "provider.runtime"]
    assert {r["type"]: r["value"] for r in first.resource_requirements}["GPU"] == "1"
    data = Run("BatchedFlow/r1", root=s3_bucket)["start"].task.data
    assert data.job == first.job_id
    # @environment reaches the step through the runtime, which applies it wherever it runs
    assert data.greeting == "from @environment"
    assert "GREETING" not in first.environment
    logged = capfd.readouterr()
    assert "hello from batch" in logged.out + logged.err  # the step's output, from CloudWatch


@pytest.mark.slow
def test_on_kill_terminates_the_job(
    monkeypatch, s3_bucket, batch_env, local_batch_runner, fast_batch_polling
):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    monkeypatch.setenv("SLEEP_FOREVER", "1")
    op = BatchStepOperator(
        task_id="start", flow_cls=BatchedFlow, step_name="start", job_queue=batch_env
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context("killed"))
        except BaseException as exc:  # noqa: BLE001 - the failure is what we expect
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    store = FlowDataStore("BatchedFlow", storage_for(s3_bucket))
    deadline = time.time() + 60  # until the step is running inside the job
    while time.time() < deadline and not store.read_attempt("killed", "start", "0", 0):
        time.sleep(0.1)
    assert op.job_id
    began = time.time()
    op.on_kill()
    thread.join(timeout=60)
    assert not thread.is_alive() and errors
    (job,) = local_batch_runner.jobs
    assert job.status == "FAILED" and time.time() - began < 30
