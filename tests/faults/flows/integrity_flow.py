"""Artifacts that later steps read: a small one, a large one, foreach items and a join."""

import random

from provider import FlowSpec, step


class IntegrityFlow(FlowSpec):
    @step
    def start(self):
        self.small = {"numbers": list(range(1000)), "name": "small"}
        # incompressible, so its blob streams and is checksummed as it loads
        self.big = random.Random(7).randbytes(20 * 1024 * 1024)
        self.items = ["a", "b"]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.letter = self.input.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs, include=["small", "big"])
        self.letters = [i.letter for i in inputs]
        self.seen = [i.input for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.small["numbers"]) + len(self.big)


if __name__ == "__main__":
    IntegrityFlow()
