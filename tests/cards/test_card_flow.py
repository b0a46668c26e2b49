"""A flow with @card, run locally the way a user runs it; its cards read back through the
client, ``get_cards`` and ``python flow.py card view``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from provider import Flow, card, step
from provider.cards import get_cards
from provider.datastore.records import CardEntry, TaskCards, decode, encode
from provider.exceptions import InvalidDecoratorError

FLOW = Path(__file__).parent / "flows" / "card_flow.py"


def flow_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FLOW), *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("datastore")
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    proc = flow_cli("run", "--rows", "5")
    assert proc.returncode == 0, proc.stderr
    yield Flow("CardFlow").latest_run, proc
    mp.undo()


def test_cards_of_every_step_are_stored_and_read_through_the_client(finished_run):
    run, proc = finished_run
    (start_card,) = run["start"].task.cards
    assert (start_card.type, start_card.id, start_card.final) == ("default", None, True)
    page = start_card.html
    assert page.startswith("<!DOCTYPE html>") and "http-equiv" not in page
    assert "Hello from <em>start</em>" in page
    # the default card: the task, its parameters, its artifacts, the graph with the step lit
    assert f"CardFlow/{run.id}/start/0" in page
    assert "<td>rows</td><td>5</td>" in page
    assert "<td>secret_size</td><td>int</td><td>42</td>" in page
    assert '<li class="here">start (foreach)' in page

    # a foreach: one card per item's task, each with its own content
    items = {t.id: t.cards[0].html for t in run["each"].tasks()}
    assert set(items) == {"0", "1"}
    assert "item <strong>a</strong>" in items["0"] and "item <strong>b</strong>" in items["1"]

    # a step without @card has no cards, and appending there only warns
    assert run["join"].task.cards == []
    assert "step *join* has no @card" in proc.stderr


def test_several_cards_per_step_with_ids_and_every_component(finished_run):
    run, _ = finished_run
    task = run["end"].task
    assert [(c.type, c.id) for c in task.cards] == [("blank", "results"), ("default", None)]
    (results,) = get_cards(task, id="results")
    assert get_cards(task.pathspec, type="default")[0].hash == task.cards[1].hash
    page = results.html
    assert "<th>n</th><th>n squared</th>" in page and "<td>4</td><td>16</td>" in page
    assert "<svg" in page and "<polyline" in page  # the chart, drawn as SVG
    assert "data:image/png;base64," in page  # the image, inline
    assert "summary" in page and "ValueError: shown, not raised" in page
    # the broken component shows its error; the task still succeeded
    assert "Broken could not be rendered" in page and "broken on purpose" in page
    assert run.successful and task.data.done
    assert "the default card&#x27;s own note" in task.cards[1].html


def test_a_refreshed_card_is_stored_while_the_task_runs(finished_run):
    run, _ = finished_run
    # what get_cards read from inside the step, after current.card.refresh()
    assert run["end"].task.data.live == [(False, True, True)]
    assert run["end"].task.cards[0].final


def test_card_view_writes_the_card_and_prints_its_path(finished_run, tmp_path):
    run, _ = finished_run
    proc = flow_cli("card", "view", "end", "--id", "results", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (path,) = proc.stdout.split()
    assert Path(path).parent == tmp_path and "n squared" in Path(path).read_text()
    proc = flow_cli("card", "view", "each/1", "--run-id", run.id, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "item <strong>b</strong>" in Path(proc.stdout.strip()).read_text()
    proc = flow_cli("card", "view", "join", "--out", str(tmp_path))
    assert proc.returncode == 1
    assert f"Task CardFlow/{run.id}/join/0 has no card matching that" in proc.stderr


def test_card_decorator_validation():
    def flow_with(*decorators):
        def start(self):
            self.next(self.end)

        func = step(start)
        for deco in decorators:
            func = deco(func)
        return func

    with pytest.raises(InvalidDecoratorError, match=r"@card on step \*start\*: type='fancy'"):
        flow_with(card(type="fancy"))
    with pytest.raises(InvalidDecoratorError, match="id='a' is used by two cards"):
        flow_with(card(type="blank", id="a"), card(id="a"))
    with pytest.raises(InvalidDecoratorError, match="given twice"):
        flow_with(card, card)
    func = flow_with(card(type="blank", id="b"), card)
    (deco,) = func.decorators
    assert [(c.type, c.id) for c in deco.cards] == [("default", None), ("blank", "b")]


def test_the_cards_record_round_trips_and_is_versioned():
    record = TaskCards((CardEntry("blank", "x", "ab" * 32, False, 2.0, 1.5),))
    assert decode(TaskCards, encode(record), "here") == record


def test_card_options_and_save_errors_are_checked():
    def a_step():
        def start(self):
            self.next(self.end)

        return step(start)

    with pytest.raises(InvalidDecoratorError, match="the blank card accepts the options: none"):
        card(type="blank", options={"only_repr": True})(a_step())
    with pytest.raises(InvalidDecoratorError, match="save_errors='no' is invalid"):
        card(save_errors="no")(a_step())
    (deco,) = card(options={"only_repr": True}, save_errors=False)(a_step()).decorators
    assert deco.cards[0].save_errors is False


def test_a_card_past_its_timeout_says_so_or_is_left_out_and_the_task_succeeds(datastore):
    flow = Path(__file__).parent / "flows" / "slow_card_flow.py"
    proc = subprocess.run([sys.executable, str(flow), "run"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    task = Flow("SlowCardFlow").latest_run["start"].task
    (kept,) = task.cards
    assert kept.type == "default" and "too late" not in kept.html
    assert "took longer than its @card(timeout=0.5) seconds" in kept.html
    assert (
        "card of SlowCardFlow/" in proc.stderr and "is left out (save_errors=False)" in proc.stderr
    )


def test_a_failed_step_leaves_a_final_card_with_what_it_appended_and_the_failure(datastore):
    flow = Path(__file__).parent / "flows" / "failing_card_flow.py"
    proc = subprocess.run([sys.executable, str(flow), "run", "--run-id", "f1"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1 and "file 4 is corrupt" in proc.stderr
    (kept,) = get_cards("FailingCardFlow/f1/start/0")
    assert kept.final and "http-equiv" not in kept.html  # the refreshed card, made final
    assert "loaded <strong>3</strong> files" in kept.html
    assert "The step failed: ValueError(&#x27;file 4 is corrupt&#x27;)" in kept.html
