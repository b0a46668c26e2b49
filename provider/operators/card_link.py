"""The "Card" link of a step's task in the Airflow UI, and what the plugin reads to find it.

Only the tasks of steps with ``@card`` get the link, and a task param,
:data:`CARD_TASK_PARAM`, that names their flow and step: Airflow serializes a task's params
with the DAG (the operator's flow class does not survive serialization), so the API server
reads them from the DAG the DAG processor parsed, never from anything a task wrote. Such a
task also pushes one small XCom, :data:`TASK_POINTER_KEY`: the flow task it runs (flow, run,
step, task id), or the flow tasks of its chunk in a wide foreach (:class:`CardPointer`). Its
"Card" link leads to the airstep plugin in Airflow's API server (:mod:`provider.plugin`)
with Airflow's own identity of the task instance (DAG, run, task, map index); the plugin
checks that the user may see the DAG's task instances, takes the flow and step from the
DAG's task and the flow's run from the DAG and Airflow's run, and takes only the task ids
from the pointer (checked, and refused when its flow, run or step are not the DAG's). The
link never names the flow task itself, so a URL cannot be bent to reach another DAG's cards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from airflow.sdk import BaseOperatorLink, Param
from airflow.sdk.configuration import conf

from provider.decorators.card import step_cards

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

    from provider.runtime.request import TaskRequest

#: the XCom key of a task's pointer to its flow task (only steps with @card push it)
TASK_POINTER_KEY = "airstep_task"
#: where the plugin's app is mounted in the API server
CARDS_URL_PREFIX = "/airstep/cards"
#: the task param that names the flow and step of a task with cards (``{"flow", "step"}``);
#: a ``:`` in its name keeps it apart from the flow's own parameters
CARD_TASK_PARAM = "airstep:card"


def has_cards(operator: Any) -> bool:
    flow_cls = getattr(operator, "flow_cls", None)
    step_name = getattr(operator, "step_name", None)
    if flow_cls is None or step_name is None:
        return False
    return bool(step_cards(flow_cls.graph()[step_name]))


def with_card_link(task: Any, node: Any) -> Any:
    """The task (an operator or a mapped one) with a "Card" link when its step has @card.

    Called where the DAG is built (the serialized DAG tells the UI which links a task has)
    and again when the task runs (a mapped task's operator is made anew in the worker, from
    its class), so the link's URL is pushed with the task's other links.
    """
    if not step_cards(node):
        return task
    links = tuple(task.operator_extra_links)
    if not any(isinstance(link, CardLink) for link in links):
        task.operator_extra_links = (*links, CardLink())
    flow_cls = getattr(task, "flow_cls", None) or task.partial_kwargs["flow_cls"]
    task.params[CARD_TASK_PARAM] = Param(
        {"flow": flow_cls.__name__, "step": node.name},
        description="The flow and step of this task, where the airstep plugin finds its cards.",
    )
    return task


def card_task(params: Any) -> tuple[str, str] | None:
    """The (flow, step) a task's params name (:data:`CARD_TASK_PARAM`); None when they name
    none, as for a task whose step has no @card."""
    if params is None or CARD_TASK_PARAM not in params:
        return None
    value = params[CARD_TASK_PARAM]
    if not isinstance(value, dict):
        return None
    flow, step = value.get("flow"), value.get("step")
    return (flow, step) if isinstance(flow, str) and isinstance(step, str) else None


@dataclass(frozen=True)
class CardPointer:
    """The flow tasks a task instance runs: one, or a chunk's (in order).

    In XCom, one task is ``{"flow", "run_id", "step", "task_id"}`` and a chunk names
    ``"task_ids"`` instead of ``"task_id"``.
    """

    flow: str
    run_id: str
    step: str
    task_ids: tuple[str, ...]

    def to_xcom(self) -> dict[str, Any]:
        where = {"flow": self.flow, "run_id": self.run_id, "step": self.step}
        if len(self.task_ids) == 1:
            return {**where, "task_id": self.task_ids[0]}
        return {**where, "task_ids": list(self.task_ids)}

    @classmethod
    def from_xcom(cls, value: Any) -> CardPointer | None:
        """The pointer in an XCom value (its fields strings, as written); None for anything
        else. Its ids are not checked here: see :func:`provider.datastore.ids.check_task_id`."""
        if not isinstance(value, dict):
            return None
        ids = value.get("task_ids", [value.get("task_id")])
        flow, run_id, step = value.get("flow"), value.get("run_id"), value.get("step")
        if not isinstance(ids, list) or not ids:
            return None
        if not all(isinstance(v, str) for v in [flow, run_id, step, *ids]):
            return None
        return cls(flow=flow, run_id=run_id, step=step, task_ids=tuple(ids))


def push_task_pointer(operator: Any, context: Context, requests: Sequence[TaskRequest]) -> None:
    """Tell the plugin which flow tasks this task instance runs (steps with @card only):
    one, or those of its chunk."""
    if has_cards(operator) and requests:
        pointer = CardPointer(
            flow=operator.flow_cls.__name__,
            run_id=requests[0].run_id,
            step=requests[0].step,
            task_ids=tuple(r.task_id for r in requests),
        )
        context["ti"].xcom_push(key=TASK_POINTER_KEY, value=pointer.to_xcom())


def card_url(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The plugin's page of a task instance's cards (absolute when ``[api] base_url`` is set)."""
    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    query = urlencode({"run_id": run_id, "task_id": task_id, "map_index": map_index})
    return f"{base}{CARDS_URL_PREFIX}/{quote(dag_id, safe='')}?{query}"


class CardLink(BaseOperatorLink):
    """ "Card": the task's cards, served by the airstep plugin behind Airflow's login."""

    name = "Card"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if not has_cards(operator):
            return ""
        return card_url(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)
