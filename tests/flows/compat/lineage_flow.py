"""Who ran a run and how its tasks connect: a foreach whose item 1 fails when MODE=fail
(``resume`` then reruns it), a branch, and what ``current`` says about the user and tags.

Written with airstep's import line; the side-by-side tests also run it on Metaflow
with ``from metaflow import`` instead.
"""

import os

from provider import FlowSpec, current, step


class Broken(Exception):
    pass


class LineageFlow(FlowSpec):
    @step
    def start(self):
        self.who = {
            "username": current.username,
            "namespace": current.namespace,
            "tags": sorted(current.tags),
        }
        self.items = [10, 20, 30]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        if self.index == 1 and os.environ.get("MODE") == "fail":
            raise Broken(f"item {self.input} fails")
        self.value = self.input + 1
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.fork)

    @step
    def fork(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "left"
        self.next(self.meet)

    @step
    def right(self):
        self.side = "right"
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.sides = sorted(i.side for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LineageFlow()
