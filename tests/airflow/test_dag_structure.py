"""The shape of compiled DAGs, checked without running anything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta

import pytest
from dagrun_helpers import DAGS, REPO, SHARED_FLOWS, load_module

from provider import FlowSpec, Parameter, retry, schedule, step, timeout
from provider.exceptions import FlowDefinitionError, ForeachError
from provider.operators.status import RUN_STATUS_TASK

pytestmark = pytest.mark.airflow


def compiled(name: str):
    return load_module(DAGS / f"{name}.py").dag


def step_tasks(dag) -> list:
    """The tasks that run steps or fan out their task ids: all but the run status task."""
    return [t for t in dag.tasks if t.task_id != RUN_STATUS_TASK]


def upstream(dag) -> dict[str, set[str]]:
    return {t.task_id: set(t.upstream_task_ids) for t in step_tasks(dag)}


def mapped_over(task) -> str:
    """The task whose XCom a mapped task is expanded over."""
    return task.expand_input.value["flow_task_id"].operator.task_id


def test_a_linear_flow_is_one_plain_task_per_step_with_its_docs():
    from airflow.sdk import DAG

    from provider.operators import StepOperator

    dag = compiled("hello")
    assert isinstance(dag, DAG)
    assert dag.dag_id == "HelloFlow"
    assert upstream(dag) == {"start": set(), "shout": {"start"}, "end": {"shout"}}
    assert all(isinstance(t, StepOperator) for t in step_tasks(dag))
    assert dag.doc_md == "Greet someone, shout it, and print it."
    assert dag.get_task("shout").doc_md == "Make it louder."
    assert "airstep" in dag.tags
    assert dag.catchup is False
    assert dag.start_date.isoformat() == "2024-01-01T00:00:00+00:00"
    assert dag.fileloc == str(DAGS / "hello.py")


def test_branches_and_joins_are_plain_dependencies():
    dag = compiled("branch")
    assert upstream(dag) == {
        "start": set(),
        "total": {"start"},
        "extremes": {"start"},
        "join": {"total", "extremes"},
        "end": {"join"},
    }
    assert not any(t.is_mapped for t in dag.tasks)


def test_a_nested_foreach_is_flattened_through_a_fanout_task():
    dag = compiled("nested_foreach")
    tasks = {t.task_id: t for t in dag.tasks}
    assert {n for n, t in tasks.items() if t.is_mapped} == {"per_size", "fit", "score", "best_rate"}
    assert mapped_over(tasks["per_size"]) == "start"  # first step of the outer body
    assert not tasks["per_size__fanout"].is_mapped
    assert upstream(dag)["per_size__fanout"] == {"per_size"}
    assert mapped_over(tasks["fit"]) == "per_size__fanout"  # first step of the inner body
    assert mapped_over(tasks["score"]) == "fit"  # 1:1 chaining inside a body
    assert mapped_over(tasks["best_rate"]) == "start"  # a join maps over its depth's ids
    assert upstream(dag)["best_rate"] == {"score", "start"}
    assert upstream(dag)["best_size"] == {"best_rate"}  # depth 0 again: a plain task
    assert tasks["fit"].partial_kwargs["map_index_template"] == "{{ label }}"
    assert tasks["fit"].partial_kwargs["doc_md"].startswith("A stand-in for training")


def test_branches_inside_a_nested_foreach_map_over_the_right_task_ids():
    dag = load_module(SHARED_FLOWS / "shapes_flow.py").ShapesFlow.to_dag()
    tasks = {t.task_id: t for t in dag.tasks}
    assert mapped_over(tasks["per_inner"]) == "per_outer__fanout"
    assert mapped_over(tasks["per_inner_2"]) == "per_inner"
    assert mapped_over(tasks["inner_join"]) == "start"
    assert mapped_over(tasks["left"]) == "inner_join"
    assert mapped_over(tasks["right"]) == "inner_join"
    assert mapped_over(tasks["sides"]) == "start"
    assert upstream(dag)["sides"] == {"left", "right", "start"}
    assert not tasks["outer_join"].is_mapped
    assert upstream(dag)["outer_join"] == {"sides"}


def test_parameters_become_typed_params_for_the_trigger_form():
    dag = load_module(SHARED_FLOWS / "params_flow.py").ParamsFlow.to_dag()
    schema = {name: dag.params.get_param(name).schema for name in dag.params}
    assert schema["name"] == {"type": "string"}
    assert schema["count"] == {"type": "integer"}
    assert schema["ratio"] == {"type": "number"}
    assert schema["loud"] == {"type": "boolean"}
    assert "object" in schema["config"]["type"] and "array" in schema["config"]["type"]
    assert schema["notes"] == {"type": "string"}  # an IncludeFile is its path
    assert dag.params["count"] == 2
    assert dag.params.get_param("name").description == "who to greet"
    assert not dag.params.get_param("token").has_value  # required, no default
    assert dag.schedule is None


def test_a_required_parameter_without_default_cannot_be_scheduled():
    flow = load_module(SHARED_FLOWS / "params_flow.py").ParamsFlow
    with pytest.raises(FlowDefinitionError, match=r"parameter \*token\* is required"):
        flow.to_dag(schedule="@daily")


class DecoratedFlow(FlowSpec):
    """Decorators that become task settings."""

    label = Parameter("label", help="optional, no default")

    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.train, foreach="items")

    @timeout(minutes=2)
    @retry(times=3, minutes_between_retries=1.5)
    @step
    def train(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_retry_timeout_and_concurrency_become_task_settings():
    from provider.operators.base import TIMEOUT_MARGIN_SECONDS

    dag = DecoratedFlow.to_dag(max_active_tasks=8, step_concurrency={"train": 4, "end": 1})
    train = dag.get_task("train")
    assert train.is_mapped
    assert train.partial_kwargs["retries"] == 3
    assert train.partial_kwargs["retry_delay"] == timedelta(seconds=90)
    # the runtime enforces @timeout; Airflow's execution_timeout is a safety net behind it
    assert train.partial_kwargs["execution_timeout"] == timedelta(
        minutes=2, seconds=TIMEOUT_MARGIN_SECONDS
    )
    assert train.partial_kwargs["max_active_tis_per_dagrun"] == 4
    assert dag.get_task("end").max_active_tis_per_dagrun == 1
    assert dag.get_task("start").retries == 0
    assert dag.get_task("start").execution_timeout is None
    assert dag.max_active_tasks == 8
    assert dag.params.get_param("label").schema == {"type": ["string", "null"]}
    assert dag.params.validate() == {"label": None}


def test_step_concurrency_must_name_a_step():
    with pytest.raises(FlowDefinitionError, match=r"names step \*trian\*.*start, train"):
        DecoratedFlow.to_dag(step_concurrency={"trian": 2})


@schedule(cron="0 3 * * *", timezone="Europe/Paris")
class ScheduledFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_the_schedule_decorator_gives_the_dag_schedule_unless_one_is_passed():
    dag = ScheduledFlow.to_dag()
    assert dag.schedule == "0 3 * * *"
    assert str(dag.timezone.name) == "Europe/Paris"
    assert ScheduledFlow.to_dag(schedule="@hourly", dag_id="other").schedule == "@hourly"


def test_every_example_is_found_by_dag_discovery_safe_mode():
    from airflow.utils.file import might_contain_dag_via_default_heuristic

    for path in sorted(DAGS.glob("*.py")):
        assert might_contain_dag_via_default_heuristic(str(path)), path.name


#: a flow whose foreach is never joined (shared with the UI tests' DAGs folder)
BROKEN = REPO / "tests" / "e2e" / "e2e_flows" / "unjoined_flow.py"


def test_an_invalid_flow_fails_to_dag_with_the_local_message_and_is_an_import_error(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    path = tmp_path / "unjoined.py"
    shutil.copy(BROKEN, path)
    local = subprocess.run(
        [sys.executable, str(path), "check"], capture_output=True, text=True, timeout=60
    )
    assert local.returncode == 1
    message = local.stderr.strip().removeprefix("Error: ")
    assert "never joined" in message
    with pytest.raises(FlowDefinitionError) as raised:
        load_module(path)
    assert str(raised.value) == message
    bag = DagBag(dag_folder=str(tmp_path), bundle_path=tmp_path, bundle_name="broken")
    assert not bag.dags
    assert message in bag.import_errors["unjoined.py"]


def test_steps_say_where_they_want_to_run_and_local_override_keeps_them_here(monkeypatch):
    from provider.dag import step_placement

    graph = load_module(DAGS / "mixed_compute.py").MixedComputeFlow.graph()
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    where = {n.name: step_placement(n) for n in graph}
    assert where == {"start": "local", "featurize": "kubernetes", "train": "batch", "end": "local"}
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "true")
    assert {step_placement(n) for n in graph} == {"local"}
    monkeypatch.delenv("AIRSTEP_LOCAL_OVERRIDE")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__LOCAL_OVERRIDE", "True")  # [airstep] local_override
    assert {step_placement(n) for n in graph} == {"local"}


def test_the_datastore_root_comes_from_airflow_config_when_set(monkeypatch, tmp_path):
    import os

    dag = compiled("hello")
    operator = dag.get_task("start")
    assert operator.datastore().root == os.path.abspath(os.environ["AIRSTEP_DATASTORE_ROOT"])
    monkeypatch.setenv("AIRFLOW__AIRSTEP__DATASTORE_ROOT", str(tmp_path))
    assert operator.datastore().root == str(tmp_path)


def test_the_fanout_task_chunks_a_wide_list_and_refuses_one_wider_than_every_chunk(monkeypatch):
    from provider.operators import ForeachFanoutOperator

    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "4")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "2")  # at most 2 chunks of 4
    fanout = ForeachFanoutOperator(
        task_id="per_size__fanout", split_step="per_size", child_lists=[["0.0", "0.1"]]
    )
    assert fanout.execute({}) == ["0.0", "0.1"]  # narrow: one task instance per task id
    fanout.child_lists = [["0.0", "0.1", "0.2"], ["1.0", "1.1"]]
    assert fanout.execute({}) == [["0.0", "0.1", "0.2"], ["1.0", "1.1"]]
    fanout.child_lists = [["0.0", "0.1", "0.2", "0.3", "0.4"], ["1.0", "1.1", "1.2", "1.3"]]
    with pytest.raises(ForeachError) as raised:
        fanout.execute({})
    assert str(raised.value) == (
        "Foreach in step *per_size* yielded 9 child steps in total (over its 2 tasks), more "
        "than the maximum of 8. A foreach is split into at most [airstep] max_map_tasks chunks "
        "of at most [core] max_map_length items each: raise either "
        "(AIRFLOW__AIRSTEP__MAX_MAP_TASKS, AIRFLOW__CORE__MAX_MAP_LENGTH), or give each item a "
        "batch of several inputs."
    )


def test_chunk_labels_name_the_items_range():
    from provider.operators.pointers import chunk_label

    graph = load_module(DAGS / "nested_foreach.py").NestedForeachFlow.graph()
    assert chunk_label(graph, "per_size", ["3", "4", "5"]) == "size_list[3:6]"
    assert chunk_label(graph, "fit", ["2.0", "2.1"]) == "size_list[2], rates[0:2]"
    assert chunk_label(graph, "fit", ["0.1", "1.0"]) == "rates: 2 items, tasks 0.1 to 1.0"
