"""``@project`` and configs under Airflow: the DAG id carries the project and branch, so two
branches of one flow deploy side by side; configs are read when the DAG file is parsed and
shown on the DAG's page; the tasks see the DAG's branch and the config's values."""

from __future__ import annotations

import pendulum
import pytest
from dagrun_helpers import SHARED_FLOWS, load_module, states, sync_dag

from provider import Flow, Run, default_namespace, namespace
from provider.exceptions import FlowDefinitionError

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

FEATURES = SHARED_FLOWS / "compat" / "features_flow.py"


@pytest.fixture(scope="module")
def features_flow():
    return load_module(FEATURES).FeaturesFlow


def test_two_branches_deploy_side_by_side_and_their_tasks_name_their_branch(
    airflow_db, datastore, features_flow, monkeypatch
):
    monkeypatch.setenv("USER", "ada")
    monkeypatch.delenv("METAFLOW_USER", raising=False)
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.delenv("USERNAME", raising=False)
    feature = features_flow.to_dag(branch="feat")
    prod = features_flow.to_dag(production=True)
    mine = features_flow.to_dag()
    assert feature.dag_id == "compat_demo.test.feat.FeaturesFlow"
    assert prod.dag_id == "compat_demo.prod.FeaturesFlow"
    assert mine.dag_id == "compat_demo.user.ada.FeaturesFlow"
    assert {"project:compat_demo", "project_branch:test.feat"} <= set(feature.tags)
    # the config, as it was read at parse time, is on the DAG's page; it is not a Param
    assert '"name": "m1"' in feature.doc_md and "`cfg`" in feature.doc_md
    assert "branch `test.feat`" in feature.doc_md
    assert "cfg" not in feature.params

    for dag, project in (
        (feature, ["compat_demo", "test.feat", False, "compat_demo.test.feat.FeaturesFlow"]),
        (prod, ["compat_demo", "prod", True, "compat_demo.prod.FeaturesFlow"]),
    ):
        sync_dag(dag)
        dag_run = dag.test()
        assert dag_run.state == "success", states(dag_run)
        end = Run(f"FeaturesFlow/{dag.dag_id}@{dag_run.run_id}")["end"].task.data
        assert end.project == project
        # configs in steps and in decorator arguments, as in a local run
        assert (end.greeting, end.model_name) == ("hello from the config", "m1")
        assert end.chars == ["a", "b", "c"]
        assert end.unhandled == ["char"] and end.missing == ["nope"]
        assert end.constant_error[0] == "AttributeError"
        assert (end.count, end.given) == (1, "default")  # the DAG's Params, not the environment


def test_two_branches_on_one_schedule_keep_their_runs_apart(
    airflow_db, datastore, features_flow, monkeypatch
):
    """Airflow's run ids are unique within a DAG only: two branches scheduled at the same time
    get the same one. Each DAG's run is its own, with its own results."""
    monkeypatch.setenv("USER", "ada")
    when = pendulum.datetime(2025, 1, 1, tz="UTC")
    made = {}
    for dag in (features_flow.to_dag(production=True), features_flow.to_dag(branch="alice")):
        sync_dag(dag)
        dag_run = dag.test(run_after=when, logical_date=when, run_conf={"given": dag.dag_id})
        assert dag_run.state == "success", states(dag_run)
        made[dag.dag_id] = dag_run.run_id
    assert len(set(made.values())) == 1  # one Airflow run id for both DAGs

    namespace(None)
    try:
        runs = {run.id: run for run in Flow("FeaturesFlow").runs()}
        for dag_id, airflow_run_id in made.items():
            run = runs[f"{dag_id}@{airflow_run_id}"]
            assert run.successful and run["end"].task.data.given == dag_id
            assert run.record["dag_id"] == dag_id
        prod = runs[f"compat_demo.prod.FeaturesFlow@{made['compat_demo.prod.FeaturesFlow']}"]
        assert {"project:compat_demo", "project_branch:prod", "runtime:airflow"} <= prod.tags
        namespace("project_branch:test.alice")
        assert [r.id for r in Flow("FeaturesFlow").runs()] == [
            f"compat_demo.test.alice.FeaturesFlow@{made['compat_demo.test.alice.FeaturesFlow']}"
        ]
    finally:
        default_namespace()


def test_to_dag_refuses_a_branch_for_a_flow_without_project(airflow_db):
    flow = load_module(SHARED_FLOWS / "compat" / "nested_flow.py").NestedFlow
    with pytest.raises(FlowDefinitionError, match=r"has no @project, so to_dag\(branch='x'"):
        flow.to_dag(branch="x")
