#!/usr/bin/env bash
# bench.sh - ckptio against the peer tools, on one filesystem, in one run
# (issue 2, item 12).  A benchmark, not a test: it prints figures and
# PASS/MISS against the targets, and exits 0 unless something failed to run.
#
#   save  `ckptio bench` save of SIZE in TENSORS tensors   vs  dd writing the
#         same bytes (oflag=direct and conv=fsync; the faster counts);
#         with the defaults (O_DIRECT) and with `direct = false` (through
#         the page cache)
#   load  `ckptio bench` load right after a `direct = false` save (warm:
#         the data is in the page cache)  vs  cat of the checkpoint's data
#         files, warm (page cache primed first); the load right after a
#         default save (from the disk: O_DIRECT leaves nothing cached) is
#         shown too
#   RSS   peak resident memory of a separate `ckptio bench` run
#
# Targets on the project's 2-core machines: save >= 0.9 x dd, load >= 1.0 x
# cat (issue 8; 0.8 before), peak RSS <= payload + 64 MiB for the save.
# `ckptio bench` allocates its payload itself and also the destination
# buffers of its load, so the measured process holds 2 x payload: its limit
# is 2 x payload + 64 MiB.
#
# Usage: bench/bench.sh [options] [DIR]
#   DIR                work directory on the filesystem to measure
#                      (default ./bench-work; created, and removed when
#                      empty at the end unless --keep)
#   --ckptio PATH      the ckptio binary (default $CKPTIO_BIN or ./ckptio)
#   --plugin-path DIR  plugin directory (default $CKPTIO_PLUGIN_PATH or
#                      ./plugins/posix/.libs)
#   --size SIZE        payload (default 2GiB)
#   --tensors N        tensors (default 200)
#   --runs N           ckptio bench repetitions (default 3; the best counts)
#   --keep             keep the checkpoint and the work directory
#   -h, --help         this text
# Run from the top of a built tree (`make`), e.g. `bench/bench.sh /mnt/nvme`.
set -euo pipefail

CKPTIO=${CKPTIO_BIN:-./ckptio}
PLUGIN_PATH=${CKPTIO_PLUGIN_PATH:-./plugins/posix/.libs}
SIZE=2GiB
TENSORS=200
RUNS=3
KEEP=0
WORK=./bench-work

usage() {
	sed -n '/^# Usage:/,/^# Run from/s/^# \{0,1\}//p' "$0"
}

die() {
	echo "bench.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--ckptio) CKPTIO=${2:?--ckptio needs a path}; shift 2 ;;
	--plugin-path) PLUGIN_PATH=${2:?--plugin-path needs a directory}; shift 2 ;;
	--size) SIZE=${2:?--size needs a value}; shift 2 ;;
	--tensors) TENSORS=${2:?--tensors needs a number}; shift 2 ;;
	--runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) WORK=$1; shift ;;
	esac
done

command -v python3 >/dev/null || die "python3 is needed for the arithmetic"
[ -x "$CKPTIO" ] || die "$CKPTIO is not an executable (build first, or pass --ckptio)"
[ -d "$PLUGIN_PATH" ] || die "plugin directory $PLUGIN_PATH not found (pass --plugin-path)"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs: expected a positive number"
CKPTIO=$(cd "$(dirname "$CKPTIO")" && pwd)/$(basename "$CKPTIO")
CKPTIO_PLUGIN_PATH=$(cd "$PLUGIN_PATH" && pwd)
export CKPTIO_PLUGIN_PATH

# py, size_bytes
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- set-up
PAYLOAD_EST=$(size_bytes "$SIZE")
CREATED_WORK=0
if [ ! -d "$WORK" ]; then
	mkdir -p "$WORK"
	CREATED_WORK=1
fi
WORK=$(cd "$WORK" && pwd)
CK=$WORK/ck
DDFILE=$WORK/dd.out
TMP=$(mktemp -d)

cleanup() {
	rm -rf "$TMP" "$DDFILE"
	[ "$KEEP" = 1 ] && return
	rm -rf "$CK" "$WORK/ck-rss"
	if [ "$CREATED_WORK" = 1 ]; then
		rmdir "$WORK" 2>/dev/null || true
	fi
}
trap cleanup EXIT

# The checkpoint and the dd file coexist: need about 2 x payload free.
avail_kb=$(df -P -k "$WORK" | awk 'NR == 2 {print $4}')
need_kb=$(((PAYLOAD_EST * 2 + (256 << 20)) >> 10))
if [ "$avail_kb" -lt "$need_kb" ]; then
	die "$WORK has $((avail_kb >> 10)) MiB free; need about $((need_kb >> 10)) MiB"
fi

now() { date +%s.%N; }

echo "bench.sh: $SIZE in $TENSORS tensors, $RUNS runs, in $WORK"
echo "filesystem: $(df -P -T "$WORK" 2>/dev/null | awk 'NR == 2 {print $2 " on " $1}')"
echo "ckptio: $CKPTIO ($("$CKPTIO" --version 2>/dev/null | head -n1))"
echo "cpus: $(nproc)"
echo

# ---------------------------------------------------------------- (a) ckptio
# Each run saves, loads, verifies and keeps the checkpoint (for cat),
# through the page cache (direct = false): its load is the warm load.
printf '[store "posix"]\ndirect = false\n' >"$TMP/buffered.conf"
PAYLOAD=0
for i in $(seq 1 "$RUNS"); do
	# Each run starts like dd's: no previous checkpoint to replace (its
	# removal is not a save's cost) and no dirty pages of earlier runs
	# still being written back while it is timed.
	[ "$i" -gt 1 ] && "$CKPTIO" -q rm "$CK"
	sync
	if ! CKPTIO_CONFIG="$TMP/buffered.conf" "$CKPTIO" --json bench "$CK" \
		--size "$SIZE" --tensors "$TENSORS" \
		--keep >"$TMP/run$i.json" 2>"$TMP/run$i.err"; then
		cat "$TMP/run$i.json" "$TMP/run$i.err" >&2
		die "ckptio bench (direct = false) run $i failed"
	fi
	read -r PAYLOAD s l < <(py '
d = json.load(open(a[0])); print(d["bytes"], d["save_seconds"], d["load_seconds"])' \
		"$TMP/run$i.json")
	echo "$s" >>"$TMP/bsave.txt"
	echo "$l" >>"$TMP/load.txt"
	printf 'ckptio bench run %d, direct = false: save %.3f s, load %.3f s\n' "$i" "$s" "$l"
done
BSAVE_S=$(sort -g "$TMP/bsave.txt" | head -n1)
LOAD_S=$(sort -g "$TMP/load.txt" | head -n1)

# ---------------------------------------------------------------- (a2)
# The same saves with the defaults: O_DIRECT (no page cache, aligned
# tensors sent without a copy), the like-for-like peer of dd oflag=direct.
# Its load reads from the disk (nothing is cached).
for i in $(seq 1 "$RUNS"); do
	rm -rf "$WORK/ck-direct"
	sync
	if ! "$CKPTIO" --json bench \
		"$WORK/ck-direct" --size "$SIZE" --tensors "$TENSORS" \
		>"$TMP/direct$i.json" 2>"$TMP/direct$i.err"; then
		cat "$TMP/direct$i.json" "$TMP/direct$i.err" >&2
		die "ckptio bench (default) run $i failed"
	fi
	read -r s l < <(py '
d = json.load(open(a[0])); print(d["save_seconds"], d["load_seconds"])' \
		"$TMP/direct$i.json")
	echo "$s" >>"$TMP/save.txt"
	echo "$l" >>"$TMP/dload.txt"
	printf 'ckptio bench run %d, defaults: save %.3f s, load %.3f s (disk)\n' "$i" "$s" "$l"
done
SAVE_S=$(sort -g "$TMP/save.txt" | head -n1)
DLOAD_S=$(sort -g "$TMP/dload.txt" | head -n1)
rm -rf "$WORK/ck-direct"

# ---------------------------------------------------------------- (b) dd
BS=$((8 << 20))
COUNT=$(((PAYLOAD + BS - 1) / BS))
DD_BYTES=$((COUNT * BS))

# Seconds of one dd (wall clock around the process), or "" when the
# filesystem refuses the mode (O_DIRECT on tmpfs, for instance).
time_dd() {
	local t0 t1
	rm -f "$DDFILE"
	sync
	t0=$(now)
	if ! dd if=/dev/zero of="$DDFILE" bs=8M count="$COUNT" "$@" \
		status=none 2>"$TMP/dd.err"; then
		echo "dd $*: $(cat "$TMP/dd.err")" >&2
		rm -f "$DDFILE"
		return 0
	fi
	t1=$(now)
	rm -f "$DDFILE"
	py 'print("%.6f" % (float(a[1]) - float(a[0])))' "$t0" "$t1"
}
DD_DIRECT_S=$(time_dd oflag=direct)
DD_FSYNC_S=$(time_dd conv=fsync)
DD_S=$(printf '%s\n' "$DD_DIRECT_S" "$DD_FSYNC_S" | grep . | sort -g | head -n1)
[ -n "$DD_S" ] || die "dd failed in both modes"

# ---------------------------------------------------------------- (c) cat
shopt -s nullglob
DATA_FILES=("$CK"/__*.ckd)
shopt -u nullglob
[ ${#DATA_FILES[@]} -gt 0 ] || die "no data files (__*.ckd) in $CK"
CAT_BYTES=$(stat -c %s "${DATA_FILES[@]}" | awk '{s += $1} END {printf "%.0f\n", s}')
cat "${DATA_FILES[@]}" >/dev/null # warm the page cache
t0=$(now)
cat "${DATA_FILES[@]}" >/dev/null
t1=$(now)
CAT_S=$(py 'print("%.6f" % (float(a[1]) - float(a[0])))' "$t0" "$t1")

# ---------------------------------------------------------------- (d) RSS
TIME_BIN=/usr/bin/time
if [ ! -x "$TIME_BIN" ]; then
	echo "bench.sh: installing the Debian package 'time' for $TIME_BIN"
	if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q time ||
		{ "${sudo[@]}" apt-get update -q &&
		  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q time; } ||
		echo "bench.sh: could not install 'time'; peak RSS not measured" >&2
fi
RSS_KB=""
if [ -x "$TIME_BIN" ]; then
	# Its own checkpoint, removed by the bench itself (no --keep).
	if "$TIME_BIN" -v -o "$TMP/time.txt" "$CKPTIO" --json bench "$WORK/ck-rss" \
		--size "$SIZE" --tensors "$TENSORS" --overwrite \
		>"$TMP/rss.json" 2>"$TMP/rss.err"; then
		RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' \
			"$TMP/time.txt")
	else
		cat "$TMP/rss.json" "$TMP/rss.err" >&2
		echo "bench.sh: the RSS run failed; peak RSS not measured" >&2
	fi
fi

# ---------------------------------------------------------------- report
echo
py '
payload, save_s, load_s = int(a[0]), float(a[1]), float(a[2])
dd_bytes, dd_direct, dd_fsync, dd_s = int(a[3]), a[4], a[5], float(a[6])
cat_bytes, cat_s, runs, rss_kb = int(a[7]), float(a[8]), a[9], a[10]
bsave_s, dload_s = float(a[11]), float(a[12])
gbps = lambda b, s: b / 1e9 / s if s > 0 else float("inf")
row = lambda t, s, b: print("%-34s %10s %8s" % (t, "%.3f" % s if s is not None else "n/a",
      "%.2f" % gbps(b, s) if s is not None else "n/a"))
print("%-34s %10s %8s" % ("tool", "seconds", "GB/s"))
row("ckptio save, default (best of %s)" % runs, save_s, payload)
row("ckptio save, direct=false (best)", bsave_s, payload)
row("dd oflag=direct", float(dd_direct) if dd_direct else None, dd_bytes)
row("dd conv=fsync", float(dd_fsync) if dd_fsync else None, dd_bytes)
row("ckptio load, warm (best of %s)" % runs, load_s, payload)
row("ckptio load after default save", dload_s, payload)
row("cat data files, warm", cat_s, cat_bytes)
print()
print("payload %d bytes (%.2f GiB); dd wrote %d bytes; cat read %d bytes" %
      (payload, payload / 2**30, dd_bytes, cat_bytes))
print("GB = 10^9 bytes; each ratio compares rates, so byte counts may differ")
print()
verdict = lambda ok: "PASS" if ok else "MISS"
save_r = gbps(payload, save_s) / gbps(dd_bytes, dd_s)
bsave_r = gbps(payload, bsave_s) / gbps(dd_bytes, dd_s)
load_r = gbps(payload, load_s) / gbps(cat_bytes, cat_s)
print("%-34s %8s %8s %6s" % ("ratio", "value", "target", ""))
print("%-34s %8.2f %8s %6s" % ("save / dd (faster of the two)", save_r, ">= 0.90", verdict(save_r >= 0.9)))
print("%-34s %8.2f" % ("save direct=false / dd", bsave_r))
print("%-34s %8.2f %8s %6s" % ("load / cat (warm)", load_r, ">= 1.00", verdict(load_r >= 1.0)))
limit = 2 * payload + (64 << 20)
if rss_kb:
    rss = int(rss_kb) * 1024
    print("%-34s %8.2f %8s %6s" % ("peak RSS of the bench run, GiB", rss / 2**30,
          "<= %.2f" % (limit / 2**30), verdict(rss <= limit)))
    print("  limit = 2 x payload + 64 MiB: ckptio bench holds the save source and the")
    print("  load destination (the save alone targets payload + 64 MiB); peak RSS")
    print("  minus 2 x payload: %+.1f MiB" % ((rss - 2 * payload) / 2**20))
else:
    print("%-34s %8s" % ("peak RSS of the bench run", "n/a"))
' "$PAYLOAD" "$SAVE_S" "$LOAD_S" "$DD_BYTES" "$DD_DIRECT_S" "$DD_FSYNC_S" "$DD_S" \
	"$CAT_BYTES" "$CAT_S" "$RUNS" "$RSS_KB" "$BSAVE_S" "$DLOAD_S"

if [ "$KEEP" = 1 ]; then
	echo
	echo "kept: $CK"
fi
