"""``current``: what the running task knows about itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from provider.datastore.ids import TaskKey
from provider.flow.distributed import SINGLE_NODE, GangNode, Parallel
from provider.flow.project import ProjectInfo, project_info
from provider.flow.torchrun import TorchRun


@dataclass(frozen=True)
class TaskInfo:
    """Who the running task is; set by the runtime before the step starts."""

    flow_name: str
    run_id: str
    step_name: str
    task_id: str
    retry_count: int
    origin_run_id: str | None
    parameter_names: tuple[str, ...]
    #: the node of a gang this task is (a @parallel step); None for other tasks
    node: GangNode | None = None


class Checkpoints(Protocol):
    """Where the running task keeps a value for its next attempt."""

    def save(self, value: Any) -> None: ...
    def load(self, default: Any = None) -> Any: ...
    @property
    def store(self) -> Any:
        """The running task's datastore."""
        ...


class Current:
    """Read-only facts about the running task; ``is_running_flow`` is False outside one."""

    def __init__(self) -> None:
        self._info: TaskInfo | None = None
        self._checkpoints: Checkpoints | None = None
        self._termination_hooks: list[Callable[[], Any]] = []
        self._termination_reason: str | None = None
        #: the step's cards (a ``provider.cards.collector.CardCollector``), set by the runtime
        self._card: Any = None
        #: the flow class of the running task (set when the task's flow object is made)
        self._flow_cls: type | None = None

    def _set(self, info: TaskInfo, checkpoints: Checkpoints) -> None:
        self._info = info
        self._checkpoints = checkpoints
        self._termination_hooks = []
        self._termination_reason = None

    def _clear(self) -> None:
        self._card = None
        self._info = None
        self._checkpoints = None
        self._termination_hooks = []
        self._termination_reason = None

    # -- spot instances and graceful termination ---------------------------------------------
    def on_termination(self, hook: Callable[[], Any]) -> Callable[[], Any]:
        """Run ``hook`` if the task is asked to stop (SIGTERM, or a spot interruption notice).

        Usable as a decorator. Hooks run once, in registration order, within the
        platform's grace period; the attempt then fails and is retried if @retry allows.
        """
        self._termination_hooks.append(hook)
        return hook

    @property
    def is_terminating(self) -> bool:
        """True once the task has been asked to stop."""
        return self._termination_reason is not None

    @property
    def termination_reason(self) -> str | None:
        return self._termination_reason

    def _terminate(self, reason: str) -> None:
        if self._termination_reason is not None:
            return
        self._termination_reason = reason
        for hook in list(self._termination_hooks):
            hook()

    def save_checkpoint(self, value: Any) -> None:
        """Keep ``value`` for the next attempt of this task (see :meth:`load_checkpoint`)."""
        self._require("save_checkpoint").save(value)

    def load_checkpoint(self, default: Any = None) -> Any:
        """What an earlier attempt of this task saved with :meth:`save_checkpoint`, or default."""
        return self._require("load_checkpoint").load(default)

    def _require(self, what: str) -> Checkpoints:
        if self._checkpoints is None:
            raise RuntimeError(f"current.{what}() works only inside a running step.")
        return self._checkpoints

    # -- cards -------------------------------------------------------------------------------
    def _set_card(self, collector: Any) -> None:
        self._card = collector

    @property
    def card(self) -> Any:
        """The running step's cards: ``current.card.append(Markdown("..."))`` (see @card)."""
        if self._card is None:
            raise AttributeError("current.card works only inside a running step.")
        return self._card

    def _get(self, key: str) -> Any:
        return getattr(self._info, key, None)

    @property
    def is_running_flow(self) -> bool:
        return self._info is not None

    @property
    def flow_name(self) -> str | None:
        return self._get("flow_name")

    @property
    def run_id(self) -> str | None:
        return self._get("run_id")

    @property
    def step_name(self) -> str | None:
        return self._get("step_name")

    @property
    def task_id(self) -> str | None:
        return self._get("task_id")

    @property
    def retry_count(self) -> int:
        return self._get("retry_count") or 0

    @property
    def origin_run_id(self) -> str | None:
        """The run a resumed run reuses tasks from."""
        return self._get("origin_run_id")

    @property
    def pathspec(self) -> str | None:
        if self._info is None:
            return None
        return TaskKey(self.flow_name, self.run_id, self.step_name, self.task_id).pathspec

    #: how ``current.task`` reads a task, ``(pathspec, datastore) -> Task``: set by
    #: ``provider.client`` (imported with ``provider``), which the flow core may not import
    _task_reader: Callable[[str, Any], Any] | None = None

    @property
    def task(self) -> Any:
        """The running task as a client ``Task`` (as in Metaflow); None outside a step.

        It reads what the datastore holds now: while the step runs the task has not
        finished (``finished`` is False and its ``data`` raises), as a Metaflow task's
        artifacts are not stored before its step ends either.
        """
        if self._info is None or self._task_reader is None:
            return None
        # the running task's own datastore: its root may come from the command line
        store = self._checkpoints.store if self._checkpoints is not None else None
        return self._task_reader(self.pathspec, store)

    @property
    def parameter_names(self) -> list[str]:
        return list(self._get("parameter_names") or [])

    # -- @project ----------------------------------------------------------------------------
    def _project(self, what: str) -> ProjectInfo:
        """As in Metaflow, the project's names exist only in a running flow with @project
        (``hasattr(current, "project_name")`` tells)."""
        info = None
        if self._info is not None and self._flow_cls is not None:
            info = project_info(self._flow_cls)
        if info is None:
            where = f"flow {self.flow_name}" if self._info is not None else "no running flow"
            raise AttributeError(
                f"current.{what} is set only inside a step of a flow with @project "
                f"(here: {where}); add @project(name=...) to the flow class."
            )
        return info

    @property
    def project_name(self) -> str:
        """The name given to ``@project``."""
        return self._project("project_name").project_name

    @property
    def branch_name(self) -> str:
        """``user.<name>``, ``test.<branch>``, ``prod`` or ``prod.<branch>``."""
        return self._project("branch_name").branch_name

    @property
    def is_user_branch(self) -> bool:
        return self._project("is_user_branch").is_user_branch

    @property
    def is_production(self) -> bool:
        return self._project("is_production").is_production

    @property
    def project_flow_name(self) -> str:
        """``<project>.<branch>.<FlowName>``: also the id of the flow's Airflow DAG."""
        return self._project("project_flow_name").project_flow_name

    # -- distributed steps --------------------------------------------------------------------
    @property
    def is_parallel(self) -> bool:
        """True in a node of a @parallel step."""
        return self._get("node") is not None

    @property
    def parallel(self) -> Parallel:
        """``main_ip``, ``num_nodes``, ``node_index`` and ``control_task_id`` of this node.

        Outside a @parallel step: a single node, ``("127.0.0.1", 1, 0, None)``.
        """
        node: GangNode | None = self._get("node")
        return node.parallel if node is not None else SINGLE_NODE

    @property
    def torch(self) -> TorchRun:
        """``current.torch.run("train.py", nproc_per_node=4)``: torchrun across the gang."""
        return TorchRun(self._get("node"), self.step_name)

    # -- who runs the flow, and its tags (namespaces) ------------------------------------------
    def _set_run_identity(self, username: str, tags: frozenset[str]) -> None:
        """Set by the runtime from the run record: the run's owner and user tags."""
        self._identity = (username, frozenset(tags))

    @property
    def username(self) -> str | None:
        """Who started the run (``$AIRSTEP_USER``, else the login name)."""
        return self._identity[0] if self._info is not None and self._identity else None

    @property
    def namespace(self) -> str | None:
        """The run's namespace, ``user:<username>``: the client reads it by default."""
        return f"user:{self.username}" if self.username is not None else None

    @property
    def tags(self) -> frozenset[str]:
        """The run's user tags (``run --tag NAME``)."""
        return self._identity[1] if self._info is not None and self._identity else frozenset()

    _identity: tuple[str, frozenset[str]] | None = None

    def __repr__(self) -> str:
        return f"<current {self.pathspec or 'outside a flow'}>"


current = Current()
