# lib.sh - helpers shared by the CLI test scripts; source it, then call
# finish at the end.
#
# Environment (set by `make check`): CKPTIO_BIN (the built ckptio),
# CKPTIO_PLUGIN_PATH, CKPTIO_SRCDIR, CKPTIO_CONFIG=/dev/null.
# Optional: CKPTIO_TEST_WRAPPER (e.g. "valgrind -q --error-exitcode=99
# --leak-check=full") to run every ckptio under a tool; CKPTIO_TEST_VERBOSE=1
# to print every passing check.

set -u

if [ -z "${CKPTIO_BIN:-}" ] || [ ! -x "$CKPTIO_BIN" ]; then
	echo "CKPTIO_BIN is not set to the ckptio program" >&2
	exit 99 # automake: hard error
fi

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)

TESTS_PASSED=0
TESTS_FAILED=0

# A fresh directory per script, removed however the script ends.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-cli.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT
OUT=$TMP/.stdout
ERR=$TMP/.stderr

# ck ARGS...: the ckptio under test.
ck() {
	${CKPTIO_TEST_WRAPPER:-} "$CKPTIO_BIN" "$@"
}

pass() {
	TESTS_PASSED=$((TESTS_PASSED + 1))
	if [ -n "${CKPTIO_TEST_VERBOSE:-}" ]; then
		echo "ok: $*"
	fi
	return 0
}

fail() {
	TESTS_FAILED=$((TESTS_FAILED + 1))
	echo "FAIL: $*"
	return 1
}

# What the last command printed, shortened, after a failure.
show_output() {
	echo "  --- stdout:"
	head -c 2000 "$OUT" | sed 's/^/  | /'
	echo "  --- stderr:"
	head -c 2000 "$ERR" | sed 's/^/  | /'
}

# expect_exit CODE CMD...: run CMD (stdout to $OUT, stderr to $ERR) and
# check its exit status.  Returns 0 when it matched.
expect_exit() {
	local want=$1 got
	shift
	"$@" >"$OUT" 2>"$ERR"
	got=$?
	if [ "$got" -ne "$want" ]; then
		fail "exit $got instead of $want: $*"
		show_output
		return 1
	fi
	pass "exit $want: $*"
}

# expect_stdout_contains TEXT / expect_stderr_contains TEXT: fixed string
# in the last command's output.
expect_stdout_contains() {
	if grep -qF -- "$1" "$OUT"; then
		pass "stdout has '$1'"
	else
		fail "stdout lacks '$1'"
		show_output
	fi
}

expect_stderr_contains() {
	if grep -qF -- "$1" "$ERR"; then
		pass "stderr has '$1'"
	else
		fail "stderr lacks '$1'"
		show_output
	fi
}

expect_stderr_lacks() {
	if grep -qF -- "$1" "$ERR"; then
		fail "stderr has '$1'"
		show_output
	else
		pass "stderr lacks '$1'"
	fi
}

expect_stdout_lacks() {
	if grep -qF -- "$1" "$OUT"; then
		fail "stdout has '$1'"
		show_output
	else
		pass "stdout lacks '$1'"
	fi
}

# expect_stdout_line REGEX: a whole line of stdout matches (grep -E -x).
expect_stdout_line() {
	if grep -qEx -- "$1" "$OUT"; then
		pass "stdout line /$1/"
	else
		fail "no stdout line matches /$1/"
		show_output
	fi
}

# expect_json [PYTHON-EXPR]: stdout is one JSON document; the optional
# expression, evaluated with the document as `d`, must be true.
expect_json() {
	local expr=${1:-True}

	if [ -z "$PY" ]; then
		pass "json (python3 missing, not checked)"
		return 0
	fi
	if "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 3)
' "$OUT" "$expr" 2>"$TMP/.pyerr"; then
		pass "json: $expr"
	else
		fail "stdout is not JSON satisfying: $expr"
		sed 's/^/  py: /' "$TMP/.pyerr"
		show_output
	fi
}

# finish: the summary line, and the exit status for automake.
finish() {
	echo "$TESTS_PASSED passed, $TESTS_FAILED failed"
	[ "$TESTS_FAILED" -eq 0 ] && exit 0
	exit 1
}
