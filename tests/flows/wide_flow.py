"""A wide foreach of trivial tasks, and a step whose output streams are checked apart."""

import os
import sys

from provider import FlowSpec, Parameter, step


class WideFlow(FlowSpec):
    width = Parameter("width", default=2000)
    crash = Parameter("crash", default=-1, help="the item whose task process kills itself")

    @step
    def start(self):
        self.items = [f"item-{i}" for i in range(self.width)]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.value = self.input.upper()
        self.heavy = self.input * 10_000  # the join never reads it
        if self.index == self.crash:
            print(f"out: {self.input} before the crash")
            print(f"err: {self.input} before the crash", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), 9)
        if self.index == 7:
            print(f"out: {self.input}")
            print(f"err: {self.input}", file=sys.stderr)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [task.value for task in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    WideFlow()
