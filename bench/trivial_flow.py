"""A foreach of trivial tasks, for measuring per-task overhead."""

from provider import FlowSpec, Parameter, step


class TrivialFlow(FlowSpec):
    width = Parameter("width", default=500)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TrivialFlow()
