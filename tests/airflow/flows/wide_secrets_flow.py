"""@secrets from an Airflow Connection and Variable on a foreach step that runs in chunks.

Items keep only SHA-256 fingerprints of what they received."""

import hashlib
import os

from provider import FlowSpec, Parameter, secrets, step


def fingerprints(*names):
    return {n: hashlib.sha256(os.environ[n].encode()).hexdigest() for n in names if n in os.environ}


class WideSecretsFlow(FlowSpec):
    width = Parameter("width", default=40, help="number of foreach items")

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @secrets(sources=["airflow-connection.team_db", "airflow-variable.api_token"])
    @step
    def work(self):
        self.seen = fingerprints("TEAM_DB_LOGIN", "TEAM_DB_PASSWORD", "API_TOKEN")
        print(f"item {self.input} got {len(self.seen)} secrets")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = [(i.input, i.seen) for i in inputs]
        self.left_after_step = "API_TOKEN" in os.environ
        self.next(self.end)

    @step
    def end(self):
        pass
