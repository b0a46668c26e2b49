"""The fake API server's JobSets, driven by the kubernetes client's CustomObjectsApi: checked
against the CRD schema, run as Indexed Jobs whose pods reach each other by DNS name, their
status, and deletion with and without their dependents."""

from __future__ import annotations

import socket
import sys

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.slow
GROUP, VERSION, PLURAL = "jobset.x-k8s.io", "v1alpha2", "jobsets"


@pytest.fixture
def custom(fake_k8s) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(fake_k8s.kubeconfig))


def jobset(name: str, command: list[str], completions: int = 2) -> dict:
    pod = {
        "restartPolicy": "Never",
        "containers": [{"name": "base", "image": "python:3.12", "command": command}],
    }
    job = {
        "completions": completions,
        "parallelism": completions,
        "completionMode": "Indexed",
        "backoffLimit": 0,
        "template": {"spec": pod},
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "JobSet",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": {"maxRestarts": 0},
            "replicatedJobs": [{"name": "w", "replicas": 1, "template": {"spec": job}}],
        },
    }


def create(custom: client.CustomObjectsApi, body: dict) -> dict:
    return custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)


def state(custom: client.CustomObjectsApi, name: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)


def terminal(fake_k8s, name: str) -> str | None:
    """The JobSet's terminalState, read under the server's lock (not through the API)."""
    return fake_k8s.jobsets.jobsets[("default", name)]["status"].get("terminalState")


def test_a_jobset_s_pods_reach_pod_0_by_name_and_it_completes(custom, fake_k8s):
    # pod 1 connects to pod 0 by its DNS name, which only the fake's DNS stand-in resolves
    serve = (
        "import os, socket, sys\n"
        "if os.environ['JOB_COMPLETION_INDEX'] == '0':\n"
        "    s = socket.create_server(('127.0.0.1', int(sys.argv[2]))); s.accept()\n"
        "else:\n"
        "    import time\n"
        "    while True:\n"
        "        try: socket.create_connection((sys.argv[1], int(sys.argv[2]))); break\n"
        "        except ConnectionRefusedError: time.sleep(0.05)\n"
        "print('met', sys.argv[1])\n"
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    create(custom, jobset("mesh", [sys.executable, "-c", serve, "mesh-w-0-0.mesh", port]))
    done = fake_k8s.wait_for(lambda: terminal(fake_k8s, "mesh"), timeout=60)
    assert done == "Completed"
    status = state(custom, "mesh")["status"]
    assert [c["type"] for c in status["conditions"]] == ["Completed"]
    assert status["replicatedJobsStatus"] == [
        {"name": "w", "ready": 0, "succeeded": 1, "failed": 0, "active": 0, "suspended": 0}
    ]
    pods = [r.obj for r in fake_k8s.records.values()]
    assert sorted(p["spec"]["hostname"] for p in pods) == ["mesh-w-0-0", "mesh-w-0-1"]
    assert {p["spec"]["subdomain"] for p in pods} == {"mesh"}
    assert {p["metadata"]["labels"]["jobset.sigs.k8s.io/jobset-name"] for p in pods} == {"mesh"}
    live = [o for o in fake_k8s.jobs.live_objects() if not o.startswith("Pod/")]
    assert sorted(live) == ["Job/mesh-w-0", "JobSet/mesh", "Service/mesh"]
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "mesh")
    assert fake_k8s.wait_for(lambda: not fake_k8s.jobs.live_objects() or None, timeout=10)


def test_a_failed_pod_fails_the_jobset_and_stops_the_others(custom, fake_k8s):
    code = (
        "import os, sys, time\n"
        "if os.environ['JOB_COMPLETION_INDEX'] == '1': sys.exit(3)\n"
        "time.sleep(60)\n"
    )
    create(custom, jobset("broken", [sys.executable, "-c", code]))
    done = fake_k8s.wait_for(lambda: terminal(fake_k8s, "broken"), timeout=60)
    assert done == "Failed"
    (condition,) = state(custom, "broken")["status"]["conditions"]
    assert (condition["type"], condition["reason"]) == ("Failed", "FailedJobs")
    fake_k8s.wait_for(lambda: all(r.state == "terminated" for r in fake_k8s.records.values()))
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "broken", propagation_policy="Orphan"
    )
    live = fake_k8s.jobs.live_objects()  # Orphan: the Job and the Service stay
    assert "JobSet/broken" not in live and {"Job/broken-w-0", "Service/broken"} <= set(live)


def test_a_jobset_the_crd_schema_rejects_is_invalid(custom, fake_k8s):
    body = jobset("bad", [sys.executable, "-c", "pass"])
    body["spec"]["replicatedJobs"][0]["replicas"] = "two"
    with pytest.raises(ApiException) as raised:
        create(custom, body)
    assert raised.value.status == 422 and "replicas" in raised.value.body
    body = jobset("bad", [sys.executable, "-c", "pass"])
    body["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["nodeName "] = "x"
    with pytest.raises(ApiException) as raised:
        create(custom, body)
    assert raised.value.status == 422
    assert fake_k8s.jobs.live_objects() == [] and not fake_k8s.records
