"""@secrets whose steps print their values, in the worker: one task in the task's own
process, and a foreach in chunks whose items run in processes forked from it.

Airflow masks only what its secrets masker was told; the test checks that the task log
shows ``***`` where each value was printed. The inline value comes from the environment
when the module is imported, so each test run has values of its own.

An Airflow DAG: ``MaskedSecretsFlow.to_dag()``.
"""

import os

from provider import FlowSpec, secrets, step

SOURCES = [
    "airflow-connection.masked_db",
    "airflow-variable.team_setting",  # a key Airflow does not deem sensitive by its name
    {"type": "inline", "options": {"env_vars": {"INLINE_VALUE": os.environ["MASKED_INLINE"]}}},
]
SHOWN = ("MASKED_DB_LOGIN", "MASKED_DB_PASSWORD", "MASKED_DB_HOST", "TEAM_SETTING", "INLINE_VALUE")


def show(where):
    for name in SHOWN:
        print(f"{where} {name}={os.environ[name]}")


class MaskedSecretsFlow(FlowSpec):
    @secrets(sources=SOURCES)
    @step
    def start(self):
        show("start")
        self.items = list(range(6))
        self.next(self.work, foreach="items")

    @secrets(sources=SOURCES)
    @step
    def work(self):
        show(f"item {self.input}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
