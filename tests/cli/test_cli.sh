#!/bin/bash
# test_cli.sh - end-to-end tests of the `ckptio` command over the posix
# store: help and usage errors, plugins, bench, ls, verify (and corruption
# detection), cp, overwrite rules, rm, configured backends, config
# redaction and errors, JSON output, progress bar and Ctrl-C.

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
}

# ------------------------------------------------------------- checksums
# edit_md FILE EXPR: rewrite the JSON metadata FILE with the Python
# statement EXPR applied to it as `d`.
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
	edit_md "$ck/.metadata.json" 'del d["items"][0]["chunks"][0]["crc32c"]'
	expect_exit 4 ck verify "$ck" &&
		expect_stderr_contains "has no crc32c"
	edit_md "$ck/.metadata.json" 'd["attrs"]["ckptio.checksum"] = "none"'
	expect_exit 1 ck verify "$ck" &&
		expect_stderr_contains "1 of 23 chunks have no checksum"
	expect_stdout_lacks "OK"
	expect_exit 0 ck cp "$ck" "$TMP/sums/copy" &&
		expect_exit 0 ck verify "$TMP/sums/copy"
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
CONF
	export CKPTIO_TEST_REGION=eu-test-1
	expect_exit 0 ck --config "$conf" config || return
	expect_stdout_contains "$conf"
	expect_stdout_contains "eu-test-1"
	expect_stdout_contains "<redacted>"
	expect_stdout_lacks "topsecret-abc"
	expect_stdout_lacks "tok-xyz"
	expect_exit 0 ck --config "$conf" --json config &&
		expect_json "d['path'] == '$conf' and 'topsecret' not in d['text'] and 'eu-test-1' in d['text']"
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
test_bench
test_ls
test_verify
test_cp
test_corruption
test_checksums
test_links_and_fifos
test_overwrite
test_rm
test_bench_json
test_backend
test_config
test_config_errors
test_progress_tty
test_sigint
finish
