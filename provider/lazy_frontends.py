"""The flow's front ends, each imported on first use, registered with the flow core: the
command line and the DAG compiler.

Importing ``provider`` calls :func:`register`, so ``MyFlow()`` and ``MyFlow.to_dag()``
work however the flow classes are imported. This module sits above the DAG compiler in
the layers, yet importing it imports neither Airflow nor the local executor: each front
end is imported when it is first used, so ``import provider`` stays fast and a step
process never loads Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provider.flow.frontend_registry import register_frontends

if TYPE_CHECKING:
    from provider.flow.spec import FlowSpec


def _run_local_cli(flow_cls: type[FlowSpec]) -> None:
    from provider.local.cli import main

    main(flow_cls)


def _compile_dag(flow_cls: type[FlowSpec], **kwargs: Any) -> Any:
    from provider.dag import flow_to_dag  # Airflow is imported only here

    return flow_to_dag(flow_cls, **kwargs)


def register() -> None:
    register_frontends(cli=_run_local_cli, dag=_compile_dag)
