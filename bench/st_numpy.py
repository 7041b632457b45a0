#!/usr/bin/python3
"""st_numpy.py - the numpy peer of bench/safetensors.sh.

  st_numpy.py save FILE SIZE TENSORS   write a safetensors file of TENSORS
                                       F32 tensors totalling about SIZE
                                       bytes (random data, fsync at the
                                       end, as ckptio does); prints seconds
  st_numpy.py load FILE                read every tensor of FILE into
                                       preallocated numpy arrays
                                       (readinto); prints seconds

Only the write or the read is timed; the data is made before the clock
starts and the arrays are allocated (and touched) before it too, as a
caller loading into an existing model would have them.
"""
import json
import os
import struct
import sys
import time

import numpy as np


def save(path, size, n):
    rng = np.random.default_rng(1)
    elems = max(1, size // 4 // n)
    arrays = [rng.integers(0, 2**32, elems, dtype=np.uint32).view(np.float32)
              for _ in range(n)]
    header, off = {}, 0
    for i, a in enumerate(arrays):
        header["t.%04d" % i] = {"dtype": "F32", "shape": [a.size],
                                "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays:
            f.write(memoryview(a).cast("B"))
        f.flush()
        os.fsync(f.fileno())
    print("%.6f" % (time.perf_counter() - t0))


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    dt = {"F32": np.float32, "BF16": np.uint16, "U8": np.uint8}
    arrays = {}
    for name, t in header.items():
        arrays[name] = np.ones(t["shape"], dtype=dt[t["dtype"]])
    items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        for name, t in items:
            f.seek(8 + n + t["data_offsets"][0])
            f.readinto(memoryview(arrays[name]).cast("B"))
    print("%.6f" % (time.perf_counter() - t0))


if __name__ == "__main__":
    if sys.argv[1] == "save":
        save(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "load":
        load(sys.argv[2])
    else:
        sys.exit(__doc__)
