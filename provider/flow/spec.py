"""``FlowSpec``: the base class of every flow.

A flow instance lives inside one task. Attributes assigned in a step
(``self.x = ...``) are the task's artifacts; attributes read but not assigned
come lazily from the task's input (its parent task), so a step only loads what
it touches. A join does not inherit artifacts: it reads them from ``inputs`` or
carries them over with :meth:`FlowSpec.merge_artifacts`.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from provider.exceptions import (
    FlowDefinitionError,
    InvalidNextException,
    MergeArtifactsError,
    MissingInMergeArtifactsException,
    StepError,
    UnhandledInMergeArtifactsException,
)
from provider.flow.config import resolve_configs
from provider.flow.current import current
from provider.flow.distributed import max_num_parallel, num_parallel_problem
from provider.flow.frontend_registry import build_dag, run_cli
from provider.flow.graph import RESERVED_NAMES, FlowGraph
from provider.flow.join_inputs import Inputs
from provider.flow.parameters import Parameter

if TYPE_CHECKING:
    from provider.datastore.records import ArtifactEntry
    from provider.flow.state import TaskState


class FlowSpec:
    """Subclass it, add ``@step`` methods, and call ``MyFlow()`` under ``__main__``."""

    _state: TaskState | None = None
    _schedule: dict[str, Any] | None = None

    def __init__(self, use_cli: bool = True) -> None:
        object.__setattr__(self, "_state", None)
        current._flow_cls = type(self)  # for current.project_name and friends
        if use_cli:
            run_cli(type(self))

    # -- class level: graph, parameters, DAG ---------------------------------------------------
    @classmethod
    def graph(cls) -> FlowGraph:
        """The validated step graph (built once per class)."""
        graph = cls.__dict__.get("_airstep_graph")
        if graph is None:
            resolve_configs(cls)  # decorator arguments may come from configs
            graph = FlowGraph(cls)
            clash = sorted(set(graph.nodes) & {p.attr for p in cls.parameters().values()})
            if clash:
                raise FlowDefinitionError(
                    f"Flow *{cls.__name__}*: parameter *{clash[0]}* has the name of a step; "
                    "rename one of them."
                )
            type.__setattr__(cls, "_airstep_graph", graph)
        return graph

    @classmethod
    def parameters(cls) -> dict[str, Parameter]:
        """Parameters by attribute name, in definition order (base classes first)."""
        found: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Parameter):
                    if attr in RESERVED_NAMES:
                        raise FlowDefinitionError(
                            f"Flow *{cls.__name__}*: parameter *{attr}* has the name of a "
                            "FlowSpec attribute; rename it."
                        )
                    found[attr] = value
        return found

    @classmethod
    def to_dag(cls, **kwargs: Any) -> Any:
        """The flow as an Airflow DAG; see :func:`provider.dag.flow_to_dag`.

        Returns None without importing Airflow when the file runs as a script
        (``python flow.py run``) or inside a step process, where no DAG is wanted.
        """
        # "__mp_main__": the script re-imported in a spawned worker (parallel_map)
        if cls.__module__ in ("__main__", "__mp_main__") or os.environ.get("AIRSTEP_IN_TASK"):
            return None
        return build_dag(cls, **kwargs)

    # -- inside a step --------------------------------------------------------------------------
    def next(
        self,
        *steps: Any,
        foreach: str | None = None,
        num_parallel: Any = None,
        condition: str | None = None,
    ) -> None:
        """Name the step(s) that run after this one.

        ``foreach="items"`` runs the next step once per item of ``self.items``;
        ``num_parallel=N`` runs the next (``@parallel``) step as a gang of N nodes;
        ``self.next({"a": self.a, "b": self.b}, condition="choice")`` (a switch) runs
        only the step that the value of ``self.choice`` names.
        """
        state = self._require_state("next")
        node = state.node
        if node.is_switch or condition is not None:
            state.transition = [self._switch_case(steps, condition)]
            return
        names = [getattr(s, "__name__", repr(s)) for s in steps]
        expected_foreach = None if node.is_parallel_split else node.foreach_var
        if (
            names != node.out_funcs
            or foreach != expected_foreach
            or (num_parallel is not None) != node.is_parallel_split
        ):
            extra = f", foreach={foreach!r}" if foreach else ""
            extra += f", num_parallel={num_parallel!r}" if num_parallel is not None else ""
            raise InvalidNextException(
                f"Step *{node.name}* called self.next({', '.join(names)}{extra}) but its source "
                f"says self.next({', '.join(node.out_funcs)}); self.next() must be a plain call "
                "that the graph can read."
            )
        if num_parallel is not None:
            problem = num_parallel_problem(num_parallel, max_num_parallel())
            if problem:
                source = f" ({node.num_parallel})" if isinstance(node.num_parallel, str) else ""
                raise InvalidNextException(
                    f"Step *{node.name}* gives num_parallel={num_parallel!r}{source}; {problem}."
                )
            state.num_parallel = num_parallel
        state.transition = names

    def _switch_case(self, steps: tuple[Any, ...], condition: str | None) -> str:
        """The step a switch moves to: the case that the condition artifact's value names."""
        node = self._require_state("next").node
        cases = steps[0] if len(steps) == 1 and isinstance(steps[0], dict) else None
        given = (
            {k: getattr(v, "__name__", repr(v)) for k, v in cases.items()}
            if cases is not None
            else None
        )
        if not node.is_switch or given != node.switch_cases or condition != node.condition:
            source = (
                f"{{{', '.join(f'{k!r}: {v}' for k, v in node.switch_cases.items())}}}, "
                f"condition={node.condition!r}"
                if node.is_switch
                else ", ".join(node.out_funcs)
            )
            raise InvalidNextException(
                f"Step *{node.name}* called self.next() with {given or steps!r}, "
                f"condition={condition!r}, but its source says self.next({source}); self.next() "
                "must be a plain call that the graph can read."
            )
        assert condition is not None
        try:
            value = getattr(self, condition)
        except AttributeError:
            raise StepError(
                f"Step *{node.name}* switches on self.{condition}, which is not set; set "
                f"self.{condition} to one of {', '.join(map(repr, node.switch_cases))} before "
                "self.next()."
            ) from None
        try:
            return node.switch_cases[value]
        except (KeyError, TypeError):
            raise StepError(
                f"Step *{node.name}* switches on self.{condition}, whose value {value!r} is none "
                f"of its cases ({', '.join(map(repr, node.switch_cases))}); set self.{condition} "
                "to one of them, or add a case for it."
            ) from None

    @property
    def input(self) -> Any:
        """The item of the innermost foreach this task runs for; None outside a foreach."""
        state = self._require_state("input")
        return state.foreach_item(-1) if state.foreach_stack else None

    @property
    def index(self) -> int | None:
        """The index of this task in the innermost foreach."""
        state = self._require_state("index")
        return state.foreach_stack[-1].index if state.foreach_stack else None

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """``(index, num_splits, item)`` for each enclosing foreach, outermost first."""
        state = self._require_state("foreach_stack")
        return [
            (frame.index, frame.num_splits, state.foreach_item(depth))
            for depth, frame in enumerate(state.foreach_stack)
        ]

    def merge_artifacts(
        self,
        inputs: Inputs,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
    ) -> None:
        """Carry over artifacts that all inputs agree on (same content) into this join."""
        state = self._require_state("merge_artifacts")
        step = state.node.name
        if not state.node.is_join:
            raise MergeArtifactsError(
                f"Step *{step}* called merge_artifacts(), which only a join step can do."
            )
        if include and exclude:
            raise MergeArtifactsError(
                f"Step *{step}*: merge_artifacts() takes include or exclude, not both."
            )
        values: dict[str, dict[str, ArtifactEntry]] = {}
        for task in inputs:
            for name, entry in task._record.artifacts.items():
                values.setdefault(name, {})[task._record.pathspec] = entry
        # as in Metaflow: what the join already has (set, inherited, a parameter or a class
        # attribute) is neither merged nor missing
        has = (
            set(exclude or ())
            | set(self.__dict__)
            | set(state.inherited)
            | set(state.parameter_names)
            | {n for n in {*values, *(include or ())} if hasattr(type(self), n)}
        )
        names = [n for n in (include or values) if n not in has]
        conflicts, merged, missing = [], {}, []
        for name in names:
            if name not in values:
                missing.append(name)
                continue
            shas = {entry.sha for entry in values[name].values()}
            if len(shas) > 1:
                conflicts.append(name)
            else:
                merged[name] = next(iter(values[name].values()))
        if conflicts:  # nothing is merged when anything conflicts
            raise UnhandledInMergeArtifactsException(
                f"Step *{step}* cannot merge artifact(s) {', '.join(sorted(conflicts))}: their "
                "values differ between the inputs. Set them in the join (self.x = ...) before "
                f"merging, or pass exclude={sorted(conflicts)!r}.",
                sorted(conflicts),
            )
        if missing:
            raise MissingInMergeArtifactsException(
                f"Step *{step}*: merge_artifacts(include=...) names {', '.join(missing)}, which "
                "no input has; remove them from include.",
                missing,
            )
        state.inherited.update(merged)

    # -- artifacts --------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name in RESERVED_NAMES or isinstance(getattr(type(self), name, None), property):
            raise AttributeError(f"self.{name} is part of FlowSpec and cannot be assigned.")
        if isinstance(getattr(type(self), name, None), Parameter):
            getattr(type(self), name).__set__(self, value)
        if name in _constant_names(type(self)):
            state = self.__dict__.get("_state")
            where = f"step *{state.node.name}* of " if state is not None else ""
            raise AttributeError(
                f"Flow level attributes and Parameters are not modifiable: {where}flow "
                f"*{type(self).__name__}* assigns self.{name} = {_short(value)}, but {name} is "
                f"a class attribute of the flow; store the new value under another name "
                f"(self.my_{name} = ...)."
            )
        cls_attr = getattr(type(self), name, None)
        if callable(cls_attr) and getattr(cls_attr, "is_step", False):
            raise AttributeError(f"self.{name} is a step and cannot be assigned; use another name.")
        self.__dict__[name] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_state":
            raise AttributeError(name)
        return self._load_artifact(name)

    def _load_artifact(self, name: str) -> Any:
        if name in self.__dict__:
            return self.__dict__[name]
        state = self.__dict__.get("_state")
        if state is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute *{name}* (artifacts exist only while "
                "a step runs)."
            )
        value = state.load_inherited(name)
        self.__dict__[name] = value
        return value

    def _require_state(self, what: str) -> TaskState:
        state = self.__dict__.get("_state")
        if state is None:
            raise StepError(f"self.{what} is only available inside a running step.")
        return state

    def _artifact_items(self) -> Iterator[tuple[str, Any]]:
        """What this step persists: every attribute it assigned or read."""
        for name, value in self.__dict__.items():
            if name != "_state":
                yield name, value


def flow_constants(flow_cls: type[FlowSpec]) -> dict[str, Any]:
    """The flow's class-level values (``LR = 0.1``), kept as artifacts of every task.

    As in Metaflow: public class attributes that are not parameters, steps, methods,
    properties or classes; they are stored by ``start`` and carried through joins.
    """
    found = {}
    for name in dir(flow_cls):
        if name.startswith("_") or name in RESERVED_NAMES:
            continue
        value = getattr(flow_cls, name, None)
        if not isinstance(
            value, Parameter | types.FunctionType | types.MethodType | property | type
        ) and not getattr(value, "is_step", False):
            found[name] = value
    return found


def _constant_names(flow_cls: type[FlowSpec]) -> frozenset[str]:
    """The names of :func:`flow_constants`, computed once per class."""
    names = flow_cls.__dict__.get("_airstep_constant_names")
    if names is None:
        names = frozenset(flow_constants(flow_cls))
        type.__setattr__(flow_cls, "_airstep_constant_names", names)
    return names


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
