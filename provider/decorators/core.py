"""Decorators that change how a step runs wherever it runs: retry, timeout, catch,
resources, environment."""

from __future__ import annotations

from typing import Any, ClassVar

from provider.decorators.base import StepDecorator, make_step_decorator


class RetryDecorator(StepDecorator):
    """Run a failed step again, up to ``times`` more attempts, waiting between them."""

    name = "retry"
    defaults: ClassVar[dict[str, Any]] = {"times": 3, "minutes_between_retries": 2}

    def validate(self) -> None:
        self.check_number("times", integer=True, optional=False)
        self.check_number("minutes_between_retries", optional=False)
        if self.attributes["times"] > 100:
            raise self.fail("times", "give at most 100 retries")

    @property
    def times(self) -> int:
        return int(self.attributes["times"])

    @property
    def delay_seconds(self) -> float:
        return 60.0 * float(self.attributes["minutes_between_retries"])


class TimeoutDecorator(StepDecorator):
    """Fail an attempt that runs longer than ``seconds + 60*minutes + 3600*hours``."""

    name = "timeout"
    defaults: ClassVar[dict[str, Any]] = {"seconds": 0, "minutes": 0, "hours": 0}

    def validate(self) -> None:
        for attr in ("seconds", "minutes", "hours"):
            self.check_number(attr, optional=False)
        if self.total_seconds <= 0:
            raise self.fail(
                next(iter(self.explicit), "seconds"),
                "a timeout must be longer than 0, e.g. @timeout(minutes=10)",
            )

    @property
    def total_seconds(self) -> float:
        a = self.attributes
        return float(a["seconds"]) + 60.0 * float(a["minutes"]) + 3600.0 * float(a["hours"])


class CatchDecorator(StepDecorator):
    """When the last attempt fails, store the exception in ``var`` and carry on."""

    name = "catch"
    defaults: ClassVar[dict[str, Any]] = {"var": None, "print_exception": True}

    def validate(self) -> None:
        var = self.attributes["var"]
        if var is not None and (not isinstance(var, str) or not var.isidentifier()):
            raise self.fail("var", "give an artifact name such as var='error'")
        self.check_type("print_exception", bool, "True or False")

    @property
    def var(self) -> str | None:
        return self.attributes["var"]

    @property
    def print_exception(self) -> bool:
        return bool(self.attributes["print_exception"])


class ResourcesDecorator(StepDecorator):
    """What a step needs: cpu (cores, may be fractional), memory/disk/shared_memory (MB), gpu."""

    name = "resources"
    defaults: ClassVar[dict[str, Any]] = {
        "cpu": 1,
        "memory": 4096,
        "gpu": None,
        "disk": None,
        "shared_memory": None,
    }

    def validate(self) -> None:
        self.check_number("cpu", strict=True)
        self.check_number("memory", strict=True, integer=True)
        self.check_number("gpu", integer=True)
        self.check_number("disk", strict=True, integer=True)
        self.check_number("shared_memory", strict=True, integer=True)


class EnvironmentDecorator(StepDecorator):
    """Environment variables set for the step's process."""

    name = "environment"
    defaults: ClassVar[dict[str, Any]] = {"vars": {}}

    def validate(self) -> None:
        env = self.attributes["vars"]
        if not isinstance(env, dict):
            raise self.fail("vars", "give a dict of names to values, e.g. vars={'MODE': 'fast'}")
        for key, value in env.items():
            if not isinstance(key, str) or not key or "=" in key:
                raise self.fail("vars", f"{key!r} is not a valid variable name")
            if not isinstance(value, str | int | float | bool):
                raise self.fail("vars", f"the value of {key} must be a string, got {value!r}")
        self.attributes["vars"] = {k: str(v) for k, v in env.items()}

    @property
    def vars(self) -> dict[str, str]:
        return dict(self.attributes["vars"])


retry = make_step_decorator(RetryDecorator)
timeout = make_step_decorator(TimeoutDecorator)
catch = make_step_decorator(CatchDecorator)
resources = make_step_decorator(ResourcesDecorator)
environment = make_step_decorator(EnvironmentDecorator)
