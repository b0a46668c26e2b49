"""A gang of two pods whose node 1 fails on the first attempt (KUBE_GANG_FAIL_FIRST=1) while
node 0 waits for it; @retry runs the whole gang again."""

import os
import socket

from provider import FlowSpec, current, kubernetes, parallel, retry, step


class KubeRetryGangFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=2)

    @retry(times=1, minutes_between_retries=0)
    @kubernetes(secrets=["aws-credentials"], cpu=1, memory=512)
    @parallel
    @step
    def train(self):
        info = current.parallel
        if (
            info.node_index == 1
            and current.retry_count == 0
            and os.environ.get("KUBE_GANG_FAIL_FIRST")
        ):
            raise RuntimeError("node 1 breaks on the first attempt")
        port = int(os.environ["MASTER_PORT"])
        if info.node_index == 0:
            with socket.create_server((info.main_ip, port)) as server:
                server.accept()[0].close()  # waits for node 1 for ever on the first attempt
        else:
            while True:
                try:
                    socket.create_connection((info.main_ip, port)).close()
                    break
                except ConnectionRefusedError:
                    pass
        self.attempt = current.retry_count
        self.next(self.join)

    @step
    def join(self, inputs):
        self.attempts = [i.attempt for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
