"""User-defined decorators under ``dag.test()``: the wrappers run in the Airflow task, the
mutators' decorators and parameters reach the DAG."""

from __future__ import annotations

import pytest
from dagrun_helpers import SHARED_FLOWS, end_artifacts, load_module, states, sync_dag

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_wrappers_and_mutators_work_under_airflow(airflow_db):
    module = load_module(SHARED_FLOWS / "compat" / "user_decorators_flow.py")
    dag = module.UserDecoratorsFlow.to_dag()
    assert "knob" in dag.params  # the FlowMutator's parameter is a DAG Param
    assert dag.get_task("bundled").retries == 1  # the StepMutator's @retry
    sync_dag(dag)
    run = dag.test(run_conf={"knob": 7})
    assert run.state == "success", states(run)
    data = end_artifacts("UserDecoratorsFlow", run.run_id)
    assert data["knob_seen"] == 7
    assert (data["before"], data["after"], data["tag_seen"]) == (
        "before start",
        "after start",
        "hello",
    )
    assert data["swallowed"] == "swallowed by the wrapper"
    assert data["skip_reason"] == "skipped by a wrapper" and "never" not in data
    assert data["replaced"] == "ran the replacement" and "never_either" not in data
    assert (data["bundle_mode"], data["from_mutator"]) == ("fast", "yes")
