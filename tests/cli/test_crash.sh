#!/bin/bash
# test_crash.sh - a save killed with SIGKILL at many points of its run never
# leaves a checkpoint that lists or loads as complete with bad data, and
# never damages the checkpoint it was replacing (DESIGN.md section 3).
#
#   1. save checkpoint "ck" with seed 1 (the one that must survive)
#   2. time one uncrashed overwriting save of seed 2 (tests/crashsave -v
#      reports how long it prepares its data and how long ckptio_save takes)
#   3. POINTS times: start an overwriting save of seed 2 into "ck" and
#      kill -9 it after a delay; the delays go from 0 through the
#      preparation and then evenly over 1.1x the save.  Afterwards "ck" must
#      load as seed 1 (old, intact) or as seed 2 (new, fully committed) and
#      `ckptio verify` must pass.  When seed 2 got committed, "ck" is put
#      back to seed 1 so that every kill meets an old checkpoint.
#   4. the same kill points for a save into a fresh id "new": afterwards it
#      loads completely as seed 2, or it does not exist (crashsave --check
#      exits 3, `ckptio ls` exits 3, `ckptio verify` exits 3, and the parent
#      does not list it).
#   5. `ckptio rm --gc` on "ck" leaves exactly the metadata and the objects
#      it references; `ckptio rm` on a half-written "new" clears it.
#
# Environment (set by `make check`): CKPTIO_CRASHSAVE, CKPTIO_BIN,
# CKPTIO_PLUGIN_PATH, CKPTIO_CONFIG.  Optional: CKPTIO_CRASH_SIZE (MiB,
# default 64), CKPTIO_CRASH_POINTS (default 24), CKPTIO_TEST_VERBOSE=1.

. "$(dirname "$0")/lib.sh"

CS=${CKPTIO_CRASHSAVE:-}
if [ -z "$CS" ] || [ ! -x "$CS" ]; then
	echo "CKPTIO_CRASHSAVE is not set to the crashsave program" >&2
	exit 99
fi
SIZE=${CKPTIO_CRASH_SIZE:-64}
POINTS=${CKPTIO_CRASH_POINTS:-24}
DATA=$TMP/data
BG=""

# Kill a save still running when the script ends, however it ends, then
# remove the temporary directory (replaces lib.sh's trap).
cleanup() {
	if [ -n "$BG" ]; then
		kill -9 "$BG" 2>/dev/null
		wait "$BG" 2>/dev/null
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

now() {
	echo "$EPOCHREALTIME"
}

# check_seed ID SEED: crashsave's verdict on DATA/ID (0 match, 3 absent,
# 4 differs or corrupt, 1 other).
check_seed() {
	"$CS" --check "$DATA" "$1" "$2" "$SIZE" >"$OUT" 2>"$ERR"
}

# kill_save ID DELAY: start an overwriting save of seed 2 into DATA/ID and
# kill -9 it after DELAY seconds (0: at once).  Sets KILLED to 1 when the
# process died of the signal, 0 when it had already finished (and then it
# must have succeeded).
kill_save() {
	local id=$1 delay=$2 rc

	"$CS" "$DATA" "$id" 2 "$SIZE" 2>"$TMP/.bgerr" &
	BG=$!
	if [ "$delay" != 0 ]; then
		sleep "$delay"
	fi
	kill -9 "$BG" 2>/dev/null
	wait "$BG"
	rc=$?
	BG=""
	if [ "$rc" -eq 137 ]; then
		KILLED=1
	else
		KILLED=0
		[ "$rc" -eq 0 ] || {
			fail "$id: save (not killed in time) exited $rc"
			sed 's/^/  | /' "$TMP/.bgerr"
		}
	fi
}

# ------------------------------------------------------------------ setup
mkdir -p "$DATA" "$TMP/scratch" || exit 99
T_ALL=$(now)

expect_exit 0 "$CS" "$DATA" ck 1 "$SIZE"
expect_exit 0 "$CS" --check "$DATA" ck 1 "$SIZE"
expect_exit 4 "$CS" --check "$DATA" ck 2 "$SIZE"
expect_exit 3 "$CS" --check "$DATA" nothing 1 "$SIZE"

# How long an overwriting save of seed 2 takes, in two parts.
"$CS" "$TMP/scratch" ck 1 "$SIZE" >/dev/null 2>&1
T0=$(now)
TIMING=$("$CS" -v "$TMP/scratch" ck 2 "$SIZE") ||
	{ fail "timing save failed"; finish; }
T1=$(now)
PREP=$(echo "$TIMING" | sed -n 's/.* prepare=\([0-9.]*\) save=.*/\1/p')
SAVE=$(echo "$TIMING" | sed -n 's/.* save=\([0-9.]*\)$/\1/p')
if [ -z "$PREP" ] || [ -z "$SAVE" ]; then
	fail "crashsave -v printed no timings: $TIMING"
	finish
fi
say "one save of $SIZE MiB: prepare $PREP s, save $SAVE s, process" \
	"$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }') s"
rm -rf "$TMP/scratch"

# The kill delays: 0, half-way through the preparation, then evenly from the
# start of the save to 1.1x its duration.
DELAYS=$(awk -v n="$POINTS" -v p="$PREP" -v s="$SAVE" 'BEGIN {
	print 0
	printf "%.4f\n", p / 2
	for (i = 0; i < n - 2; i++)
		printf "%.4f\n", p + 1.1 * s * i / (n - 3)
}')

# ------------------------------------------------------ killing "ck"
killed=0
committed=0
for d in $DELAYS; do
	kill_save ck "$d"
	killed=$((killed + KILLED))
	if check_seed ck 1; then
		pass "ck after kill at $d s: old checkpoint intact"
	elif check_seed ck 2; then
		pass "ck after kill at $d s: new checkpoint complete"
		committed=$((committed + 1))
		# Back to seed 1 so that the next kill meets an old one.
		expect_exit 0 "$CS" "$DATA" ck 1 "$SIZE"
	else
		fail "ck after kill at $d s: neither seed 1 nor seed 2 loads"
		show_output
	fi
	expect_exit 0 ck verify "$DATA/ck"
	expect_exit 0 ck ls "$DATA/ck"
done
say "ck: $killed of $POINTS saves killed while running, $committed committed"
if [ "$killed" -ge 20 ]; then
	pass "ck: $killed kills landed during a save"
else
	fail "ck: only $killed kills landed during a save (want >= 20)"
fi

# ------------------------------------------------------ killing "new"
killed=0
complete=0
for d in $DELAYS; do
	rm -rf "$DATA/new"
	kill_save new "$d"
	killed=$((killed + KILLED))
	check_seed new 2
	case $? in
	0)
		complete=$((complete + 1))
		pass "new after kill at $d s: complete"
		expect_exit 0 ck verify "$DATA/new"
		expect_exit 0 ck ls "$DATA"
		expect_stdout_line "new"
		;;
	3)
		pass "new after kill at $d s: absent"
		expect_exit 3 ck ls "$DATA/new"
		expect_exit 3 ck verify "$DATA/new"
		expect_exit 0 ck ls "$DATA"
		expect_stdout_lacks "new"
		;;
	*)
		fail "new after kill at $d s: lists but does not load"
		show_output
		;;
	esac
	# The old checkpoint next to it is never touched.
	expect_exit 0 "$CS" --check "$DATA" ck 1 "$SIZE"
done
say "new: $killed of $POINTS saves killed while running, $complete complete"

# The last "new" may be debris only: rm clears whatever is there.
if [ -d "$DATA/new" ]; then
	"$CKPTIO_BIN" rm "$DATA/new" >"$OUT" 2>"$ERR"
	rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ]; then
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
refs=$(grep -o '"object":"[^"]*"' "$DATA/ck/.metadata.json" |
	sed 's/"object":"\(.*\)"/\1/' | sort -u)
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

say "total $(awk -v a="$T_ALL" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
finish
