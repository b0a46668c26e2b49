"""Where the flow core finds its two front ends: ``MyFlow()`` and ``MyFlow.to_dag()``.

``MyFlow()`` runs the flow's command line (the local executor) and ``MyFlow.to_dag()``
builds the Airflow DAG. Both live in layers above the flow core, which therefore does
not import them: they register here when the ``provider`` package is imported (see
``provider/lazy_frontends.py``), so every import points down the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provider.exceptions import AirstepError

_frontends: dict[str, Callable[..., Any]] = {}


def register_frontends(*, cli: Callable[[type], object], dag: Callable[..., Any]) -> None:
    """Set what ``MyFlow()`` (``cli(flow_cls)``) and ``MyFlow.to_dag(**kw)`` call."""
    _frontends["cli"] = cli
    _frontends["dag"] = dag


def _frontend(name: str, flow_cls: type, call: str) -> Callable[..., Any]:
    try:
        return _frontends[name]
    except KeyError:
        raise AirstepError(
            f"{call} for flow *{flow_cls.__name__}* found no {name} front end registered; "
            "import the flow API from the provider package (from provider import FlowSpec), "
            "which registers it."
        ) from None


def run_cli(flow_cls: type) -> None:
    """Run the flow's command line (``python flow.py run``) on ``sys.argv``."""
    _frontend("cli", flow_cls, f"{flow_cls.__name__}()")(flow_cls)


def build_dag(flow_cls: type, **kwargs: Any) -> Any:
    """The flow as an Airflow DAG, built by the registered DAG compiler."""
    return _frontend("dag", flow_cls, f"{flow_cls.__name__}.to_dag()")(flow_cls, **kwargs)
