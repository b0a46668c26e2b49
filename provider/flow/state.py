"""What a running task knows: where its inputs are and what it has inherited.

A flow instance inside a task holds one (``FlowSpec._state``); the runtime creates it.
"""

from __future__ import annotations

from typing import Any

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import ArtifactEntry, ForeachFrame
from provider.exceptions import DataStoreError
from provider.flow.graph import StepNode


class TaskState:
    def __init__(
        self,
        store: FlowDataStore,
        node: StepNode,
        run_id: str,
        task_id: str,
        inherited: dict[str, ArtifactEntry],
        foreach_stack: list[ForeachFrame],
        parameter_names: list[str],
    ) -> None:
        self.store = store
        self.node = node
        self.run_id = run_id
        self.task_id = task_id
        #: artifacts this task starts with (and, after merge_artifacts, those it merged)
        self.inherited = inherited
        self.foreach_stack = foreach_stack
        self.parameter_names = parameter_names
        self.transition: list[str] | None = None
        #: the gang size ``self.next(..., num_parallel=N)`` asked for
        self.num_parallel: int | None = None
        self._items: dict[int, Any] = {}

    def load_inherited(self, name: str) -> Any:
        entry = self.inherited.get(name)
        if entry is None:
            if self.node.is_join:
                raise AttributeError(
                    f"Step *{self.node.name}* is a join, so artifact *{name}* is not carried over "
                    f"from its inputs; read it from inputs (inputs[0].{name}) or call "
                    "self.merge_artifacts(inputs) first."
                )
            raise AttributeError(
                f"Step *{self.node.name}* has no artifact *{name}*: no earlier step set "
                f"self.{name}."
            )
        try:
            return self.store.load_artifact(entry.sha)
        except DataStoreError as exc:
            raise self.store.unreadable(
                exc, self.run_id, self.pathspec, f"artifact *{name}*", artifact=(name, entry.sha)
            ) from None

    def foreach_item(self, depth: int) -> Any:
        if not self.foreach_stack:
            raise AttributeError(
                f"Step *{self.node.name}* is not inside a foreach, so self.input is not set."
            )
        depth = depth % len(self.foreach_stack)
        if depth not in self._items:
            frame = self.foreach_stack[depth]
            try:
                self._items[depth] = self.store.load_artifact(frame.sha)
            except DataStoreError as exc:
                what = f"its foreach item ({frame.label}, item {frame.index} of *{frame.var}*)"
                raise self.store.unreadable(
                    exc, self.run_id, self.pathspec, what, origin=frame.step
                ) from None
        return self._items[depth]

    @property
    def pathspec(self) -> str:
        return self.store.task_key(self.run_id, self.node.name, self.task_id).pathspec
