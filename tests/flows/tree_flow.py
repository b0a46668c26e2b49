"""Branches, a join, a gang of two nodes and a foreach of gangs: what the client's tree reads.

start -> (a, b) -> join -> pre -> gang (@parallel, 2 nodes) -> gjoin -> prepare (a foreach
of two groups) -> pair (@parallel, 2 nodes each) -> gather -> regroup -> end. ``start``
prints two lines to stdout and one to stderr, and keeps what ``current.task`` said while
it ran.
"""

import sys

from provider import FlowSpec, current, parallel, step


class TreeFlow(FlowSpec):
    @step
    def start(self):
        print("hello from start")
        print("second line")
        print("to stderr", file=sys.stderr)
        task = current.task
        self.seen_task = (task.pathspec, task.finished, task.parent.id, type(task).__name__)
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.xs = sorted(i.x for i in inputs)
        self.next(self.pre)

    @step
    def pre(self):
        self.next(self.gang, num_parallel=2)

    @parallel
    @step
    def gang(self):
        self.node = current.parallel.node_index
        self.next(self.gjoin)

    @step
    def gjoin(self, inputs):
        self.nodes = [i.node for i in inputs]
        self.groups = ["g0", "g1"]
        self.next(self.prepare, foreach="groups")

    @step
    def prepare(self):
        self.next(self.pair, num_parallel=2)

    @parallel
    @step
    def pair(self):
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.next(self.regroup)

    @step
    def regroup(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TreeFlow()
