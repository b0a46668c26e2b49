"""KubernetesGangOperator with ``[airstep] kubernetes_gang = jobset``: the gang as one JobSet,
valid under the JobSet CRD's schema, run by the fake API server's JobSet controller; a
failing node, a retry under a new name, on_kill; nothing is left."""

from __future__ import annotations

import copy
import threading
import time

import jsonschema
import pytest
from airstep_testing.fake_jobsets import validate_jobset
from test_kubernetes_gang import GangFlow, context, free_port, start

from provider.datastore import FlowDataStore, storage_for
from provider.exceptions import StepError
from provider.operators.kubernetes_gang import KubernetesGangOperator
from provider.operators.kubernetes_jobset import jobset_body, jobset_outcome, main_node_address

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "gang-train-abc", "namespace": "ns", "labels": {"airstep/step": "train"}},
    "spec": {
        "completionMode": "Indexed",
        "completions": 3,
        "parallelism": 3,
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "base", "image": "python:3.11", "args": ["-m", "x"]}],
            }
        },
    },
}


def test_the_jobset_holds_the_gang_s_indexed_job_and_is_valid_under_the_crd_schema():
    body = jobset_body(copy.deepcopy(JOB))
    validate_jobset(body)
    assert body["metadata"] == {
        "name": "gang-train-abc",
        "namespace": "ns",
        "labels": {"airstep/step": "train"},
    }
    spec = body["spec"]
    assert spec["failurePolicy"] == {"maxRestarts": 0}
    assert spec["network"] == {"enableDNSHostnames": True, "publishNotReadyAddresses": True}
    (replicated,) = spec["replicatedJobs"]
    assert (replicated["name"], replicated["replicas"]) == ("node", 1)
    assert replicated["template"]["spec"] == JOB["spec"]
    assert main_node_address("gang-train-abc") == "gang-train-abc-node-0-0.gang-train-abc"


def test_the_schema_check_is_strict():
    body = jobset_body(copy.deepcopy(JOB))
    body["spec"]["replicatedJobs"][0]["replicas"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        validate_jobset(body)
    body = jobset_body(copy.deepcopy(JOB))
    body["spec"]["network"]["dnsHostnames"] = True  # not a JobSet field
    with pytest.raises(jsonschema.ValidationError):
        validate_jobset(body)


def test_a_jobset_s_outcome_is_read_from_its_conditions():
    assert jobset_outcome({"status": {"restarts": 0}}) == (None, None)
    failed = {"type": "Failed", "status": "True", "reason": "FailedJobs"}
    assert jobset_outcome({"status": {"conditions": [failed]}}) == ("Failed", "FailedJobs")
    done = {"type": "Completed", "status": "True", "reason": "AllJobsCompleted"}
    assert jobset_outcome({"status": {"conditions": [done]}}) == ("Complete", "AllJobsCompleted")


def test_an_unknown_gang_kind_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_GANG", "mpijob")
    from provider.operators.kubernetes_gang_backends import gang_kind

    with pytest.raises(ValueError) as raised:
        gang_kind("train")
    message = str(raised.value)
    assert "Step *train*" in message and "kubernetes_gang is 'mpijob'" in message
    assert "indexed_job" in message and "jobset" in message


# -- against the fake API server -------------------------------------------------------------
@pytest.fixture
def jobsets(monkeypatch, store, fake_k8s):
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_GANG", "jobset")
    return fake_k8s.jobsets


@pytest.fixture
def store(monkeypatch, s3_bucket, fake_k8s) -> FlowDataStore:
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    fake_k8s.extra_env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return FlowDataStore("GangFlow", storage_for(s3_bucket))


def operator() -> KubernetesGangOperator:
    return KubernetesGangOperator(
        task_id="train",
        flow_cls=GangFlow,
        step_name="train",
        main_port=free_port(),
        poll_interval=0.2,
    )


def nothing_left(fake_k8s) -> None:
    fake_k8s.wait_for(lambda: not fake_k8s.jobs.live_objects() or None, timeout=30)
    assert all(r.state == "terminated" for r in fake_k8s.records.values())


@pytest.mark.slow
def test_a_gang_of_three_runs_as_one_jobset_and_meets_at_node_0(store, fake_k8s, jobsets, capfd):
    start(store, "js-gang", nodes=3)
    assert operator().execute(context("js-gang")) == ["0", "1", "2"]
    for i in range(3):
        assert store.task("js-gang", "train", str(i)).load("seen") == [0, 1, 2]
    logged = capfd.readouterr()
    for i in range(3):
        assert f"[node {i}] node {i} of 3 meets the others" in logged.out + logged.err

    (jobset,) = jobsets.created
    name = jobset["metadata"]["name"]
    validate_jobset({k: v for k, v in jobset.items() if k != "status"})
    # the operator created the JobSet only: its Job and Service are the controller's
    assert {o["kind"] for o in fake_k8s.jobs.created} == {"Job", "Service"}
    assert all(o["metadata"]["ownerReferences"][0]["name"] == name for o in fake_k8s.jobs.created)
    (job,) = [o for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    assert job["metadata"]["name"] == f"{name}-node-0"
    assert (job["spec"]["completions"], job["spec"]["completionMode"]) == (3, "Indexed")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--main-addr={name}-node-0-0.{name}" in args
    hostnames = sorted(
        p["spec"]["hostname"] for p in fake_k8s.pods.values() if p["spec"].get("subdomain") == name
    )
    assert hostnames == [f"{name}-node-0-{i}" for i in range(3)]
    nothing_left(fake_k8s)


@pytest.mark.slow
def test_a_failing_node_fails_the_jobset_quickly_and_the_retry_is_a_new_one(
    store, fake_k8s, jobsets
):
    start(store, "js-fail", nodes=2)
    fake_k8s.extra_env.update(GANG_FAIL_NODE="1", GANG_FAIL_ATTEMPTS="1")
    began = time.monotonic()
    with pytest.raises(StepError) as raised:
        operator().execute(context("js-fail"))
    assert time.monotonic() - began < 60
    message = str(raised.value)
    assert "Step *train*" in message and "JobSet default/" in message
    assert "(FailedJobs)" in message and "node 1 (pod " in message and "exited 1" in message
    assert "a retry starts a new JobSet" in message
    nothing_left(fake_k8s)

    assert operator().execute(context("js-fail", try_number=2)) == ["0", "1"]
    first, second = [o["metadata"]["name"] for o in jobsets.created]
    assert first != second
    nothing_left(fake_k8s)


@pytest.mark.slow
def test_on_kill_deletes_the_jobset_and_with_it_everything(store, fake_k8s, jobsets):
    start(store, "js-kill", nodes=2)
    fake_k8s.extra_env["GANG_HOLD"] = "1"
    op = operator()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context("js-kill"))
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
    assert "JobSet default/" in str(errors[0]) and "was deleted" in str(errors[0])
    nothing_left(fake_k8s)


@pytest.mark.slow
def test_a_cluster_without_jobsets_is_named_in_the_error(store, fake_k8s, jobsets):
    start(store, "js-none", nodes=2)
    jobsets.installed = False
    with pytest.raises(StepError) as raised:
        operator().execute(context("js-none"))
    message = str(raised.value)
    assert "Step *train*" in message and "serves no JobSets" in message
    assert "install the JobSet controller" in message and "indexed_job" in message
    assert fake_k8s.jobs.live_objects() == [] and not fake_k8s.records
