"""Distributed steps run locally: ``python gang_flow.py run``, a gang of node processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import FLOWS, alive, require_torch, run_flow

from provider import Flow, Task

pytestmark = pytest.mark.slow


def wait_for_files(folder: Path, names: set[str], timeout: float = 30) -> dict[str, int]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = {p.name for p in folder.iterdir() if p.stat().st_size}
        if names <= found:
            return {name: int((folder / name).read_text()) for name in names}
        time.sleep(0.05)
    raise AssertionError(f"only {sorted(found)} of {sorted(names)} appeared in {folder}")


def pids_in(folder: Path) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in folder.iterdir()}


def test_nodes_meet_at_the_main_address_and_the_join_sees_them_in_node_order(datastore):
    # one worker at a time: a gang is one unit, so it cannot wait for itself
    proc = run_flow("gang_flow.py", "run", "--nodes", "3", "--max-workers", "1")
    assert proc.returncode == 0, proc.stderr
    run = Flow("GangFlow").latest_run
    join = run["join"].task.data
    assert join.ranks == [0, 1, 2]
    assert join.seen == [[0, 1, 2]] * 3  # every node reached node 0 through MASTER_PORT
    assert join.parallels == [("127.0.0.1", 3, i, "0") for i in range(3)]
    assert join.envs == [
        {
            "MASTER_ADDR": "127.0.0.1",
            "WORLD_SIZE": "3",
            "NODE_RANK": str(i),
            "RANK": str(i),
            "PET_NNODES": "3",
            "PET_NODE_RANK": str(i),
        }
        for i in range(3)
    ]
    assert join.items == [(0, 0), (1, 1), (2, 2)]  # self.input and self.index: the node index
    assert join.flags == [True] * 3
    assert join.greetings == ["hello"] * 3  # nodes inherit the split's artifacts
    assert run.data.outside == (("127.0.0.1", 1, 0, None), False)
    # the client shows one task per node; each keeps its own output
    assert [t.id for t in run["train"]] == ["0", "1", "2"]
    assert "node 2 of 3 meets the others" in run["train"]["2"].stdout
    assert "node 1" not in run["train"]["2"].stdout
    for index in range(3):
        assert f"] [node {index}] node {index} of 3 meets the others" in proc.stdout


def test_one_gang_per_foreach_item(datastore):
    proc = run_flow("gang_flow.py", "run", "--nodes", "1")
    assert proc.returncode == 0, proc.stderr
    run = Flow("GangFlow").latest_run
    assert run.data.all_nodes == [
        [("a", 0, "0.0", "0.0"), ("a", 1, "0.0", "0.1")],
        [("b", 0, "1.0", "1.0"), ("b", 1, "1.0", "1.1")],
    ]
    assert run.data.all_seen == [[[0, 1], [0, 1]]] * 2  # each gang met at its own port
    assert [t.id for t in run["pair"]] == ["0.0", "0.1", "1.0", "1.1"]
    assert run["pair"]["1.1"].data.stack == [(1, 2, "b"), (1, 2, 1)]
    started = r"\[pair/1\.0 \(pid \d+\)\] Gang of step pair: 2 node\(s\), forked; main 127"
    assert re.search(started, proc.stderr)


def test_a_failing_node_stops_the_gang_within_seconds_and_leaves_nothing_running(
    datastore, tmp_path
):
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {"GANG_FAIL_NODE": "1", "GANG_PID_DIR": str(pids), "GANG_STUBBORN_ATTEMPT": "1"}
    started = time.monotonic()
    proc = run_flow("gang_flow.py", "run", env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    # attempt 0: the others stop at SIGTERM; attempt 1: node 2 ignores it and is killed
    # after the grace period (5 s); the nodes would otherwise wait for 300 s
    assert elapsed < 30, proc.stderr
    run = Flow("GangFlow").latest_run
    message = (
        f"Step *train* failed: node 1 of 3 (task GangFlow/{run.id}/train/1) exited with status "
        "1 (RuntimeError: node 1 breaks on attempt 1); the other nodes were stopped."
    )
    assert f"Step *train* failed in task GangFlow/{run.id}/train/0 after 2 attempt(s)" in (
        proc.stderr
    )
    assert message in proc.stderr
    assert "RuntimeError: node 1 breaks on attempt 1" in proc.stderr  # node 1's traceback
    found = pids_in(pids)
    assert sorted(found) == ["0-0", "0-0-child", "0-1", "0-2", "1-0", "1-0-child", "1-1", "1-2"]
    assert not [name for name, pid in found.items() if alive(pid)]
    # the control task's attempts say why the gang failed; a killed node's attempt is closed
    attempts = Task(f"GangFlow/{run.id}/train/0").attempts
    assert [(a["status"], a["exception"]) for a in attempts] == [("failed", "GangFailed")] * 2
    assert attempts[1]["message"] == message
    stubborn = Task(f"GangFlow/{run.id}/train/2").attempts[1]
    assert (stubborn["status"], stubborn["message"]) == (
        "failed",
        "Node 2 of step *train* was killed by SIGKILL.",
    )


def test_a_retry_runs_the_whole_gang_again(datastore):
    proc = run_flow("gang_flow.py", "run", env={"GANG_FAIL_NODE": "1", "GANG_FAIL_ATTEMPTS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "[train/0] attempt 1 of 2 failed; retrying now." in proc.stderr
    run = Flow("GangFlow").latest_run
    assert run["join"].task.data.attempts == [1, 1, 1]
    for task in run["train"]:
        assert [a["status"] for a in task.attempts] == ["failed", "ok"]
        assert task.current_attempt == 1


def test_resume_reuses_a_finished_gang_as_a_whole(datastore):
    failed = run_flow("gang_flow.py", "run", env={"GANG_FAIL_END": "1"})
    assert failed.returncode == 1
    proc = run_flow("gang_flow.py", "resume")
    assert proc.returncode == 0, proc.stderr
    for task in ("train/0", "train/1", "train/2", "pair/1.1"):
        assert f"[{task}] reused from run" in proc.stderr
    assert "Gang of step" not in proc.stderr
    assert Flow("GangFlow").latest_run.successful


def test_num_parallel_from_a_parameter_is_checked_when_the_step_runs(datastore):
    proc = run_flow("gang_flow.py", "run", "--nodes", "0")
    assert proc.returncode == 1
    assert (
        "Step *start* gives num_parallel=0 (self.nodes); a gang needs at least one node: give "
        "a whole number from 1 to 64." in proc.stderr
    )
    # Metaflow's class for a bad transition: `except InvalidNextException` catches it
    start = Flow("GangFlow").latest_run["start"].task
    assert start.exception.type == "provider.exceptions.InvalidNextException"
    proc = run_flow("gang_flow.py", "run", "--nodes", "3", env={"AIRSTEP_MAX_NUM_PARALLEL": "2"})
    assert proc.returncode == 1
    assert (
        "Step *start* gives num_parallel=3 (self.nodes); that is more than the maximum of 2 "
        "nodes; lower it, or raise the maximum with --max-num-parallel (or "
        "AIRSTEP_MAX_NUM_PARALLEL)." in proc.stderr
    )
    proc = run_flow(
        "gang_flow.py",
        "run",
        "--nodes",
        "3",
        "--max-num-parallel",
        "3",
        env={"AIRSTEP_MAX_NUM_PARALLEL": "2"},
    )
    assert proc.returncode == 0, proc.stderr


def test_killing_the_gang_process_or_the_run_leaves_no_node_running(datastore, tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "GANG_HOLD": "1", "GANG_PID_DIR": str(pids)}
    proc = subprocess.Popen(
        [sys.executable, str(FLOWS / "gang_flow.py"), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = wait_for_files(pids, {"0-0", "0-0-child", "0-1", "0-2"})
        with open(f"/proc/{first['0-1']}/stat") as f:
            gang_process = int(f.read().rsplit(")", 1)[1].split()[1])  # the nodes' parent
        os.kill(gang_process, signal.SIGKILL)
        deadline = time.time() + 5
        while any(alive(pid) for pid in first.values()) and time.time() < deadline:
            time.sleep(0.05)
        assert not [name for name, pid in first.items() if alive(pid)]
        # @retry starts the gang again; Ctrl-C then stops the run and every node
        second = wait_for_files(pids, {"1-0", "1-0-child", "1-1", "1-2"})
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert not [name for name, pid in second.items() if alive(pid)]
    finally:
        proc.kill()
        proc.communicate()


def test_torch_all_reduce_across_a_gang_and_torchrun_on_every_node(datastore):
    require_torch()
    proc = run_flow("torch_gang_flow.py", "run", timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = Flow("TorchGangFlow").latest_run
    # one process per node: ranks 0..2 of a world of 3, each adding rank + 1
    assert run["gather"].task.data.reduced == [(0, 3, 6.0), (1, 3, 6.0), (2, 3, 6.0)]
    # torchrun with 2 processes on each of 2 nodes: a world of 4
    launched = run["collect"].task.data.launched
    assert [[(w["rank"], w["node"], w["local_rank"]) for w in node] for node in launched] == [
        [(0, 0, 0), (1, 0, 1)],
        [(2, 1, 0), (3, 1, 1)],
    ]
    assert {(w["world"], w["total"]) for node in launched for w in node} == {(4, 10.0)}


def test_each_node_gets_its_own_gpus_and_a_gang_short_of_gpus_fails(datastore):
    proc = run_flow("gang_gpu_flow.py", "run", env={"AIRSTEP_LOCAL_GPUS": "4"})
    assert proc.returncode == 0, proc.stderr
    devices = dict(Flow("GangGpuFlow").latest_run.data.devices)
    assert sorted(devices) == ["0.0", "0.1", "1.0", "1.1"]
    assert sorted(devices.values()) == ["0", "1", "2", "3"]  # no device given twice
    assert {devices["0.0"], devices["0.1"]} in ({"0", "1"}, {"2", "3"})  # a gang's own share
    proc = run_flow("gang_gpu_flow.py", "run", env={"AIRSTEP_LOCAL_GPUS": "1"})
    assert proc.returncode == 1
    assert (
        "Step *train* asks for 1 GPU(s) on each of its 2 nodes, but 1 are available here; use "
        "fewer nodes or GPUs per node, or run the step where there are more GPUs." in proc.stderr
    )
