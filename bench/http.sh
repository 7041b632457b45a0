#!/usr/bin/env bash
# http.sh - ckptio's HTTP store against the peer downloaders, on one nginx
# (tests/http/nginx.sh), in one run (issue 10).  A benchmark, not a test:
# it prints figures and PASS/MISS against the targets, and exits 0 unless
# something failed to run.
#
# A native checkpoint of SIZE in TENSORS tensors is written by the posix
# store into the directory nginx serves (page cache warm), then:
#   ckptio   a load over HTTP of every tensor into preallocated memory
#            through the C API (tests/partload: ckptio_load, CRC32C of
#            every chunk checked), timed inside the process; the memory
#            written before, as a model's parameters are
#   fresh    the same into memory never touched (partload --fresh: a
#            tensor fresh from torch.empty), which pays the first touch
#            of its pages as the peers pay for their files' (reported,
#            not compared)
#   verify   `ckptio verify` over HTTP (every chunk read, CRC checked)
#   aria2c   `aria2c -x8 -s8` of the checkpoint's files to /dev/shm
#   curl     `curl --parallel` of the same files to /dev/shm
# for a native checkpoint (a handful of data objects) and for the same
# tensors as one model.safetensors (the model hub's case: one large file);
# and a load of 10% of the tensors against a load of all of them.
# For each: wall seconds, GB/s and the client's CPU seconds per GB (user +
# system: /usr/bin/time, or getrusage around the load for ckptio).  Targets: ckptio >= 1.0 x the faster peer's
# throughput (>= 1.5 x with --delay) and <= 0.5 x its CPU per GB; 10% of
# the tensors in about 10% of the time.
#
# Usage: bench/http.sh [options]
#   --size SIZE     payload (default 2GiB)
#   --tensors N     tensors (default 200)
#   --runs N        repetitions of each transfer, the fastest counts (2)
#   --delay MS      MS each way between the clients and nginx: through
#                   bench/delayproxy.c, which delays every byte and limits
#                   each connection to WINDOW bytes in flight, so to
#                   WINDOW / (2 x MS) per connection, as a long link does
#   --window SIZE   that window, per connection and direction (default
#                   4MiB: about what Linux's autotuning advertises)
#   -h, --help      this text
# Run from the top of a built tree (`make`; tests/partload built by
# `make check` or `make tests/partload`).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/lib.sh"
SIZE=2GiB TENSORS=200 RUNS=2 DELAY="" WINDOW=""
while [ $# -gt 0 ]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--tensors) TENSORS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--delay) DELAY=$2; shift 2 ;;
	--window) WINDOW=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "http.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
die() { echo "http.sh: $*" >&2; exit 1; }
CKPTIO=${CKPTIO_BIN:-./ckptio}
PARTLOAD=${CKPTIO_PARTLOAD:-./tests/partload}
export CKPTIO_PLUGIN_PATH=${CKPTIO_PLUGIN_PATH:-$(pwd)/plugins/posix/.libs:$(pwd)/plugins/http/.libs:$(pwd)/plugins/safetensors/.libs}
export CKPTIO_CONFIG=/dev/null
[ -x "$CKPTIO" ] && [ -x "$PARTLOAD" ] || die "run from a built tree (ckptio, tests/partload)"
command -v aria2c >/dev/null || { . "$SRC/tests/pkg.sh"; pkg_install aria2; }
BYTES=$(size_bytes "$SIZE")
WINDOW_BYTES=""
[ -z "$WINDOW" ] || WINDOW_BYTES=$(size_bytes "$WINDOW")
[ -z "$WINDOW" ] || [ -n "$DELAY" ] || die "--window goes with --delay"

TMP=$(mktemp -d /tmp/ckptio-bench-http.XXXXXX)
SHM=$(mktemp -d /dev/shm/ckptio-bench-http.XXXXXX)
PX_PID=""
. "$SRC/tests/http/nginx.sh"
cleanup() {
	[ -n "$PX_PID" ] && kill "$PX_PID" 2>/dev/null
	nginx_down
	rm -rf "$TMP" "$SHM"
}
trap cleanup EXIT
nginx_up "$TMP/nginx" "$TMP/www" >/dev/null || die "nginx did not start"
PORT=$NGX_PORT
if [ -n "$DELAY" ]; then
	DELAYPROXY=$(delayproxy_build "$TMP") || die "cannot compile bench/delayproxy.c"
	coproc PROXY { exec "$DELAYPROXY" ${WINDOW_BYTES:+--window "$WINDOW_BYTES"} 0 "$NGX_PORT" "$DELAY"; }
	PX_PID=$PROXY_PID
	read -r -t 10 PORT <&"${PROXY[0]}" || die "the delay proxy did not start"
fi
U=http://127.0.0.1:$PORT
chmod -R go-w "$(dirname "$CKPTIO")/plugins" 2>/dev/null || true

"$CKPTIO" -q bench "$TMP/www/ck" --size "$SIZE" --tensors "$TENSORS" --keep >/dev/null
echo "$SIZE in $TENSORS tensors; nginx on loopback${DELAY:+, $DELAY ms each way, ${WINDOW:-4MiB} window}"

declare -A BEST_S BEST_CPU
report() { # NAME: its line
	py 'b = int(a[1]); t = float(a[2]); c = float(a[3]); print("  %-8s %6.2f s  %5.2f GB/s  %5.2f CPU s/GB" % (a[0], t, b / t / 1e9, c / (b / 1e9)))' \
		"$1" "$BYTES" "${BEST_S[$1]}" "${BEST_CPU[$1]}"
}
# keep NAME T C: the run of T seconds and C CPU seconds, if the fastest.
keep() {
	if [ -z "${BEST_S[$1]:-}" ] || py 'sys.exit(0 if float(a[0]) < float(a[1]) else 1)' "$2" "${BEST_S[$1]}"; then
		BEST_S[$1]=$2
		BEST_CPU[$1]=$3
	fi
}
# measure NAME CMD...: the fastest of RUNS runs, and its CPU seconds.
measure() {
	local name=$1 t u s
	shift
	for _ in $(seq "$RUNS"); do
		rm -rf "${SHM:?}"/*
		/usr/bin/time -f "%e %U %S" -o "$TMP/time" "$@" >"$TMP/out" 2>&1 ||
			{ cat "$TMP/out"; die "$name failed"; }
		read -r t u s <"$TMP/time"
		keep "$name" "$t" "$(py 'print(float(a[0]) + float(a[1]))' "$u" "$s")"
	done
	report "$name"
}

# compare LABEL ID: ckptio's load of checkpoint ID (partload prints "...
# seconds S cpu C" of the load alone; every item compared with the native
# original) against the peers downloading ID's files; the ratios.
compare() {
	local label=$1 id=$2 t c best target
	local -a curl_args=(-s -f -Z --parallel-max 8 --output-dir "$SHM")

	BEST_S=() BEST_CPU=()
	(cd "$TMP/www/$id" && ls -A) | sed "s|^|$U/$id/|" >"$TMP/urls"
	cat "$TMP/www/$id"/* >/dev/null # page cache
	echo "$label: $(wc -l <"$TMP/urls") files"
	for _ in $(seq "$RUNS"); do
		read -r _ _ _ _ _ t _ c < <("$PARTLOAD" "$U/$id" "$TMP/www/ck" --all) ||
			die "partload failed"
		keep ckptio "$t" "$c"
		read -r _ _ _ _ _ t _ c < <("$PARTLOAD" --fresh "$U/$id" "$TMP/www/ck" --all) ||
			die "partload --fresh failed"
		keep fresh "$t" "$c"
	done
	report ckptio
	report fresh
	[ "$id" = ck ] && measure verify "$CKPTIO" -q verify "$U/$id"
	measure aria2c aria2c -q -x8 -s8 -j4 --allow-overwrite=true -d "$SHM" -i "$TMP/urls"
	while read -r url; do curl_args+=(-o "$(basename "$url")" "$url"); done <"$TMP/urls"
	measure curl curl "${curl_args[@]}"
	best=aria2c
	py 'sys.exit(0 if float(a[0]) < float(a[1]) else 1)' "${BEST_S[curl]}" "${BEST_S[aria2c]}" && best=curl
	target=1.0
	[ -n "$DELAY" ] && target=1.5
	py '
t, tp, c, cp, target = map(float, a[:5])
r, q = tp / t, c / cp
print("  ckptio / %s: %.2fx throughput (target >= %.1fx: %s), %.2fx CPU per GB (target <= 0.5x: %s)" % (
    a[5], r, target, "PASS" if r >= target else "MISS", q, "PASS" if q <= 0.5 else "MISS"))' \
		"${BEST_S[ckptio]}" "${BEST_S[$best]}" "${BEST_CPU[ckptio]}" "${BEST_CPU[$best]}" "$target" "$best"
}

compare "native checkpoint" ck
# The hub's case: one model.safetensors file (split in ranges by ckptio and
# aria2c, one stream for curl).
"$CKPTIO" -q cp --layout safetensors "$TMP/www/ck" "$TMP/www/st" >/dev/null
compare "safetensors model" st

# 10% of the tensors against all of them (C API, partial load).
names=$("$CKPTIO" --json ls "$TMP/www/ck" | py '
d = json.load(sys.stdin); it = [i["name"] for i in d["items"] if i.get("dtype") not in (None, "bytes")]
print(" ".join(it[::10]))')
read -r _ _ _ _ _ full _ < <("$PARTLOAD" "$U/ck" "$TMP/www/ck" --all)
# shellcheck disable=SC2086 # one argument per name
read -r _ _ _ _ _ part _ < <("$PARTLOAD" "$U/ck" "$TMP/www/ck" $names)
py 'f, p = float(a[0]), float(a[1]); print("partial: 10%% of the tensors in %.3f s, all in %.3f s: %.0f%% of the time (target about 10%%: %s)" % (p, f, 100 * p / f, "PASS" if p / f <= 0.2 else "MISS"))' "$full" "$part"
