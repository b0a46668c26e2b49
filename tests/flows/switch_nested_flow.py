"""A switch inside a foreach whose one case holds a nested foreach."""

from provider import FlowSpec, step


class SwitchNestedFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3, 4]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.kind = "even" if self.input % 2 == 0 else "odd"
        self.next({"even": self.fan, "odd": self.single}, condition="kind")

    @step
    def fan(self):
        self.parts = [10, 20]
        self.next(self.part, foreach="parts")

    @step
    def part(self):
        self.value = self.foreach_stack()[0][2] * self.input
        self.next(self.part_join)

    @step
    def part_join(self, inputs):
        self.value = sum(i.value for i in inputs)
        self.next(self.collect)

    @step
    def single(self):
        self.value = -self.input
        self.next(self.collect)

    @step
    def collect(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchNestedFlow()
