"""Run ONE task: load its inputs, run the step, persist its artifacts.

This is the single execution path. The local executor calls :func:`run_task`
in a forked process, the Airflow operator in its worker, and a pod or Batch job
through ``python -m provider.runtime``; they differ only in where the process
runs. Nothing here imports Airflow.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from provider.datastore.flowstore import FlowDataStore, TaskRecord, path_for, task_id_for
from provider.exceptions import ForeachError, StepError, StepTimeout
from provider.flow.current import current
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.spec import FlowSpec, Inputs, InputTask, flow_constants
from provider.runtime.state import TaskState
from provider.runtime.termination import termination_signals
from provider.runtime.topology import input_tasks

LABEL_WIDTH = 48


@dataclass
class TaskRequest:
    """Which task to run: deterministic from (run, step, index path) plus the attempt."""

    run_id: str
    step: str
    task_id: str = "0"
    attempt: int = 0
    #: raw parameter values for the start task (strings or JSON values); None -> defaults
    params: dict[str, Any] | None = None
    max_num_splits: int = 100
    #: how to raise max_num_splits where this task runs (named in the error)
    split_limit_fix: str = "Raise it with --max-num-splits."
    origin_run_id: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


def retries_of(node: StepNode) -> int:
    retry = node.decorators.get("retry")
    return int(retry.attributes["times"]) if retry else 0


def run_task(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore | None = None
) -> dict[str, Any]:
    """Run the task and return its manifest (also committed to the datastore)."""
    graph = flow_cls.graph()
    if request.step not in graph:
        raise StepError(
            f"Flow *{flow_cls.__name__}* has no step *{request.step}*; its steps are "
            f"{', '.join(graph.sorted_steps)}."
        )
    node = graph[request.step]
    store = store or FlowDataStore(flow_cls.__name__)
    _register_flow_module(flow_cls)
    started = time.time()
    attempt_key = (request.run_id, node.name, request.task_id, request.attempt)
    store.write_attempt(
        *attempt_key, {"status": "running", "started_at": started, "pid": os.getpid()}
    )
    try:
        manifest = _execute(flow_cls, graph, node, request, store, started)
    except BaseException as exc:
        store.write_attempt(
            *attempt_key,
            {
                "status": "failed",
                "started_at": started,
                "finished_at": time.time(),
                "exception": type(exc).__name__,
                "message": str(exc),
                "traceback": user_traceback(exc),
            },
        )
        raise
    finally:
        current._clear()
    store.write_attempt(
        *attempt_key, {"status": "ok", "started_at": started, "finished_at": time.time()}
    )
    return manifest


def _execute(
    flow_cls: type[FlowSpec],
    graph: FlowGraph,
    node: StepNode,
    request: TaskRequest,
    store: FlowDataStore,
    started: float,
) -> dict[str, Any]:
    path = path_for(request.task_id, graph.foreach_depth(node.name))
    params = list(flow_cls.parameters())
    inputs: Inputs | None = None
    if node.name == "start":
        inherited, stack = _start_parameters(flow_cls, request, store), []
    else:
        records = [
            store.task(request.run_id, step, task_id_for(p))
            for step, p in input_tasks(graph, node.name, path, _num_splits(store, request.run_id))
        ]
        if node.is_join:
            first = records[0].manifest
            carried = [*params, *flow_constants(flow_cls)]
            inherited = {n: first["artifacts"][n] for n in carried if n in first["artifacts"]}
            stack = list(first["foreach_stack"])
            if graph[node.split_parent or ""].is_foreach:
                stack.pop()
            inputs = Inputs([InputTask(r, _item_loader(store, r)) for r in records])
        else:
            (record,) = records
            parent = record.manifest
            inherited = dict(parent["artifacts"])
            stack = list(parent["foreach_stack"])
            if graph[record.step].is_foreach:
                split = parent["foreach"]
                stack.append(
                    {
                        "step": record.step,
                        "var": split["var"],
                        "index": path[-1],
                        "num_splits": split["num_splits"],
                        "sha": split["items"][path[-1]],
                        "label": split["labels"][path[-1]],
                    }
                )
    flow = flow_cls(use_cli=False)
    state = TaskState(store, node, request.run_id, request.task_id, inherited, stack, params)
    flow.__dict__["_state"] = state
    current._set(
        flow_name=flow_cls.__name__,
        run_id=request.run_id,
        step_name=node.name,
        task_id=request.task_id,
        retry_count=request.attempt,
        origin_run_id=request.origin_run_id,
        parameter_names=params,
        save_checkpoint=lambda v: store.save_checkpoint(
            request.run_id, node.name, request.task_id, v
        ),
        load_checkpoint=lambda d: store.load_checkpoint(
            request.run_id, node.name, request.task_id, d
        ),
    )
    caught = None
    env = dict(request.extra_env)
    if "environment" in node.decorators:
        env.update(node.decorators["environment"].attributes["vars"])
    with _environment(env), _deadline(node), termination_signals(node.name):
        try:
            step_func = getattr(flow, node.name)
            step_func(inputs) if node.is_join else step_func()
        except Exception as exc:
            caught = _catch(node, request, flow, state, exc)
    if state.transition is None and node.name != "end":
        raise StepError(
            f"Step *{node.name}* returned without calling self.next(...); make "
            f"self.next({', '.join('self.' + s for s in node.out_funcs)}) its last line."
        )
    manifest: dict[str, Any] = {
        "flow": flow_cls.__name__,
        "run_id": request.run_id,
        "step": node.name,
        "task_id": request.task_id,
        "attempt": request.attempt,
        "parameters": params,
        "foreach_stack": stack,
        "foreach": _foreach(node, flow, request, store) if node.is_foreach else None,
        "next": node.out_funcs,
        "caught": caught,
        "started_at": started,
    }
    artifacts = dict(state.inherited)
    for name, value in flow._artifact_items():
        ref = store.save_artifact(value)
        artifacts[name] = {"sha": ref.sha, "size": ref.size, "type": _type_name(value)}
    manifest["artifacts"] = artifacts
    manifest["finished_at"] = time.time()
    store.commit_task(request.run_id, node.name, request.task_id, manifest)
    return manifest


def _start_parameters(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore
) -> dict[str, dict[str, Any]]:
    raw = request.params or {}
    base_dir = os.path.dirname(os.path.abspath(inspect.getfile(flow_cls)))
    values = {}
    for attr, param in flow_cls.parameters().items():
        given = raw.get(param.name, raw.get(attr))
        values[attr] = param.resolve(given, base_dir=base_dir)
    record = store.ensure_run(request.run_id, origin_run_id=request.origin_run_id)
    record["parameters"] = {
        k: v if isinstance(v, str | int | float | bool | None) else repr(v)
        for k, v in values.items()
    }
    store.write_run(request.run_id, record)
    constants = {k: v for k, v in flow_constants(flow_cls).items() if _picklable(v)}
    inherited = {}
    for attr, value in {**constants, **values}.items():
        ref = store.save_artifact(value)
        inherited[attr] = {"sha": ref.sha, "size": ref.size, "type": _type_name(value)}
    return inherited


def _num_splits(store: FlowDataStore, run_id: str) -> Any:
    def lookup(split_step: str, path: tuple[int, ...]) -> int:
        manifest = store.task(run_id, split_step, task_id_for(path)).manifest
        return int(manifest["foreach"]["num_splits"])

    return lookup


def _item_loader(store: FlowDataStore, record: TaskRecord) -> Any:
    def load() -> Any:
        stack = record.manifest.get("foreach_stack") or []
        return store.load_artifact(stack[-1]["sha"]) if stack else None

    return load


def _foreach(
    node: StepNode, flow: FlowSpec, request: TaskRequest, store: FlowDataStore
) -> dict[str, Any]:
    var = node.foreach_var
    assert var is not None
    try:
        value = getattr(flow, var)
    except AttributeError:
        raise ForeachError(
            f"Step *{node.name}* does a foreach over *{var}*, but sets no artifact of that name; "
            f"assign it before self.next(), e.g. self.{var} = [...]."
        ) from None
    if isinstance(value, str | bytes | dict):
        items = None
    else:
        try:
            items = list(value)
        except TypeError:
            items = None
    if items is None:
        raise ForeachError(
            f"Foreach in step *{node.name}*: self.{var} is a {type(value).__name__} "
            f"({_short(value)}), which cannot be split into items; assign a list, e.g. "
            f"self.{var} = [...]."
        )
    if not items:
        raise ForeachError(
            f"Foreach in step *{node.name}*: self.{var} is empty, so there is nothing to run; "
            "give it at least one item."
        )
    if len(items) > request.max_num_splits:
        raise ForeachError(
            f"Foreach in step *{node.name}* yielded {len(items)} child steps, more than the "
            f"maximum of {request.max_num_splits}. {request.split_limit_fix}"
        )
    return {
        "var": var,
        "num_splits": len(items),
        "items": [store.save_artifact(item).sha for item in items],
        "labels": [_short(item) for item in items],
    }


def _catch(
    node: StepNode, request: TaskRequest, flow: FlowSpec, state: TaskState, exc: BaseException
) -> dict[str, Any] | None:
    """Apply @catch on the last attempt; otherwise let the exception fail the attempt."""
    catch = node.decorators.get("catch")
    if catch is None or request.attempt < retries_of(node) or node.is_foreach:
        raise exc
    if catch.attributes["print_exception"]:
        print(f"@catch on step {node.name} caught:", file=sys.stderr)
        sys.stderr.write(user_traceback(exc))
    var = catch.attributes["var"]
    if var:
        setattr(flow, var, _caught_value(exc))
    state.transition = list(node.out_funcs)
    return {"exception": type(exc).__name__, "message": str(exc), "var": var}


def _caught_value(exc: BaseException) -> BaseException:
    """What ``@catch(var=...)`` stores: the exception itself, readable as Metaflow's too.

    Metaflow stores a wrapper whose ``exception`` is the message, ``type`` the class as
    ``module.Name`` and ``stacktrace`` the traceback; the same three attributes are set on
    the exception (where it has no such attribute of its own), so code written against
    either reads it. An exception that cannot be pickled is replaced by a StepError.
    """
    facts = {
        "exception": str(exc),
        "type": f"{type(exc).__module__}.{type(exc).__name__}",
        "stacktrace": user_traceback(exc),
    }
    value = exc if _picklable(exc) else StepError(f"{type(exc).__name__}: {exc}")
    for name, fact in facts.items():
        if not hasattr(value, name):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(value, name, fact)
    return value


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _deadline(node: StepNode) -> Iterator[None]:
    """The step's @timeout, the one clock for user code; a caller's own alarm (Airflow's
    execution_timeout, which falls later) is paused meanwhile, then armed with what it has left."""
    deco = node.decorators.get("timeout")
    if deco is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    seconds = deco.total_seconds

    def expire(signum: int, frame: Any) -> None:
        raise StepTimeout(
            f"Step *{node.name}* timed out after {seconds:g} s (its @timeout); raise the "
            "@timeout or make the step faster."
        )

    previous = signal.signal(signal.SIGALRM, expire)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    began = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            left = max(outer - (time.monotonic() - began), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def _register_flow_module(flow_cls: type) -> None:
    """Pickle objects defined in the flow file by value, so any process can load them."""
    module = sys.modules.get(flow_cls.__module__)
    if module is not None and flow_cls.__module__ != "__main__":
        with contextlib.suppress(ValueError):
            cloudpickle.register_pickle_by_value(module)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_traceback(exc: BaseException) -> str:
    """The traceback without airstep's own frames, so the user's code is what shows."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def _picklable(value: Any) -> bool:
    try:
        cloudpickle.dumps(value)
    except Exception:
        return False
    return True


def _type_name(value: Any) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 3] + "..."
