"""A torchrun worker for torch_gang_flow.py: all_reduce over every process of every node."""

import argparse
import json
import os

import torch
import torch.distributed as dist

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
args = parser.parse_args()
dist.init_process_group("gloo")  # torchrun's variables
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
seen = {
    "rank": dist.get_rank(),
    "world": dist.get_world_size(),
    "node": int(os.environ["GROUP_RANK"]),
    "local_rank": int(os.environ["LOCAL_RANK"]),
    "total": value.item(),
}
with open(os.path.join(args.out, f"{dist.get_rank()}.json"), "w") as f:
    json.dump(seen, f)
dist.destroy_process_group()
