from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def datastore(tmp_path, monkeypatch) -> Path:
    """A fresh local datastore root for the test (and for the processes it starts)."""
    root = tmp_path / "datastore"
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    return root
