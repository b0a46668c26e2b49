"""Read what flows produced: ``Flow("TrainFlow").latest_run["end"].task.data.best``.

The same objects read local runs and Airflow runs (an Airflow run id is a run id).
Artifacts load on first access.

- :mod:`~provider.client.runs`: ``Flow``, ``Run``, ``Step`` and ``Task``, the objects a
  reader walks;
- :mod:`~provider.client.stored_task`: what one task stored (artifacts, attempts, its
  failure as a ``TaskException``, logs, cards);
- :mod:`~provider.client.tree`: where an object sits (``path_components``, a step's
  ``child_steps``, ``parent_steps`` and ``control_tasks``);
- :mod:`~provider.client.namespaces`: which runs a reader sees;
- :mod:`~provider.client.running_task`: ``current.task`` inside a running step.
"""

from provider.client import running_task  # noqa: F401 - gives current.task its reader
from provider.client.namespaces import (
    NamespaceMismatch,
    default_namespace,
    get_namespace,
    namespace,
)
from provider.client.runs import FINAL_FAILURES, Flow, Run, Step, Task
from provider.client.stored_task import FLOW_NAME_ARTIFACT, DataArtifact, TaskException

__all__ = [
    "FINAL_FAILURES",
    "FLOW_NAME_ARTIFACT",
    "DataArtifact",
    "Flow",
    "NamespaceMismatch",
    "Run",
    "Step",
    "Task",
    "TaskException",
    "default_namespace",
    "get_namespace",
    "namespace",
]
