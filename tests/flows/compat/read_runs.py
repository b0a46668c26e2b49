"""Print, as JSON, what a flow client reads back from runs: the same code reads
Metaflow's runs (with Metaflow's client) and airstep's (with airstep's).

    python read_runs.py metaflow|provider FLOW/RUN_ID|FLOW ...

A run is read whole (its steps, tasks and artifacts); a flow gives its run ids.
Values are made comparable: tuples become lists, a caught exception becomes its
``type``/``exception``/``stacktrace`` fields, the run id inside a string becomes
``{run}`` and a task's pathspec ``{task of STEP}`` (task ids are not compared).
"""

import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

#: private artifacts that flows set, to check they are readable but not listed
PRIVATE = ("_hidden",)
#: Metaflow stores ``self.name`` (the flow's class name) as an artifact of every task;
#: airstep has no such artifact (``current.flow_name`` gives the name in both)
NOT_COMPARED = {"name"}


class Normaliser:
    def __init__(self, run_id: str, task_pathspecs: dict[str, str]) -> None:
        self.run_id = run_id
        self.task_pathspecs = task_pathspecs

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.task_pathspecs:
                return f"{{task of {self.task_pathspecs[value]}}}"
            return value.replace(self.run_id, "{run}")
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {str(k): self(v) for k, v in value.items()}
        if all(hasattr(value, a) for a in ("type", "exception", "stacktrace")):
            lines = value.stacktrace.strip().splitlines()
            return {
                "type": value.type,
                "exception": value.exception,
                "stacktrace_ends": lines[-1] if lines else "",
            }
        return {"repr": repr(value)}


def attempt(read: Callable[[], Any]) -> Any:
    """What ``read()`` gives, or the class name of what it raises."""
    try:
        return read()
    except Exception as error:
        return {"raises": type(error).__name__}


def read_task(task: Any, normal: Normaliser) -> dict[str, Any]:
    seen: dict[str, Any] = {"successful": task.successful, "finished": task.finished}
    if task.finished:
        seen["index"] = task.index
        seen["current_attempt"] = task.current_attempt
        names = sorted(a.id for a in task if a.id not in NOT_COMPARED)
        seen["artifacts"] = {n: normal(task[n].data) for n in names}
        seen["private"] = {n: task[n].data for n in PRIVATE if n in task}
    else:  # a failed task: what a client can still tell about it
        seen["index"] = attempt(lambda: task.index)
        seen["exception"] = attempt(lambda: getattr(task.exception, "type", None))
    return seen


def read_run(client: Any, pathspec: str) -> dict[str, Any]:
    run = client.Run(pathspec)
    tasks = {step.id: list(step) for step in run}
    normal = Normaliser(run.id, {t.pathspec: s for s, ts in tasks.items() for t in ts})
    steps = {}
    for step, step_tasks in tasks.items():
        seen = [read_task(task, normal) for task in step_tasks]
        steps[step] = sorted(seen, key=lambda t: json.dumps(t, sort_keys=True))
    data = None
    if run.successful:
        names = sorted(a.id for a in run["end"].task if a.id not in NOT_COMPARED)
        data = {n: normal(getattr(run.data, n)) for n in names}
    # Metaflow adds system tags (user:..., metaflow_version:...) to run.tags; its
    # user_tags are the tags the run was given
    tags = run.user_tags if hasattr(run, "user_tags") else run.tags
    return {
        "successful": run.successful,
        "finished": run.finished,
        "tags": sorted(tags),
        "steps": steps,
        "data": data,
    }


def read_flow(client: Any, name: str) -> dict[str, Any]:
    try:
        flow = client.Flow(name)
        runs = list(flow)
    except Exception as exc:  # Metaflow: MetaflowNotFound for a flow that never ran
        if type(exc).__name__ != "MetaflowNotFound":
            raise
        return {"runs": [], "latest_run": None, "latest_successful_run": None}
    latest, good = flow.latest_run, flow.latest_successful_run
    return {
        "runs": [r.id for r in runs],
        "latest_run": latest.id if latest else None,
        "latest_successful_run": good.id if good else None,
    }


def main() -> None:
    library, *pathspecs = sys.argv[1:]
    client = importlib.import_module(library)
    if library == "metaflow":
        client.namespace(None)
    read = {p: read_run(client, p) if "/" in p else read_flow(client, p) for p in pathspecs}
    print(json.dumps(read))


if __name__ == "__main__":
    main()
