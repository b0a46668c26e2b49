"""What a running task knows: where its inputs are and what it has inherited."""

from __future__ import annotations

from typing import Any

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import ArtifactEntry, ForeachFrame
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
        return self.store.load_artifact(entry.sha)

    def foreach_item(self, depth: int) -> Any:
        if not self.foreach_stack:
            raise AttributeError(
                f"Step *{self.node.name}* is not inside a foreach, so self.input is not set."
            )
        depth = depth % len(self.foreach_stack)
        if depth not in self._items:
            self._items[depth] = self.store.load_artifact(self.foreach_stack[depth].sha)
        return self._items[depth]
