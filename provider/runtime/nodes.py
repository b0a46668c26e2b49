"""The node processes of a gang on this machine: started at once, relayed, stopped together.

:class:`NodeProcesses` is what :func:`provider.runtime.gang.run_gang` drives. A
node is forked from the warm gang process (its own process group), or, when
the gang process runs other threads, started with ``posix_spawn`` as ``python
-m provider.runtime ... --node-index I``. Output is relayed line by line with a
``[node I]`` prefix. :meth:`NodeProcesses.wait` stops the others when one
fails; :meth:`NodeProcesses.stop` leaves nothing running; :func:`run_node`
makes a node end its own process group if the gang process dies.
"""

from __future__ import annotations

import _thread
import contextlib
import inspect
import os
import selectors
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import TaskManifest
from provider.flow.spec import FlowSpec
from provider.runtime.command import RuntimeCommand
from provider.runtime.task import TaskRequest, run_one_task, user_traceback

#: seconds a node has to stop after SIGTERM before its process group is killed
GRACE_SECONDS = 5.0
#: set in a node started by a gang process here: the node stops if that process dies
LEADER_ENV = "AIRSTEP_GANG_LEADER_PID"
#: seconds to read a finished node's pipes for output still in flight
_DRAIN_SECONDS = 1.0
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
        return run_one_task(flow_cls, request, store)
    _stop_with_leader(leader_pid)
    try:
        return run_one_task(flow_cls, request, store)
    finally:
        if os.getppid() != leader_pid:  # the gang is gone: so is what this node started
            os.killpg(0, signal.SIGKILL)


@dataclass
class NodeProcess:
    index: int
    #: ``step/task_id``, for messages
    name: str
    pid: int
    #: pipe read end -> the stream its lines are relayed to
    streams: dict[int, TextIO]
    partial: dict[int, bytes] = field(default_factory=dict)
    #: exit status once reaped; negative: killed by that signal
    status: int | None = None


class NodeProcesses:
    def __init__(self, flow_cls: type[FlowSpec], store: FlowDataStore, fork: bool) -> None:
        self.flow_cls = flow_cls
        self.store = store
        self.fork = fork
        self.nodes: list[NodeProcess] = []
        self.selector = selectors.DefaultSelector()

    def running(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.status is None]

    def launch(self, request: TaskRequest) -> None:
        assert request.node is not None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if self.fork:
            pid = self._fork(request, out_w, err_w, [out_r, err_r, *self.selector.get_map()])
        else:
            pid = self._spawn(request, out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        name = f"{request.step}/{request.task_id}"
        node = NodeProcess(request.node.index, name, pid, {out_r: sys.stdout, err_r: sys.stderr})
        for fd in node.streams:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, node)
        self.nodes.append(node)

    def _fork(self, request: TaskRequest, out_w: int, err_w: int, close: list[int]) -> int:
        leader = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the node
            code = 1
            try:
                os.setpgid(0, 0)
                for fd in close:
                    os.close(fd)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # not the caller's stdin
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                # the caller's streams may own fds 1 and 2 (Airflow's task process does):
                # kept referenced, so that dropping them cannot close the node's pipes
                replaced = (sys.stdout, sys.stderr)
                sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")
                sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gang process stops us
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                run_node(self.flow_cls, request, self.store, leader_pid=leader)
                code = 0
                del replaced
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:
                sys.stderr.write(user_traceback(exc))
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        with contextlib.suppress(OSError):  # the child does the same; whoever is first wins
            os.setpgid(pid, pid)
        return pid

    def _spawn(self, request: TaskRequest, out_w: int, err_w: int) -> int:
        node = request.node
        assert node is not None
        argv = (
            RuntimeCommand.for_request(
                request,
                flow=self.flow_cls.__name__,
                flow_file=os.path.abspath(inspect.getfile(self.flow_cls)),
                datastore_root=self.store.root,
            )
            .node(node)
            .to_argv(sys.executable)
        )
        env = {**os.environ, **request.extra_env, LEADER_ENV: str(os.getpid())}
        return os.posix_spawn(
            sys.executable,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
            setpgroup=0,
            setsigdef=(signal.SIGTERM,),
        )

    def wait(self) -> NodeProcess | None:
        """Relay output until every node has ended; the first node to fail stops the others."""
        failed: NodeProcess | None = None
        kill_at: float | None = None
        drain_until: float | None = None
        while self.running() or (
            self.selector.get_map() and (drain_until is None or time.monotonic() < drain_until)
        ):
            self._relay(timeout=0.05)
            for node in self.running():
                if self._reap(node, block=False) and node.status != 0 and failed is None:
                    failed = node
                    say(
                        f"Node {node.index} ({node.name}) {describe(node.status)}; "
                        "stopping the other nodes."
                    )
                    self._signal(signal.SIGTERM)
                    kill_at = time.monotonic() + GRACE_SECONDS
            if kill_at is not None and time.monotonic() > kill_at:
                self._signal(signal.SIGKILL)
            if not self.running() and drain_until is None:
                drain_until = time.monotonic() + _DRAIN_SECONDS
        return failed

    def stop(self) -> None:
        """End every node still running (SIGTERM, then SIGKILL) and close the pipes."""
        blocked = _block_sigterm()
        try:
            if self.running():
                self._signal(signal.SIGTERM)
                deadline = time.monotonic() + GRACE_SECONDS
                while self.running() and time.monotonic() < deadline:
                    self._relay(timeout=0.05)
                    for node in self.running():
                        self._reap(node, block=False)
                self._signal(signal.SIGKILL)
                for node in self.running():
                    self._reap(node, block=True)
            self._relay(timeout=0)
            for fd in list(self.selector.get_map()):
                self._close(fd)
            self.selector.close()
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    def _signal(self, signum: int) -> None:
        for node in self.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(node.pid, signum)

    def _reap(self, node: NodeProcess, block: bool) -> bool:
        """Collect a node that ended, after killing what is left of its process group."""
        flags = os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)
        try:
            info = os.waitid(os.P_PID, node.pid, flags)
        except ChildProcessError:  # reaped already, before its status was kept
            node.status = -signal.SIGKILL
            return True
        if info is None:
            return False
        # the node is a zombie: its process group (and so its id) cannot be reused yet
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(node.pid, signal.SIGKILL)
        os.waitpid(node.pid, 0)
        exited = info.si_code == os.CLD_EXITED
        node.status = info.si_status if exited else -info.si_status
        return True

    def _relay(self, timeout: float) -> None:
        if not self.selector.get_map():
            time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout):
            node: NodeProcess = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self._close(key.fd)
                continue
            *lines, rest = (node.partial.pop(key.fd, b"") + chunk).split(b"\n")
            if rest:
                node.partial[key.fd] = rest
            self._write(node, key.fd, lines)

    def _close(self, fd: int) -> None:
        key = self.selector.unregister(fd)
        node: NodeProcess = key.data
        tail = node.partial.pop(fd, b"")
        if tail:
            self._write(node, fd, [tail])
        os.close(fd)

    def _write(self, node: NodeProcess, fd: int, lines: list[bytes]) -> None:
        stream = node.streams[fd]
        for line in lines:
            stream.write(f"[node {node.index}] {line.decode('utf-8', errors='replace')}\n")
        stream.flush()


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
