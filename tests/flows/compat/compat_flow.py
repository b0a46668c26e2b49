"""Metaflow's features in one flow: a foreach with a multi-step body, a branch join,
merge_artifacts, private and class-level artifacts, @catch with @retry, @timeout.

Written with airstep's import line; the side-by-side tests also run it on Metaflow
with ``from metaflow import`` instead.
"""

import time

from provider import FlowSpec, Parameter, catch, current, retry, step, timeout


class Boom(Exception):
    pass


class CompatFlow(FlowSpec):
    LR = 0.1
    letters = Parameter("letters", default="a,b", separator=",")
    flag = Parameter("flag", default=False, type=bool)

    @step
    def start(self):
        self.input_outside = self.input
        self.stack_outside = self.foreach_stack()
        self.items = ["p", "q"]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.first = self.input
        self.next(self.body2)

    @step
    def body2(self):
        self.second = (self.input, self.index, self.foreach_stack())
        self.next(self.fjoin)

    @step
    def fjoin(self, inputs):
        self.seconds = [i.second for i in inputs]
        self.next(self.fork)

    @catch(var="fork_error", print_exception=False)  # nothing to catch: the variable is None
    @step
    def fork(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x, self.common, self._hidden = 1, 5, "ha"
        self.next(self.join)

    @step
    def b(self):
        self.x, self.common, self._hidden = 2, 5, "hb"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.branch_input = inputs.a.input
        self.hidden_a = inputs.a._hidden
        self.lr_in_join = self.LR
        try:
            self.merge_artifacts(inputs, include=["common", "x"])
        except Exception as e:
            self.conflict_error = type(e).__name__
        self.common_after_failed_merge = getattr(self, "common", "MISSING")
        self.y = "set in the join"
        self.merge_artifacts(inputs, include=["common", "y", "LR"])
        self.next(self.caught)

    @catch(var="err", print_exception=False)
    @retry(times=1, minutes_between_retries=0)
    @step
    def caught(self):
        raise Boom(f"kaboom {current.retry_count}")
        self.next(self.slow)

    @catch(var="timeout_error", print_exception=False)
    @timeout(seconds=1)
    @step
    def slow(self):
        time.sleep(30)
        self.next(self.end)

    @step
    def end(self):
        e = self.err
        self.err_facts = [e.type, e.exception, e.stacktrace.splitlines()[-1]]


if __name__ == "__main__":
    CompatFlow()
