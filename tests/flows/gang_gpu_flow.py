"""Two gangs of two nodes, one local GPU per node: each node sees its own device."""

import os

from provider import FlowSpec, current, parallel, resources, step


class GangGpuFlow(FlowSpec):
    @step
    def start(self):
        self.groups = ["a", "b"]
        self.next(self.prepare, foreach="groups")

    @step
    def prepare(self):
        self.next(self.train, num_parallel=2)

    @resources(gpu=1)
    @parallel
    @step
    def train(self):
        self.device = (current.task_id, os.environ.get("CUDA_VISIBLE_DEVICES"))
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.devices = [i.device for i in inputs]
        self.next(self.join)

    @step
    def join(self, inputs):
        self.devices = [d for i in inputs for d in i.devices]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GangGpuFlow()
