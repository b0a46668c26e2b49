"""The names ``@project`` gives a flow: its branch and its project flow name.

The branch, as in Metaflow: ``prod`` with production, ``prod.<branch>`` /
``test.<branch>`` with a branch, else ``user.<user name>``. Who chooses:
``@project(branch=..., production=...)``, else the command line (``--branch``,
``--production``) or ``to_dag(branch=..., production=...)``, else the environment
(``AIRSTEP_BRANCH`` / ``AIRSTEP_PRODUCTION``, or Metaflow's ``METAFLOW_BRANCH`` /
``METAFLOW_PRODUCTION``; airstep's win). The user name is ``$METAFLOW_OWNER``, else
the first of ``$METAFLOW_USER``, ``$SUDO_USER``, ``$USERNAME``, ``$USER`` that is not root.

A task learns its DAG's choice through the same variables (and ``METAFLOW_OWNER``
for the user who deployed it), so a remote step names the same branch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provider.exceptions import FlowDefinitionError, MetaflowUnknownUser
from provider.flow.config import evaluate

BRANCH_ENV = ("AIRSTEP_BRANCH", "METAFLOW_BRANCH")
PRODUCTION_ENV = ("AIRSTEP_PRODUCTION", "METAFLOW_PRODUCTION")
OWNER_ENV = "METAFLOW_OWNER"
_INVALID = re.compile(r"[^a-z0-9_]")
_MAX_LEN = 128
_TRUE = {"1", "true", "t", "yes", "y", "on"}


@dataclass(frozen=True)
class ProjectInfo:
    project_name: str
    branch_name: str
    is_user_branch: bool
    is_production: bool
    project_flow_name: str


def _env(names: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    return next((environ[n] for n in names if environ.get(n)), None)


def user_name(environ: Mapping[str, str] | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    for name in ("METAFLOW_USER", "SUDO_USER", "USERNAME", "USER"):
        user = environ.get(name)
        if user and user != "root":
            return user
    return None


def project_info(
    flow_cls: type,
    branch: str | None = None,
    production: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProjectInfo | None:
    """The flow's project names, or None without ``@project``; ``branch``/``production``
    are the command line's or ``to_dag()``'s choice (None: ``environ``'s, by default the
    process environment's; a DAG's tasks pass :func:`task_environment`)."""
    attributes: dict[str, Any] | None = getattr(flow_cls, "_project", None)
    if attributes is None:
        return None
    environ = os.environ if environ is None else environ
    flow = flow_cls.__name__
    where = f"@project on flow *{flow}*"
    name = evaluate(attributes["name"], flow_cls, where)
    _check(name, f"{where}: name={name!r}", "the project name")
    if "branch" in attributes and attributes["branch"] is not None:
        branch = evaluate(attributes["branch"], flow_cls, where)
    elif branch is None:
        branch = _env(BRANCH_ENV, environ)
    if "production" in attributes:
        production = bool(evaluate(attributes["production"], flow_cls, where))
    elif production is None:
        production = (_env(PRODUCTION_ENV, environ) or "").strip().lower() in _TRUE
    if branch:
        _check(branch, f"Flow *{flow}*: branch {branch!r}", "a branch name")
        branch_name = f"{'prod' if production else 'test'}.{branch}"
    elif production:
        branch_name = "prod"
    else:
        user = environ.get(OWNER_ENV) or user_name(environ)
        if user is None:
            raise MetaflowUnknownUser(
                f"Flow *{flow}* is in @project {name!r}, whose default branch is "
                "user.<your name>, but no user name is set: set $USER (or $METAFLOW_USER), "
                "or choose a branch (--branch NAME, or to_dag(branch=...) for its DAG)."
            )
        branch_name = f"user.{user}"
    return ProjectInfo(
        project_name=name,
        branch_name=branch_name,
        is_user_branch=not branch and not production,
        is_production=production,
        project_flow_name=f"{name}.{branch_name}.{flow}",
    )


def task_environment(info: ProjectInfo | None) -> dict[str, str]:
    """What a task of a deployment needs to name the same branch wherever it runs."""
    if info is None:
        return {}
    given = info.branch_name.split(".", 1)[1] if "." in info.branch_name else ""
    branch = "" if info.is_user_branch else given
    env = {name: branch for name in BRANCH_ENV}
    env.update({name: "1" if info.is_production else "0" for name in PRODUCTION_ENV})
    if info.is_user_branch:
        env[OWNER_ENV] = given
    return env


def _check(value: Any, what: str, kind: str) -> None:
    if not isinstance(value, str) or not value:
        raise FlowDefinitionError(f"{what} is invalid; give {kind} as a non-empty string.")
    if _INVALID.search(value):
        raise FlowDefinitionError(
            f"{what} is invalid: {kind} may hold only lowercase letters, digits and "
            f"underscores; e.g. {_INVALID.sub('_', value.lower())!r}."
        )
    if len(value) > _MAX_LEN:
        raise FlowDefinitionError(f"{what} is too long; keep {kind} under {_MAX_LEN} characters.")
