"""Read what flows produced: ``Flow("TrainFlow").latest_run["end"].task.data.best``.

The same objects read local runs and Airflow runs (an Airflow run id is a run id).
Artifacts load on first access.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provider.exceptions import DataStoreError
from provider.runtime.processes import attempt_as_seen, run_as_seen

if TYPE_CHECKING:
    from provider.cards.store import Card
    from provider.datastore.flowstore import FlowDataStore
    from provider.datastore.records import RunRecord

#: run statuses that mean the run ended without success
FINAL_FAILURES = ("failed", "interrupted")
#: run statuses that mean the run ended


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
        raise ValueError(f"{what} pathspec {pathspec!r} is invalid; write it as {example!r}.")
    return pieces


class Flow:
    """All runs of one flow."""

    def __init__(self, name: str, *, root: str | None = None) -> None:
        self.name = name
        self._store = _store(name, root)

    def runs(self) -> list[Run]:
        """Runs, newest first."""
        runs = [Run(f"{self.name}/{r}", store=self._store) for r in self._store.list_runs()]
        return sorted(runs, key=lambda r: r._created, reverse=True)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str) -> Run:
        run = Run(f"{self.name}/{run_id}", store=self._store)
        if not run.exists:
            raise KeyError(f"Flow {self.name} has no run {run_id!r} in {self._store.root}.")
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
    def tags(self) -> frozenset[str]:
        """The run's tags (``run --tag NAME``)."""
        record = self._run_record
        return frozenset(record.tags if record else ())

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
            raise KeyError(f"Run {self.pathspec} has no step {step!r} (yet).")
        return Step(f"{self.pathspec}/{step}", store=self._store)

    def __contains__(self, step: str) -> bool:
        return step in self._store.list_steps(self.id)

    @property
    def end_task(self) -> Task | None:
        task = Task(f"{self.pathspec}/end/0", store=self._store)
        return task if task.successful else None

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
        return self._task._record.load(self.name)

    @property
    def sha(self) -> str:
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
            return self._task._record.load(name)
        except AttributeError:
            names = ", ".join(sorted(self._task._record.artifacts)) or "none"
            raise AttributeError(
                f"Task {self._task.pathspec} has no artifact {name!r}; it has {names}."
            ) from None

    def __dir__(self) -> list[str]:
        # the names ``task.data.<name>`` reads: private ones are read as task["_name"]
        return sorted(n for n in self._task._record.artifacts if not n.startswith("_"))


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

    @property
    def pathspec(self) -> str:
        return self._record.pathspec

    @property
    def successful(self) -> bool:
        return self._record.exists

    @property
    def finished(self) -> bool:
        return self.successful

    @property
    def data(self) -> Any:
        self._record.manifest  # noqa: B018 - fail now, naming the task, if it did not finish
        return _Data(self)

    def __getitem__(self, name: str) -> DataArtifact:
        if name not in self._record.artifacts:
            raise KeyError(f"Task {self.pathspec} has no artifact {name!r}.")
        return DataArtifact(self, name)

    def __contains__(self, name: str) -> bool:
        return self.successful and name in self._record.artifacts

    def __iter__(self) -> Iterator[DataArtifact]:
        return (DataArtifact(self, n) for n in self.artifacts)

    @property
    def artifacts(self) -> list[str]:
        """Artifact names, without ``_private`` ones (``task["_private"]`` still reads them)."""
        names = sorted(n for n in self._record.artifacts if not n.startswith("_"))
        return _ArtifactNames(self, names)

    @property
    def index(self) -> int | None:
        return self._record.manifest.index

    @property
    def exception(self) -> dict[str, Any] | None:
        """What went wrong in the task: ``exception`` (the class name), ``message`` and ``var``.

        For a finished task, what ``@catch`` caught (None if nothing: the step succeeded);
        ``var`` names the artifact that holds it. For a task that failed, its last attempt's
        failure (``var`` None): an exception, or ``TaskCrashed`` for a process that exited or
        was killed. None while the task runs.
        """
        if self.successful:
            caught = self._record.manifest.caught
            return asdict(caught) if caught else None
        rid, step, tid = self.run_id, self.step_name, self.id
        attempts = self._store.attempts(rid, step, tid)
        record = self._store.read_attempt(rid, step, tid, attempts[-1]) if attempts else None
        if record is None or record.status != "failed":
            return None
        return {"exception": record.exception, "message": record.message, "var": None}

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
