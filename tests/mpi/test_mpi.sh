#!/bin/bash
# test_mpi.sh - multi-process saves and loads with the MPI coordinator
# (libckptio-mpi) under Open MPI's mpirun, on this machine
# (tests/mpi/mpisave.c does the work of each process):
#  - 4 processes save a row-sharded tensor, a replicated one (written once)
#    and a bytes item each; `ckptio verify` and `ls` agree;
#  - 1, 2 and then 3 processes load it, each its own share of the rows,
#    and compare every value, the replicated tensor and all 4 bytes items;
#    the load is collective: rank 0 alone reads the metadata (counted in
#    nginx's log over HTTP), and where there is none every rank fails with
#    rank 0's message;
#  - a process whose pull callback fails mid-save fails every process with
#    that rank's message, and the checkpoint saved before stays whole;
#  - a process killed with SIGKILL mid-save: mpirun ends the job (the
#    others do not hang; a 120 s timeout would say they did), and the
#    checkpoint saved before stays whole; a new location gets none.
# Env (from `make check`): CKPTIO_BIN, CKPTIO_PLUGIN_PATH, CKPTIO_SRCDIR,
# CKPTIO_MPISAVE (the built tests/mpi/mpisave).
set -u
SRC=${CKPTIO_SRCDIR:?set by make check}
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"

# shellcheck source=tests/mpi/mpi.sh
. "$SRC/tests/mpi/mpi.sh"

CK=$TMP/ck
# ckptio_mpi_coord_new's refusals: NULL out or coord, MPI_COMM_NULL, a
# thread level MPI does not provide.
expect_exit 0 mpi 2 args "$CK"
expect_exit 0 mpi 4 save "$CK"
expect_exit 0 ck verify "$CK"
expect_stdout_contains "OK: 6 items"
expect_exit 0 ck ls "$CK"
expect_stdout_contains "world:    4"
for n in 1 2 3; do
	expect_exit 0 mpi "$n" load "$CK" 4
done
expect_exit 0 mpi 3 nometa "$TMP/nothing"

# The collective load reads the metadata once for the whole job: over
# HTTP from nginx, 3 processes, and one HEAD and one GET of .metadata.json
# in nginx's log.
# shellcheck source=tests/http/nginx.sh
. "$SRC/tests/http/nginx.sh"
trap 'nginx_down; rm -rf "$TMP"' EXIT
if nginx_up "$TMP/nginx" "$TMP/www"; then
	cp -a "$CK" "$TMP/www/ck"
	expect_exit 0 mpi 3 load "http://127.0.0.1:$NGX_PORT/ck" 4
	n=$(grep -c "/ck/.metadata.json" "$TMP/nginx/access.log")
	[ "$n" -eq 2 ] && pass "3 ranks, one HEAD and one GET of the metadata" ||
		fail "3 ranks read the metadata in $n requests, not 2"
	nginx_down
else
	fail "nginx did not start"
fi

# One rank fails in the middle (ranks 1 and then 0): every rank fails
# naming it; the checkpoint saved before is untouched.
before=$(cat "$CK/.metadata.json")
expect_exit 0 mpi 4 fail "$CK" 1
expect_exit 0 mpi 4 fail "$CK" 0
[ "$(cat "$CK/.metadata.json")" = "$before" ] &&
	pass "failed saves left the checkpoint as it was" ||
	fail "a failed save changed $CK/.metadata.json"
expect_exit 0 mpi 3 load "$CK" 4
expect_exit 0 mpi 4 fail "$TMP/new1" 2
[ ! -e "$TMP/new1/.metadata.json" ] && pass "no checkpoint from a failed save" ||
	fail "a failed save left $TMP/new1/.metadata.json"

# A process killed mid-save: mpirun ends the job, within the timeout.
mpi 4 kill "$CK" 2 >"$OUT" 2>"$ERR"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
	pass "a killed rank ends the job (mpirun exit $rc)"
else
	fail "a killed rank: mpirun exit $rc (124: the others hung)"
	show_output
fi
expect_exit 0 ck verify "$CK"
expect_exit 0 mpi 2 load "$CK" 4
mpi 4 kill "$TMP/new2" 1 >"$OUT" 2>"$ERR"
[ ! -e "$TMP/new2/.metadata.json" ] && pass "no checkpoint from a killed save" ||
	fail "a killed save left $TMP/new2/.metadata.json"

finish
