"""A chunk's items count their own attempts: an item its killed try never started runs as a
regular attempt in the next try, not as @catch's fallback."""

from __future__ import annotations

import time

from helpers import FLOWS

from provider import Run
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import AttemptRecord
from provider.flow.loader import load_flow_class
from provider.runtime.chunk import run_items
from provider.runtime.request import TaskRequest
from provider.runtime.run import run_task


def test_an_item_a_killed_try_never_started_runs_as_a_regular_attempt(datastore, monkeypatch):
    monkeypatch.setenv("AIRSTEP_IN_TASK", "1")  # loading the flow sets it; undone after
    flow_cls = load_flow_class(str(FLOWS / "catch_items_flow.py"))
    store = FlowDataStore("CatchItemsFlow")
    run_id = "killed-chunk"
    run_task(flow_cls, TaskRequest(run_id=run_id, step="start", task_id="0", attempt=0), store)
    # try 1 of the chunk was killed: item 0 succeeded, item 1 was running (its attempt 0
    # recorded as crashed), item 2 never started
    [done] = run_items(
        flow_cls, [TaskRequest(run_id=run_id, step="work", task_id="0", attempt=0)], store,
        processes=1,
    )  # fmt: skip
    assert done.attempt == 0
    crashed = AttemptRecord("failed", time.time(), finished_at=time.time(), exception="TaskCrashed")
    store.write_attempt(run_id, "work", "1", 0, crashed)

    retry = [TaskRequest(run_id=run_id, step="work", task_id=t, attempt=1) for t in "012"]
    manifests = run_items(flow_cls, retry, store, processes=2, first_attempt=0)

    assert [m.attempt for m in manifests] == [0, 1, 0]
    assert store.attempts(run_id, "work", "2") == [0]  # its first attempt: the step ran
    work = Run(f"CatchItemsFlow/{run_id}")["work"]
    assert work["2"].data.ran_in_attempt == 0 and work["2"].data.crash is None
    # the item that crashed gets @catch's fallback, as it would without the chunk
    assert store.attempts(run_id, "work", "1") == [0, 1]
    assert work["1"].data.crash is not None and not hasattr(work["1"].data, "ran_in_attempt")
