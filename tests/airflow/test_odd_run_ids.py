"""Every run id Airflow accepts either works or is refused when the run starts, before the
run writes anything: ``.`` would name the folder of all runs, ``-x1`` looks like an option to a
command line, ``a/b`` holds a path separator, and 250 characters is Airflow's longest."""

from __future__ import annotations

import os
import threading

import pytest
from airflow.models.dagrun import DagRun
from dagrun_helpers import TEST_FLOWS, load_module, states, sync_dag, task_instances

from provider import Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def run_with_id(monkeypatch, dag, run_id: str, **kwargs):
    """``dag.test()`` of a run triggered with ``run_id`` (as the REST API or the CLI would)."""
    monkeypatch.setattr(DagRun, "generate_run_id", staticmethod(lambda **_: run_id))
    sync_dag(dag)
    return dag.test(**kwargs)


def wide_dag():
    return load_module(TEST_FLOWS / "wide_flow.py").WideFlow.to_dag()


def files_under(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    )


def test_a_run_id_that_starts_with_a_dash_runs_its_chunks_in_fresh_processes(
    airflow_db, datastore, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "2")  # 6 items: 2 chunks of 3
    # the worker runs other threads (as Airflow's task runner does): the chunk's processes
    # start as `python -m provider.runtime ... --run-id=-x1`, not as forks
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, daemon=True)
    busy.start()
    try:
        dag_run = run_with_id(monkeypatch, wide_dag(), "-x1", run_conf={"width": 6})
    finally:
        stop.set()
    assert dag_run.run_id == "-x1"
    assert dag_run.state == "success", states(dag_run)
    run = Run("WideFlow/-x1")
    assert run.successful
    assert run["join"].task.data.first_bytes == [0, 1, 2, 3, 4, 5]


def test_a_run_id_of_250_characters_works(airflow_db, datastore, monkeypatch):
    run_id = "manual__" + "x" * 242
    dag_run = run_with_id(monkeypatch, wide_dag(), run_id, run_conf={"width": 2})
    assert dag_run.state == "success", states(dag_run)
    assert Run(f"WideFlow/{run_id}")["join"].task.data.total == 2 * 1024


@pytest.mark.parametrize(
    ("run_id", "pattern"),
    [(".", None), ("a/b", r"^.+$"), (".hidden", None)],
    ids=["dot", "slash", "hidden"],
)
def test_a_run_id_that_cannot_name_a_run_fails_at_start_and_writes_nothing(
    airflow_db, datastore, monkeypatch, capsys, caplog, run_id, pattern
):
    if pattern:  # a deployment that widened Airflow's own check
        monkeypatch.setenv("AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN", pattern)
    dag_run = run_with_id(monkeypatch, wide_dag(), run_id, run_conf={"width": 2})
    assert dag_run.state == "failed"
    tis = task_instances(dag_run)
    assert str(tis[("start", -1)].state) == "failed"
    assert "work" not in {task for task, _ in tis if str(tis[task, _].state) == "success"}
    assert not [f for f in files_under(datastore) if "attempt" in f or f.endswith("run.json")]
    # the start task's error names the id and the fix
    logged = capsys.readouterr().out + caplog.text
    assert f"Invalid run id {run_id!r} of DAG WideFlow" in logged
    assert "Trigger the run with another run_id" in logged
