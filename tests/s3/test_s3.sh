#!/bin/bash
# test_s3.sh - the S3 store plugin end to end against a real Ceph RADOS
# Gateway (which verifies SigV4 signatures, payload hashes and multipart
# rules), started here on loopback and stopped on exit:
#  - checkpoints saved, listed, verified, loaded and removed through s3.so,
#    from a configured backend and from an s3:// URI with credentials from
#    the environment alone;
#  - interop: what ckptio saved reads back byte-identical with the AWS CLI
#    and boto3, and a checkpoint uploaded with `aws s3 cp --recursive`
#    loads with ckptio;
#  - keys needing encoding; the store-level suite (tests/s3store.c);
#  - faults: injected 5xx/429/resets/short bodies are retried and the bytes
#    still compare equal; exhausted retries fail cleanly and abort the
#    upload; a wrong secret fails at once without retries; radosgw killed
#    during a save leaves no checkpoint and `ckptio rm --gc` collects the
#    debris; radosgw restarted during a load lets the retries finish it.
# Env (from `make check-rgw`): CKPTIO_BIN, CKPTIO_PLUGIN_PATH,
# CKPTIO_SRCDIR, CKPTIO_S3STORE (the built tests/s3store).
set -u
SRC=${CKPTIO_SRCDIR:?set by make check-rgw}
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"
# shellcheck source=tests/s3/rgw.sh
. "$SRC/tests/s3/rgw.sh"

# The peers whose interop is tested: Debian's AWS CLI and boto3; nginx
# terminates TLS in front of radosgw for the https tests.
pkg_install awscli python3-boto3 nginx openssl ||
	{ echo "FAIL: cannot install awscli, python3-boto3, nginx"; exit 1; }

NGINX_PID=""
# shellcheck source=tests/http/nginx.sh
. "$SRC/tests/http/nginx.sh"
trap '[ -n "$NGINX_PID" ] && kill "$NGINX_PID"; nginx_down; rgw_down; rm -rf "$TMP"' EXIT
if ! rgw_up; then
	echo "FAIL: radosgw did not start (see the messages above)"
	echo "0 passed, 1 failed"
	exit 1
fi
EP=http://127.0.0.1:$RGW_PORT
BUCKET=ckptio-test

# The peers read the same keys from the environment.
export AWS_ACCESS_KEY_ID=$RGW_AK AWS_SECRET_ACCESS_KEY=$RGW_SK
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_CA_BUNDLE
export HOME=$TMP/home # no ~/.aws of the machine's user
mkdir -p "$HOME"
# Debian's AWS CLI (a pyenv one may come first on PATH); no progress
# output from the transfers.
aws() {
	if [ "$1 ${2:-}" = "s3 cp" ]; then
		/usr/bin/aws --endpoint-url "$EP" "$@" --only-show-errors
	else
		/usr/bin/aws --endpoint-url "$EP" "$@"
	fi
}

cat >"$TMP/ckptio.conf" <<EOF
[backend "rgw"]
store = s3
endpoint = $EP
bucket = $BUCKET
prefix = t/
access_key_id = \${AWS_ACCESS_KEY_ID}
secret_access_key = \${AWS_SECRET_ACCESS_KEY}
part_size = 5MiB
concurrency = 8

# Few retries: a dead server fails the save in about a second.
[backend "brief"]
store = s3
endpoint = $EP
bucket = $BUCKET
prefix = t/
part_size = 5MiB
retries = 2

# Virtual-host addressing: BUCKET.localhost, which curl resolves to the
# loopback itself (RFC 6761); radosgw has rgw dns name = localhost.
[backend "vhost"]
store = s3
endpoint = http://localhost:$RGW_PORT
addressing = virtual
bucket = $BUCKET
prefix = vh/

[backend "wrongkey"]
store = s3
endpoint = $EP
bucket = $BUCKET
access_key_id = $RGW_AK
secret_access_key = not-the-secret

[store "s3"]
endpoint = $EP
EOF
export CKPTIO_CONFIG=$TMP/ckptio.conf

# https: nginx on TLSPORT with a self-signed certificate for localhost,
# passing requests (and the signed Host header) on to radosgw.
TLSPORT=$((RGW_PORT + 10)) # past the cluster's ports
while port_busy "$TLSPORT"; do TLSPORT=$((TLSPORT + 1)); done
mkdir -p "$TMP/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" 2>/dev/null
cat >"$TMP/tls/nginx.conf" <<NGINX
$([ "$(id -u)" -eq 0 ] && echo "user root;")
worker_processes 1;
error_log $TMP/tls/error.log;
pid $TMP/tls/nginx.pid;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $TMP/tls/body;
	proxy_temp_path $TMP/tls/proxy;
	server {
		listen 127.0.0.1:$TLSPORT ssl;
		ssl_certificate $TMP/tls/cert.pem;
		ssl_certificate_key $TMP/tls/key.pem;
		client_max_body_size 0;
		location / {
			proxy_pass http://127.0.0.1:$RGW_PORT;
			proxy_set_header Host \$http_host;
			proxy_http_version 1.1;
			proxy_request_buffering off;
			proxy_buffering off;
		}
	}
}
NGINX
/usr/sbin/nginx -c "$TMP/tls/nginx.conf" -p "$TMP/tls" -g 'daemon off;' \
	2>"$TMP/tls/stderr" &
NGINX_PID=$!
for _ in $(seq 100); do
	port_busy "$TLSPORT" && break
	sleep 0.05
done
cat >>"$TMP/ckptio.conf" <<CONF

[backend "tls"]
store = s3
endpoint = https://localhost:$TLSPORT
bucket = $BUCKET
prefix = tls/
ca_file = $TMP/tls/cert.pem

[backend "tlsnoca"]
store = s3
endpoint = https://localhost:$TLSPORT
bucket = $BUCKET
prefix = tls/
CONF

# retries_in FILE: how many "retry N of M" lines the -v log has.
retries_in() { grep -c 'retry [0-9]* of' "$1"; }

# ----------------------------------------------------------- basics
expect_exit 0 aws s3 mb "s3://$BUCKET"

expect_exit 0 ck bench rgw:run1 --size 48MiB --tensors 30 --keep
expect_stdout_contains "bytes identical"
expect_exit 0 ck ls rgw:run1
expect_stdout_line "layout: +native"
expect_exit 0 ck verify rgw:run1
expect_exit 0 ck ls rgw:
expect_stdout_line "run1"
# The objects are where the configuration says.
expect_exit 0 aws s3 ls "s3://$BUCKET/t/run1/"
expect_stdout_contains ".metadata.json"

# Secrets never show: not in `ckptio config`, not in the debug log.
expect_exit 0 ck config
expect_stdout_contains "secret_access_key = <redacted>"
expect_stdout_lacks "$RGW_SK"
expect_stdout_lacks "not-the-secret"
expect_exit 0 ck -v ls rgw:run1
if grep -qF -- "$RGW_SK" "$ERR"; then fail "the secret is in the log"; else
	pass "the secret is not in the log"; fi

# An s3:// URI with keys and endpoint from the environment alone.
expect_exit 0 env CKPTIO_CONFIG=/dev/null AWS_ENDPOINT_URL="$EP" \
	"$CKPTIO_BIN" bench "s3://$BUCKET/uri/run" --size 12MiB --tensors 4
expect_stdout_contains "bytes identical"

# Keys and endpoint from ~/.aws, as the AWS CLI reads them.
mkdir -p "$HOME/.aws"
printf '[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$RGW_AK" "$RGW_SK" >"$HOME/.aws/credentials"
printf '[profile ci]\nregion = us-east-1\nendpoint_url = %s\n' "$EP" \
	>"$HOME/.aws/config"
expect_exit 0 env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
	AWS_PROFILE=ci CKPTIO_CONFIG=/dev/null "$CKPTIO_BIN" -v ls \
	"s3://$BUCKET/t/run1"
expect_stderr_contains ".aws/credentials [ci]"
expect_stdout_line "layout: +native"

# Virtual-host addressing.
expect_exit 0 ck -v bench vhost:run --size 12MiB --tensors 4 --keep
expect_stderr_contains "virtual-host addressing"
expect_exit 0 aws s3 ls "s3://$BUCKET/vh/run/"
expect_stdout_contains ".metadata.json"
expect_exit 0 ck rm vhost:run

# https through nginx: with the certificate's CA (ca_file, or
# AWS_CA_BUNDLE) the bytes round-trip; without it, a clear certificate
# error at once, not retried.
if port_busy "$TLSPORT"; then
	expect_exit 0 ck -v bench tls:run --size 24MiB --tensors 6
	expect_stdout_contains "bytes identical"
	expect_stderr_contains "https://localhost:$TLSPORT"
	expect_exit 1 ck -v ls tlsnoca:run
	expect_stderr_contains "certificate"
	n=$(retries_in "$ERR")
	[ "$n" -eq 0 ] && pass "certificate error not retried" ||
		fail "certificate error retried $n times"
	expect_exit 0 env AWS_CA_BUNDLE="$TMP/tls/cert.pem" \
		"$CKPTIO_BIN" bench tlsnoca:run2 --size 6MiB --tensors 2
else
	fail "nginx did not start on $TLSPORT: $(cat "$TMP/tls/stderr")"
fi

# Keys that need encoding in URLs and signatures.
ENC='enc/a b+c%d=e&f~(ü)'
expect_exit 0 ck bench "rgw:$ENC" --size 6MiB --tensors 3 --keep
expect_exit 0 aws s3 ls "s3://$BUCKET/t/$ENC/"
expect_stdout_contains ".metadata.json"
expect_exit 0 ck rm "rgw:$ENC"

# ----------------------------------------------------------- store suite
# CKPTIO_S3STORE_WRAPPER (e.g. "valgrind -q --error-exitcode=9") runs it
# under a tool, in one process.
expect_exit 0 env ${CKPTIO_S3STORE_WRAPPER:+CK_FORK=no} \
	${CKPTIO_S3STORE_WRAPPER:-} "${CKPTIO_S3STORE:?set by make check-rgw}" \
	"$EP" "$BUCKET" "$RGW_AK" "$RGW_SK"
expect_stdout_contains "Failures: 0, Errors: 0"

# ----------------------------------------------------------- interop
# ckptio -> AWS CLI: the downloaded directory is a checkpoint whose every
# chunk matches the CRC32C recorded at save time.
expect_exit 0 aws s3 cp --recursive "s3://$BUCKET/t/run1" "$TMP/awsdl/run1"
expect_exit 0 ck verify "$TMP/awsdl/run1"
# ckptio -> boto3: the same bytes as the AWS CLI got.
expect_exit 0 /usr/bin/python3 - "$EP" "$BUCKET" "t/run1/" "$TMP/awsdl/run1" <<'PY'
import boto3, hashlib, os, sys
ep, bucket, prefix, local = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=ep)
keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(
    Bucket=bucket, Prefix=prefix) for o in p.get("Contents", [])]
assert len(keys) >= 2, keys
for k in keys:
    body = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
    with open(os.path.join(local, k[len(prefix):]), "rb") as f:
        disk = f.read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(disk).digest(), k
print("boto3: %d objects identical" % len(keys))
PY
expect_stdout_contains "objects identical"
# AWS CLI -> ckptio: a checkpoint directory uploaded by the peer loads.
expect_exit 0 ck cp rgw:run1 "$TMP/local/run2"
expect_exit 0 aws s3 cp --recursive "$TMP/local/run2" "s3://$BUCKET/t/run2"
expect_exit 0 ck verify rgw:run2
expect_exit 0 ck cp rgw:run2 "$TMP/local/run2b"
expect_exit 0 ck verify "$TMP/local/run2b"
expect_exit 0 ck rm rgw:run2
# ckptio cp from a local disk to the bucket (copied, not stable, buffers).
expect_exit 0 ck cp "$TMP/local/run2" rgw:run3
expect_exit 0 ck verify rgw:run3
expect_exit 0 ck rm rgw:run3

# Overwrite: the new checkpoint replaces run1 and the old data objects go
# (in one DeleteObjects), so gc finds nothing left.
expect_exit 6 ck bench rgw:run1 --size 6MiB --tensors 3
expect_exit 0 ck bench rgw:run1 --size 6MiB --tensors 3 --keep --overwrite
expect_exit 0 ck verify rgw:run1
expect_exit 0 ck -v rm --gc rgw:run1
expect_stderr_contains "removed 0 objects"

# ------------------------------------------- rm, gc: only what is ckptio's
# In a bucket a prefix may hold a user's other data: rm and gc remove only
# the checkpoint's objects and the layout's debris.
keys_under() { # keys_under PREFIX: the keys under s3://BUCKET/PREFIX, sorted
	/usr/bin/aws --endpoint-url "$EP" s3api list-objects-v2 \
		--bucket "$BUCKET" --prefix "$1" --output text \
		--query 'Contents[].Key' | tr '\t' '\n' | grep -v '^None$' | sort
}
echo "the user's" >"$TMP/mine.txt"
expect_exit 0 ck bench rgw:mine --size 2MiB --tensors 4 --keep
for k in notes.txt .hidden __0_0.ckd .metadata.json.bak sub/__0_0.abc.ckd; do
	aws s3 cp "$TMP/mine.txt" "s3://$BUCKET/t/mine/$k" ||
		fail "aws s3 cp $k"
done
aws s3 cp "$TMP/mine.txt" "s3://$BUCKET/t/mine/__0_7.dead.ckd" # debris
expect_exit 0 ck ls rgw:mine &&
	expect_stdout_line 'debris: +1 objects \(11 B\) of failed saves; .*'
# Young by <LastModified>: kept with --older-than, removed without.
expect_exit 0 ck rm --gc --older-than 1h rgw:mine &&
	expect_stdout_contains "kept 1 objects"
expect_exit 0 ck rm --gc rgw:mine && expect_stdout_contains ": 1 objects" &&
	expect_stdout_contains "left alone 4 objects"
expect_exit 0 ck verify rgw:mine
expect_exit 0 ck rm rgw:mine
want=$(printf '%s\n' t/mine/.hidden t/mine/.metadata.json.bak \
	t/mine/__0_0.ckd t/mine/notes.txt t/mine/sub/__0_0.abc.ckd | sort)
have=$(keys_under t/mine/)
if [ "$want" = "$have" ]; then
	pass "rm and gc in a bucket left the user's 5 objects, and only them"
else
	fail "rm/gc in a bucket: keys left differ"
	diff <(echo "$want") <(echo "$have") | sed 's/^/  | /'
fi
# No checkpoint under the prefix now: rm refuses and deletes nothing.
expect_exit 3 ck rm rgw:mine && expect_stderr_contains "no checkpoint here"
[ "$(keys_under t/mine/)" = "$want" ] &&
	pass "rm of a prefix without a checkpoint deleted nothing" ||
	fail "rm of a prefix without a checkpoint deleted something"

# Two overwriting saves of one id at once: the checkpoint stays whole.
expect_exit 0 ck bench "$TMP/local/raceA" --size 3MiB --tensors 12 --keep
expect_exit 0 ck bench "$TMP/local/raceB" --size 3MiB --tensors 20 --keep
expect_exit 0 ck cp "$TMP/local/raceA" rgw:race
ok=1
for i in 1 2 3 4; do
	"$CKPTIO_BIN" -q cp --overwrite "$TMP/local/raceA" rgw:race 2>/dev/null &
	pa=$!
	"$CKPTIO_BIN" -q cp --overwrite "$TMP/local/raceB" rgw:race 2>/dev/null &
	pb=$!
	wait "$pa" "$pb" # not the test servers
	"$CKPTIO_BIN" -q verify rgw:race >/dev/null 2>&1 || {
		ok=0
		fail "round $i: verify after two concurrent overwrites"
	}
done
[ "$ok" -eq 1 ] && pass "4 rounds of two concurrent overwrites verify"
expect_exit 0 ck rm --gc rgw:race
expect_exit 0 ck rm rgw:race
[ -z "$(keys_under t/race/)" ] && pass "rm left nothing of race" ||
	fail "rm left objects of race: $(keys_under t/race/ | tr '\n' ' ')"

# ----------------------------------------------------------- faults
# Injected faults on every kind of request are retried; the bench still
# compares every byte.
expect_exit 0 env CKPTIO_S3_FAULTS="create:1:503,part:2:503,part:4:reset,part:6:500,part:7:429,complete:1:500,put:1:503,head:1:503,get:2:short,get:3:reset,get:5:500,list:1:503" \
	"$CKPTIO_BIN" -v bench rgw:faults --size 24MiB --tensors 6
expect_stdout_contains "bytes identical"
n=$(retries_in "$ERR")
if [ "$n" -ge 12 ]; then pass "$n retries logged"; else
	fail "only $n retries logged (12 faults injected)"; show_output; fi

# Retries run out: the save fails, leaves no checkpoint and no upload.
expect_exit 1 env CKPTIO_S3_FAULTS="part:3-100:503" \
	"$CKPTIO_BIN" -v bench brief:exhaust --size 24MiB --tensors 2
expect_stderr_contains "SlowDown"
expect_stderr_contains "after 3 attempts"
expect_exit 3 ck ls rgw:exhaust
expect_exit 0 aws s3api list-multipart-uploads --bucket "$BUCKET" \
	--prefix t/exhaust/ --output text --query 'Uploads[].Key'
expect_stdout_lacks "exhaust"

# An authorization failure is not retried.
expect_exit 1 env CKPTIO_S3_FAULTS="get:1:403" \
	"$CKPTIO_BIN" -v verify rgw:run1
expect_stderr_contains "AccessDenied"
n=$(retries_in "$ERR")
[ "$n" -eq 0 ] && pass "403 not retried" || fail "403 retried $n times"

# A wrong secret: a clear message naming the key, at once.
expect_exit 1 ck -v ls wrongkey:run1
expect_stderr_contains "SignatureDoesNotMatch"
expect_stderr_contains "access key $RGW_AK"
n=$(retries_in "$ERR")
[ "$n" -eq 0 ] && pass "wrong secret not retried" ||
	fail "wrong secret retried $n times"

# A missing bucket says so.
expect_exit 3 ck ls "s3://no-such-bucket-here/x"
expect_stderr_contains "bucket does not exist"

# ----------------------------------------------------------- radosgw dies
# Killed in the middle of a save: the save fails, nothing looks complete,
# `ckptio rm` refuses a prefix without a checkpoint, and `ckptio rm --gc`
# removes the parts and aborts the uploads left behind.
ck -v bench brief:killed --size 2GiB --tensors 8 >"$TMP/killed.out" \
	2>"$TMP/killed.err" &
bench_pid=$!
for _ in $(seq 100); do # until the first parts are on the server
	aws s3api list-multipart-uploads --bucket "$BUCKET" --prefix t/killed/ \
		--output text --query 'Uploads[].Key' 2>/dev/null | grep -q killed &&
		break
	sleep 0.1
done
rgw_gw_kill
wait "$bench_pid"
rc=$?
[ "$rc" -ne 0 ] && pass "save failed when radosgw died (exit $rc)" ||
	fail "save succeeded although radosgw died"
if grep -qE "Couldn't connect|Connection refused|Recv failure|Send failure|Server returned nothing|connect" "$TMP/killed.err"; then
	pass "the error names the connection failure"
else
	fail "no connection error in the message"
	tail -5 "$TMP/killed.err"
fi
rgw_gw_start || fail "radosgw did not come back"
expect_exit 3 ck ls rgw:killed
expect_exit 3 ck rm rgw:killed && expect_stderr_contains "objects of failed saves"
expect_exit 0 ck rm --gc rgw:killed
expect_exit 0 aws s3api list-multipart-uploads --bucket "$BUCKET" \
	--prefix t/killed/ --output text --query 'Uploads[].Key'
expect_stdout_lacks "killed"
expect_exit 0 aws s3api list-objects-v2 --bucket "$BUCKET" --prefix t/killed/ \
	--output text --query 'Contents[].Key'
expect_stdout_lacks ".ckd"

# Restarted in the middle of a load: the retries carry it through.  The
# kill waits until the copy has begun writing its first object (a fixed
# delay let a fast copy of 256 MiB finish before it), and 1 GiB leaves
# the copy most of its reads still to do.
expect_exit 0 ck bench rgw:reload --size 1GiB --tensors 8 --keep
ck -v cp rgw:reload "$TMP/reload" >"$TMP/reload.out" 2>"$TMP/reload.err" &
cp_pid=$!
for _ in $(seq 500); do
	find "$TMP/reload" -name '.*.tmp.*' 2>/dev/null | grep -q . && break
	sleep 0.02
done
rgw_gw_kill
sleep 1
rgw_gw_start || fail "radosgw did not come back"
wait "$cp_pid"
rc=$?
[ "$rc" -eq 0 ] && pass "load finished across a radosgw restart" || {
	fail "load failed across a radosgw restart (exit $rc)"
	tail -5 "$TMP/reload.err"
}
n=$(retries_in "$TMP/reload.err")
[ "$n" -ge 1 ] && pass "the load retried $n times" ||
	fail "the restart did not hit the load (no retries): inconclusive"
expect_exit 0 ck verify "$TMP/reload"
expect_exit 0 ck rm rgw:reload

# From a web server into the bucket: a checkpoint nginx serves (written
# there by the posix store) copied with `ckptio cp http://... rgw:...`, then
# every item compared with the original.
if nginx_up "$TMP/web" "$TMP/www"; then
	expect_exit 0 ck bench "$TMP/www/h1" --size 24MiB --tensors 10 --keep
	expect_exit 0 ck cp "http://127.0.0.1:$NGX_PORT/h1" rgw:fromhttp
	expect_exit 0 ck verify rgw:fromhttp
	if "${CKPTIO_PARTLOAD:?}" rgw:fromhttp "$TMP/www/h1" --all >/dev/null; then
		pass "HTTP -> S3: every item identical"
	else
		fail "HTTP -> S3: items differ"
	fi
	expect_exit 0 ck rm rgw:fromhttp
else
	fail "nginx did not start for the HTTP -> S3 copy"
fi

# Four processes save a sharded state dict into the bucket with the MPI
# coordinator (tests/mpi/mpisave), three load it, every value compared.
if [ -x "${CKPTIO_MPISAVE:-}" ]; then
	# shellcheck source=tests/mpi/mpi.sh
	. "$SRC/tests/mpi/mpi.sh"
	expect_exit 0 mpi 4 save rgw:mpi1
	expect_exit 0 ck verify rgw:mpi1
	expect_stdout_contains "OK: 6 items"
	expect_exit 0 mpi 3 load rgw:mpi1 4
	expect_exit 0 mpi 4 fail rgw:mpi2 3
	expect_exit 3 ck ls rgw:mpi2
	expect_exit 0 ck rm rgw:mpi1
fi

# PyTorch DCP through ckptio.torch.StorageWriter/StorageReader into the
# bucket: 4 torch.distributed processes (gloo) save, 2 and 3 load, a
# failing rank fails them all and leaves the checkpoint before it
# (tests/python/dcp_test.py); ckptio.save/load with a torch.distributed
# coordinator.  Needs python3-torch (.ci/run installs it).
PY=${CKPTIO_PYTHON:-/usr/bin/python3}
if "$PY" -c 'import torch.distributed' 2>/dev/null; then
	export PYTHONPATH="$SRC/python${PYTHONPATH:+:$PYTHONPATH}"
	dcp() {
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:detect_leaks=0} \
			LD_PRELOAD=${ASAN_OPTIONS:+$(${CC:-gcc} -print-file-name=libasan.so)} \
			timeout 300 "$PY" "$SRC/tests/python/dcp_test.py" "$@"
	}
	expect_exit 0 dcp save rgw:dcp1 4
	expect_exit 0 ck verify rgw:dcp1
	expect_stdout_contains "OK: 4 items"
	expect_exit 0 dcp load rgw:dcp1 2 4
	expect_exit 0 dcp load rgw:dcp1 3 4
	expect_exit 0 dcp fail rgw:dcp1 4 2
	expect_exit 0 dcp load rgw:dcp1 2 4
	expect_exit 0 dcp fail rgw:dcp2 4 0
	expect_exit 3 ck ls rgw:dcp2
	expect_exit 0 dcp pgsave rgw:dcp3 4
	expect_exit 0 dcp pgload rgw:dcp3 3 4
	expect_exit 0 ck rm rgw:dcp1
	expect_exit 0 ck rm rgw:dcp3
else
	fail "python3-torch is missing: the DCP tests on radosgw cannot run"
fi

finish
