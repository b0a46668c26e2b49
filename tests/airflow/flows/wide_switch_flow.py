"""A switch inside a wide foreach: each item chooses ``small`` or ``big``; items below
``cut`` are small, so with chunks of a few items, whole chunks choose only one case."""

from provider import FlowSpec, Parameter, step


class WideSwitchFlow(FlowSpec):
    width = Parameter("width", default=40, help="number of foreach items")
    cut = Parameter("cut", default=20, help="items below it choose small, the others big")

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.route, foreach="items")

    @step
    def route(self):
        self.size = "small" if self.input < self.cut else "big"
        self.next({"small": self.small, "big": self.big}, condition="size")

    @step
    def small(self):
        self.value = self.input
        self.next(self.merge)

    @step
    def big(self):
        self.value = self.input * 100
        self.next(self.merge)

    @step
    def merge(self):
        self.seen = (self.input, self.size, self.value)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = [i.seen for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
