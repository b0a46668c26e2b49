"""A task's processes end with the task, and tasks end with their run.

Real processes and real signals throughout: a step that leaves a background process,
Ctrl-C pressed twice, ``kill -9`` of the run process, a task process killed mid-run.
Each test checks, by pid, that nothing is left running.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from process_tools import (
    RunProcess,
    is_gone,
    kill_if_running,
    temp_files,
    wait_gone,
    write_flow,
)

from provider import Flow
from provider.datastore.flowstore import FlowDataStore

LEAVES_A_CHILD = """
    import subprocess
    from provider import FlowSpec, step

    class LeaverFlow(FlowSpec):
        @step
        def start(self):
            child = subprocess.Popen(["sleep", "120"])
            print("started child", child.pid, flush=True)
            self.next(self.end)

        @step
        def end(self):
            print("end ran", flush=True)

    if __name__ == "__main__":
        LeaverFlow()
"""


def test_a_background_child_is_reported_and_stopped_when_the_step_returns(datastore, tmp_path):
    flow = write_flow(tmp_path, "leaver_flow", LEAVES_A_CHILD)
    run = RunProcess(flow, "run")
    child = 0
    try:
        child = int(run.wait_for(r"started child (\d+)")[0][1])
        began = time.monotonic()
        assert run.wait(timeout=30) == 0, run.output
        assert time.monotonic() - began < 15
        assert f"[start/0] the step left 1 process(es) running (pid {child}); stopping them." in (
            run.output
        )
        assert "end ran" in run.output
        assert is_gone(child)
        assert Flow("LeaverFlow").latest_run.successful
        assert temp_files(datastore) == []
    finally:
        run.kill()
        kill_if_running([child])


def test_a_child_that_leaves_the_task_group_does_not_hold_the_run(datastore, tmp_path):
    flow = write_flow(
        tmp_path,
        "escaper_flow",
        """
        import subprocess
        from provider import FlowSpec, step

        class EscaperFlow(FlowSpec):
            @step
            def start(self):
                child = subprocess.Popen(["sleep", "120"], start_new_session=True)
                print("started child", child.pid, flush=True)
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            EscaperFlow()
        """,
    )
    run = RunProcess(flow, "run")
    child = int(run.wait_for(r"started child (\d+)")[0][1])
    try:
        # it holds the task's output pipes, in a session of its own: out of the task's reach,
        # but the run reads the pipes only a few seconds more once the task has ended
        assert run.wait(timeout=30) == 0, run.output
        assert Flow("EscaperFlow").latest_run.successful
    finally:
        run.kill()
        kill_if_running([child])


STUBBORN = """
    import os, signal, time
    from provider import FlowSpec, current, step

    class StubbornFlow(FlowSpec):
        @step
        def start(self):
            self.items = list(range(3))
            self.next(self.nap, foreach="items")

        @step
        def nap(self):
            if os.environ.get("IGNORE_SIGTERM"):
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("napping", os.getpid(), flush=True)
            time.sleep(float(os.environ.get("NAP", "60")))
            self.next(self.join)

        @step
        def join(self, inputs):
            self.naps = len(inputs)
            self.next(self.end)

        @step
        def end(self):
            pass

    if __name__ == "__main__":
        StubbornFlow()
"""


def test_ctrl_c_twice_kills_tasks_that_ignore_sigterm(datastore, tmp_path):
    flow = write_flow(tmp_path, "stubborn_flow", STUBBORN)
    run = RunProcess(flow, "run", env={"IGNORE_SIGTERM": "1"})
    pids: list[int] = []
    try:
        pids = [int(m[1]) for m in run.wait_for(r"napping (\d+)", count=3)]
        os.kill(run.pid, signal.SIGINT)
        run.wait_for(r"stopping 3 task process\(es\) \(Ctrl-C again kills them at once\)")
        time.sleep(0.5)
        assert not any(is_gone(p) for p in pids)  # they ignore the SIGTERM they got
        pressed = time.monotonic()
        os.kill(run.pid, signal.SIGINT)
        assert run.wait(timeout=30) == 130, run.output
        assert time.monotonic() - pressed < 3  # at once, not after the 5 s grace
        assert wait_gone(pids, timeout=0) == []
        assert "Interrupted again: killing every task process now." in run.output
        latest = Flow("StubbornFlow").latest_run
        assert latest.record["status"] == "interrupted"
        attempts = [t.attempts[0] for t in latest["nap"]]
        assert [a["status"] for a in attempts] == ["failed"] * 3
        assert {a["message"] for a in attempts} == {
            "The task process was killed by signal 9 (SIGKILL)."
        }
    finally:
        run.kill()
        kill_if_running(pids)


def test_kill_9_of_the_run_kills_its_tasks_and_the_run_reads_as_failed(datastore, tmp_path):
    flow = write_flow(tmp_path, "stubborn_flow", STUBBORN)
    run = RunProcess(flow, "run")
    pids: list[int] = []
    try:
        pids = [int(m[1]) for m in run.wait_for(r"napping (\d+)", count=3)]
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        assert wait_gone(pids, timeout=5) == []

        dead = Flow("StubbornFlow").latest_run
        store = FlowDataStore("StubbornFlow")
        assert store.read_run(dead.id).status == "running"  # nobody could write otherwise
        assert dead.record["status"] == "failed" and dead.finished and not dead.successful
        for task in dead["nap"]:
            assert store.read_attempt(dead.id, "nap", task.id, 0).status == "running"
            assert task.attempts[0]["status"] == "failed"

        resumed = RunProcess(flow, "resume", env={"NAP": "0"})
        assert resumed.wait(timeout=60) == 0, resumed.output
        latest = Flow("StubbornFlow").latest_run
        assert latest.id != dead.id and latest.successful and latest.data.naps == 3
        assert store.read_run(dead.id).status == "failed"  # resume recorded what it found
    finally:
        run.kill()
        kill_if_running(pids)


def test_a_killed_task_attempt_is_recorded_failed_and_retried(datastore, tmp_path):
    flow = write_flow(
        tmp_path,
        "killed_flow",
        """
        import os, time
        from provider import FlowSpec, current, retry, step

        class KilledFlow(FlowSpec):
            @retry(times=1, minutes_between_retries=0)
            @step
            def start(self):
                print("attempt", current.retry_count, "pid", os.getpid(), flush=True)
                if current.retry_count == 0:
                    time.sleep(60)
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            KilledFlow()
        """,
    )
    run = RunProcess(flow, "run")
    pid = 0
    try:
        pid = int(run.wait_for(r"attempt 0 pid (\d+)")[0][1])
        os.kill(pid, signal.SIGKILL)
        assert run.wait(timeout=60) == 0, run.output
        task = Flow("KilledFlow").latest_run["start"].task
        first, second = task.attempts
        assert first["status"] == "failed" and first["finished_at"] is not None
        assert first["message"] == "The task process was killed by signal 9 (SIGKILL)."
        assert second["status"] == "ok"
    finally:
        run.kill()
        kill_if_running([pid])


BIG_ARTIFACT = """
    import os
    from provider import FlowSpec, step

    class BigFlow(FlowSpec):
        @step
        def start(self):
            print("pid", os.getpid(), flush=True)
            if os.environ.get("BIG"):
                self.big = [os.urandom(1 << 20) for _ in range(400)]
            self.next(self.end)

        @step
        def end(self):
            pass

    if __name__ == "__main__":
        BigFlow()
"""


@pytest.mark.slow
def test_temp_files_of_a_killed_write_are_removed_once_stale(datastore, tmp_path):
    flow = write_flow(tmp_path, "big_flow", BIG_ARTIFACT)
    run = RunProcess(flow, "run", env={"BIG": "1"})
    pid = 0
    try:
        pid = int(run.wait_for(r"pid (\d+)")[0][1])
        spool = datastore / ".tmp"
        deadline = time.monotonic() + 60
        while not list(spool.glob(".blob-*")) and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)  # while it writes the big artifact's blob
        assert run.wait(timeout=30) == 1
    finally:
        run.kill()
        kill_if_running([pid])
    left = temp_files(datastore)
    assert [p.name[:6] for p in left] == [".blob-"]
    # a writer killed mid-put leaves one beside the record too
    beside = datastore / "BigFlow" / "blobs" / "ab" / ".tmp-killed"
    beside.parent.mkdir(parents=True, exist_ok=True)
    beside.write_bytes(b"half a blob")

    fresh = RunProcess(flow, "run")
    assert fresh.wait(timeout=60) == 0, fresh.output
    assert temp_files(datastore) == sorted([*left, beside])  # young: maybe still being written

    two_hours_ago = time.time() - 7200
    for path in datastore.rglob("*"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    later = RunProcess(flow, "run")
    assert later.wait(timeout=60) == 0, later.output
    assert temp_files(datastore) == []
