#!/usr/bin/env bash
# test_kill.sh - a conversion to safetensors killed (SIGKILL) at several
# moments leaves no model that loads, never damages the model it was
# replacing, and its leftovers are debris that `ckptio rm --gc` removes
# (and only they).  Single file and shards (a backend with shard_size).
#
# Environment (make check): CKPTIO_BIN, CKPTIO_PLUGIN_PATH, CKPTIO_SRCDIR,
# CKPTIO_CONFIG=/dev/null.
. "${CKPTIO_SRCDIR:-$(dirname "$0")/../..}/tests/cli/lib.sh"

printf '[backend "hf"]\nstore = posix\nroot = %s\nlayout = safetensors\nshard_size = 16MiB\n' \
	"$TMP" >"$TMP/hf.conf"
expect_exit 0 ck bench "$TMP/src" --size 384MiB --tensors 64 --keep

# kill_during DELAY DST [ARGS...]: start the conversion, SIGKILL it after
# DELAY seconds; 0 when it was still running (a kill happened).
kill_during() {
	local delay=$1 pid
	shift
	"$CKPTIO_BIN" "$@" >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	if kill -9 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null
		return 0
	fi
	wait "$pid"
	return 1
}

# The user's own file beside the models, never touched.
echo "mine" >"$TMP/notes.txt"

killed=0
# A kill may land after the commit, while the process is still exiting (a
# sanitizer build's exit checks for leaks): then the model is complete and
# must verify.  Only kills before the commit count as mid-way.
for delay in 0.05 0.2 0.4 0.8; do
	# A first conversion killed: nothing loads, gc clears the debris.
	rm -rf "$TMP/one" "$TMP/sh"
	if kill_during "$delay" cp --layout safetensors "$TMP/src" "$TMP/one"; then
		if [ -e "$TMP/one/model.safetensors" ]; then
			expect_exit 0 ck verify "$TMP/one"
			expect_stdout_contains "67 items"
		else
			killed=$((killed + 1))
			pass "single, killed at +$delay s: no model.safetensors"
			expect_exit 3 ck ls "$TMP/one"
			expect_exit 0 ck rm --gc "$TMP/one"
		fi
	fi
	if kill_during "$delay" --config "$TMP/hf.conf" cp "$TMP/src" hf:sh; then
		if [ -e "$TMP/sh/model.safetensors.index.json" ]; then
			expect_exit 0 ck verify "$TMP/sh"
			expect_stdout_contains "67 items"
			continue
		fi
		killed=$((killed + 1))
		pass "shards, killed at +$delay s: no index"
		expect_exit 3 ck ls "$TMP/sh"
		expect_exit 0 ck rm --gc "$TMP/sh"
		if [ -d "$TMP/sh" ] && [ -n "$(ls -A "$TMP/sh")" ]; then
			fail "shards, killed at +$delay s: gc left $(ls -A "$TMP/sh" | head -3)"
		else
			pass "shards, killed at +$delay s: gc removed every leftover"
		fi
	fi
done
[ "$killed" -ge 2 ] && pass "$killed conversions were killed mid-way" ||
	fail "only $killed conversions were still running when killed"

# Overwriting a model, killed: the old model still loads, whole.
expect_exit 0 ck cp --layout safetensors "$TMP/src" "$TMP/old"
expect_exit 0 ck bench "$TMP/src2" --size 96MiB --tensors 16 --keep
# The kill may come after the commit (a slow machine, a sanitizer build):
# then the new model is there, whole.  Either way one whole model verifies.
for delay in 0.05 0.2; do
	kill_during "$delay" cp --overwrite --layout safetensors "$TMP/src2" "$TMP/old" || true
	expect_exit 0 ck verify "$TMP/old"
	if grep -qF "19 items" "$OUT"; then
		pass "killed at +$delay s after the commit: the new model, whole"
		expect_exit 0 ck cp --overwrite --layout safetensors "$TMP/src" "$TMP/old"
	else
		expect_stdout_contains "67 items"
	fi
done
[ "$(cat "$TMP/notes.txt")" = mine ] && pass "the user's file is intact" ||
	fail "the user's file changed"
finish
