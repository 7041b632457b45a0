#!/usr/bin/env bash
# scale.sh - ckptio with many tensors, side by side with PyTorch's
# distributed checkpoint (DCP) in the same run (issue 8).  A benchmark, not
# a test: it prints figures, ratios and PASS/MISS against the disk target,
# and exits 0 unless something failed to run (a capped case is not a
# failure: it is reported as capped).
#
# Cases (float32 tensors, each its own allocation; bench/scale.c and
# bench/dcp.py build the same state dict):
#   series  N tensors totalling SIZE, for N in COUNTS (default 1,000,
#           4,000, 16,000 and 64,000 at 256 MiB)
#   small   SMALL tensors of 256 B (default 1,000,000)
#   disk    DISK tensors of random sizes between 1 and 4 KiB (default
#           64,000); torch.save joins ckptio and DCP for its disk use
# For each case and tool, one process saves and one loads (warm: the page
# cache holds what the save wrote, for both tools); only the save or load
# call is timed.  ckptio goes through the C API (bench/scale.c) to a
# directory on the posix store; DCP is save_state_dict / load_state_dict
# with FileSystemWriter / FileSystemReader, no process group
# (no_dist=True), one file per rank, in Debian's python3-torch (1.13).
# Reported: save and load seconds and the ratio ckptio / DCP (below 1:
# ckptio is faster); the local scaling exponent log(t2/t1) / log(N2/N1)
# between successive cases of the series (1: linear in N; 0: independent
# of N); `ckptio ls` and `ckptio verify` seconds; the peak RSS of every
# process and its rise during the timed call; disk use of each checkpoint
# (du --apparent-size and du) against the payload.  Target: disk use of
# the disk case <= 1.05 x payload, metadata included.
#
# Usage: bench/scale.sh [options]
#   --dir DIR          work directory (default ./scale-work; created, and
#                      removed at the end when it was created)
#   --quick            smaller cases: 1,000, 4,000 and 16,000 tensors in
#                      64 MiB, 100,000 of 256 B, 16,000 of 1-4 KiB; 1 run
#                      (the options below still apply)
#   --runs K           repetitions of every save and load (default 3; the
#                      fastest counts)
#   --cap SECONDS      time limit of every process (default 300); a save or
#                      load that reaches it is reported as capped and not
#                      run again
#   --counts LIST      tensor counts of the series, comma-separated
#   --size SIZE        payload of the series (default 256MiB)
#   --small N          tensors of the small case (0: skip it)
#   --disk N           tensors of the disk case (0: skip it)
#   --no-dcp           ckptio alone (no PyTorch)
#   --dcp-per-tensor-files  DCP writes one file per tensor (the default of
#                      1.13's FileSystemWriter) instead of one per rank
#   --results FILE     also write the raw measurements (tab-separated)
#   --ckptio PATH      the ckptio binary (default $CKPTIO_BIN or ./ckptio);
#                      libckptio is taken from its .libs directory
#   --plugin-path DIR  plugin directory (default $CKPTIO_PLUGIN_PATH or
#                      ./plugins/posix/.libs)
#   -h, --help         this text
# PyTorch runs under $TORCH_PYTHON (default /usr/bin/python3, Debian's).
# Run from the top of a built tree (`make`); it compiles bench/scale.c
# against that tree, and installs python3-torch and time with apt-get when
# missing (as root or with sudo; otherwise run
# `apt-get install python3-torch time`, or pass --no-dcp).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CKPTIO=${CKPTIO_BIN:-./ckptio}
PLUGIN_PATH=${CKPTIO_PLUGIN_PATH:-./plugins/posix/.libs}
WORK=./scale-work
# Empty: the default, or --quick's.
RUNS=""
COUNTS=""
SIZE=""
SMALL=""
DISK=""
QUICK=0
CAP=300
DCP=1
DCP_FILES=()
RESULTS_OUT=""
TORCH_PY=${TORCH_PYTHON:-/usr/bin/python3}
SEED=1

usage() { sed -n '/^# Usage:/,/^# `apt-get install/s/^# \{0,1\}//p' "$0"; }
die() { echo "scale.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--dir) WORK=${2:?--dir needs a directory}; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
	--cap) CAP=${2:?--cap needs seconds}; shift 2 ;;
	--counts) COUNTS=${2:?--counts needs a list}; shift 2 ;;
	--size) SIZE=${2:?--size needs a value}; shift 2 ;;
	--small) SMALL=${2:?--small needs a number}; shift 2 ;;
	--disk) DISK=${2:?--disk needs a number}; shift 2 ;;
	--no-dcp) DCP=0; shift ;;
	--dcp-per-tensor-files) DCP_FILES=(--per-tensor-files); shift ;;
	--results) RESULTS_OUT=${2:?--results needs a file}; shift 2 ;;
	--ckptio) CKPTIO=${2:?--ckptio needs a path}; shift 2 ;;
	--plugin-path) PLUGIN_PATH=${2:?--plugin-path needs a directory}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

if [ "$QUICK" = 1 ]; then
	: "${RUNS:=1}" "${COUNTS:=1000,4000,16000}" "${SIZE:=64MiB}" "${SMALL:=100000}" \
		"${DISK:=16000}"
fi
: "${RUNS:=3}" "${COUNTS:=1000,4000,16000,64000}" "${SIZE:=256MiB}" "${SMALL:=1000000}" \
	"${DISK:=64000}"
command -v python3 >/dev/null || die "python3 is needed for the arithmetic"
[ -x "$CKPTIO" ] || die "$CKPTIO is not an executable (build first, or pass --ckptio)"
[ -d "$PLUGIN_PATH" ] || die "plugin directory $PLUGIN_PATH not found (pass --plugin-path)"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs: expected a positive number"
[[ $CAP =~ ^[1-9][0-9]*$ ]] || die "--cap: expected a positive number of seconds"
[[ $COUNTS =~ ^([1-9][0-9]*)(,[1-9][0-9]*)*$ ]] || die "--counts: expected N,N,..."
[[ $SMALL =~ ^[0-9]+$ ]] || die "--small: expected a number"
[[ $DISK =~ ^[0-9]+$ ]] || die "--disk: expected a number"
CKPTIO=$(cd "$(dirname "$CKPTIO")" && pwd)/$(basename "$CKPTIO")
LIBDIR=$(dirname "$CKPTIO")/.libs
[ -e "$LIBDIR/libckptio.so" ] || die "no libckptio.so in $LIBDIR (a built tree's ckptio is expected)"
CKPTIO_PLUGIN_PATH=$(cd "$PLUGIN_PATH" && pwd)
export CKPTIO_PLUGIN_PATH

# py, size_bytes
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SIZE_BYTES=$(size_bytes "$SIZE")

# ---------------------------------------------------------------- set-up
# shellcheck source=tests/s3/rgw.sh
. "$SRC/tests/s3/rgw.sh" # pkg_install
[ -x /usr/bin/time ] || pkg_install time || die "cannot install 'time' (apt-get install time)"
if [ "$DCP" = 1 ] && ! "$TORCH_PY" -c 'import torch' 2>/dev/null; then
	pkg_install python3-torch ||
		die "cannot install python3-torch: run 'apt-get install python3-torch', or pass --no-dcp"
	"$TORCH_PY" -c 'import torch' || die "$TORCH_PY cannot import torch (set TORCH_PYTHON)"
fi

CREATED_WORK=0
if [ ! -d "$WORK" ]; then
	mkdir -p "$WORK"
	CREATED_WORK=1
fi
WORK=$(cd "$WORK" && pwd)
CK=$WORK/scale-ckptio
DCPD=$WORK/scale-dcp
TPT=$WORK/scale-torch.pt
for p in "$CK" "$DCPD" "$TPT"; do
	# Never removed unless this run made it.
	[ ! -e "$p" ] || die "$p exists: remove it or pick another --dir"
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-scale.XXXXXX")
cleanup() {
	rm -rf "$TMP" "$CK" "$DCPD" "$TPT"
	if [ "$CREATED_WORK" = 1 ]; then rmdir "$WORK" 2>/dev/null || true; fi
}
trap cleanup EXIT

avail_kb=$(df -P -k "$WORK" | awk 'NR == 2 {print $4}')
need_kb=$(((SIZE_BYTES * 2 + (1 << 30)) >> 10))
[ "$avail_kb" -ge "$need_kb" ] ||
	die "$WORK has $((avail_kb >> 10)) MiB free; need about $((need_kb >> 10)) MiB"

SCALE=$TMP/scale
${CC:-cc} -O2 -Wall -Wextra -Werror -pthread -I"$SRC/include" "$SRC/bench/scale.c" \
	-L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lckptio -o "$SCALE" ||
	die "cannot compile bench/scale.c against $LIBDIR"

# case tool op run status seconds cpu_seconds maxrss_kb maxrss_before_kb bytes
RES=$TMP/results
DISKF=$TMP/disk  # case tool apparent_bytes du_bytes
CASES=$TMP/cases # case tensors label loadavg-before loadavg-after bytes (tabs)
: >"$RES"
: >"$DISKF"
: >"$CASES"

echo "scale.sh: $RUNS run(s), cap ${CAP} s per process, in $WORK"
echo "filesystem: $(df -P -T "$WORK" | awk 'NR == 2 {print $2 " on " $1}')"
echo "ckptio: $CKPTIO ($("$CKPTIO" --version 2>/dev/null | head -n1))"
if [ "$DCP" = 1 ]; then
	echo "torch: $("$TORCH_PY" -c 'import torch; print(torch.__version__)') ($TORCH_PY)"
fi
echo "cpus: $(nproc); load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# record CASE TOOL OP RUN JSONFILE|- STATUS
record() {
	local c=$1 t=$2 o=$3 r=$4 f=$5 s=$6
	if [ "$s" = ok ]; then
		py 'd = json.load(open(a[0])); print(a[1], a[2], a[3], a[4], "ok", d["seconds"],
      d["cpu_seconds"], d["maxrss_kb"], d["maxrss_before_kb"], d["bytes"])' \
			"$f" "$c" "$t" "$o" "$r" >>"$RES"
	else
		echo "$c $t $o $r $s - - - - -" >>"$RES"
	fi
}

# Was CASE TOOL OP capped (or failed) in an earlier run?
gave_up() { awk -v c="$1" -v t="$2" -v o="$3" \
	'$1 == c && $2 == t && $3 == o && $5 != "ok" {f = 1} END {exit !f}' "$RES"; }

# run_driver CASE TOOL OP RUN CMD...: run a driver under the cap, record.
run_driver() {
	local c=$1 t=$2 o=$3 r=$4 rc=0
	shift 4
	if gave_up "$c" "$t" "$o"; then return 1; fi
	timeout -k 10 "$CAP" "$@" >"$TMP/out.json" 2>"$TMP/err" || rc=$?
	if [ "$rc" = 0 ]; then
		record "$c" "$t" "$o" "$r" "$TMP/out.json" ok
		return 0
	fi
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "  $t $o: capped at $CAP s" >&2
		record "$c" "$t" "$o" "$r" - capped
	else
		echo "  $t $o failed (exit $rc):" >&2
		sed 's/^/    /' "$TMP/err" >&2
		record "$c" "$t" "$o" "$r" - failed
	fi
	return 1
}

# run_cli CASE OP RUN ARGS...: time a ckptio command (wall clock around
# it; CPU and peak RSS from /usr/bin/time).
run_cli() {
	local c=$1 o=$2 r=$3 rc=0 t0 t1 u s m
	shift 3
	if gave_up "$c" ckptio "$o"; then return 0; fi
	t0=$(date +%s.%N)
	/usr/bin/time -f "%U %S %M" -o "$TMP/time" timeout -k 10 "$CAP" \
		"$CKPTIO" "$@" >/dev/null 2>"$TMP/err" || rc=$?
	t1=$(date +%s.%N)
	if [ "$rc" = 0 ]; then
		read -r u s m <"$TMP/time"
		py 'print(a[0], "ckptio", a[1], a[2], "ok", "%.3f" % (float(a[4]) - float(a[3])),
      float(a[5]) + float(a[6]), a[7], "-", "-")' \
			"$c" "$o" "$r" "$t0" "$t1" "$u" "$s" "$m" >>"$RES"
	elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "  ckptio $o: capped at $CAP s" >&2
		echo "$c ckptio $o $r capped - - - - -" >>"$RES"
	else
		echo "  ckptio $o failed (exit $rc):" >&2
		sed 's/^/    /' "$TMP/err" >&2
		echo "$c ckptio $o $r failed - - - - -" >>"$RES"
	fi
}

disk_use() { # CASE TOOL PATH (first run only)
	grep -q "^$1 $2 " "$DISKF" && return 0
	echo "$1 $2 $(du -s -B1 --apparent-size "$3" | cut -f1) $(du -s -B1 "$3" | cut -f1)" >>"$DISKF"
}

# run_case ID LABEL SIZEARGS...: every run of one case, for every tool.
run_case() {
	local id=$1 n_tensors=$2 label=$3 r l0
	shift 3
	l0=$(cut -d' ' -f1 /proc/loadavg)
	echo "case $id: $label" >&2
	for r in $(seq 1 "$RUNS"); do
		rm -rf "$CK" "$DCPD" "$TPT" # this run's, checked above
		sync
		if run_driver "$id" ckptio save "$r" "$SCALE" save "$CK" "$@"; then
			disk_use "$id" ckptio "$CK"
			run_cli "$id" ls "$r" ls "$CK"
			run_cli "$id" verify "$r" verify "$CK"
			run_driver "$id" ckptio load "$r" "$SCALE" load "$CK" "$@" || true
		fi
		rm -rf "$CK"
		[ "$DCP" = 1 ] || continue
		sync
		if run_driver "$id" dcp save "$r" "$TORCH_PY" "$SRC/bench/dcp.py" save \
			"$DCPD" "$@" "${DCP_FILES[@]}"; then
			disk_use "$id" dcp "$DCPD"
			run_driver "$id" dcp load "$r" "$TORCH_PY" "$SRC/bench/dcp.py" load \
				"$DCPD" "$@" || true
		fi
		rm -rf "$DCPD"
		[ "$id" = disk ] || continue
		sync
		if run_driver "$id" torch.save save "$r" "$TORCH_PY" "$SRC/bench/dcp.py" \
			torchsave "$TPT" "$@"; then
			disk_use "$id" torch.save "$TPT"
			run_driver "$id" torch.save load "$r" "$TORCH_PY" "$SRC/bench/dcp.py" \
				torchload "$TPT" "$@" || true
		fi
		rm -f "$TPT"
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$n_tensors" "$label" "$l0" \
		"$(cut -d' ' -f1 /proc/loadavg)" "$("$SCALE" size - "$@")" >>"$CASES"
}

IFS=, read -ra NS <<<"$COUNTS"
for n in "${NS[@]}"; do
	run_case "n$n" "$n" "$SIZE in $n" --tensors "$n" --size "$SIZE_BYTES"
done
if [ "$SMALL" -gt 0 ]; then
	run_case small "$SMALL" "$SMALL x 256 B" --tensors "$SMALL" --size $((SMALL * 256))
fi
if [ "$DISK" -gt 0 ]; then
	run_case disk "$DISK" "$DISK x 1-4 KiB" --tensors "$DISK" --min-bytes 1024 \
		--max-bytes 4096 --seed "$SEED"
fi

[ -z "$RESULTS_OUT" ] || cp "$RES" "$RESULTS_OUT"

# ---------------------------------------------------------------- report
echo
python3 - "$RES" "$DISKF" "$CASES" "$RUNS" "$CAP" "$DCP" <<'PY'
import math
import sys

res_f, disk_f, cases_f, runs, cap, dcp_on = sys.argv[1:]
cap = float(cap)
cases = [l.rstrip("\n").split("\t") for l in open(cases_f)]
rows = [l.split() for l in open(res_f)]
best, status = {}, {}
payload = {c[0]: int(c[5]) for c in cases}
for c, t, o, r, st, sec, cpu, rss, before, nbytes in rows:
    k = (c, t, o)
    if st != "ok":
        status.setdefault(k, st)
        continue
    status[k] = "ok"
    if nbytes != "-" and int(nbytes) != payload[c]:
        sys.exit("scale.sh: %s %s %s saved %s bytes, not %d" % (c, t, o, nbytes, payload[c]))
    v = {"s": float(sec), "cpu": float(cpu), "rss": int(rss),
         "rise": int(rss) - int(before) if before != "-" else None}
    if k not in best or v["s"] < best[k]["s"]:
        rss_max = max(v["rss"], best[k]["rss"]) if k in best else v["rss"]
        best[k] = dict(v, rss=rss_max)
    else:
        best[k]["rss"] = max(best[k]["rss"], v["rss"])
disk = {}
for l in open(disk_f):
    c, t, app, du = l.split()
    disk[(c, t)] = (int(app), int(du))

def secs(c, t, o):
    k = (c, t, o)
    if k in best:
        return best[k]["s"]
    return {"capped": "cap", "failed": "failed"}.get(status.get(k), None)

def fmt_s(v):
    if v is None:
        return "-"
    if v == "cap":
        return ">%d (cap)" % cap
    if v == "failed":
        return "failed"
    return "%.3f" % v

def ratio(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return "%.2f" % (a / b) if b > 0 else "-"
    if a == "cap" and isinstance(b, float):
        return ">%.1f" % (cap / b)
    if isinstance(a, float) and b == "cap":
        return "<%.2f" % (a / cap)
    return "-"

def mib(b):
    return b / 2**20

def table(head, body):
    w = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    for r in [head] + body:
        print("  ".join(str(x).rjust(n) if i else str(x).ljust(n)
                        for i, (x, n) in enumerate(zip(r, w))))
    print()

ids = [c[0] for c in cases]
ntens = {c[0]: int(c[1]) for c in cases}
label = {c[0]: c[2] for c in cases}
dcp = dcp_on == "1"

print("Save and load, seconds (best of %s; only the call is timed; loads are warm)." % runs)
if dcp:
    print("ratio = ckptio / DCP: below 1, ckptio is faster.")
body = []
for c in ids:
    pl = "%.1f" % mib(payload[c]) if c in payload else "?"
    r = [label[c], "{:,}".format(ntens[c]), pl]
    for o in ("save", "load"):
        a, b = secs(c, "ckptio", o), secs(c, "dcp", o)
        r += [fmt_s(a)] + ([fmt_s(b), ratio(a, b)] if dcp else [])
    body.append(r)
head = ["case", "tensors", "MiB"]
for o in ("save", "load"):
    head += ["ckptio " + o] + (["DCP " + o, "ratio"] if dcp else [])
table(head, body)

series = sorted([c for c in ids if c != "disk"], key=lambda c: ntens[c])
if len(series) > 1:
    print("Local scaling exponent log(t2/t1) / log(N2/N1) between successive")
    print("tensor counts: 1 = time linear in N, 0 = independent of N, 2 = quadratic.")
    if "small" in series:
        print("(The small case's payload differs from the series': the exponent to")
        print("it mixes the effect of the payload, about proportional, with N's.)")
    body = []
    tools = [("ckptio", "ckptio")] + ([("dcp", "DCP")] if dcp else [])
    for c1, c2 in zip(series, series[1:]):
        r = ["{:,} -> {:,}".format(ntens[c1], ntens[c2])]
        for o in ("save", "load"):
            for t, _ in tools:
                a, b = secs(c1, t, o), secs(c2, t, o)
                ln = math.log(ntens[c2] / ntens[c1])
                if isinstance(a, float) and isinstance(b, float) and a > 0:
                    r.append("%.2f" % (math.log(b / a) / ln))
                elif isinstance(a, float) and b == "cap" and a > 0:
                    r.append(">%.2f" % (math.log(cap / a) / ln))
                else:
                    r.append("-")
        body.append(r)
    head = ["tensors"] + ["%s %s" % (n, o) for o in ("save", "load") for _, n in tools]
    table(head, body)

print("ckptio ls and ckptio verify: seconds and peak RSS (MiB) of the command.")
body = []
for c in ids:
    r = [label[c]]
    for o in ("ls", "verify"):
        k = (c, "ckptio", o)
        r += [fmt_s(secs(c, "ckptio", o)),
              "%.1f" % (best[k]["rss"] / 1024) if k in best else "-"]
    body.append(r)
table(["case", "ls s", "ls RSS", "verify s", "verify RSS"], body)

print("Peak RSS of each process, MiB, and [its rise during the timed call].")
print("Every process holds the payload's buffers; DCP's also holds Python and torch.")
body = []
tools = [("ckptio", "ckptio")] + ([("dcp", "DCP")] if dcp else [])
for c in ids:
    r = [label[c]]
    for t, _ in tools:
        for o in ("save", "load"):
            k = (c, t, o)
            r.append("%.0f [%+.0f]" % (best[k]["rss"] / 1024, best[k]["rise"] / 1024)
                     if k in best else "-")
    body.append(r)
table(["case"] + ["%s %s" % (n, o) for _, n in tools for o in ("save", "load")], body)

print("CPU seconds (user + system, all threads) of the timed call, best run.")
body = []
for c in ids:
    r = [label[c]]
    for t, _ in tools:
        for o in ("save", "load"):
            k = (c, t, o)
            r.append("%.2f" % best[k]["cpu"] if k in best else "-")
    body.append(r)
table(["case"] + ["%s %s" % (n, o) for _, n in tools for o in ("save", "load")], body)

print("Disk use of the checkpoint: bytes (du --apparent-size) and allocated")
print("(du), each also as a multiple of the payload; metadata included.")
body = []
for c in ids:
    for t, n in (("ckptio", "ckptio"), ("dcp", "DCP"), ("torch.save", "torch.save")):
        if (c, t) not in disk:
            continue
        app, du = disk[(c, t)]
        pl = payload.get(c)
        r = [label[c], n, "%.1f" % mib(app), "%.3f" % (app / pl) if pl else "?",
             "%.1f" % mib(du), "%.3f" % (du / pl) if pl else "?"]
        body.append(r)
table(["case", "tool", "MiB", "x payload", "du MiB", "x payload"], body)
if ("disk", "ckptio") in disk and "disk" in payload:
    app, du = disk[("disk", "ckptio")]
    worst = max(app, du) / payload["disk"]
    print("target: disk use of %s <= 1.05 x payload (the larger of bytes and"
          % label["disk"])
    print("allocated): %.3f  [%s]" % (worst, "PASS" if worst <= 1.05 else "MISS"))
    print()

print("Load average (1 min) at the start and end of each case:")
print(", ".join("%s %s -> %s" % (label[c], c0, c1) for c, _, _, c0, c1, _ in cases))
capped = sorted({"%s %s %s" % (label[k[0]], k[1], k[2])
                 for k, v in status.items() if v == "capped"})
failed = sorted({"%s %s %s" % (label[k[0]], k[1], k[2])
                 for k, v in status.items() if v == "failed"})
if capped:
    print("capped at %d s: %s" % (cap, "; ".join(capped)))
if failed:
    print("FAILED: %s" % "; ".join(failed))
    sys.exit(1)
PY
