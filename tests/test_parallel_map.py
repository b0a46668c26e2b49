from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Iterator

import pytest

from provider.parallel_map import parallel_imap_unordered, parallel_map

pytestmark = pytest.mark.timeout(60)


class NeedsTwoArgs(Exception):
    """Pickles, but does not unpickle (custom __init__ signature)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")


def test_order_preserved_with_lambda() -> None:
    assert parallel_map(lambda x: x * x, range(100), max_parallel=2) == [x * x for x in range(100)]


def test_closure_and_local_function() -> None:
    offset = 1000

    def add(x: int) -> int:
        return x + offset

    assert parallel_map(add, [1, 2, 3, 4], max_parallel=2) == [1001, 1002, 1003, 1004]


def test_local_class_results() -> None:
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    out = parallel_map(Point, range(6), max_parallel=2)
    assert [type(p).__name__ for p in out] == ["Point"] * 6
    assert [p.x for p in out] == list(range(6))


def test_empty_iterable() -> None:
    assert parallel_map(lambda x: x, []) == []
    assert list(parallel_imap_unordered(lambda x: x, [])) == []


def test_generator_input() -> None:
    gen = (i for i in range(10))
    assert parallel_map(lambda x: -x, gen, max_parallel=2) == [-i for i in range(10)]


def test_runs_in_workers_by_default() -> None:
    pids = parallel_map(lambda _: os.getpid(), range(8), max_parallel=2)
    assert os.getpid() not in pids


def test_max_parallel_one_and_single_item_run_in_process() -> None:
    me = os.getpid()
    assert parallel_map(lambda _: os.getpid(), range(5), max_parallel=1) == [me] * 5
    assert parallel_map(lambda _: os.getpid(), ["only"]) == [me]


def test_invalid_max_parallel() -> None:
    with pytest.raises(ValueError):
        parallel_map(lambda x: x, [1, 2], max_parallel=0)


def fail_on_x(item: str) -> str:
    if item == "x":
        raise KeyError(f"bad item {item}")
    return item


@pytest.mark.parametrize("max_parallel", [1, 2])
def test_exception_type_and_item_note(max_parallel: int) -> None:
    items = list("abcdefgxij")
    with pytest.raises(KeyError) as info:
        parallel_map(fail_on_x, items, max_parallel=max_parallel)
    assert "parallel_map: item 7 ('x') failed" in info.value.__notes__
    if max_parallel > 1:
        tb = str(info.value.__cause__)
        assert "Traceback" in tb and "fail_on_x" in tb


def test_exception_that_does_not_unpickle_keeps_its_type() -> None:
    def boom(i: int) -> int:
        if i == 3:
            raise NeedsTwoArgs(42, "broken")
        return i

    with pytest.raises(NeedsTwoArgs, match="42: broken") as info:
        parallel_map(boom, range(6), max_parallel=2)
    assert any("item 3 (3)" in note for note in info.value.__notes__)


def test_failure_stops_other_workers(tmp_path) -> None:
    pid_file = tmp_path / "slow.pid"
    done_file = tmp_path / "slow.done"

    def work(item: str) -> str:
        if item == "slow":
            pid_file.write_text(str(os.getpid()))
            time.sleep(60)
            done_file.write_text("finished")
        else:
            deadline = time.monotonic() + 20
            while not pid_file.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise ValueError("fast failure")
        return item

    # A SIGTERM handler in the calling process must not protect the workers.
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    started = time.monotonic()
    try:
        with pytest.raises(ValueError, match="fast failure"):
            parallel_map(work, ["slow", "fail"], max_parallel=2)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert time.monotonic() - started < 30  # the slow item sleeps 60 s
    slow_pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(slow_pid, 0)  # terminated and reaped by the pool
    assert not done_file.exists()


def test_dead_worker_raises_instead_of_hanging() -> None:
    def die(i: int) -> int:
        if i == 2:
            os._exit(3)
        return i

    with pytest.raises(RuntimeError, match="died unexpectedly"):
        parallel_map(die, range(4), max_parallel=2)


def test_imap_unordered_yields_all_results() -> None:
    it = parallel_imap_unordered(lambda x: x * 2, range(50), max_parallel=2)
    assert isinstance(it, Iterator)
    assert sorted(it) == [x * 2 for x in range(50)]


def _child(conn, daemon_expected: bool) -> None:
    assert mp.current_process().daemon == daemon_expected
    conn.send(parallel_map(lambda x: (x + 1, os.getpid()), range(6), max_parallel=2))
    conn.close()


@pytest.mark.parametrize("daemon", [False, True])
def test_called_from_forked_child(daemon: bool) -> None:
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, daemon), daemon=daemon)
    proc.start()
    send.close()
    assert recv.poll(30)
    out = recv.recv()
    proc.join(10)
    assert proc.exitcode == 0
    assert [value for value, _ in out] == list(range(1, 7))
    pids = {pid for _, pid in out}
    # Non-daemonic: real workers. Daemonic (may not have children): in-process fallback.
    assert (pids == {proc.pid}) is daemon


def test_a_caller_with_other_threads_gets_spawned_workers_that_still_run_lambdas(
    monkeypatch,
) -> None:
    import threading

    module = sys.modules["provider.parallel_map"]

    methods = []
    real = module.mp.get_context
    monkeypatch.setattr(module.mp, "get_context", lambda m=None: methods.append(m) or real(m))

    stop = threading.Event()
    chatter = threading.Thread(target=lambda: stop.wait(30), daemon=True)
    chatter.start()  # a second thread: forking now could deadlock a child
    try:
        offset = 5
        assert (
            parallel_map(lambda x: (x + offset, os.getpid()), range(8), max_parallel=2)[0][0] == 5
        )
        pids = {
            pid for _, pid in parallel_map(lambda x: (x, os.getpid()), range(8), max_parallel=2)
        }
        assert os.getpid() not in pids
        with pytest.raises(ZeroDivisionError) as raised:
            parallel_map(lambda x: 1 // (x - 3), range(6), max_parallel=2)
        assert "item 3" in "".join(raised.value.__notes__)
    finally:
        stop.set()
    assert methods == ["spawn", "spawn", "spawn"]
