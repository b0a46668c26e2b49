"""Fixtures for Kubernetes tests against the loopback fake API server (see fake_apiserver.py)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile

import pytest

# Airflow reads AIRFLOW_HOME when it is first imported: point it at a throwaway dir unless set.
# (Nothing here needs a metadata DB: KubernetesPodOperator.execute() runs without one.)
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airstep-k8s-airflow-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

from airstep_testing.fake_apiserver import FakeKubeApiServer


@pytest.fixture
def fake_k8s(tmp_path, monkeypatch):
    """A running FakeKubeApiServer; ``fake_k8s.kubeconfig`` is the path of a kubeconfig for it.

    The kubeconfig is also exported as ``KUBECONFIG`` and as the ``kubernetes_default``
    connection (``AIRFLOW_CONN_KUBERNETES_DEFAULT``), so a KubernetesPodOperator with default
    arguments, e.g. inside ``dag.test()``, talks to this server. Teardown stops the server and
    SIGKILLs any pod process still running.
    """
    server = FakeKubeApiServer(workdir=tmp_path / "pods").start()
    try:
        server.write_kubeconfig(tmp_path / "kubeconfig")  # sets server.kubeconfig
        monkeypatch.setenv("KUBECONFIG", server.kubeconfig)
        extra = {"kube_config_path": server.kubeconfig, "in_cluster": False}
        conn = json.dumps({"conn_type": "kubernetes", "extra": extra})
        monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", conn)
        yield server
    finally:
        server.stop()
