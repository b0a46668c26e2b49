"""@catch catches what kills a task, not only what it raises: the process exiting, a segfault,
a SIGKILL, an artifact that cannot be saved. Each fault really happens in the task process
(tests/faults/catch_flow.py); the local executor then runs @catch's fallback attempt, which
records the failure in the catch var and lets the flow carry on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from provider import Flow
from provider.exceptions import AttemptFailed, TaskCrashed

FLOW = Path(__file__).parent / "catch_flow.py"

CRASHES = {
    "exit": "The task process exited with status 3 before the task finished.",
    "segfault": "The task process was killed by signal 11 (SIGSEGV).",
    "sigkill": "The task process was killed by signal 9 (SIGKILL).",
}


def run_catch_flow(tmp_path: Path, crash: str, catch: str = "on") -> subprocess.CompletedProcess:
    env = {**os.environ, "CRASH": crash, "CATCH": catch, "COUNT_FILE": str(tmp_path / "count")}
    return subprocess.run(
        [sys.executable, str(FLOW), "run"], capture_output=True, text=True, timeout=120, env=env
    )


def step_runs(tmp_path: Path) -> list[str]:
    """One line per time the user's step code started."""
    count = tmp_path / "count"
    return count.read_text().splitlines() if count.exists() else []


@pytest.mark.parametrize("crash", sorted(CRASHES))
def test_a_crashed_task_is_caught_after_its_retries_and_the_flow_carries_on(
    datastore, tmp_path, crash
):
    proc = run_catch_flow(tmp_path, crash)
    assert proc.returncode == 0, proc.stderr
    run = Flow("CatchFlow").latest_run
    assert run.successful
    assert step_runs(tmp_path) == ["boom ran"] * 2  # two regular attempts; the fallback runs none
    task = run["boom"].task
    err = task.data.err
    assert isinstance(err, TaskCrashed)
    cause = CRASHES[crash]
    assert cause in str(err)
    assert f"Step *boom* failed in task CatchFlow/{run.id}/boom/0" in str(err)
    assert (err.exception, err.type) == (str(err), "provider.exceptions.TaskCrashed")
    attempts = task.attempts
    assert [a["status"] for a in attempts] == ["failed", "failed", "ok"]
    assert [a["exception"] for a in attempts] == ["TaskCrashed", "TaskCrashed", None]
    assert attempts[1]["message"] == cause
    assert task.caught == {"exception": "TaskCrashed", "message": str(err), "var": "err"}
    assert task.current_attempt == 2
    # the fallback inherits the task's inputs, none of the failed attempts' artifacts
    assert "partial" not in task
    assert run.data.seen == ("set by start", "TaskCrashed", False)
    assert "attempt 2 of 2 failed; @catch records why and the flow carries on" in proc.stderr


def test_an_artifact_that_cannot_be_saved_is_caught(datastore, tmp_path):
    proc = run_catch_flow(tmp_path, "unpicklable")
    assert proc.returncode == 0, proc.stderr
    run = Flow("CatchFlow").latest_run
    assert step_runs(tmp_path) == ["boom ran"] * 2
    task = run["boom"].task
    attempts = task.attempts
    assert [a["status"] for a in attempts] == ["failed", "failed", "ok"]
    failed = attempts[1]
    err = task.data.err
    assert isinstance(err, AttemptFailed) and not isinstance(err, TaskCrashed)
    assert err.type == failed["exception"]
    assert f"{failed['exception']}: {failed['message']}" in str(err)
    assert "lock" in str(err)  # the value that could not be pickled
    assert err.stacktrace == failed["traceback"]
    assert "lock" not in task and "partial" not in task
    assert run.data.seen == ("set by start", "AttemptFailed", False)


@pytest.mark.slow
@pytest.mark.parametrize("crash", sorted(CRASHES))
def test_without_catch_a_crash_fails_the_run_naming_step_task_and_how_it_ended(
    datastore, tmp_path, crash
):
    proc = run_catch_flow(tmp_path, crash, catch="off")
    assert proc.returncode == 1
    run = Flow("CatchFlow").latest_run
    assert f"Step *boom* failed in task CatchFlow/{run.id}/boom/0 after 2 attempt(s)" in proc.stderr
    assert CRASHES[crash] in proc.stderr
    assert step_runs(tmp_path) == ["boom ran"] * 2
    task = run["boom"]["0"]
    assert [a["status"] for a in task.attempts] == ["failed", "failed"]
    failure = task.exception
    assert (failure.type, failure.exception) == ("provider.exceptions.TaskCrashed", CRASHES[crash])
    assert not run.successful and "end" not in run


def test_a_foreach_split_is_not_caught_and_the_run_says_why(datastore, tmp_path):
    proc = run_catch_flow(tmp_path, "split")
    assert proc.returncode == 1
    run = Flow("CatchFlow").latest_run
    assert step_runs(tmp_path) == ["boom ran", "split ran", "split ran"]  # no fallback attempt
    assert [a["status"] for a in run["split"]["0"].attempts] == ["failed", "failed"]
    assert "@catch does not catch a failure of step *split*: it is a foreach split" in proc.stderr
    assert CRASHES["exit"] in proc.stderr
