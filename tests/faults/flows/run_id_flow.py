"""A short flow run twice with one --run-id; FAIL_AT names a step that fails."""

import os
import time

from provider import FlowSpec, Parameter, step


class RunIdFlow(FlowSpec):
    value = Parameter("value", default=0)

    @step
    def start(self):
        self.seen = self.value
        time.sleep(float(os.environ.get("START_SLEEP", "0")))
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("FAIL_AT") == "end":
            raise RuntimeError("asked to fail")
        self.result = self.seen * 10


if __name__ == "__main__":
    RunIdFlow()
