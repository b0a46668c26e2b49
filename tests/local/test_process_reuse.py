"""A foreach body's task process runs more tasks of its step, one after another, until a
task fails, crashes or changes the process; every task keeps its own output and record."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import FLOWS, run_flow

from provider import Flow, Run
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.storage import LocalStorage
from provider.exceptions import ItemsFailed
from provider.flow.loader import load_flow_class
from provider.runtime.chunk import run_items
from provider.runtime.request import TaskRequest
from provider.runtime.run import run_task

WIDTH = 40


def _run(*args: str):  # type: ignore[no-untyped-def]
    proc = run_flow(
        "reuse_flow.py", "run", "--width", str(WIDTH), "--max-workers", "4", *args, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, Flow("ReuseFlow").latest_run


def _attempt(datastore, run_id: str, task_id: str, attempt: int):  # type: ignore[no-untyped-def]
    store = FlowDataStore("ReuseFlow", LocalStorage(str(datastore)))
    record = store.read_attempt(run_id, "work", task_id, attempt)
    assert record is not None
    return record


def test_a_process_runs_several_tasks_of_its_step_each_keeping_its_own_output(datastore):
    proc, run = _run()
    pids = run["join"].task.data.pids
    assert len(pids) == WIDTH and len(set(pids)) < WIDTH / 2  # processes were reused
    for i in range(WIDTH):
        task = run["work"][str(i)]
        assert task.data.pid == pids[i]
        assert task.stdout == f"out: item-{i}\n" and task.stderr == ""
        assert f"[work/{i} (pid {pids[i]})] out: item-{i}" in proc.stdout
    assert run.successful


def test_a_failing_task_ends_its_process_and_no_later_task_runs_there(datastore):
    _, run = _run("--fail", "5")
    failed = _attempt(datastore, run.id, "5", 0)
    assert failed.status == "failed" and failed.exception == "ValueError"
    assert run["work"]["5"].data.attempt == 1
    _no_task_after(datastore, run, failed)
    assert run["join"].task.data.pids[5] != failed.pid  # the retry ran in a fresh process


def test_a_crashing_task_fails_alone_and_no_later_task_runs_in_its_process(datastore):
    _, run = _run("--crash", "5")
    crashed = _attempt(datastore, run.id, "5", 0)
    assert crashed.status == "failed" and crashed.exception == "TaskCrashed"
    assert "SIGKILL" in (crashed.message or "")
    assert [run["work"][str(i)].data.attempt for i in range(WIDTH)] == [0] * 5 + [1] + [0] * (
        WIDTH - 6
    )
    _no_task_after(datastore, run, crashed)


def test_a_failure_that_catch_caught_ends_its_process_too(datastore):
    proc = run_flow("reuse_catch_flow.py", "run", "--max-workers", "4", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = Flow("ReuseCatchFlow").latest_run
    store = FlowDataStore("ReuseCatchFlow", LocalStorage(str(datastore)))
    caught = store.read_attempt(run.id, "work", "5", 0)
    assert caught is not None and run["work"]["5"].data.caught is not None
    pids = run["join"].task.data.pids
    assert len(set(pids)) < 20  # the other tasks did share processes
    for i in range(40):
        if pids[i] == caught.pid:
            record = store.read_attempt(run.id, "work", str(i), 0)
            assert record is not None and record.started_at <= caught.started_at


def _no_task_after(datastore, run, ended) -> None:  # type: ignore[no-untyped-def]
    """No task started in the process of ``ended`` (an attempt record) after it."""
    for i in range(WIDTH):
        task = run["work"][str(i)]
        if task.data.pid == ended.pid:
            assert _attempt(datastore, run.id, str(i), 0).started_at < ended.started_at


def test_a_task_that_rebinds_a_module_global_leaves_no_trace_in_other_tasks(datastore):
    _, run = _run("--mode", "global")
    assert run["join"].task.data.found_global == [0] * WIDTH


def test_a_task_that_sets_an_environment_variable_leaves_no_trace_in_other_tasks(datastore):
    _, run = _run("--mode", "env")
    assert run["join"].task.data.found_env == [None] * WIDTH


def test_a_task_that_leaves_a_thread_running_leaves_it_to_no_other_task(datastore):
    _, run = _run("--mode", "thread")
    assert run["join"].task.data.found_threads == [1] * WIDTH


def test_a_task_that_removes_its_working_directory_succeeds_and_ends_its_process(datastore):
    _, run = _run("--mode", "rmcwd")
    pids = run["join"].task.data.pids
    assert len(set(pids)) == WIDTH  # no process could be reused
    assert [run["work"][str(i)].data.attempt for i in range(WIDTH)] == [0] * WIDTH


def test_process_per_task_starts_every_task_in_a_fresh_process(datastore):
    _, run = _run("--process-per-task")
    assert len(set(run["join"].task.data.pids)) == WIDTH


def test_a_chunks_processes_run_more_of_its_items_and_a_failing_one_ends_its_own(
    datastore, monkeypatch
):
    """Under Airflow a chunk's items run through run_items, as locally: processes are
    reused, and the failing item fails alone, after every other item ran."""
    monkeypatch.setenv("AIRSTEP_IN_TASK", "1")  # loading the flow sets it; undone after
    flow_cls = load_flow_class(str(FLOWS / "reuse_flow.py"))
    store = FlowDataStore("ReuseFlow")
    run_id = "chunk"
    params = {"width": 30, "fail": 3}
    start = TaskRequest(run_id=run_id, step="start", task_id="0", attempt=0, params=params)
    run_task(flow_cls, start, store)
    requests = [
        TaskRequest(run_id=run_id, step="work", task_id=str(i), attempt=0) for i in range(30)
    ]
    with pytest.raises(ItemsFailed, match="task 3: ValueError: item 3 fails once"):
        run_items(flow_cls, requests, store, processes=2)
    work = Run(f"ReuseFlow/{run_id}")["work"]
    pids = {i: work[str(i)].data.pid for i in range(30) if i != 3}
    assert len(set(pids.values())) < 10  # processes ran several items each
    failed = store.read_attempt(run_id, "work", "3", 0)
    assert failed is not None and failed.status == "failed"
    for i, pid in pids.items():
        if pid == failed.pid:  # nothing ran in the failed item's process after it
            record = store.read_attempt(run_id, "work", str(i), 0)
            assert record is not None and record.started_at < failed.started_at
    assert all(work[str(i)].stdout == f"out: item-{i}\n" for i in pids)


@pytest.mark.parametrize("per_task", [False, True])
def test_the_container_entrypoint_runs_a_chunk_reusing_processes_unless_told(
    datastore, monkeypatch, per_task
):
    """What a chunk's pod or Batch job runs: ``python -m provider.runtime --task-ids``."""
    monkeypatch.setenv("AIRSTEP_IN_TASK", "1")  # loading the flow sets it; undone after
    flow_file = str(FLOWS / "reuse_flow.py")
    flow_cls = load_flow_class(flow_file)
    store = FlowDataStore("ReuseFlow", LocalStorage(str(datastore)))
    start = TaskRequest(run_id="pod", step="start", task_id="0", attempt=0, params={"width": 20})
    run_task(flow_cls, start, store)
    argv = [sys.executable, "-m", "provider.runtime", "--flow-file", flow_file]
    argv += ["--datastore-root", str(datastore), "--run-id", "pod", "--step", "work"]
    argv += ["--task-ids", ",".join(map(str, range(20))), "--processes", "2"]
    argv += ["--process-per-task"] if per_task else []
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = Run("ReuseFlow/pod")["work"]
    pids = {work[str(i)].data.pid for i in range(20)}
    assert len(pids) == 20 if per_task else len(pids) <= 4


def test_the_process_per_task_setting_holds_for_a_local_run(datastore):
    proc = run_flow(
        "reuse_flow.py", "run", "--width", "20", env={"AIRSTEP_PROCESS_PER_TASK": "true"}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(set(Flow("ReuseFlow").latest_run["join"].task.data.pids)) == 20
