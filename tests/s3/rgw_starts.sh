#!/bin/bash
# rgw_starts.sh - start and stop the throw-away Ceph cluster of rgw.sh N
# times from scratch, each time in a fresh data directory as on a fresh CI
# machine, with rgw_start alone (none of rgw_up's tries on other ports),
# and count the starts that worked.  It also counts the commands that the
# monitor refused for a zero fsid (issue 7): a start can survive one (the
# `mon stat` wait tries again) and still show the race.  After each stop,
# none of the cluster's ports may still be listening.  Exits 0 only when
# every start worked, no command was refused and nothing was left running.
# Not part of `make check-rgw` (each start takes about 15 s): run it by
# hand after changing rgw.sh or the Ceph packages.
#
# Usage: tests/s3/rgw_starts.sh [N]   (N starts, default 15)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/s3/rgw.sh
. "$here/rgw.sh"

n=${1:-15}
[[ $n =~ ^[1-9][0-9]{0,3}$ ]] || { echo "usage: $0 [N]  (1 to 9999)" >&2; exit 2; }
ok=0 refused=0 leaked=0
trap rgw_down EXIT
for i in $(seq "$n"); do
	RGW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-rgw.XXXXXX") || exit 1
	port=$((20000 + (($$ + i * 577) % 1200) * 10))
	if rgw_start "$RGW_DIR" "$port" 2>"$RGW_DIR/start.err"; then
		result=ok
		ok=$((ok + 1))
	else
		result=FAILED
		cat "$RGW_DIR/start.err" >&2
	fi
	z=$(grep -c 'handle_command on fsid 00000000-' \
		"$RGW_DIR/log/mon.a.log" 2>/dev/null) || true
	refused=$((refused + ${z:-0}))
	rgw_down
	left=""
	for p in $(seq "$port" $((port + 9))); do
		port_busy "$p" && left="$left $p"
	done
	[ -z "$left" ] || leaked=$((leaked + 1))
	echo "start $i of $n on ports $port..$((port + 9)): $result;" \
		"commands refused for a zero fsid: ${z:-0}${left:+; still listening:$left}"
done
echo "$ok of $n starts worked at the first try; $refused commands refused" \
	"for a zero fsid; $leaked stops left a port listening"
[ "$ok" -eq "$n" ] && [ "$refused" -eq 0 ] && [ "$leaked" -eq 0 ]
