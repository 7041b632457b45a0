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

DIR=""
trap '[ -n "$DIR" ] && { rgw_stop "$DIR"; rm -rf "$DIR"; }' EXIT

# Ports of our own below the ephemeral range (32768+), so that no
# outgoing connection holds one; builds may run this test concurrently.
# A cluster that fails to come up (a port taken after all, a slow
# monitor on a loaded machine) gets one more try on other ports.
started=0
for try in 1 2; do
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-rgw.XXXXXX")
	PORT=$((20000 + (($$ + try * 577) % 1200) * 10))
	if rgw_start "$DIR" "$PORT"; then
		started=1
		break
	fi
	echo "radosgw did not start on port $PORT (try $try)" >&2
	rgw_stop "$DIR"
	rm -rf "$DIR"
	DIR=""
done
if [ "$started" != 1 ]; then
	echo "FAIL: radosgw did not start (see the messages above)"
	echo "0 passed, 1 failed"
	exit 1
fi
"$PROBE" "http://127.0.0.1:$PORT" "$RGW_AK" "$RGW_SK"
