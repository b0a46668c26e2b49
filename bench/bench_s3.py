"""S3 artifact write and read through the airstep datastore against raw boto3 put/get of
the same bytes, same run, same S3 peer (moto_server on 127.0.0.1, started here).

Cases: one 100 MB artifact (random bytes), and 1,000 small artifacts (~1 KB each).
Usage: python bench/bench_s3.py [--mb 100] [--small 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.update(
    AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
)

import boto3  # noqa: E402
import cloudpickle  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from provider.datastore import load_object, save_object  # noqa: E402
from provider.datastore.s3 import S3Storage  # noqa: E402


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--small", type=int, default=1000)
    args = parser.parse_args()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="bench")
        storage = S3Storage("s3://bench/airstep")
        big = os.urandom(args.mb * 1024 * 1024)
        smalls = [os.urandom(1024) + i.to_bytes(4, "big") for i in range(args.small)]
        rows = []

        # raw boto3: the pickled bytes, as a user would store them by hand
        big_bytes = cloudpickle.dumps(big)
        raw_w = timed(lambda: client.put_object(Bucket="bench", Key="raw/big", Body=big_bytes))
        raw_r = timed(lambda: client.get_object(Bucket="bench", Key="raw/big")["Body"].read())
        refs = {}
        ours_w = timed(lambda: refs.update(big=save_object(storage, "F", big)))
        ours_r = timed(lambda: load_object(storage, "F", refs["big"].sha))
        rows.append((f"{args.mb} MB artifact", raw_w, raw_r, ours_w, ours_r))

        small_bytes = [cloudpickle.dumps(s) for s in smalls]

        def raw_small_put():
            for i, data in enumerate(small_bytes):
                client.put_object(Bucket="bench", Key=f"raw/small/{i}", Body=data)

        def raw_small_get():
            for i in range(len(small_bytes)):
                client.get_object(Bucket="bench", Key=f"raw/small/{i}")["Body"].read()

        small_refs = []
        raw_w, raw_r = timed(raw_small_put), timed(raw_small_get)
        ours_w = timed(lambda: small_refs.extend(save_object(storage, "F", s) for s in smalls))
        ours_r = timed(lambda: [load_object(storage, "F", r.sha) for r in small_refs])
        rows.append((f"{args.small} small artifacts", raw_w, raw_r, ours_w, ours_r))
    finally:
        server.stop()
    print("S3 peer: moto_server on 127.0.0.1 (in this process); seconds")
    print(
        f"{'case':<24}{'boto3 put':>10}{'boto3 get':>10}{'ours put':>10}{'ours get':>10}{'ratio':>8}"
    )
    for name, rw, rr, ow, orr in rows:
        print(
            f"{name:<24}{rw:>10.2f}{rr:>10.2f}{ow:>10.2f}{orr:>10.2f}{(ow + orr) / (rw + rr):>8.2f}"
        )


if __name__ == "__main__":
    main()
