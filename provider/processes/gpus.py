"""GPUs on this machine, handed out as a budget: tasks get disjoint ``CUDA_VISIBLE_DEVICES``."""

from __future__ import annotations

import os
import shutil
import subprocess

from provider.decorators.resolve import step_gpus
from provider.exceptions import ResourceError
from provider.flow.graph import FlowGraph
from provider.settings import whole_number


def local_gpu_count() -> int:
    """Local GPUs: ``[airstep] local_gpus`` (``$AIRSTEP_LOCAL_GPUS``), else
    ``$CUDA_VISIBLE_DEVICES``, else nvidia-smi."""
    given = whole_number("local_gpus", minimum=0)
    if given is not None:
        return given
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            return 0
    return 0


class GpuBudget:
    """The machine's GPUs, handed out to tasks: each gets its own, none is given twice."""

    def __init__(self, count: int | None = None) -> None:
        self.count = local_gpu_count() if count is None else count
        self.free = list(range(self.count))

    @classmethod
    def for_graph(cls, graph: FlowGraph) -> GpuBudget:
        """The budget, after checking that no step of ``graph`` asks for more than there are."""
        budget = cls()
        for node in graph:
            want = step_gpus(node)
            if want > budget.count:
                raise ResourceError(
                    f"Step *{node.name}* asks for {want} GPU(s) but this machine has "
                    f"{budget.count}; run the flow where GPUs exist (Airflow with @kubernetes "
                    "or @batch), or lower gpu= for local runs (AIRSTEP_LOCAL_GPUS overrides the "
                    "count)."
                )
        return budget

    def take(self, want: int) -> list[int] | None:
        """``want`` free GPUs, now taken; None if fewer are free (nothing is taken)."""
        if len(self.free) < want:
            return None
        taken, self.free = self.free[:want], self.free[want:]
        return taken

    def give_back(self, gpus: list[int]) -> None:
        self.free.extend(gpus)
