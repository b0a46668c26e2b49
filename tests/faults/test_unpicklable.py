"""A value pickle refuses fails its task naming the step, task and artifact; nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_flow

from provider import Flow

FLOW = str(Path(__file__).parent / "flows" / "unpicklable_flow.py")


@pytest.mark.parametrize(
    "mode, kind, pickle_says",
    [
        ("lock", "_thread.lock", "cannot pickle '_thread.lock' object"),
        ("generator", "generator", "cannot pickle 'generator' object"),
        ("socket", "socket.socket", "cannot pickle 'socket' object"),
    ],
)
def test_an_unpicklable_artifact_names_step_task_artifact_and_fix(
    datastore, mode, kind, pickle_says
):
    proc = run_flow(FLOW, "run", env={"MODE": mode})
    assert proc.returncode == 1
    run = Flow("UnpicklableFlow").latest_run
    assert (
        f"Step *make* cannot store artifact *bad* of task UnpicklableFlow/{run.id}/make/0: its "
        f"value, a list, cannot be pickled (TypeError: {pickle_says}). Keep it in a local "
        "variable of the step instead (bad = ..., not self.bad = ...), or store what it "
        "describes (a path, a URL, its settings) and rebuild it where it is needed."
    ) in proc.stderr
    assert run.record["status"] == "failed" and not run.successful
    # what earlier tasks stored is all there
    assert run["start"].task.data.kept == "stored before the error"
    assert [t.data.fine for t in run["each"]] == [1, 2]
    # the failed task left its attempt record and no manifest
    make = run["make"]["0"]
    assert not make.successful
    (attempt,) = make.attempts
    assert attempt["status"] == "failed" and attempt["exception"] == "StepError"
    assert "cannot store artifact *bad*" in attempt["message"]
    assert not (
        datastore / "UnpicklableFlow" / "runs" / run.id / "make" / "0" / "task.json"
    ).exists()
    # the 10 MB spooled before the error is gone (the sweep's marker is not a temp file)
    assert not [p for p in (datastore / ".tmp").iterdir() if not p.name.startswith(".swept-")]


def test_an_unpicklable_foreach_item_names_the_item(datastore):
    proc = run_flow(FLOW, "run", env={"MODE": "item"})
    assert proc.returncode == 1
    run = Flow("UnpicklableFlow").latest_run
    assert (
        "Foreach in step *start*: item 1 of self.items (<unlocked _thread.lock object at "
        in proc.stderr
    )
    assert (
        "a _thread.lock, cannot be pickled (TypeError: cannot pickle '_thread.lock' object); "
        "make the items values that pickle" in proc.stderr
    )
    assert run.record["status"] == "failed" and not run["start"]["0"].successful
