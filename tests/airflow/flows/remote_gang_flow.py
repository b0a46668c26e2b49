"""A gang asked to run on Kubernetes, and one whose nodes need resources only."""

from provider import FlowSpec, kubernetes, parallel, resources, step


class RemoteGangFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=2)

    @kubernetes(image="python:3.11")
    @parallel
    @step
    def train(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.measure, num_parallel=2)

    @resources(cpu=2)
    @parallel
    @step
    def measure(self):
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
