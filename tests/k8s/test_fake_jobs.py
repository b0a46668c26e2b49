"""The fake API server's Jobs, Services and pod DNS names, driven by the kubernetes client."""

from __future__ import annotations

import sys
import time

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.slow
ECHO = [sys.executable, "-c", "import sys, time; print(sys.argv[1], flush=True); time.sleep(60)"]


@pytest.fixture
def apis(fake_k8s) -> tuple[client.BatchV1Api, client.CoreV1Api]:
    api_client = config.new_client_from_config(fake_k8s.kubeconfig)
    return client.BatchV1Api(api_client), client.CoreV1Api(api_client)


def job(name: str, completions: int, command: list[str], subdomain: str | None = None) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": completions,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "subdomain": subdomain,
                    "containers": [{"name": "base", "image": "python:3.12", "command": command}],
                }
            },
        },
    }


def headless(name: str, job_name: str) -> dict:
    selector = {"job-name": job_name}
    spec = {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selector}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def logs_of(fake_k8s, job_name: str) -> dict[str, str]:
    def ready():
        recs = [r for r in fake_k8s.records.values() if r.name.startswith(job_name + "-")]
        return recs if recs and all(r.lines for r in recs) else None

    recs = fake_k8s.wait_for(ready, timeout=30)
    return {r.obj["spec"]["hostname"]: fake_k8s.logs(r.name).strip() for r in recs}


def test_a_pod_dns_name_resolves_only_with_its_headless_service(apis, fake_k8s):
    batch, core = apis
    core.create_namespaced_service("default", headless("mesh", "with-svc"))
    batch.create_namespaced_job("default", job("with-svc", 2, [*ECHO, "with-svc-0.mesh"], "mesh"))
    batch.create_namespaced_job("default", job("no-svc", 1, [*ECHO, "no-svc-0.none"], "none"))
    assert logs_of(fake_k8s, "with-svc") == {"with-svc-0": "127.0.0.1", "with-svc-1": "127.0.0.1"}
    assert logs_of(fake_k8s, "no-svc") == {"no-svc-0": "no-svc-0.none"}
    pods = core.list_namespaced_pod("default", label_selector="job-name=with-svc").items
    indexes = sorted(p.metadata.labels["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indexes == ["0", "1"]
    for name in ("with-svc", "no-svc"):
        batch.delete_namespaced_job(name, "default", propagation_policy="Background")
    core.delete_namespaced_service("mesh", "default")
    fake_k8s.wait_for(lambda: not fake_k8s.jobs.live_objects() or None, timeout=30)


def test_deleting_a_job_orphans_its_pods_unless_told_to_propagate(apis, fake_k8s):
    batch, _ = apis
    batch.create_namespaced_job("default", job("orphaning", 1, [*ECHO, "x"]))
    logs_of(fake_k8s, "orphaning")
    batch.delete_namespaced_job("orphaning", "default")  # the API's default for Jobs: Orphan
    (rec,) = fake_k8s.records.values()
    assert rec.live and rec.state == "running"
    assert fake_k8s.jobs.live_objects() == [f"Pod/{rec.name}"]


def test_a_failed_node_fails_the_indexed_job_and_stops_the_others(apis, fake_k8s):
    batch, _ = apis
    fail = [sys.executable, "-c", "import os, sys, time; i = os.environ['JOB_COMPLETION_INDEX']; "
            "sys.exit(3) if i == '1' else time.sleep(60)"]  # fmt: skip
    batch.create_namespaced_job("default", job("failing", 2, fail))

    def failed():
        status = batch.read_namespaced_job_status("failing", "default").status
        return any(c.type == "Failed" for c in status.conditions or []) and status

    status = _poll(failed)
    assert status.failed >= 1
    fake_k8s.wait_for(
        lambda: all(r.state == "terminated" for r in fake_k8s.records.values()), timeout=60
    )


def test_an_invalid_job_is_refused(apis):
    batch, _ = apis
    body = job("bad", 1, ["true"])
    body["spec"]["completionMode"] = 7
    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job("default", body)
    assert raised.value.status == 422 and "Job is invalid" in raised.value.body


def _poll(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)
    return result
