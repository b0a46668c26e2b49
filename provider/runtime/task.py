"""Run ONE task: load its inputs, run the step, persist its artifacts.

This is the single execution path. The local executor calls :func:`run_task`
in a forked process, the Airflow operator in its worker, and a pod or Batch job
through ``python -m provider.runtime``; they differ only in where the process
runs. Nothing here imports Airflow.
"""

from __future__ import annotations

import contextlib
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

from provider.datastore.flowstore import FlowDataStore, path_for
from provider.datastore.records import AttemptRecord, CaughtException, TaskManifest
from provider.decorators.resolve import step_environment, step_retries
from provider.exceptions import StepError, StepTimeout
from provider.flow.current import TaskInfo, current
from provider.flow.distributed import GangNode
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.spec import FlowSpec
from provider.runtime.inputs import TaskInputs, resolve_inputs
from provider.runtime.state import TaskState
from provider.runtime.termination import termination_signals
from provider.runtime.values import foreach_split, is_picklable, parallel_split, save_value


@dataclass
class TaskRequest:
    """Which task to run: deterministic from (run, step, index path) plus the attempt."""

    run_id: str
    step: str
    task_id: str = "0"
    attempt: int = 0
    #: raw parameter values for the start task (strings or JSON values); None -> defaults
    params: dict[str, Any] | None = None
    #: the widest foreach this task may yield (ForeachTooWide beyond it)
    max_num_splits: int = 100
    origin_run_id: str | None = None
    #: False when the caller enforces @timeout itself (Airflow's execution_timeout)
    enforce_timeout: bool = True
    #: the caller's timeout exception, for @catch when it is not an Exception (Airflow's)
    timeout_error: type[BaseException] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    #: for a @parallel step: the node this process runs; None runs the whole gang here
    node: GangNode | None = None


def run_task(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore | None = None
) -> TaskManifest:
    """Run the task and return its manifest (also committed to the datastore).

    For a @parallel step without ``request.node``, the task is the whole gang: see
    :func:`provider.runtime.gang.run_gang` (the manifest returned is node 0's).
    """
    graph = flow_cls.graph()
    if request.step not in graph:
        raise StepError(
            f"Flow *{flow_cls.__name__}* has no step *{request.step}*; its steps are "
            f"{', '.join(graph.sorted_steps)}."
        )
    node = graph[request.step]
    store = store or FlowDataStore(flow_cls.__name__)
    if node.is_parallel and request.node is None:
        from provider.runtime.gang import run_gang  # the gang runs each node through run_task

        return run_gang(flow_cls, request, store)
    if request.node is not None and not node.is_parallel:
        raise StepError(
            f"Step *{node.name}* was started as node {request.node.index} of a gang, but it "
            "has no @parallel; run it without --node-index."
        )
    _register_flow_module(flow_cls)
    started = time.time()
    attempt_key = (request.run_id, node.name, request.task_id, request.attempt)
    store.write_attempt(*attempt_key, AttemptRecord("running", started, pid=os.getpid()))
    try:
        manifest = _execute(flow_cls, graph, node, request, store, started)
    except BaseException as exc:
        failed = AttemptRecord(
            "failed",
            started,
            finished_at=time.time(),
            exception=type(exc).__name__,
            message=str(exc),
            traceback=user_traceback(exc),
        )
        store.write_attempt(*attempt_key, failed)
        raise
    finally:
        current._clear()
    store.write_attempt(*attempt_key, AttemptRecord("ok", started, finished_at=time.time()))
    return manifest


def _execute(
    flow_cls: type[FlowSpec],
    graph: FlowGraph,
    node: StepNode,
    request: TaskRequest,
    store: FlowDataStore,
    started: float,
) -> TaskManifest:
    """The stages of a task: resolve inputs, prepare the flow, run the step, persist."""
    path = path_for(request.task_id, graph.foreach_depth(node.name))
    inputs = resolve_inputs(flow_cls, graph, node, path, request, store)
    flow, state = _prepare(flow_cls, node, request, store, inputs)
    caught = _run_step(node, request, flow, state, inputs)
    if state.transition is None and node.name != "end":
        raise StepError(
            f"Step *{node.name}* returned without calling self.next(...); make "
            f"self.next({', '.join('self.' + s for s in node.out_funcs)}) its last line."
        )
    return _persist(flow_cls, node, request, store, flow, state, caught, started)


def _prepare(
    flow_cls: type[FlowSpec],
    node: StepNode,
    request: TaskRequest,
    store: FlowDataStore,
    inputs: TaskInputs,
) -> tuple[FlowSpec, TaskState]:
    """A flow instance bound to the task's state, and ``current`` describing the task."""
    params = list(flow_cls.parameters())
    flow = flow_cls(use_cli=False)
    state = TaskState(
        store, node, request.run_id, request.task_id, inputs.inherited, inputs.foreach_stack, params
    )
    flow.__dict__["_state"] = state
    info = TaskInfo(
        flow_name=flow_cls.__name__,
        run_id=request.run_id,
        step_name=node.name,
        task_id=request.task_id,
        retry_count=request.attempt,
        origin_run_id=request.origin_run_id,
        parameter_names=tuple(params),
        node=request.node,
    )
    current._set(info, store.checkpoints(request.run_id, node.name, request.task_id))
    return flow, state


def _run_step(
    node: StepNode, request: TaskRequest, flow: FlowSpec, state: TaskState, inputs: TaskInputs
) -> CaughtException | None:
    """Call the user's step with its environment, deadline and signal handlers in place."""
    gang_env = request.node.environment() if request.node else {}
    env = {**request.extra_env, **gang_env, **step_environment(node)}
    catchable = (Exception, request.timeout_error or Exception)
    with _environment(env), _deadline(node, request), termination_signals(node.name):
        try:
            step_func = getattr(flow, node.name)
            step_func(inputs.join_inputs) if node.is_join else step_func()
        except catchable as exc:
            return _catch(node, request, flow, state, exc)
    return None


def _persist(
    flow_cls: type[FlowSpec],
    node: StepNode,
    request: TaskRequest,
    store: FlowDataStore,
    flow: FlowSpec,
    state: TaskState,
    caught: CaughtException | None,
    started: float,
) -> TaskManifest:
    """Store the foreach items and the artifacts, then commit the manifest (last, atomically)."""
    split = None
    if node.is_parallel_split:
        assert state.num_parallel is not None  # self.next() set it
        split = parallel_split(state.num_parallel, store)
    elif node.foreach_var is not None:
        split = foreach_split(node.name, node.foreach_var, flow, store, request.max_num_splits)
    artifacts = dict(state.inherited)
    for name, value in flow._artifact_items():
        artifacts[name] = save_value(store, value)
    manifest = TaskManifest(
        flow=flow_cls.__name__,
        run_id=request.run_id,
        step=node.name,
        task_id=request.task_id,
        attempt=request.attempt,
        parameters=tuple(flow_cls.parameters()),
        foreach_stack=tuple(state.foreach_stack),
        foreach=split,
        next=tuple(node.out_funcs),
        caught=caught,
        started_at=started,
        finished_at=time.time(),
        artifacts=artifacts,
    )
    store.commit_task(manifest)
    return manifest


def _catch(
    node: StepNode, request: TaskRequest, flow: FlowSpec, state: TaskState, exc: BaseException
) -> CaughtException:
    """Apply @catch on the last attempt; otherwise let the exception fail the attempt."""
    catch = node.decorators.get("catch")
    if catch is None or request.attempt < step_retries(node) or node.is_foreach:
        raise exc
    if catch.print_exception:
        print(f"@catch on step {node.name} caught:", file=sys.stderr)
        sys.stderr.write(user_traceback(exc))
    if catch.var:
        setattr(flow, catch.var, _caught_value(exc))
    state.transition = list(node.out_funcs)
    return CaughtException(exception=type(exc).__name__, message=str(exc), var=catch.var)


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
    value = exc if is_picklable(exc) else StepError(f"{type(exc).__name__}: {exc}")
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
def _deadline(node: StepNode, request: TaskRequest) -> Iterator[None]:
    deco = node.decorators.get("timeout")
    if (
        deco is None
        or not request.enforce_timeout
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    seconds = deco.total_seconds

    def expire(signum: int, frame: Any) -> None:
        raise StepTimeout(
            f"Step *{node.name}* timed out after {seconds:g} s (its @timeout); raise the "
            "@timeout or make the step faster."
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
