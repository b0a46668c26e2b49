"""The records that cross a process or storage boundary: typed, versioned, read and written here.

A task process writes its manifest, its attempt records and the run record; the
local scheduler, the Airflow operators, the client and later tasks read them,
possibly with another version of airstep. Each record is a dataclass stored as
JSON with a ``version`` field; :func:`encode` and :func:`decode` are the only
places that turn them into bytes and back.

``decode`` reads the current version and every older one (version 0 is the
untyped layout that had no ``version`` field: the same keys), ignores fields it
does not know, and refuses a record from a newer airstep with a message that
says so, rather than guessing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar

from provider.exceptions import DataStoreError

#: the version written by this airstep; readers accept it and every older one
RECORD_VERSION = 2


@dataclass(frozen=True)
class ArtifactEntry:
    """Where one artifact of a task is: its blob's content address."""

    sha: str
    #: bytes of the pickle, before compression
    size: int
    #: the value's type, e.g. ``int`` or ``pandas.core.frame.DataFrame``
    type: str


@dataclass(frozen=True)
class ForeachFrame:
    """One enclosing foreach of a task: which item of which split it runs for."""

    step: str
    var: str
    index: int
    num_splits: int
    #: the item's blob (items load only when ``self.input`` is read)
    sha: str
    #: a short repr of the item, shown as the Airflow map index
    label: str


@dataclass(frozen=True)
class ForeachSplit:
    """What a foreach step produced: one blob and one label per item.

    A narrow split lists them here (``items``, ``labels``). A wide one keeps them in pages
    of ``page_size`` items, each page a blob holding ``(shas, labels)``, so that a task of
    the foreach reads one page, not every item's address (read them through
    :meth:`provider.datastore.flowstore.FlowDataStore.foreach_item`).
    """

    var: str
    num_splits: int
    items: tuple[str, ...]
    labels: tuple[str, ...]
    #: the page blobs of a wide split (version 2); empty when ``items`` lists every item
    pages: tuple[str, ...] = ()
    page_size: int = 0


@dataclass(frozen=True)
class CaughtException:
    """What ``@catch`` caught in a task that then carried on."""

    exception: str
    message: str
    var: str | None


@dataclass(frozen=True)
class TaskManifest:
    """A finished task: written last, atomically; the task exists for readers once it does."""

    flow: str
    run_id: str
    step: str
    task_id: str
    attempt: int
    parameters: tuple[str, ...]
    foreach_stack: tuple[ForeachFrame, ...]
    foreach: ForeachSplit | None
    next: tuple[str, ...]
    caught: CaughtException | None
    started_at: float
    finished_at: float
    artifacts: dict[str, ArtifactEntry]
    #: the run this task was reused from by ``resume``
    cloned_from: str | None = None
    #: for a switch: the step it chose (only that one follows); None for other steps
    chosen: str | None = None
    version: int = RECORD_VERSION

    @property
    def index(self) -> int | None:
        """The index of the task in its innermost foreach; None outside a foreach."""
        return self.foreach_stack[-1].index if self.foreach_stack else None


AttemptStatus = Literal["running", "ok", "failed"]


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a task: written when it starts and again when it ends."""

    status: AttemptStatus
    started_at: float
    finished_at: float | None = None
    pid: int | None = None
    #: for a failed attempt: the exception's class name, message and the user's traceback
    exception: str | None = None
    message: str | None = None
    traceback: str | None = None
    version: int = RECORD_VERSION


@dataclass(frozen=True)
class RunRecord:
    """One run of a flow: created by its first task (or the local executor), updated at its end."""

    flow: str
    run_id: str
    created_at: float
    #: "running", "ok", "failed" or "interrupted"; None when the executor does not say
    status: str | None = None
    finished_at: float | None = None
    origin_run_id: str | None = None
    #: "local", or None for a run created by a task (Airflow)
    executor: str | None = None
    #: the start task's parameter values (JSON-friendly: other values as their repr)
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    #: the process that runs the run and its host (local runs): a reader on that host tells
    #: a run whose process died from one still running; None in older records
    pid: int | None = None
    host: str | None = None
    #: who started the run (``current.username``; the run's ``user:NAME`` tag); None in
    #: older records
    user: str | None = None
    #: the Airflow DAG that made the run (None for a local run): a run belongs to one DAG
    dag_id: str | None = None
    #: ``@project``'s name and branch (the run's ``project:`` / ``project_branch:`` tags)
    project: str | None = None
    branch: str | None = None
    version: int = RECORD_VERSION


@dataclass(frozen=True)
class RunTags:
    """A run's user tags after ``Run.add_tag`` & co: one record per change, never rewritten."""

    tags: tuple[str, ...] = ()
    version: int = RECORD_VERSION


@dataclass(frozen=True)
class CheckpointPointer:
    """The blob a task's last ``current.save_checkpoint`` stored."""

    sha: str
    at: float
    version: int = RECORD_VERSION


@dataclass(frozen=True)
class CardEntry:
    """One card of a task: its HTML is a blob, content-addressed like an artifact's."""

    #: the card's type ("default", "blank") and its ``id=`` (None when it has none)
    type: str
    id: str | None
    sha: str
    #: False while the task runs (a realtime card), True once rendered after the step
    final: bool = True
    #: seconds between reloads of a realtime card, from ``@card(refresh_interval=...)``
    refresh_interval: float | None = None
    rendered_at: float = 0.0


@dataclass(frozen=True)
class TaskCards:
    """The cards of one task, in the order its ``@card`` decorators declare them."""

    cards: tuple[CardEntry, ...] = ()
    version: int = RECORD_VERSION


Record = TaskManifest | AttemptRecord | RunRecord | CheckpointPointer | TaskCards | RunTags
R = TypeVar("R", TaskManifest, AttemptRecord, RunRecord, CheckpointPointer, TaskCards, RunTags)


def encode(record: Record) -> bytes:
    """The record as compact JSON bytes."""
    return json.dumps(asdict(record), separators=(",", ":"), default=str).encode()


def decode(kind: type[R], data: bytes, where: str) -> R:
    """Read a record of ``kind`` from ``data``; ``where`` names it in errors."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataStoreError(f"The record at {where} is damaged (not JSON: {exc}).") from None
    if not isinstance(raw, dict):
        raise DataStoreError(f"The record at {where} is damaged (not a JSON object).")
    version = raw.get("version", 0)
    if not isinstance(version, int) or version > RECORD_VERSION:
        raise DataStoreError(
            f"The record at {where} has version {version!r}, newer than this airstep reads "
            f"({RECORD_VERSION}); upgrade airstep to read it."
        )
    try:
        return _build(kind, raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataStoreError(f"The record at {where} is damaged ({exc!r}).") from None


def _build(kind: type[R], raw: dict[str, Any]) -> R:
    known = {f.name for f in fields(kind)}
    values = {k: v for k, v in raw.items() if k in known}
    values["version"] = RECORD_VERSION
    if kind is TaskManifest:
        values["parameters"] = tuple(values["parameters"])
        values["next"] = tuple(values["next"])
        values["foreach_stack"] = tuple(_frame(f) for f in values["foreach_stack"])
        split = values["foreach"]
        values["foreach"] = (
            ForeachSplit(
                var=split["var"],
                num_splits=int(split["num_splits"]),
                items=tuple(split["items"]),
                labels=tuple(split["labels"]),
                pages=tuple(split.get("pages") or ()),
                page_size=int(split.get("page_size") or 0),
            )
            if split
            else None
        )
        caught = values["caught"]
        values["caught"] = (
            CaughtException(caught["exception"], caught["message"], caught.get("var"))
            if caught
            else None
        )
        values["artifacts"] = {
            name: ArtifactEntry(e["sha"], int(e["size"]), e["type"])
            for name, e in values["artifacts"].items()
        }
    elif kind is TaskCards:
        known_entry = {f.name for f in fields(CardEntry)}
        values["cards"] = tuple(
            CardEntry(**{k: v for k, v in c.items() if k in known_entry}) for c in values["cards"]
        )
    elif kind is RunRecord or kind is RunTags:
        values["tags"] = tuple(values.get("tags") or ())
        if kind is RunRecord:
            values["parameters"] = dict(values.get("parameters") or {})
    return kind(**values)


def _frame(raw: dict[str, Any]) -> ForeachFrame:
    return ForeachFrame(
        step=raw["step"],
        var=raw["var"],
        index=int(raw["index"]),
        num_splits=int(raw["num_splits"]),
        sha=raw["sha"],
        label=raw["label"],
    )
