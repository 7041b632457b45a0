# shellcheck shell=bash
# rgw.sh - a throw-away Ceph RADOS Gateway on 127.0.0.1 for the S3 tests:
# one monitor, one in-memory (memstore) OSD, no auth inside the cluster,
# pool size 1, radosgw (beast) on PORT; it verifies SigV4 like AWS does.
# Source it, then `rgw_start DIR PORT` (ports PORT..PORT+9; S3 keys in
# RGW_AK / RGW_SK) and `rgw_stop DIR`.  Installs the Debian packages when
# missing (needs root or sudo).  Starts in about 15 s.
#
# The settings that are hard to guess:
#  - the cluster speaks msgr2 only (a v2 address in the monmap and in
#    `mon host`, ms bind msgr1 = false), with the messenger ports kept in
#    our range; see "Why msgr2" below;
#  - ms mon client mode = crc: radosgw asks the monitor for "secure"
#    mode by default, which auth none cannot give: it would never connect;
#  - cluster addr = 127.0.0.1: otherwise the OSD's cluster and heartbeat
#    ports listen on 0.0.0.0;
#  - rgw gc obj min wait = 0: otherwise deleted objects stay in the
#    memstore for hours;
#  - tcp_nodelay=1 in rgw frontends: beast leaves Nagle on, so the body of
#    a small GET waits for the client's delayed ACK of the headers: 200
#    GETs of 1 KiB on one connection took 9.1 s (45 ms each), 0.12-0.19 s
#    with it (radosgw 16 logs "framework conf key: tcp_nodelay, val: 1").
#
# Why msgr2 (issue 7: the OSD failed to start about one time in four).
# Every ceph client (the ceph CLI, ceph-osd, radosgw) first fetches the
# monmap once to bootstrap its configuration, then builds the monmap of
# its real session from the monitor addresses it learnt, and that
# placeholder map has the fsid 00000000-... (Ceph 16 ignores the `fsid`
# of ceph.conf on that path).  Over the legacy v1 protocol, authentication
# (auth none) ends on the monitor's first reply, before the monitor's own
# monmap has been dispatched, so a command sent at once carries the zero
# fsid and the monitor refuses it (its log: "handle_command on fsid
# 00000000-... != <fsid>"; the client gets EPERM "wrong fsid").  ceph-osd
# sends `osd crush set-device-class` right there and exits; the ceph CLI
# fails with "problem getting command descriptions from mon".  Over msgr2,
# MonClient ends authentication only once it holds a monmap of epoch > 0,
# which has the cluster's fsid, so no command leaves with the placeholder.
RGW_AK=${RGW_AK:-RGWTEST}
RGW_SK=${RGW_SK:-RGWTESTSECRET}

# pkg_install (tests/pkg.sh): the Debian packages that are missing.
# shellcheck source=tests/pkg.sh
. "$(dirname "${BASH_SOURCE[0]}")/../pkg.sh"

rgw_install() {
	pkg_install radosgw ceph-mon ceph-osd ceph-common uuid-runtime
}

rgw_conf() {  # rgw_conf DIR PORT
	local d=$1 port=$2
	cat >"$d/ceph.conf" <<EOC
[global]
fsid = $(uuidgen)
mon host = v2:127.0.0.1:$((port + 1))
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr1 = false
ms mon client mode = crc
ms bind port min = $((port + 2))
ms bind port max = $((port + 9))
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = $d/run
admin socket = $d/run/\$name.asok
pid file = $d/run/\$name.pid
log file = $d/log/\$name.log
keyring = $d/keyring
[mon]
mon data = $d/mon
mon cluster log file = $d/log/cluster.log
[osd]
osd data = $d/osd\$id
osd objectstore = memstore
memstore device bytes = ${RGW_MEMSTORE_BYTES:-4294967296}
osd max object size = 134217728
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw dns name = localhost
rgw thread pool size = 64
rgw gc obj min wait = 0
rgw gc processor period = 5
EOC
}

# Say which step failed, with the end of the daemons' logs.
rgw_fail() {
	echo "rgw.sh: $1 failed" >&2
	tail -n 15 "$RGW_DIR"/log/*.log >&2 2>/dev/null
	return 1
}

# rgw_wait TRIES STEP CMD...: run CMD until it succeeds, at most TRIES
# times 0.3 s apart; say that STEP failed when it never does.
rgw_wait() {
	local n=$1 step=$2 i
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.3
	done
	rgw_fail "$step"
}

rgw_mon_up() {  # rgw_mon_up CONF
	timeout 5 ceph -c "$1" --connect-timeout 4 mon stat >/dev/null 2>&1
}

rgw_osd_up() {  # rgw_osd_up CONF
	ceph -c "$1" osd dump 2>/dev/null | grep -q '^osd.0 up'
}

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

rgw_start() {  # rgw_start DIR PORT
	local d=$1 port=$2 c=$1/ceph.conf fsid uuid i p
	RGW_DIR=$d
	# A daemon of another cluster on one of our ports (one leaked by a
	# killed test, say) would answer our OSD with the wrong fsid.
	for p in $(seq "$port" $((port + 9))); do
		if port_busy "$p"; then
			echo "rgw.sh: port $p is in use (a cluster left" \
				"running?)" >&2
			return 1
		fi
	done
	rgw_install || rgw_fail "installing the ceph packages" || return 1
	mkdir -p "$d"/{mon,osd0,run,log}
	rgw_conf "$d" "$port"
	fsid=$(awk '/^fsid/ {print $3}' "$c")
	ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. \
		--cap mon 'allow *' >/dev/null || rgw_fail ceph-authtool || return 1
	monmaptool --create --addv a "[v2:127.0.0.1:$((port + 1))]" \
		--fsid "$fsid" "$d/monmap" >/dev/null || rgw_fail monmaptool ||
		return 1
	ceph-mon -c "$c" --mkfs -i a --monmap "$d/monmap" \
		--keyring "$d/keyring" || rgw_fail "ceph-mon --mkfs" || return 1
	ceph-mon -c "$c" -i a || rgw_fail "starting ceph-mon" || return 1
	rgw_wait 100 "the monitor answering \`ceph mon stat\`" rgw_mon_up "$c" ||
		return 1
	uuid=$(uuidgen)
	timeout 60 ceph -c "$c" --connect-timeout 30 osd new "$uuid" \
		>/dev/null || rgw_fail "ceph osd new" || return 1
	ceph-osd -c "$c" -i 0 --mkfs --osd-uuid "$uuid" >/dev/null 2>&1 ||
		rgw_fail "ceph-osd --mkfs" || return 1
	ceph-osd -c "$c" -i 0 2>"$d/log/osd-start.log" ||
		rgw_fail "starting ceph-osd" ||
		return 1
	rgw_wait 200 "osd.0 coming up" rgw_osd_up "$c" || return 1
	radosgw -c "$c" -n client.rgw || rgw_fail "starting radosgw" || return 1
	for i in $(seq 600); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" &&
			break
		sleep 0.2
	done
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" ||
		rgw_fail "radosgw answering on port $port" || return 1
	radosgw-admin -c "$c" user create --uid=test --display-name=test \
		--access-key="$RGW_AK" --secret="$RGW_SK" >/dev/null ||
		rgw_fail "radosgw-admin user create" || return 1
}

rgw_stop() {  # rgw_stop DIR: TERM, wait, KILL the daemons of DIR
	local d=$1 f pid i
	for f in "$d"/run/client.rgw.pid "$d"/run/osd.0.pid "$d"/run/mon.a.pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || continue
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true # callers may run set -e
	done
	return 0
}

# rgw_up: start a cluster on ports of our own below the ephemeral range
# (32768+, so that no outgoing connection holds one), with one more try on
# other ports when it does not come up (a port taken after all, between
# the check and the bind; a monitor too slow on a loaded machine), up to
# three.  A safety net only: the first try is meant to work (see "Why
# msgr2" above), and every retry says which step failed.  Sets RGW_DIR and
# RGW_PORT; the caller stops it with rgw_down.
rgw_up() {
	local try
	for try in 1 2 3; do
		RGW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ckptio-rgw.XXXXXX") || return 1
		RGW_PORT=$((20000 + (($$ + try * 577) % 1200) * 10))
		if rgw_start "$RGW_DIR" "$RGW_PORT"; then
			echo "radosgw: pid $(cat "$RGW_DIR/run/client.rgw.pid") on" \
				"127.0.0.1:$RGW_PORT ($RGW_DIR)" >&2
			return 0
		fi
		echo "rgw.sh: the cluster did not start on ports" \
			"$RGW_PORT..$((RGW_PORT + 9)) (try $try of 3)" >&2
		rgw_down
	done
	return 1
}

rgw_down() {
	[ -n "${RGW_DIR:-}" ] || return 0
	rgw_stop "$RGW_DIR"
	rm -rf "$RGW_DIR"
	RGW_DIR=""
}

# Kill radosgw alone (SIGKILL: connections reset), and start it again on
# the same port; the monitor and the OSD keep the data.
rgw_gw_kill() {
	local pid
	pid=$(cat "$RGW_DIR/run/client.rgw.pid") || return 1
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$RGW_DIR/run/client.rgw.pid"
}

rgw_gw_start() {
	local i
	radosgw -c "$RGW_DIR/ceph.conf" -n client.rgw || return 1
	for i in $(seq 300); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$RGW_PORT/" &&
			return 0
		sleep 0.1
	done
	return 1
}
