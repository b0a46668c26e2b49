"""torch.distributed (gloo, CPU) across a gang of three pods: each node's process joins the
process group through the variables the gang sets, and all_reduce sums the ranks.

KUBE_TORCH_HOLD=1 keeps every node inside the process group after the all_reduce, so that a
test can stop the task while the gang runs.
"""

import datetime
import os
import time

from provider import FlowSpec, kubernetes, parallel, step


class KubeTorchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.reduce, num_parallel=3)

    @kubernetes(secrets=["aws-credentials"], cpu=1, memory=1024)
    @parallel
    @step
    def reduce(self):
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
        value = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(value)
        self.seen = (dist.get_rank(), dist.get_world_size(), value.item())
        self.where = (os.environ["JOB_COMPLETION_INDEX"], os.environ["MASTER_ADDR"])
        print(f"rank {dist.get_rank()} of {dist.get_world_size()}: all_reduce gave {value.item()}")
        if os.environ.get("KUBE_TORCH_HOLD"):
            dist.barrier()
            time.sleep(300)
        dist.destroy_process_group()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.reduced = [i.seen for i in inputs]
        self.where = [i.where for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
