"""Cards of steps that run remotely: a Kubernetes pod and a foreach of AWS Batch jobs.

An Airflow DAG: ``dag = RemoteCardFlow.to_dag()``.
"""

from provider import FlowSpec, batch, card, current, kubernetes, step
from provider.cards import Markdown


class RemoteCardFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.on_pod)

    @card(type="blank")
    @kubernetes(secrets=["aws-credentials"])
    @step
    def on_pod(self):
        current.card.append(Markdown("rendered **in a pod**"))
        self.next(self.fan_out)

    @step
    def fan_out(self):
        self.items = [1, 2]
        self.next(self.each, foreach="items")

    @card(type="blank")
    @batch(cpu=0.5, memory=1024)
    @step
    def each(self):
        current.card.append(Markdown(f"Batch job for item **{self.input}**"))
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


dag = RemoteCardFlow.to_dag()

if __name__ == "__main__":
    RemoteCardFlow()
