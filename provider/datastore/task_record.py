"""What one task stored, read on demand (:class:`TaskRecord`), and the value it keeps for its
next attempt (:class:`TaskCheckpoints`). Both reach the datastore through a
:class:`~provider.datastore.flowstore.FlowDataStore`, which makes them (``store.task(...)``,
``store.checkpoints(...)``); they need only the few of its methods :class:`TaskStore` names.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any, Protocol

from provider.datastore.blobs import BlobRef
from provider.datastore.ids import TaskKey
from provider.datastore.records import (
    ArtifactEntry,
    CheckpointPointer,
    R,
    Record,
    TaskManifest,
)
from provider.exceptions import DataStoreError


class TaskStore(Protocol):
    """What a task's records read and write through (a FlowDataStore)."""

    @property
    def root(self) -> str: ...

    def task_key(self, run_id: str, step: str, task_id: str) -> TaskKey: ...
    def read_manifest(self, run_id: str, step: str, task_id: str) -> TaskManifest | None: ...
    def save_artifact(self, obj: Any) -> BlobRef: ...
    def load_artifact(self, sha: str) -> Any: ...
    def put_record(self, key: str, record: Record) -> None: ...
    def get_record(self, kind: type[R], key: str) -> R | None: ...
    def unreadable(
        self,
        error: DataStoreError,
        run_id: str,
        reader: str,
        what: str,
        *,
        artifact: tuple[str, str] | None = None,
        origin: str | None = None,
    ) -> DataStoreError: ...


class TaskCheckpoints:
    """``current.save_checkpoint`` / ``load_checkpoint`` of one task."""

    def __init__(self, store: TaskStore, key: str) -> None:
        self._store = store
        self._key = key

    @property
    def store(self) -> TaskStore:
        """The datastore of the task (``current.task`` reads the running task from it)."""
        return self._store

    def save(self, value: Any) -> None:
        ref = self._store.save_artifact(value)
        self._store.put_record(self._key, CheckpointPointer(sha=ref.sha, at=time.time()))

    def load(self, default: Any = None) -> Any:
        pointer = self._store.get_record(CheckpointPointer, self._key)
        if pointer is None:
            return default
        try:
            return self._store.load_artifact(pointer.sha)
        except DataStoreError as exc:
            raise DataStoreError(
                f"The checkpoint at {self._store.root}/{self._key} cannot be read: {exc} "
                "Delete that file to start the step without it."
            ) from None


class TaskRecord:
    """A finished task, read lazily: the manifest on first use, each artifact on demand."""

    def __init__(self, store: TaskStore, run_id: str, step: str, task_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.step = step
        self.task_id = task_id
        self._cache: dict[str, Any] = {}

    @property
    def pathspec(self) -> str:
        return self.store.task_key(self.run_id, self.step, self.task_id).pathspec

    @cached_property
    def manifest(self) -> TaskManifest:
        manifest = self.store.read_manifest(self.run_id, self.step, self.task_id)
        if manifest is None:
            raise DataStoreError(
                f"Task {self.pathspec} has not finished successfully: there is no record of it "
                f"in the datastore at {self.store.root}."
            )
        return manifest

    @property
    def exists(self) -> bool:
        try:
            _ = self.manifest
        except DataStoreError:
            return False
        return True

    @property
    def artifacts(self) -> dict[str, ArtifactEntry]:
        return self.manifest.artifacts

    def has(self, name: str) -> bool:
        return name in self.artifacts

    def sha(self, name: str) -> str:
        return self.artifacts[name].sha

    def load(self, name: str) -> Any:
        if name not in self._cache:
            if name not in self.artifacts:
                raise AttributeError(f"Task {self.pathspec} has no artifact *{name}*.")
            sha = self.sha(name)
            try:
                self._cache[name] = self.store.load_artifact(sha)
            except DataStoreError as exc:
                raise self.store.unreadable(
                    exc, self.run_id, self.pathspec, f"artifact *{name}*", artifact=(name, sha)
                ) from None
        return self._cache[name]

    def load_item(self) -> Any:
        """The item of the task's innermost foreach; None outside a foreach."""
        if not self.manifest.foreach_stack:
            return None
        frame = self.manifest.foreach_stack[-1]
        try:
            return self.store.load_artifact(frame.sha)
        except DataStoreError as exc:
            what = f"its foreach item ({frame.label}, item {frame.index} of *{frame.var}*)"
            raise self.store.unreadable(
                exc, self.run_id, self.pathspec, what, origin=frame.step
            ) from None

    def __repr__(self) -> str:
        return f"TaskRecord({self.pathspec!r})"
