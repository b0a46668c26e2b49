"""Flows: FlowSpec, the step graph, parameters and ``current`` (no Airflow)."""

from provider.flow.config import Config, ConfigValue, config_expr
from provider.flow.current import current
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.join_inputs import Inputs
from provider.flow.parameters import IncludeFile, JSONType, Parameter
from provider.flow.spec import FlowSpec

__all__ = [
    "Config",
    "ConfigValue",
    "FlowGraph",
    "FlowSpec",
    "IncludeFile",
    "Inputs",
    "JSONType",
    "Parameter",
    "StepNode",
    "config_expr",
    "current",
]
