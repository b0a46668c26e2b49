"""A foreach in which one item fails: its mapped task fails, the other items' tasks succeed."""

from provider import FlowSpec, step


class FailingItemFlow(FlowSpec):
    @step
    def start(self):
        self.items = ["a", "b", "c"]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        if self.input == "b":
            raise RuntimeError("item b is broken")
        self.done = self.input.upper()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
