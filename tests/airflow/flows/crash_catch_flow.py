"""A @catch step whose process exits with os._exit(3) on every attempt; the run carries on.

The step runs in a pod (@kubernetes) so that its crash ends the pod's process, not the
Airflow worker: under ``dag.test()`` a step in the worker runs inside the test process.
"""

import os

from provider import FlowSpec, catch, kubernetes, retry, step


class CrashCatchFlow(FlowSpec):
    @step
    def start(self):
        self.before = "set by start"
        self.next(self.crash)

    @catch(var="err")
    @retry(times=1, minutes_between_retries=0)
    @kubernetes(secrets=["aws-credentials"])
    @step
    def crash(self):
        self.partial = "set by a crashed attempt"
        os._exit(3)
        self.next(self.end)

    @step
    def end(self):
        self.seen = (self.before, type(self.err).__name__, hasattr(self, "partial"))


if __name__ == "__main__":
    CrashCatchFlow()
