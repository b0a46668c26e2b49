"""A wide foreach on Kubernetes and AWS Batch: one pod / one Batch job per chunk of items (the
fake Kubernetes API server and moto_server's Batch run them), the code package stored once."""

from __future__ import annotations

import importlib.util
import sys
import uuid

import pytest
from dagrun_helpers import TEST_FLOWS, states, sync_dag, task_instances, xcom_values

from provider import Run
from provider.datastore import code
from provider.datastore.s3 import S3Storage

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def fresh_module(path):
    """Import a flow file anew, so to_dag() sees this test's settings."""
    name = f"airstep_remote_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def remote_settings(
    monkeypatch, s3_bucket, batch_env, fake_k8s, local_batch_runner, fast_batch_polling, airflow_db
):
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    monkeypatch.setenv("AIRSTEP_BATCH_QUEUE", batch_env)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return s3_bucket


def test_a_wide_remote_foreach_runs_one_pod_and_one_job_per_chunk_and_stores_its_code_once(
    remote_settings, fake_k8s, local_batch_runner, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "3")  # 60 items: 3 chunks of 20
    monkeypatch.setenv("AIRFLOW__AIRSTEP__CHUNK_PROCESSES", "4")
    builds, uploads = [], []
    package_code, put_bytes = code.package_code, S3Storage.put_bytes

    def counting_package(flow_file):
        builds.append(flow_file)
        return package_code(flow_file)

    def counting_put(self, key, data):
        if "/code/" in key:
            uploads.append(key)
        return put_bytes(self, key, data)

    monkeypatch.setattr(code, "package_code", counting_package)
    monkeypatch.setattr(S3Storage, "put_bytes", counting_put)
    monkeypatch.setattr(code, "_KNOWN", {})
    dag = fresh_module(TEST_FLOWS / "remote_wide_flow.py").RemoteWideFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success", states(dag_run)

    tis = task_instances(dag_run)
    for step in ("in_pod", "in_job"):
        labels = [tis[(step, i)].rendered_map_index for i in range(3)]
        assert labels == ["items[0:20]", "items[20:40]", "items[40:60]"]
    assert xcom_values(dag_run)[("in_job", 2)] == [str(i) for i in range(40, 60)]
    pods = [
        p for p in fake_k8s.pods.values() if p["metadata"]["labels"]["airstep/step"] == "in_pod"
    ]
    assert len(pods) == 3  # one pod per chunk, not one per item
    args = pods[0]["spec"]["containers"][0]["args"]
    assert "--processes=4" in args
    assert "--process-per-task" not in args  # its items share processes ([airstep] default)
    jobs = [j for j in local_batch_runner.jobs if "in_job" in " ".join(j.command)]
    assert len(jobs) == 3 and all(j.status == "SUCCEEDED" for j in jobs)

    data = Run(f"RemoteWideFlow/{dag_run.run_id}", root=remote_settings)["join"]["0"].data
    assert data.values == [2 * i + 1 for i in range(60)]
    assert len(set(data.pods)) == 3 and len(set(data.jobs)) == 3
    assert data.pods[:20] == [data.pods[0]] * 20
    # the code package was built and stored once for the run's six remote task instances
    assert len(builds) == 1
    assert len(uploads) == 1
