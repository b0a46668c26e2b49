"""Every @kubernetes attribute reaches the pod, and every pod airstep builds is valid."""

from __future__ import annotations

import pytest
from airstep_testing.fake_apiserver import _name_problems, validate_pod
from kubernetes.client import ApiClient

from provider import FlowSpec, kubernetes, resources, step, timeout
from provider.operators.kubernetes import (
    KubernetesStepOperator,
    dns_label,
    label_value,
    pod_settings,
)


class _TI:
    dag_id, task_id, map_index, try_number = "D", "t", 7, 1

    def xcom_push(self, *args, **kwargs):
        pass


class EverythingFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.Heavy_Step__With_A_Really_Long_Name_That_Goes_On_And_On_And_On)

    @timeout(minutes=5)
    @resources(cpu=0.5, memory=3000, disk=20000, gpu=2, shared_memory=512)
    @kubernetes(
        gpu_vendor="amd",
        image="registry.example.com/step:1",
        image_pull_policy="Always",
        image_pull_secrets=["regcred"],
        namespace="ml",
        service_account="runner",
        secrets=["aws-credentials"],
        env_from=["settings"],
        node_selector="pool=gpu,zone=a",
        tolerations=[
            {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
            {
                "key": "spot",
                "operator": "Equal",
                "value": "true",
                "tolerationSeconds": 30,
                "effect": "NoExecute",
            },
        ],
        labels={"team": "ml"},
        annotations={"cost-center": "42"},
        persistent_volume_claims={"datasets": "/data", "scratch": "/scratch"},
        use_tmpfs=True,
        tmpfs_size=1024,
        tmpfs_path="/tmpfs",
        security_context={"runAsNonRoot": True, "runAsUser": 1000},
        termination_grace_period=90,
        startup_timeout=600,
        port=8888,
    )
    @step
    def Heavy_Step__With_A_Really_Long_Name_That_Goes_On_And_On_And_On(self):  # noqa: N802
        self.next(self.end)

    @step
    def end(self):
        pass


def build_pod(flow_cls, step_name, task_id="3.14"):
    op = KubernetesStepOperator(
        task_id=step_name, flow_cls=flow_cls, step_name=step_name, flow_task_id=task_id
    )
    op.cmds, op.arguments = ["python"], ["-m", "provider.runtime", "--task-id", task_id]
    context = {"ti": _TI(), "run_id": "manual__2026-01-01T00:00:00+00:00", "dag": None}
    pod = op.build_pod_request_obj(context, dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


def test_every_attribute_reaches_a_valid_pod():
    step_name = "Heavy_Step__With_A_Really_Long_Name_That_Goes_On_And_On_And_On"
    pod = build_pod(EverythingFlow, step_name)
    validate_pod(pod)  # kubernetes-validate, strict
    assert _name_problems(pod["metadata"], pod["spec"]["containers"]) == []
    spec, (container,) = pod["spec"], pod["spec"]["containers"]
    assert container["image"] == "registry.example.com/step:1"
    assert container["imagePullPolicy"] == "Always"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["namespace"] == "ml"
    assert spec["serviceAccountName"] == "runner"
    assert container["envFrom"] == [
        {"secretRef": {"name": "aws-credentials"}},
        {"configMapRef": {"name": "settings"}},
    ]
    assert spec["nodeSelector"] == {"pool": "gpu", "zone": "a"}
    assert {
        "key": "spot",
        "operator": "Equal",
        "value": "true",
        "tolerationSeconds": 30,
        "effect": "NoExecute",
    } in spec["tolerations"]
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["annotations"]["cost-center"] == "42"
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/data"]]["persistentVolumeClaim"] == {"claimName": "datasets"}
    assert volumes[mounts["/scratch"]]["persistentVolumeClaim"] == {"claimName": "scratch"}
    assert volumes[mounts["/tmpfs"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1024Mi"}
    assert volumes[mounts["/dev/shm"]]["emptyDir"] == {"medium": "Memory", "sizeLimit": "512Mi"}
    assert container["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}
    assert spec["terminationGracePeriodSeconds"] == 90
    assert container["ports"] == [{"containerPort": 8888}]
    assert container["resources"] == {
        "requests": {"cpu": "0.5", "memory": "3000Mi", "ephemeral-storage": "20000Mi"},
        "limits": {"memory": "3000Mi", "ephemeral-storage": "20000Mi", "amd.com/gpu": "2"},
    }
    assert spec["activeDeadlineSeconds"] == 5 * 60 + 60
    assert container["command"] == ["python"]
    assert container["args"] == ["-m", "provider.runtime", "--task-id", "3.14"]


def test_the_startup_timeout_reaches_the_operator():
    op = KubernetesStepOperator(
        task_id="x",
        flow_cls=EverythingFlow,
        step_name="Heavy_Step__With_A_Really_Long_Name_That_Goes_On_And_On_And_On",
    )
    assert op.startup_timeout_seconds == 600


@pytest.mark.parametrize(
    "parts",
    [
        ("MyFlow", "train"),
        ("Flow", "__weird__Step__"),
        ("F" * 80, "s" * 80),
        ("", "_"),
        ("ÄÖ", "ß"),
    ],
)
def test_names_are_valid_dns_labels_for_any_step_name(parts):
    name = dns_label(*parts)
    assert 0 < len(name) <= 63
    assert _name_problems({"name": name}, [{"name": "base"}]) == []
    assert (
        _name_problems(
            {"name": "x", "labels": {"k": label_value("_".join(parts) or "x")}}, [{"name": "base"}]
        )
        == []
    )


def test_a_plain_resources_step_gets_the_default_image_and_requests(monkeypatch):
    class Small(FlowSpec):
        @kubernetes
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    monkeypatch.setenv("AIRFLOW__AIRSTEP__DEFAULT_IMAGE", "example.org/airstep:2")
    pod = build_pod(Small, "start", "0")
    validate_pod(pod)
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "example.org/airstep:2"
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "4096Mi"}
    assert "nvidia.com/gpu" not in container["resources"]["limits"]


class LongNamesFlow(FlowSpec):
    @step
    def start(self):
        self.next(
            self.prepare_the_training_data_for_the_quarterly_forecast_model_of_region_north,
            self.prepare_the_training_data_for_the_quarterly_forecast_model_of_region_south,
        )

    @kubernetes
    @step
    def prepare_the_training_data_for_the_quarterly_forecast_model_of_region_north(self):
        self.next(self.join)

    @kubernetes
    @step
    def prepare_the_training_data_for_the_quarterly_forecast_model_of_region_south(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_long_names_that_share_a_prefix_get_different_labels_and_pods():
    steps = [n for n in LongNamesFlow.graph().sorted_steps if n.startswith("prepare_")]
    pods = [build_pod(LongNamesFlow, name, "0") for name in steps]
    for pod in pods:
        validate_pod(pod)
        assert _name_problems(pod["metadata"], pod["spec"]["containers"]) == []
    north, south = (pod["metadata"] for pod in pods)
    assert north["labels"]["airstep/step"] != south["labels"]["airstep/step"]
    assert north["name"] != south["name"]
    node = LongNamesFlow.graph()[steps[0]]
    flows = ["QuarterlyForecastTrainingPipelineForTheNorthernAndWesternRegions" + s for s in "AB"]
    flow_labels = {pod_settings(node, flow)["labels"]["airstep/flow"] for flow in flows}
    assert len(flow_labels) == 2
