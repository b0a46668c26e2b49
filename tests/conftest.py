from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FLOWS = Path(__file__).parent / "flows"


@pytest.fixture
def datastore(tmp_path, monkeypatch) -> Path:
    """A fresh local datastore root for the test (and for the processes it starts)."""
    root = tmp_path / "datastore"
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    return root


def run_flow(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run ``python tests/flows/<name> <args>`` the way a user would."""
    return subprocess.run(
        [sys.executable, str(FLOWS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
