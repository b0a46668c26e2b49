"""Concurrency and GPU budget: each task records when it ran and which GPU it saw."""

import os
import time

from provider import FlowSpec, Parameter, resources, step


class BudgetFlow(FlowSpec):
    gpus = Parameter("gpus", default=1)

    @step
    def start(self):
        self.items = list(range(6))
        self.next(self.work, foreach="items")

    @resources(gpu=1, cpu=0.5)
    @step
    def work(self):
        self.began = time.time()
        self.device = os.environ.get("CUDA_VISIBLE_DEVICES")
        time.sleep(0.4)
        self.ended = time.time()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.spans = [(i.began, i.ended, i.device) for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BudgetFlow()
