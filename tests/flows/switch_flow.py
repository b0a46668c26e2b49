"""Switches: a choice made by a parameter, a switch per foreach item, a recursive switch."""

from provider import FlowSpec, Parameter, step


class SwitchFlow(FlowSpec):
    mode = Parameter("mode", default="fast", help="fast or slow")
    rounds = Parameter("rounds", default=3, help="how many times loop runs")

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
        """Where the cases meet: not a join, it reads the one case that ran."""
        self.items = [1, 2, 3, 4]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.parity = "even" if self.input % 2 == 0 else "odd"
        self.next({"even": self.half, "odd": self.triple}, condition="parity")

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
        self.steps_seen = sorted({i.step_name for i in inputs})
        self.merge_artifacts(inputs, include=["speed"])
        self.count = 0
        self.next(self.loop)

    @step
    def loop(self):
        self.count += 1
        self.done = 1 if self.count >= self.rounds else 0
        self.next({0: self.loop, 1: self.end}, condition="done")

    @step
    def end(self):
        print("values", self.values, "count", self.count, "speed", self.speed)


if __name__ == "__main__":
    SwitchFlow()
