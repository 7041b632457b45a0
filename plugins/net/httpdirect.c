/*
 * httpdirect.c - ranged GETs received straight into the caller's buffers.
 *
 * libcurl receives an answer into its own buffer and hands it over, so a
 * load through it copies every byte once more than the kernel already
 * did: on a fast link that copy costs as much CPU as the kernel's.  Here
 * libcurl only makes the connection (CURLOPT_CONNECT_ONLY: name lookup,
 * TCP, TLS and its verification, timeouts, as for any request), and the
 * request layer speaks HTTP/1.1 on it itself: it sends the GET that the
 * store's prepare hook described, reads the answer's head into a small
 * buffer, and then has curl_easy_recv write the body straight into the
 * destination segments, each block checksummed while it is in the cache.
 *
 * Only what this path knows to be plain is taken here: a 206 (or a 200
 * of exactly the range) with a Content-Length, or an error status whose
 * body has a Content-Length (read as curl would, for the store's
 * error_detail).  Anything else goes back to libcurl for the same
 * attempt: a redirect (and from then on every read of the client, as a
 * hub redirects them all), a chunked body, a head without a length.  A
 * proxy in the environment, or a URL with user info, leaves every read
 * to libcurl, which knows those.
 *
 * Each connection holds its own libcurl connection cache (a share): a
 * connect-only connection left in the client's multi handle would be
 * looked at by libcurl's pruning of dead connections whenever another
 * transfer connects, and a socket with an answer waiting looks dead to
 * it.  Its easy handle stays in the multi handle until the connection is
 * closed (removing it closes the connection).
 *
 * Everything here runs on the I/O thread (httpclient.c), which polls the
 * connections' sockets with the multi handle's (curl_multi_poll's extra
 * fds) and calls httpreq_direct_step after each wait.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpint.h"

#define HD_HEAD_MAX (64u << 10)  /* most bytes of an answer's head */
#define HD_STEP_MAX (4u << 20)   /* bytes one connection takes per step */
#define HD_RECV_MAX (1u << 20)   /* bytes per recv into the destination */
#define HD_SCRATCH (64u << 10)   /* gaps between joined ranges land here */

typedef enum hd_state {
	HD_FREE,        /* no connection */
	HD_CONNECTING,  /* libcurl is connecting, for d->r */
	HD_IDLE,        /* connected, kept alive, no request */
	HD_SEND,        /* sending d->r's request */
	HD_HEAD,        /* reading the answer's head */
	HD_BODY,        /* reading a 2xx body into d->r's segments */
	HD_ERRBODY      /* reading an error body into d->r->resp */
} hd_state;

struct httpreq_dconn {
	hd_state state;
	CURL *easy;
	CURLSH *share;
	curl_socket_t fd;
	char *origin;       /* "scheme://host:port" */
	httpreq *r;
	int served;         /* answers read on it: a close before the next
			     * answer's first byte is the server's idle
			     * timeout, not the request's failure */
	int keep;           /* the answer lets the connection be reused */
	char *req;          /* the request's text */
	size_t req_len, req_sent;
	char *head;         /* HD_HEAD_MAX bytes, from the first use */
	size_t head_len;    /* bytes in head (the head, then body bytes) */
	uint64_t body_left; /* bytes of the body still to come */
	uint64_t last_io;   /* monotonic ms of the last byte either way */
	char err[CURL_ERROR_SIZE];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Set up and close                                                         */

/* A proxy named in the environment: libcurl knows how to go through it. */
static int proxy_in_env(void)
{
	static const char *const vars[] = {"http_proxy", "HTTPS_PROXY",
					   "https_proxy", "ALL_PROXY",
					   "all_proxy"};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (v && *v)
			return 1;
	}
	return 0;
}

int httpreq_direct_init(httpreq_client *c)
{
	if (!c->cfg.opt.direct_reads || proxy_in_env())
		return 0;
	c->dc = calloc(c->cfg.opt.concurrency, sizeof(*c->dc));
	c->dpoll = calloc(c->cfg.opt.concurrency, sizeof(*c->dpoll));
	c->dscratch = malloc(HD_SCRATCH);
	if (!c->dc || !c->dpoll || !c->dscratch) {
		free(c->dc);
		free(c->dpoll);
		free(c->dscratch);
		c->dc = NULL;
		c->dpoll = NULL;
		c->dscratch = NULL;
		return -1;
	}
	c->ndc = c->cfg.opt.concurrency;
	return 0;
}

static void conn_close(httpreq_client *c, httpreq_dconn *d)
{
	if (d->easy) {
		curl_multi_remove_handle(c->multi, d->easy); /* closes it */
		curl_easy_cleanup(d->easy);
	}
	if (d->share)
		curl_share_cleanup(d->share);
	free(d->origin);
	free(d->req);
	d->easy = NULL;
	d->share = NULL;
	d->origin = NULL;
	d->req = NULL;
	d->fd = CURL_SOCKET_BAD;
	d->state = HD_FREE;
	d->served = 0;
	d->r = NULL;
	/* d->head stays for the slot's next connection */
}

void httpreq_direct_free(httpreq_client *c)
{
	for (unsigned i = 0; i < c->ndc; i++) {
		conn_close(c, &c->dc[i]);
		free(c->dc[i].head);
	}
	free(c->dc);
	free(c->dpoll);
	free(c->dscratch);
	c->dc = NULL;
	c->dpoll = NULL;
	c->dscratch = NULL;
	c->ndc = 0;
}

/* ------------------------------------------------------------------------ */
/* Taking a request                                                         */

/* The origin ("scheme://host:port"), the request target and the Host
 * header of url, malloc'd; -1 when url is not one this path sends
 * (user info, another scheme) or out of memory. */
static int url_split(const char *url, char **origin, char **target,
		     char **hosthdr)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *dport = NULL;
	char *user = NULL, *path = NULL, *query = NULL;
	int rc = -1;

	*origin = *target = *hosthdr = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		goto out; /* libcurl sends it as Basic authentication */
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &dport, CURLU_DEFAULT_PORT) !=
		    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	/* The port in the Host header only when it is not the scheme's, as
	 * libcurl sends it (a presigned URL's signature covers the host). */
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK ||
	    strcmp(port, strcmp(scheme, "http") == 0 ? "80" : "443") == 0) {
		curl_free(port);
		port = NULL;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	*origin = httpreq_asprintf("%s://%s:%s", scheme, host, dport);
	*target = httpreq_asprintf("%s%s%s", path, query ? "?" : "",
				   query ? query : "");
	*hosthdr = httpreq_asprintf("%s%s%s", host, port ? ":" : "",
				    port ? port : "");
	if (*origin && *target && *hosthdr)
		rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(dport);
	curl_free(user);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	if (rc != 0) {
		free(*origin);
		free(*target);
		free(*hosthdr);
		*origin = *target = *hosthdr = NULL;
	}
	return rc;
}

/* Does the header list name this header (case-insensitively)? */
static int has_header(const struct curl_slist *l, const char *name)
{
	size_t n = strlen(name);

	for (; l; l = l->next)
		if (strncasecmp(l->data, name, n) == 0 &&
		    (l->data[n] == ':' || l->data[n] == ';'))
			return 1;
	return 0;
}

/* The request's text: its target, Host, User-Agent and Accept as libcurl
 * would send them unless the store gave its own, then the store's header
 * lines ("Name:" alone removes a header, as for libcurl).  NULL: out of
 * memory, or a line this path does not send (a line break in it, or
 * libcurl's "Name;" for an empty header). */
static char *request_text(httpreq_client *c, httpreq *r, const char *target,
			  const char *hosthdr, size_t *len)
{
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);
	int bad = 0;

	if (!f)
		return NULL;
	fprintf(f, "GET %s HTTP/1.1\r\n", target);
	if (!has_header(r->hdrs, "host"))
		fprintf(f, "Host: %s\r\n", hosthdr);
	if (!has_header(r->hdrs, "user-agent") && c->cfg.user_agent)
		fprintf(f, "User-Agent: %s\r\n", c->cfg.user_agent);
	if (!has_header(r->hdrs, "accept"))
		fputs("Accept: */*\r\n", f);
	for (const struct curl_slist *l = r->hdrs; l; l = l->next) {
		const char *colon = strchr(l->data, ':');
		const char *v = colon ? colon + 1 : NULL;

		if (strpbrk(l->data, "\r\n") || !colon) {
			bad = 1;
			break;
		}
		while (v && (*v == ' ' || *v == '\t'))
			v++;
		if (!*v)
			continue; /* "Expect:": a header libcurl would not send */
		fprintf(f, "%s\r\n", l->data);
	}
	fputs("\r\n", f);
	if (fclose(f) != 0 || bad) {
		free(text);
		return NULL;
	}
	*len = tlen;
	return text;
}

/* Start connecting slot d to url's origin for r. */
static int conn_open(httpreq_client *c, httpreq_dconn *d, const char *url,
		     char *origin)
{
	const httpreq_config *cfg = &c->cfg;

	d->origin = origin;
	d->err[0] = '\0';
	if (!d->head && !(d->head = malloc(HD_HEAD_MAX)))
		return -1;
	if (!(d->share = curl_share_init()) ||
	    curl_share_setopt(d->share, CURLSHOPT_SHARE,
			      CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
	    !(d->easy = curl_easy_init()))
		return -1;
	curl_easy_setopt(d->easy, CURLOPT_URL, url);
	curl_easy_setopt(d->easy, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(d->easy, CURLOPT_SHARE, d->share);
	curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
	curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, d->err);
	httpreq_conn_options(cfg, d->easy);
	curl_easy_setopt(d->easy, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_1_1); /* what TLS offers */
	/* The most curl_easy_recv reads at once (its buffer of that size
	 * is allocated, never touched). */
	curl_easy_setopt(d->easy, CURLOPT_BUFFERSIZE, (long)HD_RECV_MAX);
	if (curl_multi_add_handle(c->multi, d->easy) != CURLM_OK)
		return -1;
	d->state = HD_CONNECTING;
	return 0;
}

/* Put r's request on connection d, connected. */
static void conn_begin(httpreq_dconn *d, httpreq *r, char *text, size_t len)
{
	free(d->req);
	d->req = text;
	d->req_len = len;
	d->req_sent = 0;
	d->head_len = 0;
	d->body_left = 0;
	d->keep = 0;
	d->r = r;
	d->state = HD_SEND;
	d->last_io = mono_ms();
}

/* r is libcurl's, from now on: what was made for it here goes (libcurl's
 * path makes its headers again).  0, take's "not taken". */
static int give_back(httpreq *r, char *url, char *origin)
{
	free(url);
	free(origin);
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	r->no_direct = 1;
	return 0;
}

int httpreq_direct_take(httpreq_client *c, httpreq *r)
{
	httpreq_dconn *idle = NULL, *freed = NULL, *other = NULL;
	char *url = NULL, *origin = NULL, *target = NULL, *hosthdr = NULL;
	char *text;
	size_t len;

	if (!c->dc || c->direct_off || r->no_direct || !r->dst ||
	    !r->range_hdr || r->body || r->pull || strcmp(r->method, "GET"))
		return 0;
	if (httpreq_prepare_request(r, &url) != 0)
		return -1;
	if (url_split(url, &origin, &target, &hosthdr) != 0 ||
	    !(text = request_text(c, r, target, hosthdr, &len))) {
		/* Not for this path (or out of memory: libcurl's path will
		 * say so). */
		free(target);
		free(hosthdr);
		return give_back(r, url, origin);
	}
	free(target);
	free(hosthdr);
	/* A connection kept alive to the same origin, else a free slot,
	 * else one kept alive to another origin, closed.  One is there:
	 * fewer than `concurrency` requests are running besides r. */
	for (unsigned i = 0; i < c->ndc && !idle; i++) {
		httpreq_dconn *d = &c->dc[i];

		if (d->state == HD_IDLE && strcmp(d->origin, origin) == 0)
			idle = d;
		else if (d->state == HD_FREE && !freed)
			freed = d;
		else if (d->state == HD_IDLE && !other)
			other = d;
	}
	if (idle) {
		free(origin);
		free(url);
		conn_begin(idle, r, text, len);
		return 1;
	}
	if (!freed && other) {
		conn_close(c, other);
		freed = other;
	}
	if (!freed) { /* cannot happen; libcurl's path has its own pool */
		free(text);
		return give_back(r, url, origin);
	}
	conn_begin(freed, r, text, len);
	freed->state = HD_FREE;
	if (conn_open(c, freed, url, origin) != 0) {
		conn_close(c, freed);
		free(url);
		return -1;
	}
	free(url);
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Finishing                                                                */

/* r is done on d (r->cc and the answer set): hand it back to the I/O
 * thread, and keep d for the next request or close it. */
static void finish(httpreq_client *c, httpreq_dconn *d, int keep)
{
	httpreq *r = d->r;

	d->r = NULL;
	if (keep && d->keep) {
		d->served++;
		d->state = HD_IDLE;
	} else {
		conn_close(c, d);
	}
	r->next = c->dfin;
	c->dfin = r;
}

static void fail(httpreq_client *c, httpreq_dconn *d, CURLcode cc,
		 const char *why)
{
	httpreq *r = d->r;

	r->cc = cc;
	snprintf(r->curl_err, sizeof(r->curl_err), "%s", why);
	finish(c, d, 0);
}

/* The answer is not one this path reads: libcurl asks again, for the same
 * attempt. */
static void fall_back(httpreq_client *c, httpreq_dconn *d)
{
	httpreq *r = d->r;

	d->r = NULL;
	conn_close(c, d);
	r->no_direct = 1;
	r->next = c->dback;
	c->dback = r;
}

/* The connection closed before the answer's first byte, on a connection
 * that had served others (the server's idle timeout, or the last request
 * it would take): the same request on a new connection. */
static void reconnect(httpreq_client *c, httpreq_dconn *d)
{
	httpreq *r = d->r;
	char *text = d->req, *origin = d->origin;
	size_t len = d->req_len;
	char *url;

	d->req = NULL;
	d->origin = NULL;
	d->r = NULL;
	url = httpreq_asprintf("%s/", origin);
	conn_close(c, d);
	conn_begin(d, r, text, len);
	d->state = HD_FREE;
	if (!url || conn_open(c, d, url, origin) != 0) {
		if (!url)
			free(origin);
		free(url);
		d->r = r;
		fail(c, d, CURLE_OUT_OF_MEMORY, "out of memory");
		return;
	}
	free(url);
}

int httpreq_direct_connected(httpreq_client *c, CURL *easy, CURLcode cc)
{
	httpreq_dconn *d = NULL;
	curl_socket_t fd = CURL_SOCKET_BAD;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&d);
	if (!c->dc || d < c->dc || d >= c->dc + c->ndc)
		return 0;
	if (cc == CURLE_OK &&
	    (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
	     fd == CURL_SOCKET_BAD))
		cc = CURLE_COULDNT_CONNECT;
	if (cc != CURLE_OK) {
		httpreq *r = d->r;

		r->cc = cc;
		snprintf(r->curl_err, sizeof(r->curl_err), "%s", d->err);
		finish(c, d, 0);
		return 1;
	}
	d->fd = fd;
	d->state = HD_SEND;
	d->last_io = mono_ms();
	return 1;
}

/* ------------------------------------------------------------------------ */
/* The answer's head                                                        */

/* A header's value (after "Name:"), without blanks around it. */
static void value_of(const char *v, const char *end, const char **vs,
		     size_t *vn)
{
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*vs = v;
	*vn = (size_t)(end - v);
}

/* A decimal number of at most 19 digits, the whole of [s, s+n). */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

typedef struct hd_head {
	int minor;          /* HTTP/1.x */
	long status;
	int64_t length;     /* Content-Length; -1: none */
	int chunked;        /* a Transfer-Encoding */
	int close;          /* Connection: close */
} hd_head;

static void copy_value(char *out, size_t cap, const char *v, size_t n)
{
	if (n < cap) {
		memcpy(out, v, n);
		out[n] = '\0';
	}
}

/* Parse the head of n bytes (up to its blank line) into h and r's answer
 * fields.  -1: not an HTTP/1.x head. */
static int head_parse(httpreq *r, const char *p, size_t n, hd_head *h)
{
	const char *end = p + n, *line = p;
	char code[4];

	memset(h, 0, sizeof(*h));
	h->length = -1;
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' ||
	    p[7] > '9' || p[8] != ' ')
		return -1;
	h->minor = p[7] - '0';
	memcpy(code, p + 9, 3);
	code[3] = '\0';
	if (code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' ||
	    code[2] < '0' || code[2] > '9' || (p[12] != ' ' && p[12] != '\r'))
		return -1;
	h->status = strtol(code, NULL, 10);
	h->close = h->minor == 0; /* HTTP/1.0 closes unless it says not */
	/* What every answer's head says of its object (version, size) is the
	 * request layer's, read from the same lines as libcurl hands over. */
	{
		const char *sl = memchr(p, '\n', n);

		httpreq_answer_header(r, p, sl ? (size_t)(sl - p) : n);
	}
	for (;;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		const char *le, *colon, *v;
		size_t nlen, vn;

		line = eol ? eol + 1 : end;
		if (line >= end)
			break;
		eol = memchr(line, '\n', (size_t)(end - line));
		le = eol ? eol : end;
		if (le > line && le[-1] == '\r')
			le--;
		colon = memchr(line, ':', (size_t)(le - line));
		if (!colon) {
			if (le == line)
				break;
			return -1;
		}
		if (line[0] == ' ' || line[0] == '\t')
			return -1; /* folded lines: obsolete, refused */
		httpreq_answer_header(r, line, (size_t)(le - line));
		nlen = (size_t)(colon - line);
		value_of(colon + 1, le, &v, &vn);
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(line, name, nlen) == 0)
		if (IS("content-length")) {
			uint64_t x;

			if (parse_u64(v, vn, &x) != 0 ||
			    (h->length >= 0 && (uint64_t)h->length != x) ||
			    x > INT64_MAX)
				return -1;
			h->length = (int64_t)x;
		} else if (IS("transfer-encoding")) {
			h->chunked = 1; /* any coding: libcurl reads it */
		} else if (IS("connection")) {
			char tok[32];

			copy_value(tok, sizeof(tok), v, vn < 31 ? vn : 31);
			if (strcasestr(tok, "close"))
				h->close = 1;
			else if (strcasestr(tok, "keep-alive"))
				h->close = 0;
		} else if (IS("retry-after")) {
			uint64_t s;
			char date[64] = "";

			if (parse_u64(v, vn, &s) == 0) {
				r->retry_after = s > 86400 ? 86400 : (long)s;
			} else {
				time_t t, now = time(NULL);

				copy_value(date, sizeof(date), v, vn);
				t = curl_getdate(date, NULL);
				if (t > now)
					r->retry_after = t - now > 86400
								 ? 86400
								 : (long)(t - now);
			}
		}
#undef IS
	}
	return 0;
}

/* The body bytes of the answer that came with its head: into dst (or
 * resp), as libcurl's write callback takes them. */
static int take_early(httpreq_dconn *d, size_t off)
{
	size_t n = d->head_len - off;

	if (n == 0)
		return 0;
	if (n > d->body_left) { /* more than the answer: not reused */
		n = (size_t)d->body_left;
		d->keep = 0;
	}
	d->body_left -= n;
	return httpreq_answer_bytes(d->r, d->head + off, n);
}

/* A whole head is in d->head (hlen bytes with its blank line): what the
 * answer is, and where its body goes. */
static void head_done(httpreq_client *c, httpreq_dconn *d, size_t hlen)
{
	httpreq *r = d->r;
	hd_head h;

	if (head_parse(r, d->head, hlen, &h) != 0) {
		fail(c, d, CURLE_WEIRD_SERVER_REPLY, "an answer that is not HTTP/1.x");
		return;
	}
	if (h.status < 200) { /* 100 Continue and the like: the next head */
		memmove(d->head, d->head + hlen, d->head_len - hlen);
		d->head_len -= hlen;
		return; /* (the next status line forgets its fields) */
	}
	r->wstatus = r->status = h.status;
	d->keep = !h.close;
	if (h.status >= 300 && h.status <= 399) {
		/* A redirect: libcurl follows it, for this read and every
		 * later one (a hub redirects each download). */
		c->direct_off = 1;
		fall_back(c, d);
		return;
	}
	if (h.chunked || h.length < 0) {
		fall_back(c, d);
		return;
	}
	d->body_left = (uint64_t)h.length;
	if (h.status >= 200 && h.status <= 299) {
		uint64_t want = r->dst_len - r->resume_at;

		/* (A 206 of other bytes is refused there.) */
		if (httpreq_answer_check(r, h.length) != 0) {
			finish(c, d, 0);
			return;
		}
		if ((uint64_t)h.length > want) {
			r->overflow = 1;
			r->cc = CURLE_WRITE_ERROR;
			finish(c, d, 0);
			return;
		}
		d->state = HD_BODY;
	} else {
		if ((uint64_t)h.length > HTTPREQ_MAX_ERROR_BODY) {
			/* Not worth reading for its message. */
			finish(c, d, 0);
			return;
		}
		d->state = HD_ERRBODY;
	}
	if (take_early(d, hlen) != 0) {
		if (!r->cc)
			r->cc = CURLE_WRITE_ERROR;
		finish(c, d, 0);
		return;
	}
	if (d->body_left == 0)
		finish(c, d, 1);
}

/* ------------------------------------------------------------------------ */
/* Moving bytes                                                             */

/* Is the transfer cut here by an injected fault (as libcurl's write
 * callback cuts it at half the range)?  How many more bytes may come. */
static uint64_t fault_room(const httpreq *r)
{
	if (r->injected != HTTPREQ_F_SHORT && r->injected != HTTPREQ_F_RESET)
		return UINT64_MAX;
	return r->got < r->dst_len / 2 ? r->dst_len / 2 - r->got : 0;
}

/* Receive the body into r's segments.  1: more to do now (the step's
 * share was used), 0: waiting or finished. */
static int recv_body(httpreq_client *c, httpreq_dconn *d)
{
	httpreq *r = d->r;
	uint64_t taken = 0;
	uint32_t (*crc32c)(uint32_t, const void *, size_t) =
		c->cfg.host->crc32c;

	while (d->body_left > 0) {
		httpreq_seg *sg = &r->dst[r->dst_seg];
		uint64_t want = sg->len - r->dst_seg_off, room = fault_room(r);
		unsigned char *p;
		size_t n = 0;
		CURLcode cc;

		if (room == 0) {
			fail(c, d, CURLE_WRITE_ERROR, "fault injected");
			return 0;
		}
		if (want > d->body_left)
			want = d->body_left;
		if (want > room)
			want = room;
		if (want > HD_RECV_MAX)
			want = HD_RECV_MAX;
		if (!sg->buf && want > HD_SCRATCH)
			want = HD_SCRATCH;
		p = sg->buf ? sg->buf + r->dst_seg_off : c->dscratch;
		cc = curl_easy_recv(d->easy, p, (size_t)want, &n);
		if (cc == CURLE_AGAIN)
			return 0;
		if (cc != CURLE_OK) {
			fail(c, d, cc, d->err);
			return 0;
		}
		if (n == 0) {
			char m[96];

			/* libcurl's words for it, on either path */
			snprintf(m, sizeof(m), "transfer closed with %" PRIu64
				 " bytes remaining to read", d->body_left);
			fail(c, d, CURLE_PARTIAL_FILE, m);
			return 0;
		}
		if (sg->buf && r->dst_crc)
			r->dst_crc[r->dst_seg] =
				crc32c(r->dst_crc[r->dst_seg], p, n);
		r->dst_seg_off += n;
		if (r->dst_seg_off == sg->len) {
			r->dst_seg++;
			r->dst_seg_off = 0;
		}
		r->got += n;
		d->body_left -= n;
		d->last_io = mono_ms();
		if ((taken += n) >= HD_STEP_MAX && d->body_left > 0)
			return 1;
	}
	finish(c, d, 1);
	return 0;
}

/* Receive an error body into r->resp. */
static int recv_errbody(httpreq_client *c, httpreq_dconn *d)
{
	while (d->body_left > 0) {
		char buf[4096];
		size_t n = 0;
		CURLcode cc = curl_easy_recv(
			d->easy, buf,
			d->body_left < sizeof(buf) ? (size_t)d->body_left
						   : sizeof(buf),
			&n);

		if (cc == CURLE_AGAIN)
			return 0;
		if (cc != CURLE_OK || n == 0) {
			/* The status is the answer; its text is lost. */
			finish(c, d, 0);
			return 0;
		}
		d->last_io = mono_ms();
		d->body_left -= n;
		if (httpreq_answer_bytes(d->r, buf, n) != 0) {
			finish(c, d, 0);
			return 0;
		}
	}
	finish(c, d, 1);
	return 0;
}

static int recv_head(httpreq_client *c, httpreq_dconn *d)
{
	for (;;) {
		size_t n = 0, from;
		const char *end;
		CURLcode cc;

		if (d->head_len == HD_HEAD_MAX) {
			fail(c, d, CURLE_WEIRD_SERVER_REPLY, "an answer's head over 64 KiB");
			return 0;
		}
		cc = curl_easy_recv(d->easy, d->head + d->head_len,
				    HD_HEAD_MAX - d->head_len, &n);
		if (cc == CURLE_AGAIN)
			return 0;
		if ((cc != CURLE_OK || n == 0) && d->head_len == 0 &&
		    d->served) {
			reconnect(c, d);
			return 0;
		}
		if (cc != CURLE_OK) {
			fail(c, d, cc, d->err);
			return 0;
		}
		if (n == 0) {
			fail(c, d, d->head_len ? CURLE_RECV_ERROR
					       : CURLE_GOT_NOTHING,
			     d->head_len ? "the connection closed in "
						 "an answer's head"
					       : "empty reply from server");
			return 0;
		}
		d->last_io = mono_ms();
		from = d->head_len > 3 ? d->head_len - 3 : 0;
		d->head_len += n;
		/* Several heads may be here (1xx first): one at a time. */
		while (d->state == HD_HEAD &&
		       (end = memmem(d->head + from, d->head_len - from,
				     "\r\n\r\n", 4))) {
			head_done(c, d, (size_t)(end + 4 - d->head));
			from = 0;
		}
		if (d->state != HD_HEAD)
			return d->state == HD_BODY || d->state == HD_ERRBODY;
	}
}

static int send_request(httpreq_client *c, httpreq_dconn *d)
{
	while (d->req_sent < d->req_len) {
		size_t n = 0;
		CURLcode cc = curl_easy_send(d->easy, d->req + d->req_sent,
					     d->req_len - d->req_sent, &n);

		if (cc == CURLE_AGAIN)
			return 0;
		if (cc != CURLE_OK && d->served && d->req_sent == 0) {
			reconnect(c, d);
			return 0;
		}
		if (cc != CURLE_OK) {
			fail(c, d, cc, d->err);
			return 0;
		}
		d->req_sent += n;
		d->last_io = mono_ms();
	}
	d->state = HD_HEAD;
	return 1;
}

int httpreq_direct_step(httpreq_client *c)
{
	uint64_t now = mono_ms();
	uint64_t stall = (uint64_t)c->cfg.opt.stall_timeout * 1000;
	int again = 0;

	for (unsigned i = 0; i < c->ndc; i++) {
		httpreq_dconn *d = &c->dc[i];
		int more = 1;

		while (more) {
			switch (d->state) {
			case HD_SEND:
				more = send_request(c, d);
				break;
			case HD_HEAD:
				more = recv_head(c, d);
				break;
			case HD_BODY:
				more = recv_body(c, d);
				if (more) { /* its share of this step */
					again = 1;
					more = 0;
				}
				break;
			case HD_ERRBODY:
				more = recv_errbody(c, d);
				break;
			default:
				more = 0;
			}
		}
		if (d->state >= HD_SEND && now > d->last_io + stall) {
			char m[64];

			snprintf(m, sizeof(m), "no byte for %ld s",
				 c->cfg.opt.stall_timeout);
			fail(c, d, CURLE_OPERATION_TIMEDOUT, m);
		}
	}
	return again;
}

size_t httpreq_direct_fds(httpreq_client *c)
{
	size_t n = 0;

	for (unsigned i = 0; i < c->ndc; i++) {
		httpreq_dconn *d = &c->dc[i];

		if (d->state < HD_SEND)
			continue;
		c->dpoll[n].fd = d->fd;
		c->dpoll[n].events = d->state == HD_SEND ? CURL_WAIT_POLLOUT
							 : CURL_WAIT_POLLIN;
		c->dpoll[n].revents = 0;
		n++;
	}
	return n;
}
