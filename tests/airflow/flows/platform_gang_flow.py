"""Two gangs that meet over plain sockets: one on Kubernetes (an Indexed Job), one on AWS Batch
(a multi-node job)."""

import os
import socket
import time

from provider import FlowSpec, batch, current, kubernetes, parallel, step


def meet() -> list[int]:
    """Every node learns every node's rank through the main node (MASTER_ADDR:MASTER_PORT)."""
    info = current.parallel
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    if info.node_index == 0:
        with socket.create_server((addr, port)) as server:
            peers = [server.accept()[0] for _ in range(info.num_nodes - 1)]
            ranks = sorted([0] + [int(p.makefile().readline()) for p in peers])
            for peer in peers:
                with peer:
                    peer.sendall(",".join(map(str, ranks)).encode())
            return ranks
    while True:
        try:
            conn = socket.create_connection((addr, port))
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    with conn:
        conn.sendall(f"{info.node_index}\n".encode())
        return [int(r) for r in conn.makefile().read().split(",")]


class PlatformGangFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=3)

    @kubernetes(secrets=["aws-credentials"], cpu=1, memory=512)
    @parallel
    @step
    def train(self):
        self.seen = meet()
        self.where = os.environ.get("JOB_COMPLETION_INDEX")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.pod_views = [(i.where, i.seen) for i in inputs]
        self.next(self.measure, num_parallel=2)

    @batch(cpu=1, memory=512)
    @parallel
    @step
    def measure(self):
        self.seen = meet()
        self.where = os.environ.get("AWS_BATCH_JOB_NODE_INDEX")
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.job_views = [(i.where, i.seen) for i in inputs]
        self.pod_views = inputs[0].pod_views
        self.next(self.end)

    @step
    def end(self):
        pass
