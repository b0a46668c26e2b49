"""Two branches, one of which raises: its task fails, the other branch's artifacts stay."""

from provider import FlowSpec, step


class FailingBranchFlow(FlowSpec):
    @step
    def start(self):
        self.base = 10
        self.next(self.good, self.bad)

    @step
    def good(self):
        self.value = self.base + 1
        self.next(self.join)

    @step
    def bad(self):
        self.half_done = True
        raise ValueError("bad step broke on purpose")
        self.next(self.join)  # noqa - unreachable, but the graph reads it

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
