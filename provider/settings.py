"""airstep's settings: every ``[airstep]`` option, read here and defaulted here, once.

An option's value is the first of

1. Airflow's configuration (airflow.cfg, ``AIRFLOW__AIRSTEP__<OPTION>``, a secrets
   backend), when this process runs Airflow; without Airflow, the variable
   ``AIRFLOW__AIRSTEP__<OPTION>`` itself;
2. the option's ``AIRSTEP_*`` variable, where it has one (the one local runs use);
3. the option's default.

An empty value counts as unset. :data:`OPTIONS` is also the ``config`` section of
the provider's metadata (:mod:`provider.get_provider_info`), so the Airflow docs
and ``airflow config list`` show the same defaults the code applies.

This module is part of the Airflow-free core (the runtime may read it), so it
never imports Airflow: in an Airflow process ``airflow.configuration`` is already
imported (``import airflow`` loads it first), and its ``conf`` is looked up there.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

SECTION = "airstep"
_TRUE = frozenset({"t", "true", "1", "yes", "on"})
_FALSE = frozenset({"f", "false", "0", "no", "off"})


@dataclass(frozen=True)
class Option:
    """One ``[airstep]`` option: how it is read, its default, and how it is documented."""

    name: str
    description: str
    example: str
    default: str | None = None
    #: the plain variable that local runs use, read when Airflow's config leaves it unset
    env_var: str | None = None
    #: the type named in the provider's metadata: "string", "integer", "float" or "boolean"
    type: str = "string"
    #: the values a string option may take; :func:`choice` refuses any other
    choices: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """How a message names the option: ``[airstep] name (or $VARIABLE)``."""
        return f"[{SECTION}] {self.name}" + (f" (or ${self.env_var})" if self.env_var else "")

    @property
    def airflow_env_var(self) -> str:
        return f"AIRFLOW__{SECTION.upper()}__{self.name.upper()}"

    def provider_info(self, version_added: str) -> dict[str, Any]:
        """The option as Airflow's provider metadata describes one."""
        description = self.description
        if self.env_var:
            fallback = f", else {self.default}" if self.default is not None else ""
            description += f" Unset: ${self.env_var}{fallback}."
        return {
            "description": description,
            "version_added": version_added,
            "type": self.type,
            "example": self.example,
            # an option with a variable of its own has no default in Airflow's config,
            # or that default would always hide the variable
            "default": None if self.env_var else self.default,
        }


OPTIONS: tuple[Option, ...] = (
    Option(
        "datastore_root",
        "Where flow artifacts and task records are kept: a folder shared by the workers, or "
        "s3://bucket/prefix (needed by @kubernetes and @batch steps).",
        example="s3://my-bucket/airstep",
        default="~/.airstep",
        env_var="AIRSTEP_DATASTORE_ROOT",
    ),
    Option(
        "default_image",
        "The container image of @kubernetes and @batch steps that name no image. It needs "
        "Python and airstep's runtime dependencies.",
        example="registry.example.com/airstep-step:0.1.0",
        default="airstep-step:latest",
    ),
    Option(
        "default_compute",
        "Where steps that only declare @resources run: kubernetes, batch or local (in the "
        "Airflow worker).",
        example="kubernetes",
        default="local",
    ),
    Option(
        "kubernetes_namespace",
        "The namespace of @kubernetes steps that name none.",
        example="airstep",
        default="default",
    ),
    Option(
        "kubernetes_pod_link",
        'A URL template for the "Kubernetes pod" link of @kubernetes steps\' tasks, naming '
        "{namespace} and {pod}. Unset: no link.",
        example="https://k8s.example.com/#/pod/{namespace}/{pod}",
    ),
    Option(
        "kubernetes_gang",
        "What a @parallel step's gang is on Kubernetes: indexed_job (an Indexed Job and a "
        "headless Service, on any cluster) or jobset (one JobSet, jobset.x-k8s.io/v1alpha2, "
        "where the JobSet controller is installed).",
        example="jobset",
        default="indexed_job",
        choices=("indexed_job", "jobset"),
    ),
    Option(
        "batch_queue",
        "The AWS Batch job queue of @batch steps that name none.",
        example="airstep-queue",
        env_var="AIRSTEP_BATCH_QUEUE",
    ),
    Option(
        "aws_conn_id",
        "The Airflow AWS connection the workers use for an s3:// datastore (endpoint, region, "
        "credentials); its endpoint and region are passed to remote steps. Unset: boto3's "
        "usual sources.",
        example="aws_default",
    ),
    Option(
        "max_map_tasks",
        "The most mapped task instances one foreach step gets per run. A foreach this wide or "
        "narrower maps one task instance per item; a wider one groups its items into at most "
        "this many chunks, each one task instance (one pod or Batch job) that runs every item "
        "of its slice as its own flow task. Capped by [core] max_map_length.",
        example="256",
        default="256",
        type="integer",
    ),
    Option(
        "chunk_processes",
        "How many items of a chunk run at once, each in its own process. Unset: the CPUs "
        "this process may use in the worker; in a pod or Batch job, the step's @resources "
        "cpu (at least 1), since a container sees the whole machine's CPUs.",
        example="8",
        type="integer",
    ),
    Option(
        "process_per_task",
        "Start every task of a foreach body (a chunk's items included) in a fresh process. "
        "By default a task's process runs more tasks of its step, one after another, until "
        "one fails or changes the process; locally, run --process-per-task does the same.",
        example="True",
        default="False",
        env_var="AIRSTEP_PROCESS_PER_TASK",
        type="boolean",
    ),
    Option(
        "code_package_max_mb",
        "The most a remote step's code package may hold, in MB (millions of bytes), counted "
        "before compression. A bigger package is refused with its largest files named; leave "
        "files out with .airstepignore in the package root, or raise this.",
        example="50",
        default="10",
        type="integer",
    ),
    Option(
        "code_package_max_files",
        "The most files a remote step's code package may hold; more are refused with the "
        "fix, as for code_package_max_mb.",
        example="5000",
        default="1000",
        type="integer",
    ),
    Option(
        "local_override",
        "Run every step in the Airflow worker, ignoring @kubernetes and @batch (for development).",
        example="True",
        default="False",
        env_var="AIRSTEP_LOCAL_OVERRIDE",
        type="boolean",
    ),
    Option(
        "max_num_parallel",
        "The most nodes a @parallel step's gang may have (num_parallel); a flow that asks "
        "for more is refused when it is parsed. Locally, run --max-num-parallel sets it too.",
        example="128",
        default="64",
        env_var="AIRSTEP_MAX_NUM_PARALLEL",
        type="integer",
    ),
    Option(
        "local_gpus",
        "How many GPUs local runs (and steps in the Airflow worker) hand out to their tasks, "
        "rather than the devices of CUDA_VISIBLE_DEVICES or, without it, those nvidia-smi lists.",
        example="2",
        env_var="AIRSTEP_LOCAL_GPUS",
        type="integer",
    ),
    Option(
        "progress_seconds",
        "Seconds between the progress lines a local run prints on a terminal.",
        example="10",
        default="2",
        env_var="AIRSTEP_PROGRESS_SECONDS",
        type="float",
    ),
    Option(
        "spot_metadata_url",
        "The instance metadata endpoint where steps poll for a spot interruption notice "
        "(its /meta-data/spot/instance-action), rather than AWS's, polled inside an AWS Batch "
        "job only; remote steps get the worker's value.",
        example="http://169.254.169.254/latest",
        env_var="AIRSTEP_SPOT_METADATA_URL",
    ),
    Option(
        "spot_poll_seconds",
        "Seconds between two polls for a spot interruption notice.",
        example="1",
        default="5",
        env_var="AIRSTEP_SPOT_POLL_SECONDS",
        type="float",
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}


def option(name: str) -> Option:
    """The option called ``name``; a name that is not an option is a programming error."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise LookupError(
            f"[{SECTION}] has no option {name!r}; its options are {', '.join(_BY_NAME)}."
        ) from None


def setting(name: str) -> str | None:
    """The value of ``[airstep] <name>`` (see the module docstring for where it comes from)."""
    opt = option(name)
    conf = _airflow_conf()
    if conf is not None:
        value = conf.get(SECTION, name, fallback=None)
    else:
        value = os.environ.get(opt.airflow_env_var)
    if value in (None, "") and opt.env_var:
        value = os.environ.get(opt.env_var)
    if value in (None, ""):
        return opt.default
    return str(value)


def positive_int(name: str) -> int | None:
    """A whole-number option of at least 1, or None when unset."""
    return whole_number(name, minimum=1)


def whole_number(name: str, *, minimum: int) -> int | None:
    """A whole-number option of at least ``minimum``, or None when unset."""
    text = setting(name)
    if text is None:
        return None
    try:
        value = int(_value_of(text))
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(
            f"{option(name).where} is {text!r}; set it to a whole number of at least {minimum}."
        )
    return value


def seconds(name: str) -> float:
    """A number of seconds, 0 or more (``0.5`` too), of an option that has a default."""
    text = setting(name)
    if text is None:
        raise LookupError(f"[{SECTION}] {name} has no default, so it cannot be read as seconds.")
    try:
        value = float(_value_of(text))
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise ValueError(f"{option(name).where} is {text!r}; set it to a number of seconds.")
    return value


def choice(name: str) -> str | None:
    """One of an option's :attr:`~Option.choices` (any case, ``-`` for ``_``), or None."""
    opt = option(name)
    text = setting(name)
    if text is None:
        return None
    value = _value_of(text).lower().replace("-", "_")
    if value not in opt.choices:
        raise ValueError(
            f"{opt.where} is {text!r}, which is none of its values; set it to "
            f"{' or '.join(opt.choices)}."
        )
    return value


def as_environment(*names: str) -> dict[str, str]:
    """The options' values (those set) under their plain variables, for a process that
    reads no Airflow config: a remote step's container runs with the worker's values."""
    values = {option(name).env_var: setting(name) for name in names}
    return {var: value for var, value in values.items() if var and value is not None}


def flag(name: str) -> bool:
    """A boolean option, parsed by :func:`parse_bool`."""
    return parse_bool(setting(name) or "false", option(name).where)


def parse_bool(text: str, what: str) -> bool:
    """``True``/``False`` from the words Airflow's ``conf.getboolean`` reads (t, true, 1 and
    f, false, 0, any case), and yes/on and no/off as well."""
    value = _value_of(text).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{what} is {text!r}, which is neither true nor false; set it to True or False."
    )


def _value_of(text: str) -> str:
    """The value without an airflow.cfg-style trailing comment (``8 # per node``)."""
    return text.split("#", 1)[0].strip()


def _airflow_conf() -> Any:
    """Airflow's configuration when this process runs Airflow, else None (no import)."""
    module = sys.modules.get("airflow.configuration")
    return getattr(module, "conf", None)
