"""``flow_to_dag``: a flow's DAG, one task per step, and the edges between them.

How each flow concept becomes Airflow's is described in :mod:`provider.dag`.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, BaseOperator

from provider.dag.docs import deployment_doc, flow_doc, project_tags
from provider.dag.params import dag_params, is_required
from provider.datastore.code_files import code_source
from provider.decorators.placement import Placement, step_placement
from provider.decorators.resolve import step_attempts, step_catches
from provider.exceptions import FlowDefinitionError
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.project import project_info, task_environment
from provider.flow.spec import FlowSpec
from provider.operators.base import execution_timeout
from provider.operators.card_link import with_card_link
from provider.operators.dag_deployment import DagDeployment, record_deployment
from provider.operators.placement import gang_operator_for, operator_for
from provider.operators.status import RUN_STATUS_TASK, RunStatusOperator
from provider.operators.step import ForeachFanoutOperator

DEFAULT_START_DATE = (2024, 1, 1)
FANOUT_SUFFIX = "__fanout"
#: the trigger rule of a step that may be skipped by a switch: it runs after skipped inputs
MERGE_RULE = "none_failed_min_one_success"
#: the ``provider`` package: frames in it are not the file that asked for the DAG
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    """The flow as an Airflow DAG (:mod:`provider.dag` describes the mapping).

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
    required = [p.name for p in flow_cls.parameters().values() if is_required(p)]
    if schedule is not None and required:
        raise FlowDefinitionError(
            f"Flow *{flow_cls.__name__}* has a schedule ({schedule!r}) but parameter "
            f"*{required[0]}* is required and has no default, so a scheduled run could not "
            f"start; give *{required[0]}* a default, or drop the schedule."
        )
    doc = flow_doc(flow_cls)
    deployment = deployment_doc(flow_cls, project)
    if start_date is None:
        start_date = pendulum.datetime(
            *DEFAULT_START_DATE, tz=flow_schedule.get("timezone") or "UTC"
        )
    settings: dict[str, Any] = {
        "catchup": False,
        "doc_md": "\n\n".join(filter(None, [doc, deployment])) or None,
        "description": doc.split("\n\n")[0].replace("\n", " ") or None,
        "tags": list(dict.fromkeys(["airstep", *project_tags(project), *(tags or [])])),
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
    record_deployment(dag, DagDeployment(task_env=task_environment(project), code_root=code_root))
    with dag:
        _DagBuilder(flow_cls, graph, _check_concurrency(graph, step_concurrency)).build()
    return dag


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


def task_settings(node: StepNode, placement: Placement = Placement.LOCAL) -> dict[str, Any]:
    """Airflow task arguments that come from the step's decorators, where the step runs."""
    settings: dict[str, Any] = {}
    retry = node.decorators.get("retry")
    if retry is not None:
        settings["retries"] = retry.times
        settings["retry_delay"] = timedelta(seconds=retry.delay_seconds)
    if step_catches(node):  # its last try is @catch's fallback attempt
        settings["retries"] = step_attempts(node) - 1
        settings.setdefault("retry_delay", timedelta(0))
    timeout = execution_timeout(node, remote=placement != Placement.LOCAL)
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
            return with_card_link(self._gang_task(node, placement, kwargs), node)
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

    def _gang_task(self, node: StepNode, placement: Placement, kwargs: dict[str, Any]) -> Any:
        """One task for the whole gang: unmapped (node 0 is ``"0"``) unless the gang is inside
        a foreach; then mapped over its split's output, the node 0 of each gang."""
        operator = gang_operator_for(placement, node)
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
