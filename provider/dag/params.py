"""A flow's parameters as the DAG's ``params``: the trigger form of the Airflow UI.

Each :class:`~provider.Parameter` is a ``Param`` with a JSON-schema type (string,
integer, number, boolean; any JSON value for ``JSONType``), so the trigger form shows
it and Airflow rejects a bad value when the run is created, naming the parameter. A
required parameter without a default is a ``Param`` without a default, which Airflow
allows only in unscheduled DAGs. The ``start`` task hands the validated values to the
runtime. A ``Config`` is resolved when the DAG is parsed and shown in its doc, not
asked for.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from provider.flow.config import Config
from provider.flow.parameters import JSONType, Parameter
from provider.flow.spec import FlowSpec

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ANY_JSON = ["object", "array", "string", "number", "integer", "boolean", "null"]


def is_required(param: Parameter) -> bool:
    return param.required and param.default is None and not isinstance(param, Config)


def dag_params(flow_cls: type[FlowSpec]) -> dict[str, Param]:
    """One ``Param`` per flow parameter, keyed by the parameter's name (a ``Config`` is
    resolved when the DAG is parsed and shown in its doc, not asked for)."""
    params = {}
    for param in flow_cls.parameters().values():
        if isinstance(param, Config):
            continue
        schema: dict[str, Any] = {"description": param.help or None}
        json_type: Any = _ANY_JSON if param.type is JSONType else _JSON_TYPES[param.type]
        if is_required(param):
            params[param.name] = Param(type=json_type, **schema)
        elif param.default is None:
            nullable = json_type if param.type is JSONType else [json_type, "null"]
            params[param.name] = Param(None, type=nullable, **schema)
        else:
            params[param.name] = Param(param.default, type=json_type, **schema)
    return params
