"""Gangs whose nodes meet over plain sockets at the main node's address (no torch): one of
``--nodes`` nodes, then one gang of two nodes per foreach item.

GANG_FAIL_NODE=I makes node I fail on attempts below GANG_FAIL_ATTEMPTS (every
attempt by default), before the others can meet; GANG_STUBBORN_ATTEMPT=A makes
node 2 ignore SIGTERM and wait on attempt A; GANG_HOLD keeps every node waiting;
GANG_FAIL_END fails the end step; GANG_PID_DIR collects the pids of every node
and of a child process node 0 starts.
"""

import os
import signal
import socket
import subprocess
import time

from provider import FlowSpec, Parameter, current, parallel, retry, step


def rendezvous(main_ip: str, port: int, rank: int, num_nodes: int) -> list[int]:
    """Every node learns every node's rank: the main node collects them and sends them back."""
    if rank == 0:
        with socket.create_server((main_ip, port)) as server:
            peers = [server.accept()[0] for _ in range(num_nodes - 1)]
            ranks = sorted([0] + [int(peer.makefile().readline()) for peer in peers])
            for peer in peers:
                with peer:
                    peer.sendall(",".join(map(str, ranks)).encode())
            return ranks
    while True:
        try:
            conn = socket.create_connection((main_ip, port))
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    with conn:
        conn.sendall(f"{rank}\n".encode())
        return [int(r) for r in conn.makefile().read().split(",")]


def keep_pid(name: str, pid: int) -> None:
    folder = os.environ.get("GANG_PID_DIR")
    if folder:
        with open(os.path.join(folder, name), "w") as f:
            f.write(str(pid))


class GangFlow(FlowSpec):
    nodes = Parameter("nodes", default=3, help="nodes in the gang")

    @step
    def start(self):
        self.greeting = "hello"
        self.next(self.train, num_parallel=self.nodes)

    @retry(times=1, minutes_between_retries=0)
    @parallel
    @step
    def train(self):
        info = current.parallel
        rank, attempt = info.node_index, current.retry_count
        keep_pid(f"{attempt}-{rank}", os.getpid())
        if rank == 0 and os.environ.get("GANG_PID_DIR"):
            child = subprocess.Popen(["sleep", "300"])
            keep_pid(f"{attempt}-{rank}-child", child.pid)
        if rank == 2 and os.environ.get("GANG_STUBBORN_ATTEMPT") == str(attempt):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(300)
        failing = os.environ.get("GANG_FAIL_NODE")
        if failing == str(rank) and attempt < int(os.environ.get("GANG_FAIL_ATTEMPTS", "99")):
            time.sleep(0.5)
            raise RuntimeError(f"node {rank} breaks on attempt {attempt}")
        if os.environ.get("GANG_HOLD"):
            time.sleep(300)
        print(f"node {rank} of {info.num_nodes} meets the others")
        self.seen = rendezvous(info.main_ip, int(os.environ["MASTER_PORT"]), rank, info.num_nodes)
        self.rank = rank
        self.attempt = attempt
        self.parallel = tuple(info)
        self.is_parallel = current.is_parallel
        self.item = (self.input, self.index)
        self.greeting_seen = self.greeting
        names = ["MASTER_ADDR", "WORLD_SIZE", "NODE_RANK", "RANK", "PET_NNODES", "PET_NODE_RANK"]
        self.env = {name: os.environ[name] for name in names}
        self.next(self.join)

    @step
    def join(self, inputs):
        self.ranks = [i.rank for i in inputs]
        self.seen = [i.seen for i in inputs]
        self.parallels = [i.parallel for i in inputs]
        self.envs = [i.env for i in inputs]
        self.items = [i.item for i in inputs]
        self.attempts = [i.attempt for i in inputs]
        self.flags = [i.is_parallel for i in inputs]
        self.greetings = [i.greeting_seen for i in inputs]
        self.groups = ["a", "b"]
        self.next(self.prepare, foreach="groups")

    @step
    def prepare(self):
        self.group = self.input
        self.next(self.pair, num_parallel=2)

    @parallel
    @step
    def pair(self):
        info = current.parallel
        port = int(os.environ["MASTER_PORT"])
        self.seen = rendezvous(info.main_ip, port, info.node_index, info.num_nodes)
        self.node = (self.group, info.node_index, info.control_task_id, current.task_id)
        self.stack = self.foreach_stack()
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.pair_nodes = [i.node for i in inputs]
        self.pair_seen = [i.seen for i in inputs]
        self.next(self.regroup)

    @step
    def regroup(self, inputs):
        self.all_nodes = [i.pair_nodes for i in inputs]
        self.all_seen = [i.pair_seen for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        if os.environ.get("GANG_FAIL_END"):
            raise RuntimeError("end breaks")
        self.outside = (tuple(current.parallel), current.is_parallel)


if __name__ == "__main__":
    GangFlow()
