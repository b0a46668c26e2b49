"""A wide foreach whose two-step body runs remotely: chunks of items in pods, then as Batch jobs.

An Airflow DAG: ``dag = RemoteWideFlow.to_dag()``.
"""

import os

from provider import FlowSpec, Parameter, batch, kubernetes, step


class RemoteWideFlow(FlowSpec):
    width = Parameter("width", default=60, help="number of foreach items")

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.in_pod, foreach="items")

    @kubernetes(secrets=["aws-credentials"])
    @step
    def in_pod(self):
        self.double = 2 * self.input
        self.pod = os.environ.get("HOSTNAME")
        self.next(self.in_job)

    @batch(cpu=1, memory=512)
    @step
    def in_job(self):
        self.plus_one = self.double + 1
        self.job = os.environ.get("AWS_BATCH_JOB_ID")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [i.plus_one for i in inputs]
        self.pods = [i.pod for i in inputs]
        self.jobs = [i.job for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
