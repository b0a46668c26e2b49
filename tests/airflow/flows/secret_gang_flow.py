"""@secrets on gangs: every node of a Kubernetes gang and of an AWS Batch multi-node job
gets the step's Airflow variable. An Airflow DAG: ``SecretGangFlow.to_dag()``."""

import hashlib
import os

from provider import FlowSpec, batch, current, kubernetes, parallel, secrets, step


def fingerprint():
    return (
        current.parallel.node_index,
        hashlib.sha256(os.environ["API_TOKEN"].encode()).hexdigest(),
    )


class SecretGangFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.pods, num_parallel=2)

    @kubernetes(secrets=["aws-credentials"], cpu=1, memory=512)
    @secrets(sources=["airflow-variable.api_token"])
    @parallel
    @step
    def pods(self):
        self.seen = fingerprint()
        self.next(self.pods_done)

    @step
    def pods_done(self, inputs):
        self.pod_views = sorted(i.seen for i in inputs)
        self.next(self.jobs, num_parallel=2)

    @batch(cpu=1, memory=512)
    @secrets(sources=["airflow-variable.api_token"])
    @parallel
    @step
    def jobs(self):
        self.seen = fingerprint()
        self.next(self.jobs_done)

    @step
    def jobs_done(self, inputs):
        self.job_views = sorted(i.seen for i in inputs)
        self.pod_views = inputs[0].pod_views
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SecretGangFlow()
