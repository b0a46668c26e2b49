"""Runs that fail (MODE): a step raises, a foreach over a number or over nothing, a merge
conflict."""

import os

from provider import FlowSpec, step


class Broken(Exception):
    pass


class ErrorsFlow(FlowSpec):
    @step
    def start(self):
        mode = os.environ["MODE"]
        if mode == "raise":
            raise Broken("on purpose")
        self.items = {"foreach": 3, "empty": []}.get(mode, [1, 2])
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
    ErrorsFlow()
