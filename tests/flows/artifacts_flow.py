"""Artifacts that plain pickle cannot store, duplicates, and a wide lazy join."""

from provider import FlowSpec, Parameter, step


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class ArtifactsFlow(FlowSpec):
    width = Parameter("width", default=4)

    @step
    def start(self):
        offset = 10
        self.shift = lambda v: v + offset
        self.point = Point(1, 2)
        self.big = b"x" * (9 * 1024 * 1024)  # spools to disk
        self.copy_of_big = b"x" * (9 * 1024 * 1024)  # same bytes: stored once
        self.items = list(range(self.width))
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.value = self.shift(self.input)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.first = inputs[0].value
        self.count = len(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ArtifactsFlow()
