"""``current.torch.run``: torchrun across the nodes of a gang, with no arguments to work out.

It runs ``python -m torch.distributed.run`` (torchrun) with ``--nnodes``,
``--node_rank``, ``--master_addr`` and ``--master_port`` of the node the step runs
on (``--standalone`` outside a @parallel step) and ``--nproc_per_node`` as asked,
in the Python that runs the step; its output is the step's output. airstep
never imports torch: the step's environment must have it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from provider.exceptions import StepError
from provider.flow.distributed import GangNode

Args = Sequence[str] | Mapping[str, Any] | None


class TorchRun:
    """``current.torch``: see :meth:`run`."""

    def __init__(self, node: GangNode | None, step: str | None) -> None:
        self._node = node
        self._step = step or "?"

    def command(
        self,
        entrypoint: str,
        args: Args = None,
        *,
        nproc_per_node: int | str = 1,
        module: bool = False,
        torchrun_args: Sequence[str] = (),
    ) -> list[str]:
        """The torchrun command line :meth:`run` runs."""
        node = self._node
        cmd = [sys.executable, "-m", "torch.distributed.run"]
        if node is None:
            cmd.append("--standalone")
        else:
            cmd += [
                f"--nnodes={node.num_nodes}",
                f"--node_rank={node.index}",
                f"--master_addr={node.main_addr}",
                f"--master_port={node.main_port}",
            ]
        cmd += [f"--nproc_per_node={nproc_per_node}", *torchrun_args]
        if module:
            cmd.append("--module")
        return [*cmd, entrypoint, *_script_args(args)]

    def run(
        self,
        entrypoint: str,
        args: Args = None,
        *,
        nproc_per_node: int | str = 1,
        module: bool = False,
        torchrun_args: Sequence[str] = (),
        entrypoint_args: Args = None,
    ) -> None:
        """Run ``entrypoint`` (a script, or a module with ``module=True``) under torchrun.

        :param args: the script's arguments: a list, or a dict turned into
            ``--key value`` (``True`` gives ``--key``; ``False`` and ``None`` are left out).
        :param nproc_per_node: processes on each node (e.g. one per GPU, or "gpu").
        :param torchrun_args: more torchrun options, e.g. ``["--max_restarts=0"]``.
        :param entrypoint_args: the same as ``args`` (the name Metaflow's torchrun uses).
        :raises StepError: when torchrun exits with a non-zero status.
        """
        cmd = self.command(
            entrypoint,
            args if args is not None else entrypoint_args,
            nproc_per_node=nproc_per_node,
            module=module,
            torchrun_args=torchrun_args,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        code = subprocess.run(cmd, check=False).returncode
        if code != 0:
            where = f"node {self._node.index}" if self._node else "this node"
            raise StepError(
                f"torchrun in step *{self._step}* ({where}) exited with status {code}; its "
                f"output above says why. The command was: {shlex.join(cmd)}"
            )


def _script_args(args: Args) -> list[str]:
    if args is None:
        return []
    if isinstance(args, str):
        raise TypeError(f"args={args!r} is a string; give a list of arguments or a dict.")
    if not isinstance(args, Mapping):
        return [str(a) for a in args]
    found: list[str] = []
    for key, value in args.items():
        if value is None or value is False:
            continue
        found.append(f"--{key}")
        if value is not True:
            found.append(str(value))
    return found
