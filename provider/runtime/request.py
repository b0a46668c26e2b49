"""Which task to run: what every executor hands to :func:`provider.runtime.run.run_task`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provider.flow.distributed import GangNode

#: the widest foreach a task may yield unless its executor says otherwise
DEFAULT_MAX_NUM_SPLITS = 100


@dataclass
class TaskRequest:
    """Which task to run: deterministic from (run, step, index path) plus the attempt."""

    run_id: str
    step: str
    task_id: str = "0"
    attempt: int = 0
    #: raw parameter values for the start task (strings or JSON values), by parameter name
    #: (``Parameter("my-words")``: "my-words"), whoever gave them; None -> defaults
    params: dict[str, Any] | None = None
    #: the widest foreach this task may yield (ForeachTooWide beyond it)
    max_num_splits: int = DEFAULT_MAX_NUM_SPLITS
    origin_run_id: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    #: for a @parallel step: the node this process runs; None runs the whole gang here
    node: GangNode | None = None
    #: whether an ``IncludeFile`` path must stay in the flow's folder: True unless the run's
    #: own user gave the parameters on their command line (a local run)
    confine_files: bool = True
    #: False when the executor reads the task's stdout and stderr itself and stores them
    #: (the local executor): the task then keeps no copy of its own, and output written just
    #: before its process is killed is not lost in a copy not yet made
    capture_output: bool = True
