"""One flow, three places to run: the worker, Kubernetes and AWS Batch (an Airflow DAG).

``prepare`` runs wherever the flow runs; ``featurize`` asks for a Kubernetes
pod and ``train`` for an AWS Batch job, each with its @resources. Until the
remote operators land (and whenever ``[airstep] local_override`` or
``AIRSTEP_LOCAL_OVERRIDE`` is set) every step runs in the Airflow worker, and
locally they all run on this machine.
"""

from provider import FlowSpec, batch, kubernetes, resources, step


class MixedComputeFlow(FlowSpec):
    """A local step, a @kubernetes step and a @batch step."""

    @step
    def start(self):
        """Make the raw rows (local)."""
        self.rows = [(x, 2 * x + 1) for x in range(20)]
        self.next(self.featurize)

    @resources(cpu=1, memory=1024)
    @kubernetes(image="python:3.11-slim")
    @step
    def featurize(self):
        """Add a squared feature (a Kubernetes pod)."""
        self.features = [(x, x * x, y) for x, y in self.rows]
        self.next(self.train)

    @resources(cpu=2, memory=2048)
    @batch(queue="airstep-cpu")
    @step
    def train(self):
        """Least squares for y = a*x + b (an AWS Batch job)."""
        n = len(self.features)
        sx = sum(x for x, _, _ in self.features)
        sy = sum(y for _, _, y in self.features)
        sxx = sum(x * x for x, _, _ in self.features)
        sxy = sum(x * y for x, _, y in self.features)
        self.a = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        self.b = (sy - self.a * sx) / n
        self.next(self.end)

    @step
    def end(self):
        """Report the model."""
        print(f"y = {self.a:.2f} x + {self.b:.2f}")


dag = MixedComputeFlow.to_dag()

if __name__ == "__main__":
    MixedComputeFlow()
