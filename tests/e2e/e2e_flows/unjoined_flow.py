"""A flow that fails validation: its foreach is never joined. It is an Airflow import error."""

from provider import FlowSpec, step


class UnjoinedFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


dag = UnjoinedFlow.to_dag()

if __name__ == "__main__":
    UnjoinedFlow()
