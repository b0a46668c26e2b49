"""A @kubernetes step on a real cluster: runs only where one is configured.

Needs ``KUBECONFIG`` (read when this module is imported, before any fixture of the
fake server sets it), ``AIRSTEP_CLUSTER_DATASTORE_ROOT=s3://...`` reachable from the
pods, and ``AIRFLOW__AIRSTEP__DEFAULT_IMAGE`` naming a built step image (docker/).
"""

from __future__ import annotations

import os
import uuid

import pytest

from provider import FlowSpec, Run, kubernetes, step
from provider.operators.kubernetes import KubernetesStepOperator

KUBECONFIG = os.environ.get("KUBECONFIG")
ROOT = os.environ.get("AIRSTEP_CLUSTER_DATASTORE_ROOT", "")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not (KUBECONFIG and ROOT.startswith("s3://")),
        reason="needs KUBECONFIG and AIRSTEP_CLUSTER_DATASTORE_ROOT=s3://... for a real cluster",
    ),
]


class ClusterFlow(FlowSpec):
    @kubernetes(cpu=0.25, memory=256)
    @step
    def start(self):
        import socket

        self.host = socket.gethostname()
        self.next(self.end)

    @step
    def end(self):
        pass


class _TI:
    dag_id, task_id, map_index, try_number = "ClusterFlow", "start", -1, 1

    def xcom_push(self, *args, **kwargs):
        pass


def test_a_kubernetes_step_runs_in_a_pod_of_the_real_cluster(monkeypatch):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", ROOT)
    run_id = f"cluster-{uuid.uuid4().hex[:8]}"
    op = KubernetesStepOperator(
        task_id="start", flow_cls=ClusterFlow, step_name="start", config_file=KUBECONFIG
    )
    assert op.execute({"ti": _TI(), "run_id": run_id, "params": {}, "dag": None}) == "0"
    host = Run(f"ClusterFlow/{run_id}", root=ROOT)["start"].task.data.host
    assert host.startswith("clusterflow-start")
