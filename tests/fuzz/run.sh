#!/bin/sh
# run.sh SRCDIR NAME... - run the libFuzzer harness tests/fuzz/fuzz_NAME of
# each NAME (from the build directory: `make fuzz` calls this) for
# $FUZZ_SECONDS seconds (default 60), one after the other.
#
# Each starts from its seed corpus SRCDIR/tests/fuzz/NAME/ (read only) plus
# what earlier runs found, fuzz-out/NAME/corpus/, where new inputs go; it
# uses the dictionary SRCDIR/tests/fuzz/NAME.dict.  A crash, leak,
# sanitizer report, broken property or timeout (an input taking over 10 s)
# is saved as fuzz-out/NAME/crashes/{crash,leak,timeout,oom}-HASH; the log
# is fuzz-out/NAME/fuzz.log.  Extra libFuzzer options go in $FUZZ_FLAGS
# (e.g. "-jobs=2 -workers=2", "-max_len=65536").  Exit status: 0 when no
# harness failed, 1 otherwise (every harness runs all the same).
set -u

src=${1:?usage: run.sh SRCDIR NAME...}
shift
secs=${FUZZ_SECONDS:-60}
case $secs in
'' | *[!0-9]*)
	echo "run.sh: FUZZ_SECONDS must be a number of seconds, not '$secs'" >&2
	exit 2
	;;
esac
# Stack traces for UBSan; libFuzzer handles ASan's reports.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS

failed=""
for name in "$@"; do
	bin=tests/fuzz/fuzz_$name
	out=fuzz-out/$name
	seeds=$src/tests/fuzz/$name
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "run.sh: $bin or $seeds is missing" >&2
		failed="$failed $name"
		continue
	fi
	mkdir -p "$out/corpus" "$out/crashes"
	echo "fuzz $name: ${secs} s, seeds $seeds, log $out/fuzz.log"
	# shellcheck disable=SC2086  # FUZZ_FLAGS is a list of options
	"$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
		-dict="$src/tests/fuzz/$name.dict" \
		-artifact_prefix="$out/crashes/" ${FUZZ_FLAGS:-} \
		"$out/corpus" "$seeds" >"$out/fuzz.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $name: passed, ${runs:-?} inputs run," \
			"$(find "$out/corpus" -type f | wc -l) in $out/corpus"
		continue
	fi
	failed="$failed $name"
	echo "fuzz $name: FAILED (exit $rc); the end of $out/fuzz.log:"
	tail -n 60 "$out/fuzz.log"
	sed -n 's/.*Test unit written to //p' "$out/fuzz.log" |
	while read -r f; do
		echo "fuzz $name: reproducer $f; run it again with"
		echo "    $bin $f"
		echo "  or, in any build (gdb, valgrind): tests/fuzz/replay_$name $f"
	done
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed" >&2
	exit 1
fi
echo "fuzz: all passed"
