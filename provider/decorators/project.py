"""``@project``: the flow belongs to a project, deployed per branch (a flow decorator).

::

    @project(name="fraud")
    class ScoreFlow(FlowSpec): ...

``python flow.py --branch new_model run`` runs on branch ``test.new_model``;
``--production`` on ``prod``; neither on ``user.<your name>``. ``current`` gives
``project_name``, ``branch_name``, ``is_production``, ``is_user_branch`` and
``project_flow_name`` (``fraud.test.new_model.ScoreFlow``), which is also the id of
the flow's Airflow DAG, so branches deploy side by side. The names themselves are
made in :mod:`provider.flow.project`.
"""

from __future__ import annotations

from typing import Any

from provider.exceptions import InvalidDecoratorAttribute, InvalidDecoratorError

_KNOWN = ("name", "branch", "production")


def project(cls: Any = None, **attributes: Any) -> Any:
    """Put the flow in project ``name``; ``branch=`` / ``production=`` fix its branch."""

    def attach(flow_cls: Any) -> Any:
        flow = getattr(flow_cls, "__name__", repr(flow_cls))
        unknown = sorted(set(attributes) - set(_KNOWN))
        if unknown:
            raise InvalidDecoratorAttribute(
                f"@project on flow *{flow}* got unknown argument(s) {', '.join(unknown)}; it "
                f"accepts: {', '.join(_KNOWN)}."
            )
        if attributes.get("name") is None:
            raise InvalidDecoratorError(
                f"@project on flow *{flow}* needs a name; write @project(name='my_project')."
            )
        production = attributes.get("production", False)
        if not isinstance(production, bool) and not _is_delayed(production):
            raise InvalidDecoratorError(
                f"@project on flow *{flow}*: production={production!r} is invalid; give True "
                "or False."
            )
        flow_cls._project = dict(attributes)
        return flow_cls

    if cls is not None:
        raise InvalidDecoratorError(
            "@project takes keyword arguments only, e.g. @project(name='my_project')."
        )
    return attach


def _is_delayed(value: Any) -> bool:
    return getattr(type(value), "_airstep_delayed", False)
