#!/usr/bin/env bash
# python.sh - the Python package's overhead over the C library (issue 11):
# `ckptio bench` (C) and ckptio.save / ckptio.load from Python (numpy
# arrays: F32 tensors of the same total size and count) on the same disk,
# in one run.  A benchmark, not a test: prints seconds, GB/s and the ratio,
# PASS/MISS against the target (Python within 10% of C), and exits 0
# unless something failed to run.
#
# Usage: bench/python.sh [--size SIZE] [--tensors N] [--runs N] [--dir DIR]
#   defaults: 2GiB, 200 tensors, best of 2, under /tmp.
# Run from the top of a built tree (`make`).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
SIZE=2GiB TENSORS=200 RUNS=2 DIR=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--tensors) TENSORS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--dir) DIR=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "python.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
die() { echo "python.sh: $*" >&2; exit 1; }
[ -x ./ckptio ] && [ -e .libs/libckptio.so.0 ] || die "run from a built tree"
BYTES=$(size_bytes "$SIZE")
WORK=$(mktemp -d "$DIR/ckptio-bench-py.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# ckptio's posix store through the page cache (direct = false), as the
# peers write: each load then reads what its save just wrote from memory,
# the warm load this compares.  The default (O_DIRECT) save is faster still
# (bench/bench.sh), and its load reads the disk.
printf '[store "posix"]\ndirect = false\n' >"$WORK/posix.conf"
export CKPTIO_CONFIG=$WORK/posix.conf
export CKPTIO_PLUGIN_PATH=${CKPTIO_PLUGIN_PATH:-$(pwd)/plugins/posix/.libs}
export CKPTIO_LIBRARY=$(pwd)/.libs/libckptio.so.0
export PYTHONPATH="$SRC/python${PYTHONPATH:+:$PYTHONPATH}"
echo "$SIZE in $TENSORS tensors, saved to $DIR, best of $RUNS"
c_save="" c_load=""
for _ in $(seq "$RUNS"); do
	./ckptio --json bench "$WORK/c" --size "$BYTES" --tensors "$TENSORS" >"$WORK/c.json"
	read -r s l < <(py 'd = json.load(open(a[0])); print(d["save_seconds"], d["load_seconds"])' "$WORK/c.json")
	c_save=$(py 'print(min(float(x) for x in a if x))' "$s" "$c_save")
	c_load=$(py 'print(min(float(x) for x in a if x))' "$l" "$c_load")
done
read -r p_save p_load < <(/usr/bin/python3 - "$WORK/py" "$BYTES" "$TENSORS" "$RUNS" <<'PYEOF'
import shutil, sys, time
import numpy as np
import ckptio
loc, total, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
per = total // n // 4
rng = np.random.default_rng(1)
sd = {"layers": {str(i): rng.standard_normal(per, dtype=np.float32) for i in range(n)}}
out = {"layers": {str(i): np.empty(per, np.float32) for i in range(n)}}
for a in out["layers"].values():
    a.fill(0)  # touched, as the C bench's destination is
best_s = best_l = None
for _ in range(runs):
    shutil.rmtree(loc, ignore_errors=True)
    t0 = time.perf_counter(); ckptio.save(sd, loc); t1 = time.perf_counter()
    ckptio.load(out, loc); t2 = time.perf_counter()
    best_s = min(best_s or 1e9, t1 - t0); best_l = min(best_l or 1e9, t2 - t1)
assert all(np.array_equal(sd["layers"][k], out["layers"][k]) for k in sd["layers"])
print(best_s, best_l)
PYEOF
)
py '
b = int(a[0]); cs, cl, ps, pl = map(float, a[1:5])
for what, c, p in (("save", cs, ps), ("load", cl, pl)):
    r = p / c - 1
    print("  %s: C %.3f s (%.2f GB/s), Python %.3f s (%.2f GB/s): %+.1f%% (target <= +10%%: %s)" % (
        what, c, b / c / 1e9, p, b / p / 1e9, 100 * r, "PASS" if r <= 0.10 else "MISS"))' \
	"$BYTES" "$c_save" "$c_load" "$p_save" "$p_load"
