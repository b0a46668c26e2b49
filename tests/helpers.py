"""Helpers shared by the test folders (a plain module: every conftest.py is imported as
"conftest", so helpers there would shadow each other)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
