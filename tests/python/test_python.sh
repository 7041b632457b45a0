#!/bin/sh
# test_python.sh - the Python package (python/ckptio) against the built
# library, with Debian's python3 and numpy: tests/python/test_ckptio.py.
# Env (from `make check`): CKPTIO_LIBRARY (the built libckptio.so.0),
# CKPTIO_PYTHON (configure's python3), CKPTIO_SRCDIR, CKPTIO_PLUGIN_PATH.
set -eu
SRC=${CKPTIO_SRCDIR:?set by make check}
PYTHONPATH="$SRC/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
# Under the sanitizer build the library needs its runtime loaded first.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	asan=$(${CC:-gcc} -print-file-name=libasan.so)
	LD_PRELOAD="$asan${LD_PRELOAD:+:$LD_PRELOAD}"
	ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
	export LD_PRELOAD ASAN_OPTIONS
fi
exec "${CKPTIO_PYTHON:-/usr/bin/python3}" \
	"$SRC/tests/python/test_ckptio.py" -v 2>&1
