"""The contract of a gang's remote nodes: N ``python -m provider.runtime`` processes, each one node.

A Kubernetes Indexed Job or an AWS Batch multi-node job runs the same command in every
node; the node index (and on Batch the node count and the main address) come from the
platform's variables or from arguments. Here the N processes run on this machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from provider import Flow

FLOW = Path(__file__).resolve().parents[1] / "flows" / "gang_flow.py"
pytestmark = pytest.mark.slow


def runtime(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "provider.runtime", "--flow-file", str(FLOW), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finished(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_run(run_id: str, nodes: int) -> None:
    code, output = finished(
        runtime("--run-id", run_id, "--step", "start", "--params-json", f'{{"nodes": {nodes}}}')
    )
    assert code == 0, output


def join_ranks(run_id: str) -> list[int]:
    code, output = finished(runtime("--run-id", run_id, "--step", "join"))
    assert code == 0, output
    return Flow("GangFlow")[run_id]["join"].task.data.ranks


def test_n_runtime_processes_given_their_node_index_form_a_gang(datastore):
    start_run("r1", nodes=3)
    port = str(free_port())
    nodes = [
        runtime(
            "--run-id",
            "r1",
            "--step",
            "train",
            "--task-id",
            "0",
            "--node-index",
            str(i),
            "--num-nodes",
            "3",
            "--main-addr",
            "127.0.0.1",
            "--main-port",
            port,
        )  # fmt: skip
        for i in range(3)
    ]
    for node in nodes:
        code, output = finished(node)
        assert code == 0, output
    assert join_ranks("r1") == [0, 1, 2]
    train = Flow("GangFlow")["r1"]["train"]
    assert [t.data.seen for t in train] == [[0, 1, 2]] * 3
    assert train["2"].data.env["MASTER_ADDR"] == "127.0.0.1"
    assert train["1"].data.parallel == ("127.0.0.1", 3, 1, "0")


def test_the_node_comes_from_the_platform_variables(datastore):
    start_run("r2", nodes=2)
    port = str(free_port())
    common = ["--run-id", "r2", "--step", "train", "--task-id", "0", "--main-port", port]
    # a Kubernetes Indexed Job: the index from JOB_COMPLETION_INDEX, node 0's address given
    k8s = [
        runtime(*common, "--main-addr", "127.0.0.1", env={"JOB_COMPLETION_INDEX": str(i)})
        for i in range(2)
    ]
    for node in k8s:
        code, output = finished(node)
        assert code == 0, output
    assert join_ranks("r2") == [0, 1]

    start_run("r3", nodes=2)
    common = ["--run-id", "r3", "--step", "train", "--task-id", "0", "--main-port", port]
    # AWS Batch multi-node: index, size and (on the other nodes) the main node's address
    batch = {"AWS_BATCH_JOB_NUM_NODES": "2", "AWS_BATCH_JOB_MAIN_NODE_INDEX": "0"}
    main = runtime(*common, env={**batch, "AWS_BATCH_JOB_NODE_INDEX": "0"})
    other = runtime(
        *common,
        env={
            **batch,
            "AWS_BATCH_JOB_NODE_INDEX": "1",
            "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS": socket.gethostbyname(
                socket.gethostname()
            ),
        },
    )
    for node in (main, other):
        code, output = finished(node)
        assert code == 0, output
    assert join_ranks("r3") == [0, 1]


def test_a_node_started_with_the_wrong_gang_is_refused(datastore):
    start_run("r4", nodes=2)
    train = ["--run-id", "r4", "--step", "train", "--task-id", "0"]
    code, output = finished(runtime(*train, "--node-index", "0", "--num-nodes", "3"))
    assert code == 1
    assert (
        "Step *train* was started on 3 nodes, but step *start* asked for num_parallel=2; start "
        "the gang with 2 nodes." in output
    )
    code, output = finished(runtime(*train, "--node-index", "2"))
    assert code == 1
    assert "Node index 2 is out of range for step *train*, whose gang has 2 node(s)" in output
    code, output = finished(runtime(*train, "--node-index", "1"))
    assert code == 1
    assert "does not know where the main node is; give --main-addr" in output
    code, output = finished(runtime(*train[:-1], "1", "--node-index", "1"))
    assert code == 1
    assert "a gang is started by the id of its node 0, '0'" in output
    code, output = finished(runtime("--run-id", "r4", "--step", "join", "--node-index", "0"))
    assert code == 1
    assert "Step *join* was started as a node of a gang, but it has no @parallel" in output


def test_without_a_node_index_the_whole_gang_runs_in_one_process(datastore):
    start_run("r5", nodes=3)
    code, output = finished(runtime("--run-id", "r5", "--step", "train", "--task-id", "0"))
    assert code == 0, output
    assert "[node 2] node 2 of 3 meets the others" in output
    assert join_ranks("r5") == [0, 1, 2]
