"""Data-parallel training on CPU: an Airflow DAG whose train step runs on a gang of nodes.

Each node fits a linear model on its shard of the data; every epoch the nodes
average their gradients with torch.distributed.all_reduce (gloo), so they all end
with the same weights. ``python distributed_training.py run`` runs the nodes as
local processes; under Airflow the train task runs them in the worker (with
``[airstep] local_override``) or, with a multi-node operator, on separate machines.
Needs torch (``make torch``); airstep itself never imports it.
"""

import random

from provider import FlowSpec, Parameter, current, parallel, step


class DistributedTrainingFlow(FlowSpec):
    nodes = Parameter("nodes", default=2, help="nodes in the training gang")
    epochs = Parameter("epochs", default=30, help="passes over the data")
    samples = Parameter("samples", default=512, help="examples in the data set")

    @step
    def start(self):
        """Make a noisy linear data set, y = 3x - 2, and start the gang."""
        rng = random.Random(0)
        xs = [rng.uniform(-1, 1) for _ in range(self.samples)]
        self.data = [(x, 3 * x - 2 + rng.gauss(0, 0.1)) for x in xs]
        self.next(self.train, num_parallel=self.nodes)

    @parallel
    @step
    def train(self):
        """Fit on this node's shard, averaging gradients across the gang every epoch."""
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE: the gang's
        rank, world = dist.get_rank(), dist.get_world_size()
        shard = self.data[rank::world]
        x = torch.tensor([[p[0]] for p in shard])
        y = torch.tensor([[p[1]] for p in shard])
        torch.manual_seed(0)  # the same initial weights on every node
        model = torch.nn.Linear(1, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        for _ in range(self.epochs):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            for param in model.parameters():
                dist.all_reduce(param.grad)  # the sum over the nodes...
                param.grad /= world  # ...averaged
            optimizer.step()
        dist.destroy_process_group()
        self.node = current.parallel.node_index
        self.shard_size = len(shard)
        self.weight, self.bias, self.loss = model.weight.item(), model.bias.item(), loss.item()
        print(f"node {self.node}: y = {self.weight:.3f} x {self.bias:+.3f}, loss {self.loss:.4f}")
        self.next(self.join)

    @step
    def join(self, inputs):
        """Every node holds the same model: keep node 0's."""
        self.models = [(i.weight, i.bias) for i in inputs]
        self.in_sync = len(set(self.models)) == 1
        self.shard_sizes = [i.shard_size for i in inputs]
        self.weight, self.bias = self.models[0]
        self.next(self.end)

    @step
    def end(self):
        """Print the model."""
        print(f"y = {self.weight:.2f} x {self.bias:+.2f} (nodes in sync: {self.in_sync})")


dag = DistributedTrainingFlow.to_dag()

if __name__ == "__main__":
    DistributedTrainingFlow()
