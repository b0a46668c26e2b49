"""Configs: flow settings read once, when the flow is parsed (Metaflow's ``Config``).

::

    class TrainFlow(FlowSpec):
        cfg = Config("cfg", default="train.json")     # a file beside the flow, JSON

        @resources(cpu=config_expr("cfg.cpu"))        # or cpu=cfg.cpu
        @step
        def start(self):
            print(self.cfg.model.name)                # a read-only ConfigValue

A config's value comes from, first to last: ``--config-value NAME JSON`` or
``--config NAME PATH`` on the command line (before ``run``), then its
``default`` (a file: relative paths are looked up in the working directory, then
beside the flow file) or ``default_value`` (a dict or a JSON string). It is
resolved before the step graph is built, so decorator arguments can use it; a
local run resolves it when it starts, an Airflow DAG when its file is parsed (by
the DAG processor, a worker, or a remote step's container: the file travels with
the flow's code). Like a parameter it is an artifact of every task, read-only.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from provider.exceptions import ConfigError
from provider.flow.parameters import Parameter


class ConfigValue(dict):  # type: ignore[type-arg]
    """A config's value: a read-only dict whose keys are also attributes (``cfg.model.name``)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__({k: _frozen(v) for k, v in data.items()})

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"The config has no key {key!r}; it has {', '.join(map(repr, self)) or 'none'}."
            ) from None

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "ConfigValue is immutable: a config is read-only in a flow; copy it first "
            "(d = self.cfg.to_dict()) to change the copy."
        )

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """A plain, writable copy (nested values too)."""
        return json.loads(json.dumps(self))

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return (ConfigValue, (dict(self),))

    __repr__ = dict.__repr__  # shown as the plain dict it holds, as in Metaflow


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ConfigValue(value)
    if isinstance(value, list | tuple):
        return [_frozen(v) for v in value]
    return value


class DelayedConfig:
    """A reference to a config's content, evaluated once the configs are resolved.

    ``config_expr("cfg.cpu")`` makes one; so does ``cfg.cpu`` on a :class:`Config` in the
    class body. As a decorator argument it becomes the value before the flow is used.
    """

    _airstep_delayed = True

    def __init__(self, expr: str, saved_globals: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_expr", expr)
        object.__setattr__(self, "_globals", saved_globals or {})

    def __getattr__(self, name: str) -> DelayedConfig:
        if name.startswith("__"):
            raise AttributeError(name)
        return DelayedConfig(f"{self._expr}.{name}", self._globals)

    def __getitem__(self, key: Any) -> DelayedConfig:
        return DelayedConfig(f"{self._expr}[{key!r}]", self._globals)

    def evaluate(self, configs: Mapping[str, ConfigValue | None], where: str) -> Any:
        try:
            return eval(self._expr, {**self._globals, **configs})  # noqa: S307 - the flow's own code
        except NameError as exc:
            raise ConfigError(
                f"{where}: config_expr({self._expr!r}) uses {exc.name!r}, which is not a config "
                f"of the flow; its configs are {', '.join(configs) or 'none'}. Fix the name, or "
                f"add {exc.name} = Config({exc.name!r}, ...) to the flow."
            ) from None
        except Exception as exc:
            raise ConfigError(
                f"{where}: config_expr({self._expr!r}) failed ({type(exc).__name__}: {exc}); "
                "fix the expression or the config's content."
            ) from None

    def __repr__(self) -> str:
        return f"config_expr({self._expr!r})"


def config_expr(expr: str) -> DelayedConfig:
    """A Python expression over the flow's configs (``"cfg.cpu * 2"``), evaluated when the
    configs are resolved; names of the caller's module are in scope too."""
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"config_expr({expr!r}) needs an expression such as 'cfg.cpu'.")
    caller = sys._getframe(1).f_globals
    return DelayedConfig(expr.strip(), dict(caller))


def is_delayed(value: Any) -> bool:
    # the class, not the instance: a DelayedConfig answers every attribute
    return getattr(type(value), "_airstep_delayed", False)


class Config(Parameter):
    """A flow setting read at parse time: ``Config("cfg", default="cfg.json")``.

    :param name: the config's name (``--config NAME PATH``, ``--config-value NAME JSON``).
    :param default: a file (JSON, or what ``parser`` reads) holding the value.
    :param default_value: the value itself: a dict, or a JSON string.
    :param parser: a function (or ``"module.function"``) turning the file's text into a dict.
    :param required: fail when no value is given at all.
    :param plain: keep the parsed value as it is (any object), not a read-only ConfigValue.
    """

    _airstep_delayed = True  # ``@environment(vars=cfg)`` waits for the value too

    def __init__(
        self,
        name: str,
        default: str | None = None,
        default_value: Any = None,
        help: str | None = None,  # noqa: A002 - Metaflow's signature
        required: bool = False,
        parser: str | Callable[[str], Any] | None = None,
        show_default: bool = True,
        plain: bool = False,
    ) -> None:
        super().__init__(name, help=help, required=required, type=str, show_default=show_default)
        if default is not None and default_value is not None:
            raise ConfigError(
                f"Config *{name}* has both default={default!r} and default_value; give one: a "
                "file (default) or a value (default_value)."
            )
        self.default_file = default
        self.default_value = default_value
        self.parser = parser
        #: the value as parsed (any object), not a read-only ConfigValue
        self.plain = plain
        self._value: Any = None

    # ``cfg.cpu`` in the class body (a decorator argument) is a reference into the value
    def __getattr__(self, name: str) -> DelayedConfig:
        if name.startswith("_"):
            raise AttributeError(name)
        return DelayedConfig(f"{self.attr}.{name}")

    def __getitem__(self, key: Any) -> DelayedConfig:
        return DelayedConfig(f"{self.attr}[{key!r}]")

    def __iter__(self) -> Iterator[str]:
        raise TypeError(f"Config *{self.name}* has no value yet; read it inside a step.")

    def resolve(self, given: Any, *, base_dir: str | None = None, confined: bool = False) -> Any:
        """The value for a run: the one resolved when the flow was parsed."""
        return self._value

    @property
    def value(self) -> Any:
        return self._value

    # -- reading --------------------------------------------------------------------------------
    def load(
        self, flow_name: str, base_dir: str, path: str | None = None, text: str | None = None
    ) -> ConfigValue | None:
        """The value from the command line (``path`` or ``text``), else from the defaults."""
        where = f"Config *{self.name}* of flow *{flow_name}*"
        if text is not None:
            return self._parse_json(text, where, "--config-value", f"the value {text!r}")
        path = path if path is not None else self.default_file
        if path is not None:
            return self._read_file(path, base_dir, where)
        if self.default_value is not None:
            value = self.default_value
            if isinstance(value, str):
                return self._parse_json(value, where, "default_value", f"default_value={value!r}")
            return self._checked(value, where, "default_value")
        if self.required:
            raise ConfigError(
                f"{where} is required and has no value; give it with --config {self.name} PATH "
                f"or --config-value {self.name} JSON."
            )
        return None

    def _read_file(self, path: str, base_dir: str, where: str) -> ConfigValue:
        candidates = [path] if os.path.isabs(path) else [path, os.path.join(base_dir, path)]
        found = next((c for c in candidates if os.path.isfile(c)), None)
        if found is None:
            raise ConfigError(
                f"{where}: there is no file at {path!r} (looked in {os.getcwd()} and {base_dir}); "
                f"create it, or give another file with --config {self.name} PATH."
            )
        with open(found, encoding="utf-8") as f:
            text = f.read()
        if self.parser is None:
            return self._parse_json(text, where, "--config", f"the file {found!r}")
        try:
            parsed = _parser(self.parser)(text)
        except Exception as exc:
            raise ConfigError(
                f"{where}: parser {self.parser!r} failed on {found!r} ({type(exc).__name__}: "
                f"{exc}); fix the file or the parser."
            ) from None
        return self._checked(parsed, where, f"the file {found!r}")

    def _parse_json(self, text: str, where: str, option: str, what: str) -> ConfigValue:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{where}: {what} is not JSON ({exc}); fix it, e.g. --config-value {self.name} "
                "'{\"key\": 1}'."
            ) from None
        return self._checked(value, where, what)

    def _checked(self, value: Any, where: str, what: str) -> Any:
        if self.plain:
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{where}: {what} gives a {type(value).__name__} ({value!r:.60}), not a JSON "
                'object; a config is an object, e.g. {"key": 1} (or give the Config plain=True '
                "to keep any value)."
            )
        return ConfigValue(value)

    def __repr__(self) -> str:
        source = self.default_file or self.default_value
        return f"Config({self.name!r}, default={source!r})"


def _parser(parser: str | Callable[[str], Any]) -> Callable[[str], Any]:
    if callable(parser):
        return parser
    module, _, func = parser.rpartition(".")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


# -- resolving a flow's configs ---------------------------------------------------------------
def flow_configs(flow_cls: type) -> dict[str, Config]:
    """The flow's configs by attribute name (they are parameters too)."""
    return {a: p for a, p in flow_cls.parameters().items() if isinstance(p, Config)}  # type: ignore[attr-defined]


def set_config_sources(flow_cls: type, files: Mapping[str, str], values: Mapping[str, str]) -> None:
    """What the command line gave (``--config``, ``--config-value``), by config name."""
    configs = {c.name: c for c in flow_configs(flow_cls).values()}
    for option, given in (("--config", files), ("--config-value", values)):
        for name in given:
            if name not in configs:
                raise ConfigError(
                    f"{option} {name}: flow *{flow_cls.__name__}* has no config {name!r}; its "
                    f"configs are {', '.join(sorted(configs)) or 'none'}. Fix the name, or add "
                    f"{name} = Config({name!r}, ...) to the flow."
                )
    type.__setattr__(flow_cls, "_airstep_config_sources", (dict(files), dict(values)))
    if "_airstep_graph" in flow_cls.__dict__:  # built with other values: build it again
        type.__delattr__(flow_cls, "_airstep_graph")


def resolve_configs(flow_cls: type) -> dict[str, ConfigValue | None]:
    """Read every config of the flow once, then put the values into decorator arguments."""
    configs = flow_configs(flow_cls)
    if not configs:
        if _has_delayed(flow_cls):  # config_expr in a flow without configs: say which
            _resolve_references(flow_cls, {})
        return {}
    files, values = flow_cls.__dict__.get("_airstep_config_sources", ({}, {}))
    base_dir = os.path.dirname(os.path.abspath(inspect.getfile(flow_cls)))
    resolved: dict[str, ConfigValue | None] = {}
    for attr, config in configs.items():
        value = config.load(
            flow_cls.__name__, base_dir, files.get(config.name), values.get(config.name)
        )
        config._value = value
        resolved[attr] = value
    _resolve_references(flow_cls, _namespace(configs))
    return resolved


def _namespace(configs: Mapping[str, Config]) -> dict[str, ConfigValue | None]:
    """Names a config reference may use: the attribute, and the config's own name (what
    ``cfg.x`` in the class body refers to before the attribute is known)."""
    names = {c.name.replace("-", "_"): c.value for c in configs.values()}
    return {**names, **{attr: c.value for attr, c in configs.items()}}


def _resolve_references(flow_cls: type, resolved: dict[str, ConfigValue | None]) -> None:
    """Config references in step decorator arguments and parameter defaults get values."""
    flow = flow_cls.__name__
    for func in _steps(flow_cls):
        for deco in getattr(func, "decorators", []):
            if getattr(deco, "has_delayed", False):
                where = f"@{deco.name} on step *{func.__name__}* of flow *{flow}*"
                deco.resolve_delayed(lambda v, w=where: v.evaluate(resolved, w))
    for param in flow_cls.parameters().values():  # type: ignore[attr-defined]
        if param.default_ref is not None:
            where = f"Parameter *{param.name}* of flow *{flow}* (its default)"
            param.set_default(param.default_ref.evaluate(resolved, where))


def evaluate(value: Any, flow_cls: type, where: str) -> Any:
    """``value``, or what it refers to when it is a config reference (flow decorators)."""
    if not is_delayed(value):
        return value
    return value.evaluate(_namespace(flow_configs(flow_cls)), where)


def _steps(flow_cls: type) -> list[Any]:
    found = []
    for name in dir(flow_cls):
        func = getattr(flow_cls, name, None)
        if callable(func) and getattr(func, "is_step", False):
            found.append(func)
    return found


def _has_delayed(flow_cls: type) -> bool:
    return any(
        getattr(d, "has_delayed", False)
        for f in _steps(flow_cls)
        for d in getattr(f, "decorators", [])
    ) or any(p.default_ref is not None for p in flow_cls.parameters().values())  # type: ignore[attr-defined]
