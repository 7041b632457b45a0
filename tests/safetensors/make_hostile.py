#!/usr/bin/python3
"""make_hostile.py DIR - write the hostile safetensors files, one per
violation, as DIR/NAME.safetensors, and DIR/MANIFEST (NAME<TAB>why per
line).  Every one must be rejected by a strict reader (stref.py selftest,
and ckptio through tests/safetensors/interop.sh).  Generated at test time
so that no binary is committed; the bytes are fixed by this file.

Cases named rust_* are the reference implementation's own rejection tests
(huggingface/safetensors safetensors/src/tensor.rs, commit 24b0b28).
"""

import os
import struct
import sys

Z16 = b"\0" * 16


def raw(header_text, buffer=b"", n=None):
    """8-byte length (n, or the header's real length), header, buffer."""
    head = header_text.encode("utf-8") if isinstance(header_text, str) \
        else header_text
    length = len(head) if n is None else n
    return struct.pack("<Q", length) + head + buffer


def padded(header_obj_text, buffer=b""):
    """Like a writer: header padded with spaces to a multiple of 8."""
    head = header_obj_text.encode("utf-8") \
        if isinstance(header_obj_text, str) else header_obj_text
    head += b" " * (-len(head) % 8)
    return raw(head, buffer)


def one(dtype="I32", shape="[2,2]", offsets="[0,16]", name="test"):
    return ('{"%s":{"dtype":"%s","shape":%s,"data_offsets":%s}}'
            % (name, dtype, shape, offsets))


GOOD = padded(one(), Z16)  # a valid file the truncations start from
TWO = ('{"a":{"dtype":"F32","shape":[4],"data_offsets":%s},'
       '"b":{"dtype":"F32","shape":[4],"data_offsets":%s}}')


def cases():
    """[(name, why, bytes)]"""
    json_attack = "{%s}" % ",".join(
        '"weight_%d":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}' % i
        for i in range(10))
    return [
        # -- the reference implementation's rejection tests
        ("rust_header_too_small", "empty file (HeaderTooSmall)", b""),
        ("rust_invalid_header_length",
         "header length 60, file ends after the length (InvalidHeaderLength)",
         b"<\0\0\0\0\0\0\0"),
        ("rust_header_too_large",
         "header length 0xffffff0000003c (HeaderTooLarge)",
         b"<\0\0\0\0\xff\xff\xff" + one().encode() + Z16),
        ("rust_non_utf8", "header byte 0xff (InvalidHeader)",
         b"\x01\0\0\0\0\0\0\0\xff"),
        ("non_utf8_name", "tensor name with byte 0xff (not UTF-8)",
         padded(b'{"\xff":{"dtype":"I32","shape":[4],'
                b'"data_offsets":[0,16]}}', Z16)),
        ("rust_not_json", "header is '{' alone (InvalidHeaderDeserialization)",
         b"\x01\0\0\0\0\0\0\0{"),
        ("rust_json_attack", "10 tensors all at [0,16] (InvalidOffset)",
         raw(json_attack, Z16)),
        ("rust_incomplete_buffer_extra",
         "34 bytes after the last tensor (MetadataIncompleteBuffer)",
         raw(one(), Z16 + b"extra_bogus_data_for_polyglot_file")),
        ("rust_incomplete_buffer_missing",
         "buffer 2 bytes short (MetadataIncompleteBuffer)",
         raw(one(), Z16[:14])),
        ("rust_invalid_info", "I32 [2,2] in 4 bytes (TensorInvalidInfo)",
         raw(one(offsets="[0, 4]"), b"\0" * 4)),
        ("rust_overflow_shape", "shape product overflows u64",
         raw(one(shape="[2,18446744073709551614]"), Z16)),
        ("rust_overflow_bits", "elements x 4 bytes overflows u64",
         raw(one(shape="[2,9223372036854775807]"), Z16)),
        ("rust_fp4_misaligned", "F4 [1,3]: 12 bits, not whole bytes",
         padded(one("F4", "[1,3]", "[0,2]"), b"\0\1")),
        ("rust_fp4_invalid", "F4 [1,2] (1 byte) given 2 bytes",
         padded(one("F4", "[1,2]", "[0,2]"), b"\0\1")),
        ("rust_leading_whitespace",
         "header starts with '\\t\\n' (the README: MUST begin with '{'; "
         "the Rust reader accepts it since #686)",
         b"\x06\0\0\0\0\0\0\0\x09\x0a{}\x0d\x20"),
        # -- the test plan's list
        ("truncated", "a valid file cut in the middle of its data",
         GOOD[:len(GOOD) - 5]),
        ("truncated_in_length", "file of 5 bytes", GOOD[:5]),
        ("header_past_eof", "header length 4096 in a file of 96 bytes",
         struct.pack("<Q", 4096) + GOOD[8:]),
        ("header_len_max_u64", "header length 2^64-1",
         struct.pack("<Q", 2**64 - 1) + GOOD[8:]),
        ("header_len_100000001",
         "header length 100,000,001 claimed (limit 100,000,000)",
         struct.pack("<Q", 100_000_001) + GOOD[8:]),
        ("not_json", "header is not JSON", padded("{this is not json}")),
        ("not_json_nan", "NaN in the header (not JSON)",
         padded('{"__metadata__":{"a":"b"},"x":NaN}')),
        ("not_object", "header is a JSON array", padded("[]")),
        ("no_brace", "header starts with a space",
         raw(b" " + one().encode(), Z16)),
        ("header_not_closed", "header cut before its closing brace",
         raw(one()[:-1], Z16)),
        ("offsets_out_of_bounds", "end offset 1024 in a 16-byte buffer",
         padded(one(shape="[256]", offsets="[0,1024]"), Z16)),
        ("offsets_overlap", "b starts inside a",
         padded(TWO % ("[0,16]", "[8,24]"), b"\0" * 24)),
        ("offsets_gap", "4 unused bytes between a and b",
         padded(TWO % ("[0,16]", "[20,36]"), b"\0" * 36)),
        ("offsets_reversed", "end before begin",
         padded(one(offsets="[16,0]"), Z16)),
        ("offsets_three", "data_offsets with three entries",
         padded(one(offsets="[0,8,16]"), Z16)),
        ("offsets_negative", "data_offsets [-16,0]",
         padded(one(offsets="[-16,0]"), Z16)),
        ("trailing_bytes", "8 bytes after the last tensor",
         GOOD + b"\0" * 8),
        ("size_mismatch", "F32 [3,3] (36 bytes) given 32",
         padded(one("F32", "[3,3]", "[0,32]"), b"\0" * 32)),
        ("duplicate_name", "tensor 'a' twice",
         padded(TWO.replace('"b"', '"a"') % ("[0,16]", "[16,32]"),
                b"\0" * 32)),
        ("duplicate_field", "'dtype' twice in one tensor",
         padded('{"t":{"dtype":"I32","dtype":"I32","shape":[4],'
                '"data_offsets":[0,16]}}', Z16)),
        ("unknown_dtype", "dtype 'F128'",
         padded(one("F128", "[1]", "[0,16]"), Z16)),
        ("lowercase_dtype", "dtype 'f32' (names are upper case)",
         padded(one("f32", "[4]", "[0,16]"), Z16)),
        ("metadata_int_value", "__metadata__ value is a number",
         padded('{"__metadata__":{"step":100}}')),
        ("metadata_object_value", "__metadata__ value is an object",
         padded('{"__metadata__":{"a":{"b":"c"}}}')),
        ("metadata_not_object", "__metadata__ is a string",
         padded('{"__metadata__":"pt"}')),
        ("f4_odd_count", "F4 [3]: 12 bits, not whole bytes",
         padded(one("F4", "[3]", "[0,2]"), b"\0\0")),
        ("f6_not_whole", "F6_E2M3 [2]: 12 bits, not whole bytes",
         padded(one("F6_E2M3", "[2]", "[0,2]"), b"\0\0")),
        ("shape_negative", "shape [-1,4]",
         padded(one(shape="[-1,4]", offsets="[0,16]"), Z16)),
        ("shape_float", "shape [2.0,2]",
         padded(one(shape="[2.0,2]"), Z16)),
        ("shape_string", 'shape ["2",2]',
         padded(one(shape='["2",2]'), Z16)),
        ("shape_bool", "shape [true,4] (JSON true is not a number)",
         padded(one(shape="[true,4]", offsets="[0,16]"), Z16)),
        ("shape_not_list", "shape 4",
         padded(one(shape="4", offsets="[0,16]"), Z16)),
        ("missing_dtype", "tensor without dtype",
         padded('{"t":{"shape":[4],"data_offsets":[0,16]}}', Z16)),
        ("tensor_not_object", "tensor entry is a list",
         padded('{"t":[1,2,3]}')),
    ]


def main(argv):
    if len(argv) != 2:
        print("usage: make_hostile.py DIR", file=sys.stderr)
        return 2
    os.makedirs(argv[1], exist_ok=True)
    with open(os.path.join(argv[1], "MANIFEST"), "w") as manifest:
        for name, why, data in cases():
            with open(os.path.join(argv[1], name + ".safetensors"),
                      "wb") as f:
                f.write(data)
            manifest.write(f"{name}\t{why}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
