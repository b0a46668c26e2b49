"""Helpers shared by the test folders (a plain module: every conftest.py is imported as
"conftest", so helpers there would shadow each other)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

FLOWS = Path(__file__).parent / "flows"


def run_flow(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run ``python tests/flows/<name> <args>`` the way a user would."""
    return subprocess.run(
        [sys.executable, str(FLOWS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def alive(pid: int) -> bool:
    """True while the process exists and has not ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def require_torch() -> None:
    """Skip without torch (``make torch`` installs it), except in CI, where that is a failure."""
    if importlib.util.find_spec("torch") is None:
        if os.environ.get("CI"):
            pytest.fail("torch is not installed, and CI must run the torch tests: `make torch`.")
        pytest.skip("torch is not installed; `make torch` installs its CPU wheel")
