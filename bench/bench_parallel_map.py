"""Benchmark parallel_map against a sequential loop and multiprocessing.Pool (fork).

Work: sum(i * i) over 10,000,000 integers split into 10 batches of 1,000,000.
Each method runs ``--repeat`` times in this one process; the best time is reported.

    .venv/bin/python bench/bench_parallel_map.py [--repeat 3] [--max-parallel N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections.abc import Callable

from provider.parallel_map import parallel_map

TOTAL = 10_000_000
BATCHES = 10


def sum_squares(batch: range) -> int:
    return sum(i * i for i in batch)


def best_of(repeat: int, fn: Callable[[], list[int]]) -> tuple[float, list[int]]:
    best, result = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-parallel", type=int, default=os.cpu_count())
    args = parser.parse_args()
    size = TOTAL // BATCHES
    batches = [range(b * size, (b + 1) * size) for b in range(BATCHES)]
    workers = args.max_parallel

    def with_pool() -> list[int]:
        with mp.get_context("fork").Pool(workers) as pool:
            return pool.map(sum_squares, batches)

    timings = {
        "sequential loop": best_of(args.repeat, lambda: [sum_squares(b) for b in batches]),
        "Pool(fork).map": best_of(args.repeat, with_pool),
        # a lambda on purpose: parallel_map needs no picklable function
        "parallel_map": best_of(
            args.repeat,
            lambda: parallel_map(lambda b: sum(i * i for i in b), batches, workers),
        ),
    }
    expected = timings["sequential loop"][1]
    assert all(result == expected for _, result in timings.values()), "results differ"

    seq, pool = timings["sequential loop"][0], timings["Pool(fork).map"][0]
    print(f"cores: os.cpu_count()={os.cpu_count()}, workers={workers}")
    print(f"work: {TOTAL:,} integers in {BATCHES} batches, best of {args.repeat}")
    print(f"{'method':<18}{'seconds':>9}{'speedup':>10}{'vs Pool':>9}")
    for name, (seconds, _) in timings.items():
        print(f"{name:<18}{seconds:>9.3f}{seq / seconds:>9.2f}x{seconds / pool:>8.2f}x")


if __name__ == "__main__":
    main()
