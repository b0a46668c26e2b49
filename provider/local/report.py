"""What a local run says: its progress line and the report of a failed task."""

from __future__ import annotations

from collections import Counter

from provider.datastore.records import AttemptRecord
from provider.flow.graph import FlowGraph
from provider.processes.spawn import TaskProcess

#: how a local run raises the limit that ForeachTooWide names
SPLIT_LIMIT_FIX = "Raise it with --max-num-splits."


def progress_line(
    graph: FlowGraph,
    finished: Counter[str],
    scheduled: Counter[str],
    running: int,
    failed: int,
    rate: float,
) -> str:
    """One line for the whole run: tasks done of those known per step, then how many run,
    how many attempts failed, and tasks finished per second since the run started."""
    parts = [
        f"{step} {finished[step]}/{scheduled[step]}"
        for step in graph.sorted_steps
        if scheduled[step]
    ]
    return (
        "Progress: "
        + ", ".join(parts)
        + f" ({running} running, {failed} failed, {rate:.1f} tasks/s)"
    )


def failure_report(
    pathspec: str, run_id: str, worker: TaskProcess, record: AttemptRecord | None
) -> str:
    """The failed task, its attempts, why it failed (its traceback, or how its process ended)
    and how to continue."""
    if record and record.traceback:
        cause = record.traceback.rstrip()
        if record.exception == "ForeachTooWide":
            cause += " " + SPLIT_LIMIT_FIX
    else:
        cause = worker.ending
    return (
        f"Step *{worker.step}* failed in task {pathspec} after {worker.attempt + 1} "
        f"attempt(s):\n{cause}\nFix the step, then continue with: resume --origin-run-id {run_id}"
    )
