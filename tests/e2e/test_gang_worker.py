"""A distributed step in a real Airflow worker (the LocalExecutor's task process)."""

from __future__ import annotations

import pytest
from helpers import require_torch

from provider import Run

pytestmark = [pytest.mark.slow, pytest.mark.airflow]


def test_the_distributed_training_example_runs_its_gang_in_the_worker(api, airflow_server):
    require_torch()
    run_id = api.trigger("DistributedTrainingFlow")
    run = api.wait_run("DistributedTrainingFlow", run_id, timeout=300)
    assert run["state"] == "success", api.task_log("DistributedTrainingFlow", run_id, "train")
    log = api.task_log("DistributedTrainingFlow", run_id, "train")
    # the worker's task process runs no other thread: its nodes are forked
    assert "Gang of step train: 2 node(s), forked; main 127.0.0.1:" in log
    for node in (0, 1):
        assert f"[node {node}] node {node}: y = " in log
    result = Run(f"DistributedTrainingFlow/{run_id}", root=str(airflow_server.home / "datastore"))
    assert result.data.in_sync is True
    assert [t.id for t in result["train"]] == ["0", "1"]
