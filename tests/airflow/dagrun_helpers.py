"""Helpers for the Airflow tests: load DAG files, sync DAGs, read task instances and XComs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
TEST_FLOWS = Path(__file__).parent / "flows"
SHARED_FLOWS = REPO / "tests" / "flows"


def load_module(path: Path) -> ModuleType:
    """Import a flow or DAG file under a unique name (never ``__main__``, so to_dag works)."""
    name = f"airstep_test_{path.parent.name}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def sync_dag(dag: Any) -> None:
    """Serialize a DAG that is not in the DAGs folder into the DB, so dag.test() can run it."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    with create_session() as session:
        update_dag_parsing_results_in_db(
            "dags-folder",
            None,
            [LazyDeserializedDAG.from_dag(dag)],
            {},
            None,
            set(),
            session=session,
        )


def task_instances(dag_run: Any) -> dict[tuple[str, int], Any]:
    """(task id, map index) -> task instance, read fresh from the DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        found = {(ti.task_id, ti.map_index): ti for ti in tis}
        for ti in found.values():
            session.expunge(ti)
    return found


def states(dag_run: Any) -> dict[str, set[str]]:
    """Task id -> the set of states of its task instances."""
    result: dict[str, set[str]] = {}
    for (task_id, _), ti in task_instances(dag_run).items():
        result.setdefault(task_id, set()).add(str(ti.state) if ti.state else "none")
    return result


def xcom_values(dag_run: Any, key: str = "return_value") -> dict[tuple[str, int], Any]:
    """(task id, map index) -> the value each task pushed under ``key`` (its return value)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.key == key,
        )
        return {(r.task_id, r.map_index): r.value for r in rows}


def end_artifacts(flow_name: str, run_id: str) -> dict[str, Any]:
    """Every artifact of a run's end task, read through the client."""
    from provider import Run

    task = Run(f"{flow_name}/{run_id}")["end"]["0"]
    return {name: getattr(task.data, name) for name in task.artifacts}


def run_script(path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python <flow file> <args>``, the way a user runs a flow locally."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env["AIRSTEP_DATASTORE_ROOT"] = os.environ["AIRSTEP_DATASTORE_ROOT"]
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(REPO),
    )
