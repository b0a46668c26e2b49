"""GPUs on this machine, handed out as a budget: tasks get disjoint ``CUDA_VISIBLE_DEVICES``."""

from __future__ import annotations

import os
import shutil
import subprocess

from provider.decorators.resolve import step_gpus
from provider.exceptions import ResourceError
from provider.flow.graph import FlowGraph


def local_gpu_count() -> int:
    """Local GPUs: ``$AIRSTEP_LOCAL_GPUS``, else ``$CUDA_VISIBLE_DEVICES``, else nvidia-smi."""
    if os.environ.get("AIRSTEP_LOCAL_GPUS"):
        return int(os.environ["AIRSTEP_LOCAL_GPUS"])
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


def gpu_budget(graph: FlowGraph) -> list[int]:
    """The local GPU indices, after checking that no step asks for more than there are."""
    have = local_gpu_count()
    for node in graph:
        want = step_gpus(node)
        if want > have:
            raise ResourceError(
                f"Step *{node.name}* asks for {want} GPU(s) but this machine has {have}; "
                "run the flow where GPUs exist (Airflow with @kubernetes or @batch), or "
                "lower gpu= for local runs (AIRSTEP_LOCAL_GPUS overrides the count)."
            )
    return list(range(have))
