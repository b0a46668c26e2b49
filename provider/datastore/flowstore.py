"""The records of one flow in the datastore: runs, tasks, attempts and artifacts.

Layout under the root (every key is ``/``-separated)::

    <Flow>/blobs/<sha[:2]>/<sha>                       artifact blobs, shared by all runs
    <Flow>/runs/<run_id>/run.json                      run record (parameters, origin)
    <Flow>/runs/<run_id>/<step>/<task_id>/attempt-N.json   one record per attempt
    <Flow>/runs/<run_id>/<step>/<task_id>/attempt-N.stdout its output (if any), and
    <Flow>/runs/<run_id>/<step>/<task_id>/attempt-N.stderr its error output (if any)
    <Flow>/runs/<run_id>/<step>/<task_id>/task.json    the manifest: written last

Every key is built here (and by :mod:`provider.datastore.run_tags` from
:meth:`FlowDataStore.run_prefix`) from ids checked by :mod:`provider.datastore.ids`, so no
flow name, run id, step or task id reaches the storage unless it names exactly one place.

A task exists for readers only once ``task.json`` is written, in one atomic put,
after all its blobs. A failed or killed attempt leaves at most blobs (harmless,
content-addressed) and its attempt record, never a manifest a reader could mix
with a later attempt's data.

Task ids are the task's foreach index path: ``"0"`` outside any foreach,
``"3"`` for item 3 of a foreach, ``"3.5"`` for item 5 of a nested foreach in item 3.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from provider.datastore.blobs import BlobRef, load_object, save_object
from provider.datastore.ids import (
    TaskKey,
    check_flow_name,
    check_run_id,
    check_step_name,
    check_task_id,
    is_run_id,
    is_step_name,
    is_task_id,
)
from provider.datastore.records import (
    AttemptRecord,
    ForeachSplit,
    R,
    Record,
    RunRecord,
    TaskManifest,
    decode,
    encode,
)
from provider.datastore.storage import Storage, storage_for
from provider.datastore.task_record import TaskCheckpoints, TaskRecord
from provider.datastore.user import username
from provider.exceptions import DataStoreError

MANIFEST = "task.json"
RUN_RECORD = "run.json"
#: the output streams of an attempt, each kept apart
LOG_STREAMS = ("stdout", "stderr")


def task_id_for(path: tuple[int, ...]) -> str:
    return ".".join(map(str, path)) if path else "0"


def path_for(task_id: str, depth: int) -> tuple[int, ...]:
    """The index path of a task id, for a step nested in ``depth`` foreach splits."""
    try:
        path = () if depth == 0 and task_id == "0" else tuple(int(p) for p in task_id.split("."))
    except ValueError:
        path = (-1,)
    if len(path) != depth or any(i < 0 for i in path):
        shape = ".".join(["N"] * depth) or "0"
        raise ValueError(
            f"Task id {task_id!r} is invalid for this step; it takes the form {shape}."
        )
    return path


def _sort_key(task_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in task_id.split(".") if p.isdigit())


class FlowDataStore:
    """Reads and writes everything one flow keeps."""

    def __init__(self, flow_name: str, storage: Storage | None = None) -> None:
        self.flow_name = check_flow_name(flow_name)
        self.storage = storage or storage_for()
        #: task manifests and foreach pages read while :meth:`keeping_reads` lasts
        self._kept: dict[tuple[str, ...], Any] | None = None

    @contextmanager
    def keeping_reads(self) -> Iterator[None]:
        """Keep the task manifests and foreach item pages read while the block runs.

        For a process that forks tasks: what it read before a fork, the task finds in
        memory instead of reading, decoding and verifying it again. Only what cannot change
        while the block runs is kept: a committed manifest (a task's manifest is written
        once, when it succeeds; a reader finding none is not remembered) and a page
        (content-addressed). Everything is forgotten when the block ends.
        """
        outer = self._kept
        if outer is None:
            self._kept = {}
        try:
            yield
        finally:
            if outer is None:
                self._kept = None

    @property
    def root(self) -> str:
        return self.storage.root

    # -- keys -------------------------------------------------------------------------------
    def run_prefix(self, run_id: str) -> str:
        return f"{self.flow_name}/runs/{check_run_id(run_id, self.flow_name)}"

    def task_key(self, run_id: str, step: str, task_id: str) -> TaskKey:
        """The task's identity (its ``pathspec``), for messages and readers."""
        return TaskKey(self.flow_name, run_id, step, task_id)

    def task_prefix(self, run_id: str, step: str, task_id: str) -> str:
        step = check_step_name(step, self.flow_name)
        return f"{self.run_prefix(run_id)}/{step}/{check_task_id(task_id, step)}"

    # -- artifacts --------------------------------------------------------------------------
    def save_artifact(self, obj: Any) -> BlobRef:
        return save_object(self.storage, self.flow_name, obj)

    def load_artifact(self, sha: str) -> Any:
        return load_object(self.storage, self.flow_name, sha)

    def foreach_item(self, split: ForeachSplit, index: int) -> tuple[str, str]:
        """The blob address and label of item ``index`` of a foreach split (one page read)."""
        if not split.pages:
            return split.items[index], split.labels[index]
        sha = split.pages[index // split.page_size]
        kept = self._kept
        page = kept.get(("page", sha)) if kept is not None else None
        if page is None:
            page = self.load_artifact(sha)
            if kept is not None:
                kept["page", sha] = page
        shas, labels = page
        return shas[index % split.page_size], labels[index % split.page_size]

    def unreadable(
        self,
        error: DataStoreError,
        run_id: str,
        reader: str,
        what: str,
        *,
        artifact: tuple[str, str] | None = None,
        origin: str | None = None,
    ) -> DataStoreError:
        """``error`` (a blob missing or damaged) as the task ``reader`` meets it, with the fix.

        ``what`` names the value read; ``origin`` is the step that stored it, else it is
        looked up from ``artifact`` (name, sha) in the run's manifests.
        """
        if origin is None and artifact is not None:
            origin = self._step_that_set(run_id, *artifact)
        if origin is None:
            fix = "Re-run the step that set it and the steps after it with"
            command = f"resume STEP --origin-run-id {run_id}"
        else:
            fix = f"Step *{origin}* set it: re-run it and the steps after it with"
            command = f"resume {origin} --origin-run-id {run_id}"
        return DataStoreError(f"Task {reader} cannot read {what}: {error} {fix} `{command}`.")

    def _step_that_set(self, run_id: str, name: str, sha: str) -> str | None:
        """The step of the earliest task of the run holding ``name`` as blob ``sha``."""
        found: list[tuple[float, str]] = []
        for step in self.list_steps(run_id):
            for task_id in self.list_tasks(run_id, step):
                try:
                    manifest = self.read_manifest(run_id, step, task_id)
                except DataStoreError:
                    continue
                entry = manifest.artifacts.get(name) if manifest else None
                if manifest and entry and entry.sha == sha:
                    found.append((manifest.started_at, step))
        return min(found)[1] if found else None

    # -- records ----------------------------------------------------------------------------
    def put_record(self, key: str, record: Record) -> None:
        self.storage.put_bytes(key, encode(record))

    def get_record(self, kind: type[R], key: str) -> R | None:
        """The record at ``key``; None when there is none. A damaged one is an error."""
        try:
            data = self.storage.get_bytes(key)
        except DataStoreError:
            return None
        return decode(kind, data, f"{self.root}/{key}")

    # -- runs -------------------------------------------------------------------------------
    def write_run(self, record: RunRecord) -> None:
        self.put_record(f"{self.run_prefix(record.run_id)}/{RUN_RECORD}", record)

    def create_run(self, record: RunRecord) -> bool:
        """Write the record of a new run; False (nothing written) if the run id is taken.

        Exclusive: of two runs started at once with one id, exactly one gets True.
        """
        key = f"{self.run_prefix(record.run_id)}/{RUN_RECORD}"
        return self.storage.put_new(key, encode(record))

    def claim_run(self, record: RunRecord) -> RunRecord:
        """The run record of an Airflow run: ``record`` if the run is new (created exclusively),
        else the one stored, if the same DAG made it. A run that another DAG (or a local run)
        made is refused, never adopted: its tasks and results stay its own."""
        if self.create_run(record):
            return record
        stored = self.read_run(record.run_id)
        if stored is None:  # a record being replaced this instant: read it once more
            stored = self.read_run(record.run_id)
        if stored is not None and stored.dag_id == record.dag_id:
            return stored
        owner = (
            f"DAG {stored.dag_id}"
            if stored is not None and stored.dag_id
            else f"a {stored.executor or 'task'} run"
            if stored is not None
            else "another writer"
        )
        raise DataStoreError(
            f"Run {self.flow_name}/{record.run_id} in {self.root} was made by {owner}, not by "
            f"DAG {record.dag_id}; a run belongs to the DAG that made it, so this DAG run "
            "cannot use it. Trigger the DAG with another run_id, or use another datastore root."
        )

    def read_run(self, run_id: str) -> RunRecord | None:
        return self.get_record(RunRecord, f"{self.run_prefix(run_id)}/{RUN_RECORD}")

    def ensure_run(self, run_id: str, origin_run_id: str | None = None) -> RunRecord:
        """The run record, created on first use (an Airflow run has no other place to do it)."""
        existing = self.read_run(run_id)
        if existing is not None:
            return existing
        record = RunRecord(
            flow=self.flow_name,
            run_id=run_id,
            created_at=time.time(),
            origin_run_id=origin_run_id,
            user=username(),
        )
        self.write_run(record)
        return record

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        """Change fields of the run record (created if missing) and write it back."""
        record = replace(self.ensure_run(run_id), **changes)
        self.write_run(record)
        return record

    def list_runs(self) -> list[str]:
        """The flow's run ids (a name under ``runs/`` that is no run id is not a run)."""
        return [n for n in self.storage.list_dir(f"{self.flow_name}/runs") if is_run_id(n)]

    def list_steps(self, run_id: str) -> list[str]:
        names = self.storage.list_dir(self.run_prefix(run_id))
        return [n for n in names if n != RUN_RECORD and is_step_name(n)]

    def list_tasks(self, run_id: str, step: str) -> list[str]:
        prefix = f"{self.run_prefix(run_id)}/{check_step_name(step, self.flow_name)}"
        ids = [n for n in self.storage.list_dir(prefix) if is_task_id(n)]
        return sorted(ids, key=_sort_key)

    # -- tasks ------------------------------------------------------------------------------
    def _attempt_key(self, run_id: str, step: str, task_id: str, attempt: int) -> str:
        return f"{self.task_prefix(run_id, step, task_id)}/attempt-{attempt}.json"

    def write_attempt(
        self, run_id: str, step: str, task_id: str, attempt: int, record: AttemptRecord
    ) -> None:
        self.put_record(self._attempt_key(run_id, step, task_id, attempt), record)

    def read_attempt(
        self, run_id: str, step: str, task_id: str, attempt: int
    ) -> AttemptRecord | None:
        """The attempt's record. An attempt is recorded once, as "running", when it starts,
        and again only if it fails: the task's manifest is its commit, so a "running" attempt
        whose manifest it wrote reads as "ok", ended when the manifest says."""
        record = self.get_record(AttemptRecord, self._attempt_key(run_id, step, task_id, attempt))
        if record is not None and record.status == "running":
            manifest = self.read_manifest(run_id, step, task_id)
            if manifest is not None and manifest.attempt == attempt and not manifest.cloned_from:
                return replace(record, status="ok", finished_at=manifest.finished_at)
        return record

    def attempts(self, run_id: str, step: str, task_id: str) -> list[int]:
        names = self.storage.list_dir(self.task_prefix(run_id, step, task_id))
        return sorted(
            int(n[8:-5]) for n in names if n.startswith("attempt-") and n.endswith(".json")
        )

    def log_key(self, run_id: str, step: str, task_id: str, attempt: int, stream: str) -> str:
        """Where an attempt's ``stream`` ("stdout" or "stderr") is kept."""
        if stream not in LOG_STREAMS:
            raise ValueError(f"No log stream {stream!r}; the streams are {LOG_STREAMS}.")
        return f"{self.task_prefix(run_id, step, task_id)}/attempt-{attempt}.{stream}"

    def read_log(self, run_id: str, step: str, task_id: str, stream: str) -> str:
        """What the task's last attempt wrote to ``stream``; "" when it wrote nothing.

        A run stored before the streams were kept apart has one log per attempt, with both
        streams as they came: its stdout reads that log, its stderr reads "".
        """
        attempts = self.attempts(run_id, step, task_id)
        if not attempts:
            return ""
        key = self.log_key(run_id, step, task_id, attempts[-1], stream)
        if not self.storage.exists(key):
            key = f"{self.task_prefix(run_id, step, task_id)}/attempt-{attempts[-1]}.log"
            if stream != "stdout" or not self.storage.exists(key):
                return ""
        return self.storage.get_bytes(key).decode("utf-8", errors="replace")

    def commit_task(self, manifest: TaskManifest) -> None:
        """Make the task visible: its manifest is the last thing written."""
        prefix = self.task_prefix(manifest.run_id, manifest.step, manifest.task_id)
        self.put_record(f"{prefix}/{MANIFEST}", manifest)
        if self._kept is not None:
            self._kept.pop(("task", manifest.run_id, manifest.step, manifest.task_id), None)

    def read_manifest(self, run_id: str, step: str, task_id: str) -> TaskManifest | None:
        kept = self._kept
        if kept is not None and (manifest := kept.get(("task", run_id, step, task_id))):
            return manifest  # type: ignore[no-any-return]
        key = f"{self.task_prefix(run_id, step, task_id)}/{MANIFEST}"
        manifest = self.get_record(TaskManifest, key)
        if kept is not None and manifest is not None:
            kept["task", run_id, step, task_id] = manifest
        return manifest

    def checkpoints(self, run_id: str, step: str, task_id: str) -> TaskCheckpoints:
        """Where a task keeps a value for its next attempt (spot reclaim, retry)."""
        return TaskCheckpoints(self, f"{self.task_prefix(run_id, step, task_id)}/checkpoint.json")

    def task(self, run_id: str, step: str, task_id: str) -> TaskRecord:
        return TaskRecord(self, run_id, step, task_id)
