"""A gang whose nodes note when they enter the step, for bench_gang.py.

BENCH_GANG_DIR: where each node writes ``enter-<node>`` (the time it entered user code
and its pid). BENCH_GANG_MODE: ``ok`` returns at once; ``fail`` makes node 1 fail once
every node is in the step (writing ``fail``, the time, first) while the others wait;
``stubborn`` also makes node 2 ignore SIGTERM while it waits.
"""

import os
import signal
import time

from provider import FlowSpec, Parameter, current, parallel, step


class GangBenchFlow(FlowSpec):
    nodes = Parameter("nodes", default=4)

    @step
    def start(self):
        self.next(self.train, num_parallel=self.nodes)

    @parallel
    @step
    def train(self):
        entered = time.time()
        folder, mode = os.environ["BENCH_GANG_DIR"], os.environ.get("BENCH_GANG_MODE", "ok")
        node = current.parallel.node_index
        with open(os.path.join(folder, f".enter-{node}"), "w") as f:
            f.write(f"{entered!r} {os.getpid()}")
        os.rename(os.path.join(folder, f".enter-{node}"), os.path.join(folder, f"enter-{node}"))
        if mode != "ok":
            if node == 1:
                while len([n for n in os.listdir(folder) if n.startswith("enter-")]) < self.nodes:
                    time.sleep(0.01)  # every node is in the step
                with open(os.path.join(folder, "fail"), "w") as f:
                    f.write(repr(time.time()))
                raise RuntimeError("node 1 fails")
            if node == 2 and mode == "stubborn":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(300)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
