"""A run id names one run: a second run with it is refused, even when both start at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_flow

from provider import Flow
from provider.client import Run
from provider.datastore import FlowDataStore
from provider.datastore.records import RunRecord
from provider.processes.proc import this_host
from provider.runtime.command import RuntimeCommand

FLOW = str(Path(__file__).parent / "flows" / "run_id_flow.py")


def refused(stderr: str, run_id: str, root: Path) -> bool:
    return (
        f"Error: Flow RunIdFlow already has a run {run_id!r} in {root}, and a run id names one "
        "run. Omit --run-id for a new one, pick another id, or continue that run with: resume "
        f"--origin-run-id {run_id}" in stderr
    )


def attempts(root: Path, run_id: str) -> list[str]:
    run = root / "RunIdFlow" / "runs" / run_id
    return sorted(str(p.relative_to(run)) for p in run.rglob("attempt-*.json"))


def test_a_second_run_with_the_same_id_is_refused_and_the_first_is_untouched(datastore):
    first = run_flow(FLOW, "run", "--run-id", "fixed", "--value", "1", "--tag", "first")
    assert first.returncode == 0, first.stderr
    record = FlowDataStore("RunIdFlow").read_run("fixed")

    second = run_flow(
        FLOW, "run", "--run-id", "fixed", "--value", "2", "--tag", "second",
        env={"FAIL_AT": "end"},
    )  # fmt: skip
    assert second.returncode == 1
    assert refused(second.stderr, "fixed", datastore)
    run = Flow("RunIdFlow")["fixed"]
    assert run.successful and run.data.result == 10 and run.parameters == {"value": 1}
    assert run.record["status"] == "ok" and run.user_tags == {"first"}
    assert FlowDataStore("RunIdFlow").read_run("fixed") == record
    assert attempts(datastore, "fixed") == ["end/0/attempt-0.json", "start/0/attempt-0.json"]


def test_two_runs_started_at_once_with_one_id_cannot_both_win(datastore):
    procs = [
        subprocess.Popen(
            [sys.executable, FLOW, "run", "--run-id", "race", "--value", str(value)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "START_SLEEP": "0.5"},
        )
        for value in (1, 2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    winner = 1 + [code for code, _ in results].index(0)
    loser_err = next(err for code, err in results if code == 1)
    assert refused(loser_err, "race", datastore)
    run = Flow("RunIdFlow")["race"]
    assert run.successful and run.parameters == {"value": winner}
    assert run.data.result == winner * 10
    assert attempts(datastore, "race") == ["end/0/attempt-0.json", "start/0/attempt-0.json"]


CREATE = """
import sys, time
from provider.datastore import FlowDataStore
from provider.datastore.records import RunRecord
from provider.processes.proc import this_host
start_at, who = float(sys.argv[1]), sys.argv[2]
store = FlowDataStore("RunIdFlow")
time.sleep(max(0.0, start_at - time.time()))
record = RunRecord(flow="RunIdFlow", run_id="one", created_at=time.time(), tags=(who,))
print("won" if store.create_run(record) else "lost")
"""


def test_creating_a_run_record_is_exclusive_across_processes(datastore):
    start_at = time.time() + 3  # every process waits for this moment, then creates
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE, str(start_at), str(i)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outcomes = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    record = FlowDataStore("RunIdFlow").read_run("one")
    assert record.tags == (str(outcomes.index("won")),)
    assert not [
        p for p in (datastore / "RunIdFlow" / "runs" / "one").iterdir() if p.name != "run.json"
    ]


def run_record_dead_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_successful_is_the_runs_own_final_status(datastore):
    assert run_flow(FLOW, "run", "--run-id", "r1").returncode == 0
    store = FlowDataStore("RunIdFlow")
    run = Run("RunIdFlow/r1")
    assert run.successful and run.finished
    # what the local executor records while it runs, and when it fails or is interrupted,
    # even with an end task present
    alive = {"pid": os.getpid(), "host": this_host()}  # this process: a run still going
    for status, successful, finished in (
        ("running", False, False),
        ("failed", False, True),
        ("interrupted", False, True),
        ("ok", True, True),
    ):
        store.update_run("r1", status=status, **alive)
        assert (run.successful, run.finished) == (successful, finished), status
    # "running", but its process is gone from this host: it failed without saying so
    store.update_run("r1", status="running", pid=run_record_dead_pid(), host=this_host())
    assert (run.successful, run.finished) == (False, True)
    store.update_run("r1", status="ok")
    assert Flow("RunIdFlow").latest_successful_run.id == "r1"
    store.update_run("r1", status="failed")
    assert Flow("RunIdFlow").latest_successful_run is None
    # a run whose record has no status (an Airflow run): its end task decides
    store.write_run(RunRecord(flow="RunIdFlow", run_id="r1", created_at=time.time()))
    assert run.successful and run.finished
    store.write_run(RunRecord(flow="RunIdFlow", run_id="r2", created_at=time.time()))
    assert not Run("RunIdFlow/r2").successful and not Run("RunIdFlow/r2").finished


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("task_id", ["../../../../escaped", "0/../../x", "", "1.-2"])
def test_a_bad_task_id_is_refused_before_anything_is_written(datastore, tmp_path, task_id):
    assert run_flow(FLOW, "run", "--run-id", "r1").returncode == 0
    before = files_under(tmp_path)
    proc = subprocess.run(
        [*RuntimeCommand(flow_file=FLOW, run_id="r1", step="end", task_id=task_id).to_argv(
            sys.executable
        )],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"Invalid task id {task_id!r}" in proc.stderr
    assert files_under(tmp_path) == before  # nothing written, inside the root or out of it


@pytest.mark.parametrize("run_id", [".", "..", "a/b", "x" * 256, ".tmp-1", "a b"])
def test_a_run_id_that_cannot_name_a_run_is_refused_locally(datastore, run_id):
    proc = run_flow(FLOW, "run", f"--run-id={run_id}")
    assert proc.returncode == 1
    assert "Invalid run id" in proc.stderr and "Choose another run id" in proc.stderr
    assert not (datastore / "RunIdFlow" / "runs").exists() or not any(
        (datastore / "RunIdFlow" / "runs").iterdir()
    )


def test_a_run_id_that_looks_like_an_option_works_locally(datastore):
    proc = run_flow(FLOW, "run", "--run-id=-x1", "--value", "3")
    assert proc.returncode == 0, proc.stderr
    assert Run("RunIdFlow/-x1").data.result == 30


def test_the_client_lists_runs_past_names_that_are_no_run(datastore):
    assert run_flow(FLOW, "run", "--run-id", "r1").returncode == 0
    runs = datastore / "RunIdFlow" / "runs"
    (runs / "not a run").mkdir()  # left by hand or by another tool
    (runs / ".tmp-9").mkdir()
    assert [r.id for r in Flow("RunIdFlow").runs()] == ["r1"]
    with pytest.raises(ValueError, match="Invalid run id '.'"):
        Run("RunIdFlow/.")
