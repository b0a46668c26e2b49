"""The REST API v2 of a real Airflow (``airflow standalone``): runs, mapped tasks, logs, errors.

The server, its DAGs folder (the repo's examples plus ``e2e_flows/``) and the ``api``
client come from this folder's conftest.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from airstep_testing.airflow_server import wait_for

from provider import Run

E2E_FLOWS = Path(__file__).parent / "e2e_flows"

pytestmark = [pytest.mark.slow, pytest.mark.airflow]


def test_a_run_triggered_with_conf_maps_one_task_per_item_with_its_label(api, airflow_server):
    conf = {"epochs": 4, "rates": [0.3, 0.03]}
    run_id = api.trigger("TrainSweepFlow", conf)
    run = api.wait_run("TrainSweepFlow", run_id)
    assert run["state"] == "success", run
    assert run["conf"] == conf

    listed = api.task_instances("TrainSweepFlow", run_id)
    tis = {(ti["task_id"], ti["map_index"]): ti for ti in listed}
    assert set(tis) == {
        ("start", -1),
        ("train", 0),
        ("train", 1),
        ("choose", -1),
        ("end", -1),
        ("__run_status", -1),
    }
    assert {ti["state"] for ti in tis.values()} == {"success"}
    assert tis["train", 0]["rendered_map_index"] == "learning_rates[0]=0.3"
    assert tis["train", 1]["rendered_map_index"] == "learning_rates[1]=0.03"
    assert tis["start", -1]["rendered_map_index"] is None
    # one mapped task instance by itself
    one = api.get(f"/dags/TrainSweepFlow/dagRuns/{quote(run_id, safe='')}/taskInstances/train/1")
    assert (one["map_index"], one["rendered_map_index"]) == (1, "learning_rates[1]=0.03")

    # the step's own output is in its task log
    log = api.task_log("TrainSweepFlow", run_id, "train", map_index=1)
    assert f"TrainSweepFlow/{run_id}/train/1: rate=0.03 w=" in log
    assert "best rate" in api.task_log("TrainSweepFlow", run_id, "end")

    # XCom holds pointers only: the split pushed its children's task ids
    xcom = api.get(
        f"/dags/TrainSweepFlow/dagRuns/{quote(run_id, safe='')}/taskInstances/start"
        "/xcomEntries/return_value",
        deserialize="true",
    )
    assert xcom["value"] in (["0", "1"], '["0", "1"]', "['0', '1']")

    # and the artifacts are in the datastore, readable with the client API
    run = Run(f"TrainSweepFlow/{run_id}", root=str(airflow_server.home / "datastore"))
    result = run.data
    assert result.best_rate in (0.3, 0.03)
    assert set(result.losses) == {0.3, 0.03}
    # the run's end, recorded under the scheduler as under dag.test()
    assert run.record["status"] == "ok" and run.finished and run.successful


def test_an_invalid_flow_is_an_import_error_with_the_local_message(api):
    local = subprocess.run(
        [sys.executable, str(E2E_FLOWS / "unjoined_flow.py"), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert local.returncode == 1
    message = local.stderr.strip().removeprefix("Error: ")
    assert "never joined" in message

    def import_error():
        errors = api.get("/importErrors", limit=100)["import_errors"]
        return next((e for e in errors if e["filename"].endswith("unjoined_flow.py")), None)

    error = wait_for(import_error, timeout=60, what="the import error of unjoined_flow.py")
    # the traceback ends with the exception and the very message `check` printed
    last_line = error["stack_trace"].strip().splitlines()[-1]
    assert last_line.endswith(f"Error: {message}"), last_line
    dag_ids = {d["dag_id"] for d in api.get("/dags", limit=100)["dags"]}
    assert "UnjoinedFlow" not in dag_ids
    assert "TrainSweepFlow" in dag_ids  # the valid files beside it still load


def test_a_failing_step_fails_its_task_and_its_log_shows_the_traceback(api, airflow_server):
    run_id = api.trigger("FailingStepFlow")
    run = api.wait_run("FailingStepFlow", run_id)
    assert run["state"] == "failed"
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances("FailingStepFlow", run_id)}
    assert states == {
        "start": "success",
        "check": "failed",
        "end": "upstream_failed",
        "__run_status": "failed",
    }
    recorded = Run(f"FailingStepFlow/{run_id}", root=str(airflow_server.home / "datastore"))
    assert recorded.record["status"] == "failed" and recorded.finished
    assert not recorded.successful
    assert "checking 42" in recorded["check"]["0"].stdout  # kept in the datastore too

    source = (E2E_FLOWS / "failing_step.py").read_text().splitlines()
    raise_line = 1 + next(i for i, line in enumerate(source) if "raise ValueError" in line)
    call_line = 1 + next(i for i, line in enumerate(source) if "check_threshold(self." in line)
    log = api.task_log("FailingStepFlow", run_id, "check")
    assert "checking 42" in log  # what the step printed before it raised
    assert "Traceback (most recent call last):" in log
    # the frames of the step's own code, innermost last, then the exception
    assert f'failing_step.py", line {call_line}, in check\n' in log
    assert f'failing_step.py", line {raise_line}, in check_threshold\n' in log
    assert "ValueError: value 42 is over the threshold of 10" in log
