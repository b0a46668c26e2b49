"""What a gang's node is told: ``current.parallel``, its environment, the torchrun command."""

from __future__ import annotations

import sys

import pytest

from provider import current
from provider.flow.distributed import GangNode
from provider.flow.torchrun import TorchRun

NODE = GangNode(index=1, num_nodes=4, main_addr="10.0.0.5", main_port=29500, control_task_id="3.0")


def test_a_node_gets_the_variables_frameworks_read() -> None:
    assert NODE.environment() == {
        "MASTER_ADDR": "10.0.0.5",
        "MASTER_PORT": "29500",
        "WORLD_SIZE": "4",
        "NODE_RANK": "1",
        "RANK": "1",
        "LOCAL_RANK": "0",
        "PET_NNODES": "4",
        "PET_NODE_RANK": "1",
        "PET_MASTER_ADDR": "10.0.0.5",
        "PET_MASTER_PORT": "29500",
        "MF_PARALLEL_MAIN_IP": "10.0.0.5",
        "MF_PARALLEL_NUM_NODES": "4",
        "MF_PARALLEL_NODE_INDEX": "1",
        "MF_PARALLEL_CONTROL_TASK_ID": "3.0",
    }
    assert NODE.parallel == ("10.0.0.5", 4, 1, "3.0")
    assert NODE.parallel.control_task_id == "3.0"


def test_outside_a_gang_current_is_a_single_node() -> None:
    assert current.parallel == ("127.0.0.1", 1, 0, None)
    assert current.parallel.num_nodes == 1
    assert current.is_parallel is False


def test_torchrun_gets_the_gang_and_the_scripts_arguments() -> None:
    command = TorchRun(NODE, "train").command(
        "train.py", {"epochs": 3, "fast": True, "slow": False, "name": None}, nproc_per_node=8
    )
    assert command == [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes=4", "--node_rank=1", "--master_addr=10.0.0.5", "--master_port=29500",
        "--nproc_per_node=8", "train.py", "--epochs", "3", "--fast",
    ]  # fmt: skip
    alone = TorchRun(None, "train").command(
        "pkg.train", ["--lr", 0.1], module=True, torchrun_args=["--max_restarts=0"]
    )
    assert alone == [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node=1", "--max_restarts=0", "--module", "pkg.train", "--lr", "0.1",
    ]  # fmt: skip
    with pytest.raises(TypeError, match="is a string; give a list of arguments or a dict"):
        TorchRun(None, "train").command("train.py", "--lr 0.1")


@pytest.mark.slow
def test_a_failing_torchrun_fails_the_step_naming_the_node(tmp_path) -> None:
    from helpers import require_torch

    from provider.exceptions import StepError

    require_torch()
    script = tmp_path / "broken.py"
    script.write_text("raise SystemExit(3)\n")
    with pytest.raises(StepError) as raised:
        TorchRun(None, "train").run(str(script))
    assert str(raised.value).startswith(
        "torchrun in step *train* (this node) exited with status 1; its output above says why. "
        f"The command was: {sys.executable} -m torch.distributed.run --standalone"
    )
