"""Where cards are kept: each card's HTML is a content-addressed blob of UTF-8 bytes
(:mod:`provider.datastore.bytes_blobs`: sealed and verified as artifacts are, never pickled),
and ``<task>/cards.json`` (a :class:`~provider.datastore.records.TaskCards` record) lists the
task's cards. Written and read here only: reading a card takes a JSON record and bytes, so
Airflow's API server and ``card server`` serve cards without unpickling anything. A card
stored by an earlier airstep (a pickled page) is a :class:`~provider.datastore.bytes_blobs.
PickledBlob` that says to run the task again.
"""

from __future__ import annotations

import os
import tempfile
import threading
import webbrowser
from typing import Any

from provider.cards.page import CARD_HEADERS
from provider.datastore.bytes_blobs import PickledBlob, load_bytes, save_bytes
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
        sha = save_bytes(store.storage, store.flow_name, page.encode("utf-8")).sha
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
    pathspec = store.task_key(run_id, step, task_id).pathspec
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
        """The page: the card's blob of UTF-8 bytes, verified (never unpickled)."""
        if self._html is None:
            try:
                data = load_bytes(self._store.storage, self._store.flow_name, self.entry.sha)
            except PickledBlob:
                raise PickledBlob(
                    f"The {self.label} card of task {self.pathspec} was stored by an earlier "
                    "airstep, as a pickle, which is not read here; run the task again to store "
                    "its cards anew."
                ) from None
            try:
                self._html = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataStoreError(
                    f"The {self.label} card of task {self.pathspec} (blob {self.hash}) is not "
                    f"UTF-8 HTML ({exc}); run the task again to store its cards anew."
                ) from None
        return self._html

    def get(self) -> str:
        return self.html

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP headers to serve the card with: sandboxed (:data:`~provider.cards.page.
        CARD_HEADERS`), and for a card its running task still refreshes, a ``Refresh`` header
        (the page's own meta refresh does not run in a sandbox)."""
        interval = self.entry.refresh_interval
        if self.final or not interval:
            return dict(CARD_HEADERS)
        return {**CARD_HEADERS, "Refresh": f"{max(interval, 1):g}"}

    @property
    def label(self) -> str:
        return self.id or self.type

    def save(self, folder: str | None = None) -> str:
        """Write the card to ``folder`` (by default a folder of this process's own, made by
        ``mkdtemp``: readable by this user only); return the file's path.

        The file is written under a new temporary name and renamed into place, so a file or
        symlink already at the path is replaced, never written through.
        """
        folder = folder or _own_folder()
        name = "-".join([*self.pathspec.split("/"), self.label, self.hash[:8]]) + ".html"
        path = os.path.join(folder, "".join(c if c.isalnum() or c in "-_." else "_" for c in name))
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".card-", suffix=".html")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.html)
            os.replace(temp, path)
        except BaseException:
            if os.path.lexists(temp):
                os.unlink(temp)
            raise
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


_folder_lock = threading.Lock()
_folder: str | None = None


def _own_folder() -> str:
    """This process's folder for saved cards: made once by ``mkdtemp`` (mode 0700, a new name
    no other user can have made or linked in advance), again if it was removed."""
    global _folder
    with _folder_lock:
        if _folder is None or not os.path.isdir(_folder):
            _folder = tempfile.mkdtemp(prefix="airstep-cards-")
        return _folder


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
