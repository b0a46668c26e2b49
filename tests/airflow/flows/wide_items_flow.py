"""A wide foreach in which one item fails on its first attempt (``flaky``), or always."""

from provider import FlowSpec, Parameter, current, retry, step


class WideItemsFlow(FlowSpec):
    width = Parameter("width", default=300, help="number of foreach items")
    flaky = Parameter("flaky", default=-1, help="the item that fails on its first attempt")
    broken = Parameter("broken", default=-1, help="the item that always fails")

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @retry(times=1, minutes_between_retries=0)
    @step
    def work(self):
        if self.input == self.broken or (self.input == self.flaky and current.retry_count == 0):
            raise RuntimeError(f"item {self.input} breaks on attempt {current.retry_count}")
        self.square = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.square for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
