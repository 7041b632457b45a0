#!/bin/sh
# Generate ./configure from configure.ac and Makefile.am.
# Needs the Debian packages autoconf, automake, libtool and pkg-config.
set -e
cd "$(dirname "$0")"
mkdir -p m4
autoreconf --install --force
