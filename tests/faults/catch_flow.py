"""A step that fails the way ``$CRASH`` says on every attempt, under @catch unless ``$CATCH=off``.

``$CRASH``: ``exit`` (``os._exit(3)``), ``segfault`` (a read of address 0), ``sigkill`` (the
process kills itself, as the out-of-memory killer would), ``unpicklable`` (an artifact that
cannot be saved), ``split`` (a foreach split that exits). Each run of the step's code appends a
line to ``$COUNT_FILE``.
"""

import ctypes
import os
import signal
import threading

from provider import FlowSpec, catch, retry, step

CATCH = os.environ.get("CATCH", "on") == "on"


def maybe_catch(func):
    return catch(var="err")(func) if CATCH else func


def fail(how: str) -> None:
    if how in ("exit", "split"):
        os._exit(3)
    if how == "segfault":
        ctypes.string_at(0)
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)


class CatchFlow(FlowSpec):
    @step
    def start(self):
        self.before = "set by start"
        self.items = [1, 2]
        self.next(self.boom)

    @maybe_catch
    @retry(times=1, minutes_between_retries=0)
    @step
    def boom(self):
        with open(os.environ["COUNT_FILE"], "a") as f:
            f.write("boom ran\n")
        self.partial = "set by a failed attempt"
        how = os.environ["CRASH"]
        if how == "unpicklable":
            self.lock = threading.Lock()
        elif how != "split":
            fail(how)
        self.next(self.split)

    @maybe_catch
    @retry(times=1, minutes_between_retries=0)
    @step
    def split(self):
        if os.environ["CRASH"] == "split":
            with open(os.environ["COUNT_FILE"], "a") as f:
                f.write("split ran\n")
            fail("split")
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        self.seen = (self.before, type(self.err).__name__, hasattr(self, "partial"))


if __name__ == "__main__":
    CatchFlow()
