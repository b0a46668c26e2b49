"""What one task stored, read when asked for: its artifacts, attempts, failure, logs and cards.

:class:`StoredTask` is everything :class:`~provider.client.runs.Task` reads from the
task's own records; ``Task`` adds where the task sits in its run (its run, step,
parents and children, tags). ``task.data.x``, ``task["x"].data`` and
``task.artifacts.x.data`` load an artifact on first access.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provider import exceptions as airstep_exceptions
from provider.client.tree import PathspecParts
from provider.datastore import lineage
from provider.exceptions import DataStoreError, MetaflowNotFound
from provider.processes.liveness import attempt_as_seen

if TYPE_CHECKING:
    from provider.cards.store import Card
    from provider.datastore.flowstore import FlowDataStore

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


class DataArtifact:
    def __init__(self, task: StoredTask, name: str) -> None:
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
    def __init__(self, task: StoredTask) -> None:
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

    def __contains__(self, name: str) -> bool:
        """``"x" in task.data``: the task has the public artifact ``x`` (as in Metaflow)."""
        return not name.startswith("_") and name in self._task

    def __dir__(self) -> list[str]:
        # the names ``task.data.<name>`` reads: private ones are read as task["_name"]
        return sorted(n for n in self._task._names() if not n.startswith("_"))


class _ArtifactNames(list[str]):
    """A task's artifact names; ``task.artifacts.x.data`` also reads one, as in Metaflow."""

    def __init__(self, task: StoredTask, names: list[str]) -> None:
        super().__init__(names)
        self._task = task

    def __getattr__(self, name: str) -> DataArtifact:
        if name.startswith("_") or name not in self:
            raise AttributeError(f"Task {self._task.pathspec} has no artifact {name!r}.")
        return DataArtifact(self._task, name)


class StoredTask(PathspecParts):
    """A task's stored records: artifacts (``task.data.x`` or ``task["x"].data``), attempts
    and logs."""

    def __init__(
        self, flow_name: str, run_id: str, step_name: str, task_id: str, store: FlowDataStore
    ) -> None:
        # the datastore loads on first read, not with ``import provider``
        from provider.datastore.flowstore import TaskRecord

        self.flow_name, self.run_id, self.step_name, self.id = flow_name, run_id, step_name, task_id
        self._store = store
        self._record = TaskRecord(store, run_id, step_name, task_id)

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
    def origin_pathspec(self) -> str | None:
        """For a task ``resume`` reused from an earlier run: that run's task; else None."""
        if not self.finished or self._record.manifest.cloned_from is None:
            return None
        origin = self._record.manifest.cloned_from
        return f"{self.flow_name}/{origin}/{self.step_name}/{self.id}"

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

    def loglines(self, stream: str, as_unicode: bool = True) -> Iterator[tuple[datetime, Any]]:
        """``(datetime, line)`` for each line the last attempt wrote to ``stream``
        ("stdout" or "stderr"), as Metaflow's ``Task.loglines`` yields them (bytes with
        ``as_unicode=False``).

        airstep keeps no time per line: every line carries the time by which it had been
        written, the attempt's end (naive UTC, as Metaflow's), or the time of reading for
        an attempt still running or one that died before recording its end.
        """
        if stream not in ("stdout", "stderr"):
            raise ValueError(f"No log stream {stream!r}; the streams are 'stdout' and 'stderr'.")
        lines = self._store.read_log(self.run_id, self.step_name, self.id, stream).split("\n")
        if lines[-1] == "":  # the text's last newline ends a line, it starts none
            lines.pop()
        attempts = self.attempts
        end = attempts[-1].get("finished_at") if attempts else None
        stamp = datetime.fromtimestamp(end, UTC) if end else datetime.now(UTC)
        stamp = stamp.replace(tzinfo=None)
        for line in lines:
            yield stamp, line if as_unicode else line.encode("utf-8")
