"""A step that fails on its first attempt after setting an artifact, and succeeds on the second."""

from provider import FlowSpec, current, retry, step


class RetryFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=1, minutes_between_retries=0)
    @step
    def flaky(self):
        self.attempt_seen = current.retry_count
        if current.retry_count == 0:
            self.partial = "written by the failed attempt"
            raise RuntimeError("first attempt fails")
        self.saw_partial = hasattr(self, "partial")
        self.next(self.end)

    @step
    def end(self):
        self.result = (self.attempt_seen, self.saw_partial)
