#!/bin/bash
# test_crash.sh - a save killed with SIGKILL at many points of its run never
# leaves a checkpoint that lists or loads as complete with bad data, and
# never damages the checkpoint it was replacing (DESIGN.md section 3).
#
#   1. save checkpoint "ck" with seed 1 (the one that must survive)
#   2. time uncrashed saves of seed 2, overwriting and to a fresh id
#      (tests/crashsave -v says when ckptio_save starts and how long it took;
#      the median of three each)
#   3. kill points: start an overwriting save of seed 2 into "ck" and
#      kill -9 it at once, half-way through preparing its data, then at
#      delays spread evenly from the start of ckptio_save to 1.1x its
#      duration; if fewer than 20 kills landed inside ckptio_save (timing
#      noise), add random ones inside it until 20 did.  After each kill
#      "ck" must load as seed 1 (old, intact) or as seed 2 (new, fully
#      committed), and `ckptio verify` must pass.  A committed seed 2 is put
#      back to seed 1, so that every kill meets an old checkpoint.
#   4. the same for a save into a fresh id "new": afterwards it loads
#      completely as seed 2, or it does not exist anywhere (crashsave
#      --check, `ckptio ls` and `ckptio verify` exit 3; the parent does not
#      list it); "ck" next to it is untouched.
#   5. `ckptio rm --gc` on "ck" leaves exactly the metadata and the objects
#      it references; `ckptio rm` (or, without a checkpoint there,
#      `ckptio rm --gc`) clears a half-written "new".
#
# Environment (set by `make check`): CKPTIO_CRASHSAVE, CKPTIO_BIN,
# CKPTIO_PLUGIN_PATH, CKPTIO_CONFIG.  Optional: CKPTIO_CRASH_SIZE (MiB,
# default 128), CKPTIO_CRASH_POINTS (default 24), CKPTIO_TEST_VERBOSE=1.

. "$(dirname "$0")/lib.sh"

CS=${CKPTIO_CRASHSAVE:-}
if [ -z "$CS" ] || [ ! -x "$CS" ]; then
	echo "CKPTIO_CRASHSAVE is not set to the crashsave program" >&2
	exit 99
fi
SIZE=${CKPTIO_CRASH_SIZE:-128}
POINTS=${CKPTIO_CRASH_POINTS:-24}
MIN_INSIDE=20 # kills that must land inside ckptio_save, per id
DATA=$TMP/data
FIFO=$TMP/.fifo
BG=""

# Kill a save still running when the script ends, however it ends, then
# remove the temporary directory (replaces lib.sh's trap).
cleanup() {
	if [ -n "$BG" ]; then
		kill -9 "$BG" 2>/dev/null
		{ wait "$BG"; } 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() {
	if [ -n "${CKPTIO_TEST_VERBOSE:-}" ]; then
		echo "$*"
	fi
	return 0
}

# seconds_since T0: wall time since $EPOCHREALTIME was T0.
seconds_since() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}

# check_seed ID SEED: crashsave's verdict on DATA/ID (0 match, 3 absent,
# 4 differs or corrupt, 1 other).
check_seed() {
	"$CS" --check "$DATA" "$1" "$2" "$SIZE" >"$OUT" 2>"$ERR"
}

# kill_save ID FROM DELAY: start an overwriting save of seed 2 into DATA/ID
# and kill -9 it DELAY seconds (0: at once) after it started (FROM=start)
# or after it announced that ckptio_save begins (FROM=save).  Sets PHASE to
# what the kill interrupted: "prep" (before ckptio_save), "save" (inside
# it) or "done" (it had returned; the process must then have succeeded).
kill_save() {
	local id=$1 from=$2 delay=$3 rc fd out=""

	"$CS" -v "$DATA" "$id" 2 "$SIZE" >"$FIFO" 2>"$TMP/.bgerr" &
	BG=$!
	exec {fd}<"$FIFO"
	if [ "$from" = save ]; then
		IFS= read -r -u "$fd" out
	fi
	if [ "$delay" != 0 ]; then
		sleep "$delay"
	fi
	kill -9 "$BG" 2>/dev/null
	{ wait "$BG"; } 2>/dev/null
	rc=$?
	BG=""
	out="$out
$(cat <&"$fd")"
	exec {fd}<&-
	case $out in
	*"saved "*) PHASE=done ;;
	*"saving "*) PHASE=save ;;
	*) PHASE=prep ;;
	esac
	if [ "$rc" -ne 137 ] && { [ "$rc" -ne 0 ] || [ "$PHASE" != done ]; }
	then
		fail "$id: the save exited $rc"
		sed 's/^/  | /' "$TMP/.bgerr"
	fi
}

# after_ck_kill WHAT: "ck" loads as seed 1 or seed 2, and verifies.
after_ck_kill() {
	if check_seed ck 1; then
		pass "ck after kill $1: old checkpoint intact"
	elif check_seed ck 2; then
		pass "ck after kill $1: new checkpoint complete"
		expect_exit 0 "$CS" "$DATA" ck 1 "$SIZE"
	else
		fail "ck after kill $1: neither seed 1 nor seed 2 loads"
		show_output
	fi
	expect_exit 0 ck verify "$DATA/ck"
	expect_exit 0 ck ls "$DATA/ck"
}

# after_new_kill WHAT: "new" is complete (seed 2) or absent everywhere, and
# "ck" next to it is untouched.
after_new_kill() {
	check_seed new 2
	case $? in
	0)
		pass "new after kill $1: complete"
		expect_exit 0 ck verify "$DATA/new"
		expect_exit 0 ck ls "$DATA"
		expect_stdout_line "new"
		;;
	3)
		pass "new after kill $1: absent"
		expect_exit 3 ck ls "$DATA/new"
		expect_exit 3 ck verify "$DATA/new"
		expect_exit 0 ck ls "$DATA"
		expect_stdout_lacks "new"
		;;
	*)
		fail "new after kill $1: there, but does not load as seed 2"
		show_output
		;;
	esac
	expect_exit 0 "$CS" --check "$DATA" ck 1 "$SIZE"
}

# one_kill ID FROM DELAY [NOTE]: a kill and the checks after it; counts
# the kills that landed inside ckptio_save in INSIDE.
one_kill() {
	# A fresh id for every kill of "new".
	if [ "$1" = new ]; then
		rm -rf "$DATA/new"
	fi
	kill_save "$1" "$2" "$3"
	PHASES="$PHASES $PHASE"
	if [ "$PHASE" = save ]; then
		INSIDE=$((INSIDE + 1))
	fi
	"after_${1}_kill" "at $2+$3 s ($PHASE${4:-})"
}

# kill_points ID PREPARE SAVE: every kill point of delays(), then random
# ones inside the save until MIN_INSIDE kills landed there (at most 60 more).
kill_points() {
	local id=$1 from d extra=0

	INSIDE=0
	PHASES=""
	while read -r from d; do
		one_kill "$id" "$from" "$d"
	done <<<"$(delays "$2" "$3")"
	while [ "$INSIDE" -lt "$MIN_INSIDE" ] && [ "$extra" -lt 60 ]; do
		d=$(awk -v s="$3" -v r="$RANDOM" \
			'BEGIN { printf "%.4f", s * (r % 90) / 100 }')
		extra=$((extra + 1))
		one_kill "$id" save "$d" ", extra"
	done
	say "$id: kills by phase:$(echo "$PHASES" | tr ' ' '\n' | sort |
		uniq -c | awk 'NF == 2 { printf " %s %s", $2, $1 }')"
	if [ "$INSIDE" -ge "$MIN_INSIDE" ]; then
		pass "$id: $INSIDE kills landed inside ckptio_save"
	else
		fail "$id: only $INSIDE kills landed inside ckptio_save"
	fi
}

# ------------------------------------------------------------------ setup
T_ALL=$EPOCHREALTIME
mkdir -p "$DATA" "$TMP/scratch" || exit 99
mkfifo "$FIFO" || exit 99

expect_exit 0 "$CS" "$DATA" ck 1 "$SIZE"
expect_exit 0 "$CS" --check "$DATA" ck 1 "$SIZE"
expect_exit 4 "$CS" --check "$DATA" ck 2 "$SIZE"
expect_exit 3 "$CS" --check "$DATA" nothing 1 "$SIZE"

# timing ID...: save seed 2 to TMP/scratch/ID for each ID (overwriting
# when the id exists) and print the median "PREPARE SAVE" seconds.
timing() {
	local id t all=""

	for id in "$@"; do
		t=$("$CS" -v "$TMP/scratch" "$id" 2 "$SIZE") || return 1
		all="$all$(echo "$t" | tail -n 1)
"
	done
	echo "$all" | sed -n 's/.* prepare=\([0-9.]*\) save=.*/\1/p' |
		sort -n | sed -n "$(($# / 2 + 1))p" | tr '\n' ' '
	echo "$all" | sed -n 's/.* save=\([0-9.]*\)$/\1/p' |
		sort -n | sed -n "$(($# / 2 + 1))p"
}

# delays PREPARE SAVE: the kill points, "FROM DELAY" per line: at once and
# half-way through the preparation of the data, then from the start of
# ckptio_save to 1.1x its duration, evenly.
delays() {
	awk -v n="$POINTS" -v p="$1" -v s="$2" 'BEGIN {
		print "start 0"
		printf "start %.4f\n", p / 2
		for (i = 0; i < n - 2; i++)
			printf "save %.4f\n", 1.1 * s * i / (n - 3)
	}'
}

# Overwriting saves (into "ck") take longer than saves to a fresh id (into
# "new"): the old checkpoint's objects go after the commit.  Time both.
"$CS" "$TMP/scratch" ck 1 "$SIZE" >/dev/null 2>&1
T_CK=$(timing ck ck ck) && T_NEW=$(timing n1 n2 n3) ||
	{ fail "timing saves failed"; finish; }
rm -rf "$TMP/scratch"
read -r PREP SAVE_CK <<<"$T_CK"
read -r _ SAVE_NEW <<<"$T_NEW"
if [ -z "$PREP" ] || [ -z "$SAVE_CK" ] || [ -z "$SAVE_NEW" ]; then
	fail "crashsave -v printed no timings: '$T_CK' '$T_NEW'"
	finish
fi
say "$SIZE MiB: prepare $PREP s, ckptio_save $SAVE_CK s overwriting," \
	"$SAVE_NEW s to a fresh id"

# ------------------------------------------------------------------ kills
kill_points ck "$PREP" "$SAVE_CK"
kill_points new "$PREP" "$SAVE_NEW"

# The last "new" may be debris only: rm removes a checkpoint, and refuses
# (exit 3) a directory without one; rm --gc then clears the debris.
if [ -d "$DATA/new" ]; then
	"$CKPTIO_BIN" rm "$DATA/new" >"$OUT" 2>"$ERR"
	rc=$?
	if [ "$rc" -eq 3 ]; then
		"$CKPTIO_BIN" rm --gc "$DATA/new" >"$OUT" 2>"$ERR"
		rc=$?
	fi
	if [ "$rc" -eq 0 ]; then
		pass "rm new: exit $rc"
	else
		fail "rm new: exit $rc"
		show_output
	fi
	left=$(find "$DATA/new" -type f 2>/dev/null | wc -l)
	if [ "$left" -eq 0 ]; then
		pass "rm new left nothing"
	else
		fail "rm new left $left files"
		find "$DATA/new" -type f | sed 's/^/  | /'
	fi
fi

# ------------------------------------------------------ garbage collection
debris=$(find "$DATA/ck" -type f | wc -l)
expect_exit 0 ck rm --gc "$DATA/ck"
# The metadata's table of objects (version 2: "objects":["__0_0.x.ckd",...]).
refs=$(sed -n 's/.*"objects":\[\([^]]*\)\].*/\1/p' "$DATA/ck/.metadata.json" |
	tr ',' '\n' | tr -d '"' | sort -u)
want=$( (echo .metadata.json; echo "$refs") | sort)
have=$(find "$DATA/ck" -type f -printf '%P\n' | sort)
say "gc: $debris files before, $(echo "$have" | wc -l) after"
if [ "$want" = "$have" ]; then
	pass "gc left the metadata and exactly the objects it references"
else
	fail "gc: files differ from the metadata's objects"
	diff <(echo "$want") <(echo "$have") | sed 's/^/  | /'
fi
expect_exit 0 "$CS" --check "$DATA" ck 1 "$SIZE"
expect_exit 0 ck verify "$DATA/ck"

say "total $(seconds_since "$T_ALL") s"
finish
