"""The ids that name places in the datastore, checked here, once, before anything is written.

A flow name, run id, step name and task id each become one part of a storage key (a folder
under a local root, a segment of an S3 key). They come from places a reader cannot trust:
the command line, Airflow's run id (which whoever triggers a run may choose), a run's
``conf``, XCom. So every key is built from parts that passed these checks, and no part can
be empty, ``.``, ``..``, hold a ``/`` or start a hidden (``.``) name.

========  =====================================================================
flow      a Python class name: ``TrainFlow``
step      a Python identifier: ``train``
task      a foreach index path: ``0``, ``3``, ``3.5``
run       1 to 255 of ``A-Z a-z 0-9 _ . ~ : + - @``, not starting with ``.``:
          ``1700000000000000``, ``manual__2026-01-01T00:00:00+00:00``, ``-x1``
========  =====================================================================

Every run id Airflow accepts by default (``[scheduler] allowed_run_id_pattern``) passes,
except those starting with ``.`` (``.`` itself names the folder of all runs).

Runs belong to the DAG that made them. Airflow's run ids are unique within one DAG only,
and two DAGs of one flow (two ``@project`` branches, or ``to_dag(dag_id=...)`` twice) are
scheduled with the same ids, so :func:`flow_run_id` gives the run of a DAG whose id is not
the flow's name the id ``<dag id>@<Airflow run id>``: ``Run("DemoFlow/demo.prod.DemoFlow@
scheduled__2025-01-01T00:00:00+00:00")``. Airflow's default pattern has no ``@``, so no run
of the flow's own DAG takes such an id unless a deployment widened the pattern, and then
the run record's DAG (:attr:`~provider.datastore.records.RunRecord.dag_id`) still refuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provider.exceptions import InvalidId

#: the longest run id: one path component
MAX_RUN_ID = 255
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TASK = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_RUN = re.compile(r"[A-Za-z0-9_~:+@-][A-Za-z0-9_.~:+@-]*")
#: Airflow's DAG ids: letters, digits, ``_``, ``.`` and ``-`` (its ``KEY_REGEX``)
_DAG = re.compile(r"[A-Za-z0-9_.-]+")


def check_flow_name(name: object) -> str:
    """``name`` if it can name a flow's folder (a class name), else :class:`InvalidId`."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    raise InvalidId(
        f"Invalid flow name {name!r}: a flow is named by its class, letters, digits and "
        "underscores, not starting with a digit."
    )


def check_step_name(name: object, flow: str = "") -> str:
    """``name`` if it can name a step (a Python identifier), else :class:`InvalidId`."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    raise InvalidId(
        f"Invalid step name {name!r}{_of(flow)}: a step is named by its method, letters, "
        "digits and underscores, not starting with a digit."
    )


def check_task_id(task_id: object, where: str = "") -> str:
    """``task_id`` if it is a foreach index path (``0``, ``3.5``), else :class:`InvalidId`."""
    if isinstance(task_id, str) and _TASK.fullmatch(task_id):
        return task_id
    raise InvalidId(
        f"Invalid task id {task_id!r}{_of(where)}: a task id is its foreach index path, "
        "numbers joined by dots, like '0', '3' or '3.5'."
    )


def check_run_id(run_id: object, flow: str = "") -> str:
    """``run_id`` if it can name a run's folder, else :class:`InvalidId` naming the fix."""
    if isinstance(run_id, str) and is_run_id(run_id):
        return run_id
    shown = run_id if not isinstance(run_id, str) or len(run_id) <= 80 else run_id[:80] + "..."
    raise InvalidId(
        f"Invalid run id {shown!r}{_of(flow)}: a run id is 1 to {MAX_RUN_ID} of the characters "
        "A-Z a-z 0-9 _ . ~ : + - @, not starting with '.'. Choose another run id "
        "(under Airflow, trigger the run with another run_id)."
    )


@dataclass(frozen=True)
class TaskKey:
    """One task of one run of a flow: its pathspec ``Flow/run/step/task`` (Metaflow's)."""

    flow: str
    run_id: str
    step: str
    task_id: str

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}/{self.step}/{self.task_id}"

    @property
    def run_pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}"

    def __str__(self) -> str:
        return self.pathspec


def is_run_id(name: str) -> bool:
    return len(name.encode()) <= MAX_RUN_ID and _RUN.fullmatch(name) is not None


def is_step_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def is_task_id(name: str) -> bool:
    return _TASK.fullmatch(name) is not None


def flow_run_id(flow: str, dag_id: str, airflow_run_id: str) -> str:
    """The flow's run id of an Airflow run: Airflow's run id in the flow's own DAG (the DAG id
    is the flow's name), else ``<dag id>@<Airflow run id>``, so two DAGs of one flow never
    share a run. Checked: a run id that cannot name a run is :class:`InvalidId`."""
    if not _DAG.fullmatch(dag_id):
        raise InvalidId(f"Invalid DAG id {dag_id!r} for flow {flow}.")
    run_id = airflow_run_id if dag_id == flow else f"{dag_id}@{airflow_run_id}"
    if is_run_id(run_id):
        return run_id
    raise InvalidId(
        f"Invalid run id {airflow_run_id[:80]!r} of DAG {dag_id} (flow {flow}): the flow's "
        f"run id {run_id[:80]!r} must be 1 to {MAX_RUN_ID} of the characters A-Z a-z 0-9 _ . ~ "
        ": + - @, not starting with '.'. Trigger the run with another run_id."
    )


def _of(where: str) -> str:
    return f" of {where}" if where else ""
