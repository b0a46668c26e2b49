"""Decorators a team writes itself: step wrappers and mutators (Metaflow 2.16+'s API).

- ``@user_step_decorator`` turns a generator ``f(step_name, flow, inputs[, attributes])``
  into a step decorator: code before its ``yield`` runs before the step, code after it
  runs after; an exception of the step is raised at the ``yield``. Yield a callable to
  run it instead of the step, or a dict to skip the step (``USER_SKIP_STEP``; a dict's
  keys are passed to ``self.next``).
- :class:`UserStepDecorator`: the same as a class with ``pre_step`` / ``post_step``.
- :class:`~provider.decorators.mutators.StepMutator` and ``FlowMutator`` (in
  :mod:`provider.decorators.mutators`) add or remove decorators and parameters.

A wrapper replaces the step's function by one that runs the wrapper's code around
it, so every executor (local, Airflow worker, pod, Batch job) runs it the same way.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

from provider.exceptions import InvalidDecoratorError

#: yield (or set ``skip_step`` to) this to skip the step and call its usual ``self.next``
USER_SKIP_STEP: dict[str, Any] = {}


def _is_step(obj: Any) -> bool:
    return callable(obj) and getattr(obj, "is_step", False)


class _UserDecoratorMeta(type):
    """``@Deco`` and ``@Deco(...)`` both work: a step given bare is decorated at once."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and callable(args[0]):
            return type.__call__(cls)(args[0])
        return type.__call__(cls, *args, **kwargs)


class _UserDecoratorBase(metaclass=_UserDecoratorMeta):
    _takes_args = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and not self._takes_args:
            raise InvalidDecoratorError(
                f"@{self._name()} takes keyword arguments only, got {args!r}; "
                f"write e.g. @{self._name()}(name=value)."
            )
        self._args = args
        self._kwargs = kwargs
        self.init(*args, **kwargs)

    def init(self, *args: Any, **kwargs: Any) -> None:
        """Override to take arguments: ``@MyDecorator(arg=1)`` calls ``init(arg=1)``."""
        if args or kwargs:
            raise InvalidDecoratorError(
                f"@{self._name()} got arguments {args or ''}{kwargs or ''} but takes none; "
                f"define {type(self).__name__}.init(self, ...) to accept them."
            )

    @classmethod
    def _name(cls) -> str:
        return getattr(cls, "_decorator_name", cls.__name__)

    def _step_func(self, func: Any) -> None:
        if not _is_step(func):
            where = getattr(func, "__name__", repr(func))
            raise InvalidDecoratorError(
                f"@{self._name()} is applied to *{where}*, which is not a step; "
                f"place @{self._name()} above @step."
            )

    def __repr__(self) -> str:
        given = [repr(a) for a in self._args] + [f"{k}={v!r}" for k, v in self._kwargs.items()]
        return f"@{self._name()}({', '.join(given)})"


class UserStepDecorator(_UserDecoratorBase):
    """A step wrapper: ``pre_step`` runs before the step, ``post_step`` after it.

    ``pre_step`` may return a callable to run instead of the step (called as the step
    is, with ``inputs`` for a join; return True from it to make the step's usual
    ``self.next`` call, or a dict of ``self.next`` keyword arguments), or set
    ``self.skip_step`` (True, or a dict for ``self.next``) to skip it. ``post_step``
    gets the step's exception (None if it succeeded) and returns the exception to
    raise (None: the step succeeded), or ``(exception, next_kwargs)``.
    """

    _takes_args = False

    def pre_step(self, step_name: str, flow: Any, inputs: Any = None) -> Callable[..., Any] | None:
        return None

    def post_step(self, step_name: str, flow: Any, exception: BaseException | None = None) -> Any:
        return exception, None

    @property
    def skip_step(self) -> bool | dict[str, Any]:
        return getattr(self, "_skip_step", False)

    @skip_step.setter
    def skip_step(self, value: bool | dict[str, Any]) -> None:
        self._skip_step = value

    def __call__(self, func: Any) -> Any:
        self._step_func(func)
        wrapper_of = self

        @functools.wraps(func)
        def step_with_wrapper(flow: Any, *inputs: Any) -> None:
            # a fresh copy per call: state set in pre_step belongs to this task only
            copy.copy(wrapper_of)._run(func, flow, inputs)

        step_with_wrapper.wrappers = [self, *getattr(func, "wrappers", [])]  # type: ignore[attr-defined]
        return step_with_wrapper

    def _run(self, func: Callable[..., Any], flow: Any, inputs: tuple[Any, ...]) -> None:
        name = func.__name__
        self._skip_step = False
        replacement = self.pre_step(name, flow, inputs[0] if inputs else None)
        exception: BaseException | None = None
        next_kwargs: dict[str, Any] | None = None
        skip = self.skip_step
        if skip is not False:
            next_kwargs = skip if isinstance(skip, dict) else {}
        else:
            try:
                if replacement is None:
                    func(flow, *inputs)
                else:
                    result = replacement(flow, *inputs)
                    if result is True:
                        next_kwargs = {}
                    elif isinstance(result, dict):
                        next_kwargs = result
            except Exception as exc:  # the wrapper's post_step decides what happens to it
                exception = exc
        outcome = self.post_step(name, flow, exception)
        if isinstance(outcome, BaseException) or outcome is None:
            outcome = (outcome, None)
        if not isinstance(outcome, tuple) or len(outcome) not in (2, 3):
            raise InvalidDecoratorError(
                f"@{self._name()} on step *{name}*: post_step returned {outcome!r}; return an "
                "exception or None, or (exception or None, dict of self.next arguments or None)."
            )
        raise_this, post_next = outcome[0], outcome[1]
        if len(outcome) == 3 and outcome[2] is not None:
            raise outcome[2]
        if raise_this is not None:
            raise raise_this
        if post_next is not None:
            next_kwargs = post_next
        if next_kwargs is not None:
            _default_next(flow, name, next_kwargs)


def _default_next(flow: Any, step_name: str, overrides: dict[str, Any]) -> None:
    """Make the ``self.next`` call the step itself would make, with ``overrides``."""
    state = getattr(flow, "_state", None)
    if state is None or state.transition is not None:
        return
    node = state.node
    kwargs: dict[str, Any] = {}
    if node.foreach_var is not None and not node.is_parallel_split:
        kwargs["foreach"] = node.foreach_var
    kwargs.update(overrides)
    steps = kwargs.pop("steps", None) or node.out_funcs
    if step_name == "end":
        return
    flow.next(*[getattr(type(flow), s) for s in steps], **kwargs)


def user_step_decorator(*args: Any, **kwargs: Any) -> Any:
    """Make a step decorator of a generator ``f(step_name, flow, inputs[, attributes])``.

    ``attributes`` are the keyword arguments the decorator is given (``@f(x=1)``).
    """
    if not args:
        return lambda gen: user_step_decorator(gen, **kwargs)
    gen = args[0]
    name = getattr(gen, "__name__", repr(gen))
    if not inspect.isgeneratorfunction(gen):
        raise InvalidDecoratorError(
            f"@user_step_decorator decorates a generator function (one that yields once); "
            f"*{name}* is not one. Write `yield` where the step runs."
        )
    arity = len(inspect.signature(gen).parameters)
    if arity not in (3, 4):
        raise InvalidDecoratorError(
            f"@user_step_decorator: *{name}* takes {arity} arguments; it takes "
            "(step_name, flow, inputs) or (step_name, flow, inputs, attributes)."
        )

    class GeneratorDecorator(UserStepDecorator):
        _decorator_name = name

        def init(self, *args: Any, **attributes: Any) -> None:
            if attributes and arity != 4:
                raise InvalidDecoratorError(
                    f"@{name} got arguments {attributes} but *{name}* takes no attributes; "
                    "give it a fourth argument, (step_name, flow, inputs, attributes)."
                )
            self.attributes = attributes

        def pre_step(self, step_name: str, flow: Any, inputs: Any = None) -> Any:
            facts = (step_name, flow, inputs, dict(self.attributes))[:arity]
            self._gen = gen(*facts)
            try:
                yielded = next(self._gen)
            except StopIteration:  # no yield: the step does not run
                self._gen = None
                self.skip_step = True
                return None
            if isinstance(yielded, dict):
                self.skip_step = yielded or True
                return None
            return yielded

        def post_step(self, step_name: str, flow: Any, exception: BaseException | None = None):
            if self._gen is None:
                return None, None
            try:
                if exception is not None:
                    self._gen.throw(exception)
                else:
                    next(self._gen)
            except StopIteration:
                return None, None
            except Exception as raised:
                return raised, None
            return InvalidDecoratorError(
                f"@{name} on step *{step_name}* yielded more than once; yield once, where "
                "the step runs."
            ), None

    GeneratorDecorator.__name__ = GeneratorDecorator.__qualname__ = name
    GeneratorDecorator.__doc__ = gen.__doc__
    GeneratorDecorator.__module__ = gen.__module__
    return GeneratorDecorator
