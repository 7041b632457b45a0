#!/usr/bin/env bash
# safetensors.sh - the safetensors layout against numpy, on one filesystem,
# in one run (issue 9).  A benchmark, not a test: it prints figures and
# PASS/MISS against the targets, and exits 0 unless something failed to run.
#
#   save  `ckptio bench` of SIZE in TENSORS tensors through a backend with
#         layout = safetensors (one model.safetensors, fsync'd)  vs  numpy
#         writing a safetensors file of the same size (bench/st_numpy.py:
#         header, then each array's buffer, fsync)
#   load  the same bench's load (right after its save)  vs  numpy reading
#         every tensor with readinto() into preallocated arrays, right
#         after its own save
#   RSS   peak resident memory of a save and of a load, over the payload
#
# Targets (issue 9): save and load >= 1.5 x numpy; peak RSS of a save and
# of a load <= payload + 64 MiB.  `ckptio bench` holds its save source and
# its load destination, so its process may hold 2 x payload + 64 MiB.
#
# Usage: bench/safetensors.sh [--size SIZE] [--tensors N] [--runs N] [DIR]
#   DIR  work directory (default ./bench-st; removed at the end)
# Run from the top of a built tree: needs ./ckptio and the plugins in
# ./plugins/*/.libs, /usr/bin/python3 with numpy.
set -euo pipefail

SIZE=2GiB
TENSORS=200
RUNS=3
WORK=./bench-st
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--tensors) TENSORS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 0 ;;
	*) WORK=$1; shift ;;
	esac
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
CKPTIO=$(pwd)/ckptio
[ -x "$CKPTIO" ] || { echo "safetensors.sh: build first (no ./ckptio)" >&2; exit 1; }
export CKPTIO_PLUGIN_PATH=$(pwd)/plugins/posix/.libs:$(pwd)/plugins/safetensors/.libs
PY=/usr/bin/python3
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP" "$WORK"' EXIT
# ckptio's posix store through the page cache (direct = false), as the
# peers write: each load then reads what its save just wrote from memory,
# the warm load this compares.  The default (O_DIRECT) save is faster still
# (bench/bench.sh), and its load reads the disk.
printf '[backend "st"]\nstore = posix\nroot = %s\nlayout = safetensors\ndirect = false\n' \
	"$WORK" >"$TMP/st.conf"
export CKPTIO_CONFIG=$TMP/st.conf
BYTES=$(size_bytes "$SIZE")

echo "safetensors.sh: $SIZE in $TENSORS tensors, best of $RUNS, in $WORK"
for i in $(seq 1 "$RUNS"); do
	rm -rf "$WORK/ck" "$WORK/np"
	sync
	"$CKPTIO" --json bench st:ck --size "$SIZE" --tensors "$TENSORS" \
		>"$TMP/ck$i.json"
	py 'd = json.load(open(a[0])); print(d["save_seconds"], d["load_seconds"], d["bytes"])' \
		"$TMP/ck$i.json" >>"$TMP/ck.txt"
	mkdir -p "$WORK/np"
	sync
	ns=$("$PY" "$HERE/st_numpy.py" save "$WORK/np/model.safetensors" "$BYTES" "$TENSORS")
	nl=$("$PY" "$HERE/st_numpy.py" load "$WORK/np/model.safetensors")
	echo "$ns $nl" >>"$TMP/np.txt"
	read -r cs cl _ < <(tail -n1 "$TMP/ck.txt")
	printf 'run %d: ckptio save %.3f s load %.3f s | numpy save %.3f s load %.3f s\n' \
		"$i" "$cs" "$cl" "$ns" "$nl"
done
CS=$(awk '{print $1}' "$TMP/ck.txt" | sort -g | head -n1)
CL=$(awk '{print $2}' "$TMP/ck.txt" | sort -g | head -n1)
NS=$(awk '{print $1}' "$TMP/np.txt" | sort -g | head -n1)
NL=$(awk '{print $2}' "$TMP/np.txt" | sort -g | head -n1)
PAYLOAD=$(awk 'NR == 1 {print $3}' "$TMP/ck.txt")

# Peak RSS: one `ckptio bench` (its save source and load destination, 2 x
# payload, plus what the save and load add) and the numpy loader (its
# arrays, 1 x payload).
rm -rf "$WORK/ck"
/usr/bin/time -f '%M' -o "$TMP/rss" "$CKPTIO" -q bench st:ck --size "$SIZE" \
	--tensors "$TENSORS" >/dev/null
CK_RSS_KB=$(tail -n1 "$TMP/rss")
/usr/bin/time -f '%M' -o "$TMP/rss2" "$PY" "$HERE/st_numpy.py" load \
	"$WORK/np/model.safetensors" >/dev/null
NP_RSS_KB=$(tail -n1 "$TMP/rss2")

echo
py '
cs, cl, ns, nl, payload, ck_rss, np_rss = map(float, a)
gb = payload / 1e9
print("%-34s %8s %8s" % ("", "seconds", "GB/s"))
for name, s in (("ckptio save (safetensors)", cs), ("numpy save", ns),
                ("ckptio load (safetensors)", cl), ("numpy load (readinto)", nl)):
    print("%-34s %8.3f %8.2f" % (name, s, gb / s))
print()
def row(name, v, target, ok):
    print("%-34s %8.2f  %-12s %s" % (name, v, target, "PASS" if ok else "MISS"))
row("save / numpy save", ns / cs, ">= 1.50", ns / cs >= 1.5)
row("load / numpy load", nl / cl, ">= 1.50", nl / cl >= 1.5)
extra = ck_rss * 1024 - 2 * payload
row("bench RSS - 2 x payload, MiB", extra / 2**20, "<= 64", extra <= 64 * 2**20)
print("numpy loader peak RSS - payload, MiB: %.1f" % ((np_rss * 1024 - payload) / 2**20))
' "$CS" "$CL" "$NS" "$NL" "$PAYLOAD" "$CK_RSS_KB" "$NP_RSS_KB"
