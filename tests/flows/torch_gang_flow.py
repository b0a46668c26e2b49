"""torch.distributed (gloo, CPU) across gangs: one process per node through the variables
the gang sets, then torchrun on every node through current.torch.run."""

import json
import os
import tempfile

from provider import FlowSpec, current, parallel, step

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_worker.py")


class TorchGangFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.reduce, num_parallel=3)

    @parallel
    @step
    def reduce(self):
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo")  # MASTER_ADDR/PORT, RANK and WORLD_SIZE: the gang's
        value = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(value)
        self.seen = (dist.get_rank(), dist.get_world_size(), value.item())
        dist.destroy_process_group()
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.reduced = [i.seen for i in inputs]
        self.next(self.launch, num_parallel=2)

    @parallel
    @step
    def launch(self):
        out = tempfile.mkdtemp()
        current.torch.run(WORKER, args={"out": out}, nproc_per_node=2)
        self.workers = []
        for name in sorted(os.listdir(out)):
            with open(os.path.join(out, name)) as f:
                self.workers.append(json.load(f))
        self.next(self.collect)

    @step
    def collect(self, inputs):
        self.launched = [i.workers for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TorchGangFlow()
