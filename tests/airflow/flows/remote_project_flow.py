"""A @project flow with a config whose pod step reads its branch and the config, and splits
a foreach over a string.

An Airflow DAG: ``dag = RemoteProjectFlow.to_dag(branch=...)``.
"""

import os

from provider import (
    Config,
    FlowSpec,
    config_expr,
    current,
    environment,
    kubernetes,
    project,
    step,
)


@project(name="remote_demo")
class RemoteProjectFlow(FlowSpec):
    cfg = Config("cfg", default="remote_project_config.json")
    LIMIT = 2

    @step
    def start(self):
        self.next(self.in_pod)

    @environment(vars=config_expr("cfg.env"))
    @kubernetes(secrets=["aws-credentials"], cpu=cfg.cpu)
    @step
    def in_pod(self):
        self.branch = current.branch_name
        self.project_flow_name = current.project_flow_name
        self.mode = os.environ.get("MODE")
        self.word = self.cfg.word
        try:
            self.LIMIT = 3
        except AttributeError as error:
            self.constant_error = type(error).__name__
        self.next(self.each, foreach="word")

    @step
    def each(self):
        self.char = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.chars = [i.char for i in inputs]
        self.merge_artifacts(inputs, exclude=["char"])
        self.next(self.end)

    @step
    def end(self):
        pass
