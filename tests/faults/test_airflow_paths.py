"""Faults on the Airflow and remote paths: how a failed Airflow run ends in the client."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "airflow"))  # the DAG run helpers

from dagrun_helpers import TEST_FLOWS, load_module, states, sync_dag  # noqa: E402

from provider import FlowSpec, Run, step  # noqa: E402
from provider.exceptions import FlowDefinitionError  # noqa: E402
from provider.operators.status import RUN_STATUS_TASK  # noqa: E402


class StatusFlow(FlowSpec):
    @step
    def start(self):
        self.value = 1
        self.next(self.end)

    @step
    def end(self):
        print("end of a good run")


def run_dag(flow_cls, **kwargs):
    dag = flow_cls.to_dag()
    sync_dag(dag)
    return dag.test(**kwargs)


def test_the_run_status_task_runs_after_every_task():
    module = load_module(Path(__file__).resolve().parents[2] / "dags" / "nested_foreach.py")
    dag = module.dag
    status = dag.get_task(RUN_STATUS_TASK)
    assert status.upstream_task_ids == {t.task_id for t in dag.tasks} - {RUN_STATUS_TASK}
    assert "per_size__fanout" in status.upstream_task_ids
    assert status.trigger_rule == "all_done"
    assert [t.task_id for t in dag.tasks if not t.downstream_task_ids] == [RUN_STATUS_TASK]


class ClashFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.__run_status)  # the graph reads the name as written

    @step
    def end(self):
        pass


def _clash(self):
    self.next(self.end)


setattr(ClashFlow, RUN_STATUS_TASK, step(_clash))


def test_a_step_named_like_the_run_status_task_is_refused_at_parse_time():
    with pytest.raises(FlowDefinitionError, match=r"step \*__run_status\*.*rename the step"):
        ClashFlow.to_dag()


@pytest.mark.slow
def test_a_failed_airflow_run_is_recorded_as_failed_and_finished(airflow_db):
    flow_cls = load_module(TEST_FLOWS / "failing_branch_flow.py").FailingBranchFlow
    dag_run = run_dag(flow_cls)
    assert dag_run.state == "failed"
    assert states(dag_run)[RUN_STATUS_TASK] == {"failed"}  # it keeps the DAG run failed
    run = Run(f"FailingBranchFlow/{dag_run.run_id}")
    assert run.record["status"] == "failed"
    assert run.record["finished_at"] >= run.record["created_at"]
    assert run.finished and not run.successful


@pytest.mark.slow
def test_a_good_airflow_run_is_recorded_as_ok(airflow_db):
    dag_run = run_dag(StatusFlow)
    assert dag_run.state == "success"
    assert states(dag_run)[RUN_STATUS_TASK] == {"success"}
    run = Run(f"StatusFlow/{dag_run.run_id}")
    assert run.record["status"] == "ok" and run.record["finished_at"]
    assert run.finished and run.successful
