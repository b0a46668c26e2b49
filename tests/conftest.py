from __future__ import annotations

from pathlib import Path

import pytest

# Fixtures shared across folders: a throwaway Airflow (environment set at import, before
# anything imports Airflow), moto_server for S3 and Batch, and the fake Kubernetes API server.
pytest_plugins = [
    "airstep_testing.airflow_env",
    "airstep_testing.aws",
    "airstep_testing.k8s",
]


@pytest.fixture
def datastore(tmp_path, monkeypatch) -> Path:
    """A fresh local datastore root for the test (and for the processes it starts)."""
    root = tmp_path / "datastore"
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    return root
