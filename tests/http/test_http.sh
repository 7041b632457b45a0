#!/bin/bash
# test_http.sh - the HTTP store plugin end to end against a real nginx
# (tests/http/nginx.sh), started here on loopback and stopped on exit:
#  - round trips: save over WebDAV PUT (stable and streamed puts), ls,
#    verify, load; a checkpoint written by the posix store into the
#    directory nginx serves loads over HTTP, and `ckptio cp` copies it to a
#    local disk byte for byte; rm removes every object, the hidden commit
#    key included; a safetensors model over HTTP;
#  - auth: a bearer token from the configuration (never printed), 401
#    without it; the hub pattern: a 302 to another host ("CDN") that
#    refuses requests carrying Authorization, so success shows curl
#    dropped the header; max_redirects = 0;
#  - TLS: verification fails without the test CA, works with ca_file and
#    with $CURL_CA_BUNDLE, and a failed verification is not retried;
#  - faults: injected resets (resumed from the byte where they broke),
#    short bodies, 500, 503 and 429 (Retry-After honoured) retried to an
#    identical load; exhausted retries; a server answering 429 with
#    Retry-After to everything; nginx stopped and started again during a
#    load; a file replaced on the server during a load; 404, 401, 416 and
#    a server that ignores Range, each a clear error without a retry
#    storm; a read-only backend.
# Env (from `make check`): CKPTIO_BIN, CKPTIO_PLUGIN_PATH (with the http
# plugin), CKPTIO_SRCDIR.
set -u
SRC=${CKPTIO_SRCDIR:?set by make check}
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"
# shellcheck source=tests/http/nginx.sh
. "$SRC/tests/http/nginx.sh"

trap 'nginx_down; rm -rf "$TMP"' EXIT
DATA=$TMP/www
if ! nginx_up "$TMP/nginx" "$DATA"; then
	echo "FAIL: nginx did not start (see the messages above)"
	echo "0 passed, 1 failed"
	exit 1
fi
U=http://127.0.0.1:$NGX_PORT
# The machine's CA variables would hide what ca_file does.
unset CURL_CA_BUNDLE SSL_CERT_FILE

cat >"$TMP/ckptio.conf" <<EOF
[backend "web"]
store = http
root = $U
listing = autoindex

[backend "priv"]
store = http
root = $U/private
header = Authorization: Bearer $NGX_TOKEN
listing = autoindex

[backend "nopass"]
store = http
root = $U/private

[backend "hub"]
store = http
root = $U/hub
header = Authorization: Bearer $NGX_TOKEN

[backend "hubnoredir"]
store = http
root = $U/hub
header = Authorization: Bearer $NGX_TOKEN
max_redirects = 0

[backend "tls"]
store = http
root = https://127.0.0.1:$NGX_TLS
ca_file = $TMP/nginx/ca.pem
user_agent = ckptio-tls-test/7

[backend "tlsnoca"]
store = http
root = https://localhost:$NGX_TLS
retries = 3

[backend "ro"]
store = http
root = $U
read_only = true

[backend "slow"]
store = http
root = $U/slow
retries = 1

[backend "thr"]
store = http
root = http://127.0.0.1:$NGX_THR
concurrency = 4
range_size = 4MiB

[backend "thr1"]
store = http
root = http://127.0.0.1:$NGX_THR
concurrency = 1
range_size = 1MiB

[backend "norange"]
store = http
root = $U/norange

[backend "small"]
store = http
root = $U/small

[backend "loop"]
store = http
root = $U/loop

[backend "evil"]
store = http
root = $U/evil

[backend "badlist"]
store = http
root = $U/badlist
listing = autoindex

[backend "notjson"]
store = http
root = $U/notjson
listing = autoindex

[backend "one"]
store = http
root = $U
listing = autoindex
concurrency = 1

[backend "deep"]
store = http
root = $U/deep
listing = autoindex

[backend "few"]
store = http
root = $U
retries = 2

[backend "viacurl"]
store = http
root = $U
direct_reads = false
EOF
export CKPTIO_CONFIG=$TMP/ckptio.conf

# same_items SRC REF: every item of REF loaded from SRC, byte for byte
# (tests/partload).
same_items() {
	"${CKPTIO_PARTLOAD:?set by make check}" "$1" "$2" --all >/dev/null
}

# ---------------------------------------------------------------- round trips
# A save over WebDAV PUT: bench saves (memory items: one PUT per object
# from the caller's buffers), loads back and compares every byte.
expect_exit 0 ck bench web:run1 --size 24MiB --tensors 12 --keep
expect_stdout_contains "verified"
[ -f "$DATA/run1/.metadata.json" ] && pass "the commit key is on the server" ||
	fail "no $DATA/run1/.metadata.json"
expect_exit 0 ck ls web:run1
expect_stdout_contains "items:    15"
expect_exit 0 ck verify web:run1
expect_stdout_contains "OK: 15 items"
# A URI works as well as a backend.
expect_exit 0 ck verify "$U/run1"

# Written by the posix store into the directory nginx serves, read over
# HTTP; copied to a local disk (streamed puts on the way back up, too).
expect_exit 0 ck bench "$DATA/posix1" --size 20MiB --tensors 40 --keep
expect_exit 0 ck verify web:posix1
expect_exit 0 ck cp web:posix1 "$TMP/local/copy1"
if same_items "$TMP/local/copy1" "$DATA/posix1"; then
	pass "cp over HTTP: the same items, byte for byte"
else
	fail "cp over HTTP changed the items"
fi
if same_items web:posix1 "$DATA/posix1"; then
	pass "a load over HTTP: the same items as from the disk"
else
	fail "a load over HTTP differs from the disk"
fi
# Into memory never touched (its pages faulted in by the readers while the
# I/O thread receives into them).
if "$CKPTIO_PARTLOAD" --fresh web:posix1 "$DATA/posix1" --all >/dev/null; then
	pass "a load into untouched memory: the same items"
else
	fail "a load into untouched memory differs from the disk"
fi
# The same through libcurl's transfers (direct_reads = false).
if same_items viacurl:posix1 "$DATA/posix1"; then
	pass "a load through libcurl's transfers: the same items"
else
	fail "a load with direct_reads = false differs from the disk"
fi
# cp up to the server: pulled items, a streamed (chunked) PUT per object.
expect_exit 0 ck cp "$TMP/local/copy1" web:up1
if same_items "$DATA/up1" "$DATA/posix1"; then
	pass "cp to HTTP: the same items, byte for byte"
else
	fail "cp to HTTP changed the items"
fi
expect_exit 0 ck verify web:up1

# A safetensors model over HTTP, read from its index/header alone.
expect_exit 0 ck cp --layout safetensors web:posix1 web:model1
expect_exit 0 ck ls web:model1
expect_stdout_contains "safetensors"
expect_exit 0 ck verify web:model1

# The listing: nginx's autoindex leaves out names starting with '.', so the
# root shows the safetensors model (its commit key is visible) and rm still
# removes a native checkpoint's hidden commit key.
expect_exit 0 ck ls web:
expect_stdout_contains "model1"
expect_exit 0 ck rm web:up1
if [ -z "$(ls -A "$DATA/up1" 2>/dev/null)" ]; then
	pass "rm removed every object, .metadata.json included"
else
	fail "rm left: $(ls -A "$DATA/up1")"
fi
expect_exit 3 ck verify web:up1
# Many objects removed in windows of 4 DELETEs (concurrency 1): all gone.
expect_exit 0 ck bench "$DATA/many" --size 4MiB --tensors 40 --threads 8 --keep
nobj=$(ls "$DATA/many" | wc -l)
[ "$nobj" -gt 4 ] && pass "$nobj data objects to remove" ||
	fail "only $nobj data objects: the windows are not exercised"
expect_exit 0 ck rm one:many
if [ -z "$(ls -A "$DATA/many" 2>/dev/null)" ]; then
	pass "rm over HTTP removed every object, window after window"
else
	fail "rm left: $(ls -A "$DATA/many")"
fi
# Overwrite refused, then asked for.
expect_exit 6 ck bench web:run1 --size 1MiB --tensors 2
expect_exit 0 ck bench web:run1 --size 2MiB --tensors 3 --keep --overwrite

# ---------------------------------------------------------------- auth
expect_exit 0 ck cp web:posix1 priv:p1
expect_exit 0 ck -v verify priv:p1
expect_stderr_lacks "$NGX_TOKEN"
expect_exit 0 ck config
expect_stdout_lacks "$NGX_TOKEN"
expect_exit 1 ck verify nopass:p1
expect_stderr_contains "HTTP 401"
expect_stderr_contains "header = Authorization"
# The hub answers 302 to the CDN; the CDN refuses any Authorization.
expect_exit 0 ck verify hub:private/p1
expect_exit 0 ck cp hub:private/p1 "$TMP/local/fromhub"
if same_items "$TMP/local/fromhub" "$DATA/posix1"; then
	pass "hub -> CDN: the same items"
else
	fail "hub -> CDN: items differ"
fi
expect_exit 1 ck verify hubnoredir:private/p1
expect_stderr_contains "HTTP 302"
expect_stderr_contains "max_redirects = 0"

# ---------------------------------------------------------------- TLS
expect_exit 0 ck bench tls:t1 --size 4MiB --tensors 4 --keep
expect_exit 0 ck verify tls:t1
# curl and nginx agree on HTTP/2 over TLS; the user_agent option is sent.
if grep "ckptio-tls-test/7" "$TMP/nginx/access.log" | grep -q "HTTP/2.0"; then
	pass "TLS: HTTP/2, with the configured User-Agent"
else
	fail "no HTTP/2 request with User-Agent ckptio-tls-test/7 in the log"
fi
# Ranged GETs over TLS on direct reads: HTTP/1.1 on connections libcurl
# made and verified.
if grep "ckptio-tls-test/7" "$TMP/nginx/access.log" | grep -q '"GET [^"]* HTTP/1.1" 206'; then
	pass "TLS: ranged GETs on direct reads, HTTP/1.1"
else
	fail "no ranged GET over HTTP/1.1 with User-Agent ckptio-tls-test/7 in the log"
fi
expect_exit 1 ck -v verify tlsnoca:t1
expect_stderr_contains "certificate"
expect_stderr_lacks "retry"
CURL_CA_BUNDLE=$TMP/nginx/ca.pem expect_exit 0 ck verify tlsnoca:t1
SSL_CERT_FILE=$TMP/nginx/ca.pem expect_exit 0 ck verify tlsnoca:t1

# ---------------------------------------------------------------- errors
expect_exit 3 ck verify web:nothing-here
expect_stderr_contains "nothing-here"
# A server that ignores Range: whole objects come back, so a verify (whose
# reads of up to 64 MiB cover these 5 MiB objects whole) passes; one
# tensor inside an object cannot be read, and that is said.
expect_exit 0 ck verify norange:posix1
one=$(ck --json ls "$DATA/posix1" | python3 -c '
import json, sys
print([i["name"] for i in json.load(sys.stdin)["items"] if i.get("dtype") not in (None, "bytes")][1])')
expect_exit 1 "${CKPTIO_PARTLOAD:?}" norange:posix1 "$DATA/posix1" "$one"
expect_stderr_contains "does not serve byte ranges"
# A data object cut short on the server: 416 for what lies past its end.
cp -a "$DATA/posix1" "$DATA/short1"
obj=$(cd "$DATA/short1" && ls __* | head -n1)
truncate -s 5000 "$DATA/short1/$obj"
expect_exit 4 ck -v verify web:short1
expect_stderr_contains "past the end"
expect_stderr_lacks "retry"
# A server that refuses PUT (no dav here): a clear error, not retried.
expect_exit 1 ck -v bench norange:w1 --size 1MiB --tensors 1
expect_stderr_contains "HTTP 405"
expect_stderr_contains "does not take writes"
expect_stderr_lacks "retry"
# A server that stops taking a body part way (413 after 1 KiB): a streamed
# put (cp pulls its items) and a put from memory (bench) both fail with the
# server's answer, at once, and leave no checkpoint.
expect_exit 1 ck -v cp web:posix1 small:c1
expect_stderr_contains "HTTP 413"
expect_stderr_lacks "retry"
expect_exit 1 ck -v bench small:c2 --size 1MiB --tensors 2
expect_stderr_contains "HTTP 413"
[ ! -e "$DATA/small/c1/.metadata.json" ] && [ ! -e "$DATA/small/c2/.metadata.json" ] &&
	pass "413: no checkpoint left" || fail "413: a commit key was written"
# A fault at each PUT of an overwriting save (403: not retried), the data
# objects' and the commit key's alike: the save fails, and the checkpoint
# it was replacing still loads, every item as it was; once the fault lies
# past the last PUT the save succeeds and the new checkpoint is whole.
expect_exit 0 ck bench "$TMP/local/old" --size 2MiB --tensors 4 --keep
expect_exit 0 ck cp "$TMP/local/old" web:ov
replaced=0
for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
	if CKPTIO_HTTP_FAULTS="put:$n:403" ck cp --overwrite web:posix1 web:ov \
		>"$OUT" 2>"$ERR"; then
		replaced=1
		pass "a fault at PUT $n is past the save's last PUT"
		break
	fi
	grep -qF "HTTP 403" "$ERR" && pass "PUT $n refused: the save says so" ||
		{ fail "PUT $n refused: no HTTP 403 in the message"; show_output; }
	if same_items web:ov "$TMP/local/old"; then
		pass "PUT $n refused: the old checkpoint loads, as it was"
	else
		fail "PUT $n refused: the old checkpoint is damaged"
	fi
done
[ "$replaced" = 1 ] && same_items web:ov "$DATA/posix1" &&
	pass "the save after the faults replaced the checkpoint, whole" ||
	fail "no save got past the faults, or its checkpoint differs"
expect_exit 0 ck verify web:ov
# Two writers saving to one new location at once (WebDAV has no
# conditional PUT: the later commit key wins): one whole checkpoint of one
# of them is there, never a mix.
( ck cp web:posix1 web:two >/dev/null 2>&1 ) &
w1=$!
( ck cp "$TMP/local/old" web:two >/dev/null 2>&1 ) &
w2=$!
wait "$w1" || true
wait "$w2" || true
expect_exit 0 ck verify web:two
if same_items web:two "$DATA/posix1" || same_items web:two "$TMP/local/old"; then
	pass "two writers: one of them, whole"
else
	fail "two writers: the checkpoint is neither of theirs"
fi
# Read-only: no writes, a clear error, nothing sent.
expect_exit 1 ck bench ro:never --size 1MiB --tensors 1
expect_stderr_contains "cannot write"
[ ! -e "$DATA/never" ] && pass "read-only: nothing written" ||
	fail "read-only backend wrote $DATA/never"
expect_exit 0 ck verify ro:posix1
# 429 with Retry-After to everything: the wait is honoured, then it fails.
expect_exit 1 ck -v verify slow:posix1
expect_stderr_contains "HTTP 429"
expect_stderr_contains "(Retry-After)"
expect_stderr_contains "after 2 attempts"

# Redirects that go nowhere good: a loop ends at max_redirects, a redirect
# to file:// is refused (http and https only); neither is retried.
expect_exit 1 ck -v verify loop:x
expect_stderr_contains "redirect"
expect_stderr_lacks "retry"
expect_exit 1 ck -v verify evil:x
expect_stderr_lacks "root:"
expect_stderr_lacks "retry"
# Listings that are not nginx's JSON: errors naming the URL.
expect_exit 1 ck ls badlist:
expect_stderr_contains "/badlist/: entry 0 of the autoindex listing is malformed"
expect_exit 1 ck ls notjson:
expect_stderr_contains "/notjson/: not an nginx autoindex JSON listing"
# A listing without end (each directory holds another): the walk stops
# where no key could be that long.
expect_exit 3 timeout 120 "$CKPTIO_BIN" ls deep:

# Names that need encoding: spaces, '#', '?', a '%' that is not an escape,
# and bytes that are not UTF-8, written by the posix store, read over HTTP;
# and a location pasted with escapes (my%20model is "my model").
odd=$'odd name #1?%zzéÿ'
expect_exit 0 ck bench "$DATA/$odd" --size 1MiB --tensors 2 --keep
expect_exit 0 ck verify "$U/$odd"
expect_exit 0 ck bench "$DATA/my model" --size 1MiB --tensors 2 --keep
expect_exit 0 ck verify "$U/my%20model"
expect_exit 0 ck verify "$U/my model"

# ---------------------------------------------------------------- faults
# Injected on the requests of one load (bench: the save first, then the
# load; GETs only happen in the load): resets resumed, short bodies, 500,
# 503, 429, and a HEAD failure; every byte compared.
CKPTIO_HTTP_FAULTS="get:2-3:reset,get:5:short,get:7:500,get:8:503,get:9:429,put:2:503" \
	expect_exit 0 ck -v bench web:faults --size 24MiB --tensors 6
expect_stdout_contains "verified"
expect_stderr_contains "retry 1 of 8"
expect_stderr_contains "from byte"
expect_stderr_contains "(Retry-After)"
# Exhausted retries fail the load, naming the object and the attempts.
CKPTIO_HTTP_FAULTS="get:1-100:500" expect_exit 1 ck verify few:posix1
expect_stderr_contains "HTTP 500"
expect_stderr_contains "after 3 attempts"
# A 403 is not retried.
CKPTIO_HTTP_FAULTS="get:1:403" expect_exit 1 ck -v verify web:posix1
expect_stderr_contains "HTTP 403"
expect_stderr_lacks "retry"
CKPTIO_HTTP_FAULTS="get:x:500" expect_exit 5 ck verify web:posix1
expect_stderr_contains "CKPTIO_HTTP_FAULTS"

# nginx stopped and started again during a load (4 MB/s per request, so
# the load of 48 MiB lasts about 3 s): the retries finish it, every CRC
# checks.
expect_exit 0 ck bench "$DATA/big" --size 48MiB --tensors 8 --keep
( sleep 1; nginx_stop; sleep 0.8; nginx_start >/dev/null ) &
restarter=$!
expect_exit 0 ck -v verify thr:big
expect_stdout_contains "OK: 11 items"
expect_stderr_contains "retry"
wait "$restarter"

# A data object replaced on the server during a load: the new version's
# ETag differs from the one first seen, and the load fails rather than
# mixing the two.  One 12 MiB tensor, read in 1 MiB ranges one at a time
# at 4 MB/s: the file is replaced once nginx has logged the first of them.
expect_exit 0 ck bench "$DATA/one" --size 12MiB --tensors 1 --keep
obj=$(cd "$DATA/one" && ls -S __* | head -n1)
cp "$DATA/one/$obj" "$TMP/replacement"
printf 'X' | dd of="$TMP/replacement" bs=1 seek=100 conv=notrunc 2>/dev/null
touch -d '2020-01-01' "$TMP/replacement"
( for i in $(seq 200); do
	grep -q "GET /one/$obj" "$TMP/nginx/access.log" && break
	sleep 0.05
  done
  mv "$TMP/replacement" "$DATA/one/$obj" ) &
replacer=$!
expect_exit 4 ck verify thr1:one
expect_stderr_contains "changed on the server"
wait "$replacer"

finish
