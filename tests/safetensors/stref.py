#!/usr/bin/python3
"""stref.py - an independent safetensors reader and writer, written from the
format description in the huggingface/safetensors README ("Format") and the
behaviour of its reference Rust reader, for testing ckptio's safetensors
layout plugin.  Standard library + numpy only (Debian's python3-numpy).

File format: 8-byte little-endian u64 N, N bytes of UTF-8 JSON header (an
object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]},
plus an optional "__metadata__" object of string -> string), then the data
buffer; offsets are relative to the buffer, tensors are little-endian,
C order, and cover the buffer exactly.

Usage:
  stref.py write-sample DIR [--sharded N] [--metadata k=v]...
  stref.py dump PATH_OR_DIR       canonical JSON: name, dtype, shape, sha256
  stref.py compare A B            exit 0 iff same tensors (dtype/shape/bytes)
           [--metadata]           ... and the same __metadata__
  stref.py check PATH_OR_DIR      strict validation, nonzero exit on violation
  stref.py selftest               good vectors accepted (writer byte-exact),
                                  hostile ones (make_hostile.py) rejected

Where the README and the Rust reader disagree, the README wins and the
difference is noted next to the check (see "leading whitespace").
"""

import hashlib
import json
import os
import struct
import sys

import numpy as np

HEADER_LEN_BYTES = 8
MAX_HEADER_SIZE = 100_000_000  # the Rust reader's limit
USIZE_MAX = 2**64 - 1
INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"

# name -> (bits per element, numpy dtype or None when numpy has no such
# type; those are handled as raw bytes).  The order is the Rust Dtype
# enum's ("increasing alignment"), which its writer sorts by.
DTYPES = {
    "BOOL": (8, np.dtype(np.bool_)),
    "F4": (4, None),
    "F6_E2M3": (6, None),
    "F6_E3M2": (6, None),
    "U8": (8, np.dtype("<u1")),
    "I8": (8, np.dtype("<i1")),
    "F8_E5M2": (8, None),
    "F8_E4M3": (8, None),
    "F8_E8M0": (8, None),
    "F8_E4M3FNUZ": (8, None),
    "F8_E5M2FNUZ": (8, None),
    "I16": (16, np.dtype("<i2")),
    "U16": (16, np.dtype("<u2")),
    "F16": (16, np.dtype("<f2")),
    "BF16": (16, None),
    "I32": (32, np.dtype("<i4")),
    "U32": (32, np.dtype("<u4")),
    "F32": (32, np.dtype("<f4")),
    "C64": (64, np.dtype("<c8")),
    "F64": (64, np.dtype("<f8")),
    "I64": (64, np.dtype("<i8")),
    "U64": (64, np.dtype("<u8")),
}
DTYPE_RANK = {name: i for i, name in enumerate(DTYPES)}


class SafetensorsError(Exception):
    """A file or directory that is not valid safetensors."""


# ------------------------------------------------------------------ reader

def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise SafetensorsError(f"duplicate key {key!r} in header")
        seen[key] = value
    return seen


def _no_constant(name):
    # json accepts NaN/Infinity, which are not JSON.
    raise SafetensorsError(f"not JSON: {name}")


def _is_uint(x):
    # bool is an int subclass in Python; JSON true is not a number.
    return type(x) is int and 0 <= x <= USIZE_MAX


def nbytes_of(dtype, shape):
    """Byte length of a tensor; raises if elements x bits is not whole bytes
    or overflows u64 (the Rust reader's ValidationOverflow)."""
    count = 1
    for dim in shape:
        count *= dim
        if count > USIZE_MAX:
            raise SafetensorsError(f"shape {shape} overflows")
    bits = count * DTYPES[dtype][0]
    if bits > USIZE_MAX:
        raise SafetensorsError(f"shape {shape} x {dtype} overflows")
    if bits % 8:
        raise SafetensorsError(
            f"{dtype} x {count} elements is {bits} bits, not whole bytes")
    return bits // 8


def _tensor_info(name, info):
    if not isinstance(info, dict):
        raise SafetensorsError(f"tensor {name!r}: entry is not an object")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in info:
            raise SafetensorsError(f"tensor {name!r}: no {field}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise SafetensorsError(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
        raise SafetensorsError(f"tensor {name!r}: bad shape {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_uint(o) for o in offsets)):
        raise SafetensorsError(
            f"tensor {name!r}: bad data_offsets {offsets!r}")
    return dtype, shape, offsets[0], offsets[1]


def parse_header(data):
    """Validate a whole file's bytes.  Returns (metadata or None, header
    length N, [(name, dtype, shape, begin, end)] in offset order)."""
    if len(data) < HEADER_LEN_BYTES:
        raise SafetensorsError(
            f"file of {len(data)} bytes has no 8-byte header length")
    (n,) = struct.unpack("<Q", data[:HEADER_LEN_BYTES])
    if n > MAX_HEADER_SIZE:
        raise SafetensorsError(
            f"header length {n} exceeds the limit {MAX_HEADER_SIZE}")
    if HEADER_LEN_BYTES + n > len(data):
        raise SafetensorsError(
            f"header length {n} runs past the end of the "
            f"{len(data)}-byte file")
    raw = data[HEADER_LEN_BYTES:HEADER_LEN_BYTES + n]
    # The README: "The header data MUST begin with a `{` character".  The
    # Rust reader accepts leading JSON whitespace since huggingface/
    # safetensors#686 (test_whitespace_leading_padded_header); we keep the
    # README's rule, which every writer satisfies.
    if not raw.startswith(b"{"):
        raise SafetensorsError("header does not start with '{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"header is not UTF-8: {e}") from None
    try:
        # Trailing JSON whitespace is fine (README: padded with 0x20; the
        # Rust reader also takes \t \r \n, test_whitespace_padded_header).
        header = json.loads(text, object_pairs_hook=_no_duplicates,
                            parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise SafetensorsError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")

    metadata = header.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise SafetensorsError("__metadata__ is not an object")
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise SafetensorsError(
                    f"__metadata__ value of {key!r} is not a string")

    tensors = [(name,) + _tensor_info(name, info)
               for name, info in header.items()]
    tensors.sort(key=lambda t: (t[3], t[4]))
    end_of_previous = 0
    for name, dtype, shape, begin, end in tensors:
        if begin != end_of_previous or end < begin:
            raise SafetensorsError(
                f"tensor {name!r}: data_offsets [{begin}, {end}] do not "
                f"follow the previous tensor (ending at {end_of_previous}): "
                "gap, overlap or reversed")
        end_of_previous = end
        try:
            want = nbytes_of(dtype, shape)
        except SafetensorsError as e:
            raise SafetensorsError(f"tensor {name!r}: {e}") from None
        if end - begin != want:
            raise SafetensorsError(
                f"tensor {name!r}: {dtype} {shape} needs {want} bytes, "
                f"data_offsets give {end - begin}")
    if HEADER_LEN_BYTES + n + end_of_previous != len(data):
        raise SafetensorsError(
            f"data buffer is {len(data) - HEADER_LEN_BYTES - n} bytes, "
            f"tensors cover {end_of_previous}")
    return metadata, n, tensors


def value_of(dtype, shape, raw):
    """The tensor's values: an ndarray where numpy has the dtype, else the
    raw bytes (BF16, F8_*, F4, F6_*)."""
    npdt = DTYPES[dtype][1]
    if npdt is None:
        return bytes(raw)
    return np.frombuffer(raw, dtype=npdt).reshape(shape)


def load_file(path):
    """Read one file strictly.  Returns (metadata or None, {name: (dtype,
    shape, bytes)}) in offset order."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        metadata, n, tensors = parse_header(data)
    except SafetensorsError as e:
        raise SafetensorsError(f"{path}: {e}") from None
    base = HEADER_LEN_BYTES + n
    return metadata, {name: (dtype, shape, data[base + b:base + e])
                      for name, dtype, shape, b, e in tensors}


def load_index(path):
    """model.safetensors.index.json: returns (index dict, weight_map)."""
    with open(path, "rb") as f:
        try:
            index = json.loads(f.read().decode("utf-8"),
                               object_pairs_hook=_no_duplicates,
                               parse_constant=_no_constant)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SafetensorsError(f"{path}: not JSON: {e}") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) and v and "/" not in v and v not in (".", "..")
            for v in weight_map.values()):
        raise SafetensorsError(f"{path}: no valid weight_map")
    return index, weight_map


def model_files(path):
    """(kind, files) for a file, or a directory holding model.safetensors
    or model.safetensors.index.json (not both)."""
    if not os.path.isdir(path):
        return "single", [path]
    index = os.path.join(path, INDEX_NAME)
    single = os.path.join(path, SINGLE_NAME)
    if os.path.exists(index) and os.path.exists(single):
        raise SafetensorsError(f"{path}: both {SINGLE_NAME} and {INDEX_NAME}")
    if os.path.exists(single):
        return "single", [single]
    if os.path.exists(index):
        _, weight_map = load_index(index)
        return "sharded", [os.path.join(path, f)
                           for f in sorted(set(weight_map.values()))]
    raise SafetensorsError(f"{path}: neither {SINGLE_NAME} nor {INDEX_NAME}")


def load_model(path, strict_index=True):
    """A file or model directory.  Returns (metadata, {name: (dtype, shape,
    bytes)}); metadata is the union of the files' __metadata__ (first file
    in name order wins).  A sharded model must match its weight_map exactly
    and state total_size as the sum of the tensors' bytes."""
    kind, files = model_files(path)
    metadata, tensors = {}, {}
    for file in files:
        meta, found = load_file(file)
        for key, value in (meta or {}).items():
            metadata.setdefault(key, value)
        for name in found:
            if name in tensors:
                raise SafetensorsError(f"{file}: tensor {name!r} is also "
                                       "in another shard")
        tensors.update(found)
    if kind == "sharded" and strict_index:
        _check_index(path, files, tensors)
    return metadata, tensors


def _check_index(path, files, tensors):
    index, weight_map = load_index(os.path.join(path, INDEX_NAME))
    for file in files:
        _, found = load_file(file)
        base = os.path.basename(file)
        for name in found:
            if weight_map.get(name) != base:
                raise SafetensorsError(
                    f"{file}: tensor {name!r} is not mapped to this file "
                    f"in {INDEX_NAME}")
    missing = set(weight_map) - set(tensors)
    if missing:
        raise SafetensorsError(f"{INDEX_NAME}: {sorted(missing)[0]!r} is in "
                               "no shard")
    total = (index.get("metadata") or {}).get("total_size")
    want = sum(len(t[2]) for t in tensors.values())
    if total != want:
        raise SafetensorsError(f"{INDEX_NAME}: total_size {total!r}, "
                               f"tensors hold {want} bytes")


# ------------------------------------------------------------------ writer

def serialize(tensors, metadata=None):
    """Bytes of one file.  tensors: {name: (dtype, shape, raw bytes)}.
    Like the Rust writer: tensors by descending dtype rank then name,
    compact JSON, __metadata__ first, header space-padded to 8 bytes."""
    order = sorted(tensors, key=lambda n: (-DTYPE_RANK[tensors[n][0]], n))
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    for name in order:
        dtype, shape, raw = tensors[name]
        if nbytes_of(dtype, list(shape)) != len(raw):
            raise ValueError(f"{name}: {dtype} {list(shape)} is "
                             f"{nbytes_of(dtype, list(shape))} bytes, "
                             f"given {len(raw)}")
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    raw_header = text.encode("utf-8")
    raw_header += b" " * (-len(raw_header) % HEADER_LEN_BYTES)
    return b"".join([struct.pack("<Q", len(raw_header)), raw_header]
                    + [tensors[n][2] for n in order])


def save_file(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(serialize(tensors, metadata))


def shard_name(i, n):
    return f"model-{i:05d}-of-{n:05d}.safetensors"


def save_sharded(directory, tensors, n, metadata=None):
    """n shards of about equal size (each non-empty) plus the index, as
    Hugging Face writes them (total_size = sum of tensor bytes, weight_map
    sorted by name)."""
    names = sorted(tensors, key=lambda k: (-DTYPE_RANK[tensors[k][0]], k))
    if not 1 <= n <= len(names):
        raise ValueError(f"cannot split {len(names)} tensors into {n} shards")
    total = sum(len(t[2]) for t in tensors.values())
    groups, current, done = [], [], 0
    for i, name in enumerate(names):
        current.append(name)
        done += len(tensors[name][2])
        left_names, left_groups = len(names) - i - 1, n - len(groups) - 1
        if left_groups and (left_names == left_groups
                            or done >= total * (len(groups) + 1) / n):
            groups.append(current)
            current = []
    groups.append(current)
    weight_map = {}
    for i, group in enumerate(groups, 1):
        file = shard_name(i, n)
        save_file(os.path.join(directory, file),
                  {k: tensors[k] for k in group}, metadata)
        weight_map.update((k, file) for k in group)
    index = {"metadata": {"total_size": total},
             "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(directory, INDEX_NAME), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


# ------------------------------------------------------------ sample model

def _stream(name, nbytes):
    """Deterministic pseudo-random bytes for a tensor name (SHA-256 in
    counter mode: the same on every platform and numpy version)."""
    out, i = bytearray(), 0
    seed = name.encode("utf-8")
    while len(out) < nbytes:
        out += hashlib.sha256(seed + struct.pack("<Q", i)).digest()
        i += 1
    return bytes(out[:nbytes])


def _sample_bytes(name, dtype, shape):
    count = 1
    for d in shape:
        count *= d
    nbytes = nbytes_of(dtype, shape)
    if dtype == "BOOL":
        return bytes(b & 1 for b in _stream(name, count))
    floats = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "C64": "<f4",
              "BF16": "<f4"}
    if dtype in floats:
        parts = 2 if dtype == "C64" else 1
        u = np.frombuffer(_stream(name, 4 * count * parts), dtype="<u4")
        x = (u.astype(np.float64) / 2.0**32 - 0.5) * 8.0  # [-4, 4)
        if dtype == "BF16":  # truncate F32 to its upper half
            return (x.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()
        return x.astype(floats[dtype]).tobytes()
    return _stream(name, nbytes)  # integers and the F8/F4/F6 bit patterns


def sample_tensors():
    """At least one tensor of every dtype, incl. scalars, a zero-size
    [0, 4], a non-ASCII name and one 1 MiB tensor."""
    spec = [
        ("model.embed_tokens.weight", "F32", [512, 512]),
        ("model.layers.0.attn.q_proj.weight", "BF16", [64, 48]),
        ("model.layers.0.attn.k_proj.weight", "F16", [48, 64]),
        ("model.layers.0.mlp.up.weight", "F64", [7, 3, 5]),
        ("model.layers.0.norm.bias", "F32", [0, 4]),
        ("model.layers.0.scale", "F64", []),
        ("model.layers.1.rope.freqs", "C64", [33]),
        ("model.layers.1.ñorm.weight", "F32", [17]),
        ("quant.f8_e5m2", "F8_E5M2", [16, 9]),
        ("quant.f8_e4m3", "F8_E4M3", [3, 3, 3]),
        ("quant.f8_e8m0", "F8_E8M0", [31]),
        ("quant.f8_e4m3fnuz", "F8_E4M3FNUZ", [2, 40]),
        ("quant.f8_e5m2fnuz", "F8_E5M2FNUZ", [5]),
        ("quant.f4", "F4", [8, 6]),
        ("quant.f6_e2m3", "F6_E2M3", [4, 4]),
        ("quant.f6_e3m2", "F6_E3M2", [12]),
        ("quant.f4.empty", "F4", [0]),
        ("buffers.mask", "BOOL", [9, 11]),
        ("buffers.ids_u8", "U8", [100]),
        ("buffers.ids_i8", "I8", [10, 10]),
        ("buffers.pos_i16", "I16", [13]),
        ("buffers.pos_u16", "U16", [2, 2, 2, 2]),
        ("buffers.step", "I32", []),
        ("buffers.counts_u32", "U32", [3, 7]),
        ("buffers.offsets_i64", "I64", [19]),
        ("buffers.seed_u64", "U64", []),
        ("buffers.empty_i64", "I64", [4, 0, 2]),
    ]
    assert {d for _, d, _ in spec} == set(DTYPES)
    return {name: (dtype, shape, _sample_bytes(name, dtype, shape))
            for name, dtype, shape in spec}


# ------------------------------------------------------------------ CLI

def describe(path):
    """Canonical description: tensors sorted by name with sha256 of their
    bytes, and the merged __metadata__."""
    metadata, tensors = load_model(path)
    return {
        "metadata": dict(sorted(metadata.items())),
        "tensors": [{"name": name, "dtype": t[0], "shape": t[1],
                     "sha256": hashlib.sha256(t[2]).hexdigest()}
                    for name, t in sorted(tensors.items())],
    }


def first_difference(a, b, with_metadata=False):
    """None if the models at a and b hold the same tensors, else a
    sentence."""
    meta_a, ta = load_model(a)
    meta_b, tb = load_model(b)
    for name in sorted(set(ta) | set(tb)):
        if name not in tb:
            return f"{name!r}: only in {a}"
        if name not in ta:
            return f"{name!r}: only in {b}"
        (da, sa, ra), (db, sb, rb) = ta[name], tb[name]
        if da != db:
            return f"{name!r}: dtype {da} in {a}, {db} in {b}"
        if sa != sb:
            return f"{name!r}: shape {sa} in {a}, {sb} in {b}"
        if ra != rb:
            at = next(i for i in range(min(len(ra), len(rb)) + 1)
                      if i == min(len(ra), len(rb)) or ra[i] != rb[i])
            return f"{name!r}: bytes differ from byte {at} on"
    if with_metadata and meta_a != meta_b:
        return f"__metadata__ {meta_a} in {a}, {meta_b} in {b}"
    return None


def cmd_write_sample(args):
    directory, shards, metadata = None, 0, None
    it = iter(args)
    for arg in it:
        if arg == "--sharded":
            shards = int(next(it))
        elif arg == "--metadata":
            key, sep, value = next(it).partition("=")
            if not sep:
                raise SystemExit("stref.py: --metadata wants KEY=VALUE")
            metadata = metadata or {}
            metadata[key] = value
        elif directory is None:
            directory = arg
        else:
            raise SystemExit(f"stref.py: unexpected argument {arg!r}")
    if directory is None:
        raise SystemExit("usage: stref.py write-sample DIR [--sharded N] "
                         "[--metadata k=v]...")
    os.makedirs(directory, exist_ok=True)
    if shards:
        save_sharded(directory, sample_tensors(), shards, metadata)
    else:
        save_file(os.path.join(directory, SINGLE_NAME), sample_tensors(),
                  metadata)
    return 0


def cmd_dump(args):
    print(json.dumps(describe(args[0]), indent=1, ensure_ascii=False))
    return 0


def cmd_compare(args):
    with_metadata = "--metadata" in args
    paths = [a for a in args if a != "--metadata"]
    if len(paths) != 2:
        raise SystemExit("usage: stref.py compare [--metadata] A B")
    diff = first_difference(paths[0], paths[1], with_metadata)
    if diff:
        print(f"stref.py: differ: {diff}")
        return 1
    return 0


def cmd_check(args):
    metadata, tensors = load_model(args[0])
    print(f"{args[0]}: ok, {len(tensors)} tensors, "
          f"{sum(len(t[2]) for t in tensors.values())} bytes")
    return 0


def cmd_selftest(args):
    # The vectors and the hostile-file generator live beside this file.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import selftest  # pylint: disable=import-outside-toplevel
    return selftest.run(here)


COMMANDS = {"write-sample": cmd_write_sample, "dump": cmd_dump,
            "compare": cmd_compare, "check": cmd_check,
            "selftest": cmd_selftest}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS or (
            argv[1] in ("dump", "check") and len(argv) != 3):
        print(__doc__.split("Usage:")[1].split("Where")[0].rstrip(),
              file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[1]](argv[2:])
    except (SafetensorsError, OSError, ValueError) as e:
        print(f"stref.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
