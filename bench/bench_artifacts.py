"""A 200 MB artifact written to and read back from the local datastore, against a plain
pickle round trip of the same object. Each measurement runs in a fresh process so that
peak memory (ru_maxrss) belongs to that method alone.

Usage: python bench/bench_artifacts.py [--mb 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, os, pickle, resource, sys, time
sys.path.insert(0, sys.argv[4])
method, mb, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
half = mb * 1024 * 1024 // 2
# half random (incompressible), half a repeating pattern (compressible)
value = {"noise": os.urandom(half), "pattern": bytes(range(256)) * (half // 256)}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if method == "pickle":
    path = os.path.join(folder, "obj.pkl")
    with open(path, "wb") as f:
        f.write(pickle.dumps(value, protocol=5))
    t1 = time.perf_counter()
    with open(path, "rb") as f:
        back = pickle.loads(f.read())
    size = os.path.getsize(path)
else:
    from provider.datastore import LocalStorage, load_object, save_object
    storage = LocalStorage(folder)
    ref = save_object(storage, "F", value)
    t1 = time.perf_counter()
    back = load_object(storage, "F", ref.sha)
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(folder) for n in ns)
t2 = time.perf_counter()
assert back == value
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"write": t1 - t0, "read": t2 - t1, "extra_mb": (peak - base) / 1024,
                  "stored_mb": size / 2**20}))
"""


def measure(method: str, mb: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, method, str(mb), folder, ROOT],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    rows = [
        ("plain pickle (dumps/loads + file)", measure("pickle", args.mb)),
        ("airstep datastore (stream, zstd)", measure("airstep", args.mb)),
    ]
    print(f"{args.mb} MB artifact (half random, half repetitive), one process per method")
    print(
        f"{'method':<36}{'write s':>9}{'read s':>9}{'total s':>9}{'peak extra MB':>15}{'stored MB':>11}"
    )
    for name, r in rows:
        total = r["write"] + r["read"]
        print(
            f"{name:<36}{r['write']:>9.2f}{r['read']:>9.2f}{total:>9.2f}{r['extra_mb']:>15.0f}{r['stored_mb']:>11.0f}"
        )
    base, ours = rows[0][1], rows[1][1]
    print(
        f"time ratio airstep/pickle: {(ours['write'] + ours['read']) / (base['write'] + base['read']):.2f}; "
        f"peak memory ratio: {ours['extra_mb'] / base['extra_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
