"""The layers of ``provider/`` are a contract: ``[tool.importlinter]`` in pyproject.toml.

``lint-imports`` checks it with every test run. The contract must also be able to
break: a copy of the package with one import against the layers fails it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    # lint-imports analyses the ``provider`` package of its working directory
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=project, capture_output=True, text=True
    )


def test_the_package_keeps_its_layer_contracts():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the flow core reaching up to the DAG compiler, even lazily inside a function
        (
            "provider/flow/spec.py",
            "def _dag():\n    from provider.dag import flow_to_dag\n",
            "provider.flow is not allowed to import provider.dag",
        ),
        (
            "provider/runtime/task.py",
            "def _conf():\n    from airflow.sdk import conf\n",
            "provider is not allowed to import airflow",
        ),
        # a module that has no place in the layers yet, or one that is optional there
        ("provider/helpers.py", "X = 1\n", "provider.helpers"),
        ("provider/settings.py", "import airflow\n", "provider.settings -> airflow"),
    ],
)
def test_an_import_against_the_layers_breaks_the_contract(tmp_path, module, line, broken):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(
        ROOT / "provider", tmp_path / "provider", ignore=shutil.ignore_patterns("__pycache__")
    )
    target = tmp_path / module
    existing = target.read_text() if target.exists() else ""
    target.write_text(existing + "\n\n" + line)
    proc = lint_imports(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert broken in proc.stdout, proc.stdout
