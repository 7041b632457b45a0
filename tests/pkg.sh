# pkg.sh - pkg_install, for the test scripts that start real servers
# (tests/s3/rgw.sh, tests/http/nginx.sh); source it.
# pkg_install PACKAGE...: install the Debian packages that are missing
# (needs root or sudo); quiet when all are there.
pkg_install() {
	local p missing=()

	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	echo "pkg.sh: installing ${missing[*]}" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >&2 ||
		{ $sudo apt-get update -q >&2 &&
		  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${missing[@]}" >&2; }
}
