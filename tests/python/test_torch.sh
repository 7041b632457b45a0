#!/bin/bash
# test_torch.sh - ckptio with PyTorch (Debian's python3-torch 1.13):
# tests/python/test_torch.py in one process, then torch.distributed jobs on
# gloo spawned on this machine (tests/python/dcp_test.py): DCP saves with
# ckptio.torch.StorageWriter from 4 processes, loads with 2 and 3 and
# every value compared, the checkpoint verified by the CLI; a rank whose
# planner fails makes every rank's save fail and leaves the previous
# checkpoint loading as it was (and no new one); ckptio.save/load with a
# ProcessGroupCoordinator, 4 saving and 3 loading.  With CKPTIO_DCP_LOC
# (make check-rgw: a backend on radosgw) the DCP jobs run there too.
# Env (from `make check`): CKPTIO_LIBRARY, CKPTIO_PYTHON, CKPTIO_SRCDIR,
# CKPTIO_PLUGIN_PATH, CKPTIO_BIN.
set -u
SRC=${CKPTIO_SRCDIR:?set by make check}
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"
PY=${CKPTIO_PYTHON:-/usr/bin/python3}
export PYTHONPATH="$SRC/python${PYTHONPATH:+:$PYTHONPATH}"
# Sanitizer builds: the library's runtime first; torch's own allocations
# are not ours to check for leaks.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	LD_PRELOAD="$(${CC:-gcc} -print-file-name=libasan.so)${LD_PRELOAD:+:$LD_PRELOAD}"
	ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
	export LD_PRELOAD ASAN_OPTIONS
fi
dcp() {
	timeout 300 "$PY" "$SRC/tests/python/dcp_test.py" "$@"
}

expect_exit 0 timeout 300 "$PY" "$SRC/tests/python/test_torch.py"
expect_stderr_contains "OK"

# dcp_jobs LOC: the DCP scenarios at LOC (a path or backend:name).
dcp_jobs() {
	local loc=$1 lk=${1}-pg
	expect_exit 0 dcp save "$loc" 4
	expect_exit 0 ck verify "$loc"
	expect_stdout_contains "OK: 4 items"
	expect_exit 0 ck ls "$loc"
	expect_stdout_contains "world:    4"
	expect_exit 0 dcp load "$loc" 2 4
	expect_exit 0 dcp load "$loc" 3 4
	# A failing rank (the others writing other values): every rank fails,
	# and the checkpoint before still loads, value for value.
	expect_exit 0 dcp fail "$loc" 4 2
	expect_exit 0 dcp load "$loc" 2 4
	expect_exit 0 ck verify "$loc"
	expect_exit 0 dcp fail "${loc}-new" 4 0
	expect_exit 3 ck ls "${loc}-new"
	# ckptio's own API with a torch.distributed coordinator.
	expect_exit 0 dcp pgsave "$lk" 4
	expect_exit 0 ck verify "$lk"
	expect_exit 0 dcp pgload "$lk" 3 4
}

dcp_jobs "$TMP/dcp"
if [ -n "${CKPTIO_DCP_LOC:-}" ]; then
	dcp_jobs "$CKPTIO_DCP_LOC"
fi
finish
