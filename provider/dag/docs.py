"""What a flow's DAG says about it on its page: its doc and its tags.

The DAG's doc is the flow's docstring (else its module's), then the ``@project``
branch and the ``Config`` values the DAG was made with; a ``@project`` flow's DAG is
tagged ``project:<name>`` and ``project_branch:<branch>``.
"""

from __future__ import annotations

import inspect
import json
import sys

from provider.flow.config import flow_configs
from provider.flow.project import ProjectInfo
from provider.flow.spec import FlowSpec


def flow_doc(flow_cls: type[FlowSpec]) -> str:
    """The flow's docstring, else its module's (a flow file often documents itself there)."""
    module = sys.modules.get(flow_cls.__module__)
    return inspect.cleandoc(flow_cls.__doc__ or getattr(module, "__doc__", None) or "")


def project_tags(project: ProjectInfo | None) -> list[str]:
    if project is None:
        return []
    return [f"project:{project.project_name}", f"project_branch:{project.branch_name}"]


def deployment_doc(flow_cls: type[FlowSpec], project: ProjectInfo | None) -> str:
    """The project, branch and configs this DAG was made with, for the DAG's page."""
    parts = []
    if project is not None:
        parts.append(
            f"**Project** `{project.project_name}`, branch `{project.branch_name}`"
            + (" (production)" if project.is_production else "")
        )
    configs = flow_configs(flow_cls)
    if configs:
        parts.append("**Configs**, read when this file was parsed:")
        for config in configs.values():
            text = json.dumps(config.value, indent=2, sort_keys=True, default=repr)
            parts.append(f"`{config.name}`\n\n```json\n{text}\n```")
    return "\n\n".join(parts)
