"""The public API and the promise that importing airstep does not import Airflow."""

from __future__ import annotations

import subprocess
import sys

import provider


def test_all_is_sorted_and_complete():
    assert provider.__all__ == sorted(provider.__all__)
    public = {
        name
        for name, value in vars(provider).items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    }
    assert public == set(provider.__all__)


def test_import_provider_and_the_runtime_do_not_import_airflow():
    code = (
        "import sys, provider, provider.runtime.task, provider.local.scheduler, provider.client;"
        "bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
