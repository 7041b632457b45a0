#!/usr/bin/python3
"""torch_bench.py - one method's save and load of a torch state dict, for
bench/torch.sh: SIZE bytes in N tensors, alternately float32 and bfloat16,
each its own allocation.

    torch_bench.py METHOD LOC --size BYTES --tensors N [--runs R]

METHOD:
  ckptio       ckptio.save / ckptio.load (into existing tensors)
  ckptio-dcp   DCP save_state_dict / load_state_dict with
               ckptio.torch.StorageWriter / StorageReader (no_dist)
  dcp          DCP with its own FileSystemWriter / FileSystemReader
               (no_dist; LOC a directory)
  torch        torch.save / torch.load (LOC/model.pt; load makes new
               tensors)
  dcp+aws      DCP FileSystemWriter to a local directory then
               `aws s3 cp --recursive` to LOC (s3://...), and back:
               download, then FileSystemReader
Only the calls are timed (best of R); the load is then checked, value for
value.  Prints one JSON object: method, save and load seconds.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch

import ckptio
import ckptio.torch as ct

dcp = ct.dcp


def state_dict(total, n):
    per = total // n
    sd = {}
    g = torch.Generator().manual_seed(5)
    for i in range(n):
        if i % 2:
            t = torch.randn(per // 2, generator=g).to(torch.bfloat16)
        else:
            t = torch.randn(per // 4, generator=g)
        sd["model.layers.%d.weight" % i] = t
    return sd


def rm(loc):
    if loc.startswith("s3://") or ":" in loc and not loc.startswith("/"):
        return
    shutil.rmtree(loc, ignore_errors=True)


def aws(*args):
    ep = os.environ.get("TORCH_BENCH_ENDPOINT")  # Debian's aws has no
    subprocess.run(["aws", *(["--endpoint-url", ep] if ep else []),  # env
                    "s3", *args, "--only-show-errors"], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("method")
    ap.add_argument("loc")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--tensors", type=int, required=True)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    sd = state_dict(a.size, a.tensors)
    out = {k: torch.zeros_like(v) for k, v in sd.items()}
    best_s = best_l = float("inf")
    for _ in range(a.runs):
        got = out
        if a.method == "ckptio":
            rm(a.loc)
            t0 = time.perf_counter()
            ckptio.save(sd, a.loc, overwrite=True)
            t1 = time.perf_counter()
            ckptio.load(out, a.loc)
            t2 = time.perf_counter()
        elif a.method == "ckptio-dcp":
            rm(a.loc)
            t0 = time.perf_counter()
            dcp.save_state_dict(sd, storage_writer=ct.StorageWriter(
                a.loc, overwrite=True), no_dist=True)
            t1 = time.perf_counter()
            dcp.load_state_dict(out, storage_reader=ct.StorageReader(a.loc),
                                no_dist=True)
            t2 = time.perf_counter()
        elif a.method == "dcp":
            rm(a.loc)
            t0 = time.perf_counter()
            dcp.save_state_dict(sd, storage_writer=dcp.FileSystemWriter(
                a.loc), no_dist=True)
            t1 = time.perf_counter()
            dcp.load_state_dict(out, storage_reader=dcp.FileSystemReader(
                a.loc), no_dist=True)
            t2 = time.perf_counter()
        elif a.method == "torch":
            rm(a.loc)
            os.makedirs(a.loc)
            path = os.path.join(a.loc, "model.pt")
            t0 = time.perf_counter()
            torch.save(sd, path)
            t1 = time.perf_counter()
            got = torch.load(path)
            t2 = time.perf_counter()
        elif a.method == "dcp+aws":
            with tempfile.TemporaryDirectory(dir=os.environ.get(
                    "TORCH_BENCH_TMP")) as d:
                aws("rm", "--recursive", a.loc)
                t0 = time.perf_counter()
                dcp.save_state_dict(sd, storage_writer=dcp.FileSystemWriter(
                    os.path.join(d, "up")), no_dist=True)
                aws("cp", "--recursive", os.path.join(d, "up"), a.loc)
                t1 = time.perf_counter()
                aws("cp", "--recursive", a.loc, os.path.join(d, "down"))
                dcp.load_state_dict(out, storage_reader=dcp.FileSystemReader(
                    os.path.join(d, "down")), no_dist=True)
                t2 = time.perf_counter()
        else:
            sys.exit("unknown method " + a.method)
        best_s, best_l = min(best_s, t1 - t0), min(best_l, t2 - t1)
        for k, v in sd.items():
            if not torch.equal(got[k], v):
                sys.exit("%s: %s differs after the load" % (a.method, k))
        for v in out.values():
            v.zero_()
    print(json.dumps({"method": a.method, "save": best_s, "load": best_l}))


if __name__ == "__main__":
    main()
