#!/usr/bin/env bash
# ranks.sh - one save by many ranks as threads of one process, each with
# many small items, so that rank 0's planning and metadata costs show
# (issue 8: 1,024 ranks x 1,000 items of 256 B).  A benchmark, not a test:
# it prints figures and exits 0 unless something failed to run.
#
# bench/ranks.c runs R ranks as threads (the in-process coordinator,
# ckptio_coord_threads_new/get), each with its own context and state dict,
# and times, from rank 0's calls to the coordinator, the phases of the
# save: local plan, plan gather, rank 0's global step (checking every
# rank's plan), the writes, the result gather and rank 0's commit step
# (building and writing the metadata); with the resident memory at the
# start of each of rank 0's steps and its peak during it, the bytes
# gathered, the peak RSS of the process and the metadata file's size.
# Two shapes of state dict:
#   sharded   K tensors of R x B/4 float32, rank r saving row r of each
#             (FSDP-like): K items of R chunks in the metadata
#   distinct  K tensors of B bytes of its own on each rank: R x K items
# Rank counts run in increasing order; a run that reaches the cap is
# stopped, the larger counts of that shape are not run, and their times
# are extrapolated from the last two measured counts (t ~ R^e).
#
# Usage: bench/ranks.sh [options]
#   --ranks LIST       rank counts, comma-separated (default 64,256,1024)
#   --items K          items per rank (default 1000)
#   --bytes B          bytes per item (default 256)
#   --mode MODE        sharded, distinct or both (default both)
#   --cap SECONDS      time limit of one save (default 600)
#   --stack-kib S      stack of each rank thread, KiB (default 256)
#   --threads T        I/O threads per rank (default 1)
#   --log              keep rank 0's ckptio log at debug level, with
#                      seconds since the start, beside the checkpoints
#                      (implies --keep)
#   --dir DIR          work directory (default ./ranks-work; created, and
#                      removed at the end when it was created, unless --keep)
#   --ckptio PATH      the ckptio binary of the tree to measure (default
#                      $CKPTIO_BIN or ./ckptio); libckptio from its .libs
#   --plugin-path DIR  plugin directory (default $CKPTIO_PLUGIN_PATH or
#                      ./plugins/posix/.libs)
#   --keep             keep the work directory and the checkpoints
#   -h, --help         this text
# Run from the top of a built tree (`make`); it compiles bench/ranks.c
# against that tree.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CKPTIO=${CKPTIO_BIN:-./ckptio}
PLUGIN_PATH=${CKPTIO_PLUGIN_PATH:-./plugins/posix/.libs}
WORK=./ranks-work
RANKS=64,256,1024
ITEMS=1000
BYTES=256
MODE=both
CAP=600
STACK_KIB=256
THREADS=1
LOG=0
KEEP=0

usage() { sed -n '/^# Usage:/,/^# against that tree/s/^# \{0,1\}//p' "$0"; }
die() { echo "ranks.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--ranks) RANKS=${2:?--ranks needs a list}; shift 2 ;;
	--items) ITEMS=${2:?--items needs a number}; shift 2 ;;
	--bytes) BYTES=${2:?--bytes needs a number}; shift 2 ;;
	--mode) MODE=${2:?--mode needs sharded, distinct or both}; shift 2 ;;
	--cap) CAP=${2:?--cap needs seconds}; shift 2 ;;
	--stack-kib) STACK_KIB=${2:?--stack-kib needs a number}; shift 2 ;;
	--threads) THREADS=${2:?--threads needs a number}; shift 2 ;;
	--log) LOG=1; KEEP=1; shift ;;
	--dir) WORK=${2:?--dir needs a directory}; shift 2 ;;
	--ckptio) CKPTIO=${2:?--ckptio needs a path}; shift 2 ;;
	--plugin-path) PLUGIN_PATH=${2:?--plugin-path needs a directory}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

command -v python3 >/dev/null || die "python3 is needed for the arithmetic"
[ -x "$CKPTIO" ] || die "$CKPTIO is not an executable (build first, or pass --ckptio)"
[ -d "$PLUGIN_PATH" ] || die "plugin directory $PLUGIN_PATH not found (pass --plugin-path)"
[[ $RANKS =~ ^([1-9][0-9]*)(,[1-9][0-9]*)*$ ]] || die "--ranks: expected N,N,..."
for v in "$ITEMS" "$BYTES" "$CAP" "$STACK_KIB" "$THREADS"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "expected a positive number, got '$v'"
done
case $MODE in
sharded | distinct) MODES=("$MODE") ;;
both) MODES=(sharded distinct) ;;
*) die "--mode: expected sharded, distinct or both" ;;
esac
CKPTIO=$(cd "$(dirname "$CKPTIO")" && pwd)/$(basename "$CKPTIO")
LIBDIR=$(dirname "$CKPTIO")/.libs
[ -e "$LIBDIR/libckptio.so" ] || die "no libckptio.so in $LIBDIR (a built tree's ckptio is expected)"
CKPTIO_PLUGIN_PATH=$(cd "$PLUGIN_PATH" && pwd)
export CKPTIO_PLUGIN_PATH

CREATED_WORK=0
if [ ! -d "$WORK" ]; then
	mkdir -p "$WORK"
	CREATED_WORK=1
fi
WORK=$(cd "$WORK" && pwd)
IFS=, read -ra RS <<<"$RANKS"
for mode in "${MODES[@]}"; do
	for r in "${RS[@]}"; do
		for p in "$WORK/ranks-$mode-$r" "$WORK/ranks-$mode-$r.log"; do
			# Never removed unless this run made it.
			[ ! -e "$p" ] ||
				die "$p exists (from an earlier --keep?): remove it or pick another --dir"
		done
	done
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-ranks.XXXXXX")
cleanup() {
	rm -rf "$TMP"
	[ "$KEEP" = 1 ] && return
	for mode in "${MODES[@]}"; do
		for r in "${RS[@]}"; do rm -rf "$WORK/ranks-$mode-$r"; done
	done
	if [ "$CREATED_WORK" = 1 ]; then rmdir "$WORK" 2>/dev/null || true; fi
}
trap cleanup EXIT

RANKSBIN=$TMP/ranks
${CC:-cc} -O2 -Wall -Wextra -Werror -pthread -I"$SRC/include" "$SRC/bench/ranks.c" \
	-L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lckptio -o "$RANKSBIN" ||
	die "cannot compile bench/ranks.c against $LIBDIR"

echo "ranks.sh: ranks $RANKS, $ITEMS items of $BYTES B per rank, cap ${CAP} s, in $WORK"
echo "ckptio: $CKPTIO ($("$CKPTIO" --version 2>/dev/null | head -n1))"
echo "cpus: $(nproc); rank threads' stack ${STACK_KIB} KiB; $THREADS I/O thread(s) per rank"
echo

RES=$TMP/results # one JSON object per line, with "mode", or a cap record
: >"$RES"
for mode in "${MODES[@]}"; do
	for r in "${RS[@]}"; do
		ck=$WORK/ranks-$mode-$r
		sync
		l0=$(cut -d' ' -f1 /proc/loadavg)
		echo "$mode, $r ranks: saving ($(date +%T), load average $l0)" >&2
		args=("$ck" --ranks "$r" --items "$ITEMS" --bytes "$BYTES" --mode "$mode"
			--stack-kib "$STACK_KIB" --threads "$THREADS")
		[ "$LOG" = 1 ] && args+=(--log "$ck.log")
		rc=0
		t0=$(date +%s.%N)
		timeout -k 10 "$CAP" "$RANKSBIN" "${args[@]}" >"$TMP/out" 2>"$TMP/err" || rc=$?
		t1=$(date +%s.%N)
		l1=$(cut -d' ' -f1 /proc/loadavg)
		if [ "$rc" = 0 ]; then
			py_rec=$(python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read()); d["wall_seconds"] = float(sys.argv[3]) - float(sys.argv[2])
d["load_before"], d["load_after"] = sys.argv[4], sys.argv[5]; print(json.dumps(d))' \
				"$TMP/out" "$t0" "$t1" "$l0" "$l1")
			echo "$py_rec" >>"$RES"
		elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			echo "  capped at $CAP s; larger rank counts of $mode skipped" >&2
			echo "{\"mode\": \"$mode\", \"ranks\": $r, \"capped\": true}" >>"$RES"
			rm -rf "$ck"
			break
		else
			sed 's/^/    /' "$TMP/err" >&2
			die "$mode, $r ranks: the save failed (exit $rc)"
		fi
		[ "$KEEP" = 1 ] || rm -rf "$ck"
	done
done

# ---------------------------------------------------------------- report
echo
python3 - "$RES" "$RANKS" "$CAP" "$ITEMS" "$BYTES" <<'PY'
import json
import math
import sys

res_f, ranks, cap, items, nbytes = sys.argv[1:]
cap, items = float(cap), int(items)
recs = [json.loads(l) for l in open(res_f)]
all_ranks = [int(r) for r in ranks.split(",")]
mib = lambda kb: "%.0f" % (kb / 1024) if kb >= 0 else "n/a"

def table(head, body):
    w = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    for r in [head] + body:
        print("  ".join(str(x).rjust(n) if i else str(x).ljust(n)
                        for i, (x, n) in enumerate(zip(r, w))))
    print()

phases = [("local_plan_seconds", "local plan"), ("plan_gather_seconds", "plan gather"),
          ("global_step_seconds", "global step"), ("write_seconds", "write"),
          ("result_gather_seconds", "result gather"),
          ("commit_step_seconds", "commit step"), ("end_seconds", "end")]
for mode in ("sharded", "distinct"):
    rs = [d for d in recs if d["mode"] == mode]
    if not rs:
        continue
    print("%s: %s items of %s B per rank (%s)" % (mode, items, nbytes,
          "K tensors split across the ranks" if mode == "sharded"
          else "each rank its own tensors"))
    print("Seconds of one save; phases from rank 0's calls to the coordinator.")
    body = []
    for d in rs:
        if d.get("capped"):
            body.append(["{:,}".format(d["ranks"]), "{:,}".format(d["ranks"] * items),
                         ">%d (cap)" % cap] + ["-"] * (len(phases) + 1))
            continue
        body.append(["{:,}".format(d["ranks"]), "{:,}".format(d["ranks"] * items),
                     "%.3f" % d["save_seconds"], "%.3f" % d["rank0_save_seconds"]] +
                    ["%.3f" % d[k] for k, _ in phases])
    table(["ranks", "items", "save", "rank 0"] + [n for _, n in phases], body)
    print("Memory (MiB) and sizes: resident at the start of rank 0's step [peak")
    print("during it]; the process's peak; bytes gathered on rank 0; metadata file.")
    body = []
    for d in rs:
        if d.get("capped"):
            continue
        body.append(["{:,}".format(d["ranks"]),
                     "%s [%s]" % (mib(d["global_step_rss_kb"]), mib(d["global_step_peak_kb"])),
                     "%s [%s]" % (mib(d["commit_step_rss_kb"]), mib(d["commit_step_peak_kb"])),
                     mib(d["maxrss_kb"]), "%.1f" % (d["plan_bytes"] / 2**20),
                     "%.1f" % (d["result_bytes"] / 2**20),
                     "%.1f" % (d["metadata_bytes"] / 2**20),
                     "%.1f" % d["setup_seconds"], "%.1f" % d["cpu_seconds"],
                     "%s -> %s" % (d["load_before"], d["load_after"])])
    table(["ranks", "global step", "commit step", "peak RSS", "plans MiB",
           "results MiB", "metadata MiB", "setup s", "CPU s", "load avg"], body)
    ok = [d for d in rs if not d.get("capped")]
    todo = [r for r in all_ranks if r not in [d["ranks"] for d in ok]]
    if len(ok) >= 2 and todo:
        a, b = ok[-2], ok[-1]
        print("Extrapolated from %d and %d ranks (t ~ ranks^e, e measured between them):"
              % (a["ranks"], b["ranks"]))
        print("the save is the sum of the two steps and of the rest, each with its own e.")
        for d in (a, b):
            d["rest"] = d["save_seconds"] - d["global_step_seconds"] - d["commit_step_seconds"]
        keys = [("global_step_seconds", "global step"), ("commit_step_seconds", "commit step"),
                ("rest", "rest")]
        ex = {}
        for k, n in keys:
            ex[k] = (math.log(b[k] / a[k]) / math.log(b["ranks"] / a["ranks"])
                     if a[k] > 0 and b[k] > 0 else 1.0)
        body = [["exponent e", ""] + ["%.2f" % ex[k] for k, _ in keys]]
        for r in todo:
            t = [b[k] * (r / b["ranks"]) ** ex[k] for k, _ in keys]
            body.append(["{:,} ranks".format(r), "%.0f s" % sum(t)] + ["%.0f s" % x for x in t])
        table(["", "save"] + [n for _, n in keys], body)
PY
