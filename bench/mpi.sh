#!/usr/bin/env bash
# mpi.sh - the MPI coordinator's aggregate save throughput (issue 11): 4
# processes saving SIZE/4 each against 1 process saving SIZE, same disk,
# same state dict shape (TENSORS row-sharded F32 tensors), in one run.  A
# benchmark, not a test: it prints the figures and PASS/MISS against the
# target (the 4-process aggregate must not fall below the 1-process rate)
# and exits 0 unless something failed to run.
#
# Usage: bench/mpi.sh [--size SIZE] [--tensors N] [--runs N] [--dir DIR]
#   SIZE in bytes or with a suffix (default 2GiB), N tensors (default 200),
#   runs: repetitions, the fastest counts (default 2); DIR: where to save
#   (default /tmp; a directory this run makes and removes).
# Run from the top of a built tree (`make`, with MPI found by configure).
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
	*) echo "mpi.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
die() { echo "mpi.sh: $*" >&2; exit 1; }
LIBDIR=$(pwd)/.libs
[ -e "$LIBDIR/libckptio-mpi.so" ] || die "run from a built tree with libckptio-mpi (configure found no MPI?)"
BYTES=$(size_bytes "$SIZE")
WORK=$(mktemp -d "$DIR/ckptio-bench-mpi.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mpicc -O2 -Wall -Wextra -Werror -I"$SRC/include" "$SRC/bench/mpibench.c" \
	-L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lckptio-mpi -lckptio -o "$WORK/mpibench" ||
	die "cannot compile bench/mpibench.c"
# ckptio's posix store through the page cache (direct = false), as the
# peers write: each load then reads what its save just wrote from memory,
# the warm load this compares.  The default (O_DIRECT) save is faster still
# (bench/bench.sh), and its load reads the disk.
printf '[store "posix"]\ndirect = false\n' >"$WORK/posix.conf"
export CKPTIO_CONFIG=$WORK/posix.conf
export CKPTIO_PLUGIN_PATH=${CKPTIO_PLUGIN_PATH:-$(pwd)/plugins/posix/.libs}
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
echo "$SIZE in $TENSORS row-sharded tensors, saved to $DIR; $(nproc) cores"
declare -A BEST
for np in 1 4; do
	for _ in $(seq "$RUNS"); do
		sync
		read -r _ _ _ total _ t < <(mpirun --allow-run-as-root --oversubscribe \
			-np "$np" "$WORK/mpibench" "$WORK/ck$np" $((BYTES / np)) "$TENSORS") ||
			die "$np processes failed"
		if [ -z "${BEST[$np]:-}" ] || py 'sys.exit(0 if float(a[0]) < float(a[1]) else 1)' "$t" "${BEST[$np]}"; then
			BEST[$np]=$t
		fi
		rm -rf "$WORK/ck$np"
	done
	py 'print("  %d process(es): %.2f s, %.2f GB/s" % (int(a[0]), float(a[2]), int(a[1]) / float(a[2]) / 1e9))' \
		"$np" "$total" "${BEST[$np]}"
done
py 'r = float(a[0]) / float(a[1]); print("4 processes / 1: %.2fx aggregate throughput (target >= 1.0x: %s)" % (r, "PASS" if r >= 1.0 else "MISS"))' \
	"${BEST[1]}" "${BEST[4]}"
