"""The step image installs exactly the runtime pins of uv.lock."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_runtime_requirements_match_the_lock_file():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    pins = dict(
        line.split("==")
        for line in (ROOT / "docker" / "requirements-runtime.txt").read_text().split()
    )
    runtime = lock_runtime_extra()
    assert runtime == {"cloudpickle", "zstandard", "boto3", "xxhash"}
    assert runtime <= set(pins)  # every package the runtime imports is in the image
    assert pins == {name: locked[name] for name in pins}
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "ARG PYTHON_VERSION" in dockerfile and "requirements-runtime.txt" in dockerfile
    assert "pip install --no-deps ." in dockerfile  # airstep itself without Airflow


def lock_runtime_extra() -> set[str]:
    """The packages of the ``runtime`` extra in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        req.split(">")[0].split("=")[0].split("[")[0].strip()
        for req in project["optional-dependencies"]["runtime"]
    }
