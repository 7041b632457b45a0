#!/bin/bash
# test_rgw_signer.sh - the S3 plugin's SigV4 signer and XML parsers against
# a real Ceph RADOS Gateway, which verifies signatures and payload hashes
# (a fake server such as s3rver would accept a broken signer).  Started
# here on loopback, stopped on exit.  Env: CKPTIO_RGW_PROBE (the built
# tests/rgw_probe), CKPTIO_SRCDIR.
set -u
SRC=${CKPTIO_SRCDIR:?set by make check}
PROBE=${CKPTIO_RGW_PROBE:?set by make check}
# shellcheck source=tests/s3/rgw.sh
. "$SRC/tests/s3/rgw.sh"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-rgw.XXXXXX")
# A port range of our own: builds may run this test concurrently.
PORT=$((20000 + ($$ % 4000) * 10))
trap 'rgw_stop "$DIR"; rm -rf "$DIR"' EXIT

if ! rgw_start "$DIR" "$PORT"; then
	echo "FAIL: radosgw did not start (see the logs above)"
	tail -n 20 "$DIR"/log/*.log 2>/dev/null
	echo "0 passed, 1 failed"
	exit 1
fi
"$PROBE" "http://127.0.0.1:$PORT" "$RGW_AK" "$RGW_SK"
