"""Run ONE task: load its inputs, run the step, persist its artifacts.

This is the single execution path. The local executor calls :func:`run_task`
in a forked process, the Airflow operator in its worker, and a pod or Batch job
through ``python -m provider.runtime``; they differ only in where the process
runs. Nothing here imports Airflow.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import nullcontext

import cloudpickle

from provider.datastore.flowstore import FlowDataStore, path_for
from provider.datastore.ids import TaskKey
from provider.datastore.records import AttemptRecord, CaughtException, TaskManifest
from provider.datastore.run_tags import run_identity
from provider.decorators.resolve import (
    catch_refusal,
    is_fallback_attempt,
    step_environment,
    step_retries,
)
from provider.exceptions import AttemptFailed, StepError, TaskCrashed
from provider.flow.current import TaskInfo, current
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.spec import FlowSpec
from provider.flow.state import TaskState
from provider.processes.crashes import record_crash
from provider.runtime.cards import task_cards
from provider.runtime.deadline import step_deadline
from provider.runtime.inputs import TaskInputs, resolve_inputs
from provider.runtime.logs import TaskLog, task_log
from provider.runtime.request import TaskRequest
from provider.runtime.termination import termination_signals
from provider.runtime.values import (
    foreach_split,
    is_picklable,
    parallel_split,
    save_artifact,
)

__all__ = ["TaskRequest", "run_task_here", "step_of", "user_traceback"]


def run_task_here(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore | None = None
) -> TaskManifest:
    """Run the task in this process and return its manifest (also committed to the datastore).

    Executors call :func:`provider.runtime.run.run_task`, which runs a whole gang for a
    @parallel step; a gang runs each of its nodes through this function.
    """
    graph = flow_cls.graph()
    node = step_of(flow_cls, request)
    store = store or FlowDataStore(flow_cls.__name__)
    if node.is_parallel and request.node is None:
        raise StepError(
            f"Step *{node.name}* is @parallel: run its task as a gang (run_task), or one node "
            "of it with --node-index."
        )
    if request.node is not None and not node.is_parallel:
        raise StepError(
            f"Step *{node.name}* was started as node {request.node.index} of a gang, but it "
            "has no @parallel; run it without --node-index."
        )
    _register_flow_module(flow_cls)
    attempt_key = (request.run_id, node.name, request.task_id, request.attempt)
    if request.attempt > 0:
        _close_earlier_attempt(store, *attempt_key[:3], request.attempt - 1)
    capture = task_log(store, *attempt_key) if request.capture_output else nullcontext(TaskLog())
    with capture as log:
        try:
            return _attempt(flow_cls, graph, node, request, store, attempt_key)
        except BaseException as exc:
            log.note(user_traceback(exc))
            raise


def step_of(flow_cls: type[FlowSpec], request: TaskRequest) -> StepNode:
    """The step a request names, or an error listing the flow's steps."""
    graph = flow_cls.graph()
    if request.step not in graph:
        raise StepError(
            f"Flow *{flow_cls.__name__}* has no step *{request.step}*; its steps are "
            f"{', '.join(graph.sorted_steps)}."
        )
    return graph[request.step]


def _attempt(
    flow_cls: type[FlowSpec],
    graph: FlowGraph,
    node: StepNode,
    request: TaskRequest,
    store: FlowDataStore,
    attempt_key: tuple[str, str, str, int],
) -> TaskManifest:
    """One attempt of the task, recorded as running, then as failed if it fails (its
    committed manifest says it succeeded: one write fewer per task, and no record replaced)."""
    started = time.time()
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
    return manifest  # committed: the attempt reads as ok from now on (FlowDataStore.read_attempt)


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
    with task_cards(flow, node, request, store, state, started):
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
    current._set_run_identity(*run_identity(store, request.run_id))
    return flow, state


def _run_step(
    node: StepNode, request: TaskRequest, flow: FlowSpec, state: TaskState, inputs: TaskInputs
) -> CaughtException | None:
    """Call the user's step with its environment, deadline and signal handlers in place.

    On ``@catch``'s fallback attempt no user code runs: the last regular attempt's failure,
    read from its record, is caught instead.
    """
    if is_fallback_attempt(node, request.attempt):
        failure = _last_failure(type(flow).__name__, node, request, state.store)
        return _catch(node, request, flow, state, failure)
    gang_env = request.node.environment() if request.node else {}
    env = {**request.extra_env, **gang_env, **step_environment(node)}
    try:  # around the deadline too: the StepTimeout it raises as the step returns is caught
        with _environment(env), step_deadline(node), termination_signals(node.name):
            step_func = getattr(flow, node.name)
            step_func(inputs.join_inputs) if node.is_join else step_func()
            while node.is_recursive and state.transition == [node.name]:
                # a recursive switch runs again in this task, from the artifacts it has now
                # (its whole loop is one task, and @timeout bounds the loop)
                state.transition = None
                step_func()
    except Exception as exc:
        return _catch(node, request, flow, state, exc)
    catch = node.decorators.get("catch")
    if catch is not None and catch.var and not hasattr(flow, catch.var):
        setattr(flow, catch.var, None)  # nothing caught: the variable is None, as in Metaflow
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
        artifacts[name] = save_artifact(store, node.name, state.pathspec, name, value)
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
        chosen=state.transition[0] if node.is_switch and state.transition else None,
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
    if catch is None or request.attempt < step_retries(node):
        raise exc
    refusal = catch_refusal(node)
    if refusal:
        print(refusal, file=sys.stderr)
        raise exc
    if catch.print_exception:
        print(f"@catch on step {node.name} caught:", file=sys.stderr)
        if isinstance(exc, TaskCrashed):
            trace = f"{exc}\n"
        elif isinstance(exc, AttemptFailed):  # with the failed attempt's own traceback
            trace = f"{exc}\n{exc.stacktrace}"
        else:
            trace = user_traceback(exc)
        sys.stderr.write(trace)
    if catch.var:
        setattr(flow, catch.var, _caught_value(exc))
    state.transition = list(node.out_funcs)
    return CaughtException(exception=type(exc).__name__, message=str(exc), var=catch.var)


def _last_failure(
    flow_name: str, node: StepNode, request: TaskRequest, store: FlowDataStore
) -> AttemptFailed:
    """Why the last regular attempt failed, from its record: its exception, or how its
    process ended as the executor (or :func:`_close_earlier_attempt`) wrote it."""
    last = step_retries(node)
    record = store.read_attempt(request.run_id, node.name, request.task_id, last)
    failure: type[AttemptFailed] = TaskCrashed
    type_name = stacktrace = None
    if record is None:
        cause = (
            "Its process left no record: it ended before the step started, or could not "
            "write to the datastore."
        )
    elif record.status != "failed":
        cause = f"Its record says {record.status!r}, yet its executor counted it as failed."
    elif record.exception == TaskCrashed.__name__:
        cause = record.message or "Its process crashed."
    else:
        failure, type_name, stacktrace = AttemptFailed, record.exception, record.traceback
        cause = f"{record.exception}: {record.message}"
    cause = cause.rstrip() if cause.rstrip().endswith(".") else f"{cause.rstrip()}."
    pathspec = TaskKey(flow_name, request.run_id, node.name, request.task_id).pathspec
    message = (
        f"Step *{node.name}* failed in task {pathspec} on its last attempt ({last + 1}): "
        f"{cause} @catch let the flow carry on without the step's artifacts; the attempt's "
        "log shows what the step did."
    )
    return failure(message, type_name, stacktrace)


def _close_earlier_attempt(
    store: FlowDataStore, run_id: str, step: str, task_id: str, attempt: int
) -> None:
    """Mark the attempt before this one failed if its record still says running.

    An executor starts the next attempt only once it has given the last one up, so a
    record still running means the attempt's process died without writing its end (the
    local executor writes how it ended first; Airflow, a pod or a Batch job may not).
    """
    record = store.read_attempt(run_id, step, task_id, attempt)
    if record is not None and record.status == "running":
        cause = (
            "The task process ended while the step was running, without recording how: it "
            "crashed or was killed (e.g. a segfault, os._exit(), or the out-of-memory killer)."
        )
        record_crash(store, run_id, step, task_id, attempt, cause)


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
