"""``current``: what the running task knows about itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Current:
    """Read-only facts about the running task; ``is_running_flow`` is False outside one."""

    def __init__(self) -> None:
        self._info: dict[str, Any] = {}
        self._termination_hooks: list[Callable[[], Any]] = []

    def _set(self, **info: Any) -> None:
        self._info = info
        self._termination_hooks = []

    def _clear(self) -> None:
        self._info = {}
        self._termination_hooks = []

    def _get(self, key: str) -> Any:
        return self._info.get(key)

    @property
    def is_running_flow(self) -> bool:
        return bool(self._info)

    @property
    def flow_name(self) -> str | None:
        return self._get("flow_name")

    @property
    def run_id(self) -> str | None:
        return self._get("run_id")

    @property
    def step_name(self) -> str | None:
        return self._get("step_name")

    @property
    def task_id(self) -> str | None:
        return self._get("task_id")

    @property
    def retry_count(self) -> int:
        return self._get("retry_count") or 0

    @property
    def origin_run_id(self) -> str | None:
        """The run a resumed run reuses tasks from."""
        return self._get("origin_run_id")

    @property
    def pathspec(self) -> str | None:
        if not self._info:
            return None
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"

    @property
    def parameter_names(self) -> list[str]:
        return list(self._get("parameter_names") or [])

    def __repr__(self) -> str:
        return f"<current {self.pathspec or 'outside a flow'}>"


current = Current()
