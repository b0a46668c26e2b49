"""The client over an Airflow run: a failed mapped task as Metaflow's client shows one, task
lineage across dynamic task mapping, the run's owner and metadata."""

from __future__ import annotations

import pytest
from dagrun_helpers import TEST_FLOWS, load_module, sync_dag

from provider import Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_a_failed_mapped_task_reads_as_in_metaflow(airflow_db, monkeypatch):
    monkeypatch.setenv("AIRSTEP_USER", "scheduler-bot")
    dag = load_module(TEST_FLOWS / "failing_item_flow.py").FailingItemFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "failed"

    run = Run(f"FailingItemFlow/{dag_run.run_id}")
    assert run.system_tags == {"user:scheduler-bot", "runtime:airflow"}
    start = run["start"].task
    assert sorted(t.id for t in start.child_tasks) == ["0", "1", "2"]
    failed = run["work"]["1"]
    assert (failed.successful, failed.finished, failed.index) == (False, False, 1)
    error = failed.exception
    assert (error.type, error.exception) == ("builtins.RuntimeError", "item b is broken")
    assert str(error).rstrip().endswith("RuntimeError: item b is broken")
    assert [t.pathspec for t in failed.parent_tasks] == [start.pathspec]
    assert failed.child_tasks == []
    assert "name" in failed and failed["name"].data == "FailingItemFlow"
    facts = failed.metadata_dict
    assert (facts["attempt_ok"], facts["user"], facts["runtime"]) == (
        "False",
        "scheduler-bot",
        "airflow",
    )
    good = run["work"]["2"]
    assert good.exception is None and good.metadata_dict["attempt_ok"] == "True"
    assert good.index == 2 and good.origin_pathspec is None
