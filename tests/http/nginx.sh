# nginx.sh - a private nginx (Debian's nginx-light) on 127.0.0.1 for the
# HTTP store's tests and benchmarks; source it (bash), then
#   nginx_up DIR DATA   start it: its config, logs and pid under DIR, files
#                       served from DATA; sets NGX_PORT (plain), NGX_CDN
#                       (the "CDN" the hub redirects to), NGX_TLS (https,
#                       certificate of a CA made here: $DIR/ca.pem),
#                       NGX_THR (throttled) and
#                       NGX_TOKEN (the bearer token /private/ wants)
#   nginx_stop / nginx_start   stop and start it again (same ports)
#   nginx_down          stop it for good (also on the caller's EXIT trap)
#
# What it serves, all from DATA:
#   /           GET with ranges, WebDAV PUT DELETE MKCOL with
#               create_full_put_path, autoindex as JSON
#   /private/   the same, with `Authorization: Bearer $NGX_TOKEN` only
#   /hub/X      the hub pattern: with the token, a 302 to
#               http://127.0.0.1:$NGX_CDN/cdn/X, which refuses any request
#               that carries an Authorization header (403)
#   /norange/X  DATA/X with ranges off (max_ranges 0): GETs answer 200, whole
#   /slow/      429 with Retry-After: 1 to everything
#   /small/     PUT bodies of at most 1 KiB (413 beyond)
#   /loop/      a redirect to itself; /evil/ a redirect to file:///etc/passwd
#   /badlist/, /notjson/   listings that are not nginx's autoindex JSON
#   /deep/...   every listing holds one more directory, without end
#   https://127.0.0.1:$NGX_TLS/   as /, over TLS, HTTP/2 offered (ALPN)
#   http://127.0.0.1:$NGX_THR/    DATA at 4 MB/s per request (loads that
#               last long enough to be interrupted)
# nginx writes a PUT to a temporary file and renames it at the end of the
# body, so a PUT cut short leaves nothing.

# shellcheck source=tests/pkg.sh
. "$(dirname "${BASH_SOURCE[0]}")/../pkg.sh"

NGX_DIR=""

# A free TCP port on 127.0.0.1 (the kernel's choice).
ngx_free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

nginx_up() {
	local dir=$1 data=$2 user=""

	pkg_install nginx-light openssl || return 1
	NGX_DIR=$dir
	mkdir -p "$dir/tmp" "$data" || return 1
	NGX_PORT=$(ngx_free_port) && NGX_CDN=$(ngx_free_port) &&
		NGX_TLS=$(ngx_free_port) && NGX_THR=$(ngx_free_port) || return 1
	NGX_TOKEN=tok-$RANDOM$RANDOM
	# A CA, and a certificate for 127.0.0.1 and localhost signed by it.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ckptio-test-ca \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null &&
		openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
			-keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext" &&
		openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" \
			-CAkey "$dir/ca.key" -CAcreateserial -days 2 \
			-extfile "$dir/san.ext" -out "$dir/cert.pem" 2>/dev/null ||
		{ echo "nginx.sh: openssl could not make the certificates" >&2; return 1; }
	# As root, workers run as root too, so that they can write DATA.
	[ "$(id -u)" -eq 0 ] && user="user root;"
	cat >"$dir/nginx.conf" <<EOF
$user
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
	access_log $dir/access.log;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_requests 100000;
	client_max_body_size 0;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$NGX_PORT;
		root $data;
		location / {
			autoindex on;
			autoindex_format json;
			dav_methods PUT DELETE MKCOL;
			create_full_put_path on;
			dav_access user:rw group:r all:r;
		}
		location /private/ {
			if (\$http_authorization != "Bearer $NGX_TOKEN") {
				return 401;
			}
			autoindex on;
			autoindex_format json;
			dav_methods PUT DELETE MKCOL;
			create_full_put_path on;
		}
		location /hub/ {
			if (\$http_authorization != "Bearer $NGX_TOKEN") {
				return 401;
			}
			rewrite ^/hub/(.*)\$ http://127.0.0.1:$NGX_CDN/cdn/\$1 redirect;
		}
		location /norange/ {
			alias $data/;
			max_ranges 0;
		}
		location /slow/ {
			add_header Retry-After 1 always;
			return 429;
		}
		location /small/ {
			dav_methods PUT DELETE;
			create_full_put_path on;
			client_max_body_size 1k;
		}
		location /loop/ {
			return 302 /loop/;
		}
		location /evil/ {
			return 302 file:///etc/passwd;
		}
		location = /badlist/ {
			default_type application/json;
			return 200 '[{"name": 5, "type": "file"}]';
		}
		location ~ "^/deep/(.*/)?\$" {
			default_type application/json;
			return 200 '[{"name": "a", "type": "directory", "mtime": "Wed, 02 Dec 2026 00:00:00 GMT"}]';
		}
		location = /notjson/ {
			return 200 'Index of /';
		}
	}
	server {
		# A small send buffer, so that limit_rate holds from the first
		# byte (the kernel would otherwise take megabytes at once).
		listen 127.0.0.1:$NGX_THR sndbuf=64k;
		root $data;
		limit_rate 4m;
	}
	server {
		listen 127.0.0.1:$NGX_CDN;
		location /cdn/ {
			if (\$http_authorization) {
				return 403 "Authorization forwarded to the CDN\n";
			}
			alias $data/;
		}
	}
	server {
		listen 127.0.0.1:$NGX_TLS ssl http2;
		ssl_certificate $dir/cert.pem;
		ssl_certificate_key $dir/key.pem;
		root $data;
		location / {
			dav_methods PUT DELETE;
			create_full_put_path on;
		}
	}
}
EOF
	nginx_start
}

nginx_start() {
	local i

	/usr/sbin/nginx -t -q -c "$NGX_DIR/nginx.conf" -e "$NGX_DIR/error.log" ||
		return 1
	/usr/sbin/nginx -c "$NGX_DIR/nginx.conf" -e "$NGX_DIR/error.log" \
		</dev/null >>"$NGX_DIR/stdout.log" 2>&1 &
	for i in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/"; then
			return 0
		fi
		sleep 0.1
	done
	echo "nginx.sh: nginx did not start:" >&2
	cat "$NGX_DIR/error.log" >&2
	return 1
}

nginx_stop() {
	local pid i

	[ -n "$NGX_DIR" ] && [ -f "$NGX_DIR/nginx.pid" ] || return 0
	pid=$(cat "$NGX_DIR/nginx.pid")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

nginx_down() {
	nginx_stop
	NGX_DIR=""
}
