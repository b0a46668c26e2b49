"""Startup cost of the step entrypoint, `python -m provider.runtime`, in a virtualenv
WITHOUT Airflow (what the step image holds), against `python -c pass`, same run.

The venv is made with uv from the step image's pinned runtime dependencies
(docker/requirements-runtime.txt) and reused across runs (bench/.runtime-venv). Each
command runs --repeat times; the table shows the median.

Usage: python bench/bench_runtime_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "bench" / ".runtime-venv"
FLOW = """
from provider import FlowSpec, step

class TinyFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        pass

dag = TinyFlow.to_dag()
"""


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    uv = [shutil.which("uv")] if shutil.which("uv") else ["python3", "-m", "uv"]
    if not python.exists():
        base_python = os.path.join(sys.base_prefix, "bin", "python3")
        subprocess.run([*uv, "venv", "--quiet", "-p", base_python, str(VENV)], check=True)
    # the step image's pins (docker/requirements-runtime.txt, the versions of uv.lock)
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--compile-bytecode", "-p", str(python)]
        + ["--requirement", str(ROOT / "docker" / "requirements-runtime.txt")],
        check=True,
    )
    probe = subprocess.run([str(python), "-c", "import airflow"], capture_output=True)
    assert probe.returncode != 0, "the runtime venv must not contain Airflow"
    return python


def median_seconds(cmd: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    python = str(ensure_venv())
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / "tiny_flow.py"
        flow.write_text(FLOW)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AIRSTEP_DATASTORE_ROOT": str(Path(tmp) / "ds"),
        }
        base = median_seconds([python, "-c", "pass"], args.repeat, env)
        task = [
            python,
            "-m",
            "provider.runtime",
            "--flow-file",
            str(flow),
            "--run-id",
            "r",
            "--step",
            "start",
        ]
        full = median_seconds(task, args.repeat, env)
        imports = median_seconds([python, "-c", "import provider.runtime.task"], args.repeat, env)
    print(f"runtime venv without Airflow ({python}); median of {args.repeat}")
    print(f"{'command':<46}{'ms':>8}{'extra ms':>10}")
    print(f"{'python -c pass':<46}{1000 * base:>8.0f}{0:>10.0f}")
    print(
        f"{'python -c import provider.runtime.task':<46}{1000 * imports:>8.0f}{1000 * (imports - base):>10.0f}"
    )
    print(
        f"{'python -m provider.runtime (start task, local)':<46}{1000 * full:>8.0f}{1000 * (full - base):>10.0f}"
    )


if __name__ == "__main__":
    main()
