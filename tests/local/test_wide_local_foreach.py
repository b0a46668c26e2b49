"""A wide foreach runs every item, joins them in order and lazily; each task's stdout and
stderr are kept apart, also when its process is killed."""

from __future__ import annotations

from helpers import FLOWS, run_flow

from provider import Flow
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.storage import LocalStorage
from provider.flow.loader import load_flow_class
from provider.runtime.inputs import resolve_inputs
from provider.runtime.request import TaskRequest


def test_a_2000_wide_foreach_joins_every_item_in_order(datastore):
    proc = run_flow("wide_flow.py", "run", "--max-num-splits", "2000", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = Flow("WideFlow").latest_run
    assert run.data.values == [f"ITEM-{i}" for i in range(2000)]
    work = run["work"]
    assert work["1999"].data.value == "ITEM-1999" and work["1999"].index == 1999
    assert work["7"].stdout == "out: item-7\n" and work["7"].stderr == "err: item-7\n"
    assert work["8"].stdout == "" and work["8"].stderr == ""
    assert "[work/7 (pid " in proc.stdout  # the task's output is shown as it comes


def test_the_join_reads_one_artifact_of_each_input_not_all_of_them(datastore, monkeypatch):
    """The join's inputs, as the runtime gives them to the step, load only what it reads."""
    monkeypatch.setenv("AIRSTEP_IN_TASK", "1")  # loading the flow sets it; undone after
    proc = run_flow("wide_flow.py", "run", "--width", "300", "--max-num-splits", "300")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = Flow("WideFlow").latest_run.id
    storage = CountingStorage(str(datastore))
    store = FlowDataStore("WideFlow", storage)
    flow_cls = load_flow_class(str(FLOWS / "wide_flow.py"))
    graph = flow_cls.graph()
    request = TaskRequest(run_id=run_id, step="join", task_id="0", attempt=0)
    inputs = resolve_inputs(flow_cls, graph, graph["join"], (), request, store).join_inputs
    assert inputs is not None and len(inputs) == 300
    storage.blobs.clear()
    values = [task.value for task in inputs]
    assert values == [f"ITEM-{i}" for i in range(300)]
    value_blobs = {store.task(run_id, "work", str(i)).sha("value") for i in range(300)}
    assert storage.blobs == value_blobs  # no `heavy`, no foreach item, nothing else


class CountingStorage(LocalStorage):
    """A local datastore that notes which blobs are read."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.blobs: set[str] = set()

    def open_read(self, key: str):  # type: ignore[no-untyped-def]
        if "/blobs/" in key:
            self.blobs.add(key.rsplit("/", 1)[1])
        return super().open_read(key)


def test_a_killed_task_keeps_what_it_printed_each_stream_apart(datastore):
    proc = run_flow("wide_flow.py", "run", "--width", "5", "--crash", "3")
    assert proc.returncode == 1
    assert "work/3" in proc.stderr and "killed by signal" in proc.stderr.lower(), proc.stderr
    task = Flow("WideFlow").latest_run["work"]["3"]
    assert task.stdout == "out: item-3 before the crash\n"
    assert task.stderr == "err: item-3 before the crash\n"
    assert task.attempts[-1]["status"] == "failed"
