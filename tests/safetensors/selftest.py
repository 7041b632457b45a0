"""selftest.py - `stref.py selftest`: the reader against the published
good vectors (vectors/good.json, parse result and byte-exact writer) and
the hostile files of make_hostile.py, then the sample model's round trips
through the writer, single and sharded.  Prints one line per failure and
returns the number of failures (0 = all agree)."""

import hashlib
import json
import os
import tempfile

import numpy as np

import make_hostile
import stref


def _check_good(vector):
    data = bytes.fromhex(vector["hex"])
    metadata, n, found = stref.parse_header(data)
    base = stref.HEADER_LEN_BYTES + n
    got = [{"name": name, "dtype": dtype, "shape": shape,
            "data_hex": data[base + b:base + e].hex()}
           for name, dtype, shape, b, e in found]
    if metadata != vector["metadata"] or got != vector["tensors"]:
        return f"parsed as {metadata} {got}"
    if vector["writer_exact"]:
        tensors = {t["name"]: (t["dtype"], t["shape"],
                               bytes.fromhex(t["data_hex"]))
                   for t in vector["tensors"]}
        out = stref.serialize(tensors, vector["metadata"])
        if out != data:
            return f"writer gave {out!r}"
    return None


def _values():
    """value_of on the reference's F32 vector: 0..5 as [1, 2, 3]."""
    raw = np.arange(6, dtype="<f4").tobytes()
    v = stref.value_of("F32", [1, 2, 3], raw)
    if v.shape != (1, 2, 3) or v.ravel().tolist() != [0, 1, 2, 3, 4, 5]:
        return f"F32 values {v!r}"
    if stref.value_of("BF16", [2], b"\x80\x3f\x00\x40") != b"\x80\x3f\x00\x40":
        return "BF16 is not returned as its bytes"
    return None


def _round_trips(tmp):
    sample = stref.sample_tensors()
    single = os.path.join(tmp, "single")
    sharded = os.path.join(tmp, "sharded")
    os.makedirs(single)
    os.makedirs(sharded)
    stref.save_file(os.path.join(single, stref.SINGLE_NAME), sample,
                    {"a": "b"})
    stref.save_sharded(sharded, sample, 3, {"a": "b"})
    for path in (single, sharded):
        metadata, tensors = stref.load_model(path)
        if metadata != {"a": "b"} or tensors != sample:
            return f"{path}: does not read back as written"
    shards = sorted(f for f in os.listdir(sharded) if f.endswith(".safetensors"))
    if shards != [stref.shard_name(i, 3) for i in (1, 2, 3)]:
        return f"shard files {shards}"
    if stref.first_difference(single, sharded, True) is not None:
        return "single and sharded copies differ"
    # a changed byte, dtype or name must be seen by compare
    changed = dict(sample)
    dtype, shape, raw = changed["buffers.ids_u8"]
    changed["buffers.ids_u8"] = (dtype, shape, raw[:-1] + bytes([raw[-1] ^ 1]))
    other = os.path.join(tmp, "other")
    os.makedirs(other)
    stref.save_file(os.path.join(other, stref.SINGLE_NAME), changed)
    if stref.first_difference(single, other) is None:
        return "compare missed a changed byte"
    # the sample is the same bytes on every run (its dump is pinned below)
    with open(os.path.join(single, stref.SINGLE_NAME), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    want = SAMPLE_SHA256
    if want and digest != want:
        return f"sample file sha256 {digest}, pinned {want}"
    return None


# sha256 of `stref.py write-sample DIR --metadata a=b`'s model.safetensors
SAMPLE_SHA256 = "5fecd63be821baa71d6cb715794795ae2ea400d58be3665bda00aa54caeddd64"


def run(here):
    failures = 0

    def fail(msg):
        nonlocal failures
        failures += 1
        print(f"selftest: FAIL {msg}")

    with open(os.path.join(here, "vectors", "good.json")) as f:
        vectors = json.load(f)["vectors"]
    for vector in vectors:
        try:
            problem = _check_good(vector)
        except stref.SafetensorsError as e:
            problem = f"rejected: {e}"
        if problem:
            fail(f"good vector {vector['name']}: {problem}")
    cases = make_hostile.cases()
    for name, why, data in cases:
        try:
            stref.parse_header(data)
            fail(f"hostile {name} ({why}) accepted")
        except stref.SafetensorsError:
            pass
        except Exception as e:  # a crash is not a rejection
            fail(f"hostile {name}: {type(e).__name__}: {e}")
    problem = _values()
    if problem:
        fail(problem)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            problem = _round_trips(tmp)
        except stref.SafetensorsError as e:
            problem = str(e)
        if problem:
            fail(f"round trip: {problem}")
    print(f"selftest: {len(vectors)} good vectors, {len(cases)} hostile "
          f"files, round trips: {failures} failures")
    return 1 if failures else 0
