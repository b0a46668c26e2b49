"""Read what flows produced: ``Flow("TrainFlow").latest_run["end"].task.data.best``.

The same objects read local runs and Airflow runs (an Airflow run id is a run id).
Artifacts load on first access.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provider import exceptions as airstep_exceptions
from provider.datastore import lineage
from provider.datastore.run_tags import (
    TaggingError,
    change_tags,
    check_tags,
    system_tags,
    user_tags,
)
from provider.datastore.user import username
from provider.exceptions import (
    AirstepError,
    DataStoreError,
    MetaflowInvalidPathspec,
    MetaflowNamespaceMismatch,
    MetaflowNotFound,
)
from provider.processes.liveness import attempt_as_seen, run_as_seen

if TYPE_CHECKING:
    from provider.cards.store import Card
    from provider.datastore.flowstore import FlowDataStore
    from provider.datastore.records import RunRecord

#: run statuses that mean the run ended without success
FINAL_FAILURES = ("failed", "interrupted")


#: the artifact every task has in Metaflow: the flow's name (``self.name`` there)
FLOW_NAME_ARTIFACT = "name"


class TaskException(Exception):
    """Why a task failed, with the attributes of Metaflow's: ``type`` (``module.Class``),
    ``exception`` (the message) and ``stacktrace``; ``str()`` gives the traceback."""

    def __init__(self, class_name: str, message: str, stacktrace: str | None) -> None:
        super().__init__(message)
        self.type = _qualified(class_name, stacktrace)
        self.exception = message
        self.stacktrace = stacktrace or f"{self.type}: {message}\n"

    def __str__(self) -> str:
        return self.stacktrace

    def __repr__(self) -> str:
        return f"TaskException({self.type!r}, {self.exception!r})"


def _qualified(class_name: str, stacktrace: str | None) -> str:
    """``builtins.ValueError``, ``provider.exceptions.StepTimeout``, ``my_flow.Boom``."""
    if isinstance(getattr(builtins, class_name, None), type):
        return f"builtins.{class_name}"
    if isinstance(getattr(airstep_exceptions, class_name, None), type):
        return f"provider.exceptions.{class_name}"
    # the traceback's last line names the class with its module, unless it is __main__'s
    for line in reversed((stacktrace or "").strip().splitlines()):
        head = line.split(":", 1)[0].strip()
        if head == class_name or head.endswith(f".{class_name}"):
            return head if "." in head else f"__main__.{class_name}"
    return class_name


# -- namespaces ----------------------------------------------------------------------------------


class NamespaceMismatch(MetaflowNamespaceMismatch):
    """A run was asked for by id that is not in the current namespace."""

    def __init__(self, message: str) -> None:
        AirstepError.__init__(self, message)


_DEFAULT = object()
_namespace: Any = _DEFAULT


def default_namespace() -> str:
    """Go back to the default namespace, ``user:<you>`` (your runs), and return it."""
    global _namespace
    _namespace = _DEFAULT
    return f"user:{username()}"


def namespace(ns: str | None) -> str | None:
    """Read only runs tagged ``ns`` (``"user:alice"``, or any tag); None reads every run."""
    global _namespace
    if ns is not None and (not isinstance(ns, str) or not ns):
        raise ValueError(
            f"namespace({ns!r}) is invalid; give a tag such as 'user:alice', or None for all runs."
        )
    _namespace = ns
    return ns


def get_namespace() -> str | None:
    """The current namespace: ``user:<you>`` unless :func:`namespace` changed it."""
    # the default follows $AIRSTEP_USER (a worker process may serve several users' runs)
    return f"user:{username()}" if _namespace is _DEFAULT else _namespace


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


class Flow:
    """All runs of one flow."""

    def __init__(self, name: str, *, root: str | None = None) -> None:
        self.name = name
        self._store = _store(name, root)
        if self._store.list_runs() and not self.runs():
            raise NamespaceMismatch(
                f"Flow {name} has no run in the namespace {get_namespace()!r}; call "
                "provider.namespace(None) to read every run, or namespace('user:NAME') for "
                "another user's."
            )

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


class Run:
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


class Step:
    """The tasks of one step in a run."""

    def __init__(
        self, pathspec: str, *, root: str | None = None, store: FlowDataStore | None = None
    ):
        self.flow_name, self.run_id, self.id = _split(pathspec, 3, "Step")
        self._store = store or _store(self.flow_name, root)

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.id}"

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


class DataArtifact:
    def __init__(self, task: Task, name: str) -> None:
        self.name = name
        self._task = task

    @property
    def id(self) -> str:
        """The artifact's name (Metaflow's spelling)."""
        return self.name

    @property
    def data(self) -> Any:
        return self._task._load(self.name)

    @property
    def sha(self) -> str:
        """The SHA-256 of the stored value (of the name's UTF-8 bytes for ``name``)."""
        task = self._task
        if self.name == FLOW_NAME_ARTIFACT and (
            not task.finished or not task._record.has(self.name)
        ):
            return hashlib.sha256(self._task.flow_name.encode()).hexdigest()
        return self._task._record.sha(self.name)

    def __repr__(self) -> str:
        return f"DataArtifact({self._task.pathspec}/{self.name})"


class _Data:
    def __init__(self, task: Task) -> None:
        self._task = task

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._task._load(name)
        except AttributeError:
            names = ", ".join(sorted(self._task._names())) or "none"
            raise AttributeError(
                f"Task {self._task.pathspec} has no artifact {name!r}; it has {names}."
            ) from None

    def __dir__(self) -> list[str]:
        # the names ``task.data.<name>`` reads: private ones are read as task["_name"]
        return sorted(n for n in self._task._names() if not n.startswith("_"))


class _ArtifactNames(list[str]):
    """A task's artifact names; ``task.artifacts.x.data`` also reads one, as in Metaflow."""

    def __init__(self, task: Task, names: list[str]) -> None:
        super().__init__(names)
        self._task = task

    def __getattr__(self, name: str) -> DataArtifact:
        if name.startswith("_") or name not in self:
            raise AttributeError(f"Task {self._task.pathspec} has no artifact {name!r}.")
        return DataArtifact(self._task, name)


class Task:
    """One task: its artifacts (``task.data.x`` or ``task["x"].data``), its log and attempts."""

    def __init__(
        self, pathspec: str, *, root: str | None = None, store: FlowDataStore | None = None
    ):
        self.flow_name, self.run_id, self.step_name, self.id = _split(pathspec, 4, "Task")
        from provider.datastore.flowstore import TaskRecord

        self._store = store or _store(self.flow_name, root)
        self._record = TaskRecord(self._store, self.run_id, self.step_name, self.id)
        if store is None:  # asked for by id: its run must be in the namespace
            _check_namespace(Run(f"{self.flow_name}/{self.run_id}", store=self._store))

    @property
    def pathspec(self) -> str:
        return self._record.pathspec

    @property
    def successful(self) -> bool:
        """The step function completed: False for a task that failed, and (as in Metaflow)
        for one whose failure @catch caught."""
        return self._record.exists and self._record.manifest.caught is None

    @property
    def finished(self) -> bool:
        """The task ended and its artifacts are stored (also when @catch caught a failure)."""
        return self._record.exists

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
    def origin_pathspec(self) -> str | None:
        """For a task ``resume`` reused from an earlier run: that run's task; else None."""
        if not self.finished or self._record.manifest.cloned_from is None:
            return None
        origin = self._record.manifest.cloned_from
        return f"{self.flow_name}/{origin}/{self.step_name}/{self.id}"

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

    @property
    def data(self) -> Any:
        self._record.manifest  # noqa: B018 - fail now, naming the task, if it did not finish
        return _Data(self)

    def __getitem__(self, name: str) -> DataArtifact:
        if name not in self:
            raise MetaflowNotFound(f"Task {self.pathspec} has no artifact {name!r}.")
        return DataArtifact(self, name)

    def __contains__(self, name: str) -> bool:
        if not self.finished:  # a failed task keeps no artifacts; its flow's name is known
            return name == FLOW_NAME_ARTIFACT
        return name in self._names()

    def _load(self, name: str) -> Any:
        if name == FLOW_NAME_ARTIFACT and (not self.finished or not self._record.has(name)):
            return self.flow_name
        return self._record.load(name)

    def _names(self) -> list[str]:
        """The stored artifacts' names, and ``name`` (the flow's name, as in Metaflow)."""
        names = list(self._record.artifacts)
        return names if FLOW_NAME_ARTIFACT in names else [*names, FLOW_NAME_ARTIFACT]

    def __iter__(self) -> Iterator[DataArtifact]:
        return (DataArtifact(self, n) for n in self.artifacts)

    @property
    def artifacts(self) -> list[str]:
        """Artifact names, without ``_private`` ones (``task["_private"]`` still reads them)."""
        names = sorted(n for n in self._names() if not n.startswith("_"))
        return _ArtifactNames(self, names)

    @property
    def index(self) -> int | None:
        """The task's index in its innermost foreach; None outside one (also for a task
        that failed)."""
        path = lineage.index_path(self._store, self.run_id, self.step_name, self.id)
        return path[-1] if path else None

    @property
    def chosen(self) -> str | None:
        """For a switch step's task: the step it chose to run next (the cases it did not
        choose have no tasks); None for other steps."""
        return self._record.manifest.chosen

    @property
    def exception(self) -> TaskException | None:
        """Why the task failed, as Metaflow gives it (``type``, ``exception`` = the message,
        ``stacktrace``; ``str()`` is the traceback): the last attempt's failure, or
        ``TaskCrashed`` for a process that exited or was killed. None for a task that
        finished (what @catch caught is :attr:`caught`) or still runs."""
        if self.finished:
            return None
        rid, step, tid = self.run_id, self.step_name, self.id
        attempts = self._store.attempts(rid, step, tid)
        record = self._store.read_attempt(rid, step, tid, attempts[-1]) if attempts else None
        run = self._store.read_run(rid)
        if record is not None and run is not None:
            record = attempt_as_seen(record, run)
        if record is None or record.status != "failed":
            return None
        return TaskException(record.exception or "", record.message or "", record.traceback)

    @property
    def caught(self) -> dict[str, Any] | None:
        """What @catch caught in this task: ``exception`` (the class name), ``message`` and
        ``var`` (the artifact that holds it); None if the step succeeded."""
        if not self.finished:
            return None
        caught = self._record.manifest.caught
        return asdict(caught) if caught else None

    @property
    def current_attempt(self) -> int:
        """The attempt whose artifacts the task holds (0 unless @retry ran it again)."""
        return self._record.manifest.attempt

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt's record (status, times, and for a failure its exception)."""
        rid, step, tid = self.run_id, self.step_name, self.id
        run = self._store.read_run(rid)
        found = []
        for n in self._store.attempts(rid, step, tid):
            record = self._store.read_attempt(rid, step, tid, n)
            if record is not None and run is not None:
                record = attempt_as_seen(record, run)
            found.append({"attempt": n, **(asdict(record) if record else {})})
        return found

    @property
    def started_at(self) -> float:
        try:
            return self._record.manifest.started_at
        except DataStoreError:
            return float("inf")

    @property
    def cards(self) -> list[Card]:
        """The task's cards (``@card``), in the order the step declares them."""
        from provider.cards.store import read_cards

        return read_cards(self._store, self.run_id, self.step_name, self.id)

    @property
    def stdout(self) -> str:
        """What the task's last attempt wrote to stdout (also output printed before it
        crashed); its error output is :attr:`stderr`."""
        return self._store.read_log(self.run_id, self.step_name, self.id, "stdout")

    @property
    def stderr(self) -> str:
        """What the task's last attempt wrote to stderr, a failure's traceback included."""
        return self._store.read_log(self.run_id, self.step_name, self.id, "stderr")

    def __repr__(self) -> str:
        return f"Task({self.pathspec!r})"
