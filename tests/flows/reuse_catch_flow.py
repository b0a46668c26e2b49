"""A foreach whose item 5 fails, and @catch catches it (no retries: its first attempt)."""

import os

from provider import FlowSpec, catch, step


class ReuseCatchFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(40))
        self.next(self.work, foreach="items")

    @catch(var="caught", print_exception=False)
    @step
    def work(self):
        self.pid = os.getpid()
        if self.input == 5:
            raise ValueError("item 5 fails")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.pids = [task.pid for task in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ReuseCatchFlow()
