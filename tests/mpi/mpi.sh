# mpi.sh - running tests/mpi/mpisave under Open MPI's mpirun on this
# machine (tests/mpi/test_mpi.sh, tests/s3/test_s3.sh); source it (bash).
#   mpi N ARGS...   N processes of mpisave ARGS, at most 120 s
# Env: CKPTIO_MPISAVE (the built tests/mpi/mpisave).

MPISAVE=${CKPTIO_MPISAVE:?set by make check}

# Open MPI on one machine, as root in CI: shared memory without the
# ptrace-based single copy that containers refuse, and more processes
# than cores.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader
# The sanitizer build: Open MPI's components, dlopen'ed and closed at
# MPI_Finalize, keep allocations LeakSanitizer reports from "<unknown
# module>" frames that no suppression can name; the processes under mpirun
# run without leak detection (memory errors and undefined behaviour are
# still caught).  The coordinator's own allocations are few and freed on
# every path.
MPI_ASAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:detect_leaks=0}

mpi() {
	local n=$1
	shift
	ASAN_OPTIONS=$MPI_ASAN timeout 120 mpirun --allow-run-as-root \
		--oversubscribe -np "$n" "$MPISAVE" "$@"
}
