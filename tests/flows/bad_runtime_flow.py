"""Runtime errors: a foreach over a number, or a merge with conflicting values (MODE)."""

import os

from provider import FlowSpec, step


class BadRuntimeFlow(FlowSpec):
    @step
    def start(self):
        self.kept = "stored before the error"
        self.items = 5 if os.environ.get("MODE") == "foreach" else [1, 2]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BadRuntimeFlow()
