"""The "Kubernetes pod" link of @kubernetes steps' tasks ([airstep] kubernetes_pod_link)."""

from __future__ import annotations

import pytest
from kubernetes.client import models as k8s

from provider import FlowSpec, kubernetes, step
from provider.operators.kubernetes import KubernetesPodLink, KubernetesStepOperator

TEMPLATE = "https://k8s.example.com/#/pod/{namespace}/{pod}"


class LinkFlow(FlowSpec):
    @kubernetes(namespace="team a")
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_the_link_fills_the_template_with_the_pods_namespace_and_name(monkeypatch):
    op = KubernetesStepOperator(task_id="start", flow_cls=LinkFlow, step_name="start")
    (link,) = [x for x in op.operator_extra_links if isinstance(x, KubernetesPodLink)]
    assert link.name == "Kubernetes pod"
    monkeypatch.delenv("AIRFLOW__AIRSTEP__KUBERNETES_POD_LINK", raising=False)
    op.pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="linkflow-start-x1", namespace="team a"))
    assert link.get_link(op, ti_key=None) == ""  # no template: no link

    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_POD_LINK", TEMPLATE)
    assert (
        link.get_link(op, ti_key=None) == "https://k8s.example.com/#/pod/team%20a/linkflow-start-x1"
    )
    op.pod = None  # the task failed before its pod was created
    assert link.get_link(op, ti_key=None) == ""


def test_a_template_with_other_fields_gives_no_link_and_a_warning(monkeypatch, caplog):
    op = KubernetesStepOperator(task_id="start", flow_cls=LinkFlow, step_name="start")
    op.pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="p", namespace="n"))
    monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_POD_LINK", "https://x/{cluster}/{pod}")
    assert KubernetesPodLink().get_link(op, ti_key=None) == ""
    assert "kubernetes_pod_link" in caplog.text


@pytest.mark.airflow
def test_the_serialized_dag_carries_the_link_for_the_ui(monkeypatch):
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    serialized = DagSerialization.to_dict(LinkFlow.to_dag())
    tasks = [t["__var"] for t in serialized["dag"]["tasks"]]
    links = {t["task_id"]: t.get("_operator_extra_links") for t in tasks}
    assert links["start"] == {"Kubernetes pod": "_link_KubernetesPodLink"}
    assert links["end"] is None
