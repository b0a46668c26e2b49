"""Run parameters: ``Parameter`` and ``IncludeFile``.

A parameter is a class attribute of the flow. Its value is fixed at run start
(command line, or the Airflow trigger form), stored as an artifact of the
``start`` task, and read-only in every step.
"""

from __future__ import annotations

import builtins
import json
import os
from typing import Any

from provider.exceptions import ParameterError


class JSONType:
    """Marker type: the parameter's value is JSON (``--config '{"a": 1}'``)."""


# the words click's BOOLEAN accepts, as Metaflow's ``--flag t`` / ``--flag false``
_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}
_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", JSONType: "JSON"}


class Parameter:
    """A run-time argument of the flow: ``--name value`` locally, a DAG ``Param`` on Airflow."""

    def __init__(
        self,
        name: str,
        default: Any = None,
        type: type | None = None,  # noqa: A002 - Metaflow's signature
        help: str | None = None,  # noqa: A002
        required: bool = False,
        show_default: bool = True,
        separator: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or name.startswith("-"):
            raise ParameterError(f"Parameter name {name!r} is invalid; give a name like 'epochs'.")
        self.name = name
        #: as in Metaflow: a string value is split at it, so the artifact is a list of strings
        self.separator = separator
        self.attr = name.replace("-", "_")
        self.help = help or ""
        self.required = required
        self.show_default = show_default
        #: ``default=config_expr("cfg.x")``: set once the flow's configs are read
        self.default_ref: Any = None
        if getattr(builtins.type(default), "_airstep_delayed", False):
            self.default_ref, default = default, None
        self._given_type = type
        self.set_default(default)

    def set_default(self, default: Any) -> None:
        """Fix the default (and, when no type was given, the type it implies)."""
        name, separator, type = self.name, self.separator, self._given_type  # noqa: A001
        if type is None:
            type = (  # noqa: A001
                default.__class__
                if default is not None and default.__class__ in _TYPE_NAMES
                else (JSONType if isinstance(default, dict | list) else str)
            )
        if type in (dict, list):
            type = JSONType  # noqa: A001
        if type not in _TYPE_NAMES:
            raise ParameterError(
                f"Parameter *{name}* has type={type!r}; use str, int, float, bool or JSONType."
            )
        self.type = type
        if separator is not None and (type is not str or not isinstance(separator, str)):
            raise ParameterError(
                f"Parameter *{name}* has separator={separator!r}; a separator is a string and "
                "works only for a string parameter (type=str)."
            )
        self.default = self.convert(default) if default is not None else None

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES[self.type]

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._load_artifact(self.attr)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(
            f"Flow level attributes and Parameters are not modifiable: Parameter *{self.name}* "
            f"is read-only inside the flow; store a new artifact under another name instead "
            f"(self.my_{self.attr} = ...)."
        )

    def convert(self, value: Any) -> Any:
        """Turn a command-line string (or a JSON value from Airflow) into the parameter's type."""
        try:
            return self._convert(value)
        except (ValueError, TypeError):
            raise ParameterError(
                f"Parameter *{self.name}* got {value!r}, which is not a valid {self.type_name}; "
                f"give e.g. --{self.name} {self._example()}."
            ) from None

    def _convert(self, value: Any) -> Any:
        if self.type is JSONType:
            return json.loads(value) if isinstance(value, str) else json.loads(json.dumps(value))
        if self.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if self.type is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if self.type is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if not isinstance(value, str | int | float):
            raise TypeError(value)
        return str(value)

    def _example(self) -> str:
        return {str: "text", int: "3", float: "0.5", bool: "true", JSONType: "'{\"a\": 1}'"}[
            self.type
        ]

    def resolve(self, given: Any, *, base_dir: str | None = None, confined: bool = False) -> Any:
        """The value for a run: the given value, else the default; ``required`` enforced."""
        if given is None:
            if self.default is None and self.required:
                raise ParameterError(
                    f"Parameter *{self.name}* is required; give it as --{self.name} "
                    f"{self._example()}."
                )
            return self._split(self.default)
        return self._split(self.convert(given))

    def _split(self, value: Any) -> Any:
        return value.split(self.separator) if value and self.separator else value

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, default={self.default!r}, type={self.type_name})"


class IncludeFile(Parameter):
    """A local file whose content becomes an artifact when the run starts.

    The parameter's value is a path (``--name path``); the artifact is the file's
    text (``is_text=True``) or bytes.
    """

    def __init__(
        self,
        name: str,
        default: str | None = None,
        is_text: bool = True,
        encoding: str = "utf-8",
        help: str | None = None,  # noqa: A002
        required: bool = False,
    ) -> None:
        super().__init__(name, default=default, type=str, help=help, required=required)
        self.is_text = is_text
        self.encoding = encoding

    def resolve(self, given: Any, *, base_dir: str | None = None, confined: bool = False) -> Any:
        """The file's content. ``confined`` (a run started by a trigger, not by its user's own
        command line): the path must lead, through any links, to a file inside ``base_dir``
        (the flow's folder), never to one elsewhere on the machine that runs the step."""
        path = super().resolve(given)
        if path is None:
            return None
        if confined:
            candidates = [self._confined_path(path, base_dir)]
        else:
            candidates = [path]
            if base_dir and not os.path.isabs(path):
                candidates.append(os.path.join(base_dir, path))
        for candidate in candidates:
            if os.path.isfile(candidate):
                with open(candidate, "rb") as f:
                    data = f.read()
                if not self.is_text:
                    return data
                try:
                    return data.decode(self.encoding)
                except UnicodeDecodeError:
                    raise ParameterError(
                        f"IncludeFile *{self.name}*: the file at {path!r} is not {self.encoding} "
                        f"text; pass the right encoding=..., or is_text=False to read bytes."
                    ) from None
        raise ParameterError(
            f"IncludeFile *{self.name}*: no file at {path!r}; give an existing path with "
            f"--{self.name} PATH."
        )

    def _confined_path(self, path: str, base_dir: str | None) -> str:
        """``path`` (relative to ``base_dir``) resolved, if it stays inside ``base_dir``."""
        if not base_dir:
            raise ParameterError(
                f"IncludeFile *{self.name}*: this run reads files only from its flow's folder, "
                "and the flow's folder is not known here."
            )
        root = os.path.realpath(base_dir)
        resolved = os.path.realpath(os.path.join(root, path))
        if os.path.commonpath([root, resolved]) != root:
            raise ParameterError(
                f"IncludeFile *{self.name}*: {path!r} leads outside the flow's folder "
                f"({root}). A run started from Airflow reads only files of the flow's own "
                "folder (the code that travels with it): give a path relative to that folder, "
                "with no link out of it."
            )
        return resolved
