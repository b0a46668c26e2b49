"""The inputs of a join step: ``def join(self, inputs)``.

``inputs`` is a sequence of the tasks the join waits for; ``inputs.a`` names the
input from step ``a`` (a branch), and ``inputs[0].x`` reads artifact ``x`` of the
first input when the step asks for it, so a join loads only what it uses.
:meth:`~provider.flow.spec.FlowSpec.merge_artifacts` carries over the artifacts the
inputs agree on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provider.datastore.flowstore import TaskRecord


class InputTask:
    """One input of a join: artifacts as attributes, read on first access."""

    def __init__(self, record: TaskRecord, foreach_item: Any) -> None:
        self._record = record
        self._foreach_item = foreach_item

    @property
    def step_name(self) -> str:
        return self._record.step

    @property
    def pathspec(self) -> str:
        return self._record.pathspec

    @property
    def input(self) -> Any:
        """The foreach item of this input; None when it is not inside a foreach."""
        return self._foreach_item()

    @property
    def index(self) -> int | None:
        return self._record.manifest.index

    def __getattr__(self, name: str) -> Any:
        # ``inputs.a._private`` reads an artifact, as in Metaflow; dunders and this object's
        # own fields (before __init__ sets them, e.g. while unpickling) do not
        if name.startswith("__") or name in ("_record", "_foreach_item"):
            raise AttributeError(name)
        try:
            return self._record.load(name)
        except AttributeError:
            raise AttributeError(
                f"Input {self._record.pathspec} has no artifact *{name}*; it has "
                f"{', '.join(sorted(self._record.artifacts)) or 'none'}."
            ) from None

    def __repr__(self) -> str:
        return f"<input {self._record.pathspec}>"


class Inputs(Sequence[InputTask]):
    """The inputs of a join: index them, iterate them, or name a branch (``inputs.a``)."""

    def __init__(self, tasks: list[InputTask]) -> None:
        self._tasks = tasks

    def __getitem__(self, i: Any) -> Any:
        return self._tasks[i]

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[InputTask]:
        return iter(self._tasks)

    def __getattr__(self, name: str) -> InputTask:
        if name.startswith("_"):
            raise AttributeError(name)
        for task in self._tasks:
            if task.step_name == name:
                return task
        raise AttributeError(
            f"This join has no input from step *{name}*; its inputs come from "
            f"{', '.join(sorted({t.step_name for t in self._tasks}))}."
        )
