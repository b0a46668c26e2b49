"""Import a flow file by path and find its FlowSpec class."""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys

from provider.exceptions import AirstepError
from provider.flow.spec import FlowSpec


def load_flow_class(path: str, name: str | None = None) -> type[FlowSpec]:
    """Import ``path`` (never as ``__main__``) and return the one flow it defines, or ``name``.

    ``to_dag()`` in the file is a no-op here (``AIRSTEP_IN_TASK``), so Airflow stays out.
    """
    os.environ["AIRSTEP_IN_TASK"] = "1"
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise AirstepError(f"There is no flow file at {path!r}.")
    module_name = "airstep_flow_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AirstepError(f"Cannot import the flow file {path!r}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(module)
    flows = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, FlowSpec)
        and obj.__module__ == module_name
        and (name is None or obj.__name__ == name)
    ]
    if len(flows) != 1:
        found = ", ".join(f.__name__ for f in flows) or "none"
        raise AirstepError(
            f"{path} must define exactly one flow{f' named {name}' if name else ''} "
            f"(found {found}); name it with --flow."
        )
    return flows[0]
