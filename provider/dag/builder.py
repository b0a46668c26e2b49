"""Compile a flow into a native Airflow DAG: the one place that maps flow concepts to Airflow.

``MyFlow.to_dag()`` (or :func:`flow_to_dag`) returns an ``airflow.sdk.DAG``
with one task per step (task id = step name, doc_md = the step's docstring);
the flow's docstring is the DAG's doc_md. Every task runs the step through the
airstep runtime (:class:`~provider.operators.step.StepOperator`), so a step
behaves the same under Airflow as in ``python flow.py run``.

Parameters
    Each :class:`~provider.Parameter` is a DAG ``Param`` with a JSON-schema type
    (string, integer, number, boolean; any JSON value for ``JSONType``), so the
    trigger form shows it and Airflow rejects a bad value when the run is
    created, naming the parameter. A required parameter without a default is a
    ``Param`` without a default, which Airflow allows only in unscheduled DAGs.
    The ``start`` task hands the validated values to the runtime.

Projects and configs
    A ``@project`` flow's DAG id is ``<project>.<branch>.<Flow>`` (the branch from
    ``to_dag(branch=..., production=...)``, else the environment, else the user's), with
    ``project:`` / ``project_branch:`` tags, so branches deploy side by side; each task
    passes the DAG's choice to its step (:func:`provider.flow.project.task_environment`).
    ``Config`` values are read when the file is parsed and shown in the DAG's doc; they
    are not ``Param``s.

XCom holds pointers, never data
    Artifacts live in the datastore. A task returns its airstep task id (its
    foreach index path: ``"0"``, ``"3"``, ``"3.5"``); a foreach split returns its
    children's task ids (``["3.0", "3.1"]``). Pointers are never None, so no
    mapped task instance silently drops out of a sequence. Joins find their
    inputs in the datastore (:mod:`provider.runtime.topology`), so Airflow only
    needs the dependency edges: branches and joins are plain dependencies.

Foreach: flat dynamic task mapping
    A step outside any foreach (depth 0) is a plain task. A step inside a
    foreach (depth >= 1) is a mapped task over the task ids of its depth:

    * the first step of a body is mapped over its split's output (a list);
    * a later step of the body is mapped over its parent's output, one task id
      per parent task (1:1 chaining);
    * a join inside a foreach is mapped over the task ids of its own depth: the
      output of the split that opened that depth (the steps after the join then
      chain 1:1 from it).

    A foreach split that is itself mapped (a nested foreach) returns one list per
    task, and Airflow does not flatten chained lists, so a small unmapped task
    ``<split>__fanout`` concatenates them (in chunks when they are many) and the
    inner body is mapped over it.
    The rendered map index shows the item (``rates[2]=0.03``).

    Why flattening rather than mapped task groups: Airflow 3 refuses operator
    expansion inside a mapped task group, and nested mapped groups, so groups
    cannot express a nested foreach. Flat mapping handles every shape the flow
    graph allows (nested foreach, multi-step bodies, branches and joins inside a
    body) with one rule instead of two mechanisms. The cost is that each body
    step waits for the whole previous stage (Airflow expands a mapped task once
    its upstream is complete).

Wide foreach: chunks
    A foreach of at most ``[airstep] max_map_tasks`` items (256 by default, and at
    most ``[core] max_map_length``) maps one task instance per item. A wider one
    maps one task instance per *chunk*: its split (or, for the total of a nested
    foreach, its fanout task) pushes the task ids in at most ``max_map_tasks``
    consecutive lists of equal size (``[["0", ..., "39"], ["40", ...], ...]``), and a
    mapped task that receives a list runs every task of it, each its own flow task
    (own id, artifacts, log, attempts, ``@catch``) in a process of its own
    (:mod:`provider.runtime.chunk`): in the worker, or in one pod or one Batch job
    per chunk. The map index shows the chunk's range (``items[40:80]``). The rest
    of the mapping is unchanged: a chunk pushes its tasks' pointers concatenated,
    so the next step of the body chains 1:1 from it as a chunk too, a join inside
    the foreach maps over the same chunks, a fanout flattens a chunk of splits, and
    a @parallel step runs a chunk of gangs (in the worker; one pod or job runs one
    gang, so a remote gang in a chunked foreach is refused with the fix). A failing
    task fails its chunk's task instance once the chunk's other tasks have ended;
    Airflow's retry of it runs only the tasks that did not succeed, while clearing
    it runs them all again.

    Why ``max_map_tasks`` is 256 rather than Airflow's 1,024: every task
    instance costs a scheduler round trip, a worker process (a pod or a Batch job,
    and a start-up, for remote steps) and a row in the grid; a chunk costs one of
    each for tens of items, and 256 chunks still spread a foreach over more workers
    than most deployments have. A foreach wider than ``max_map_tasks`` chunks of
    ``max_map_length`` items each fails in its split (or fanout) task with a
    message naming the width, the limit and the fixes, as ``--max-num-splits``
    does locally.

Distributed steps: one task per gang
    ``num_parallel=N`` is a foreach of width N over node indices, but its N nodes
    start together, so a @parallel step is ONE task that runs the whole gang
    (mapped one per gang when the gang is inside a foreach). The split that
    starts a gang returns the id of the gang's node 0 (``"0"``, ``"3.0"``), which
    the @parallel task takes as ``flow_task_id`` (1:1 chaining, no fanout task);
    the gang returns its nodes' ids, and the join after it maps like any join.
    In the worker (``StepOperator``, and every step under ``local_override``)
    the nodes are local processes (:mod:`provider.runtime.gang`); on Kubernetes
    they are one Indexed Job, on AWS Batch one multi-node job (:func:`gang_operator_for`).

Switch: skipped cases
    A switch (``self.next({"a": self.a, "b": self.b}, condition="choice")``) is a
    task with an edge to each case. Every step on a case, or where cases meet,
    has the trigger rule ``none_failed_min_one_success`` and, before it runs,
    reads the manifests of the switches before it (each records the case it
    chose): a task no chosen case leads to ends *skipped*
    (:meth:`~provider.operators.base.StepOperatorMixin.skip_unless_chosen`), so
    inside a foreach each map index skips on its own, and the steps after a
    skipped task skip in turn by their trigger rule. Such a step is mapped over
    every task id of its depth (its foreach's split), never over a parent whose
    skipped task instances pushed no pointer; a nested foreach's fanout, and a
    gang mapped over its split, take the ids of the split tasks that ran. A
    recursive switch (a step that names itself as a case) runs its loop inside
    its one task: the DAG has no edge back.

How the run ended
    A last task, ``__run_status`` (:class:`~provider.operators.status.RunStatusOperator`),
    runs once every other task is done, whatever their states (trigger rule
    ``all_done``), and records the run's status ("ok" or "failed") and end time in
    the run record, so the client tells a failed run from one still going. It is
    the DAG's only leaf and fails on a failed run, so the DAG run's state is
    Airflow's as before. No step may take its name.

Decorators
    ``@retry`` gives ``retries``/``retry_delay``. ``@timeout`` is enforced by the
    runtime, wherever the step runs, so ``@catch`` stores the same
    :class:`~provider.exceptions.StepTimeout` as in a local run; the task's
    ``execution_timeout`` is only an outer safety net behind it
    (:func:`~provider.operators.base.execution_timeout`). ``@catch`` catches an
    exception of the step in the runtime on the last regular attempt, and gives the
    task one more try: its fallback attempt, which runs no user code but records
    why the last regular try failed when no exception could be caught (the worker
    or pod died, an artifact could not be saved), so the run carries on. That try
    waits ``retry_delay`` like the others (no wait without ``@retry``).
    ``@schedule`` gives the DAG's schedule and timezone when no ``schedule`` is
    passed. ``step_concurrency={"train": 4}`` caps a step's running task
    instances per run (``max_active_tis_per_dagrun``).

Where steps run
    ``@kubernetes`` steps become :class:`~provider.operators.kubernetes.KubernetesStepOperator`
    tasks (a pod), ``@batch`` steps :class:`~provider.operators.batch.BatchStepOperator`
    tasks (an AWS Batch job); a step with ``@resources`` alone goes where
    ``[airstep] default_compute`` says (kubernetes, batch or local). Every task runs
    the same runtime entrypoint. ``[airstep] local_override`` (or
    ``$AIRSTEP_LOCAL_OVERRIDE``) runs every step in the worker instead, so a whole
    flow debugs under ``airflow dags test`` on a laptop. Settings are read through
    :mod:`provider.settings`.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, BaseOperator, Param

from provider.datastore.code_files import code_source
from provider.decorators.resolve import step_attempts, step_catches
from provider.exceptions import FlowDefinitionError
from provider.flow.config import Config, flow_configs
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.parameters import JSONType, Parameter
from provider.flow.project import ProjectInfo, project_info, task_environment
from provider.flow.spec import FlowSpec
from provider.operators.base import execution_timeout
from provider.operators.card_link import with_card_link
from provider.operators.placement import (
    gang_operator_for,
    operator_for,
    step_placement,
)
from provider.operators.status import RUN_STATUS_TASK, RunStatusOperator
from provider.operators.step import ForeachFanoutOperator

DEFAULT_START_DATE = (2024, 1, 1)
FANOUT_SUFFIX = "__fanout"
#: the trigger rule of a step that may be skipped by a switch: it runs after skipped inputs
MERGE_RULE = "none_failed_min_one_success"

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ANY_JSON = ["object", "array", "string", "number", "integer", "boolean", "null"]
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def flow_to_dag(
    flow_cls: type[FlowSpec],
    *,
    dag_id: str | None = None,
    schedule: Any = None,
    start_date: datetime | None = None,
    default_args: dict[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    max_active_tasks: int | None = None,
    max_active_runs: int | None = None,
    step_concurrency: Mapping[str, int] | None = None,
    branch: str | None = None,
    production: bool | None = None,
    code_root: str | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """The flow as an Airflow DAG (see the module docstring for the mapping).

    :param flow_cls: the flow.
    :param dag_id: the DAG id; the flow's class name by default.
    :param schedule: the DAG schedule; None takes the flow's ``@schedule``, if any.
    :param start_date: default 2024-01-01 in the schedule's timezone (UTC); catchup is off.
    :param default_args: Airflow defaults for every task; the step decorators win.
    :param tags: extra DAG tags ("airstep" is always one).
    :param max_active_tasks: running task instances per DAG run.
    :param max_active_runs: DAG runs at once.
    :param step_concurrency: step name -> running task instances of that step per run.
    :param branch: the ``@project`` branch of this DAG (``test.<branch>``, or ``prod.<branch>``
        with production); default ``$AIRSTEP_BRANCH`` / ``$METAFLOW_BRANCH``, else the user's.
    :param production: deploy ``@project``'s production branch; default
        ``$AIRSTEP_PRODUCTION`` / ``$METAFLOW_PRODUCTION``.
    :param code_root: the folder whose code remote steps get (the code package's root): a
        folder above the flow file, absolute or relative to the flow file's folder (``".."``);
        default the flow file's folder. See :mod:`provider.datastore.code_files`.
    :param dag_kwargs: any other ``DAG`` argument.
    """
    graph = flow_cls.graph()  # an invalid flow raises here, with the local run's message
    if code_root is not None:  # a wrong one is an import error, not a failed remote task
        code_root = code_source(inspect.getfile(flow_cls), code_root, flow_cls.__name__).root
    project = project_info(flow_cls, branch, production)
    if project is None and (branch is not None or production is not None):
        raise FlowDefinitionError(
            f"Flow *{flow_cls.__name__}* has no @project, so to_dag(branch={branch!r}, "
            f"production={production!r}) has nothing to choose; add @project(name=...) to the "
            "flow, or drop the arguments."
        )
    flow_schedule = flow_cls._schedule or {}
    if schedule is None:
        schedule = flow_schedule.get("schedule")
    required = [p.name for p in flow_cls.parameters().values() if _is_required(p)]
    if schedule is not None and required:
        raise FlowDefinitionError(
            f"Flow *{flow_cls.__name__}* has a schedule ({schedule!r}) but parameter "
            f"*{required[0]}* is required and has no default, so a scheduled run could not "
            f"start; give *{required[0]}* a default, or drop the schedule."
        )
    doc = _flow_doc(flow_cls)
    deployment_doc = _deployment_doc(flow_cls, project)
    if start_date is None:
        start_date = pendulum.datetime(
            *DEFAULT_START_DATE, tz=flow_schedule.get("timezone") or "UTC"
        )
    settings: dict[str, Any] = {
        "catchup": False,
        "doc_md": "\n\n".join(filter(None, [doc, deployment_doc])) or None,
        "description": doc.split("\n\n")[0].replace("\n", " ") or None,
        "tags": list(dict.fromkeys(["airstep", *_project_tags(project), *(tags or [])])),
        "max_active_tasks": max_active_tasks,
        "max_active_runs": max_active_runs,
    }
    settings.update(dag_kwargs)
    dag = DAG(
        dag_id=dag_id or (project.project_flow_name if project else flow_cls.__name__),
        schedule=schedule,
        start_date=start_date,
        default_args=dict(default_args or {}),
        params=dag_params(flow_cls),
        **{k: v for k, v in settings.items() if v is not None},
    )
    dag.fileloc = _caller_file()
    #: what every task of this DAG sets so the step names the DAG's branch wherever it runs
    dag.airstep_task_env = task_environment(project)
    dag.airstep_code_root = code_root  # read by the remote step operators
    with dag:
        _DagBuilder(flow_cls, graph, _check_concurrency(graph, step_concurrency)).build()
    return dag


def _flow_doc(flow_cls: type[FlowSpec]) -> str:
    """The flow's docstring, else its module's (a flow file often documents itself there)."""
    module = sys.modules.get(flow_cls.__module__)
    return inspect.cleandoc(flow_cls.__doc__ or getattr(module, "__doc__", None) or "")


def _project_tags(project: ProjectInfo | None) -> list[str]:
    if project is None:
        return []
    return [f"project:{project.project_name}", f"project_branch:{project.branch_name}"]


def _deployment_doc(flow_cls: type[FlowSpec], project: ProjectInfo | None) -> str:
    """The project, branch and configs this DAG was made with, for the DAG's page."""
    parts = []
    if project is not None:
        parts.append(
            f"**Project** `{project.project_name}`, branch `{project.branch_name}`"
            + (" (production)" if project.is_production else "")
        )
    configs = flow_configs(flow_cls)
    if configs:
        parts.append("**Configs**, read when this file was parsed:")
        for config in configs.values():
            text = json.dumps(config.value, indent=2, sort_keys=True, default=repr)
            parts.append(f"`{config.name}`\n\n```json\n{text}\n```")
    return "\n\n".join(parts)


# -- parameters ---------------------------------------------------------------------------------
def _is_required(param: Parameter) -> bool:
    return param.required and param.default is None and not isinstance(param, Config)


def dag_params(flow_cls: type[FlowSpec]) -> dict[str, Param]:
    """One ``Param`` per flow parameter, keyed by the parameter's name (a ``Config`` is
    resolved when the DAG is parsed and shown in its doc, not asked for)."""
    params = {}
    for param in flow_cls.parameters().values():
        if isinstance(param, Config):
            continue
        schema: dict[str, Any] = {"description": param.help or None}
        json_type: Any = _ANY_JSON if param.type is JSONType else _JSON_TYPES[param.type]
        if _is_required(param):
            params[param.name] = Param(type=json_type, **schema)
        elif param.default is None:
            nullable = json_type if param.type is JSONType else [json_type, "null"]
            params[param.name] = Param(None, type=nullable, **schema)
        else:
            params[param.name] = Param(param.default, type=json_type, **schema)
    return params


# -- tasks --------------------------------------------------------------------------------------
def _check_concurrency(graph: FlowGraph, given: Mapping[str, int] | None) -> dict[str, int]:
    limits = dict(given or {})
    for step, limit in limits.items():
        if step not in graph:
            raise FlowDefinitionError(
                f"step_concurrency names step *{step}*, which flow *{graph.flow_name}* does not "
                f"have; its steps are {', '.join(graph.sorted_steps)}."
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise FlowDefinitionError(
                f"step_concurrency[{step!r}] is {limit!r}; give a whole number of at least 1."
            )
    return limits


def task_settings(node: StepNode, placement: str = "local") -> dict[str, Any]:
    """Airflow task arguments that come from the step's decorators, where the step runs."""
    settings: dict[str, Any] = {}
    retry = node.decorators.get("retry")
    if retry is not None:
        settings["retries"] = retry.times
        settings["retry_delay"] = timedelta(seconds=retry.delay_seconds)
    if step_catches(node):  # its last try is @catch's fallback attempt
        settings["retries"] = step_attempts(node) - 1
        settings.setdefault("retry_delay", timedelta(0))
    timeout = execution_timeout(node, remote=placement != "local")
    if timeout is not None:
        settings["execution_timeout"] = timeout
    return settings


class _DagBuilder:
    """Creates the tasks in topological order, then the edges (inside ``with dag:``)."""

    def __init__(self, flow_cls: type[FlowSpec], graph: FlowGraph, concurrency: dict[str, int]):
        self.flow_cls = flow_cls
        self.graph = graph
        self.concurrency = concurrency
        self.tasks: dict[str, Any] = {}
        #: mapped foreach split -> the unmapped task that flattens its children's ids
        self.fanouts: dict[str, BaseOperator] = {}

    def build(self) -> None:
        if RUN_STATUS_TASK in self.graph:
            raise FlowDefinitionError(
                f"Flow *{self.flow_cls.__name__}*: step *{RUN_STATUS_TASK}* has the name of the "
                "task that records how the run ended; rename the step."
            )
        for node in self.graph:
            self.tasks[node.name] = self._task(node)
        for node in self.graph:
            source = self.fanouts.get(node.name, self.tasks[node.name])
            for child in node.next_steps:  # a recursive switch loops inside its own task
                source >> self.tasks[child]
        status = RunStatusOperator(
            task_id=RUN_STATUS_TASK,
            flow_name=self.flow_cls.__name__,
            doc_md="Records in the run record whether the run succeeded, once every task is done.",
        )
        [*self.tasks.values(), *self.fanouts.values()] >> status

    def _task(self, node: StepNode) -> Any:
        placement = step_placement(node)
        kwargs: dict[str, Any] = {
            "task_id": node.name,
            "flow_cls": self.flow_cls,
            "step_name": node.name,
            "doc_md": inspect.cleandoc(node.func.__doc__ or "") or None,
            **task_settings(node, placement),
        }
        if node.name in self.concurrency:
            kwargs["max_active_tis_per_dagrun"] = self.concurrency[node.name]
        if self.graph.may_skip(node.name):
            # on a switch's case, or where cases meet: runs after skipped inputs, and skips
            # itself (StepOperatorMixin.skip_unless_chosen) when no chosen case leads here
            kwargs["trigger_rule"] = MERGE_RULE
        if node.is_parallel:
            return with_card_link(self._gang_task(node, kwargs), node)
        operator = operator_for(placement)
        if self.graph.foreach_depth(node.name) == 0:
            return with_card_link(operator(**kwargs), node)
        task = operator.partial(map_index_template="{{ label }}", **kwargs).expand(
            flow_task_id=self._task_ids_for(node)
        )
        with_card_link(task, node)
        if node.is_foreach and not node.is_parallel_split:
            fanout_id = node.name + FANOUT_SUFFIX
            if fanout_id in self.graph:
                raise FlowDefinitionError(
                    f"Flow *{self.flow_cls.__name__}*: step *{fanout_id}* has the name of the "
                    f"task that collects the items of the nested foreach at *{node.name}*; "
                    "rename the step."
                )
            self.fanouts[node.name] = ForeachFanoutOperator(
                task_id=fanout_id,
                split_step=node.name,
                child_lists=task.output,
                doc_md=f"Collects the task ids of the nested foreach at step `{node.name}`.",
                # on a switch's case: collects the ids of the split tasks that ran
                **({"trigger_rule": MERGE_RULE} if self.graph.may_skip(node.name) else {}),
            )
        return task

    def _gang_task(self, node: StepNode, kwargs: dict[str, Any]) -> Any:
        """One task for the whole gang: unmapped (node 0 is ``"0"``) unless the gang is inside
        a foreach; then mapped over its split's output, the node 0 of each gang."""
        operator = gang_operator_for(step_placement(node), node)
        if self.graph.foreach_depth(node.name) == 1:
            return operator(**kwargs)
        (split,) = node.in_funcs
        return operator.partial(map_index_template="{{ label }}", **kwargs).expand(
            flow_task_id=self.tasks[split].output
        )

    def _task_ids_for(self, node: StepNode) -> Any:
        """The XCom that lists this mapped step's task ids, one per map index."""
        if node.is_join or self.graph.may_skip(node.name):
            # a step that may skip maps over every task id of its depth, not over a parent
            # whose skipped task instances pushed no pointer
            return self._ids_made_by(self.graph.foreach_frames(node.name)[-1])
        (parent,) = node.in_funcs
        if self.graph[parent].is_foreach:
            return self._ids_made_by(parent)
        return self.tasks[parent].output

    def _ids_made_by(self, split: str) -> Any:
        """All task ids one level below a foreach split: its output, flattened if mapped."""
        return (self.fanouts.get(split) or self.tasks[split]).output


def _caller_file() -> str:
    """The file that asked for the DAG (Airflow re-parses it to run tasks), not this module."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and not filename.startswith("<"):
            return filename
        frame = frame.f_back
    return ""
