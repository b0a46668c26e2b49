"""Which tasks of a run fed which: ``Task.parent_tasks`` and ``Task.child_tasks``.

Read from the manifests alone (no flow code): a finished task's manifest names the
steps after it (``next``) and its place in the enclosing foreach splits (its index
path). A task is a parent of another when its step names the other's step as next
and one index path is a prefix of the other: a foreach split and each of its
items, each item and the join, two steps of one item, a branch and its join.
"""

from __future__ import annotations

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import TaskManifest

TaskKey = tuple[str, str]  # (step, task id)


def _manifest(store: FlowDataStore, run_id: str, step: str, task_id: str) -> TaskManifest | None:
    return store.read_manifest(run_id, step, task_id)


def _next_of(store: FlowDataStore, run_id: str, step: str) -> tuple[str, ...] | None:
    """The steps after ``step``, from any finished task of it (all give the same)."""
    for task_id in store.list_tasks(run_id, step):
        manifest = _manifest(store, run_id, step, task_id)
        if manifest is not None:
            return manifest.next
    return None


def index_path(store: FlowDataStore, run_id: str, step: str, task_id: str) -> tuple[int, ...]:
    """The task's foreach index path (empty outside a foreach).

    A finished task's manifest says it. For a task that never finished, its id says it
    (ids are index paths), except that ``"0"`` is both the first item of a foreach and a
    task outside any: it is an item when its step has other items, or a parent task is
    the foreach split that made it.
    """
    manifest = _manifest(store, run_id, step, task_id)
    if manifest is not None:
        return tuple(frame.index for frame in manifest.foreach_stack)
    parts = task_id.split(".")
    if not all(p.isdigit() for p in parts):
        return ()
    if task_id != "0":
        return tuple(int(p) for p in parts)
    if any(t != "0" for t in store.list_tasks(run_id, step)):
        return (0,)
    for parent_step in parent_steps(store, run_id, step):
        for parent_id in store.list_tasks(run_id, parent_step):
            parent = _manifest(store, run_id, parent_step, parent_id)
            if parent is not None and parent.foreach is not None and not parent.foreach_stack:
                return (0,)
    return ()


def parent_steps(store: FlowDataStore, run_id: str, step: str) -> list[str]:
    return [s for s in store.list_steps(run_id) if step in (_next_of(store, run_id, s) or ())]


def _related(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def parents(store: FlowDataStore, run_id: str, step: str, task_id: str) -> list[TaskKey]:
    path = index_path(store, run_id, step, task_id)
    found = []
    for parent_step in parent_steps(store, run_id, step):
        for parent_id in store.list_tasks(run_id, parent_step):
            if _related(index_path(store, run_id, parent_step, parent_id), path):
                found.append((parent_step, parent_id))
    return found


def children(store: FlowDataStore, run_id: str, step: str, task_id: str) -> list[TaskKey]:
    manifest = _manifest(store, run_id, step, task_id)
    if manifest is None:  # a task that did not finish started none
        return []
    path = index_path(store, run_id, step, task_id)
    steps = set(store.list_steps(run_id))
    found = []
    for child_step in manifest.next:
        if child_step not in steps:
            continue
        for child_id in store.list_tasks(run_id, child_step):
            if _related(index_path(store, run_id, child_step, child_id), path):
                found.append((child_step, child_id))
    return found
