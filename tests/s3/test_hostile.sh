#!/bin/bash
# test_hostile.sh - the S3 store plugin against a misbehaving server
# (tests/s3/hostile.py, Python's http.server on 127.0.0.1): runs the
# tests/s3hostile suite, then checks from the server's request counts that
# the non-retryable answer was asked once and the retryable ones 1 +
# retries times.  Part of `make check` (needs only python3).
# Env (from make check): CKPTIO_SRCDIR, CKPTIO_S3HOSTILE.
set -u
SRC=${CKPTIO_SRCDIR:?set by make check}
SUITE=${CKPTIO_S3HOSTILE:?set by make check}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-hostile.XXXXXX") || exit 99
python3 "$SRC/tests/s3/hostile.py" "$TMP/port" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do
	[ -s "$TMP/port" ] && break
	sleep 0.05
done
[ -s "$TMP/port" ] || { echo "FAIL: hostile.py did not start"; exit 1; }
EP=http://127.0.0.1:$(cat "$TMP/port")
echo "hostile server: pid $SERVER on $EP"

CKPTIO_HOSTILE_ENDPOINT=$EP "$SUITE"
rc=$?

# key count: requests the server saw for each object.
check_count() {
	local got
	got=$(curl -s "$EP/__count/$1")
	if [ "$got" = "$2" ]; then
		echo "ok: $1 asked $2 times"
	else
		echo "FAIL: $1 asked ${got:-?} times, expected $2"
		rc=1
	fi
}
check_count weird 1      # 400 with an unknown code: not retried
check_count busy 3       # 503: 1 + retries (2)
check_count short 3      # body ended early: retried
check_count long 1       # more bytes than asked: corrupt, not retried
check_count garbage500 3 # 500 without XML: retried
check_count crc-ok 5     # 2 x 2 parts + 1 PUT with the right CRC32C
check_count complete-ok 2 # each part's CRC32C in Complete
exit $rc
