"""Faults on the Airflow and remote paths: how a failed Airflow run ends in the client, step
output kept by every executor, and the remote step operators with deferrable mode asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from airflow_paths_flows import BatchLogsFlow, LogsFlow, PodLogsFlow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "airflow"))  # the DAG run helpers

from dagrun_helpers import TEST_FLOWS, load_module, states, sync_dag  # noqa: E402

from provider import FlowSpec, Run, Task, step  # noqa: E402
from provider.exceptions import FlowDefinitionError, RunFailed  # noqa: E402
from provider.local.scheduler import LocalRun  # noqa: E402
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


# -- step output, kept for every executor -------------------------------------------------------
def written_everywhere(name: str) -> dict[str, list[str]]:
    """What ``write_everywhere(name)`` writes, by the stream it writes it to."""
    return {
        "stdout": [f"{name}: printed", f"{name}: from a child process"],
        "stderr": [f"{name}: written to fd 2"],
    }


def assert_kept(task: Task, streams: dict[str, list[str]]) -> None:
    """Each line is kept in its own stream, and only there."""
    kept = {"stdout": task.stdout, "stderr": task.stderr}
    for stream, lines in streams.items():
        other = "stderr" if stream == "stdout" else "stdout"
        for line in lines:
            assert line in kept[stream], (stream, line, kept)
            assert line not in kept[other], (other, line, kept)


@pytest.mark.slow
def test_step_output_is_kept_under_airflow_also_when_the_step_fails(airflow_db, capfd):
    dag_run = run_dag(LogsFlow)
    assert dag_run.state == "failed"
    run = f"LogsFlow/{dag_run.run_id}"
    assert_kept(Task(f"{run}/start/0"), written_everywhere("start"))
    bad = Task(f"{run}/bad/0")
    assert_kept(
        bad,
        {"stdout": ["bad: about to fail"], "stderr": ["ValueError: bad broke on purpose"]},
    )
    shown = capfd.readouterr()
    start_lines = [*written_everywhere("start")["stdout"], *written_everywhere("start")["stderr"]]
    for line in [*start_lines, "bad: about to fail"]:  # still in the task log
        assert line in shown.out + shown.err


def test_step_output_is_kept_once_by_a_local_run(datastore, capfd):
    with pytest.raises(RunFailed):
        LocalRun(LogsFlow, run_id="local").run()
    assert_kept(Task("LogsFlow/local/start/0"), written_everywhere("start"))
    bad = Task("LogsFlow/local/bad/0")
    assert_kept(
        bad,
        {"stdout": ["bad: about to fail"], "stderr": ["ValueError: bad broke on purpose"]},
    )
    assert bad.stdout.count("bad: about to fail") == 1
    assert Task("LogsFlow/local/good/0").data.threads == 1  # capturing started no thread
    shown = capfd.readouterr().out
    assert "[start/0 (pid " in shown and "start: printed" in shown  # prefixed on the terminal


def test_the_entrypoint_keeps_output_also_without_a_stdout(datastore):
    flow_file = Path(__file__).parent / "airflow_paths_flows.py"
    command = (
        f"{sys.executable} -m provider.runtime --flow-file {flow_file} --flow LogsFlow "
        f"--run-id closed --step start --datastore-root {datastore} 1>&-"
    )
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "start: written to fd 2" in done.stderr  # passed through where it can go
    assert_kept(Task("LogsFlow/closed/start/0"), written_everywhere("start"))


# -- remote steps: output kept, deferrable mode asked for ---------------------------------------
class _TI:
    dag_id, task_id, map_index, try_number = "D", "start", -1, 1

    def xcom_push(self, *args, **kwargs):
        pass


def context(run_id: str, dag_id: str) -> dict:
    """What Airflow hands a task of DAG ``dag_id`` (the flow's own DAG: its id is the flow's)."""
    ti = _TI()
    ti.dag_id = dag_id
    return {"ti": ti, "run_id": run_id, "params": {}, "dag": None}


@pytest.fixture
def pods(monkeypatch, s3_bucket, fake_k8s):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return s3_bucket


@pytest.fixture
def jobs(monkeypatch, s3_bucket, batch_env, local_batch_runner, fast_batch_polling):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    monkeypatch.setenv("AIRSTEP_BATCH_QUEUE", batch_env)
    return s3_bucket


def check_remote_task(root: str, flow: str, run_id: str, name: str, result) -> None:
    assert result == "0"  # the pointer, pushed to XCom as the task's return value
    task = Task(f"{flow}/{run_id}/start/0", root=root)
    assert task.data.where  # the step's artifact: "pod", or the Batch job's id
    assert_kept(task, written_everywhere(name))


@pytest.mark.slow
@pytest.mark.parametrize("asked", [{}, {"deferrable": True}], ids=["default", "deferrable"])
def test_a_pod_step_returns_its_pointer_and_keeps_its_output(pods, asked):
    from provider.operators.kubernetes import KubernetesStepOperator

    op = KubernetesStepOperator(task_id="start", flow_cls=PodLogsFlow, step_name="start", **asked)
    run_id = f"pod-{len(asked)}"
    check_remote_task(
        pods, "PodLogsFlow", run_id, "pod", op.execute(context(run_id, "PodLogsFlow"))
    )


@pytest.mark.slow
@pytest.mark.parametrize("asked", [{}, {"deferrable": True}], ids=["default", "deferrable"])
def test_a_batch_step_returns_its_pointer_and_keeps_its_output(jobs, asked):
    from provider.operators.batch import BatchStepOperator

    op = BatchStepOperator(task_id="start", flow_cls=BatchLogsFlow, step_name="start", **asked)
    run_id = f"job-{len(asked)}"
    check_remote_task(
        jobs, "BatchLogsFlow", run_id, "job", op.execute(context(run_id, "BatchLogsFlow"))
    )


def test_deferrable_mode_asked_through_default_args_is_turned_off_too():
    from airflow.sdk import DAG

    from provider.operators.batch import BatchStepOperator
    from provider.operators.kubernetes import KubernetesStepOperator

    with DAG("deferring", schedule=None, default_args={"deferrable": True}):
        pod = KubernetesStepOperator(task_id="p", flow_cls=PodLogsFlow, step_name="start")
        job = BatchStepOperator(task_id="j", flow_cls=BatchLogsFlow, step_name="start")
    for op in (pod, job):
        assert (op.deferrable, op.deferral_refused) == (False, True)
    plain = KubernetesStepOperator(task_id="p", flow_cls=PodLogsFlow, step_name="start")
    assert (plain.deferrable, plain.deferral_refused) == (False, False)


# a worker process whose Airflow configuration turns deferrable mode on for every operator
IN_A_DEFERRABLE_WORKER = textwrap.dedent(
    """
    import json
    import sys
    import time

    from airflow.providers.amazon.aws.hooks.batch_client import BatchClientHook

    from airflow_paths_flows import BatchLogsFlow, PodLogsFlow
    from provider.operators.batch import BatchStepOperator
    from provider.operators.kubernetes import KubernetesStepOperator

    BatchClientHook.DEFAULT_DELAY_MIN = BatchClientHook.DEFAULT_DELAY_MAX = 0
    BatchClientHook.delay = staticmethod(lambda delay=None: time.sleep(0.05))


    class TI:
        dag_id, task_id, map_index, try_number = "D", "start", -1, 1

        def xcom_push(self, *args, **kwargs):
            pass


    kind, run_id = sys.argv[1:]
    make = KubernetesStepOperator if kind == "pod" else BatchStepOperator
    flow = PodLogsFlow if kind == "pod" else BatchLogsFlow
    op = make(task_id="start", flow_cls=flow, step_name="start")
    TI.dag_id = flow.__name__  # the flow's own DAG
    result = op.execute({"ti": TI(), "run_id": run_id, "params": {}, "dag": None})
    print("RESULT", json.dumps(result))
    """
)


def in_a_deferrable_worker(kind: str, run_id: str) -> str:
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    done = subprocess.run(
        [sys.executable, "-c", IN_A_DEFERRABLE_WORKER, kind, run_id],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deferrable mode is off" in done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.slow
def test_a_pod_step_under_default_deferrable_returns_its_pointer(pods):
    result = in_a_deferrable_worker("pod", "pod-by-config")
    check_remote_task(pods, "PodLogsFlow", "pod-by-config", "pod", result)


@pytest.mark.slow
def test_a_batch_step_under_default_deferrable_returns_its_pointer(jobs):
    result = in_a_deferrable_worker("job", "job-by-config")
    check_remote_task(jobs, "BatchLogsFlow", "job-by-config", "job", result)
