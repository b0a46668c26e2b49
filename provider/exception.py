"""Metaflow's exception classes, at ``metaflow.exception``'s place: ``provider.exception``.

They are airstep's own classes (see :mod:`provider.exceptions` for the whole tree),
so ``except MissingInMergeArtifactsException`` catches what airstep raises.
"""

from provider.exceptions import (
    CommandException,
    ExternalCommandFailed,
    InvalidDecoratorAttribute,
    InvalidNextException,
    MergeArtifactsError,
    MetaflowDataMissing,
    MetaflowException,
    MetaflowInternalError,
    MetaflowInvalidPathspec,
    MetaflowNamespaceMismatch,
    MetaflowNotFound,
    MetaflowTaggingError,
    MetaflowUnknownUser,
    MissingInMergeArtifactsException,
    ParameterFieldFailed,
    ParameterFieldTypeMismatch,
    StepTimeout,
    UnhandledInMergeArtifactsException,
)

#: Metaflow raises it from ``@timeout`` (``metaflow.plugins.timeout_decorator``)
TimeoutException = StepTimeout

__all__ = [
    "CommandException",
    "ExternalCommandFailed",
    "InvalidDecoratorAttribute",
    "InvalidNextException",
    "MergeArtifactsError",
    "MetaflowDataMissing",
    "MetaflowException",
    "MetaflowInternalError",
    "MetaflowInvalidPathspec",
    "MetaflowNamespaceMismatch",
    "MetaflowNotFound",
    "MetaflowTaggingError",
    "MetaflowUnknownUser",
    "MissingInMergeArtifactsException",
    "ParameterFieldFailed",
    "ParameterFieldTypeMismatch",
    "TimeoutException",
    "UnhandledInMergeArtifactsException",
]
