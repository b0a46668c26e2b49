"""A switch between a whole foreach and nested switches whose cases meet in stages."""

from provider import FlowSpec, Parameter, step


class SwitchShapesFlow(FlowSpec):
    shape = Parameter("shape", default="wide", help="wide or narrow")
    size = Parameter("size", default="small", help="small or tiny (narrow only)")

    @step
    def start(self):
        self.next({"wide": self.wide, "narrow": self.narrow}, condition="shape")

    @step
    def wide(self):
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.square = self.input * self.input
        self.next(self.join_wide)

    @step
    def join_wide(self, inputs):
        self.total = sum(i.square for i in inputs)
        self.next(self.done)

    @step
    def narrow(self):
        self.next({"small": self.small, "tiny": self.tiny}, condition="size")

    @step
    def small(self):
        self.total = 1
        self.next(self.done)

    @step
    def tiny(self):
        self.total = 0
        self.next(self.end)

    @step
    def done(self):
        self.path = "done"
        self.next(self.end)

    @step
    def end(self):
        self.summary = (self.shape, self.size, self.total)


if __name__ == "__main__":
    SwitchShapesFlow()
