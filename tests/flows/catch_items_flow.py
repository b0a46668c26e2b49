"""A foreach step with @catch and no @retry: attempt 0 runs the step, attempt 1 is the
fallback that records the crash."""

from provider import FlowSpec, catch, current, step


class CatchItemsFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(3))
        self.next(self.work, foreach="items")

    @catch(var="crash")
    @step
    def work(self):
        self.ran_in_attempt = current.retry_count
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
