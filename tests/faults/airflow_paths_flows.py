"""Flows for test_airflow_paths.py: steps that write output every way a step can."""

from __future__ import annotations

import os
import subprocess
import sys

from provider import FlowSpec, batch, kubernetes, step


def write_everywhere(name: str) -> None:
    """Output from print, from a child process and straight to file descriptor 2."""
    print(f"{name}: printed")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-c", f"print('{name}: from a child process')"], check=True)
    os.write(2, f"{name}: written to fd 2\n".encode())


class LogsFlow(FlowSpec):
    @step
    def start(self):
        write_everywhere("start")
        self.next(self.good, self.bad)

    @step
    def good(self):
        import threading

        self.threads = threading.active_count()  # parallel_map forks only when it is 1
        self.next(self.join)

    @step
    def bad(self):
        print("bad: about to fail")
        raise ValueError("bad broke on purpose")
        self.next(self.join)  # noqa - unreachable, but the graph reads it

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class PodLogsFlow(FlowSpec):
    @kubernetes(secrets=["aws-credentials"])
    @step
    def start(self):
        write_everywhere("pod")
        self.where = "pod"
        self.next(self.end)

    @step
    def end(self):
        pass


class BatchLogsFlow(FlowSpec):
    @batch(cpu=1, memory=512)
    @step
    def start(self):
        write_everywhere("job")
        self.where = os.environ.get("AWS_BATCH_JOB_ID")
        self.next(self.end)

    @step
    def end(self):
        pass
