"""``RunStatusOperator``: the last task of every compiled DAG, recording how the run ended.

A failed run never reaches its ``end`` step, so without this task nothing would
tell the client that the run is over. The task runs after every other task of
the DAG run (trigger rule ``all_done``) and writes the run record's ``status``
(``"ok"`` when the ``end`` task's manifest exists, else ``"failed"``) and
``finished_at`` through :meth:`~provider.datastore.flowstore.FlowDataStore.update_run`.

It is the DAG's only leaf, and Airflow decides a DAG run's state from its leaves
(``DagRun.update_state``: failed when a leaf failed, once every task is done), so
on a failed run it fails itself, without a retry, and the DAG run still ends failed.

Why a task and not the DAG's ``on_success_callback`` / ``on_failure_callback``:
under the scheduler those run in the DAG processor, with other access to the
datastore than the workers, without retries and with their logs out of sight,
while ``dag.test()`` and ``airflow dags test`` run them inline; a task runs in a
worker like every step, the same way under all three.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.ids import flow_run_id
from provider.operators.base import worker_storage

if TYPE_CHECKING:
    from airflow.sdk import Context

#: the task id of the run status task; no step may take it
RUN_STATUS_TASK = "__run_status"


class RunStatusOperator(BaseOperator):
    """Record in the run record whether the flow's run succeeded, once every task is done.

    :param flow_name: the flow whose run record is written.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#f4f4f4"

    def __init__(self, *, flow_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)
        self.flow_name = flow_name

    def execute(self, context: Context) -> None:
        dag_id = context["ti"].dag_id
        run_id = flow_run_id(self.flow_name, dag_id, context["run_id"])
        store = FlowDataStore(self.flow_name, worker_storage())
        stored = store.read_run(run_id)
        if stored is not None and stored.dag_id not in (None, dag_id):
            raise AirflowFailException(
                f"Run {self.flow_name}/{run_id} was made by DAG {stored.dag_id}, not by DAG "
                f"{dag_id}: its status is not recorded from here."
            )
        ended = store.read_manifest(run_id, "end", "0") is not None
        status = "ok" if ended else "failed"
        store.update_run(run_id, status=status, finished_at=time.time())
        self.log.info("Run %s/%s ended: status %r recorded.", self.flow_name, run_id, status)
        if not ended:
            raise AirflowFailException(
                f"Run {self.flow_name}/{run_id} failed: its end step did not run"
                f"{_failed_tasks(context)}; the run is recorded as failed. Fix the failing "
                "step, then clear its task (with its downstream tasks) to run it again."
            )


def _failed_tasks(context: Context) -> str:
    """`` (failed: bad, work_1)``: the DAG run's failed task instances, as Airflow names them."""
    try:
        found = context["ti"].get_task_states(  # type: ignore[attr-defined]
            dag_id=context["ti"].dag_id, run_ids=[context["run_id"]]
        )
    except Exception:  # noqa: BLE001 - the names only help the message
        return ""
    states = found.get(context["run_id"], {})
    failed = sorted(task for task, state in states.items() if state == "failed")
    return f" (failed: {', '.join(failed)})" if failed else ""
