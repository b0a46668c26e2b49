"""The step decorator machinery: ``@step`` and the base class of every other decorator.

A decorator is small: a ``name``, a ``defaults`` dict, and validation in one hook
(:meth:`StepDecorator.validate`). Decorators stack *above* ``@step``::

    @retry(times=3)
    @resources(gpu=1)
    @step
    def train(self): ...

Each may be written bare (``@retry``) or called (``@retry(times=2)``). Values are
checked when the decorator is applied, so a bad value fails at import time with
a message that names the step, the value and the fix.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from provider.exceptions import InvalidDecoratorAttribute, InvalidDecoratorError

F = TypeVar("F", bound=Callable[..., Any])


def step(func: F) -> F:
    """Mark a method of a FlowSpec as a step."""
    if not callable(func) or not hasattr(func, "__code__"):
        raise InvalidDecoratorError(
            f"@step must decorate a method, got {func!r}; write `@step` directly above `def`."
        )
    if getattr(func, "is_step", False):
        raise InvalidDecoratorError(
            f"@step is applied twice to step *{func.__name__}*; remove one."
        )
    func.is_step = True  # type: ignore[attr-defined]
    func.decorators = []  # type: ignore[attr-defined]
    return func


class StepDecorator:
    """Base class: subclasses set ``name`` and ``defaults`` and may override ``validate``."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, step_name: str, attributes: dict[str, Any]) -> None:
        self.step_name = step_name
        unknown = sorted(set(attributes) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise InvalidDecoratorAttribute(
                f"@{self.name} on step *{step_name}* got unknown argument(s) {', '.join(unknown)}; "
                f"it accepts: {known}."
            )
        #: names the user gave explicitly (they beat defaults when decorators merge)
        self.explicit: frozenset[str] = frozenset(attributes)
        self.attributes: dict[str, Any] = {**self.defaults, **attributes}
        #: arguments that refer to a Config (config_expr): validated once configs are read
        self.delayed = {k: v for k, v in attributes.items() if _is_delayed(v)}
        self.has_delayed = bool(self.delayed)
        if not self.has_delayed:
            self.validate()

    def resolve_delayed(self, evaluate: Callable[[Any], Any]) -> None:
        """Give config references their values (``evaluate``), then validate; again whenever
        the configs are read again (another ``--config``)."""
        for attr, reference in self.delayed.items():
            self.attributes[attr] = evaluate(reference)
        self.validate()

    def validate(self) -> None:
        """Check ``self.attributes``; raise :class:`InvalidDecoratorError` on a bad value."""

    # -- helpers for validate() -------------------------------------------------------------
    def fail(self, attr: str, fix: str) -> InvalidDecoratorError:
        value = self.attributes.get(attr)
        return InvalidDecoratorError(
            f"@{self.name} on step *{self.step_name}*: {attr}={value!r} is invalid; {fix}."
        )

    def check_number(
        self,
        attr: str,
        *,
        minimum: float = 0,
        strict: bool = False,
        integer: bool = False,
        optional: bool = True,
    ) -> None:
        value = self.attributes.get(attr)
        if value is None:
            if optional:
                return
            raise self.fail(attr, "give a number")
        kind = "a whole number" if integer else "a number"
        if isinstance(value, str):
            try:
                value = float(value) if not integer else int(value)
            except ValueError:
                raise self.fail(attr, f"give {kind}") from None
            self.attributes[attr] = value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.fail(attr, f"give {kind}")
        if not math.isfinite(value):
            raise self.fail(attr, f"give a finite {kind.split(' ', 1)[1]}")
        if integer and int(value) != value:
            raise self.fail(attr, f"give {kind}")
        bound = f"> {minimum}" if strict else f">= {minimum}"
        if value < minimum or (strict and value == minimum):
            raise self.fail(attr, f"give {kind} {bound}")

    def check_type(self, attr: str, types: type | tuple[type, ...], what: str) -> None:
        value = self.attributes.get(attr)
        if value is not None and not isinstance(value, types):
            raise self.fail(attr, f"give {what}")

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={self.attributes[k]!r}" for k in sorted(self.explicit))
        return f"@{self.name}({given})"


def _is_delayed(value: Any) -> bool:
    """A reference to a Config's content (``config_expr``), known by its class's marker."""
    return getattr(type(value), "_airstep_delayed", False)


def make_step_decorator(cls: type[StepDecorator]) -> Callable[..., Any]:
    """Turn a StepDecorator subclass into a user-facing ``@name`` / ``@name(...)``."""

    def attach(func: Any, attributes: dict[str, Any]) -> Any:
        if not getattr(func, "is_step", False):
            where = getattr(func, "__name__", repr(func))
            raise InvalidDecoratorError(
                f"@{cls.name} is applied to *{where}*, which is not a step; "
                f"place @{cls.name} above @step."
            )
        if any(d.name == cls.name for d in func.decorators):
            raise InvalidDecoratorError(
                f"@{cls.name} is applied twice to step *{func.__name__}*; keep one."
            )
        func.decorators.append(cls(func.__name__, attributes))
        return func

    def decorator(func: Any = None, **attributes: Any) -> Any:
        if func is not None:
            if attributes or not callable(func):
                raise InvalidDecoratorError(
                    f"@{cls.name} takes keyword arguments only, got {func!r}; "
                    f"write e.g. @{cls.name}({next(iter(cls.defaults), 'x')}=...)."
                )
            return attach(func, {})
        return lambda f: attach(f, attributes)

    decorator.__name__ = cls.name
    decorator.__qualname__ = cls.name
    decorator.__doc__ = cls.__doc__
    decorator.decorator_class = cls  # type: ignore[attr-defined]
    return decorator
