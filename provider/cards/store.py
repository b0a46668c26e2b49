"""Where cards are kept: each card's HTML is a content-addressed blob, as artifacts are, and
``<task>/cards.json`` (a :class:`~provider.datastore.records.TaskCards` record) lists the
task's cards. Written and read here only.
"""

from __future__ import annotations

import os
import tempfile
import webbrowser
from typing import Any

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import CardEntry, TaskCards, decode, encode
from provider.datastore.storage import storage_for
from provider.exceptions import DataStoreError

CARDS_RECORD = "cards.json"


def _key(store: FlowDataStore, run_id: str, step: str, task_id: str) -> str:
    return f"{store.task_prefix(run_id, step, task_id)}/{CARDS_RECORD}"


def save_cards(
    store: FlowDataStore,
    run_id: str,
    step: str,
    task_id: str,
    cards: list[tuple[CardEntry, str]],
) -> list[CardEntry]:
    """Store each card's HTML as a blob, then the record that lists them (last)."""
    entries = []
    for entry, page in cards:
        sha = store.save_artifact(page).sha
        entries.append(
            CardEntry(
                entry.type, entry.id, sha, entry.final, entry.refresh_interval, entry.rendered_at
            )
        )
    store.storage.put_bytes(_key(store, run_id, step, task_id), encode(TaskCards(tuple(entries))))
    return entries


def read_cards(store: FlowDataStore, run_id: str, step: str, task_id: str) -> list[Card]:
    """The task's cards (an empty list when it has none, or none yet)."""
    key = _key(store, run_id, step, task_id)
    try:
        data = store.storage.get_bytes(key)
    except DataStoreError:
        return []
    record = decode(TaskCards, data, f"{store.root}/{key}")
    pathspec = f"{store.flow_name}/{run_id}/{step}/{task_id}"
    return [Card(store, pathspec, entry) for entry in record.cards]


class Card:
    """One card of a task: ``card.html`` is the whole page (Metaflow's ``Card``)."""

    def __init__(self, store: FlowDataStore, pathspec: str, entry: CardEntry) -> None:
        self._store = store
        self.pathspec = pathspec
        self.entry = entry
        self._html: str | None = None

    @property
    def type(self) -> str:
        return self.entry.type

    @property
    def id(self) -> str | None:
        return self.entry.id

    @property
    def hash(self) -> str:
        return self.entry.sha

    @property
    def final(self) -> bool:
        """False for a realtime card whose task is still running."""
        return self.entry.final

    @property
    def html(self) -> str:
        if self._html is None:
            self._html = str(self._store.load_artifact(self.entry.sha))
        return self._html

    def get(self) -> str:
        return self.html

    @property
    def label(self) -> str:
        return self.id or self.type

    def save(self, folder: str | None = None) -> str:
        """Write the card to ``folder`` (a temporary one by default); return the file's path."""
        folder = folder or os.path.join(tempfile.gettempdir(), "airstep-cards")
        name = "-".join([*self.pathspec.split("/"), self.label, self.hash[:8]]) + ".html"
        path = os.path.join(folder, "".join(c if c.isalnum() or c in "-_." else "_" for c in name))
        os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)
        return path

    def view(self) -> str:
        """Save the card and open it in the browser; return the file's path."""
        path = self.save()
        webbrowser.open("file://" + path)
        return path

    def _repr_html_(self) -> str:  # shown inline in a notebook
        return self.html

    def __repr__(self) -> str:
        return f"Card({self.pathspec!r}, type={self.type!r}, id={self.id!r})"


def get_cards(task: Any, id: str | None = None, type: str | None = None) -> list[Card]:
    """The cards of a task: a client ``Task`` or its pathspec ``"Flow/run/step/task"``;
    ``id`` / ``type`` keep only the matching ones."""
    if isinstance(task, str):
        parts = task.split("/")
        if len(parts) != 4 or not all(parts):
            raise ValueError(
                f"get_cards got the pathspec {task!r}; write it as 'TrainFlow/1700000000/train/3'."
            )
        store = FlowDataStore(parts[0], storage_for())
        run_id, step, task_id = parts[1:]
    else:
        store = task._store
        run_id, step, task_id = task.run_id, task.step_name, task.id
    cards = read_cards(store, run_id, step, task_id)
    return [c for c in cards if (id is None or c.id == id) and (type is None or c.type == type)]
