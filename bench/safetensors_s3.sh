#!/usr/bin/env bash
# safetensors_s3.sh - loading part of a safetensors model from a bucket
# (issue 9, benchmark c).  A benchmark, not a test: it prints figures and
# exits 0 unless something failed to run.
#
# A native checkpoint of SIZE in TENSORS tensors (`ckptio bench`) is
# converted into a bucket of a radosgw started here (tests/s3/rgw.sh) as
# one model.safetensors, then loaded back through tests/partload (the
# library's load with CKPTIO_LOAD_PARTIAL, timed alone): every tensor, and
# every tenth tensor (about 10% of the bytes).  Target: the time scales
# with the bytes read (10% of the tensors in about 10% of the time).
#
# Usage: bench/safetensors_s3.sh [--size SIZE] [--tensors N] [--runs N]
# Run from the top of a built tree (`make`, which builds tests/partload
# with `make check` or `make tests/partload`).
set -euo pipefail

SIZE=1GiB
TENSORS=200
RUNS=3
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--tensors) TENSORS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 0 ;;
	*) echo "safetensors_s3.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(pwd)
CK=$BUILD/ckptio
PARTLOAD=$BUILD/tests/partload
[ -x "$CK" ] && [ -x "$PARTLOAD" ] ||
	{ echo "safetensors_s3.sh: build first (./ckptio, make tests/partload)" >&2; exit 1; }
export CKPTIO_PLUGIN_PATH=$BUILD/plugins/posix/.libs:$BUILD/plugins/s3/.libs:$BUILD/plugins/safetensors/.libs
. "$SRC/bench/lib.sh"
# shellcheck source=tests/s3/rgw.sh
. "$SRC/tests/s3/rgw.sh"
pkg_install awscli || { echo "cannot install awscli" >&2; exit 1; }
BYTES=$(size_bytes "$SIZE")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-stbench.XXXXXX")
trap 'rgw_down; rm -rf "$TMP"' EXIT
export RGW_MEMSTORE_BYTES=$((BYTES * 2 + (1 << 30)))
rgw_up || { echo "radosgw did not start" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=$RGW_AK AWS_SECRET_ACCESS_KEY=$RGW_SK
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
printf '[backend "rgw"]\nstore = s3\nendpoint = http://127.0.0.1:%s\nbucket = stbench\naccess_key_id = ${AWS_ACCESS_KEY_ID}\nsecret_access_key = ${AWS_SECRET_ACCESS_KEY}\n' \
	"$RGW_PORT" >"$TMP/ckptio.conf"
export CKPTIO_CONFIG=$TMP/ckptio.conf
/usr/bin/aws --endpoint-url "http://127.0.0.1:$RGW_PORT" s3 mb s3://stbench >/dev/null

"$CK" -q bench "$TMP/native" --size "$SIZE" --tensors "$TENSORS" --keep >/dev/null
"$CK" -q cp --layout safetensors "$TMP/native" rgw:model
# Every tenth tensor of the model, by name.
"$CK" --json ls "$TMP/native" | py '
d = json.load(sys.stdin)
t = [i["name"] for i in d["items"] if i["kind"] == "tensor"]
print("\n".join(t[::10]))' >"$TMP/names"
mapfile -t NAMES <"$TMP/names"

echo "safetensors_s3.sh: $SIZE in $TENSORS tensors as one model.safetensors in a radosgw bucket; best of $RUNS"
for i in $(seq 1 "$RUNS"); do
	read -r _ _ _ ab _ as _ < <("$PARTLOAD" rgw:model "$TMP/native" --all)
	read -r _ pn _ pb _ ps _ < <("$PARTLOAD" rgw:model "$TMP/native" "${NAMES[@]}")
	echo "$ab $as $pn $pb $ps" >>"$TMP/runs"
	printf 'run %d: all %d bytes in %.3f s; %d tensors, %d bytes in %.3f s\n' \
		"$i" "$ab" "$as" "$pn" "$pb" "$ps"
done
py '
rows = [list(map(float, l.split())) for l in open(a[0])]
ab = rows[0][0]; pb = rows[0][3]; pn = int(rows[0][2])
as_ = min(r[1] for r in rows); ps = min(r[4] for r in rows)
print()
print("all tensors:   %12d bytes  %7.3f s  %6.2f GB/s" % (ab, as_, ab / as_ / 1e9))
print("%3d tensors:   %12d bytes  %7.3f s  %6.2f GB/s" % (pn, pb, ps, pb / ps / 1e9))
print("bytes fraction %.3f, time fraction %.3f (target: about equal)" % (pb / ab, ps / as_))
' "$TMP/runs"
