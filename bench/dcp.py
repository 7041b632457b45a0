#!/usr/bin/python3
"""dcp.py - the PyTorch side of bench/scale.sh: one save or one load of the
state dict bench/scale.c builds, through PyTorch's distributed checkpoint
(DCP) with FileSystemWriter / FileSystemReader and no process group
(no_dist=True), or one torch.save / torch.load of it.

    dcp.py save|load|torchsave|torchload PATH --tensors N --size BYTES
    dcp.py save|load|torchsave|torchload PATH --tensors N
           --min-bytes A --max-bytes B [--seed S]
    options: --per-tensor-files (DCP: one file per tensor, 1.13's default;
             without it one file per rank, the default of later releases)

Tensor i is "model.layers.<i>.weight", 1-D float32, element j holding
j + i % 4096; sizes as in bench/scale.c (splitmix64 for random sizes).
Each tensor is its own allocation.  Only the save or load call is timed;
a load then checks up to 10,000 tensors evenly spread (not timed) and
exits 4 on a mismatch.  Prints one JSON object with the fields of
bench/scale.c, plus "module" (where DCP was found) and "torch" (version).
Debian's python3-torch (1.13) has DCP as torch.distributed._shard.checkpoint;
torch.distributed.checkpoint is its later name.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch


def py311_fix():
    """Debian bookworm's python3-torch 1.13 cannot import its DCP on the
    system's Python 3.11: a dataclass of sharded_tensor/metadata.py has an
    instance as a field default, which 3.11 refuses ("mutable default ...
    TensorProperties").  Apply upstream's fix (pytorch/pytorch#91795,
    default_factory) to the module's source as it is imported; the
    installed file is not changed, and a fixed torch is left alone."""
    import importlib.abc
    import importlib.machinery

    name = "torch.distributed._shard.sharded_tensor.metadata"
    bad = b"field(default=TensorProperties())"
    good = b"field(default_factory=TensorProperties)"

    class Loader(importlib.machinery.SourceFileLoader):
        def get_code(self, fullname):
            src = self.get_data(self.path).replace(bad, good)
            return compile(src, self.path, "exec", dont_inherit=True)

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname != name:
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.origin.endswith(".py"):
                spec.loader = Loader(fullname, spec.origin)
            return spec

    sys.meta_path.insert(0, Finder())


if sys.version_info >= (3, 11):
    py311_fix()

try:
    import torch.distributed.checkpoint as dcp
except ImportError:
    import torch.distributed._shard.checkpoint as dcp

M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def elems(a, i):
    if a.size:
        return a.size // a.tensors // 4
    lo, hi = (a.min_bytes + 3) // 4, a.max_bytes // 4
    return lo + splitmix64(a.seed + i) % (hi - lo + 1)


def build(a, load):
    sd = {}
    for i in range(a.tensors):
        n = elems(a, i)
        if load:
            t = torch.zeros(n, dtype=torch.float32)
        else:
            t = torch.arange(n, dtype=torch.float32).add_(i % 4096)
        sd["model.layers.%d.weight" % i] = t
    return sd


def check(a, sd):
    step = max(1, a.tensors // 10000)
    for i in range(0, a.tensors, step):
        n = elems(a, i)
        want = torch.arange(n, dtype=torch.float32).add_(i % 4096)
        if not torch.equal(sd["model.layers.%d.weight" % i], want):
            sys.exit("dcp.py: load: tensor %d differs" % i)


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_now():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("op", choices=["save", "load", "torchsave", "torchload"])
    p.add_argument("path")
    p.add_argument("--tensors", type=int, required=True)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--min-bytes", type=int, default=0)
    p.add_argument("--max-bytes", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-tensor-files", action="store_true")
    a = p.parse_args()
    if a.tensors < 1 or (a.size and a.size // a.tensors // 4 < 1) or \
            (not a.size and (a.min_bytes + 3) // 4 > a.max_bytes // 4):
        p.error("bad sizes")

    t0 = time.monotonic()
    load = a.op in ("load", "torchload")
    sd = build(a, load)
    nbytes = sum(t.numel() * 4 for t in sd.values())
    setup = time.monotonic() - t0
    rss0 = maxrss_kb()
    c0 = cpu_now()
    t0 = time.monotonic()
    if a.op == "save":
        w = dcp.FileSystemWriter(a.path,
                                 single_file_per_rank=not a.per_tensor_files)
        dcp.save_state_dict(sd, w, no_dist=True)
    elif a.op == "load":
        dcp.load_state_dict(sd, dcp.FileSystemReader(a.path), no_dist=True)
    elif a.op == "torchsave":
        with open(a.path, "wb") as f:  # synced, as the others' saves are
            torch.save(sd, f)
            f.flush()
            os.fsync(f.fileno())
    else:
        loaded = torch.load(a.path)
        for k, t in sd.items():
            t.copy_(loaded[k])
        del loaded
    t1 = time.monotonic()
    c1 = cpu_now()
    if load:
        check(a, sd)
    print(json.dumps({
        "op": a.op, "tensors": a.tensors, "bytes": nbytes,
        "seconds": round(t1 - t0, 6), "cpu_seconds": round(c1 - c0, 3),
        "setup_seconds": round(setup, 3), "maxrss_before_kb": rss0,
        "maxrss_kb": maxrss_kb(), "module": dcp.__name__,
        "torch": torch.__version__}))


if __name__ == "__main__":
    main()
