"""A foreach whose items tell which process ran them, and what they found there."""

import os
import signal
import tempfile
import threading
import time

from provider import FlowSpec, Parameter, current, retry, step

#: how many tasks of this process rebound it (mode "global")
SEEN = 0


class ReuseFlow(FlowSpec):
    width = Parameter("width", default=40)
    fail = Parameter("fail", default=-1, help="this item raises in its first attempt")
    crash = Parameter("crash", default=-1, help="this item is killed in its first attempt")
    mode = Parameter(
        "mode",
        default="",
        help="global: rebind a module global; env: set a variable; thread: leave a thread; "
        "rmcwd: remove the working directory",
    )

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @retry(times=1, minutes_between_retries=0)
    @step
    def work(self):
        global SEEN
        self.pid = os.getpid()
        self.attempt = current.retry_count
        self.found_env = os.environ.get("REUSE_FLOW_VAR")
        self.found_global = SEEN
        self.found_threads = threading.active_count()
        print(f"out: item-{self.input}")
        if self.mode == "global":
            SEEN += 1
        if self.mode == "thread":
            threading.Thread(target=time.sleep, args=(1,), daemon=True).start()
        if self.mode == "rmcwd":  # its process is left without a working directory
            folder = tempfile.mkdtemp()
            os.chdir(folder)
            os.rmdir(folder)
        if self.mode == "env":
            os.environ["REUSE_FLOW_VAR"] = str(self.input)
        if self.input == self.fail and current.retry_count == 0:
            raise ValueError(f"item {self.input} fails once")
        if self.input == self.crash and current.retry_count == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.pids = [task.pid for task in inputs]
        self.found_env = [task.found_env for task in inputs]
        self.found_global = [task.found_global for task in inputs]
        self.found_threads = [task.found_threads for task in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ReuseFlow()
