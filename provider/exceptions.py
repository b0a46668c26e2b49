"""Every error airstep raises on purpose, in one tree.

The tree carries Metaflow's names too (``provider.exception`` is
``metaflow.exception``'s place), so ``except MissingInMergeArtifactsException``
works around the same call in both libraries::

    AirstepError = MetaflowException
     ├── FlowDefinitionError          a flow is wrong before it runs (parse time)
     │    ├── InvalidDecoratorError   a decorator value or placement is wrong
     │    │    └── InvalidDecoratorAttribute   an argument the decorator does not take
     │    ├── GraphError              the step graph is wrong (missing step, bad join, ...)
     │    └── ConfigError             a Config's file or value is missing or not JSON
     ├── ParameterError               a parameter value given at run start is wrong
     │    ├── ParameterFieldFailed    computing a parameter's field raised
     │    └── ParameterFieldTypeMismatch   a parameter's field has the wrong type
     ├── StepError                    a step broke a rule while it ran
     │    ├── InvalidNextException    self.next() does not match the graph, or a bad foreach
     │    │    └── ForeachError       foreach target not iterable or empty
     │    │         └── ForeachTooWide     more items than the executor allows
     │    ├── MergeArtifactsError     merge_artifacts() was called wrongly or met a conflict
     │    │    ├── UnhandledInMergeArtifactsException   values differ between the inputs
     │    │    └── MissingInMergeArtifactsException     include= names what no input has
     │    ├── StepTimeout             a step ran longer than its @timeout
     │    ├── GangFailed              a node of a @parallel step failed; the others were stopped
 │    ├── ItemsFailed             tasks of a chunk failed (the chunk's other tasks finished)
     │    └── AttemptFailed           what @catch stores when an attempt failed outside the step
     │         └── TaskCrashed        the attempt's process exited or was killed
     ├── DataStoreError = MetaflowDataMissing   an artifact or task record is missing or unreadable
     ├── InvalidId                    an id that cannot name a place in the datastore (a ValueError)
     ├── MetaflowNotFound             the client has no such run, step or artifact (a KeyError)
     ├── MetaflowInvalidPathspec      the client got a malformed pathspec (a ValueError)
     ├── MetaflowUnknownUser          no user name for @project's default branch
     ├── ResourceError                a step asks for more than this machine has
     ├── RunFailed                    a local run ended with failed tasks
     └── ExternalCommandFailed, MetaflowNamespaceMismatch, MetaflowInternalError,
         MetaflowTaggingError, CommandException: Metaflow's names, for code that catches them

Each message is a sentence naming the step, the bad value and the fix.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence


class AirstepError(Exception):
    """Base class of airstep's own errors; also importable as ``MetaflowException``.

    Built like Metaflow's: ``AirstepError(msg, lineno=None, source_file=None)``; ``message``
    is the text and ``headline`` a short title of the kind of error.
    """

    headline = "Flow failed"

    def __init__(self, msg: str = "", lineno: int | None = None, source_file: str | None = None):
        self.line_no = lineno
        self.source_file = source_file
        where = f"line {lineno}: " if lineno else (f"{source_file}: " if source_file else "")
        super().__init__(f"{where}{msg}" if where else msg)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


#: Metaflow's name of the root of the tree
MetaflowException = AirstepError


class FlowDefinitionError(AirstepError):
    """The flow is wrong before anything runs."""


class InvalidDecoratorError(FlowDefinitionError):
    """A decorator has a bad value, an unknown keyword, or sits in the wrong place."""


class InvalidDecoratorAttribute(InvalidDecoratorError):
    """A decorator got an argument it does not take."""

    headline = "Unknown decorator attribute"


class GraphError(FlowDefinitionError):
    """The graph of steps is not a valid flow."""


class ConfigError(FlowDefinitionError):
    """A ``Config`` cannot be read: no such file, not JSON, or an unknown config name."""


class ParameterError(AirstepError):
    """A parameter value is missing or of the wrong type."""


class ParameterFieldFailed(ParameterError):
    """Computing a field of a parameter (e.g. a callable default) raised."""

    headline = "Parameter field failed"


class ParameterFieldTypeMismatch(ParameterError):
    """A field of a parameter has a value of the wrong type."""

    headline = "Parameter field with a mismatching type"


class StepError(AirstepError):
    """A step broke one of the flow's rules while running."""


class InvalidNextException(StepError):
    """``self.next(...)`` does not match the step's source, or its foreach cannot split."""

    headline = "Invalid self.next() transition detected"


class ForeachError(InvalidNextException):
    """A foreach target is not iterable, or has more items than allowed."""


class ForeachTooWide(ForeachError):
    """A foreach yielded more items than allowed where it runs.

    It carries the numbers, not the fix: each executor words how to raise its own
    limit (``--max-num-splits`` locally).
    """

    def __init__(self, step: str, width: int, limit: int) -> None:
        self.step = step
        self.width = width
        self.limit = limit
        super().__init__(
            f"Foreach in step *{step}* yielded {width} child steps, more than the maximum "
            f"of {limit}."
        )

    def __reduce__(self) -> tuple[type, tuple[str, int, int]]:
        return (type(self), (self.step, self.width, self.limit))


class MergeArtifactsError(StepError):
    """``merge_artifacts`` was called outside a join or with include and exclude, or (its
    subclasses) met values it cannot merge."""


class _ArtifactsNamed(MergeArtifactsError):
    """Carries the names at fault as ``artifact_names``, as Metaflow's class does."""

    def __init__(self, msg: str, artifact_names: Sequence[str]) -> None:
        super().__init__(msg)
        self.artifact_names = list(artifact_names)

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        return (type(self), (self.message, self.artifact_names))


class UnhandledInMergeArtifactsException(_ArtifactsNamed):
    """Artifacts whose values differ between the inputs of ``merge_artifacts``."""

    headline = "Unhandled artifacts in merge"


class MissingInMergeArtifactsException(_ArtifactsNamed):
    """``merge_artifacts(include=...)`` names artifacts that no input has."""

    headline = "Missing artifacts in merge"


class StepTimeout(StepError):
    """A step exceeded its ``@timeout``."""


class GangFailed(StepError):
    """A node of a @parallel step failed, so every other node of its gang was stopped."""


class ItemsFailed(StepError):
    """Tasks of a chunk (many foreach items run by one Airflow task instance) failed, once
    every other task of the chunk had finished."""


class AttemptFailed(StepError):
    """An attempt failed where ``@catch`` could not see it from inside: in saving its
    artifacts, or (:class:`TaskCrashed`) because its process died.

    ``@catch`` stores it in its ``var`` from the attempt's record, on the task's fallback
    attempt. Like Metaflow's wrapper of a caught exception it has ``exception`` (the
    message), ``type`` (the failure's class, ``module.Name`` when known) and ``stacktrace``.
    """

    def __init__(
        self, message: str, type_name: str | None = None, stacktrace: str | None = None
    ) -> None:
        super().__init__(message)
        self.exception = message
        self.type = type_name or f"{__name__}.{self.__class__.__name__}"
        self.stacktrace = stacktrace or f"{self.type}: {message}\n"

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (self.__class__, (self.exception, self.type, self.stacktrace))


class TaskCrashed(AttemptFailed):
    """An attempt's process ended without finishing its task: it exited (``os._exit``),
    crashed (a segfault) or was killed (``SIGKILL``, the out-of-memory killer)."""

    @staticmethod
    def cause(exit_code: int) -> str:
        """How a task process ended, from its exit code (negative: the signal that killed it)."""
        if exit_code >= 0:
            return f"The task process exited with status {exit_code} before the task finished."
        try:
            name = f" ({signal.Signals(-exit_code).name})"
        except ValueError:
            name = ""
        return f"The task process was killed by signal {-exit_code}{name}."


class DataStoreError(AirstepError):
    """An artifact, task or run cannot be found or read."""

    headline = "Data missing"


#: Metaflow's name for data that cannot be read
MetaflowDataMissing = DataStoreError


class InvalidId(AirstepError, ValueError):
    """An id (flow, run, step or task) that cannot name a place in the datastore: refused
    before anything is written (see :mod:`provider.datastore.ids`)."""

    headline = "Invalid id"


class MetaflowNotFound(AirstepError, KeyError):
    """The client found no such flow, run, step, task or artifact.

    Also a ``KeyError``, so ``except KeyError`` around a lookup keeps working.
    """

    headline = "Object not found"

    def __str__(self) -> str:  # KeyError would quote the sentence
        return self.message


class MetaflowInvalidPathspec(AirstepError, ValueError):
    """The client got a pathspec that is not ``Flow/run/step/task``-shaped."""

    headline = "Invalid pathspec"


class MetaflowNamespaceMismatch(AirstepError):
    """An object outside the current namespace (the client raises its subclass
    ``NamespaceMismatch``)."""

    headline = "Object not in the current namespace"

    def __init__(self, namespace: str) -> None:
        super().__init__(f"Object not in namespace {namespace!r}.")


class MetaflowUnknownUser(AirstepError):
    """No user name for ``@project``'s default branch ``user.<name>``."""

    headline = "Unknown user"

    def __init__(self, msg: str = "") -> None:
        super().__init__(
            msg
            or "Could not tell who you are for @project's default branch user.<name>: set "
            "$METAFLOW_USER or $USER, or choose a branch with --branch NAME."
        )


class MetaflowInternalError(AirstepError):
    """Something airstep itself got wrong."""

    headline = "Internal error"


class MetaflowTaggingError(AirstepError):
    """A run tag is invalid."""

    headline = "Tagging error"


class CommandException(AirstepError):
    """A command line is invalid."""

    headline = "Invalid command"


class ExternalCommandFailed(AirstepError):
    """A command the flow ran outside Python failed."""

    headline = "External command failed"


class ResourceError(AirstepError):
    """A step asks for resources this machine cannot give."""


class RunFailed(AirstepError):
    """A local run finished with at least one failed task."""
