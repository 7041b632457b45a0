"""Processes of a torch.distributed job (gloo, spawned by
torch.multiprocessing on this machine) saving and loading through ckptio,
run by tests/python/test_torch.sh:

    dcp_test.py save LOC WORLD         DCP save_state_dict with
                                       ckptio.torch.StorageWriter: a
                                       row-sharded F32 ShardedTensor, a
                                       BF16 one, a replicated tensor, an
                                       object (DCP's BYTE_IO)
    dcp_test.py load LOC WORLD SAVED   DCP load_state_dict with
                                       ckptio.torch.StorageReader into this
                                       job's own split; every value compared
    dcp_test.py fail LOC WORLD RANK    RANK's planner fails in resolve_data
                                       (the others save other values):
                                       every rank's save must raise
    dcp_test.py pgsave LOC WORLD       ckptio.save of Shards with a
                                       ckptio.torch.ProcessGroupCoordinator
    dcp_test.py pgload LOC WORLD SAVED ckptio.load of this job's split with it
Exit 0 when every rank saw what it should."""

import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import ckptio
import ckptio.torch as ct

from torch.distributed._shard.metadata import ShardMetadata  # noqa: E402
from torch.distributed._shard.sharded_tensor import (  # noqa: E402
    Shard, init_from_local_shards)

dcp = ct.dcp
ROWS, COLS = 24, 7   # divisible by 4, 3 and 2 ranks
HROWS = 12


def full_w():
    return torch.arange(ROWS * COLS, dtype=torch.float32).reshape(
        ROWS, COLS) * 1.5 - 7


def full_h():
    return (torch.arange(HROWS * 5, dtype=torch.float32).reshape(HROWS, 5)
            / 8).to(torch.bfloat16)


REPL = torch.linspace(-1, 1, 9, dtype=torch.float64)
OBJ = {"epoch": 3, "name": "run-\u00e9", "lr": [0.1, 0.01]}


def sharded(full, rank, world, fill=None):
    """This rank's rows of full as a ShardedTensor (collective)."""
    rows = full.shape[0] // world
    local = full[rank * rows:(rank + 1) * rows].clone()
    if fill is not None:
        local.fill_(fill)
    md = ShardMetadata(shard_offsets=[rank * rows, 0],
                       shard_sizes=list(local.shape),
                       placement="rank:%d/cpu" % rank)
    return init_from_local_shards([Shard(tensor=local, metadata=md)],
                                  list(full.shape))


class FailingPlanner(dcp.default_planner.DefaultSavePlanner):
    def __init__(self, bad):
        super().__init__()
        self.bad = bad

    def resolve_data(self, item):
        if dist.get_rank() == self.bad:
            raise RuntimeError("rank %d cannot produce %s" % (
                self.bad, item.index.fqn))
        return super().resolve_data(item)


def run(rank, world, initfile, mode, loc, extra):
    dist.init_process_group("gloo", init_method="file://" + initfile,
                            rank=rank, world_size=world)
    try:
        if mode in ("save", "fail"):
            # A failing save writes other values: the load after it
            # proves the checkpoint before it is still the one there.
            shift = 100 if mode == "fail" else 0
            sd = {"model.w": sharded(full_w() + shift, rank, world),
                  "model.h": sharded(full_h(), rank, world),
                  "model.repl": REPL.clone(), "extra": OBJ}
            if mode == "save":
                dcp.save_state_dict(sd, storage_writer=ct.StorageWriter(
                    loc, overwrite=True))
                return
            bad = int(extra[0])
            try:
                dcp.save_state_dict(sd, storage_writer=ct.StorageWriter(
                    loc, overwrite=True), planner=FailingPlanner(bad))
            except BaseException as e:  # DCP 1.13: CheckpointException
                text = str(e)
                assert "cannot produce" in text or "rank %d" % bad in text, \
                    text
                return
            raise AssertionError("rank %d: the save did not fail" % rank)
        if mode == "load":
            sd = {"model.w": sharded(full_w(), rank, world, fill=0),
                  "model.h": sharded(full_h(), rank, world, fill=0),
                  "model.repl": torch.zeros(9, dtype=torch.float64),
                  "extra": None}
            dcp.load_state_dict(sd, storage_reader=ct.StorageReader(loc))
            for name, full in (("model.w", full_w()),
                               ("model.h", full_h())):
                rows = full.shape[0] // world
                got = sd[name].local_shards()[0].tensor
                want = full[rank * rows:(rank + 1) * rows]
                assert got.dtype == want.dtype and torch.equal(got, want), \
                    "%s differs on rank %d" % (name, rank)
            assert torch.equal(sd["model.repl"], REPL), "model.repl differs"
            assert sd["extra"] == OBJ, "extra is %r" % (sd["extra"],)
            return
        co = ct.ProcessGroupCoordinator()
        assert (co.rank, co.world) == (rank, world)
        if mode == "pgsave":
            rows = ROWS // world
            part = full_w()[rank * rows:(rank + 1) * rows].clone()
            ckptio.save({"W": ckptio.Shard(part, (rank * rows, 0),
                                           (ROWS, COLS)),
                         "state": {str(rank): b"rank %d" % rank}},
                        loc, overwrite=True, coordinator=co)
            return
        if mode == "pgload":
            saved = int(extra[0])
            first, last = ROWS * rank // world, ROWS * (rank + 1) // world
            w = torch.zeros(last - first, COLS)
            states = {str(k): bytearray(len(b"rank %d" % k))
                      for k in range(saved)}
            ckptio.load({"W": ckptio.Shard(w, (first, 0), (ROWS, COLS)),
                         "state": states}, loc, coordinator=co)
            assert torch.equal(w, full_w()[first:last]), "W differs"
            for k, v in states.items():
                assert bytes(v) == b"rank " + k.encode(), k
            # A collective load in which only rank 0 asks for anything
            # (the others take part with nothing: StorageReader's rounds).
            top = torch.zeros(2, COLS)
            ckptio.load({"W": ckptio.Shard(top, (0, 0), (ROWS, COLS))}
                        if rank == 0 else {}, loc, coordinator=co)
            assert rank != 0 or torch.equal(top, full_w()[:2]), "W[:2]"
            return
        raise AssertionError("unknown mode " + mode)
    finally:
        dist.destroy_process_group()


def main():
    mode, loc, world = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(run, args=(world, os.path.join(d, "init"), mode, loc,
                            sys.argv[4:]), nprocs=world, join=True)


if __name__ == "__main__":
    main()
