"""Flows run as Airflow DAGs under ``dag.test()``: same results as local runs, pointers in XCom.

Each ``dag.test()`` costs one to four seconds here (the first one starts the
in-process Execution API), so every run checks several things at once.
"""

from __future__ import annotations

import json
import subprocess
import sys

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

from provider import Run, Task
from provider.exceptions import StepTimeout, TaskCrashed

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def bag(airflow_db):
    """The repo's DAGs folder, parsed the way the DAG processor does."""
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")
    assert not dagbag.import_errors
    return dagbag


def test_dag(module_file: str, flow: str, folder=TEST_FLOWS):
    """A test flow's DAG, serialized into the DB (it is not in the DAGs folder)."""
    dag = getattr(load_module(folder / module_file), flow).to_dag()
    sync_dag(dag)
    return dag


test_dag.__test__ = False  # a helper, not a test


def all_succeeded(dag_run) -> bool:
    return dag_run.state == "success" and all(s == {"success"} for s in states(dag_run).values())


@pytest.mark.parametrize(
    "file, flow",
    [
        ("hello.py", "HelloFlow"),
        ("branch.py", "BranchFlow"),
        ("nested_foreach.py", "NestedForeachFlow"),
        ("mixed_compute.py", "MixedComputeFlow"),
    ],
)
def test_an_example_gives_the_same_artifacts_under_airflow_and_locally(bag, file, flow):
    dag_run = bag.dags[flow].test()
    assert all_succeeded(dag_run), states(dag_run)
    local = run_script(DAGS / file, "run", "--run-id", "local")
    assert local.returncode == 0, local.stderr
    assert end_artifacts(flow, dag_run.run_id) == end_artifacts(flow, "local")
    if flow == "NestedForeachFlow":
        labels = {k: ti.rendered_map_index for k, ti in task_instances(dag_run).items()}
        assert labels[("per_size", 2)] == "size_list[2]=3"
        assert labels[("fit", 3)] == "size_list[1]=2, rates[1]=0.01"
        assert labels[("best_rate", 0)] == "size_list[0]=1"
        pointers = xcom_values(dag_run)
        assert pointers[("per_size", 1)] == ["1.0", "1.1"]
        assert pointers[("per_size__fanout", -1)] == ["0.0", "0.1", "1.0", "1.1", "2.0", "2.1"]
        assert pointers[("score", 3)] == "1.1"
        assert pointers[("best_rate", 2)] == "2"


def test_branches_inside_a_nested_foreach_run_as_locally(airflow_db):
    dag_run = test_dag("shapes_flow.py", "ShapesFlow", SHARED_FLOWS).test()
    assert all_succeeded(dag_run), states(dag_run)
    local = run_script(SHARED_FLOWS / "shapes_flow.py", "run", "--run-id", "local")
    assert local.returncode == 0, local.stderr
    assert end_artifacts("ShapesFlow", dag_run.run_id) == end_artifacts("ShapesFlow", "local")


def test_retry_timeout_and_catch_behave_as_locally(airflow_db):
    dag_run = test_dag("faults_flow.py", "FaultsFlow", SHARED_FLOWS).test()
    assert all_succeeded(dag_run), states(dag_run)
    tries = {k: ti.try_number for k, ti in task_instances(dag_run).items()}
    assert tries[("flaky", 0)] == tries[("guarded", -1)] + 1 == 3
    local = run_script(SHARED_FLOWS / "faults_flow.py", "run", "--run-id", "local")
    assert local.returncode == 0, local.stderr
    for run_id in (dag_run.run_id, "local"):
        data = Run(f"FaultsFlow/{run_id}").data
        assert data.attempts == [2, 2, 2]
        assert data.partials == [False, False, False]
        assert repr(data.error) == "ValueError('always broken')"
        assert data.tries == 1
        assert "imeout" in type(data.timeout_error).__name__  # caught by @catch in both
        assert type(data.timeout_error) is StepTimeout  # the runtime's own clock, in both
        assert data.fine is True
    # the caught timeout is airstep's: reading it back needs no Airflow
    read = subprocess.run(
        [sys.executable, "-c", READ_WITHOUT_AIRFLOW, f"FaultsFlow/{dag_run.run_id}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["provider.exceptions.StepTimeout", "False"]


READ_WITHOUT_AIRFLOW = """
import sys
from provider import Run
error = Run(sys.argv[1]).data.timeout_error
print(f"{type(error).__module__}.{type(error).__name__}", "airflow" in sys.modules)
"""


def test_run_conf_overrides_parameters_and_map_indexes_show_the_items(bag):
    conf = {"epochs": 5, "samples": 200, "rates": [0.5, 0.05]}
    dag_run = bag.dags["TrainSweepFlow"].test(run_conf=conf)
    assert all_succeeded(dag_run), states(dag_run)
    run = Run(f"TrainSweepFlow/{dag_run.run_id}")
    assert run.parameters == {"epochs": 5, "samples": 200, "rates": "[0.5, 0.05]"}
    assert run.data.losses.keys() == {0.5, 0.05}
    labels = [
        ti.rendered_map_index
        for (t, _), ti in sorted(task_instances(dag_run).items())
        if t == "train"
    ]
    assert labels == ["learning_rates[0]=0.5", "learning_rates[1]=0.05"]
    local = run_script(
        DAGS / "train_sweep.py",
        "run",
        "--run-id",
        "local",
        "--epochs",
        "5",
        "--samples",
        "200",
        "--rates",
        json.dumps(conf["rates"]),
    )
    assert local.returncode == 0, local.stderr
    assert end_artifacts("TrainSweepFlow", dag_run.run_id) == end_artifacts(
        "TrainSweepFlow", "local"
    )


def test_an_invalid_parameter_value_fails_the_run_naming_the_parameter(bag):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="epochs"):
        bag.dags["TrainSweepFlow"].test(run_conf={"epochs": "many"})


def test_a_failing_step_fails_its_task_and_the_run_but_other_branches_stay_readable(airflow_db):
    dag_run = test_dag("failing_branch_flow.py", "FailingBranchFlow").test()
    assert dag_run.state == "failed"
    assert states(dag_run) == {
        "start": {"success"},
        "good": {"success"},
        "bad": {"failed"},
        "join": {"upstream_failed"},
        "end": {"upstream_failed"},
        "__run_status": {"failed"},  # records the failed run, and keeps the DAG run failed
    }
    run = Run(f"FailingBranchFlow/{dag_run.run_id}")
    assert run["good"]["0"].data.value == 11
    assert not run.successful
    bad = Task(f"FailingBranchFlow/{dag_run.run_id}/bad/0")
    assert not bad.successful
    assert bad.attempts[-1]["status"] == "failed"
    assert bad.attempts[-1]["message"] == "bad step broke on purpose"


def test_a_failing_foreach_item_fails_only_its_mapped_task(airflow_db):
    dag_run = test_dag("failing_item_flow.py", "FailingItemFlow").test()
    assert dag_run.state == "failed"
    tis = task_instances(dag_run)
    assert [tis[("work", i)].state for i in range(3)] == ["success", "failed", "success"]
    assert [tis[("work", i)].rendered_map_index for i in range(3)] == [
        "items[0]='a'",
        "task 1",  # the item label is known only once the task has finished
        "items[2]='c'",
    ]
    assert states(dag_run)["join"] == {"upstream_failed"}
    run = Run(f"FailingItemFlow/{dag_run.run_id}")
    assert [t.data.done for t in run["work"] if t.successful] == ["A", "C"]


def test_a_retry_never_sees_the_failed_attempts_partial_output(airflow_db):
    dag_run = test_dag("retry_flow.py", "RetryFlow").test()
    assert all_succeeded(dag_run), states(dag_run)
    assert task_instances(dag_run)[("flaky", -1)].try_number == 2
    flaky = Task(f"RetryFlow/{dag_run.run_id}/flaky/0")
    assert [a["status"] for a in flaky.attempts] == ["failed", "ok"]
    assert "partial" not in flaky.artifacts
    assert Run(f"RetryFlow/{dag_run.run_id}").data.result == (1, False)


def test_a_caught_step_whose_process_crashes_gets_a_fallback_try_and_the_run_carries_on(
    airflow_db, s3_bucket, fake_k8s, monkeypatch
):
    # dag.test() runs a step in the worker inside the test process, so the crashing step
    # runs in a pod: a real process on the fake Kubernetes API server, as a crash would be
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    dag = test_dag("crash_catch_flow.py", "CrashCatchFlow")
    assert dag.get_task("crash").retries == 2  # @retry(times=1), then @catch's fallback
    dag_run = dag.test()
    assert all_succeeded(dag_run), states(dag_run)
    assert task_instances(dag_run)[("crash", -1)].try_number == 3
    pods = [p for p in fake_k8s.pods.values() if p["metadata"]["labels"]["airstep/step"] == "crash"]
    exits = [p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] for p in pods]
    assert sorted(exits) == [0, 3, 3]  # two crashed attempts, then the fallback
    task = Task(f"CrashCatchFlow/{dag_run.run_id}/crash/0", root=s3_bucket)
    assert [a["status"] for a in task.attempts] == ["failed", "failed", "ok"]
    assert [a["exception"] for a in task.attempts] == ["TaskCrashed", "TaskCrashed", None]
    err = task.data.err
    assert isinstance(err, TaskCrashed)
    assert f"Step *crash* failed in task CrashCatchFlow/{dag_run.run_id}/crash/0" in str(err)
    assert "crashed or was killed" in str(err)
    assert task.caught == {"exception": "TaskCrashed", "message": str(err), "var": "err"}
    data = Run(f"CrashCatchFlow/{dag_run.run_id}", root=s3_bucket).data
    assert data.seen == ("set by start", "TaskCrashed", False)


def test_a_foreach_wider_than_every_chunk_fails_its_split_naming_the_fixes(
    airflow_db, capfd, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "4")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "2")  # 2 chunks of 4: 8 items at most
    dag_run = test_dag("wide_flow.py", "WideFlow").test(run_conf={"width": 9})
    assert dag_run.state == "failed"
    assert states(dag_run)["start"] == {"failed"}
    assert states(dag_run)["work"] == {"upstream_failed"}
    attempt = Task(f"WideFlow/{dag_run.run_id}/start/0").attempts[-1]
    too_wide = "Foreach in step *start* yielded 9 child steps, more than the maximum of 8."
    assert (attempt["exception"], attempt["message"]) == ("ForeachTooWide", too_wide)
    # the task's failure, in its log, words the fix for Airflow
    assert (
        f"{too_wide} A foreach is split into at most [airstep] max_map_tasks chunks of at most "
        "[core] max_map_length items each: raise either (AIRFLOW__AIRSTEP__MAX_MAP_TASKS, "
        "AIRFLOW__CORE__MAX_MAP_LENGTH), or give each item a batch of several inputs."
        in capfd.readouterr().out
    )


def test_a_nested_foreach_wider_than_max_map_tasks_in_total_runs_in_chunks(bag, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "4")  # 3 sizes x 2 rates = 6 > 4
    dag_run = bag.dags["NestedForeachFlow"].test()
    assert all_succeeded(dag_run), states(dag_run)
    pointers = xcom_values(dag_run)
    assert pointers[("per_size__fanout", -1)] == [["0.0", "0.1"], ["1.0", "1.1"], ["2.0", "2.1"]]
    assert pointers[("score", 1)] == ["1.0", "1.1"]  # the body's next step chains 1:1
    labels = {k: ti.rendered_map_index for k, ti in task_instances(dag_run).items()}
    assert labels[("fit", 2)] == "size_list[2], rates[0:2]"
    assert sorted(i for t, i in labels if t == "fit") == [0, 1, 2]
    local = run_script(DAGS / "nested_foreach.py", "run", "--run-id", "local-chunked")
    assert local.returncode == 0, local.stderr
    assert end_artifacts("NestedForeachFlow", dag_run.run_id) == end_artifacts(
        "NestedForeachFlow", "local-chunked"
    )


def test_a_nested_foreach_wider_than_every_chunk_in_total_fails_its_fanout(bag, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "2")  # 6 > 2 chunks of 2
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "2")
    dag_run = bag.dags["NestedForeachFlow"].test()
    assert dag_run.state == "failed"
    found = states(dag_run)
    assert found["per_size__fanout"] == {"failed"}
    assert found["fit"] == {"upstream_failed"}


def test_xcom_holds_pointers_whatever_the_artifact_size(airflow_db):
    dag = test_dag("wide_flow.py", "WideFlow")
    small = dag.test(run_conf={"width": 3, "blob_kb": 1})
    large = dag.test(run_conf={"width": 3, "blob_kb": 4096})
    assert all_succeeded(small) and all_succeeded(large)
    assert Run(f"WideFlow/{large.run_id}")["join"]["0"].data.total == 3 * 4096 * 1024
    assert (
        xcom_values(small)
        == xcom_values(large)
        == {
            ("start", -1): ["0", "1", "2"],
            ("work", 0): "0",
            ("work", 1): "1",
            ("work", 2): "2",
            ("join", -1): "0",
            ("end", -1): "0",
        }
    )


def test_a_wide_foreach_join_keeps_xcom_small(airflow_db):
    dag_run = test_dag("wide_flow.py", "WideFlow").test(run_conf={"width": 250})
    assert all_succeeded(dag_run)
    pointers = xcom_values(dag_run)
    assert len(pointers) == 253  # 250 items, at most [airstep] max_map_tasks: one task each
    assert pointers[("start", -1)] == [str(i) for i in range(250)]
    assert pointers[("join", -1)] == "0"
    assert max(len(json.dumps(v)) for k, v in pointers.items() if k[0] != "start") <= 5
    assert Run(f"WideFlow/{dag_run.run_id}")["join"]["0"].data.first_bytes == [
        i % 256 for i in range(250)
    ]
