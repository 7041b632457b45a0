#!/bin/bash
# test_safetensors_s3.sh - the safetensors layout over the S3 store,
# against a real Ceph RADOS Gateway started here on loopback:
#  - a native checkpoint (ckptio bench, 64 MiB, 200 tensors) copied into
#    the bucket as one model.safetensors (cp --layout safetensors) and as
#    shards plus an index (a backend with layout = safetensors and
#    shard_size = 16MiB); both listed and verified in the bucket, copied
#    back to local native checkpoints that verify and hold the same bytes;
#  - a few tensors loaded from the bucket (tests/partload, with
#    CKPTIO_LOAD_PARTIAL) through a counting proxy (countproxy.py): the
#    bytes radosgw sent are those tensors plus the headers and the index,
#    far below the model's size;
#  - the single file downloaded with the AWS CLI passes an independent
#    strict reader (tests/safetensors/stref.py check), and so does the
#    sharded model, which holds the same tensors.
# Env (from `make check-rgw`): CKPTIO_BIN, CKPTIO_PLUGIN_PATH,
# CKPTIO_SRCDIR, CKPTIO_PARTLOAD (the built tests/partload).
set -u
SRC=${CKPTIO_SRCDIR:?set by make check-rgw}
PARTLOAD=${CKPTIO_PARTLOAD:?set by make check-rgw}
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"
# shellcheck source=tests/s3/rgw.sh
. "$SRC/tests/s3/rgw.sh"

pkg_install awscli python3-numpy ||
	{ echo "FAIL: cannot install awscli, python3-numpy"; exit 1; }

PROXY_PID=""
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID"; rgw_down; rm -rf "$TMP"' EXIT
if ! rgw_up; then
	echo "FAIL: radosgw did not start (see the messages above)"
	echo "0 passed, 1 failed"
	exit 1
fi
EP=http://127.0.0.1:$RGW_PORT
BUCKET=ckptio-st

export AWS_ACCESS_KEY_ID=$RGW_AK AWS_SECRET_ACCESS_KEY=$RGW_SK
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_CA_BUNDLE
export HOME=$TMP/home # no ~/.aws of the machine's user
mkdir -p "$HOME"
aws() {
	if [ "$1 ${2:-}" = "s3 cp" ]; then
		/usr/bin/aws --endpoint-url "$EP" "$@" --only-show-errors
	else
		/usr/bin/aws --endpoint-url "$EP" "$@"
	fi
}

# backend NAME ENDPOINT PREFIX [KEY = VALUE]...: a [backend] section.
backend() {
	printf '[backend "%s"]\nstore = s3\nendpoint = %s\nbucket = %s\n' \
		"$1" "$2" "$BUCKET"
	printf 'prefix = %s\n' "$3"
	# shellcheck disable=SC2016  # ckptio expands ${ENV} in its config
	printf 'access_key_id = ${AWS_ACCESS_KEY_ID}\nsecret_access_key = %s\n' \
		'${AWS_SECRET_ACCESS_KEY}'
	shift 3
	while [ $# -ge 3 ]; do
		printf '%s = %s\n' "$1" "$3"
		shift 3
	done
	echo
}

{
	backend rgw "$EP" t/
	backend sharded "$EP" t/ layout = safetensors shard_size = 16MiB
} >"$TMP/ckptio.conf"
export CKPTIO_CONFIG=$TMP/ckptio.conf

# ----------------------------------------------------------- copies
LOCAL=$TMP/native
expect_exit 0 ck bench "$LOCAL" --size 64MiB --tensors 200 --keep
expect_stdout_contains "bytes identical"
MODEL_BYTES=$(sed -n 's/^bytes: *\([0-9]*\).*/\1/p' \
	<(ck ls "$LOCAL" 2>/dev/null))
[ -n "$MODEL_BYTES" ] && [ "$MODEL_BYTES" -gt $((60 << 20)) ] &&
	pass "the model holds $MODEL_BYTES bytes" ||
	fail "no model size from ckptio ls ($MODEL_BYTES)"

expect_exit 0 aws s3 mb "s3://$BUCKET"
# One file: the destination's layout from the command line.
expect_exit 0 ck cp --layout safetensors "$LOCAL" rgw:single
expect_exit 0 aws s3 ls "s3://$BUCKET/t/single/"
expect_stdout_contains "model.safetensors"
expect_stdout_lacks "index.json"
# Shards: from the backend (layout, shard_size).
expect_exit 0 ck cp "$LOCAL" sharded:sharded
expect_exit 0 aws s3 ls "s3://$BUCKET/t/sharded/"
expect_stdout_contains "model.safetensors.index.json"
expect_stdout_contains "model-00001-of-0000"
if grep -q ' model\.safetensors$' "$OUT"; then
	fail "a model.safetensors beside the shards"
else
	pass "no model.safetensors beside the shards"
fi
NSHARDS=$(grep -c -- '-of-0000.*\.safetensors$' "$OUT")
[ "$NSHARDS" -ge 4 ] && pass "$NSHARDS shards of at most 16 MiB" ||
	fail "$NSHARDS shards of a 64 MiB model with shard_size 16MiB"

# rgw's layout is native: the model is detected as safetensors.
for loc in rgw:single sharded:sharded; do
	expect_exit 0 ck ls "$loc"
	expect_stdout_line "layout: +safetensors"
	expect_stdout_line "items: +203"
	expect_stdout_line "bytes: +$MODEL_BYTES .*"
	expect_stdout_contains "optimizer.step"
	expect_exit 0 ck verify "$loc"
done

# Back to local native checkpoints: they verify and hold the same bytes.
for loc in rgw:single sharded:sharded; do
	back=$TMP/back-${loc%%:*}
	expect_exit 0 ck cp "$loc" "$back"
	expect_exit 0 ck ls "$back"
	expect_stdout_line "layout: +native"
	expect_exit 0 ck verify "$back"
	expect_exit 0 "$PARTLOAD" "$back" "$LOCAL" --all
	expect_stdout_contains "items 203 bytes $MODEL_BYTES seconds "
done

# ----------------------------------------------------------- partial load
# Three tensors far apart in data order (ranges closer than 64 KiB would
# be fetched together), through a proxy counting what radosgw sends.
NAMES=(model.layers.2.mlp.gate_proj.weight
	model.layers.12.self_attn.o_proj.weight
	model.layers.24.mlp.down_proj.weight)
expect_exit 0 ck ls "$LOCAL"
for n in "${NAMES[@]}"; do
	expect_stdout_contains "$n "
done

# partial_load NAME LOC: load NAMES from LOC through a fresh proxy; the
# proxy's stats in $TMP/NAME.json, partload's output in $OUT.
partial_load() {
	local stats=$TMP/$1.json port
	"$PY" "$SRC/tests/s3/countproxy.py" "$RGW_PORT" "$stats" \
		>"$TMP/proxy.port" 2>"$TMP/proxy.err" &
	PROXY_PID=$!
	for _ in $(seq 100); do
		port=$(head -n1 "$TMP/proxy.port")
		[ -n "$port" ] && break
		sleep 0.05
	done
	{
		cat "$CKPTIO_CONFIG"
		backend counted "http://127.0.0.1:$port" t/
	} >"$TMP/counted.conf"
	expect_exit 0 env CKPTIO_CONFIG="$TMP/counted.conf" "$PARTLOAD" \
		"counted:$2" "$LOCAL" "${NAMES[@]}"
	kill "$PROXY_PID"
	wait "$PROXY_PID"
	PROXY_PID=""
}

# check_fetched NAME FILES EXTRA: what the stats of NAME show, against
# the tensors' bytes (partload's output), FILES headers of at most 64 KiB
# each (the first read of a file) and EXTRA bytes (the index).
check_fetched() {
	local stats=$TMP/$1.json want
	want=$(sed -n 's/^items 3 bytes \([0-9]*\) seconds .*$/\1/p' "$OUT")
	"$PY" - "$stats" "${want:-0}" "$2" "$3" "$MODEL_BYTES" <<'PYEOF'
import json, sys
stats, want, files, extra, model = sys.argv[1], *map(int, sys.argv[2:])
s = json.load(open(stats))
n = sum(s["requests"].values())
# Headers of a file: its first 64 KiB; an HTTP exchange: under 4 KiB of
# status line and headers; ranges within 64 KiB are fetched together.
bound = want + files * (64 << 10) + extra + n * 4096 + 2 * (64 << 10)
print("fetched %d bytes in %d requests (%s), %d range bytes; tensors %d, "
      "bound %d, model %d" % (s["bytes_down"], n, s["requests"],
                              s["range_bytes"], want, bound, model))
for line in s["log"]:
    print("  " + line)
ok = (not s["unparsed"] and want > 0 and set(s["requests"]) <= {"GET", "HEAD"}
      and want <= s["range_bytes"] <= s["bytes_down"] <= bound
      and s["bytes_down"] * 8 < model)
sys.exit(0 if ok else 1)
PYEOF
}

partial_load single single
if check_fetched single 1 0 >"$TMP/fetched.txt"; then
	pass "single file: only the tensors and the header were fetched"
else
	fail "single file: more fetched than the tensors and the header"
	cat "$TMP/fetched.txt"
fi
[ -n "${CKPTIO_TEST_VERBOSE:-}" ] && cat "$TMP/fetched.txt"

INDEX_BYTES=$(aws s3api head-object --bucket "$BUCKET" \
	--key t/sharded/model.safetensors.index.json \
	--query ContentLength --output text 2>/dev/null)
partial_load sharded sharded
if check_fetched sharded "$NSHARDS" "${INDEX_BYTES:-0}" >"$TMP/fetched.txt"
then
	pass "shards: only the tensors, the headers and the index were fetched"
else
	fail "shards: more fetched than the tensors, the headers and the index"
	cat "$TMP/fetched.txt"
fi
[ -n "${CKPTIO_TEST_VERBOSE:-}" ] && cat "$TMP/fetched.txt"

# ----------------------------------------------------------- other readers
mkdir -p "$TMP/dl/single" "$TMP/dl/sharded"
expect_exit 0 aws s3 cp "s3://$BUCKET/t/single/model.safetensors" \
	"$TMP/dl/single/model.safetensors"
expect_exit 0 "$PY" "$SRC/tests/safetensors/stref.py" check \
	"$TMP/dl/single/model.safetensors"
expect_exit 0 aws s3 cp --recursive "s3://$BUCKET/t/sharded/" \
	"$TMP/dl/sharded"
expect_exit 0 "$PY" "$SRC/tests/safetensors/stref.py" check "$TMP/dl/sharded"
expect_exit 0 "$PY" "$SRC/tests/safetensors/stref.py" compare \
	"$TMP/dl/single" "$TMP/dl/sharded"

finish
