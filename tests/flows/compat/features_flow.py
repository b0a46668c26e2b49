"""Metaflow's names and rules: its exception classes, read-only class constants, a foreach
over a string, parameters from the environment, @project and configs."""

import os

from provider import (
    Config,
    FlowSpec,
    Parameter,
    config_expr,
    current,
    environment,
    project,
    step,
    timeout,
)
from provider.exception import (
    MetaflowException,
    MissingInMergeArtifactsException,
    UnhandledInMergeArtifactsException,
)


@project(name="compat_demo")
class FeaturesFlow(FlowSpec):
    cfg = Config("cfg", default="features_config.json")
    count = Parameter("count", default=1)
    my_words = Parameter("my-words", default="x", separator=",")
    flag = Parameter("flag", type=bool, default=False)
    given = Parameter("given", default="default")
    first_layer = Parameter("first-layer", default=config_expr("cfg.model.layers[0]"))
    RATE = 0.5

    @environment(vars=config_expr("cfg.env"))
    @timeout(seconds=cfg.timeout)
    @step
    def start(self):
        self.project = [
            current.project_name,
            current.branch_name,
            current.is_production,
            current.project_flow_name,
        ]
        try:
            self.RATE = 1
        except AttributeError as error:
            self.constant_error = [type(error).__name__, str(error).split(":")[0]]
        self.greeting = os.environ.get("GREETING")
        self.model_name = self.cfg.model.name
        self.layers = list(self.cfg["model"]["layers"])
        self.letters = "abc"
        self.next(self.each, foreach="letters")

    @step
    def each(self):
        self.char = self.input
        self.rate_seen = self.RATE
        self.next(self.join)

    @step
    def join(self, inputs):
        try:
            self.merge_artifacts(inputs)
        except UnhandledInMergeArtifactsException as error:
            self.unhandled = sorted(set(error.artifact_names))
            self.unhandled_is_metaflow = isinstance(error, MetaflowException)
        try:
            self.merge_artifacts(inputs, include=["nope"])
        except MissingInMergeArtifactsException as error:
            self.missing = list(error.artifact_names)
        self.chars = sorted(i.char for i in inputs)
        self.merge_artifacts(inputs, exclude=["char"])
        self.next(self.end)

    @step
    def end(self):
        self.cfg_seen = dict(self.cfg)
        self.cfg_repr = repr(self.cfg)
        try:
            self.cfg["model"] = None
        except TypeError as error:
            self.cfg_immutable = [type(error).__name__, str(error).split(":")[0]]


if __name__ == "__main__":
    FeaturesFlow()
