#!/bin/bash
# interop.sh - ckptio's safetensors layout against independent
# implementations: stref.py (Python, written from the specification) and
# Hugging Face's JavaScript reader (@huggingface/hub, npm_interop.mjs).
#
#   1. stref.py selftest (published vectors, hostile files, round trips);
#   2. stref.py writes A (one file) and B (3 shards, __metadata__); ckptio
#      converts each to its native layout and back to safetensors, and the
#      independent reader must find the same tensors, byte for byte;
#   3. ckptio ls / --json ls / verify on safetensors directories;
#   4. every hostile file of make_hostile.py, as DIR/model.safetensors:
#      `ckptio ls DIR` and `ckptio verify DIR` fail naming model.safetensors;
#   5. npm: a file written by npm_interop.mjs through ckptio; ckptio's
#      output read by @huggingface/hub gives the same dump as stref.py.
#
# Nothing is skipped: a missing safetensors plugin, numpy or node is a
# failure.  Env (from make check): CKPTIO_BIN, CKPTIO_PLUGIN_PATH,
# CKPTIO_CONFIG=/dev/null, CKPTIO_SRCDIR.  Installs the pinned npm package
# into tests/safetensors/node_modules (npm ci) when it is not there.

HERE=$(cd "$(dirname "$0")" && pwd)
CKPTIO_SRCDIR=${CKPTIO_SRCDIR:-$(cd "$HERE/../.." && pwd)}
export CKPTIO_CONFIG=${CKPTIO_CONFIG:-/dev/null}
. "$CKPTIO_SRCDIR/tests/cli/lib.sh"

PY=/usr/bin/python3 # Debian's, which has python3-numpy
STREF="$PY $HERE/stref.py"
# ckptio with a time limit: a reader that hangs on a hostile file fails.
ckt() {
	timeout 20 ${CKPTIO_TEST_WRAPPER:-} "$CKPTIO_BIN" "$@"
}

# -- preconditions, failed rather than skipped
if ! "$PY" -c 'import numpy' 2>/dev/null; then
	fail "$PY has no numpy (tools/install-deps.sh installs python3-numpy)"
	finish
fi
if ! command -v node >/dev/null 2>&1; then
	fail "node is not installed"
	finish
fi
# The npm side lives in a directory of the build tree (the source may be
# read-only, as in make distcheck): package files and script copied there,
# the pinned package installed once.
NODE_DIR=${CKPTIO_NODE_DIR:-$TMP/node}
mkdir -p "$NODE_DIR"
cp "$HERE/package.json" "$HERE/package-lock.json" "$HERE/npm_interop.mjs" \
	"$NODE_DIR/"
chmod u+w "$NODE_DIR"/package.json "$NODE_DIR"/package-lock.json \
	"$NODE_DIR"/npm_interop.mjs
if [ ! -d "$NODE_DIR/node_modules/@huggingface/hub" ]; then
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >"$TMP/npm.log" 2>&1 ||
		{ fail "npm ci in $NODE_DIR"; cat "$TMP/npm.log"; finish; }
fi

# 1. the independent reader against its own vectors first
expect_exit 0 $STREF selftest

# 1b. the published files of the reference implementation's tests, read by
# ckptio: converted to native and back, then compared value for value
expect_exit 0 "$PY" -c '
import json, os, sys
d = json.load(open(sys.argv[1]))
for v in d["vectors"]:
    os.makedirs(os.path.join(sys.argv[2], v["name"]))
    with open(os.path.join(sys.argv[2], v["name"], "model.safetensors"), "wb") as f:
        f.write(bytes.fromhex(v["hex"]))
' "$HERE/vectors/good.json" "$TMP/pub"
for v in "$TMP"/pub/*; do
	n=$(basename "$v")
	expect_exit 0 ckt cp --layout native "$v" "$TMP/pubn-$n"
	expect_exit 0 ckt cp --layout safetensors "$TMP/pubn-$n" "$TMP/pubs-$n"
	expect_exit 0 $STREF compare "$v" "$TMP/pubs-$n"
done

# 2. round trips through ckptio's native layout
expect_exit 0 $STREF write-sample "$TMP/A"
expect_exit 0 $STREF write-sample "$TMP/B" --sharded 3 \
	--metadata format=pt --metadata origin=interop.sh
for m in A B; do
	expect_exit 0 ckt cp --layout native "$TMP/$m" "$TMP/N$m"
	expect_exit 0 ckt cp --layout safetensors "$TMP/N$m" "$TMP/S$m"
	expect_exit 0 $STREF check "$TMP/S$m"
	expect_exit 0 $STREF compare "$TMP/$m" "$TMP/S$m"
	# straight from safetensors to safetensors
	expect_exit 0 ckt cp --layout safetensors "$TMP/$m" "$TMP/D$m"
	expect_exit 0 $STREF compare "$TMP/$m" "$TMP/D$m"
done
expect_exit 0 $STREF check "$TMP/SA/model.safetensors"
# ckptio's own shards (a backend with a 64 KiB shard_size), read by stref
printf '[backend "hf"]\nstore = posix\nroot = %s\nlayout = safetensors\nshard_size = 64KiB\n' \
	"$TMP" >"$TMP/hf.conf"
expect_exit 0 ckt --config "$TMP/hf.conf" cp "$TMP/NB" hf:SH
expect_exit 0 $STREF check "$TMP/SH"
expect_exit 0 $STREF compare "$TMP/B" "$TMP/SH"

# 3. listing and verifying safetensors directories
# A and B (written by stref.py) have no checksums: verify reads every byte
# and checks the structure, then says it cannot vouch for the content
# (exit 1); SA and SB (written by ckptio) carry CRC32Cs and verify.
for d in A B; do
	expect_exit 1 ckt verify "$TMP/$d"
	expect_stderr_contains "have no checksum"
done
for d in SA SB; do
	expect_exit 0 ckt verify "$TMP/$d"
done
for d in A B SA SB; do
	expect_exit 0 ckt ls "$TMP/$d"
	expect_stdout_contains "model.layers.1.ñorm.weight"
	expect_stdout_contains "FILE"
done
expect_exit 0 ckt ls "$TMP/SA"
expect_stdout_contains "  model.safetensors"
expect_exit 0 ckt --json ls "$TMP/SH"
expect_json 'len(set(i["file"] for i in d["items"])) > 1 and all(i["file"].endswith(".safetensors") and i["file"].startswith("model-") for i in d["items"])'
expect_exit 0 ckt --json ls "$TMP/B"
expect_json '"model.layers.0.scale" in json.dumps(d, ensure_ascii=False) and "quant.f6_e3m2" in json.dumps(d)'

# 4. hostile files: refused, naming the file
expect_exit 0 "$PY" "$HERE/make_hostile.py" "$TMP/hostile"
while IFS="$(printf '\t')" read -r name why; do
	dir=$TMP/h/$name
	mkdir -p "$dir"
	cp "$TMP/hostile/$name.safetensors" "$dir/model.safetensors"
	for cmd in ls verify; do
		ckt "$cmd" "$dir" >"$OUT" 2>"$ERR"
		got=$?
		if [ "$got" -eq 0 ] || [ "$got" -ge 124 ]; then
			fail "ckptio $cmd accepted or crashed on $name ($why): exit $got"
			show_output
		elif ! grep -qF "model.safetensors" "$ERR"; then
			fail "ckptio $cmd on $name ($why): message does not name model.safetensors"
			show_output
		else
			pass "ckptio $cmd refuses $name"
		fi
	done
done <"$TMP/hostile/MANIFEST"

# 5. the npm side
NPM="node $NODE_DIR/npm_interop.mjs"
mkdir -p "$TMP/J"
expect_exit 0 $NPM write "$TMP/J/model.safetensors"
expect_exit 0 $STREF check "$TMP/J"
expect_exit 0 ckt cp --layout native "$TMP/J" "$TMP/NJ"
expect_exit 0 ckt cp --layout safetensors "$TMP/NJ" "$TMP/SJ"
expect_exit 0 $STREF compare "$TMP/J" "$TMP/SJ"
for d in A B SA SB; do
	$NPM dump "$TMP/$d" >"$TMP/npm.json" 2>"$ERR" ||
		{ fail "npm reader on $d: $(cat "$ERR")"; continue; }
	$STREF dump "$TMP/$d" >"$TMP/stref.json" 2>"$ERR" ||
		{ fail "stref dump $d: $(cat "$ERR")"; continue; }
	if cmp -s "$TMP/npm.json" "$TMP/stref.json"; then
		pass "npm and stref dumps of $d agree"
	else
		fail "npm and stref dumps of $d differ"
		diff "$TMP/npm.json" "$TMP/stref.json" | head -20
	fi
done

finish
