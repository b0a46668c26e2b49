"""Local, Kubernetes (with a GPU) and AWS Batch steps in one flow, and a foreach split in a
pod whose items run on Batch.

An Airflow DAG: ``dag = RemoteFlow.to_dag()``.
"""

import os

from provider import FlowSpec, Parameter, batch, current, kubernetes, resources, step


class RemoteFlow(FlowSpec):
    scale = Parameter("scale", default=2)

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.on_gpu, self.fan_out)

    @resources(memory=2048)
    @kubernetes(
        gpu=1,
        secrets=["aws-credentials"],
        node_selector={"pool": "gpu"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        labels={"team": "ml"},
        use_tmpfs=True,
        tmpfs_size=256,
        shared_memory=64,
    )
    @step
    def on_gpu(self):
        self.k8s_value = self.scale * 10
        self.pod_name = os.environ.get("HOSTNAME")
        self.next(self.join)

    @kubernetes(secrets=["aws-credentials"])  # a foreach split in a pod: its children's ids
    # reach the mapped step through XCom
    @step
    def fan_out(self):
        self.next(self.on_batch, foreach="items")

    @batch(cpu=0.5, memory=1024)
    @step
    def on_batch(self):
        self.square = self.input**2 * self.scale
        self.job_id = os.environ.get("AWS_BATCH_JOB_ID")
        self.pathspec = current.pathspec
        self.next(self.batch_join)

    @step
    def batch_join(self, inputs):
        self.squares = [i.square for i in inputs]
        self.job_ids = [i.job_id for i in inputs]
        self.next(self.join)

    @step
    def join(self, inputs):
        self.k8s_value = inputs.on_gpu.k8s_value
        self.pod_name = inputs.on_gpu.pod_name
        self.squares = inputs.batch_join.squares
        self.job_ids = inputs.batch_join.job_ids
        self.next(self.end)

    @step
    def end(self):
        print("k8s", self.k8s_value, "batch", self.squares)


dag = RemoteFlow.to_dag()

if __name__ == "__main__":
    RemoteFlow()
