"""What a remote step's code package holds for each example flow in ``dags/``: files and
bytes shipped, the package's compressed size, and the time to build it (tar and gzip) and
to hash its files (the code-index fast path), under the old rule and the new one.

The old rule (the flow file's whole folder, links followed, files over 2 MiB skipped) is
``provider/datastore/code.py`` as it was before ``code_files.py`` was added, read from git
in the same run, so both rules measure the same files on the same machine.

Usage: python bench/bench_code_package.py [--repeat 5] [--baseline COMMIT]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from provider.datastore import code  # noqa: E402
from provider.datastore.code_files import code_files, code_source  # noqa: E402


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def baseline_commit() -> str:
    """The commit before the one that added code_files.py (the last one with the old rule)."""
    added = git("log", "--diff-filter=A", "--format=%H", "--", "provider/datastore/code_files.py")
    return git("rev-parse", added.splitlines()[-1] + "^")


def old_rule(commit: str) -> types.ModuleType:
    module = types.ModuleType("old_code")
    exec(git("show", f"{commit}:provider/datastore/code.py"), module.__dict__)  # noqa: S102
    return module


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def shared_folder(work: str) -> str:
    """dags/ copied beside another team's DAG folder (a flow, 300 files of 10 kB) and a link to
    a credentials file outside it, as a shared DAGs folder often is; its hello.py."""
    folder = os.path.join(work, "dags")
    shutil.copytree(os.path.join(ROOT, "dags"), folder)
    team = os.path.join(folder, "team_b")
    os.makedirs(os.path.join(team, "data"))
    with open(os.path.join(team, "their_flow.py"), "w") as f:
        f.write("dag = TheirFlow.to_dag()\n")
    for i in range(300):
        with open(os.path.join(team, "data", f"part_{i:03}.json"), "wb") as f:
            f.write(b"0" * 10_000)
    secret = os.path.join(work, "credentials")
    with open(secret, "w") as f:
        f.write("aws_secret_access_key = not-for-the-package\n")
    os.symlink(secret, os.path.join(folder, "credentials"))
    return os.path.join(folder, "hello.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", help="the commit whose code.py is the old rule")
    args = parser.parse_args()
    commit = args.baseline or baseline_commit()
    old = old_rule(commit)

    print(f"old rule: provider/datastore/code.py at {commit[:10]}; new rule: this tree")
    print(f"best of {args.repeat}; bytes are the files' own, package is the tar.gz\n")
    header = (
        f"{'flow':<30} {'rule':<4} {'files':>5} {'bytes':>9} {'package':>8} "
        f"{'build ms':>9} {'hash ms':>8}"
    )
    print(header)
    print("-" * len(header))
    totals = {"old": [0, 0, 0], "new": [0, 0, 0]}

    def measure(label: str, flow_file: str) -> None:
        old_files = [path for _, path in old._code_files(os.path.dirname(flow_file))]
        new_files = [f.path for f in code_files(code_source(flow_file))]
        rows = {
            "old": (old_files, lambda: old.package_code(flow_file), lambda: old.code_digest(flow_file)),
            "new": (new_files, lambda: code.package_code(flow_file), lambda: code.code_digest(flow_file)),
        }  # fmt: skip
        for rule, (files, build, digest) in rows.items():
            size = sum(os.path.getsize(path) for path in files)
            package = len(build())
            build_ms = best(build, args.repeat) * 1000
            hash_ms = best(digest, args.repeat) * 1000
            if label.startswith("dags/"):
                for i, value in enumerate((len(files), size, package)):
                    totals[rule][i] += value
            print(
                f"{label:<30} {rule:<4} {len(files):>5} {size:>9} {package:>8} "
                f"{build_ms:>9.2f} {hash_ms:>8.2f}"
            )

    for flow_file in sorted(glob.glob(os.path.join(ROOT, "dags", "*.py"))):
        measure(os.path.relpath(flow_file, ROOT), flow_file)
    print("-" * len(header))
    for rule, (files, size, package) in totals.items():
        print(f"{'dags/ (all eight flows)':<30} {rule:<4} {files:>5} {size:>9} {package:>8}")
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="airstep-bench-code-") as work:
        measure("hello.py, shared folder [1]", shared_folder(work))
    print(
        "\n[1] dags/ beside another team's folder (a flow, 300 files of 10 kB) and a link to a "
        "credentials file outside it"
    )


if __name__ == "__main__":
    main()
