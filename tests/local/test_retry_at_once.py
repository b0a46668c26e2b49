"""A local run retries a failed task at once, as Metaflow's local runtime does:
``minutes_between_retries`` (2 by default) is the Airflow task's ``retry_delay``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from provider import Flow

FLOW = textwrap.dedent(
    """
    from provider import FlowSpec, current, retry, step


    class FlakyFlow(FlowSpec):
        @retry(times=2)  # minutes_between_retries=2 by default
        @step
        def start(self):
            if current.retry_count < 2:
                raise RuntimeError(f"flaky, attempt {current.retry_count}")
            self.attempts = current.retry_count + 1
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        FlakyFlow()
    """
)


def test_a_failed_task_is_retried_at_once(datastore, tmp_path):
    flow = tmp_path / "flaky_flow.py"
    flow.write_text(FLOW)
    # two waits of 2 minutes would outlast this bound many times over
    proc = subprocess.run(
        [sys.executable, str(flow), "run"], capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("retrying now.") == 2
    assert "[start/0] attempt 1 of 3 failed; retrying now." in proc.stderr
    assert Flow("FlakyFlow").latest_run["start"].task.data.attempts == 3
