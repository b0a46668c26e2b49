"""A foreach as wide as asked, each task storing a blob of the asked size."""

from provider import FlowSpec, Parameter, step


class WideFlow(FlowSpec):
    width = Parameter("width", default=300, help="number of foreach items")
    blob_kb = Parameter("blob_kb", default=1, help="size of each task's artifact, in KB")

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.blob = bytes([self.input % 256]) * (1024 * self.blob_kb)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(len(i.blob) for i in inputs)
        self.first_bytes = [i.blob[0] for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
