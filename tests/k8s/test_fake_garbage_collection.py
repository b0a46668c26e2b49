"""The fake API server collects garbage as a real one does: a Secret whose owners are all
gone is deleted (background propagation), and Secrets are listed by label and patched."""

from __future__ import annotations

import sys
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def apis(fake_k8s) -> tuple[client.CoreV1Api, client.BatchV1Api]:
    api_client = config.new_client_from_config(fake_k8s.kubeconfig)
    return client.CoreV1Api(api_client), client.BatchV1Api(api_client)


def secret(name: str, labels: dict | None = None, owners: list | None = None) -> client.V1Secret:
    meta = client.V1ObjectMeta(name=name, labels=labels, owner_references=owners)
    return client.V1Secret(metadata=meta, string_data={"KEY": "value"})


def owner(kind: str, obj, api_version: str = "v1") -> client.V1OwnerReference:
    return client.V1OwnerReference(
        api_version=api_version, kind=kind, name=obj.metadata.name, uid=obj.metadata.uid
    )


def as_sent(obj) -> dict:
    return client.ApiClient().sanitize_for_serialization(obj)


def pod(name: str) -> client.V1Pod:
    base = client.V1Container(name="base", image="python:3.12", command=SLEEP)
    spec = client.V1PodSpec(restart_policy="Never", containers=[base])
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=spec)


def exists(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespaced_secret(name, "default")
    except ApiException as exc:
        assert exc.status == 404
        return False
    return True


def test_a_secret_goes_with_its_pod_once_the_pod_has_ended(fake_k8s, apis):
    core, _ = apis
    running = core.create_namespaced_pod("default", pod("owner-pod"))
    core.create_namespaced_secret("default", secret("handoff", {"app": "t"}))
    core.patch_namespaced_secret(
        "handoff", "default", {"metadata": {"ownerReferences": [as_sent(owner("Pod", running))]}}
    )
    found = core.read_namespaced_secret("handoff", "default")
    assert [o.uid for o in found.metadata.owner_references] == [running.metadata.uid]
    assert found.metadata.labels == {"app": "t"}

    core.delete_namespaced_pod("owner-pod", "default", grace_period_seconds=5)
    # a terminating pod still exists: its Secret stays until the process has ended
    fake_k8s.wait_for(lambda: not fake_k8s.records["owner-pod"].live)
    assert not exists(core, "handoff")
    assert fake_k8s.collected == ["handoff"]
    assert fake_k8s.secret_log == [("created", "handoff"), ("deleted", "handoff")]


def test_a_secret_goes_with_its_job_and_waits_for_every_owner(fake_k8s, apis):
    core, batch = apis
    body = {
        "metadata": {"name": "gang"},
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "base", "image": "python:3.12", "command": SLEEP}],
                }
            },
        },
    }
    job = batch.create_namespaced_job("default", body)
    other = core.create_namespaced_pod("default", pod("other-owner"))
    owners = [owner("Job", job, "batch/v1"), owner("Pod", other)]
    core.create_namespaced_secret("default", secret("two-owners", owners=owners))

    batch.delete_namespaced_job("gang", "default", propagation_policy="Background")
    assert exists(core, "two-owners")  # one owner is left
    core.delete_namespaced_pod("other-owner", "default", grace_period_seconds=0)
    fake_k8s.wait_for(lambda: "two-owners" in fake_k8s.collected)
    assert not exists(core, "two-owners")


def test_a_secret_whose_owner_does_not_exist_is_collected_and_others_stay(fake_k8s, apis):
    core, _ = apis
    gone = client.V1OwnerReference(api_version="v1", kind="Pod", name="x", uid=str(uuid.uuid4()))
    core.create_namespaced_secret("default", secret("orphan", {"app": "t"}, [gone]))
    core.create_namespaced_secret("default", secret("unowned", {"app": "t"}))
    core.create_namespaced_secret("default", secret("other", {"app": "u"}))
    assert fake_k8s.collected == ["orphan"]
    listed = core.list_namespaced_secret("default", label_selector="app=t")
    assert [s.metadata.name for s in listed.items] == ["unowned"]
    assert listed.items[0].data == {"KEY": "dmFsdWU="}
