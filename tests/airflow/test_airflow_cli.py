"""The Airflow command line on the DAGs folder: `airflow dags list` and `airflow dags test`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provider import Flow

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAGS = Path(__file__).resolve().parents[2] / "dags"


def airflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return subprocess.run(
        [AIRFLOW, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": path, **(env or {})},
    )


def test_dags_list_finds_every_example_in_safe_mode(airflow_db):
    proc = airflow(
        "dags",
        "list",
        "--local",
        "-o",
        "plain",
        "--columns",
        "dag_id",
        env={"AIRFLOW__CORE__DAG_DISCOVERY_SAFE_MODE": "True"},
    )
    assert proc.returncode == 0, proc.stderr
    expected = {
        "HelloFlow",
        "BranchFlow",
        "NestedForeachFlow",
        "MixedComputeFlow",
        "TrainSweepFlow",
        "SpotCheckpointFlow",
        "TrainReportFlow",
        "DistributedTrainingFlow",
    }
    listed = set(re.findall(r"^\s*(\w+Flow)\s*$", proc.stdout, re.MULTILINE))
    assert expected <= listed, proc.stdout
    assert len(list(DAGS.glob("*.py"))) == len(expected)


def test_dags_test_with_conf_overrides_a_parameter(airflow_db, tmp_path):
    env = {"AIRSTEP_DATASTORE_ROOT": str(tmp_path / "ds")}
    proc = airflow("dags", "test", "TrainSweepFlow", "-c", '{"epochs": 3, "samples": 200}', env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = Flow("TrainSweepFlow", root=env["AIRSTEP_DATASTORE_ROOT"]).latest_run
    assert run.successful and run.id.startswith("manual__")
    assert run.parameters["epochs"] == 3 and run.parameters["samples"] == 200
    assert sorted(run.data.losses) == [0.01, 0.03, 0.1, 0.3]
