"""A switch inside a foreach whose one case runs a gang of two nodes."""

from provider import FlowSpec, current, parallel, step


class SwitchGangFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3, 4]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.kind = "even" if self.input % 2 == 0 else "odd"
        self.next({"even": self.launch, "odd": self.single}, condition="kind")

    @step
    def launch(self):
        self.next(self.train, num_parallel=2)

    @parallel
    @step
    def train(self):
        self.rank = current.parallel.node_index
        self.next(self.gang_join)

    @step
    def gang_join(self, inputs):
        self.value = 100 * self.foreach_stack()[0][2] + sum(i.rank for i in inputs)
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
    SwitchGangFlow()
