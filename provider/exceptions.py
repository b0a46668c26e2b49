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
     │    └── GangFailed              a node of a @parallel step failed; the others were stopped
     ├── DataStoreError               an artifact or task record is missing or unreadable
     ├── ResourceError                a step asks for more than this machine has
     └── RunFailed                    a local run ended with failed tasks

Each message is a sentence naming the step, the bad value and the fix.
"""

from __future__ import annotations


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


class DataStoreError(AirstepError):
    """An artifact, task or run cannot be found or read."""


class ResourceError(AirstepError):
    """A step asks for resources this machine cannot give."""


class RunFailed(AirstepError):
    """A local run finished with at least one failed task."""
