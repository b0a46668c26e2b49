"""A flow's runs, their steps and their tasks: the objects a reader walks.

``Flow("TrainFlow").latest_run["train"].tasks()``; a task's own records (artifacts,
attempts, logs, cards) are read by :class:`~provider.client.stored_task.StoredTask`,
its base class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provider.client.namespaces import NamespaceMismatch, get_namespace
from provider.client.stored_task import StoredTask
from provider.client.tree import PathspecParts, StepTree
from provider.datastore import lineage
from provider.datastore.run_tags import (
    TaggingError,
    change_tags,
    check_tags,
    system_tags,
    user_tags,
)
from provider.datastore.user import username
from provider.exceptions import DataStoreError, MetaflowInvalidPathspec, MetaflowNotFound
from provider.processes.liveness import run_as_seen

if TYPE_CHECKING:
    from provider.datastore.flowstore import FlowDataStore
    from provider.datastore.records import RunRecord

#: run statuses that mean the run ended without success
FINAL_FAILURES = ("failed", "interrupted")


def _in_namespace(run: Run) -> bool:
    ns = get_namespace()
    record = run._run_record
    # a run recorded before runs had owners belongs to every namespace
    return ns is None or record is None or record.user is None or ns in run.tags


def _check_namespace(run: Run) -> None:
    if not _in_namespace(run):
        raise NamespaceMismatch(
            f"Run {run.pathspec} is not in the namespace {get_namespace()!r} (its tags: "
            f"{', '.join(sorted(run.tags))}); call provider.namespace(None) to read every run, "
            "or namespace('user:NAME') for another user's."
        )


def _store(flow_name: str, root: str | None) -> FlowDataStore:
    # the datastore (and its pickling and compression) loads on first read, not with
    # ``import provider``
    from provider.datastore.flowstore import FlowDataStore
    from provider.datastore.storage import storage_for

    return FlowDataStore(flow_name, storage_for(root))


def _split(pathspec: str, parts: int, what: str) -> list[str]:
    pieces = pathspec.split("/")
    if len(pieces) != parts or not all(pieces):
        example = "/".join(["TrainFlow", "1700000000", "train", "3"][:parts])
        raise MetaflowInvalidPathspec(
            f"{what} pathspec {pathspec!r} is invalid; write it as {example!r}."
        )
    return pieces


class Flow(PathspecParts):
    """All runs of one flow."""

    def __init__(
        self, name: str, *, root: str | None = None, store: FlowDataStore | None = None
    ) -> None:
        self.name = name
        self._store = store or _store(name, root)
        # a flow reached from one of its runs (``run.parent``) is not checked, as in Metaflow
        if store is None and self._store.list_runs() and not self.runs():
            raise NamespaceMismatch(
                f"Flow {name} has no run in the namespace {get_namespace()!r}; call "
                "provider.namespace(None) to read every run, or namespace('user:NAME') for "
                "another user's."
            )

    @property
    def pathspec(self) -> str:
        return self.name

    @property
    def parent(self) -> None:
        """None: a flow is the top of the tree, as in Metaflow."""
        return None

    def runs(self) -> list[Run]:
        """Runs, newest first."""
        runs = [Run(f"{self.name}/{r}", store=self._store) for r in self._store.list_runs()]
        runs = [r for r in runs if _in_namespace(r)]
        return sorted(runs, key=lambda r: r._created, reverse=True)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str) -> Run:
        run = Run(f"{self.name}/{run_id}", store=self._store)
        if not run.exists:
            raise MetaflowNotFound(f"Flow {self.name} has no run {run_id!r} in {self._store.root}.")
        _check_namespace(run)
        return run

    @property
    def latest_run(self) -> Run | None:
        runs = self.runs()
        return runs[0] if runs else None

    @property
    def latest_successful_run(self) -> Run | None:
        return next((r for r in self.runs() if r.successful), None)

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"


class Run(PathspecParts):
    """One run: its steps, and the artifacts of its end step as ``run.data``."""

    def __init__(
        self, pathspec: str, *, root: str | None = None, store: FlowDataStore | None = None
    ):
        self.flow_name, self.id = _split(pathspec, 2, "Run")
        self._store = store or _store(self.flow_name, root)
        if store is None:  # asked for by id, not listed from its flow
            _check_namespace(self)

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.id}"

    @property
    def parent(self) -> Flow:
        return Flow(self.flow_name, store=self._store)

    @property
    def origin_pathspec(self) -> str | None:
        """After ``resume``: the run it resumed (``"TrainFlow/<run id>"``); else None."""
        record = self._run_record
        origin = record.origin_run_id if record is not None else None
        return f"{self.flow_name}/{origin}" if origin else None

    @property
    def _run_record(self) -> RunRecord | None:
        """The run record; a run still "running" whose process is gone from this host failed."""
        record = self._store.read_run(self.id)
        return run_as_seen(record) if record is not None else None

    @property
    def record(self) -> dict[str, Any]:
        """The run record as a dict: status, created_at, origin_run_id, parameters, tags."""
        record = self._run_record
        return asdict(record) if record else {}

    @property
    def exists(self) -> bool:
        return self._run_record is not None or bool(self._store.list_steps(self.id))

    @property
    def _created(self) -> float:
        record = self._run_record
        return record.created_at if record else 0.0

    @property
    def created_at(self) -> datetime:
        """When the run started (a datetime, as in Metaflow)."""
        return datetime.fromtimestamp(self._created)

    @property
    def user_tags(self) -> frozenset[str]:
        """The tags the run was given (``run --tag NAME``, :meth:`add_tag`)."""
        return user_tags(self._store, self.id, self._run_record)

    @property
    def system_tags(self) -> frozenset[str]:
        """``user:NAME`` (who started the run) and ``runtime:local`` or ``runtime:airflow``."""
        return system_tags(self._run_record)

    @property
    def tags(self) -> frozenset[str]:
        """User and system tags, as in Metaflow (namespaces are tags)."""
        return self.user_tags | self.system_tags

    def add_tag(self, tag: str) -> None:
        self.replace_tags([], [tag])

    def add_tags(self, tags: Iterable[str]) -> None:
        self.replace_tags([], tags)

    def remove_tag(self, tag: str) -> None:
        self.replace_tags([tag], [])

    def remove_tags(self, tags: Iterable[str]) -> None:
        self.replace_tags(tags, [])

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        self.replace_tags([tag_to_remove], [tag_to_add])

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        """Remove some user tags and add others, in one atomic change of the run's tags."""
        what = f"Run {self.pathspec}"
        remove, add = check_tags(tags_to_remove, what), check_tags(tags_to_add, what)
        if not self.exists:
            raise MetaflowNotFound(f"{what} does not exist in {self._store.root}; nothing to tag.")
        system = sorted(set(remove) & self.system_tags)
        if system:
            raise TaggingError(
                f"{what}: {', '.join(system)} is a system tag (who ran the run, and where), "
                "which cannot be removed; remove a user tag instead."
            )
        change_tags(self._store, self.id, lambda old: (old - set(remove)) | set(add))

    @property
    def parameters(self) -> dict[str, Any]:
        record = self._run_record
        return dict(record.parameters) if record else {}

    def steps(self) -> list[Step]:
        steps = [
            Step(f"{self.pathspec}/{s}", store=self._store) for s in self._store.list_steps(self.id)
        ]
        return sorted(steps, key=lambda s: s.started_at)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, step: str) -> Step:
        if step not in self._store.list_steps(self.id):
            raise MetaflowNotFound(f"Run {self.pathspec} has no step {step!r} (yet).")
        return Step(f"{self.pathspec}/{step}", store=self._store)

    def __contains__(self, step: str) -> bool:
        return step in self._store.list_steps(self.id)

    @property
    def end_task(self) -> Task | None:
        task = Task(f"{self.pathspec}/end/0", store=self._store)
        return task if task.finished else None

    @property
    def successful(self) -> bool:
        """The run's own final status says it succeeded.

        A run whose record carries no status (an Airflow run) counts as successful once its
        end step has finished.
        """
        record = self._run_record
        if record is not None and record.status is not None:
            return record.status == "ok"
        return self.end_task is not None

    @property
    def finished(self) -> bool:
        record = self._run_record
        if record is not None and record.status is not None:
            return record.status == "ok" or record.status in FINAL_FAILURES
        return self.end_task is not None

    @property
    def data(self) -> Any:
        end = self.end_task
        if end is None:
            raise DataStoreError(f"Run {self.pathspec} has not finished its end step.")
        return end.data

    def __repr__(self) -> str:
        return f"Run({self.pathspec!r})"


class Step(StepTree):
    """The tasks of one step in a run; :class:`~provider.client.tree.StepTree` adds its
    neighbours (``child_steps``, ``parent_steps``, ``control_tasks``)."""

    def __init__(
        self, pathspec: str, *, root: str | None = None, store: FlowDataStore | None = None
    ):
        self.flow_name, self.run_id, self.id = _split(pathspec, 3, "Step")
        self._store = store or _store(self.flow_name, root)

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.id}"

    @property
    def parent(self) -> Run:
        return Run(f"{self.flow_name}/{self.run_id}", store=self._store)

    def tasks(self) -> list[Task]:
        ids = self._store.list_tasks(self.run_id, self.id)
        return [Task(f"{self.pathspec}/{t}", store=self._store) for t in ids]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __getitem__(self, task_id: str) -> Task:
        return Task(f"{self.pathspec}/{task_id}", store=self._store)

    @property
    def task(self) -> Task:
        """The step's task (the first one, for a foreach body)."""
        tasks = self.tasks()
        if not tasks:
            raise DataStoreError(f"Step {self.pathspec} has no tasks.")
        return tasks[0]

    @property
    def started_at(self) -> float:
        times = [t.started_at for t in self.tasks()]
        return min(times, default=float("inf"))

    def __repr__(self) -> str:
        return f"Step({self.pathspec!r})"


class Task(StoredTask):
    """One task: its artifacts (``task.data.x`` or ``task["x"].data``), its log and attempts,
    and where it sits in its run."""

    def __init__(
        self, pathspec: str, *, root: str | None = None, store: FlowDataStore | None = None
    ):
        flow_name, run_id, step_name, task_id = _split(pathspec, 4, "Task")
        super().__init__(flow_name, run_id, step_name, task_id, store or _store(flow_name, root))
        if store is None:  # asked for by id: its run must be in the namespace
            _check_namespace(Run(f"{self.flow_name}/{self.run_id}", store=self._store))

    @property
    def run(self) -> Run:
        return Run(f"{self.flow_name}/{self.run_id}", store=self._store)

    @property
    def parent(self) -> Step:
        return Step(f"{self.flow_name}/{self.run_id}/{self.step_name}", store=self._store)

    @property
    def parent_tasks(self) -> list[Task]:
        """The tasks whose artifacts this task started from (a join's: all its inputs)."""
        keys = lineage.parents(self._store, self.run_id, self.step_name, self.id)
        return [self._sibling(step, task_id) for step, task_id in keys]

    @property
    def child_tasks(self) -> list[Task]:
        """The tasks that started from this task's artifacts (a foreach split's: its items)."""
        keys = lineage.children(self._store, self.run_id, self.step_name, self.id)
        return [self._sibling(step, task_id) for step, task_id in keys]

    def _sibling(self, step: str, task_id: str) -> Task:
        return Task(f"{self.flow_name}/{self.run_id}/{step}/{task_id}", store=self._store)

    @property
    def tags(self) -> frozenset[str]:
        """The tags of the task's run."""
        return self.run.tags

    @property
    def user_tags(self) -> frozenset[str]:
        return self.run.user_tags

    @property
    def system_tags(self) -> frozenset[str]:
        return self.run.system_tags

    @property
    def metadata_dict(self) -> dict[str, str]:
        """Facts about the task as strings, under Metaflow's names: ``attempt``,
        ``attempt-done``, ``attempt_ok``, ``origin-run-id``, ``user``, ``runtime``,
        ``ds-type``, ``ds-root``."""
        attempts = self._store.attempts(self.run_id, self.step_name, self.id)
        record = self.run._run_record
        last = attempts[-1] if attempts else 0
        facts = {
            "attempt": str(last),
            "origin-run-id": str(record.origin_run_id if record else None),
            "user": str(record.user if record and record.user else username()),
            "runtime": (record.executor or "airflow") if record else "airflow",
            "ds-type": "s3" if self._store.root.startswith("s3://") else "local",
            "ds-root": self._store.root,
        }
        if self.finished or self.exception is not None:
            facts["attempt-done"] = str(last)
            facts["attempt_ok"] = str(self.finished)
        return facts

    def __repr__(self) -> str:
        return f"Task({self.pathspec!r})"
