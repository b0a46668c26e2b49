"""A foreach wider than Airflow's map limit runs in chunks: one mapped task instance per chunk
of items, every item still its own flow task (id, artifacts, log, retries)."""

from __future__ import annotations

import pytest
from dagrun_helpers import (
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

from provider import Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def wide_dag(module_file: str, flow: str):
    dag = getattr(load_module(TEST_FLOWS / module_file), flow).to_dag()
    sync_dag(dag)
    return dag


def test_a_foreach_of_3000_items_runs_in_100_chunks_and_the_join_sees_every_item(
    airflow_db, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "100")
    dag_run = wide_dag("wide_flow.py", "WideFlow").test(run_conf={"width": 3000})
    assert dag_run.state == "success", states(dag_run)
    tis = task_instances(dag_run)
    work = sorted(k[1] for k in tis if k[0] == "work")
    assert work == list(range(100))  # at most max_map_length task instances: 100 of 30 items
    assert tis[("work", 0)].rendered_map_index == "items[0:30]"
    assert tis[("work", 99)].rendered_map_index == "items[2970:3000]"
    pointers = xcom_values(dag_run)
    assert pointers[("start", -1)][1] == [str(i) for i in range(30, 60)]
    assert pointers[("work", 1)] == [str(i) for i in range(30, 60)]
    run = Run(f"WideFlow/{dag_run.run_id}")
    assert run["join"]["0"].data.first_bytes == [i % 256 for i in range(3000)]
    assert run["join"]["0"].data.total == 3000 * 1024
    for task_id in ("0", "1234", "2999"):
        assert run["work"][task_id].data.blob == bytes([int(task_id) % 256]) * 1024


def test_a_failing_item_fails_its_chunk_once_the_others_ended_and_the_retry_runs_only_it(
    airflow_db, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "30")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "10")  # 300 items: 10 chunks of 30
    dag = wide_dag("wide_items_flow.py", "WideItemsFlow")
    dag_run = dag.test(run_conf={"flaky": 42})
    assert dag_run.state == "success", states(dag_run)
    tis = task_instances(dag_run)
    tries = {i: ti.try_number for (t, i), ti in tis.items() if t == "work"}
    assert tries == {i: 2 if i == 1 else 1 for i in range(10)}  # items[30:60] was retried
    run = Run(f"WideItemsFlow/{dag_run.run_id}")
    assert [a["status"] for a in run["work"]["42"].attempts] == ["failed", "ok"]
    for other in ("30", "41", "59"):  # same chunk, succeeded on the first try: not run again
        assert [a["status"] for a in run["work"][other].attempts] == ["ok"]
    assert run["join"]["0"].data.squares == [i * i for i in range(300)]


def test_an_item_that_always_fails_fails_only_its_chunk_naming_it(airflow_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "30")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "10")
    dag = wide_dag("wide_items_flow.py", "WideItemsFlow")
    dag_run = dag.test(run_conf={"broken": 75})
    assert dag_run.state == "failed"
    tis = task_instances(dag_run)
    work = {i: (str(ti.state), ti.try_number) for (t, i), ti in tis.items() if t == "work"}
    assert work == {i: ("failed", 2) if i == 2 else ("success", 1) for i in range(10)}
    assert tis[("work", 2)].rendered_map_index == "items[60:90]"
    assert states(dag_run)["join"] == {"upstream_failed"}
    run = Run(f"WideItemsFlow/{dag_run.run_id}")
    broken = run["work"]["75"]
    assert [a["status"] for a in broken.attempts] == ["failed", "failed"]
    assert broken.attempts[-1]["message"] == "item 75 breaks on attempt 1"
    assert "RuntimeError: item 75 breaks on attempt 1" in broken.stderr  # the traceback
    # the chunk's other items finished, once each
    done = [t for t in run["work"] if t.successful]
    assert len(done) == 299
    assert [a["status"] for a in run["work"]["89"].attempts] == ["ok"]


def test_gangs_inside_a_chunked_foreach_run_each_item_as_a_gang(airflow_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "1")  # every foreach: one chunk
    dag = load_module(SHARED_FLOWS / "gang_flow.py").GangFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success", states(dag_run)
    pointers = xcom_values(dag_run)
    assert pointers[("prepare", 0)] == ["0.0", "1.0"]  # a chunk of the gangs' node 0s
    assert pointers[("pair", 0)] == ["0.0", "0.1", "1.0", "1.1"]
    assert pointers[("gather", 0)] == ["0", "1"]
    labels = {k: ti.rendered_map_index for k, ti in task_instances(dag_run).items()}
    assert labels[("pair", 0)] == "groups[0:2]"
    run = Run(f"GangFlow/{dag_run.run_id}")
    assert [t.id for t in run["pair"]] == ["0.0", "0.1", "1.0", "1.1"]
    local = run_script(SHARED_FLOWS / "gang_flow.py", "run", "--run-id", "local-chunks")
    assert local.returncode == 0, local.stderr
    assert end_artifacts("GangFlow", dag_run.run_id) == end_artifacts("GangFlow", "local-chunks")


def test_a_remote_gang_given_a_chunk_is_refused_naming_the_fix(monkeypatch):
    from provider.exceptions import StepError
    from provider.operators.kubernetes_gang import KubernetesGangOperator

    flow = load_module(TEST_FLOWS / "remote_gang_flow.py").RemoteGangFlow
    gang = KubernetesGangOperator(
        task_id="train", flow_cls=flow, step_name="train", flow_task_id=["0.0", "1.0"]
    )
    with pytest.raises(StepError) as raised:
        gang.runtime_command({"run_id": "manual__1"})
    assert str(raised.value) == (
        "Step *train* of flow RemoteGangFlow (run manual__1) got a chunk of 2 tasks (0.0 to "
        "1.0), but a gang of pods runs a single task, not a chunk: its foreach is wider than "
        "[airstep] max_map_tasks. Raise [airstep] max_map_tasks to the foreach's width, or run "
        "the step in the worker."
    )


def test_a_chunks_deadlines_allow_one_timeout_per_wave_of_its_tasks(monkeypatch):
    from datetime import timedelta

    from provider import FlowSpec, kubernetes, step, timeout
    from provider.operators.kubernetes import KubernetesStepOperator
    from provider.operators.step import StepOperator

    class TimedFlow(FlowSpec):
        @step
        def start(self):
            self.items = list(range(5))
            self.next(self.work, foreach="items")

        @timeout(seconds=30)
        @kubernetes
        @step
        def work(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    monkeypatch.setenv("AIRFLOW__AIRSTEP__CHUNK_PROCESSES", "2")  # 5 tasks: 3 waves
    ids = ["0", "1", "2", "3", "4"]
    local = StepOperator(task_id="work", flow_cls=TimedFlow, step_name="work", flow_task_id=ids)
    assert local.execution_timeout is None  # set by the DAG compiler; the chunk's own below
    local.pre_execute({})
    assert local.execution_timeout == timedelta(seconds=3 * 90)
    pod = KubernetesStepOperator(
        task_id="work", flow_cls=TimedFlow, step_name="work", flow_task_id=ids
    )
    assert pod.active_deadline_seconds == 90  # one task's
    pod.pre_execute({})
    assert pod.active_deadline_seconds == 3 * 90
    assert pod.execution_timeout == timedelta(seconds=3 * 90 + 120)  # and the pod's startup
    single = StepOperator(task_id="work", flow_cls=TimedFlow, step_name="work", flow_task_id="3")
    single.pre_execute({})
    assert single.execution_timeout is None


@pytest.mark.parametrize(
    "try_number, max_tries, first_attempt",
    [
        (1, 1, 0),  # the first try
        (2, 1, 0),  # its retry: tasks that succeeded on try 1 are kept
        (3, 3, 2),  # cleared after two tries (max_tries = 2 + retries): every task runs again
        (4, 3, 2),  # the retry in that new series keeps what try 3 did
    ],
)
def test_a_retry_keeps_the_chunks_succeeded_tasks_and_a_clear_runs_them_all(
    try_number, max_tries, first_attempt
):
    from types import SimpleNamespace

    from provider.operators.step import StepOperator

    flow = load_module(TEST_FLOWS / "wide_items_flow.py").WideItemsFlow
    chunk = StepOperator(
        task_id="work", flow_cls=flow, step_name="work", flow_task_id=["3", "4"], retries=1
    )
    ti = SimpleNamespace(try_number=try_number, max_tries=max_tries, dag_id="WideItemsFlow")
    context = {"run_id": "manual__1", "ti": ti}
    requests, first = chunk.start_items(context)
    assert first == first_attempt
    attempt = try_number - 1
    assert [(r.task_id, r.attempt) for r in requests] == [("3", attempt), ("4", attempt)]
    assert context["label"] == "items[3:5]"


def test_a_switch_in_a_chunked_foreach_runs_each_items_case_and_skips_a_chunk_that_chose_none(
    airflow_db, monkeypatch
):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "10")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "10")  # 40 items: 10 chunks of 4
    dag = wide_dag("wide_switch_flow.py", "WideSwitchFlow")
    dag_run = dag.test(run_conf={"width": 40, "cut": 13})
    assert dag_run.state == "success", states(dag_run)
    tis = task_instances(dag_run)
    state = {key: str(ti.state) for key, ti in tis.items()}
    chunks = {i: tis[("route", i)].rendered_map_index for i in range(10)}
    assert chunks[0] == "items[0:4]" and chunks[3] == "items[12:16]"
    # items[12:16] holds both cases; every other chunk chose only one
    small = {i: state[("small", i)] for i in range(10)}
    big = {i: state[("big", i)] for i in range(10)}
    assert small == {i: "success" if i <= 3 else "skipped" for i in range(10)}
    assert big == {i: "success" if i >= 3 else "skipped" for i in range(10)}
    for i in range(10):
        assert state[("merge", i)] == "success", i
    assert state[("join", -1)] == state[("end", -1)] == "success"

    run = Run(f"WideSwitchFlow/{dag_run.run_id}")
    assert sorted(int(t.id) for t in run["small"]) == list(range(13))
    assert sorted(int(t.id) for t in run["big"]) == list(range(13, 40))
    assert run["join"]["0"].data.seen == [
        (i, "small", i) if i < 13 else (i, "big", i * 100) for i in range(40)
    ]
