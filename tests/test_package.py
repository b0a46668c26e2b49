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


def test_import_provider_loads_no_airflow_and_no_cloud_client():
    code = (
        "import sys, provider;"
        "heavy = {'airflow', 'boto3', 'botocore', 'kubernetes'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_flow_script_runs_its_command_line_and_skips_the_dag(tmp_path):
    # ``MyFlow()`` reaches the command line and ``to_dag()`` returns None under __main__,
    # without importing Airflow
    (tmp_path / "tiny_flow.py").write_text(
        "import atexit, sys\n"
        "from provider import FlowSpec, step\n"
        "class TinyFlow(FlowSpec):\n"
        "    @step\n"
        "    def start(self):\n"
        "        self.next(self.end)\n"
        "    @step\n"
        "    def end(self):\n"
        "        pass\n"
        "dag = TinyFlow.to_dag()\n"
        "if __name__ == '__main__':\n"
        "    atexit.register(lambda: print('dag', dag, 'airflow', 'airflow' in sys.modules))\n"
        "    TinyFlow()\n"
    )
    proc = subprocess.run(
        [sys.executable, "tiny_flow.py", "check"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "Flow TinyFlow is valid: 2 steps." in proc.stdout
    assert "dag None airflow False" in proc.stdout
