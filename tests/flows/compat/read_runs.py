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
#: a task's metadata compared (the others name hosts, versions and paths)
METADATA = ("attempt", "attempt-done", "attempt_ok", "user")


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
    seen["parents"] = sorted(normal(t.pathspec) for t in task.parent_tasks)
    seen["children"] = sorted(normal(t.pathspec) for t in task.child_tasks)
    metadata = task.metadata_dict
    seen["metadata"] = {k: metadata.get(k) for k in METADATA}
    origin = task.origin_pathspec
    # the origin run's id differs between the sides: its step and task position are compared
    seen["origin"] = origin.split("/")[2] if origin else None
    seen["has_name"] = "name" in task
    if task.finished:
        seen["index"] = task.index
        seen["current_attempt"] = task.current_attempt
        seen["exception"] = task.exception
        names = sorted(a.id for a in task)
        seen["artifacts"] = {n: normal(task[n].data) for n in names}
        seen["private"] = {n: task[n].data for n in PRIVATE if n in task}
    else:  # a failed task: what a client can still tell about it
        seen["index"] = attempt(lambda: task.index)
        exception = task.exception
        ends_with_message = str(exception).rstrip().endswith(exception.exception.rstrip())
        seen["exception"] = [exception.type, exception.exception, ends_with_message]
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
        names = sorted(a.id for a in run["end"].task)
        data = {n: normal(getattr(run.data, n)) for n in names}
    # Metaflow adds system tags (user:..., metaflow_version:...) to run.tags; its
    # user_tags are the tags the run was given
    tags = run.user_tags if hasattr(run, "user_tags") else run.tags
    return {
        "successful": run.successful,
        "finished": run.finished,
        "tags": sorted(tags),
        "user_tag": sorted(t for t in run.system_tags if t.startswith("user:")),
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


def change_tags(client: Any, pathspec: str) -> list[list[str]]:
    """Add, replace and remove tags of a run; its user tags after each change, and the
    errors a bad change raises."""
    run = client.Run(pathspec)
    seen = []
    run.add_tag("added")
    seen.append(sorted(client.Run(pathspec).user_tags))
    run.replace_tag("added", "replaced")
    seen.append(sorted(client.Run(pathspec).user_tags))
    run.add_tags(["x", "y"])
    run.remove_tags(["x", "replaced"])
    seen.append(sorted(client.Run(pathspec).user_tags))
    run.replace_tags(["y"], [])
    seen.append(sorted(client.Run(pathspec).user_tags))
    user_tag = next(t for t in run.system_tags if t.startswith("user:"))
    seen.append(attempt(lambda: run.remove_tag(user_tag)))
    seen.append(attempt(lambda: run.add_tag("")))
    return seen


def read_namespaces(client: Any, flow: str, user: str) -> dict[str, Any]:
    """What each namespace shows of a flow's runs."""
    seen = {"default": client.default_namespace(), "get": client.get_namespace()}
    seen["mine"] = [r.id for r in client.Flow(flow)]
    client.namespace("t1")
    seen["t1"] = [r.id for r in client.Flow(flow)]
    client.namespace("user:someone-else")
    seen["other_user"] = attempt(lambda: [r.id for r in client.Flow(flow)])
    seen["get_other"] = client.get_namespace()
    client.namespace(None)
    seen["none"] = sorted(r.id for r in client.Flow(flow))
    return seen


def main() -> None:
    library, *pathspecs = sys.argv[1:]
    client = importlib.import_module(library)
    client.namespace(None)  # runs of every user (some scenarios run as another user)
    tag_runs = [p[len("tags:") :] for p in pathspecs if p.startswith("tags:")]
    namespaces = [p[len("namespaces:") :] for p in pathspecs if p.startswith("namespaces:")]
    pathspecs = [p for p in pathspecs if ":" not in p]
    read = {p: read_run(client, p) if "/" in p else read_flow(client, p) for p in pathspecs}
    for p in tag_runs:
        read[f"tags:{p}"] = change_tags(client, p)
    for flow in namespaces:
        read[f"namespaces:{flow}"] = read_namespaces(client, flow, "test")
    print(json.dumps(read))


if __name__ == "__main__":
    main()
