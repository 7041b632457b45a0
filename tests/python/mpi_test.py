"""Processes of an MPI job saving and loading together from Python
(ckptio.MPICoordinator over mpi4py), run under mpirun by
tests/python/test_python_mpi.sh:

    mpi_test.py save LOC          rows of W (Shards), a replicated R, and a
                                  bytes item per rank
    mpi_test.py load LOC SAVED    this job's own split of W, R and every
                                  state.K, compared value for value
    mpi_test.py fail LOC RANK     RANK's state dict is refused before the
                                  save: every rank must fail naming it
Exit 0 when this rank saw what it should."""

import sys

import numpy as np
from mpi4py import MPI

import ckptio

ROWS, COLS = 64, 256
comm = MPI.COMM_WORLD
rank, world = comm.Get_rank(), comm.Get_size()
mode, loc = sys.argv[1], sys.argv[2]
co = ckptio.MPICoordinator(comm)


def w_rows(first, last):
    i = np.arange(first, last, dtype=np.float64)[:, None]
    return (i * 1000 + np.arange(COLS)).astype(np.float32)


R = np.arange(35, dtype=np.float64).reshape(5, 7)

try:
    if mode in ("save", "fail"):
        sd = {"W": ckptio.Shard(w_rows(rank * ROWS, (rank + 1) * ROWS),
                                (rank * ROWS, 0), (world * ROWS, COLS)),
              "R": R, "state": {str(rank): b"state of rank %d" % rank}}
        if mode == "fail" and rank == int(sys.argv[3]):
            sd["bad"] = np.ones((4, 4))[:, ::2]  # not contiguous: refused
        try:
            ckptio.save(sd, loc, overwrite=True, coordinator=co)
        except ckptio.Error as e:
            if mode == "fail" and ("rank %s" % sys.argv[3] in str(e) or
                                   rank == int(sys.argv[3])):
                sys.exit(0)
            raise
        sys.exit(1 if mode == "fail" else 0)
    if mode == "load":
        saved = int(sys.argv[3])
        total = saved * ROWS
        first, last = total * rank // world, total * (rank + 1) // world
        w = np.zeros((last - first, COLS), np.float32)
        r = np.zeros((5, 7))
        states = {str(k): bytearray(len(b"state of rank %d" % k))
                  for k in range(saved)}
        ckptio.load({"W": ckptio.Shard(w, (first, 0), (total, COLS)),
                     "R": r, "state": states}, loc, coordinator=co)
        assert np.array_equal(w, w_rows(first, last)), "W differs"
        assert np.array_equal(r, R), "R differs"
        for k, v in states.items():
            assert bytes(v) == b"state of rank %s" % k.encode(), k
        sys.exit(0)
    sys.exit(2)
finally:
    co.free()
