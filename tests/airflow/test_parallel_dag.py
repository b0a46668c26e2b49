"""Distributed steps under Airflow: one task per gang, whose nodes run in the worker."""

from __future__ import annotations

import time

import pytest
from dagrun_helpers import (
    DAGS,
    SHARED_FLOWS,
    TEST_FLOWS,
    end_artifacts,
    load_module,
    run_script,
    states,
    sync_dag,
    task_instances,
    xcom_values,
)
from helpers import alive, require_torch

from provider import Run, Task
from provider.exceptions import FlowDefinitionError

pytestmark = pytest.mark.airflow


def gang_dag():
    return load_module(SHARED_FLOWS / "gang_flow.py").GangFlow.to_dag()


def test_a_gang_is_one_task_mapped_once_per_foreach_item_without_a_fanout():
    from provider.operators import StepOperator

    dag = gang_dag()
    tasks = dag.task_dict
    assert sorted(tasks) == sorted(
        ["start", "train", "join", "prepare", "pair", "gather", "regroup", "end", "__run_status"]
    )
    assert isinstance(tasks["train"], StepOperator) and not tasks["train"].is_mapped
    assert tasks["train"].flow_task_id == "0"  # the gang's node 0
    assert tasks["train"].retries == 1
    pair = tasks["pair"]
    assert pair.is_mapped
    assert pair.expand_input.value["flow_task_id"].operator.task_id == "prepare"  # 1:1
    assert tasks["gather"].expand_input.value["flow_task_id"].operator.task_id == "join"
    assert "pair" in {t.task_id for t in tasks["gather"].upstream_list}


def test_a_gang_on_kubernetes_is_one_indexed_job_task(monkeypatch):
    flow = load_module(TEST_FLOWS / "remote_gang_flow.py").RemoteGangFlow
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    tasks = flow.to_dag().task_dict
    assert tasks["train"].task_type == "KubernetesGangOperator"
    assert not tasks["train"].is_mapped and tasks["train"].flow_task_id == "0"
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "true")
    assert flow.to_dag().task_dict["train"].task_type == "StepOperator"


def test_a_gang_on_batch_is_one_multi_node_job_task(monkeypatch):
    flow = load_module(TEST_FLOWS / "remote_gang_flow.py").RemoteGangFlow
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__DEFAULT_COMPUTE", "batch")
    assert flow.to_dag().task_dict["measure"].task_type == "BatchGangOperator"
    monkeypatch.setenv("AIRFLOW__AIRSTEP__DEFAULT_COMPUTE", "nowhere")
    with pytest.raises(FlowDefinitionError) as raised:
        flow.to_dag()
    assert str(raised.value) == (
        "[airstep] default_compute is 'nowhere'; use kubernetes, batch or local."
    )
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "true")
    assert flow.to_dag().task_dict["measure"].task_type == "StepOperator"


@pytest.mark.slow
def test_a_gang_runs_in_the_worker_and_gives_the_local_runs_results(airflow_db, capfd):
    dag = gang_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success", states(dag_run)
    # dag.test() runs the in-process API server on a thread: nodes are not forked then
    log = capfd.readouterr()
    started = "Gang of step train: 3 node(s), each a new python -m provider.runtime; main 127"
    assert started in log.out + log.err
    assert "[node 2] node 2 of 3 meets the others" in log.out + log.err
    assert all(s == {"success"} for s in states(dag_run).values())
    pointers = xcom_values(dag_run)
    assert pointers[("start", -1)] == "0"  # node 0 of the gang, what train runs
    assert pointers[("train", -1)] == ["0", "1", "2"]
    assert pointers[("prepare", 1)] == "1.0"
    assert pointers[("pair", 1)] == ["1.0", "1.1"]
    assert pointers[("gather", 1)] == "1"
    labels = {k: ti.rendered_map_index for k, ti in task_instances(dag_run).items()}
    assert labels[("pair", 0)] == "groups[0]='a'" and labels[("pair", 1)] == "groups[1]='b'"
    run = Run(f"GangFlow/{dag_run.run_id}")
    assert run["join"].task.data.ranks == [0, 1, 2]
    assert run["join"].task.data.seen == [[0, 1, 2]] * 3
    assert [t.id for t in run["pair"]] == ["0.0", "0.1", "1.0", "1.1"]
    local = run_script(SHARED_FLOWS / "gang_flow.py", "run", "--run-id", "local")
    assert local.returncode == 0, local.stderr
    assert end_artifacts("GangFlow", dag_run.run_id) == end_artifacts("GangFlow", "local")


@pytest.mark.slow
def test_a_failing_node_fails_the_gang_task_and_its_retry_runs_every_node(airflow_db, monkeypatch):
    monkeypatch.setenv("GANG_FAIL_NODE", "1")
    monkeypatch.setenv("GANG_FAIL_ATTEMPTS", "1")
    dag = gang_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success", states(dag_run)
    assert task_instances(dag_run)[("train", -1)].try_number == 2
    run = Run(f"GangFlow/{dag_run.run_id}")
    for task in run["train"]:
        assert [a["status"] for a in task.attempts] == ["failed", "ok"]
    assert run["join"].task.data.attempts == [1, 1, 1]


@pytest.mark.slow
def test_a_gang_that_keeps_failing_fails_its_task_and_leaves_no_node_running(
    airflow_db, monkeypatch, tmp_path, capfd
):
    monkeypatch.setenv("GANG_FAIL_NODE", "2")
    monkeypatch.setenv("GANG_PID_DIR", str(tmp_path))
    dag = gang_dag()
    sync_dag(dag)
    started = time.monotonic()
    dag_run = dag.test()
    assert time.monotonic() - started < 60
    assert dag_run.state == "failed"
    found = states(dag_run)
    assert found["train"] == {"failed"} and found["join"] == {"upstream_failed"}
    pids = {p.name: int(p.read_text()) for p in tmp_path.iterdir()}
    assert sorted(pids) == ["0-0", "0-0-child", "0-1", "0-2", "1-0", "1-0-child", "1-1", "1-2"]
    assert not [name for name, pid in pids.items() if alive(pid)]
    control = Task(f"GangFlow/{dag_run.run_id}/train/0").attempts[-1]
    message = (
        f"Step *train* failed: node 2 of 3 (task GangFlow/{dag_run.run_id}/train/2) exited "
        "with status 1 (RuntimeError: node 2 breaks on attempt 1); the other nodes were stopped."
    )
    assert (control["exception"], control["message"]) == ("GangFailed", message)
    assert message in capfd.readouterr().out  # the task's failure, in its log


@pytest.mark.slow
def test_the_distributed_training_example_trains_the_same_model_under_airflow_and_locally(
    airflow_db,
):
    require_torch()
    dag = load_module(DAGS / "distributed_training.py").dag
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success", states(dag_run)
    found = end_artifacts("DistributedTrainingFlow", dag_run.run_id)
    assert found["in_sync"] is True and found["shard_sizes"] == [256, 256]
    assert abs(found["weight"] - 3) < 0.05 and abs(found["bias"] + 2) < 0.05
    local = run_script(DAGS / "distributed_training.py", "run", "--run-id", "local", timeout=300)
    assert local.returncode == 0, local.stderr
    assert "] [node 1] node 1: y = " in local.stdout
    assert end_artifacts("DistributedTrainingFlow", "local") == found
