"""@secrets on a pod and on a gang of pods whose steps wait as long as the run says (``hold``,
seconds), and on AWS Batch: a test kills the worker while they wait. Airflow DAGs:
``HeldPodFlow``, ``HeldGangFlow``, ``HeldBatchFlow`` (``.to_dag()``)."""

import time

from provider import FlowSpec, Parameter, batch, kubernetes, parallel, secrets, step

SOURCES = ["airflow-variable.api_token"]


class HeldPodFlow(FlowSpec):
    hold = Parameter("hold", default=0, help="seconds the pod waits")

    @step
    def start(self):
        self.next(self.wait)

    @kubernetes(secrets=["aws-credentials"], cpu=0.5, memory=256)
    @secrets(sources=SOURCES)
    @step
    def wait(self):
        time.sleep(int(self.hold))
        self.next(self.end)

    @step
    def end(self):
        pass


class HeldGangFlow(FlowSpec):
    hold = Parameter("hold", default=0, help="seconds every node waits")

    @step
    def start(self):
        self.next(self.wait, num_parallel=2)

    @kubernetes(secrets=["aws-credentials"], cpu=0.5, memory=256)
    @secrets(sources=SOURCES)
    @parallel
    @step
    def wait(self):
        time.sleep(int(self.hold))
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class HeldBatchFlow(FlowSpec):
    hold = Parameter("hold", default=0, help="seconds the job waits")

    @step
    def start(self):
        self.next(self.wait)

    @batch(cpu=0.5, memory=512)
    @secrets(sources=SOURCES)
    @step
    def wait(self):
        time.sleep(int(self.hold))
        self.next(self.end)

    @step
    def end(self):
        pass
