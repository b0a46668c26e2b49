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
        message = "mounting a small tmpfs as the datastore root needs root (CI runs as root)"
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run runs as root: a CI run must not skip this
        pytest.skip(message)
    root = tmp_path / "small-disk"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root)], check=True)
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


BULKY = """
    import os
    from provider import FlowSpec, step

    class BulkyFlow(FlowSpec):
        @step
        def start(self):
            self.noise = os.urandom(3 * 1024 * 1024)  # incompressible: more than the disk holds
            self.next(self.end)

        @step
        def end(self):
            pass

    if __name__ == "__main__":
        BulkyFlow()
"""


def test_a_full_disk_while_a_task_stores_an_artifact_fails_the_run_naming_it(small_disk, tmp_path):
    flow = write_flow(tmp_path, "bulky_flow", BULKY)
    run = RunProcess(flow, "run")
    try:
        assert run.wait(timeout=60) == 1, run.output
        assert children_of(run.pid) == []
    finally:
        run.kill()
    latest = Flow("BulkyFlow").latest_run
    assert f"Step *start* failed in task BulkyFlow/{latest.id}/start/0" in run.output
    assert "No space left on device" in run.output
    assert f"resume --origin-run-id {latest.id}" in run.output
    assert latest.record["status"] == "failed"
    assert not latest.successful and latest.finished
    assert temp_files(small_disk) == []


def test_a_log_that_does_not_fit_is_reported_and_the_task_keeps_its_outcome(small_disk, tmp_path):
    """A task's output is kept on a best-effort basis: a log that cannot be stored is named
    in the task's own output (the executor's log), and the step's results stand."""
    flow = write_flow(tmp_path, "chatty_flow", CHATTY)
    run = RunProcess(flow, "run")
    try:
        assert run.wait(timeout=60) == 0, run.output
        assert children_of(run.pid) == []
    finally:
        run.kill()
    latest = Flow("ChattyFlow").latest_run
    key = f"ChattyFlow/runs/{latest.id}/start/0/attempt-0.stdout"
    assert (
        f"airstep: the stdout of task ChattyFlow/{latest.id}/start/0 (attempt 0) could not be "
        f"stored at {small_disk}/{key}: " in run.output
    )
    assert "No space left on device" in run.output
    assert latest.successful
    assert temp_files(small_disk) == []
