"""Cards outside Airflow: ``Card.save()`` writes into a folder of the user's own and never
through a link planted at the file's path; ``card server`` sends every page sandboxed, reloads
a live card by a header, and refuses, unread, a card stored as a pickle by an earlier airstep."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from airstep_testing.airflow_server import free_port, wait_for

from provider.cards.page import CARD_POLICY
from provider.cards.store import read_cards, save_cards
from provider.datastore import FlowDataStore, LocalStorage
from provider.datastore.records import CardEntry, RunRecord, TaskCards, encode

FLOW = Path(__file__).parent / "flows" / "card_flow.py"
PAGE = "<!DOCTYPE html><html><body><p>the card</p></body></html>"


def stored_card(root: Path, final: bool = True, refresh: float | None = None):
    store = FlowDataStore("CardFlow", LocalStorage(str(root)))
    store.write_run(RunRecord(flow="CardFlow", run_id="r1", created_at=1.0))
    entry = CardEntry("blank", "results", "", final, refresh, 1.0)
    save_cards(store, "r1", "start", "0", [(entry, PAGE)])
    (card,) = read_cards(store, "r1", "start", "0")
    return store, card


def test_a_card_is_saved_in_a_folder_only_its_user_can_open(tmp_path):
    _, card = stored_card(tmp_path)
    path = Path(card.save())
    assert path.read_text() == PAGE
    folder = path.parent
    assert folder.parent == Path(tempfile.gettempdir()) and folder.name != "airstep-cards"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == os.getuid()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Path(card.save()) == path  # one folder per process, the file written again


def test_saving_a_card_replaces_a_link_at_its_path_and_never_writes_through_it(tmp_path):
    _, card = stored_card(tmp_path / "datastore")
    out = tmp_path / "out"
    target = tmp_path / "victim.txt"
    target.write_text("someone else's file")
    expected = Path(card.save(str(out)))
    expected.unlink()
    os.symlink(target, expected)  # planted where the card will be written
    assert Path(card.save(str(out))) == expected
    assert target.read_text() == "someone else's file"
    assert not expected.is_symlink() and expected.read_text() == PAGE
    assert [p.name for p in out.iterdir()] == [expected.name]  # no temp file left


@pytest.fixture
def card_server(datastore):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(FLOW), "card", "server", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/"
    try:
        with httpx.Client(timeout=10) as http:
            wait_for(lambda: http.get(base).status_code == 200, 30, "the card server")
            yield http, base
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_card_server_sends_every_page_sandboxed_and_a_live_card_reloads_by_header(
    datastore, card_server
):
    store, card = stored_card(datastore, final=False, refresh=2.0)
    http, base = card_server
    pages = {
        "runs": http.get(base),
        "run": http.get(base, params={"run": "r1"}),
        "card": http.get(base, params={"run": "r1", "step": "start", "task": "0"}),
        "missing": http.get(base, params={"run": "r1", "step": "start", "task": "0", "card": 4}),
        "bad id": http.get(base, params={"run": "r1", "step": "start", "task": "../0"}),
    }
    assert {k: p.status_code for k, p in pages.items()} == {
        "runs": 200, "run": 200, "card": 200, "missing": 404, "bad id": 400,
    }  # fmt: skip
    for page in pages.values():
        assert page.headers["content-security-policy"] == CARD_POLICY
        assert page.headers["x-content-type-options"] == "nosniff"
    assert pages["card"].text == PAGE and pages["card"].headers["refresh"] == "2"
    assert pages["runs"].headers["refresh"] == pages["run"].headers["refresh"] == "3"
    assert "refresh" not in pages["missing"].headers


@pytest.mark.slow
def test_card_server_refuses_a_card_stored_as_a_pickle_without_unpickling_it(
    datastore, card_server
):
    store, _ = stored_card(datastore)
    marker = datastore / "unpickled"
    # what an earlier airstep stored: a pickle, here one that would run code when loaded
    sha = store.save_artifact(_Marker(str(marker))).sha
    key = f"{store.task_prefix('r1', 'start', '0')}/cards.json"
    store.storage.put_bytes(key, encode(TaskCards((CardEntry("default", None, sha),))))
    http, base = card_server
    page = http.get(base, params={"run": "r1", "step": "start", "task": "0"})
    assert page.status_code == 410
    assert "stored by an earlier airstep" in page.text and "run the task again" in page.text
    assert page.headers["content-security-policy"] == CARD_POLICY
    assert not marker.exists()


class _Marker:
    """Unpickling it writes a file (what a hostile pickle could do instead)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).write_text, ("unpickled",))
