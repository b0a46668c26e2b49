"""Every error airstep raises on purpose.

::

    AirstepError
     ├── FlowDefinitionError          a flow is wrong before it runs (parse time)
     │    ├── InvalidDecoratorError   a decorator value or placement is wrong
     │    └── GraphError              the step graph is wrong (missing step, bad join, ...)
     ├── ParameterError               a parameter value given at run start is wrong
     ├── StepError                    a step broke a rule while it ran
     │    ├── ForeachError            foreach target not iterable or empty
     │    │    └── ForeachTooWide     more items than the executor allows
     │    ├── MergeArtifactsError     merge_artifacts() met conflicting values
     │    ├── StepTimeout             a step ran longer than its @timeout
     │    ├── GangFailed              a node of a @parallel step failed; the others were stopped
 │    ├── ItemsFailed             tasks of a chunk failed (the chunk's other tasks finished)
     │    └── AttemptFailed           what @catch stores when an attempt failed outside the step
     │         └── TaskCrashed        the attempt's process exited or was killed
     ├── DataStoreError               an artifact or task record is missing or unreadable
     ├── ResourceError                a step asks for more than this machine has
     └── RunFailed                    a local run ended with failed tasks

Each message is a sentence naming the step, the bad value and the fix.
"""

from __future__ import annotations

import signal


class AirstepError(Exception):
    """Base class of airstep's own errors."""


class FlowDefinitionError(AirstepError):
    """The flow is wrong before anything runs."""


class InvalidDecoratorError(FlowDefinitionError):
    """A decorator has a bad value, an unknown keyword, or sits in the wrong place."""


class GraphError(FlowDefinitionError):
    """The graph of steps is not a valid flow."""


class ParameterError(AirstepError):
    """A parameter value is missing or of the wrong type."""


class StepError(AirstepError):
    """A step broke one of the flow's rules while running."""


class ForeachError(StepError):
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
    """``merge_artifacts`` found an artifact with different values in its inputs."""


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


class ResourceError(AirstepError):
    """A step asks for resources this machine cannot give."""


class RunFailed(AirstepError):
    """A local run finished with at least one failed task."""
