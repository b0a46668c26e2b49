"""Retries, timeouts and @catch; fails on demand (FAIL_STEP) for resume tests."""

import os
import time

from provider import FlowSpec, catch, current, retry, step, timeout


class FaultsFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.flaky, foreach="items")

    @retry(times=2, minutes_between_retries=0)
    @step
    def flaky(self):
        self.attempt_seen = current.retry_count
        if current.retry_count < 2:
            self.partial = "from a failed attempt"
            raise RuntimeError(f"flaky failure on attempt {current.retry_count}")
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.attempts = [i.attempt_seen for i in inputs]
        self.partials = [hasattr(i, "partial") for i in inputs]
        self.next(self.slow)

    @catch(var="timeout_error", print_exception=False)
    @timeout(seconds=1)
    @step
    def slow(self):
        time.sleep(30)
        self.next(self.guarded)

    @catch(var="error")
    @retry(times=1, minutes_between_retries=0)
    @step
    def guarded(self):
        self.tries = current.retry_count
        raise ValueError("always broken")
        self.next(self.maybe_fail)  # noqa - unreachable, but the graph reads it

    @step
    def maybe_fail(self):
        if os.environ.get("FAIL_STEP") == "maybe_fail":
            raise RuntimeError("asked to fail")
        self.fine = True
        self.next(self.end)

    @step
    def end(self):
        print("attempts", self.attempts, "error", repr(self.error))


if __name__ == "__main__":
    FaultsFlow()
