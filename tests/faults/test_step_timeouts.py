"""@timeout holds when the step catches the timeout, and when it blocks in a child process.

The same runtime runs in the local executor's task processes and in the container
entrypoint (``python -m provider.runtime``); both are driven here.
"""

from __future__ import annotations

import subprocess
import sys
import time

from process_tools import RunProcess, write_flow

from provider import Flow
from provider.exceptions import StepTimeout

SWALLOWS = """
    import os, time
    from provider import FlowSpec, catch, step, timeout

    class SwallowFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.slow)

        @timeout(seconds=1)
        @step
        def slow(self):
            try:
                time.sleep(3)
            except Exception:
                pass  # swallowed: the step would carry on past its deadline
            self.finished_slow = True
            self.next(self.end)

        @step
        def end(self):
            pass

    if __name__ == "__main__":
        SwallowFlow()
"""

BLOCKS = """
    import os, time
    from provider import FlowSpec, catch, step, timeout

    class BlockedFlow(FlowSpec):
        @step
        def start(self):
            self.next(self.slow)

        @timeout(seconds=1)
        @step
        def slow(self):
            os.system("sleep 8.25")  # system() waits for its child, signals or not
            self.next(self.end)

        @step
        def end(self):
            pass

    if __name__ == "__main__":
        BlockedFlow()
"""

TIMEOUT = "@timeout(seconds=1)"
CAUGHT_TIMEOUT = "@catch(var='late')\n        @timeout(seconds=1)"


def _sleepers(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if marker in line and " Z" not in line]


def test_a_swallowed_timeout_still_fails_the_attempt(datastore, tmp_path):
    flow = write_flow(tmp_path, "swallow_flow", SWALLOWS)
    run = RunProcess(flow, "run")
    assert run.wait(timeout=60) == 1, run.output
    assert "Step *slow* failed" in run.output
    assert "StepTimeout: Step *slow* timed out after 1 s (its @timeout)" in run.output
    attempt = Flow("SwallowFlow").latest_run["slow"].task.attempts[0]
    assert attempt["status"] == "failed" and attempt["exception"] == "StepTimeout"


def test_a_step_blocked_in_a_child_process_fails_at_its_deadline(datastore, tmp_path):
    flow = write_flow(tmp_path, "blocked_flow", BLOCKS)
    began = time.monotonic()
    run = RunProcess(flow, "run")
    assert run.wait(timeout=60) == 1, run.output
    assert time.monotonic() - began < 6  # the deadline (1 s) and the grace, not the 8 s
    assert "StepTimeout: Step *slow* timed out after 1 s (its @timeout)" in run.output
    assert _sleepers("sleep 8.25") == []


def test_catch_still_catches_a_swallowed_or_blocked_timeout(datastore, tmp_path):
    flow = write_flow(tmp_path, "swallow_flow", SWALLOWS.replace(TIMEOUT, CAUGHT_TIMEOUT))
    run = RunProcess(flow, "run")
    assert run.wait(timeout=60) == 0, run.output
    slow = Flow("SwallowFlow").latest_run["slow"].task
    assert isinstance(slow.data.late, StepTimeout)
    assert slow.caught["exception"] == "StepTimeout"

    flow = write_flow(tmp_path, "blocked_flow", BLOCKS.replace(TIMEOUT, CAUGHT_TIMEOUT))
    began = time.monotonic()
    run = RunProcess(flow, "run")
    assert run.wait(timeout=60) == 0, run.output
    assert time.monotonic() - began < 6
    assert isinstance(Flow("BlockedFlow").latest_run["slow"].task.data.late, StepTimeout)


def test_the_container_entrypoint_holds_the_deadline_too(datastore, tmp_path):
    flow = write_flow(tmp_path, "blocked_flow", BLOCKS)
    entry = [sys.executable, "-m", "provider.runtime", "--flow-file", str(flow), "--run-id", "r1"]
    start = subprocess.run([*entry, "--step", "start"], capture_output=True, text=True)
    assert start.returncode == 0, start.stderr
    began = time.monotonic()
    slow = subprocess.run([*entry, "--step", "slow"], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - began < 6
    assert slow.returncode == 1
    assert "StepTimeout: Step *slow* timed out after 1 s (its @timeout)" in slow.stderr
    assert _sleepers("sleep 8.25") == []
