"""Values a step produces, as the datastore keeps them: artifacts and foreach items."""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import ArtifactEntry, ForeachSplit
from provider.exceptions import ForeachError, ForeachTooWide, StepError
from provider.flow.distributed import PARALLEL_VAR

#: characters of an item's repr kept as its label (the Airflow map index)
LABEL_WIDTH = 48
#: a foreach wider than this keeps its items' addresses in pages of this many: each task
#: of the foreach then reads one page, not the whole list (O(N) per task, O(N^2) per run)
ITEMS_PER_PAGE = 256


def save_value(store: FlowDataStore, value: Any) -> ArtifactEntry:
    ref = store.save_artifact(value)
    return ArtifactEntry(sha=ref.sha, size=ref.size, type=type_name(value))


def save_artifact(
    store: FlowDataStore, step: str, task: str, name: str, value: Any
) -> ArtifactEntry:
    """Store ``self.<name>`` of a task; a value pickle refuses is an error naming it."""
    try:
        return save_value(store, value)
    except pickle.PicklingError as exc:
        raise StepError(
            f"Step *{step}* cannot store artifact *{name}* of task {task}: its value, a "
            f"{type_name(value)}, cannot be pickled ({exc}). Keep it in a local variable "
            f"of the step instead ({name} = ..., not self.{name} = ...), or store what it "
            "describes (a path, a URL, its settings) and rebuild it where it is needed."
        ) from None


def foreach_split(step: str, var: str, flow: Any, store: FlowDataStore, limit: int) -> ForeachSplit:
    """Store the items of ``self.<var>`` for the foreach at ``step``; at most ``limit`` items."""
    try:
        value = getattr(flow, var)
    except AttributeError:
        raise ForeachError(
            f"Step *{step}* does a foreach over *{var}*, but sets no artifact of that name; "
            f"assign it before self.next(), e.g. self.{var} = [...]."
        ) from None
    items: list[Any] | None = None
    if not isinstance(value, bytes | dict):  # a string splits into its characters
        try:
            items = list(value)
        except TypeError:
            items = None
    if items is None:
        raise ForeachError(
            f"Foreach in step *{step}*: self.{var} is a {type(value).__name__} "
            f"({short_repr(value)}), which cannot be split into items; assign a list, e.g. "
            f"self.{var} = [...]."
        )
    if not items:
        raise ForeachError(
            f"Foreach in step *{step}*: self.{var} is empty, so there is nothing to run; "
            "give it at least one item."
        )
    if len(items) > limit:
        raise ForeachTooWide(step, len(items), limit)
    shas = tuple(_save_item(store, step, var, i, item) for i, item in enumerate(items))
    labels = tuple(short_repr(item) for item in items)
    if len(items) <= ITEMS_PER_PAGE:
        return ForeachSplit(var=var, num_splits=len(items), items=shas, labels=labels)
    pages = tuple(
        store.save_artifact((shas[at : at + ITEMS_PER_PAGE], labels[at : at + ITEMS_PER_PAGE])).sha
        for at in range(0, len(items), ITEMS_PER_PAGE)
    )
    return ForeachSplit(
        var=var, num_splits=len(items), items=(), labels=(), pages=pages, page_size=ITEMS_PER_PAGE
    )


def _save_item(store: FlowDataStore, step: str, var: str, index: int, item: Any) -> str:
    try:
        return store.save_artifact(item).sha
    except pickle.PicklingError as exc:
        raise ForeachError(
            f"Foreach in step *{step}*: item {index} of self.{var} ({short_repr(item)}), a "
            f"{type_name(item)}, cannot be pickled ({exc}); make the items values that "
            "pickle (a path, a URL, settings) and build the rest inside the foreach."
        ) from None


def parallel_split(num_nodes: int, store: FlowDataStore) -> ForeachSplit:
    """The split that starts a gang: a foreach over the node indices ``0 .. num_nodes-1``."""
    return ForeachSplit(
        var=PARALLEL_VAR,
        num_splits=num_nodes,
        items=tuple(store.save_artifact(index).sha for index in range(num_nodes)),
        labels=tuple(f"node {index}" for index in range(num_nodes)),
    )


def is_picklable(value: Any) -> bool:
    try:
        cloudpickle.dumps(value)
    except Exception:
        return False
    return True


def type_name(value: Any) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 3] + "..."
