"""@secrets from every kind of source, in the worker (or locally), in a pod and in a Batch job.

Steps keep only SHA-256 fingerprints of what they received, so a test can check the
values arrived while checking that no value is stored anywhere.

An Airflow DAG: ``SecretsFlow.to_dag()``.
"""

import hashlib
import os

from provider import FlowSpec, batch, current, kubernetes, secrets, step, user_step_decorator

SECRETS_FILE = os.environ.get("SECRETS_FILE", "secrets.env")
CONNECTION = "airflow-connection.team_db"
VARIABLE = "airflow-variable.api_token"
AWS_SECRET = {"type": "aws-secrets-manager", "id": "airstep/test-creds"}


def fingerprints(*names):
    return {n: hashlib.sha256(os.environ[n].encode()).hexdigest() for n in names if n in os.environ}


@user_step_decorator
def where(step_name, flow, inputs):
    """A team's wrapper: it runs wherever the step runs."""
    yield
    flow.wrapped = (step_name, current.username, sorted(current.tags))


class SecretsFlow(FlowSpec):
    @secrets(sources=[CONNECTION, VARIABLE, AWS_SECRET, {"type": "local-file", "id": SECRETS_FILE}])
    @step
    def start(self):
        self.seen_start = fingerprints(
            "TEAM_DB_LOGIN", "TEAM_DB_PASSWORD", "TEAM_DB_HOST", "API_TOKEN", "AWS_USER",
            "AWS_PASS", "FILE_KEY",
        )  # fmt: skip
        print(f"start got {len(self.seen_start)} secrets")
        self.next(self.on_k8s, self.on_batch)

    @where
    @kubernetes(secrets=["aws-credentials"])
    @secrets(sources=[CONNECTION, VARIABLE])
    @step
    def on_k8s(self):
        self.seen_k8s = fingerprints("TEAM_DB_LOGIN", "TEAM_DB_PASSWORD", "API_TOKEN")
        print(f"pod got {len(self.seen_k8s)} secrets")
        self.next(self.join)

    @where
    @batch(cpu=0.5, memory=512)
    @secrets(sources=[VARIABLE, AWS_SECRET])
    @step
    def on_batch(self):
        self.seen_batch = fingerprints("API_TOKEN", "AWS_USER", "AWS_PASS")
        print(f"job got {len(self.seen_batch)} secrets")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.wrapped_in = sorted(i.wrapped for i in inputs)
        self.merge_artifacts(inputs, exclude=["wrapped"])
        self.left_after_step = "API_TOKEN" in os.environ
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SecretsFlow()
