"""What a flow's DAG was made with that its tasks read back: one typed record on the DAG.

:func:`~provider.dag.flow_to_dag` records it (:func:`record_deployment`); a step
operator reads it from its task's DAG (:func:`deployment_of`). Airflow parses the DAG
file again wherever a task runs, so the record is there in the worker too; an operator
made by hand, outside such a DAG, reads the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the DAG attribute that holds the record
_ATTRIBUTE = "airstep_deployment"


@dataclass(frozen=True)
class DagDeployment:
    """The choices ``to_dag(...)`` made that the DAG's tasks need."""

    #: variables every task sets, so that its step names the DAG's @project branch
    #: wherever it runs (:func:`provider.flow.project.task_environment`)
    task_env: Mapping[str, str] = field(default_factory=dict)
    #: the folder whose code remote steps get (``to_dag(code_root=...)``); None: the
    #: flow file's folder
    code_root: str | None = None


def record_deployment(dag: Any, deployment: DagDeployment) -> None:
    """Keep ``deployment`` on ``dag`` for its tasks."""
    setattr(dag, _ATTRIBUTE, deployment)


def deployment_of(dag: Any) -> DagDeployment:
    """What ``dag`` was made with; the defaults for a DAG (or None) that
    :func:`~provider.dag.flow_to_dag` did not make."""
    found = getattr(dag, _ATTRIBUTE, None)
    return found if isinstance(found, DagDeployment) else DagDeployment()
