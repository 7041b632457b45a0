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

trap rgw_down EXIT
if ! rgw_up; then
	echo "FAIL: radosgw did not start (see the messages above)"
	echo "0 passed, 1 failed"
	exit 1
fi
PORT=$RGW_PORT
"$PROBE" "http://127.0.0.1:$PORT" "$RGW_AK" "$RGW_SK"
