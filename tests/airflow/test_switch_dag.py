"""A switch under Airflow: only the chosen case runs, the others are skipped (per map index
inside a foreach), the step where cases meet runs after them, and a recursive switch loops
inside its one task."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from dagrun_helpers import SHARED_FLOWS, end_artifacts, load_module, run_script, sync_dag
from dagrun_helpers import task_instances as read_task_instances

from provider import Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

MERGE_RULE = "none_failed_min_one_success"


@pytest.fixture(scope="module")
def dag(airflow_db):
    dag = load_module(SHARED_FLOWS / "switch_flow.py").SwitchFlow.to_dag()
    sync_dag(dag)
    return dag


def test_cases_and_merges_carry_the_trigger_rule_and_a_loop_has_no_edge(airflow_db):
    dag = load_module(SHARED_FLOWS / "switch_flow.py").SwitchFlow.to_dag()
    rules = {t.task_id: t.trigger_rule for t in dag.tasks}
    for task in ("fast", "slow", "merge", "half", "triple", "collect"):
        assert rules[task] == MERGE_RULE, task
    for task in ("start", "body", "loop", "end"):
        assert rules[task] == "all_success", task
    assert dag.get_task("loop").downstream_task_ids == {"end", "__run_status"}
    assert dag.get_task("start").downstream_task_ids == {"fast", "slow", "__run_status"}


def test_only_the_chosen_case_runs_and_the_others_are_skipped(dag):
    dag_run = dag.test(run_conf={"mode": "slow", "rounds": 2})
    assert dag_run.state == "success"
    tis = read_task_instances(dag_run)
    state = {key: str(ti.state) for key, ti in tis.items()}
    assert state[("start", -1)] == "success"
    assert state[("fast", -1)] == "skipped"
    assert state[("slow", -1)] == "success"
    assert state[("merge", -1)] == "success"
    # inside the foreach, each item skips the case it did not choose
    assert {i: state[("half", i)] for i in range(4)} == {
        0: "skipped",
        1: "success",
        2: "skipped",
        3: "success",
    }
    assert {i: state[("triple", i)] for i in range(4)} == {
        0: "success",
        1: "skipped",
        2: "success",
        3: "skipped",
    }
    for task in ("collect", "loop", "end", "__run_status"):
        assert state[(task, -1)] == "success", task

    run = Run(f"SwitchFlow/{dag_run.run_id}")
    assert "fast" not in run and run.successful
    assert sorted(t.index for t in run["half"]) == [1, 3]
    assert run.data.count == 2 and len(run["loop"].tasks()) == 1
    local = run_script(
        SHARED_FLOWS / "switch_flow.py", "run", "--mode", "slow", "--rounds", "2", "--run-id", "l"
    )
    assert local.returncode == 0, local.stderr
    assert end_artifacts("SwitchFlow", dag_run.run_id) == end_artifacts("SwitchFlow", "l")


def test_a_value_with_no_case_fails_the_switch_task(dag):
    dag_run = dag.test(run_conf={"mode": "medium"})
    assert dag_run.state == "failed"
    state = {key: str(ti.state) for key, ti in read_task_instances(dag_run).items()}
    assert state[("start", -1)] == "failed"
    assert state[("fast", -1)] == state[("slow", -1)] == "upstream_failed"
    attempts = Run(f"SwitchFlow/{dag_run.run_id}")["start"]["0"].attempts
    assert "whose value 'medium' is none of its cases ('fast', 'slow')" in attempts[-1]["message"]


@pytest.mark.parametrize("kind", ["worker", "kubernetes", "batch"])
def test_every_operator_skips_a_case_not_chosen_before_it_launches(tmp_path, monkeypatch, kind):
    from airflow.sdk.exceptions import AirflowSkipException

    from provider.datastore import FlowDataStore, storage_for
    from provider.operators.batch import BatchStepOperator
    from provider.operators.kubernetes import KubernetesStepOperator
    from provider.operators.step import StepOperator

    root = str(tmp_path / "datastore")
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", root)
    local = run_script(SHARED_FLOWS / "switch_flow.py", "run", "--mode", "slow", "--run-id", "r")
    assert local.returncode == 0, local.stderr
    flow_cls = load_module(SHARED_FLOWS / "switch_flow.py").SwitchFlow
    operator_cls, extra = {
        "worker": (StepOperator, {}),
        "kubernetes": (KubernetesStepOperator, {}),
        "batch": (BatchStepOperator, {"job_queue": "q"}),
    }[kind]
    # the remote operators want an s3:// root; the decision reads the same manifests
    store = FlowDataStore("SwitchFlow", storage_for(root))
    monkeypatch.setattr(operator_cls, "datastore", lambda self: store)
    # the manifests a run of the flow's DAG would leave: its run record names the DAG
    record = store.read_run("r")
    store.write_run(dataclasses.replace(record, executor=None, dag_id="SwitchFlow"))

    def operator(step: str, task_id: str = "0"):
        return operator_cls(
            task_id=step, flow_cls=flow_cls, step_name=step, flow_task_id=task_id, **extra
        )

    # a task of the flow's own DAG; skipped in execute, before any pod or job is made (no
    # cluster, no Batch here)
    context = {"run_id": "r", "ti": SimpleNamespace(dag_id="SwitchFlow")}
    with pytest.raises(
        AirflowSkipException,
        match=r"Step \*fast\* \(task 0\) does not run in "
        r"this run: switch \*start\* chose \*slow\*\.",
    ):
        operator("fast").execute(context)
    # inside the foreach, per item: item 0 (1, odd) chose triple, item 1 (2, even) half
    with pytest.raises(AirflowSkipException, match=r"\*body\* chose \*triple\*"):
        operator("half", "0").execute(context)
    operator("half", "1").skip_unless_chosen("r", "1")  # chosen: no skip
    operator("slow").skip_unless_chosen("r", "0")
    operator("merge").skip_unless_chosen("r", "0")


@pytest.mark.parametrize("mode", ["fast", "slow"])
def test_cases_meeting_at_a_branch_join_and_ending_separately_run_as_locally(airflow_db, mode):
    compat = SHARED_FLOWS / "compat" / "switch_flow.py"
    dag = load_module(compat).SwitchFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test(run_conf={"mode": mode})
    assert dag_run.state == "success"
    state = {key: str(ti.state) for key, ti in read_task_instances(dag_run).items()}
    taken, not_taken = ("big", "small") if mode == "fast" else ("small", "big")
    assert state[(taken, -1)] == "success" and state[(not_taken, -1)] == "skipped"
    assert state[("both", -1)] == state[("end", -1)] == "success"
    assert state[("detour", -1)] == ("skipped" if mode == "fast" else "success")
    local = run_script(compat, "run", "--mode", mode, "--run-id", f"local-{mode}")
    assert local.returncode == 0, local.stderr
    assert end_artifacts("SwitchFlow", dag_run.run_id) == end_artifacts(
        "SwitchFlow", f"local-{mode}"
    )


@pytest.mark.parametrize(
    ("conf", "ran", "skipped"),
    [
        ({"shape": "wide"}, {"wide", "work", "join_wide", "done"}, {"narrow", "small", "tiny"}),
        (
            {"shape": "narrow", "size": "small"},
            {"narrow", "small", "done"},
            {"wide", "work", "join_wide", "tiny"},
        ),
        (
            {"shape": "narrow", "size": "tiny"},
            {"narrow", "tiny"},
            {"wide", "work", "join_wide", "small", "done"},
        ),
    ],
)
def test_a_whole_foreach_on_a_case_and_nested_switches_meeting_in_stages(
    airflow_db, conf, ran, skipped
):
    flow_file = SHARED_FLOWS / "switch_shapes_flow.py"
    dag = load_module(flow_file).SwitchShapesFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test(run_conf=conf)
    assert dag_run.state == "success"
    states: dict[str, set[str]] = {}
    for (task, _), ti in read_task_instances(dag_run).items():
        states.setdefault(task, set()).add(str(ti.state))
    for task in ran | {"start", "end"}:
        assert states[task] == {"success"}, (task, states)
    for task in skipped:
        assert states[task] == {"skipped"}, (task, states)
    args = [f"--{k}={v}" for k, v in conf.items()]
    local_id = "local-" + "-".join(conf.values())
    local = run_script(flow_file, "run", *args, "--run-id", local_id)
    assert local.returncode == 0, local.stderr
    assert end_artifacts("SwitchShapesFlow", dag_run.run_id) == end_artifacts(
        "SwitchShapesFlow", local_id
    )


def test_a_case_holding_a_nested_foreach_runs_for_the_items_that_chose_it(airflow_db):
    flow_file = SHARED_FLOWS / "switch_nested_flow.py"
    dag = load_module(flow_file).SwitchNestedFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success"
    state = {key: str(ti.state) for key, ti in read_task_instances(dag_run).items()}
    # items 1..4: the odd ones (map indexes 0, 2) take single, the even ones fan out
    assert [state[("fan", i)] for i in range(4)] == ["skipped", "success"] * 2
    assert [state[("single", i)] for i in range(4)] == ["success", "skipped"] * 2
    assert state[("fan__fanout", -1)] == "success"
    assert sorted(state[("part", i)] for i in range(4)) == ["success"] * 4
    assert [state[("part_join", i)] for i in range(4)] == ["skipped", "success"] * 2
    assert Run(f"SwitchNestedFlow/{dag_run.run_id}").data.values == [-3, -1, 60, 120]


def test_a_case_holding_a_gang_runs_it_for_the_items_that_chose_it(airflow_db):
    flow_file = SHARED_FLOWS / "switch_gang_flow.py"
    dag = load_module(flow_file).SwitchGangFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success"
    state: dict[str, list[str]] = {}
    for (task, _), ti in sorted(read_task_instances(dag_run).items()):
        state.setdefault(task, []).append(str(ti.state))
    assert state["launch"] == ["skipped", "success"] * 2
    assert state["train"] == ["success"] * 2  # one task per gang that ran
    assert state["gang_join"] == ["skipped", "success"] * 2
    assert Run(f"SwitchGangFlow/{dag_run.run_id}").data.values == [-3, -1, 201, 401]
