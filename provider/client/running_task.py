"""``current.task``: the running task as a client :class:`~provider.client.runs.Task`.

The flow core (``current``) sits below the client in the layers and may not import it;
the client hands ``current`` the way to read a task when it is imported, which a step's
process always does (``import provider`` imports the client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provider.client.runs import Task
from provider.flow.current import current

if TYPE_CHECKING:
    from provider.datastore.flowstore import FlowDataStore


def running_task(pathspec: str, store: FlowDataStore | None) -> Task:
    """The task ``pathspec`` in the running task's datastore (its run's namespace is not
    checked, as Metaflow's ``current.task`` does not check it)."""
    return Task(pathspec, store=store) if store is not None else Task(pathspec)


current._task_reader = running_task
