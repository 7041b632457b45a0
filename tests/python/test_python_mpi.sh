#!/bin/bash
# test_python_mpi.sh - the Python package's MPI coordinator
# (ckptio.MPICoordinator over Debian's python3-mpi4py) under mpirun: 4
# processes save Shards of a tensor, a replicated one and a bytes item
# each; 2 and 3 processes load their own splits and compare every value;
# one process whose state dict Python refuses makes every process fail,
# naming it, instead of leaving the others waiting.
# Env (from `make check`): CKPTIO_LIBRARY, CKPTIO_PYTHON, CKPTIO_SRCDIR,
# CKPTIO_PLUGIN_PATH, CKPTIO_BIN, CKPTIO_MPISAVE.
set -u
SRC=${CKPTIO_SRCDIR:?set by make check}
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"
# shellcheck source=tests/mpi/mpi.sh
. "$SRC/tests/mpi/mpi.sh"
PY=${CKPTIO_PYTHON:-/usr/bin/python3}
export PYTHONPATH="$SRC/python${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "${ASAN_OPTIONS:-}" ]; then
	LD_PRELOAD="$(${CC:-gcc} -print-file-name=libasan.so)${LD_PRELOAD:+:$LD_PRELOAD}"
	export LD_PRELOAD
fi
# pympi N ARGS...: N Python processes of mpi_test.py.
pympi() {
	local n=$1
	shift
	ASAN_OPTIONS=$MPI_ASAN timeout 120 mpirun --allow-run-as-root \
		--oversubscribe -np "$n" "$PY" "$SRC/tests/python/mpi_test.py" "$@"
}

CK=$TMP/ck
expect_exit 0 pympi 4 save "$CK"
ASAN_OPTIONS=$MPI_ASAN expect_exit 0 ck verify "$CK"
expect_stdout_contains "OK: 6 items"
expect_exit 0 pympi 2 load "$CK" 4
expect_exit 0 pympi 3 load "$CK" 4
before=$(cat "$CK/.metadata.json")
expect_exit 0 pympi 4 fail "$CK" 2
[ "$(cat "$CK/.metadata.json")" = "$before" ] &&
	pass "a refused state dict left the checkpoint as it was" ||
	fail "a failed save changed the checkpoint"
finish
