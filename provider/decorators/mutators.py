"""Mutators: a team's decorator bundles (Metaflow 2.16+'s ``StepMutator`` and ``FlowMutator``).

A :class:`StepMutator` above ``@step`` and a :class:`FlowMutator` above the class add or
remove step decorators (airstep's, or
:class:`~provider.decorators.user_step_decorators.UserStepDecorator` wrappers) and
parameters. They run when they are applied: a ``StepMutator`` sees the
decorators below it, a ``FlowMutator`` the whole class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from provider.decorators.user_step_decorators import UserStepDecorator, _is_step, _UserDecoratorBase
from provider.exceptions import InvalidDecoratorError


def _decorator_named(name: str) -> Callable[..., Any]:
    from provider import decorators

    found = getattr(decorators, name, None)
    if found is None or not hasattr(found, "decorator_class"):
        known = sorted(
            n for n in dir(decorators) if hasattr(getattr(decorators, n), "decorator_class")
        )
        raise InvalidDecoratorError(
            f"add_decorator({name!r}): there is no step decorator {name!r}; "
            f"the known ones are {', '.join(known)}."
        )
    return found


class MutableStep:
    """A step as a mutator changes it: its decorators, added or removed."""

    IGNORE = 1
    ERROR = 2
    OVERRIDE = 3

    def __init__(self, func: Any, flow_cls: type | None = None) -> None:
        self.func = func
        self._flow_cls = flow_cls

    @property
    def name(self) -> str:
        return str(self.func.__name__)

    @property
    def decorators(self) -> list[Any]:
        """The step's decorators (``StepDecorator`` objects: ``name``, ``attributes``)."""
        return list(self.func.decorators)

    def decorator_specs(self) -> Iterator[tuple[str, str, list[Any], dict[str, Any]]]:
        """``(name, name, args, attributes)`` for each decorator, as Metaflow gives them."""
        for deco in self.func.decorators:
            yield deco.name, deco.name, [], dict(deco.attributes)
        for wrapper in getattr(self.func, "wrappers", []):
            yield wrapper._name(), wrapper._name(), list(wrapper._args), dict(wrapper._kwargs)

    def has_decorator(self, name: str) -> bool:
        return any(d.name == name for d in self.func.decorators) or any(
            w._name() == name for w in getattr(self.func, "wrappers", [])
        )

    def add_decorator(
        self,
        deco_type: Any,
        deco_args: list[Any] | None = None,
        deco_kwargs: dict[str, Any] | None = None,
        duplicates: int = IGNORE,
    ) -> Any:
        """Add a decorator: ``add_decorator(retry, deco_kwargs={"times": 2})`` or by name
        (``"retry"``), or a :class:`UserStepDecorator` class."""
        kwargs = dict(deco_kwargs or {})
        if isinstance(deco_type, type) and issubclass(deco_type, UserStepDecorator):
            self._set_func(deco_type(*(deco_args or []), **kwargs)(self.func))
            return self.func.wrappers[0]
        deco = _decorator_named(deco_type) if isinstance(deco_type, str) else deco_type
        cls = getattr(deco, "decorator_class", None)
        if cls is None:
            raise InvalidDecoratorError(
                f"add_decorator on step *{self.name}*: {deco_type!r} is not a step decorator; "
                "give one such as retry, or its name 'retry'."
            )
        if deco_args:
            raise InvalidDecoratorError(
                f"@{cls.name} takes keyword arguments only; give them as deco_kwargs."
            )
        if self.has_decorator(cls.name):
            if duplicates == self.IGNORE:
                return None
            if duplicates == self.ERROR:
                raise InvalidDecoratorError(
                    f"Step *{self.name}* already has @{cls.name}; a mutator may not add another "
                    "(pass duplicates=MutableStep.OVERRIDE to replace it)."
                )
            self.remove_decorator(cls.name)
        deco(**kwargs)(self.func)
        return self.func.decorators[-1]

    def remove_decorator(self, name: str) -> bool:
        """Remove the step's decorator(s) called ``name``; False if it had none."""
        before = len(self.func.decorators)
        self.func.decorators[:] = [d for d in self.func.decorators if d.name != name]
        return len(self.func.decorators) != before

    def _set_func(self, func: Any) -> None:
        self.func = func
        if self._flow_cls is not None:
            setattr(self._flow_cls, self.name, func)

    def __repr__(self) -> str:
        return f"MutableStep({self.name!r})"


class StepMutator(_UserDecoratorBase):
    """Change a step when the flow is defined: override ``mutate(mutable_step)`` (and
    ``pre_mutate``, called first). Place it above ``@step``."""

    def pre_mutate(self, mutable_step: MutableStep) -> None:
        return None

    def mutate(self, mutable_step: MutableStep) -> None:
        return None

    def __call__(self, func: Any) -> Any:
        self._step_func(func)
        step = MutableStep(func)
        self.pre_mutate(step)
        self.mutate(step)
        return step.func


class MutableFlow:
    """A flow class as a :class:`FlowMutator` changes it: its steps and parameters."""

    def __init__(self, flow_cls: type) -> None:
        self._flow_cls = flow_cls

    @property
    def name(self) -> str:
        return self._flow_cls.__name__

    @property
    def steps(self) -> Iterator[tuple[str, MutableStep]]:
        for name in dir(self._flow_cls):
            value = getattr(self._flow_cls, name, None)
            if _is_step(value):
                yield name, MutableStep(value, self._flow_cls)

    @property
    def parameters(self) -> Iterator[tuple[str, Any]]:
        yield from self._flow_cls.parameters().items()  # type: ignore[attr-defined]

    @property
    def configs(self) -> Iterator[tuple[str, Any]]:
        return iter(())

    def __getattr__(self, name: str) -> MutableStep:
        value = getattr(self._flow_cls, name, None)
        if not _is_step(value):
            raise AttributeError(f"Flow *{self.name}* has no step {name!r}.")
        return MutableStep(value, self._flow_cls)

    def add_parameter(self, name: str, value: Any, overwrite: bool = False) -> None:
        """Add ``Parameter`` ``value`` as attribute ``name`` (refused if taken, unless
        ``overwrite``)."""
        if hasattr(self._flow_cls, name) and not overwrite:
            raise InvalidDecoratorError(
                f"Flow *{self.name}* already has an attribute {name!r}; pass overwrite=True to "
                "replace it, or give the parameter another name."
            )
        setattr(self._flow_cls, name, value)
        set_name = getattr(value, "__set_name__", None)
        if set_name is not None:
            set_name(self._flow_cls, name)
        self._changed()

    def remove_parameter(self, name: str) -> bool:
        if name not in self._flow_cls.__dict__:
            return False
        delattr(self._flow_cls, name)
        self._changed()
        return True

    def add_decorator(
        self, deco_type: Any, deco_args: list[Any] | None = None, deco_kwargs: Any = None, **_: Any
    ) -> Any:
        """Apply a flow decorator (e.g. ``schedule``, or another FlowMutator) to the flow."""
        args, kwargs = list(deco_args or []), dict(deco_kwargs or {})
        applied = deco_type(*args, **kwargs)(self._flow_cls) if args or kwargs else None
        if applied is None:
            applied = deco_type(self._flow_cls)
        return applied

    def _changed(self) -> None:
        if "_airstep_graph" in self._flow_cls.__dict__:
            delattr(self._flow_cls, "_airstep_graph")


class FlowMutator(_UserDecoratorBase):
    """Change a flow class when it is defined: override ``mutate(mutable_flow)`` (and
    ``pre_mutate``, called first). Place it above ``class``."""

    def pre_mutate(self, mutable_flow: MutableFlow) -> None:
        return None

    def mutate(self, mutable_flow: MutableFlow) -> None:
        return None

    def __call__(self, flow_cls: type) -> type:
        if not isinstance(flow_cls, type):
            raise InvalidDecoratorError(
                f"@{self._name()} is a FlowMutator: place it above a FlowSpec class, not "
                f"{flow_cls!r}."
            )
        flow = MutableFlow(flow_cls)
        self.pre_mutate(flow)
        self.mutate(flow)
        return flow_cls
