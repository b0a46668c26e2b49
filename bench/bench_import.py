"""Cost of `import provider` over a bare interpreter, same run, in the project's venv.

Each command runs --repeat times in a fresh interpreter; the table shows the median
and the cost over `python -c pass`. The last column lists the heavy third-party
packages the import left in sys.modules. Compile the bytecode first (`make install`
does; after editing, `python -m compileall -q provider`), or the figures include
compiling.

Usage: python bench/bench_import.py [--repeat 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("airflow", "boto3", "botocore", "kubernetes", "cloudpickle", "zstandard", "pendulum")
COMMANDS = {
    "python -c pass": "pass",
    "python -c 'import provider'": "import provider",
    "python -c 'import provider.runtime.task'": "import provider.runtime.task",
}


def median_seconds(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def heavy_modules(code: str) -> str:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    medians = {name: median_seconds(code, args.repeat) for name, code in COMMANDS.items()}
    base = medians["python -c pass"]
    print(f"{sys.executable}; median of {args.repeat}")
    print(f"{'command':<42}{'ms':>8}{'extra ms':>10}  heavy packages loaded")
    for name, code in COMMANDS.items():
        extra = 1000 * (medians[name] - base)
        print(f"{name:<42}{1000 * medians[name]:>8.0f}{extra:>10.0f}  {heavy_modules(code)}")


if __name__ == "__main__":
    main()
