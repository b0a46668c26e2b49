"""Artifacts through the local datastore: a 200 MB artifact against a plain pickle round
trip of the same object, and 1,000 small artifacts. Each method runs in a fresh process so
that peak memory (ru_maxrss) belongs to that method alone.

Reads are verified (the pickle bytes against the checksum in the blob's seal, which names
the blob's address). In the same process and on the same blobs, the second table also times
the read without verification (zstd stream straight into ``pickle.load``): the two reads
alternate, and the best of ``--repeat`` rounds of each is shown with the CPU time it took.

Usage: python bench/bench_artifacts.py [--mb 200] [--small 1000] [--repeat 5]
                                     [--src DIR] [--baseline-src DIR]
``--src`` measures the ``provider`` package of another source tree; ``--baseline-src`` adds
the rows of a second one to the same run, e.g. an earlier commit exported with
``git archive <commit> provider | tar -x -C DIR`` (its "verified" read is whatever that
commit's ``load_object`` did).
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
sys.path.insert(0, sys.argv[5])
import zstandard
method, mb, folder, repeat = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
small = int(sys.argv[6])


def unverified(storage, sha):
    from provider.datastore import blobs
    with storage.open_read(blobs.blob_key("F", sha)) as raw:
        raw.seek(getattr(blobs, "SEAL_SIZE", 0))  # past the seal, where blobs have one
        return pickle.load(zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20))


def best_of(reads):
    # the best wall time of each read, and the CPU time (all threads) of that round
    best = {}
    for _ in range(repeat):
        for name, read in reads.items():
            t0, c0 = time.perf_counter(), time.process_time()
            back = read()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if wall < best.get(name, float("inf")):
                best[name], best[name + "_cpu"] = wall, cpu
            del back
    return best


if method == "small":
    from provider.datastore import LocalStorage, load_object, save_object
    storage = LocalStorage(folder)
    values = [{"i": i, "name": f"item-{i}", "scores": [i * 0.5] * 8} for i in range(small)]
    t0 = time.perf_counter()
    shas = [save_object(storage, "F", v).sha for v in values]
    write = time.perf_counter() - t0
    assert [load_object(storage, "F", s) for s in shas] == values
    first_read = time.perf_counter() - t0 - write
    best = best_of({
        "read": lambda: [load_object(storage, "F", s) for s in shas],
        "unverified": lambda: [unverified(storage, s) for s in shas],
    })
    print(json.dumps({"write": write, "first_read": first_read, **best}))
    sys.exit()

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
    t2 = time.perf_counter()
    size = os.path.getsize(path)
    result = {"write": t1 - t0, "read": t2 - t1}
else:
    from provider.datastore import LocalStorage, load_object, save_object
    storage = LocalStorage(folder)
    ref = save_object(storage, "F", value)
    t1 = time.perf_counter()
    back = load_object(storage, "F", ref.sha)
    first_read = time.perf_counter() - t1
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(folder) for n in ns)
    result = {"write": t1 - t0, "first_read": first_read}
assert back == value
del back
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if method != "pickle":
    result.update(best_of({
        "read": lambda: load_object(storage, "F", ref.sha),
        "unverified": lambda: unverified(storage, ref.sha),
    }))
print(json.dumps({**result, "extra_mb": (peak - base) / 1024, "stored_mb": size / 2**20}))
"""


def measure(method: str, args: argparse.Namespace, src: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, method, str(args.mb), folder, str(args.repeat)]
            + [os.path.abspath(src), str(args.small)],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--small", type=int, default=1000, help="how many small artifacts")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each read")
    parser.add_argument("--src", default=ROOT, help="the source tree whose provider to measure")
    parser.add_argument("--baseline-src", help="another source tree, measured in the same run")
    args = parser.parse_args()
    trees = [("airstep", args.src)] + (
        [("baseline", args.baseline_src)] if args.baseline_src else []
    )
    plain = measure("pickle", args, args.src)
    big = {name: measure("airstep", args, src) for name, src in trees}
    small = {name: measure("small", args, src) for name, src in trees}

    print(f"{args.mb} MB artifact (half random, half repetitive), one process per method")
    print(f"{'method':<40}{'write s':>9}{'read s':>9}{'total s':>9}{'peak MB':>9}{'stored MB':>11}")
    rows = [("plain pickle (dumps/loads + file)", plain)]
    rows += [
        (f"{name} datastore (stream, zstd)", {**r, "read": r["first_read"]})
        for name, r in big.items()
    ]
    for name, r in rows:
        total = r["write"] + r["read"]
        print(
            f"{name:<40}{r['write']:>9.2f}{r['read']:>9.2f}{total:>9.2f}"
            f"{r['extra_mb']:>9.0f}{r['stored_mb']:>11.0f}"
        )
    ours, plain_total = big["airstep"], plain["write"] + plain["read"]
    print(
        f"time ratio airstep/pickle: {(ours['write'] + ours['first_read']) / plain_total:.2f}; "
        f"peak memory ratio: {ours['extra_mb'] / plain['extra_mb']:.2f}"
    )
    print()
    print(f"{args.small:,} small artifacts, one process per tree")
    print(f"{'tree':<40}{'write s':>9}{'read s':>9}{'best read s':>13}")
    for name, r in small.items():
        print(f"{name:<40}{r['write']:>9.3f}{r['first_read']:>9.3f}{r['read']:>13.3f}")
    print()
    print(f"reads, best of {args.repeat} (alternating, same process and blobs); wall, then CPU")
    print(
        f"{'case':<36}{'verified s':>11}{'unverified s':>13}{'ratio':>7}"
        f"{'verified cpu':>14}{'unverified cpu':>16}{'ratio':>7}"
    )
    cases = [(f"{args.mb} MB artifact", big), (f"{args.small:,} small artifacts", small)]
    for case, results in cases:
        for name, r in results.items():
            print(
                f"{case + ('' if name == 'airstep' else ' (baseline)'):<36}{r['read']:>11.3f}"
                f"{r['unverified']:>13.3f}{r['read'] / r['unverified']:>7.2f}"
                f"{r['read_cpu']:>14.3f}{r['unverified_cpu']:>16.3f}"
                f"{r['read_cpu'] / r['unverified_cpu']:>7.2f}"
            )


if __name__ == "__main__":
    main()
