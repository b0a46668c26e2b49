"""Whoever may trigger a DAG chooses its ``IncludeFile`` paths (the run's conf), so under Airflow
a path must lead to a file of the flow's own folder; a local run reads any path its user gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagrun_helpers import SHARED_FLOWS, load_module, states, sync_dag, task_instances

from provider import Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SECRET = "aws_secret_access_key = do-not-leak-7f3a"


@pytest.fixture
def flow_dir(tmp_path: Path) -> Path:
    """The params flow in a folder of its own, with its notes and a credentials file outside."""
    folder = tmp_path / "team_dags"
    folder.mkdir()
    shutil.copy(SHARED_FLOWS / "params_flow.py", folder / "confined_params_flow.py")
    (folder / "notes.txt").write_text("notes of the flow")
    (folder / "data").mkdir()
    (folder / "data" / "table.csv").write_text("a,b\n1,2\n")
    outside = tmp_path / "credentials"
    outside.write_text(SECRET)
    os.symlink(outside, folder / "link_out.txt")  # a link inside the folder, leading out
    return folder


def params_dag(flow_dir: Path):
    dag = load_module(flow_dir / "confined_params_flow.py").ParamsFlow.to_dag()
    sync_dag(dag)
    return dag


def stored_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("given", ["outside", "link_out.txt", "../credentials"])
def test_a_conf_path_out_of_the_flows_folder_fails_the_run_at_once(
    airflow_db, datastore, flow_dir, capsys, given
):
    path = str(flow_dir.parent / "credentials") if given == "outside" else given
    dag_run = params_dag(flow_dir).test(run_conf={"token": "t", "notes": path})
    assert dag_run.state == "failed"
    tis = task_instances(dag_run)
    assert str(tis[("start", -1)].state) == "failed"
    assert str(tis[("middle", -1)].state) != "success"
    logged = capsys.readouterr().out
    assert "IncludeFile *notes*" in logged and "leads outside the flow's folder" in logged
    assert SECRET not in logged
    assert not datastore.exists() or SECRET not in stored_text(datastore)


def test_a_conf_path_inside_the_flows_folder_is_read(airflow_db, datastore, flow_dir):
    dag_run = params_dag(flow_dir).test(run_conf={"token": "t", "notes": "data/../notes.txt"})
    assert dag_run.state == "success", states(dag_run)
    run = Run(f"ParamsFlow/{dag_run.run_id}")
    assert run["middle"].task.data.values[-1] == "notes of the flow"


def test_a_local_run_reads_the_path_its_user_gives(datastore, flow_dir):
    proc = subprocess.run(
        [sys.executable, str(flow_dir / "confined_params_flow.py"), "run", "--token", "t",
         "--notes", str(flow_dir.parent / "credentials")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    from provider import Flow

    assert Flow("ParamsFlow").latest_run["middle"].task.data.values[-1] == SECRET
