#!/bin/sh
# install-deps.sh [--fuzz] - install the Debian packages needed to build and
# test ckptio (Debian 12 and derivatives; python3-numpy is for the safetensors
# interop test, tests/safetensors/, nginx-light and openssl for the HTTP
# store's tests, libopenmpi-dev, openmpi-bin and python3-mpi4py for
# libckptio-mpi and the multi-process tests, python3-torch (1.13) for the
# ckptio.torch tests and bench/torch.sh); with --fuzz also clang and its
# libFuzzer runtime, for `make fuzz` (docs/fuzzing.md), which nothing else
# needs.  Idempotent: packages already present are left alone, and
# `apt-get update` runs only when an install fails (e.g. a fresh container
# with empty package lists).  Run as root, or as a user with sudo.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config \
nginx-light openssl libopenmpi-dev openmpi-bin python3-mpi4py python3-torch \
libjansson-dev libyajl-dev libinih-dev libisal-dev libssl-dev libxml2-dev libcurl4-openssl-dev curl check python3 python3-numpy valgrind"
# libclang-rt-14-dev (libFuzzer, the sanitizer runtimes) is only
# recommended by clang-14, so it is named.
FUZZ_PACKAGES="clang libclang-rt-14-dev"

case "${1:-}" in
"") ;;
--fuzz) PACKAGES="$PACKAGES $FUZZ_PACKAGES" ;;
*)
	echo "usage: install-deps.sh [--fuzz]" >&2
	exit 2
	;;
esac

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps.sh: run as root or install sudo" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps.sh: apt-get not found; install these packages" \
		"with your system's package manager: $PACKAGES" >&2
	exit 1
fi

# Packages not installed yet (dpkg-query prints "install ok installed").
missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "install-deps.sh: all packages present"
	exit 0
fi

echo "install-deps.sh: installing$missing"
install() {
	# shellcheck disable=SC2086  # word splitting of the list is wanted
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $missing
}
if ! install; then
	echo "install-deps.sh: install failed; updating package lists and retrying"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	install
fi
