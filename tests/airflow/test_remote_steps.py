"""@kubernetes and @batch steps under dag.test(): a pod on the fake Kubernetes API server,
Batch jobs on moto_server, artifacts in S3 (moto) — each step really runs."""

from __future__ import annotations

import importlib.util
import sys
import uuid

import pytest
from dagrun_helpers import TEST_FLOWS, run_script, states, sync_dag, xcom_values

from provider import Run
from provider.datastore import FlowDataStore, storage_for

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
    # pods get credentials the way a cluster gives them: from a secret (envFrom)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return s3_bucket


def test_mixed_local_kubernetes_and_batch_steps_run_end_to_end(
    remote_settings, fake_k8s, local_batch_runner, monkeypatch
):
    module = fresh_module(TEST_FLOWS / "remote_flow.py")
    dag = module.RemoteFlow.to_dag()
    kinds = {t.task_id: t.task_type for t in dag.tasks}
    assert kinds["on_gpu"] == "KubernetesStepOperator"
    assert kinds["on_batch"] == "BatchStepOperator"
    assert kinds["fan_out"] == "KubernetesStepOperator"
    assert kinds["start"] == "StepOperator"
    sync_dag(dag)
    pod_link = "https://k8s.example.com/#/pod/{namespace}/{pod}"
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_POD_LINK", pod_link)
    run = dag.test(run_conf={"scale": 3})
    assert run.state == "success", states(run)

    data = Run(f"RemoteFlow/{run.run_id}", root=remote_settings).data
    assert data.k8s_value == 30
    assert data.squares == [3, 12, 27]
    # the GPU step ran in a pod, whose spec kubernetes-validate accepted (strict)
    (pod,) = [
        p
        for p in fake_k8s.pods.values()
        if p["metadata"]["labels"].get("airstep/step") == "on-gpu"
        or p["metadata"]["labels"].get("airstep/step") == "on_gpu"
    ]
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"]["memory"] == "2048Mi"
    assert container["command"] == ["python"]
    assert container["args"][:2] == ["-m", "provider.runtime"]
    assert pod["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/dev/shm", "/airstep_tmp"}
    assert data.pod_name == pod["metadata"]["name"]
    # the task's "Kubernetes pod" link, as the UI reads it
    links = xcom_values(run, "_link_KubernetesPodLink")
    assert sorted(links) == [("fan_out", -1), ("on_gpu", -1)]
    link = links[("on_gpu", -1)]
    assert link == f"https://k8s.example.com/#/pod/default/{pod['metadata']['name']}"
    # the foreach split ran in a pod too, and its pointer (the items' ids) reached XCom
    assert xcom_values(run)[("fan_out", -1)] == ["0", "1", "2"]
    # the foreach ran as three Batch jobs with the step's resources
    jobs = [j for j in local_batch_runner.jobs if "on_batch" in " ".join(j.command)]
    assert len(jobs) == 3 and all(j.status == "SUCCEEDED" for j in jobs)
    assert sorted(data.job_ids) == sorted(j.job_id for j in jobs)
    # each Batch task links to its job (the Amazon provider's own links)
    job_links = xcom_values(run, "_link_BatchJobDetailsLink")
    assert sorted(job_links) == [("on_batch", 0), ("on_batch", 1), ("on_batch", 2)]
    assert {link.rsplit("/", 1)[1] for link in job_links.values()} == set(data.job_ids)
    reqs = {r["type"]: r["value"] for r in jobs[0].resource_requirements}
    assert reqs["VCPU"] == "0.5" and reqs["MEMORY"] == "1024"

    # the same flow, run locally, gives the same results
    monkeypatch.setenv("AIRSTEP_LOCAL_GPUS", "1")  # the local budget lets the GPU step run
    local = run_script(TEST_FLOWS / "remote_flow.py", "run", "--scale", "3")
    assert local.returncode == 0, local.stderr
    local_store = FlowDataStore("RemoteFlow", storage_for(None))
    (local_run,) = [r for r in local_store.list_runs() if r != run.run_id]
    local_end = local_store.task(local_run, "end", "0")
    assert local_end.load("squares") == data.squares
    assert local_end.load("k8s_value") == data.k8s_value


def test_gangs_on_kubernetes_and_batch_run_end_to_end(
    remote_settings, fake_k8s, local_batch_runner
):
    module = fresh_module(TEST_FLOWS / "platform_gang_flow.py")
    dag = module.PlatformGangFlow.to_dag()
    kinds = {t.task_id: t.task_type for t in dag.tasks}
    assert kinds["train"] == "KubernetesGangOperator"
    assert kinds["measure"] == "BatchGangOperator"
    sync_dag(dag)
    run = dag.test()
    assert run.state == "success", states(run)

    data = Run(f"PlatformGangFlow/{run.run_id}", root=remote_settings).data
    assert data.pod_views == [(str(i), [0, 1, 2]) for i in range(3)]
    assert data.job_views == [(str(i), [0, 1]) for i in range(2)]
    assert xcom_values(run)[("train", -1)] == ["0", "1", "2"]
    assert xcom_values(run)[("measure", -1)] == ["0", "1"]
    (job,) = [o for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    assert job["spec"]["completions"] == 3
    fake_k8s.wait_for(lambda: not fake_k8s.jobs.live_objects() or None, timeout=30)
    (batch_job,) = [j for j in local_batch_runner.jobs if j.num_nodes]
    assert batch_job.num_nodes == 2 and batch_job.status == "SUCCEEDED"


def test_a_pod_step_names_its_dags_branch_and_reads_the_config(
    remote_settings, fake_k8s, monkeypatch
):
    monkeypatch.setenv("USER", "ada")
    module = fresh_module(TEST_FLOWS / "remote_project_flow.py")
    dag = module.RemoteProjectFlow.to_dag(branch="feat")
    assert dag.dag_id == "remote_demo.test.feat.RemoteProjectFlow"
    sync_dag(dag)
    # the pod gets no branch from the worker's environment, only the DAG's choice
    monkeypatch.setenv("AIRSTEP_BRANCH", "other")
    run = dag.test()
    assert run.state == "success", states(run)

    data = Run(f"RemoteProjectFlow/{dag.dag_id}@{run.run_id}", root=remote_settings).data
    assert data.branch == "test.feat"
    assert data.project_flow_name == "remote_demo.test.feat.RemoteProjectFlow"
    # the config file travelled with the code; config_expr and cfg.cpu became arguments
    assert (data.word, data.mode) == ("pod", "from the config")
    (pod,) = [p for p in fake_k8s.pods.values() if "in" in p["metadata"]["labels"]["airstep/step"]]
    assert pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "0.5"
    assert data.chars == ["p", "o", "d"]
    assert data.constant_error == "AttributeError"
