#!/usr/bin/env bash
# torch.sh - ckptio from PyTorch against PyTorch's own checkpointing, in one
# run (issue 11).  A benchmark, not a test: prints seconds, GB/s and the
# ratios, PASS/MISS against the targets, and exits 0 unless something
# failed to run.  One process per method and repetition
# (bench/torch_bench.py): a 2 GiB state dict of 200 tensors, alternately
# float32 and bfloat16, saved and loaded back (loads warm: each method
# reads what it just wrote, on the same disk).
#
#   C        `ckptio bench` of the same size and count (the Python
#            overhead: target ckptio within 10% of it)
#   ckptio   ckptio.save / ckptio.load (targets: save and load >= 2x dcp)
#   ckptio-dcp  DCP save_state_dict / load_state_dict with
#            ckptio.torch.StorageWriter / StorageReader (target >= 1x dcp)
#   dcp      DCP 1.13 FileSystemWriter / FileSystemReader (no_dist)
#   torch    torch.save / torch.load (no fsync, one file; no target)
#
# --s3 instead starts a radosgw (tests/s3/rgw.sh) and compares
# ckptio.torch.StorageWriter/Reader into the bucket with DCP's
# FileSystemWriter to the local disk followed by `aws s3 cp --recursive`
# (and the download followed by FileSystemReader).
#
# Usage: bench/torch.sh [--size SIZE] [--tensors N] [--runs N] [--dir DIR] [--s3]
#   defaults: 2GiB, 200 tensors, best of 3, under $TMPDIR or /tmp.
# Run from the top of a built tree (`make`); needs python3-torch.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
SIZE=2GiB TENSORS=200 RUNS=3 DIR=${TMPDIR:-/tmp} S3=0
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--tensors) TENSORS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--dir) DIR=$2; shift 2 ;;
	--s3) S3=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "torch.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
die() { echo "torch.sh: $*" >&2; exit 1; }
[ -x ./ckptio ] && [ -e .libs/libckptio.so.0 ] || die "run from a built tree"
/usr/bin/python3 -c 'import torch' 2>/dev/null || die "install python3-torch"
BYTES=$(size_bytes "$SIZE")
WORK=$(mktemp -d "$DIR/ckptio-bench-torch.XXXXXX")
# ckptio's posix store through the page cache (direct = false), as the
# peers write: each load then reads what its save just wrote from memory,
# the warm load this compares.  The default (O_DIRECT) save is faster still
# (bench/bench.sh), and its load reads the disk.
printf '[store "posix"]\ndirect = false\n' >"$WORK/posix.conf"
export CKPTIO_CONFIG=$WORK/posix.conf
export CKPTIO_PLUGIN_PATH=${CKPTIO_PLUGIN_PATH:-$(pwd)/plugins/posix/.libs:$(pwd)/plugins/s3/.libs}
export CKPTIO_LIBRARY=$(pwd)/.libs/libckptio.so.0
export PYTHONPATH="$SRC/python${PYTHONPATH:+:$PYTHONPATH}"
export TORCH_BENCH_TMP=$WORK

# run METHOD LOC: "save load" seconds, best of RUNS.
run() {
	/usr/bin/python3 "$SRC/bench/torch_bench.py" "$1" "$2" --size "$BYTES" \
		--tensors "$TENSORS" --runs "$RUNS" >"$WORK/$1.json" ||
		die "$1 failed"
	py 'd = json.load(open(a[0])); print(d["save"], d["load"])' "$WORK/$1.json"
}
# report NAME SAVE LOAD REFSAVE REFLOAD TARGET REFNAME
report() {
	py '
name, s, l, rs, rl, t, ref = a[0], float(a[1]), float(a[2]), float(a[3]), float(a[4]), float(a[5]), a[6]
b = int(a[7])
for what, x, r in (("save", s, rs), ("load", l, rl)):
    k = r / x
    verdict = "(target >= %gx: %s)" % (t, "PASS" if k >= t else "MISS") if t else "(no target)"
    print("  %-10s %s %7.3f s %6.2f GB/s  %5.2fx %s %s" % (
        name, what, x, b / x / 1e9, k, ref, verdict))' \
		"$@" "$BYTES"
}

if [ "$S3" = 1 ]; then
	trap 'rgw_down; rm -rf "$WORK"' EXIT
	# shellcheck source=tests/s3/rgw.sh
	. "$SRC/tests/s3/rgw.sh"
	pkg_install awscli || die "cannot install awscli"
	export RGW_MEMSTORE_BYTES=$((BYTES * 3 + (1 << 30)))
	rgw_up || die "radosgw did not start"
	export AWS_ACCESS_KEY_ID=$RGW_AK AWS_SECRET_ACCESS_KEY=$RGW_SK
	export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
	export TORCH_BENCH_ENDPOINT=http://127.0.0.1:$RGW_PORT
	export AWS_CONFIG_FILE=$WORK/aws.config
	unset AWS_PROFILE AWS_SESSION_TOKEN
	printf '[default]\ns3 =\n  max_concurrent_requests = 16\n  multipart_chunksize = 16MB\n  multipart_threshold = 16MB\n' >"$AWS_CONFIG_FILE"
	printf '[backend "rgw"]\nstore = s3\nendpoint = http://127.0.0.1:%s\nbucket = bench\naccess_key_id = ${AWS_ACCESS_KEY_ID}\nsecret_access_key = ${AWS_SECRET_ACCESS_KEY}\n' \
		"$RGW_PORT" >"$WORK/ckptio.conf"
	export CKPTIO_CONFIG=$WORK/ckptio.conf
	/usr/bin/aws --endpoint-url "$TORCH_BENCH_ENDPOINT" s3 mb s3://bench >/dev/null
	echo "$SIZE in $TENSORS tensors (F32/BF16), radosgw on 127.0.0.1, best of $RUNS"
	read -r ds dl < <(run dcp+aws s3://bench/dcp)
	read -r cs cl < <(run ckptio-dcp rgw:ckptio-dcp)
	report ckptio-dcp "$cs" "$cl" "$ds" "$dl" 1 "dcp+aws"
	py 'print("  dcp+aws    save %7.3f s, load %7.3f s" % (float(a[0]), float(a[1])))' "$ds" "$dl"
	exit 0
fi
trap 'rm -rf "$WORK"' EXIT
echo "$SIZE in $TENSORS tensors (F32/BF16), saved to $DIR, best of $RUNS"
c_save="" c_load=""
for _ in $(seq "$RUNS"); do
	./ckptio --json bench "$WORK/c" --size "$BYTES" --tensors "$TENSORS" >"$WORK/c.json"
	read -r s l < <(py 'd = json.load(open(a[0])); print(d["save_seconds"], d["load_seconds"])' "$WORK/c.json")
	c_save=$(py 'print(min(float(x) for x in a if x))' "$s" "$c_save")
	c_load=$(py 'print(min(float(x) for x in a if x))' "$l" "$c_load")
done
read -r ps pl < <(run ckptio "$WORK/ckptio")
read -r ks kl < <(run ckptio-dcp "$WORK/ckptio-dcp")
read -r ds dl < <(run dcp "$WORK/dcp")
read -r ts tl < <(run torch "$WORK/torch")
report ckptio "$ps" "$pl" "$ds" "$dl" 2 dcp
report ckptio-dcp "$ks" "$kl" "$ds" "$dl" 1 dcp
report ckptio "$ps" "$pl" "$ts" "$tl" 0 torch.save
py '
b = int(a[0])
for name, s, l in (("C bench", a[1], a[2]), ("dcp", a[3], a[4]), ("torch", a[5], a[6])):
    s, l = float(s), float(l)
    print("  %-10s save %7.3f s %6.2f GB/s, load %7.3f s %6.2f GB/s" % (name, s, b / s / 1e9, l, b / l / 1e9))
for what, c, p in (("save", a[1], a[7]), ("load", a[2], a[8])):
    r = float(p) / float(c) - 1
    print("  Python over C, %s: %+.1f%% (target <= +10%%: %s)" % (what, 100 * r, "PASS" if r <= 0.10 else "MISS"))' \
	"$BYTES" "$c_save" "$c_load" "$ds" "$dl" "$ts" "$tl" "$ps" "$pl"
