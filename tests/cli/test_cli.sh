#!/bin/bash
# test_cli.sh - end-to-end tests of the `ckptio` command over the posix
# store: help and usage errors, plugins and their trust rules, bench, ls,
# verify (and corruption detection), cp, overwrite rules, rm, configured
# backends, config redaction and errors, escaping of untrusted text, JSON
# output, progress bar and Ctrl-C.

. "$(dirname "$0")/lib.sh"

DATA=$TMP/data
CK=$DATA/ck

# Print the path of the largest data object (*.ckd) under $1.
largest_ckd() {
	find "$1" -name '*.ckd' -type f -printf '%s %p\n' | sort -n |
		tail -n 1 | cut -d' ' -f2-
}

# Invert the byte in the middle of file $1.
flip_middle_byte() {
	"$PY" - "$1" <<'PYEOF'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(n // 2)
    b = f.read(1)
    f.seek(n // 2)
    f.write(bytes([b[0] ^ 0xFF]))
PYEOF
}

# ------------------------------------------------------------------ help
test_help() {
	local c

	expect_exit 0 ck --help && expect_stdout_contains "Usage: ckptio"
	expect_stdout_contains "130"
	expect_exit 0 ck --version && expect_stdout_contains "ckptio 0."
	for c in plugins ls cp verify rm bench config; do
		expect_exit 0 ck "$c" --help &&
			expect_stdout_contains "Usage: ckptio $c" &&
			expect_stdout_contains "Example"
	done
	expect_exit 0 ck help rm && expect_stdout_contains "Usage: ckptio rm"
	# Help needs no valid configuration.
	printf '[ckptio]\nnonsense = 1\n' >"$TMP/broken.conf"
	expect_exit 0 ck --config "$TMP/broken.conf" ls --help
}

test_usage_errors() {
	expect_exit 2 ck frobnicate && expect_stderr_contains "frobnicate"
	expect_exit 2 ck
	expect_exit 2 ck --bogus-global ls
	expect_exit 2 ck ls --bogus && expect_stderr_contains "ckptio ls --help"
	# A global option after the command: a usage error that says where
	# it goes.
	expect_exit 2 ck ls --json "$TMP" &&
		expect_stderr_contains "ckptio --json ls"
	expect_exit 2 ck ls
	expect_exit 2 ck ls a b
	expect_exit 2 ck cp onlyone
	expect_exit 2 ck bench "$TMP/x" --size 12parsecs
	expect_exit 2 ck bench "$TMP/x" --size 1KiB --tensors 20
	expect_exit 2 ck bench "$TMP/x" --tensors 0
	expect_exit 2 ck verify --threads many "$TMP/x"
}

# --------------------------------------------------------------- plugins
test_plugins() {
	expect_exit 0 ck plugins && expect_stdout_line 'posix +store .*'
	expect_exit 0 ck --json plugins &&
		expect_json '"posix" in [p["name"] for p in d["plugins"]]'
}

# Only files that root or the user alone control are loaded: a relative
# plugin_path means the config file's directory (never the current one),
# and a plugin in a world-writable place, writable by others or owned by
# someone else is refused before it is mapped.  The marker "plugin"'s
# constructor creates $CKPTIO_TEST_MARKER: that file must never appear.
test_plugin_trust() {
	local t=$TMP/trust m=$TMP/trust/ran open=$TMP/trust/open
	local own=$TMP/trust/own marker=$CKPTIO_TEST_PLUGINS/marker.so

	mkdir -p "$t/work/plugins" "$t/conf" "$open" "$own" || return
	cp "$marker" "$t/work/posix.so" && cp "$marker" "$t/work/plugins/posix.so"
	printf '[ckptio]\nplugin_path = .:plugins\n' >"$t/conf/c.conf"
	export CKPTIO_TEST_MARKER=$m
	cd "$t/work" || return
	CKPTIO_PLUGIN_PATH= expect_exit 5 ck --config "$t/conf/c.conf" \
		ls "$t/nothing" &&
		expect_stderr_contains "searched posix.so in: $t/conf, $t/conf/plugins, "
	CKPTIO_PLUGIN_PATH= expect_exit 0 ck --config "$t/conf/c.conf" plugins
	expect_exit 0 ck --config "$t/conf/c.conf" config &&
		expect_stdout_contains "plugin_path = $t/conf:$t/conf/plugins"
	CKPTIO_PLUGIN_PATH=plugins expect_exit 5 ck plugins &&
		expect_stderr_contains "'plugins' is a relative directory"
	cd - >/dev/null || return
	[ -e "$m" ] && fail "a posix.so of the current directory was loaded" ||
		pass "nothing loaded from the current directory"
	# A world-writable directory; a file others may write; a file owned
	# by another user (root can make one).
	cp "$marker" "$open/evil.so" && chmod 777 "$open"
	cp "$marker" "$own/wide.so" && chmod 666 "$own/wide.so"
	CKPTIO_PLUGIN_PATH=$open:$own:$CKPTIO_PLUGIN_PATH expect_exit 0 ck plugins &&
		expect_stdout_line 'posix +store .*'
	expect_stderr_contains "refusing to load $open/evil.so: its directory $open is writable by everyone (mode 0777)"
	expect_stderr_contains "refusing to load $own/wide.so: the file is writable by everyone (mode 0666)"
	if [ "$(id -u)" -eq 0 ]; then
		cp "$marker" "$own/theirs.so" && chown 65534 "$own/theirs.so"
		CKPTIO_PLUGIN_PATH=$own expect_exit 0 ck plugins &&
			expect_stderr_contains "refusing to load $own/theirs.so: the file is owned by uid 65534"
	fi
	[ -e "$m" ] && fail "a refused plugin was loaded" ||
		pass "no refused plugin was loaded"
	unset CKPTIO_TEST_MARKER
}

# ------------------------------------------------------- bench, ls, verify
test_bench() {
	mkdir -p "$DATA"
	expect_exit 0 ck bench "$CK" --size 64MiB --tensors 20 --keep || return
	expect_stdout_line 'save: [0-9.]+ GiB in [0-9.]+ s = [0-9.]+ GB/s, [0-9.]+ CPU s/GB'
	expect_stdout_line 'load: [0-9.]+ GiB in [0-9.]+ s = [0-9.]+ GB/s, [0-9.]+ CPU s/GB'
	# stderr is not a terminal: no progress bar at all.
	if grep -q $'\r' "$ERR"; then
		fail "progress bar drawn although stderr is not a terminal"
	else
		pass "no progress bar when piped"
	fi
	[ -f "$CK/.metadata.json" ] && pass "metadata committed" ||
		fail "no $CK/.metadata.json"
}

test_ls() {
	expect_exit 0 ck ls "$CK" || return
	expect_stdout_line 'items: +23'
	expect_stdout_line 'layout: +native'
	expect_stdout_line 'world: +1'
	expect_stdout_line 'model\.layers\.0\.self_attn\.q_proj\.weight +tensor +F32 +\[[0-9]+, [0-9]+\] +[0-9]+ +[0-9]+'
	expect_stdout_line 'rng_state +bytes +- +- +5000 +[0-9]+'
	expect_exit 0 ck --json ls "$CK" &&
		expect_json 'd["item_count"] == 23 and len(d["items"]) == 23 and d["bytes"] == sum(i["bytes"] for i in d["items"]) and all(i["shape"][1] % 64 == 0 for i in d["items"] if i["kind"] == "tensor")'
	expect_json '{i["dtype"] for i in d["items"]} == {"F32", "BF16", None}'
	expect_exit 0 ck ls "$DATA" && expect_stdout_line 'ck'
	expect_exit 0 ck --json ls "$DATA" && expect_json 'd["checkpoints"] == ["ck"]'
	expect_exit 3 ck ls "$TMP/nothing-here"
	expect_exit 3 ck --json ls "$TMP/nothing-here" &&
		expect_json 'd["error"]["exit"] == 3'
}

test_verify() {
	expect_exit 0 ck verify "$CK" &&
		expect_stdout_line 'OK: 23 items, [0-9]+ bytes verified'
	expect_exit 0 ck --json verify "$CK" &&
		expect_json 'd["ok"] is True and d["items"] == 23'
}

# --------------------------------------------------------------------- cp
test_cp() {
	expect_exit 0 ck cp "$CK" "$TMP/copy/ck" || return
	expect_exit 0 ck verify "$TMP/copy/ck" &&
		expect_stdout_contains "OK: 23 items"
	expect_exit 6 ck cp "$CK" "$TMP/copy/ck" &&
		expect_stderr_contains "--overwrite"
	expect_exit 0 ck --json cp --overwrite "$CK" "$TMP/copy/ck" &&
		expect_json 'd["items"] == 23'
	expect_exit 3 ck cp "$TMP/nothing-here" "$TMP/copy/x"
}

# ------------------------------------------------------------- verify in pieces
# A chunk larger than verify's 64 MiB reads is read in pieces whose CRCs
# are combined: it verifies, and a byte flipped in its second piece (at
# 7/8 of an 80 MiB tensor) is caught.
test_verify_pieces() {
	local ck=$TMP/pieces/ck f

	expect_exit 0 ck bench "$ck" --size 80MiB --tensors 1 --keep || return
	expect_exit 0 ck verify "$ck" || return
	f=$(largest_ckd "$ck")
	"$PY" - "$f" <<'PYEOF'
import os, sys
p = sys.argv[1]
at = os.path.getsize(p) * 7 // 8
with open(p, "r+b") as f:
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 0x01]))
PYEOF
	expect_exit 4 ck verify "$ck" && expect_stderr_contains "$(basename "$f")"
	rm -rf "$TMP/pieces"
}

# ------------------------------------------------------------- corruption
test_corruption() {
	local bad=$TMP/bad/ck f obj

	expect_exit 0 ck cp "$CK" "$bad" || return
	f=$(largest_ckd "$bad")
	if [ -z "$f" ]; then
		fail "no *.ckd data object under $bad"
		return
	fi
	flip_middle_byte "$f"
	obj=$(basename "$f")
	expect_exit 4 ck verify "$bad" || return
	expect_stderr_contains "ckptio: verify: "
	expect_stderr_contains "$obj"
	if grep -qE 'model\.layers\.[0-9]+\.[a-z_.]+weight' "$ERR"; then
		pass "verify names the item"
	else
		fail "verify does not name the item"
		show_output
	fi
	expect_exit 4 ck --json verify "$bad" &&
		expect_json 'd["error"]["exit"] == 4'
	# A copy checks every CRC32C as it reads, and leaves no checkpoint.
	expect_exit 4 ck cp "$bad" "$TMP/bad/copy" &&
		expect_stderr_contains "$obj"
	expect_exit 3 ck ls "$TMP/bad/copy"
	# The same for small items read in batches (200 of about 10 KiB) and
	# for one large item streamed in pieces (24 MiB).
	cp_corrupt "$TMP/bad/small" 2MiB 200
	cp_corrupt "$TMP/bad/large" 24MiB 1
}

# cp_corrupt DIR SIZE TENSORS: a checkpoint with one flipped byte does not
# copy.
cp_corrupt() {
	local f

	expect_exit 0 ck bench "$1/ck" --size "$2" --tensors "$3" --keep || return
	expect_exit 0 ck cp "$1/ck" "$1/good" || return
	f=$(largest_ckd "$1/ck")
	flip_middle_byte "$f"
	expect_exit 4 ck cp "$1/ck" "$1/copy" &&
		expect_stderr_contains "fails its CRC32C check"
	expect_exit 3 ck ls "$1/copy"
}

# ------------------------------------------------------------- checksums
# edit_md FILE EXPR: rewrite the JSON metadata FILE with the Python
# statement EXPR applied to it as `d` (version 2, docs/metadata.md: an
# item is [name, dtype, shape, chunks], a chunk [object, offset, length,
# crc32c, ...]).
edit_md() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
exec(sys.argv[2])
json.dump(d, open(p, "w"))
PYEOF
}

# A chunk without a CRC32C is refused (exit 4) unless the metadata says
# its layout keeps none; then verify reads everything but fails (exit 1)
# rather than print OK.
test_checksums() {
	local ck=$TMP/sums/ck

	[ -n "$PY" ] || return 0
	expect_exit 0 ck cp "$CK" "$ck" || return
	edit_md "$ck/.metadata.json" 'd["items"][0][3][0][3] = None'
	expect_exit 4 ck verify "$ck" &&
		expect_stderr_contains "has no crc32c"
	edit_md "$ck/.metadata.json" 'd["attrs"]["ckptio.checksum"] = "none"'
	expect_exit 1 ck verify "$ck" &&
		expect_stderr_contains "1 of 23 chunks have no checksum"
	expect_stdout_lacks "OK"
	expect_exit 0 ck cp "$ck" "$TMP/sums/copy" &&
		expect_exit 0 ck verify "$TMP/sums/copy"
}

# ---------------------------------------------------------------- dtypes
DTYPES="F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL F8_E4M3 F8_E5M2 U16 U32 U64
F8_E8M0 F8_E4M3FNUZ F8_E5M2FNUZ C64 F4 F6_E2M3 F6_E3M2"

bits_of() {
	case $1 in
	F4) echo 4 ;;
	F6_*) echo 6 ;;
	*8 | BOOL | F8_*) echo 8 ;;
	*16) echo 16 ;;
	*32) echo 32 ;;
	*64) echo 64 ;;
	esac
}

# make_dtypes_ckpt DIR: a native checkpoint written by hand, version 2
# (docs/metadata.md): "t_<DTYPE>" [3, 8] of each of the 22 dtypes in one
# chunk, and "split_F4" [4, 6] in two chunks of two rows.
make_dtypes_ckpt() {
	"$PY" - "$1" $DTYPES <<'PYEOF'
import json, os, sys
BITS = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16, "I64": 64, "I32": 32,
        "I16": 16, "I8": 8, "U8": 8, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8,
        "U16": 16, "U32": 32, "U64": 64, "F8_E8M0": 8, "F8_E4M3FNUZ": 8,
        "F8_E5M2FNUZ": 8, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}
def crc32c(b):
    crc = 0xFFFFFFFF
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF
d, names = sys.argv[1], sys.argv[2:]
assert sorted(names) == sorted(BITS), "the dtype list and BITS differ"
os.makedirs(d)
data, items = bytearray(), []
def chunk(n, extra=()):
    b = bytes((len(data) + i * 7) % 251 for i in range(n))
    c = [0, len(data), n, crc32c(b)] + list(extra)
    data.extend(b)
    return c
for name in names:
    items.append(["t_" + name, name, [3, 8], [chunk(24 * BITS[name] // 8)]])
items.append(["split_F4", "F4", [4, 6], [chunk(6, ([0, 0], [2, 6])),
                                         chunk(6, ([2, 0], [2, 6]))]])
items.sort(key=lambda i: i[0].encode())
open(os.path.join(d, "__0_0.dtypes.ckd"), "wb").write(data)
json.dump({"format": "ckptio", "version": 2, "layout": "native", "world": 1,
           "objects": ["__0_0.dtypes.ckd"], "items": items},
          open(os.path.join(d, ".metadata.json"), "w"))
PYEOF
}

# Every dtype prints by name in ls (text and JSON), verifies and copies;
# a chunk length that does not match an F4 shape is refused naming it.
test_dtypes() {
	local ck=$TMP/dtypes/ck list dt

	[ -n "$PY" ] || return 0
	list=$(echo $DTYPES)
	make_dtypes_ckpt "$ck" || { fail "cannot write $ck"; return; }
	expect_exit 0 ck ls "$ck" || return
	expect_stdout_line 'items: +23'
	for dt in $DTYPES; do
		expect_stdout_line "t_$dt +tensor +$dt +\[3, 8\] +$((24 * $(bits_of "$dt") / 8)) +1"
	done
	expect_stdout_line 'split_F4 +tensor +F4 +\[4, 6\] +12 +2'
	# The columns stay aligned past the longest dtype name.
	if awk '/^NAME /{h = index($0, "SHAPE")}
		/^t_F8_E4M3FNUZ /{r = index($0, "[")}
		END {exit !(h && h == r)}' "$OUT"; then
		pass "ls columns aligned"
	else
		fail "ls columns not aligned after F8_E4M3FNUZ"
		show_output
	fi
	expect_exit 0 ck --json ls "$ck" &&
		expect_json "{i['dtype'] for i in d['items']} == set('$list'.split()) and len(set('$list'.split())) == 22"
	expect_exit 0 ck verify "$ck" &&
		expect_stdout_line 'OK: 23 items, 1500 bytes verified'
	expect_exit 0 ck cp "$ck" "$TMP/dtypes/copy" || return
	expect_exit 0 ck verify "$TMP/dtypes/copy"
	expect_exit 0 ck ls "$TMP/dtypes/copy" &&
		expect_stdout_line 'split_F4 +tensor +F4 +\[4, 6\] +12 +1'
	edit_md "$ck/.metadata.json" \
		'[i for i in d["items"] if i[0] == "t_F4"][0][3][0][2] = 13'
	expect_exit 4 ck verify "$ck" &&
		expect_stderr_contains "item 't_F4': chunk length 13 does not match its shape and dtype (expected 12)"
}

# ------------------------------------------ links and special files
# ckt ARGS...: ckptio under `timeout 20`, so that a hang (a FIFO used to
# block verify, cp and the config loader forever) fails instead of
# stalling the suite.
ckt() {
	timeout 20 ${CKPTIO_TEST_WRAPPER:-} "$CKPTIO_BIN" "$@"
}

test_links_and_fifos() {
	local d=$TMP/links ck=$TMP/links/ck out=$TMP/outside f obj conf

	expect_exit 0 ck cp "$CK" "$ck" || return
	mkdir -p "$out"
	f=$(largest_ckd "$ck")
	obj=$(basename "$f")
	# A data object that links to a file outside the store root.
	mv "$f" "$out/$obj" && ln -s "$out/$obj" "$f"
	expect_exit 4 ckt verify "$ck" &&
		expect_stderr_contains "$obj: refused: a symbolic link"
	expect_exit 4 ckt cp "$ck" "$d/copy" && expect_stderr_contains "$obj"
	expect_exit 3 ck ls "$d/copy"
	# A FIFO as data object.
	rm "$f" && mkfifo "$f"
	expect_exit 4 ckt verify "$ck" &&
		expect_stderr_contains "$obj: not a regular file (a FIFO)"
	expect_exit 4 ckt cp "$ck" "$d/copy" &&
		expect_stderr_contains "$obj: not a regular file (a FIFO)"
	rm "$f" && mv "$out/$obj" "$f"
	expect_exit 0 ckt verify "$ck"
	# The metadata as a link, then as a FIFO.
	mv "$ck/.metadata.json" "$out/md.json"
	ln -s "$out/md.json" "$ck/.metadata.json"
	expect_exit 4 ckt verify "$ck" &&
		expect_stderr_contains "ck/.metadata.json: refused: a symbolic link"
	expect_exit 4 ckt ls "$ck"
	rm "$ck/.metadata.json" && mkfifo "$ck/.metadata.json"
	expect_exit 4 ckt verify "$ck" &&
		expect_stderr_contains ".metadata.json: not a regular file (a FIFO)"
	expect_exit 4 ckt cp "$ck" "$d/copy"
	rm "$ck/.metadata.json" && mv "$out/md.json" "$ck/.metadata.json"
	# model.safetensors (another layout's commit key) as a link or a FIFO
	# where no checkpoint is: ls says why it is not read, and rm, which
	# finds no checkpoint, leaves the file alone.
	mkdir -p "$d/st1" "$d/st2"
	ln -s "$out/md.json" "$d/st1/model.safetensors"
	mkfifo "$d/st2/model.safetensors"
	expect_exit 4 ckt ls "$d/st1" &&
		expect_stderr_contains "st1/model.safetensors: refused: a symbolic link"
	expect_exit 4 ckt ls "$d/st2" &&
		expect_stderr_contains "st2/model.safetensors: not a regular file (a FIFO)"
	expect_exit 3 ckt rm "$d/st1"
	expect_exit 3 ckt rm "$d/st2"
	[ -L "$d/st1/model.safetensors" ] && [ -p "$d/st2/model.safetensors" ] &&
		pass "rm left the link and the FIFO" ||
		fail "rm removed a model.safetensors that was a link or a FIFO"
	# A linked directory in a backend's checkpoint path.
	mkdir -p "$d/root" && mv "$ck" "$out/ck" && ln -s "$out" "$d/root/a"
	conf=$TMP/links.conf
	printf '[backend "t"]\nstore = posix\nroot = %s\n' "$d/root" >"$conf"
	expect_exit 4 ckt --config "$conf" verify t:a/ck &&
		expect_stderr_contains "a/ck/.metadata.json: refused: a symbolic link"
	expect_exit 4 ckt --config "$conf" cp "$CK" t:a/new &&
		expect_stderr_contains "symbolic link"
	[ ! -e "$out/new" ] && pass "nothing written through the link" ||
		fail "cp wrote through a linked directory: $out/new"
	expect_exit 0 ckt verify "$out/ck"
	# A FIFO as the configuration file, named or from the environment.
	mkfifo "$TMP/fifo.conf"
	expect_exit 5 ckt --config "$TMP/fifo.conf" ls "$TMP" &&
		expect_stderr_contains "$TMP/fifo.conf is not a regular file (a FIFO)"
	CKPTIO_CONFIG=$TMP/fifo.conf expect_exit 5 ckt ls "$TMP" &&
		expect_stderr_contains "is not a regular file (a FIFO)"
}

# ------------------------------------------------------ overwrite, rm
test_overwrite() {
	expect_exit 6 ck bench "$CK" --size 16MiB --tensors 8 --keep
	expect_exit 0 ck ls "$CK" && expect_stdout_line 'items: +23'
	expect_exit 0 ck bench "$CK" --size 16MiB --tensors 8 --keep \
		--overwrite
	expect_exit 0 ck ls "$CK" && expect_stdout_line 'items: +11'
}

test_rm() {
	expect_exit 0 ck rm "$CK" || return
	expect_exit 3 ck ls "$CK"
	expect_exit 3 ck verify "$CK"
	expect_exit 3 ck rm "$CK"
	expect_exit 0 ck --json rm "$TMP/copy/ck" && expect_json 'd["ok"]'
}

# rm and gc touch only the layout's objects; a directory that is not a
# checkpoint is refused, dotfiles and all.
test_rm_only_ours() {
	local d=$TMP/notack f left

	mkdir -p "$d/sub"
	for f in notes.txt .bashrc .metadata.json.bak __0_0.ckd \
		__x_1.ab.ckd sub/__0_0.abc.ckd; do
		echo "the user's" >"$d/$f"
	done
	echo debris >"$d/__0_3.c0ffee.ckd"
	echo debris >"$d/.__0_4.c0ffee.ckd.tmp.99.0000cafe"
	expect_exit 3 ck rm "$d" &&
		expect_stderr_contains "no checkpoint here" &&
		expect_stderr_contains "2 objects of failed saves"
	left=$(find "$d" -type f | wc -l)
	if [ "$left" -eq 8 ]; then
		pass "rm of a directory without a checkpoint removed nothing"
	else
		fail "rm of a directory without a checkpoint: $left of 8 left"
	fi
	expect_exit 3 ck ls "$d" &&
		expect_stderr_contains "2 objects" &&
		expect_stderr_contains "rm --gc"
	expect_exit 0 ck rm --gc --dry-run "$d" &&
		expect_stdout_contains "would collect garbage of" &&
		expect_stdout_contains ": 2 objects"
	expect_exit 0 ck rm --gc "$d" &&
		expect_stdout_contains ": 2 objects" &&
		expect_stdout_contains "left alone 5 objects"
	for f in notes.txt .bashrc .metadata.json.bak __0_0.ckd \
		__x_1.ab.ckd sub/__0_0.abc.ckd; do
		if [ -f "$d/$f" ]; then
			pass "gc kept $f"
		else
			fail "gc removed the user's $f"
		fi
	done
	if [ ! -e "$d/__0_3.c0ffee.ckd" ] &&
		[ ! -e "$d/.__0_4.c0ffee.ckd.tmp.99.0000cafe" ]; then
		pass "gc removed the debris"
	else
		fail "gc left debris"
	fi
	# A checkpoint with the user's files beside it: rm takes only its own.
	expect_exit 0 ck bench "$d" --size 1MiB --tensors 4 --keep >/dev/null
	expect_exit 0 ck rm "$d"
	left=$(find "$d" -type f | wc -l)
	if [ "$left" -eq 6 ] && [ -f "$d/.bashrc" ]; then
		pass "rm of a checkpoint left the user's 6 files"
	else
		fail "rm of a checkpoint: $left files left, want the user's 6"
		find "$d" | sed 's/^/  | /'
	fi
	expect_exit 3 ck rm "$TMP" && expect_stderr_contains "no checkpoint here"
}

# Debris of failed saves shows in ls; gc --older-than keeps young debris
# (a save in flight) and removes old.
test_gc_older_than() {
	local c=$TMP/aged

	expect_exit 0 ck bench "$c" --size 1MiB --tensors 4 --keep || return
	head -c 5000 /dev/zero >"$c/__0_0.0dd0.ckd"
	touch -d '2 hours ago' "$c/__0_0.0dd0.ckd"
	head -c 3000 /dev/zero >"$c/__1_0.9e5.ckd"
	expect_exit 0 ck ls "$c" &&
		expect_stdout_line 'debris: +2 objects \(7.81 KiB\) of failed saves; `ckptio rm --gc .*` removes them'
	expect_exit 0 ck --json ls "$c" &&
		expect_json 'd["debris"] == {"objects": 2, "bytes": 8000}'
	expect_exit 2 ck rm --gc --older-than soon "$c"
	expect_exit 0 ck rm --gc --older-than 1h "$c" &&
		expect_stdout_contains ": 1 objects" &&
		expect_stdout_contains "kept 1 objects"
	if [ ! -e "$c/__0_0.0dd0.ckd" ] && [ -e "$c/__1_0.9e5.ckd" ]; then
		pass "gc --older-than 1h removed only the old debris"
	else
		fail "gc --older-than 1h removed the wrong objects"
	fi
	expect_exit 0 ck --json rm --gc "$c" &&
		expect_json 'd["removed"] == 1 and d["debris"] == 1 and d["kept_young"] == 0'
	expect_exit 0 ck ls "$c" && expect_stdout_lacks "debris:"
	expect_exit 0 ck verify "$c"
}

# Two processes overwrite one checkpoint at once, again and again: it
# always loads as one of them, whole.
test_concurrent_overwrite() {
	local c=$TMP/race i ok=1 pa pb

	expect_exit 0 ck bench "$TMP/srcA" --size 4MiB --tensors 30 --keep >/dev/null
	expect_exit 0 ck bench "$TMP/srcB" --size 4MiB --tensors 30 --keep >/dev/null
	expect_exit 0 ck cp "$TMP/srcA" "$c" >/dev/null
	for i in 1 2 3 4 5 6; do
		"$CKPTIO_BIN" -q cp --overwrite "$TMP/srcA" "$c" 2>"$TMP/ra.err" &
		pa=$!
		"$CKPTIO_BIN" -q cp --overwrite "$TMP/srcB" "$c" 2>"$TMP/rb.err" &
		pb=$!
		wait "$pa" "$pb" # not the test servers
		if ! "$CKPTIO_BIN" -q verify "$c" >/dev/null 2>"$ERR"; then
			ok=0
			fail "round $i: verify after concurrent overwrites"
			show_output
		fi
	done
	[ "$ok" -eq 1 ] && pass "6 rounds of two concurrent overwrites verify"
	expect_exit 0 ck rm --gc "$c"
	expect_exit 0 ck verify "$c"
}

test_bench_json() {
	expect_exit 0 ck -q --json bench "$TMP/jb" --size 3.5MiB --tensors 7 \
		--threads 2 || return
	expect_json 'd["verified"] is True and d["tensors"] == 7 and d["bytes"] > 3 * 2**20 and d["kept"] is False and d["save_GBps"] > 0'
	expect_exit 3 ck ls "$TMP/jb"
	expect_exit 0 ck -q bench "$TMP/qb" --size 1MiB --tensors 4 &&
		expect_stdout_lacks "bench:"
	expect_stdout_contains "save: "
}

# ------------------------------------------------------------ config
test_backend() {
	local conf=$TMP/backend.conf

	cat >"$conf" <<CONF
# a named backend over the posix store
[backend "t"]
store = posix
root = $TMP/root
CONF
	expect_exit 0 ck --config "$conf" bench t:run1 --size 16MiB \
		--tensors 8 --keep || return
	[ -f "$TMP/root/run1/.metadata.json" ] && pass "backend root used" ||
		fail "no $TMP/root/run1/.metadata.json"
	expect_exit 0 ck --config "$conf" ls t:run1 &&
		expect_stdout_line 'items: +11'
	expect_exit 0 ck --config "$conf" verify t:run1
	expect_exit 0 ck --config "$conf" cp t:run1 "$TMP/fromt" &&
		expect_exit 0 ck verify "$TMP/fromt"
	expect_exit 3 ck --config "$conf" ls nosuchbackend:run1
	# [ckptio] log_level stands unless -q or -v say otherwise.
	printf '[ckptio]\nlog_level = info\n' >>"$conf"
	expect_exit 0 ck --config "$conf" rm "$TMP/fromt" &&
		expect_stderr_contains "removed"
	expect_exit 0 ck --config "$conf" -q rm t:run1 &&
		expect_stderr_lacks "removed"
}

test_config() {
	local conf=$TMP/secrets.conf

	cat >"$conf" <<CONF
[store "s3"]
region = \${CKPTIO_TEST_REGION}
secret_access_key = topsecret-abc
session_token = tok-xyz
[backend "mem"]
store = goodstore
opaque = hush-123
label = visible-1
CONF
	export CKPTIO_TEST_REGION=eu-test-1
	# goodstore declares "opaque" secret: its name does not say so.
	export CKPTIO_PLUGIN_PATH=$CKPTIO_PLUGIN_PATH:$CKPTIO_TEST_PLUGINS
	expect_exit 0 ck --config "$conf" config || return
	expect_stdout_contains "$conf"
	expect_stdout_contains "eu-test-1"
	expect_stdout_contains "<redacted>"
	expect_stdout_lacks "topsecret-abc"
	expect_stdout_lacks "tok-xyz"
	expect_stdout_line "opaque = <redacted>"
	expect_stdout_line "label = visible-1"
	expect_stdout_lacks "hush-123"
	expect_exit 0 ck --config "$conf" --json config &&
		expect_json "d['path'] == '$conf' and 'topsecret' not in d['text'] and 'eu-test-1' in d['text'] and 'hush-123' not in d['text'] and 'opaque = <redacted>' in d['text']"
	# -v: no debug line shows a secret either.
	expect_exit 0 ck -v --config "$conf" config &&
		expect_stderr_lacks "hush-123"
	# A plugin that cannot be loaded: its options are all redacted.
	CKPTIO_PLUGIN_PATH=${CKPTIO_PLUGIN_PATH%%:*} \
		expect_exit 0 ck --config "$conf" config &&
		expect_stdout_contains "# plugin 'goodstore' could not be loaded" &&
		expect_stdout_line "label = <redacted>"
	expect_stdout_lacks "hush-123"
	export CKPTIO_PLUGIN_PATH=${CKPTIO_PLUGIN_PATH%:*}
	unset CKPTIO_TEST_REGION
	expect_exit 0 ck config && expect_stdout_contains "/dev/null"
}

test_config_errors() {
	local c1=$TMP/bad1.conf c2=$TMP/bad2.conf

	printf '[ckptio]\n# comment\nno_such_key = 1\n' >"$c1"
	expect_exit 5 ck --config "$c1" ls "$TMP" &&
		expect_stderr_contains "$c1:3: no_such_key"
	printf '[backend "t"]\nstore = posix\nroot = %s\ncolour = blue\n' \
		"$TMP/root" >"$c2"
	expect_exit 5 ck --config "$c2" ls t:run1 &&
		expect_stderr_contains "$c2:4: colour"
	expect_exit 5 ck --config "$TMP/missing.conf" ls "$TMP"
}

# ------------------------------------------------------ terminal escapes
# expect_no_controls: neither stdout nor stderr of the last command holds
# a control character (C0 but newline, DEL, or a UTF-8 C1 code point).
expect_no_controls() {
	local f n

	for f in "$OUT" "$ERR"; do
		n=$(LC_ALL=C tr -d '\n\040-\176\200-\377' <"$f" | wc -c)
		if [ "$n" -ne 0 ] || LC_ALL=C grep -q $'\xc2[\x80-\x9f]' "$f"; then
			fail "control characters in $(basename "$f")"
			LC_ALL=C od -c "$f" | head -20 | sed 's/^/  | /'
			return 1
		fi
	done
	pass "no control characters in stdout and stderr"
}

# Names, ids, layouts and object keys come from files anyone may write:
# the CLI escapes them on every path to the terminal (text), and --json
# stays valid JSON with \u escapes.
test_escapes() {
	local e=$TMP/esc red=$'\e[31mred\a\xc2\x9b\xff' ck f

	mkdir -p "$e" || return
	expect_exit 0 ck bench "$e/ck" --size 1MiB --tensors 2 --keep || return
	"$PY" - "$e/ck/.metadata.json" <<'PYEOF'
import json, sys
p = sys.argv[1]
md = json.load(open(p))
md["layout"] = "native\x1b]0;owned\x07\x1b[2J"
for it in md["items"]:
    if it[0] == "rng_state":
        it[0] = "rng\x1b[31m_state\u009b\n"
json.dump(md, open(p, "w"))
PYEOF
	expect_exit 0 ck ls "$e/ck" && expect_no_controls
	expect_stdout_contains 'layout:   native\x1b]0;owned\x07\x1b[2J'
	expect_stdout_contains 'rng\x1b[31m_state\xc2\x9b\x0a'
	expect_exit 0 ck --json ls "$e/ck" && expect_no_controls &&
		expect_json 'd["layout"] == "native\x1b]0;owned\x07\x1b[2J"'
	# An error naming the item: verify of its corrupted chunk.
	f=$(find "$e/ck" -name '__0_2.*.ckd')
	flip_middle_byte "$f"
	expect_exit 4 ck verify "$e/ck" && expect_no_controls &&
		expect_stderr_contains 'rng\x1b[31m_state'
	# An error naming an object key from the metadata.
	"$PY" - "$e/ck/.metadata.json" <<'PYEOF'
import json, sys
p = sys.argv[1]
md = json.load(open(p))
md["objects"][md["items"][0][3][0][0]] = "a/../\x1b[2J"
json.dump(md, open(p, "w"))
PYEOF
	expect_exit 4 ck ls "$e/ck" && expect_no_controls &&
		expect_stderr_contains "invalid object name 'a/../\x1b[2J'"
	# Checkpoint ids with control characters, C1 and invalid UTF-8.
	mkdir -p "$e/ids" || return
	expect_exit 0 ck -q bench "$e/ids/$red" --size 1MiB --tensors 2 \
		--keep && expect_no_controls
	expect_exit 0 ck ls "$e/ids" && expect_no_controls &&
		expect_stdout_line '\\x1b\[31mred\\x07\\xc2\\x9b\\xff'
	expect_exit 0 ck --json ls "$e/ids" && expect_no_controls &&
		expect_json 'd["checkpoints"] == ["\x1b[31mred\x07\x9b\ufffd"]'
	f=$(largest_ckd "$e/ids/$red")
	flip_middle_byte "$f"
	expect_exit 4 ck verify "$e/ids/$red" && expect_no_controls
	expect_exit 3 ck ls "$e/ids/$red/nothing" && expect_no_controls &&
		expect_stderr_contains '\x1b[31mred\x07\xc2\x9b\xff/nothing'
	expect_exit 2 ck verify --threads "$red" "$e" && expect_no_controls
	expect_exit 2 ck "$red" && expect_no_controls
	# Values of the configuration, from the environment.
	printf '[backend "b"]\nstore = posix\nroot = ${CKPTIO_T_ROOT}\n' \
		>"$e/c.conf"
	CKPTIO_T_ROOT=$red expect_exit 0 ck --config "$e/c.conf" config &&
		expect_no_controls &&
		expect_stdout_contains 'root = \x1b[31mred\x07\xc2\x9b\xff'
}

# ------------------------------------------------- terminal and Ctrl-C
# With stderr on a pseudo-terminal the bar is drawn and ends the line.
test_progress_tty() {
	[ -n "$PY" ] || return 0
	if "$PY" - "$CKPTIO_BIN" "$TMP/tty" <<'PYEOF'
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen([sys.argv[1], "bench", sys.argv[2], "--size", "32MiB",
                      "--tensors", "8"], stdout=subprocess.DEVNULL,
                     stderr=slave)
os.close(slave)
buf = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
rc = p.wait()
ok = rc == 0 and b"\r" in buf and b"100%" in buf and buf.endswith(b"\n")
sys.exit(0 if ok else 1)
PYEOF
	then
		pass "progress bar on a terminal"
	else
		fail "no well-formed progress bar on a terminal"
	fi
}

# The first Ctrl-C cancels a save: exit 130 and no checkpoint.
test_sigint() {
	local rc

	[ -n "$PY" ] || return 0
	"$PY" - "$CKPTIO_BIN" "$TMP/int/ck" <<'PYEOF'
import signal, subprocess, sys
p = subprocess.Popen([sys.argv[1], "bench", sys.argv[2], "--size", "512MiB",
                      "--tensors", "16"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE,
                     preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                      signal.SIG_DFL))
p.stdout.readline()  # "bench: ..." is printed just before the save
p.send_signal(signal.SIGINT)
out, err = p.communicate()
if p.returncode != 130:
    sys.stderr.write(err.decode(errors="replace"))
sys.exit(p.returncode)
PYEOF
	rc=$?
	if [ "$rc" -eq 130 ]; then
		pass "Ctrl-C exits with 130"
	else
		fail "Ctrl-C during bench: exit $rc instead of 130"
	fi
	expect_exit 3 ck ls "$TMP/int/ck"
}

test_help
test_usage_errors
test_plugins
test_plugin_trust
test_bench
test_ls
test_verify
test_cp
test_verify_pieces
test_corruption
test_checksums
test_dtypes
test_links_and_fifos
test_overwrite
test_rm
test_rm_only_ours
test_gc_older_than
test_concurrent_overwrite
test_bench_json
test_backend
test_config
test_config_errors
test_escapes
test_progress_tty
test_sigint
finish
