"""Nested foreach with a multi-step body, and a branch inside a foreach."""

from provider import FlowSpec, Parameter, step


class ShapesFlow(FlowSpec):
    width = Parameter("width", default=3)

    @step
    def start(self):
        self.outer = list(range(self.width))
        self.base = 100
        self.next(self.per_outer, foreach="outer")

    @step
    def per_outer(self):
        self.inner = ["a", "b"]
        self.next(self.per_inner, foreach="inner")

    @step
    def per_inner(self):
        self.label = f"{self.foreach_stack()[0][2]}{self.input}"
        self.next(self.per_inner_2)

    @step
    def per_inner_2(self):
        self.label = self.label + "!"
        self.depth = [(i, n) for i, n, _ in self.foreach_stack()]
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.labels = [i.label for i in inputs]
        self.merge_artifacts(inputs, include=["base"])
        self.outer_item = self.input
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
        print("labels", self.all_labels, "totals", self.totals)


if __name__ == "__main__":
    ShapesFlow()
