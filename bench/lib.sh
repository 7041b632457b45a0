# lib.sh - shell helpers shared by the bench/ scripts (sourced, not run).

# python3 -c with the arguments as sys.argv[1:] (a), sys, json and math
# imported.
py() {
	local prog=$1
	shift
	python3 -c "import sys, json, math; a = sys.argv[1:]; $prog" "$@"
}

# Bytes of a size as ckptio reads it: 2GiB, 512MiB, 4k (powers of 1024),
# 1.5GB (powers of 1000), 4096.  Exits with a message naming the script
# ($0) on anything else.
size_bytes() {
	py '
import re
m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kKMGT]?)(iB|B)?", a[0])
if not m: sys.exit(a[1] + ": bad size " + a[0])
p = "KMGT".index(m.group(2).upper()) + 1 if m.group(2) else 0
base = 1000 if m.group(3) == "B" else 1024
print(int(float(m.group(1)) * base ** p))' "$1" "$(basename "$0")"
}

# delayproxy_build DIR: compile bench/delayproxy.c (the link emulator of
# http.sh and s3.sh --delay) into DIR/delayproxy and print that path.
delayproxy_build() {
	local out=$1/delayproxy

	${CC:-cc} -O2 -Wall -Wextra -Werror \
		"$(dirname "${BASH_SOURCE[0]}")/delayproxy.c" -o "$out" || return 1
	echo "$out"
}
