"""Where an object sits in its run: its pathspec's parts, and a step's neighbours in the graph.

:class:`PathspecParts` gives every client object Metaflow's ``path_components``;
:class:`StepTree` gives a :class:`~provider.client.runs.Step` the steps before and after
it, the control task of a ``@parallel`` step (node 0 of each gang) and, after ``resume``,
the step of the run it resumed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provider.datastore import lineage
from provider.exceptions import DataStoreError
from provider.flow.distributed import PARALLEL_VAR

if TYPE_CHECKING:
    from provider.datastore.flowstore import FlowDataStore
    from provider.datastore.records import TaskManifest


class PathspecParts:
    """``path_components``: the pathspec's parts, ``["TrainFlow", "17000", "train", "3"]``."""

    @property
    def pathspec(self) -> str:
        raise NotImplementedError

    @property
    def path_components(self) -> list[str]:
        return self.pathspec.split("/")


class StepTree(PathspecParts):
    """A step's neighbours: what comes before and after it, and its gangs' control tasks."""

    flow_name: str
    run_id: str
    id: str
    _store: FlowDataStore

    def __getitem__(self, task_id: str) -> Any:
        raise NotImplementedError

    def _step(self, name: str) -> Any:
        return type(self)(f"{self.flow_name}/{self.run_id}/{name}", store=self._store)  # type: ignore[call-arg]

    @property
    def child_steps(self) -> list[Any]:
        """The steps that follow this one in the flow's graph, as Step objects (none after
        ``end``; every case of a switch, as in Metaflow's graph, also those it did not
        choose: ``task.chosen`` says which one ran)."""
        manifest = self._first_manifest(self.id)
        if manifest is None:
            raise DataStoreError(
                f"Step {self.pathspec} has no finished task, so which steps follow it is not "
                "recorded; read child_steps of a step that finished."
            )
        return [self._step(name) for name in manifest.next]

    @property
    def parent_steps(self) -> list[Any]:
        """The steps this one follows (none before ``start``), among the steps that ran."""
        return [self._step(name) for name in lineage.parent_steps(self._store, *self._key)]

    @property
    def control_tasks(self) -> list[Any]:
        """For a ``@parallel`` step: the control task of each gang, its node 0 (task
        ``"0"``, or ``"<path>.0"`` in a foreach); no tasks for other steps."""
        if not self._is_parallel():
            return []
        ids = self._store.list_tasks(*self._key)
        return [self[task_id] for task_id in ids if task_id.split(".")[-1] == "0"]

    @property
    def control_task(self) -> Any:
        """The first of :attr:`control_tasks`, or None."""
        tasks = self.control_tasks
        return tasks[0] if tasks else None

    @property
    def origin_pathspec(self) -> str | None:
        """After ``resume``: this step in the run it resumed; None for a run not resumed."""
        record = self._store.read_run(self.run_id)
        origin = record.origin_run_id if record is not None else None
        return f"{self.flow_name}/{origin}/{self.id}" if origin else None

    @property
    def _key(self) -> tuple[str, str]:
        return self.run_id, self.id

    def _first_manifest(self, step: str) -> TaskManifest | None:
        """The manifest of a finished task of ``step`` (each says the same of the step)."""
        for task_id in self._store.list_tasks(self.run_id, step):
            manifest = self._store.read_manifest(self.run_id, step, task_id)
            if manifest is not None:
                return manifest
        return None

    def _is_parallel(self) -> bool:
        """A gang's nodes are the items of a split over ``PARALLEL_VAR`` in the step before."""
        for parent in lineage.parent_steps(self._store, *self._key):
            manifest = self._first_manifest(parent)
            if manifest is not None and manifest.foreach is not None:
                return manifest.foreach.var == PARALLEL_VAR
        return False
