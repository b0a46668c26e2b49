"""Switches: a choice by a parameter whose cases meet at a step that is not a join, a
switch per foreach item (integer cases) whose cases meet at the foreach's join, a switch
inside a branch, and cases that end the flow separately."""

from provider import FlowSpec, Parameter, step


class SwitchFlow(FlowSpec):
    mode = Parameter("mode", default="fast")

    @step
    def start(self):
        self.choice = self.mode
        self.next({"fast": self.fast, "slow": self.slow}, condition="choice")

    @step
    def fast(self):
        self.speed = 10
        self.next(self.merge)

    @step
    def slow(self):
        self.speed = 1
        self.next(self.merge)

    @step
    def merge(self):
        self.items = [1, 2, 3, 4, 5]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.rest = self.input % 2
        self.next({0: self.half, 1: self.triple}, condition="rest")

    @step
    def half(self):
        self.value = self.input // 2
        self.next(self.collect)

    @step
    def triple(self):
        self.value = self.input * 3 + 1
        self.next(self.collect)

    @step
    def collect(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.merge_artifacts(inputs, include=["speed"])
        self.next(self.fan)

    @step
    def fan(self):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "big" if self.speed > 5 else "small"
        self.next({"big": self.big, "small": self.small}, condition="side")

    @step
    def big(self):
        self.size = "big"
        self.next(self.both)

    @step
    def small(self):
        self.size = "small"
        self.next(self.both)

    @step
    def right(self):
        self.size = "right"
        self.next(self.both)

    @step
    def both(self, inputs):
        self.sizes = sorted(i.size for i in inputs)
        self.values = inputs[0].values
        self.merge_artifacts(inputs, include=["speed"])
        self.next(self.pick)

    @step
    def pick(self):
        self.last = "direct" if self.speed > 5 else "detour"
        self.next({"direct": self.end, "detour": self.detour}, condition="last")

    @step
    def detour(self):
        self.next(self.end)

    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    SwitchFlow()
