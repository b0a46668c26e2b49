"""A nested foreach, and a branch inside a foreach."""

from provider import FlowSpec, step


class NestedFlow(FlowSpec):
    @step
    def start(self):
        self.outer = [0, 1]
        self.base = 100
        self.next(self.per_outer, foreach="outer")

    @step
    def per_outer(self):
        # kept as an artifact: after the inner join Metaflow's self.input is None
        self.outer_item = self.input
        self.inner = ["a", "b"]
        self.next(self.per_inner, foreach="inner")

    @step
    def per_inner(self):
        self.label = f"{self.foreach_stack()[0][2]}{self.input}"
        self.stack = self.foreach_stack()
        self.item = (self.input, self.index)
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.labels = [i.label for i in inputs]
        self.inner_indexes = [i.index for i in inputs]
        self.merge_artifacts(inputs, include=["base", "outer_item"])
        self.next(self.fork)

    @step
    def fork(self):
        self.outer_index = self.index
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = self.base + self.outer_item
        self.next(self.sides)

    @step
    def right(self):
        self.side = -self.outer_item
        self.next(self.sides)

    @step
    def sides(self, inputs):
        self.total = inputs.left.side + inputs.right.side
        self.merge_artifacts(inputs, exclude=["side"])
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.all_labels = [label for i in inputs for label in i.labels]
        self.totals = [i.total for i in inputs]
        self.indexes = [i.index for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NestedFlow()
