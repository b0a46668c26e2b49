"""Flow-level decorators: they sit on the FlowSpec class, not on a step."""

from __future__ import annotations

from typing import Any

from provider.exceptions import InvalidDecoratorError

_KNOWN = ("cron", "hourly", "daily", "weekly", "timezone")


def schedule(cls: Any = None, **attributes: Any) -> Any:
    """When the flow's DAG runs: ``@schedule(daily=True)``, ``@schedule(cron="0 3 * * *")``.

    Ignored by local runs; it becomes the Airflow DAG's ``schedule``.
    """

    def attach(flow_cls: Any) -> Any:
        unknown = sorted(set(attributes) - set(_KNOWN))
        name = getattr(flow_cls, "__name__", repr(flow_cls))
        if unknown:
            raise InvalidDecoratorError(
                f"@schedule on flow *{name}* got unknown argument(s) {', '.join(unknown)}; "
                f"it accepts: {', '.join(_KNOWN)}."
            )
        cron = attributes.get("cron")
        if cron is not None and (not isinstance(cron, str) or not cron.strip()):
            raise InvalidDecoratorError(
                f"@schedule on flow *{name}*: cron={cron!r} is invalid; "
                "give a cron expression such as '0 3 * * *'."
            )
        flags = [k for k in ("hourly", "daily", "weekly") if attributes.get(k)]
        if len(flags) + (cron is not None) > 1:
            raise InvalidDecoratorError(
                f"@schedule on flow *{name}* sets {', '.join(flags + (['cron'] if cron else []))}; "
                "choose one of cron, hourly, daily, weekly."
            )
        if cron is not None:
            expression = cron.strip()
        elif flags:
            expression = "@" + flags[0]
        else:
            expression = "@daily"
        flow_cls._schedule = {"schedule": expression, "timezone": attributes.get("timezone")}
        return flow_cls

    if cls is not None:
        if attributes or not isinstance(cls, type):
            raise InvalidDecoratorError(
                "@schedule takes keyword arguments only, e.g. @schedule(daily=True)."
            )
        return attach(cls)
    return attach
