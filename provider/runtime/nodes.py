"""The node processes of a gang on this machine: started at once, relayed, stopped together.

:class:`NodeProcesses` is what :func:`provider.runtime.gang.run_gang` drives: the
process layer's pool (:mod:`provider.processes`) with one policy on top, a node that fails
stops the others. A node is forked from the warm gang process (its own process group, which
dies with it), or, when the gang process runs other threads, started with ``posix_spawn``
as ``python -m provider.runtime ... --node-index I``. Output is relayed line by line with a
``[node I]`` prefix. :meth:`NodeProcesses.wait` stops the others when one
fails; :meth:`NodeProcesses.stop` leaves nothing running; :func:`run_node`
makes a node end its own process group if the gang process dies.
"""

from __future__ import annotations

import _thread
import contextlib
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import TaskManifest
from provider.flow.spec import FlowSpec
from provider.processes.pool import TaskProcesses
from provider.processes.spawn import TaskProcess
from provider.runtime.command import RuntimeCommand
from provider.runtime.task import TaskRequest, run_task_here, user_traceback

#: seconds a node has to stop after SIGTERM before its process group is killed
GRACE_SECONDS = 5.0
#: set in a node started by a gang process here: the node stops if that process dies
LEADER_ENV = "AIRSTEP_GANG_LEADER_PID"
#: how often a node checks that its gang process is alive
_WATCH_SECONDS = 0.2


def run_node(
    flow_cls: type[FlowSpec],
    request: TaskRequest,
    store: FlowDataStore,
    leader_pid: int | None = None,
) -> TaskManifest:
    """Run one node's task; with ``leader_pid``, stop this node if that gang process dies.

    The gang process starts each node as the leader of its own process group, which is
    what ends with the node; a process that leads no group of its own never signals one.
    """
    if leader_pid is None or os.getpgrp() != os.getpid():
        return run_task_here(flow_cls, request, store)
    _stop_with_leader(leader_pid)
    try:
        return run_task_here(flow_cls, request, store)
    finally:
        if os.getppid() != leader_pid:  # the gang is gone: so is what this node started
            os.killpg(0, signal.SIGKILL)


@dataclass
class NodeProcess:
    """One node of the gang and its process."""

    index: int
    process: TaskProcess

    @property
    def name(self) -> str:
        """``step/task_id``, for messages."""
        return self.process.name

    @property
    def status(self) -> int | None:
        """Exit status once the process ended; negative: killed by that signal."""
        return self.process.status


class NodeProcesses:
    """The gang's node processes, on the process layer's pool: a node fails, the others stop."""

    def __init__(self, flow_cls: type[FlowSpec], store: FlowDataStore, fork: bool) -> None:
        self.flow_cls = flow_cls
        self.store = store
        self.fork = fork
        self.nodes: list[NodeProcess] = []
        self._index: dict[int, int] = {}  # pid -> node index
        self.tasks = TaskProcesses(
            sys.stdout,
            sys.stderr,
            say,
            _node_runner(flow_cls, store, os.getpid()),
            label=lambda process: f"node {self._index[process.pid]}",
            # a node whose gang process dies stops, and stops what it started (run_node)
            death_signal=signal.SIGTERM,
        )

    def running(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.status is None]

    def launch(self, request: TaskRequest) -> None:
        assert request.node is not None
        if self.fork:
            process = self.tasks.start(request, [])
        else:
            process = self.tasks.spawn(self._command(request), self._env(request), request)
        self._index[process.pid] = request.node.index
        self.nodes.append(NodeProcess(request.node.index, process))

    def _command(self, request: TaskRequest) -> list[str]:
        assert request.node is not None
        return (
            RuntimeCommand.for_request(
                request,
                flow=self.flow_cls.__name__,
                flow_file=os.path.abspath(inspect.getfile(self.flow_cls)),
                datastore_root=self.store.root,
            )
            .node(request.node)
            .to_argv(sys.executable)
        )

    def _env(self, request: TaskRequest) -> dict[str, str]:
        return {**os.environ, **request.extra_env, LEADER_ENV: str(os.getpid())}

    def wait(self) -> NodeProcess | None:
        """Relay output until every node has ended; the first node to fail stops the others."""
        failed: NodeProcess | None = None
        kill_at: float | None = None
        while self.tasks.running:
            self.tasks.pump(0.05)
            for process in self.tasks.reap():
                node = self.nodes[self._position(process)]
                if process.status != 0 and failed is None:
                    failed = node
                    say(
                        f"Node {node.index} ({node.name}) {describe(node.status)}; "
                        "stopping the other nodes."
                    )
                    self.tasks.signal_all(signal.SIGTERM)
                    kill_at = time.monotonic() + GRACE_SECONDS
            if kill_at is not None and time.monotonic() > kill_at:
                self.tasks.signal_all(signal.SIGKILL)
                kill_at = None
        return failed

    def _position(self, process: TaskProcess) -> int:
        return next(i for i, n in enumerate(self.nodes) if n.process is process)

    def stop(self) -> None:
        """End every node still running (SIGTERM, then SIGKILL) and close the pipes."""
        blocked = _block_sigterm()
        try:
            self.tasks.stop_all("The gang stopped")
            self.tasks.selector.close()
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _node_runner(
    flow_cls: type[FlowSpec], store: FlowDataStore, leader: int
) -> Callable[[TaskRequest], tuple[int, bool]]:
    """What a forked node calls: its task, stopping with the gang process ``leader``."""

    def run(request: TaskRequest) -> tuple[int, bool]:
        try:
            run_node(flow_cls, request, store, leader_pid=leader)
        except SystemExit as exc:
            return (exc.code if isinstance(exc.code, int) else 1), True
        except BaseException as exc:
            sys.stderr.write(user_traceback(exc))
            return 1, True
        return 0, True

    return run


def describe(status: int | None) -> str:
    if status is not None and status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _block_sigterm() -> bool:
    """Hold SIGTERM while the nodes are being stopped, so a second one cannot cut it short."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    return True


def _stop_with_leader(leader_pid: int) -> None:
    """If the gang process dies, stop this node's process group: SIGTERM, then SIGKILL.

    A bare ``_thread`` watches (a ``threading.Thread`` would make a step that forks, such
    as ``parallel_map``, see other threads); it holds no lock, so forking stays safe.
    """

    def watch() -> None:
        while os.getppid() == leader_pid:
            time.sleep(_WATCH_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(0, signal.SIGTERM)
        time.sleep(GRACE_SECONDS)
        os.killpg(0, signal.SIGKILL)

    _thread.start_new_thread(watch, ())
