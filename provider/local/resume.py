"""``resume``: a new run reuses every task of its origin run that succeeded and whose inputs
were reused too (a clone of the task's manifest, naming the run it came from); the step
resumed from, and every task after a re-run one, runs again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from provider.datastore.flowstore import FlowDataStore, task_id_for
from provider.datastore.records import TaskManifest
from provider.local.run_record import writing
from provider.runtime.topology import Path

#: tasks of a step named one by one when they are reused (the rest are counted)
REUSED_SHOWN = 10


class ResumedTasks:
    """The tasks of an origin run that a resumed run reuses."""

    def __init__(
        self,
        store: FlowDataStore,
        run_id: str,
        origin_run_id: str | None,
        resume_step: str | None,
        say: Callable[[str], None],
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.origin_run_id = origin_run_id
        self.resume_step = resume_step
        self.say = say
        #: the tasks reused so far, and how many of each step
        self.cloned: set[tuple[str, Path]] = set()
        self.reused: Counter[str] = Counter()

    def may_reuse(self, step: str) -> bool:
        return self.origin_run_id is not None and step != self.resume_step

    def reuse(
        self, step: str, inputs: list[tuple[str, Path]], unit: list[Path]
    ) -> list[tuple[Path, TaskManifest]] | None:
        """Clone the origin run's tasks ``unit`` of ``step`` (a task, or a gang's nodes) into
        this run if every one succeeded there and ``inputs`` were reused; the clones, or None
        (the tasks run again)."""
        if self.origin_run_id is None or not all(i in self.cloned for i in inputs):
            return None
        found = [self.store.read_manifest(self.origin_run_id, step, task_id_for(p)) for p in unit]
        if None in found:
            return None
        clones = []
        for path, manifest in zip(unit, found, strict=True):
            assert manifest is not None
            clone = replace(manifest, run_id=self.run_id, cloned_from=self.origin_run_id)
            key = self.store.task_key(self.run_id, step, clone.task_id)
            where = self.store.task_prefix(self.run_id, step, clone.task_id)
            with writing(self.store, f"The record of task {key.pathspec}", where):
                self.store.commit_task(clone)
            self.cloned.add((step, path))
            self._tell(step, clone.task_id)
            clones.append((path, clone))
        return clones

    def _tell(self, step: str, task_id: str) -> None:
        self.reused[step] += 1
        if self.reused[step] <= REUSED_SHOWN:
            self.say(f"[{step}/{task_id}] reused from run {self.origin_run_id}")
        elif self.reused[step] == REUSED_SHOWN + 1:
            self.say(
                f"[{step}] more tasks reused from run {self.origin_run_id}; the progress line "
                "counts them."
            )
