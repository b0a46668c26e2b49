"""A full disk under the datastore ends the run as failed, with one line saying what could
not be written where; the datastore root is a real, small tmpfs that the flow fills."""

from __future__ import annotations

import os
import subprocess

import pytest
from process_tools import RunProcess, children_of, temp_files, write_flow

from provider import Flow

CHATTY = """
    from provider import FlowSpec, step

    class ChattyFlow(FlowSpec):
        @step
        def start(self):
            for i in range(3000):
                print(f"line {i:05d} " + "x" * 1000)
            self.next(self.end)

        @step
        def end(self):
            pass

    if __name__ == "__main__":
        ChattyFlow()
"""


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A 2 MB tmpfs as the datastore root (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs as the datastore root needs root (CI runs as root)")
    root = tmp_path / "small-disk"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root)], check=True)
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def test_a_full_disk_while_storing_a_log_fails_the_run_in_one_line(small_disk, tmp_path):
    flow = write_flow(tmp_path, "chatty_flow", CHATTY)
    run = RunProcess(flow, "run")
    try:
        assert run.wait(timeout=60) == 1, run.output
        assert children_of(run.pid) == []
    finally:
        run.kill()
    latest = Flow("ChattyFlow").latest_run
    log = small_disk / "ChattyFlow" / "runs" / latest.id / "start" / "0" / "attempt-0.log"
    report = [line for line in run.lines if line.startswith(f"Run ChattyFlow/{latest.id} failed")]
    assert report == [
        f"Run ChattyFlow/{latest.id} failed: The output of task ChattyFlow/{latest.id}/start/0 "
        f"(attempt 0) could not be written to {log}: No space left on device. Fix the datastore "
        f"at {small_disk} (free space, permissions), then continue with: resume "
        f"--origin-run-id {latest.id}\n"
    ]
    assert "Traceback" not in run.output
    assert latest.record["status"] == "failed"  # written once the failed write freed its space
    assert temp_files(small_disk) == []
