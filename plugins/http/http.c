/*
 * http.c - the HTTP store: objects on any web server, named by URL under a
 * root (http://host/dir, https://host/dir), over libcurl, on the request
 * layer shared with the S3 store (plugins/net/httpreq.h: the I/O thread,
 * kept-alive connections, retries with backoff, Retry-After, resumed
 * ranges, redirects, the fault table CKPTIO_HTTP_FAULTS).
 *
 * Reads split and coalesce ranges into parallel ranged GETs written
 * straight into the caller's buffers (httpreq_read).  Every answer's version of its
 * object (ETag, else Last-Modified) is remembered per key for the life of
 * the store: an answer of another version is an error, so a file replaced
 * on the server during a load is never read half old, half new.  stat is
 * HEAD.  Writes are WebDAV-style PUT and DELETE (nginx's dav module): a
 * put whose buffers stay valid (CKPTIO_PUT_STABLE) is one PUT from them at
 * commit, retried like any request; any other put streams its bytes
 * through a small ring into a chunked PUT that ends at commit (and cannot
 * be retried once sent).  Plain HTTP has no listing: with
 * `listing = autoindex` list reads nginx's `autoindex_format json` pages,
 * else the store has no CAP_LIST.  docs/http.md has the options and the
 * commit guarantee.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup, explicit_bzero */
#endif
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpreq.h"

#define MAX_KEY 4096               /* bytes of a key */
#define RING_SIZE (2u << 20)       /* a streamed put's buffer */
#define MAX_LISTING (64u << 20)    /* bytes of one autoindex page */
#define NHEADERS 4                 /* header, header2 .. header4 */
#define MAX_DIRS 100000            /* directories one listing may read */

enum http_op { OP_GET, OP_HEAD, OP_PUT, OP_DELETE, OP_LIST, NOPS };

static const httpreq_op http_ops[NOPS] = {
	[OP_GET] = {"get", "GET"},
	[OP_HEAD] = {"head", "HEAD"},
	[OP_PUT] = {"put", "PUT"},
	[OP_DELETE] = {"delete", "DELETE"},
	[OP_LIST] = {"list", "GET (listing)"},
};

enum { LIST_NONE, LIST_AUTOINDEX };

typedef struct hstore {
	ckptio_store base;
	char *base_url;     /* the root with a trailing '/' */
	char *shown;        /* base_url without user info or query */
	char *hdr[NHEADERS]; /* "Name: value" lines from the options */
	size_t nhdr;
	char *user_agent;
	int read_only, listing;
	uint64_t range_size; /* most bytes per GET */
	httpreq_options net;
	httpreq_client *client;
	/* Versions seen (one version per object); under the client's
	 * lock. */
	httpreq_pins pins;
} hstore;

typedef struct hreq {
	httpreq base;   /* first: the layer hands back &base */
	hstore *s;
	char *key;      /* relative to the root; a listing: its directory */
} hreq;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static ckptio_status oom(hstore *s)
{
	return s->base.host->error(s->base.hc, CKPTIO_ENOMEM, "out of memory");
}

static ckptio_status check_key(hstore *s, const char *key)
{
	if (httpreq_key_valid(key, MAX_KEY))
		return CKPTIO_OK;
	return s->base.host->error(s->base.hc, CKPTIO_EINVAL,
				   "%s%.200s: invalid object key", s->shown, key);
}

static int is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* key percent-encoded for a URL path: every byte but the unreserved ones
 * and '/' (so that any name, UTF-8 or not, reaches the server as is),
 * except a '%' followed by two hex digits, which is an escape already (a
 * location pasted from a browser: my%20model is "my model"). */
static char *path_encode(const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(key);
	char *out = malloc(3 * len + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)key; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' ||
		    *c == '_' || *c == '~' || *c == '/' ||
		    (*c == '%' && is_hex(c[1]) && is_hex(c[2]))) {
			*o++ = (char)*c;
		} else {
			*o++ = '%';
			*o++ = hex[*c >> 4];
			*o++ = hex[*c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* ------------------------------------------------------------------------ */
/* Versions seen (under the client's lock)                                  */

/* r's answer is of the version of its object seen first (pinned when it is
 * the first): 0; else r->st and r->msg say so and -1.  Lock held. */
static int same_version(hstore *s, httpreq *hr)
{
	hreq *r = (hreq *)hr;
	char u[600];

	snprintf(u, sizeof(u), "%s%s", s->shown, r->key);
	return httpreq_pin_check(&s->pins, r->key, hr, u);
}

/* ------------------------------------------------------------------------ */
/* Hooks of the request layer                                               */

static int http_prepare(void *ctx, httpreq *hr, char **url,
			struct curl_slist **hdrs)
{
	hstore *s = ctx;
	hreq *r = (hreq *)hr;
	char *path = path_encode(r->key ? r->key : "");

	if (!path)
		return -1;
	*url = httpreq_asprintf("%s%s", s->base_url, path);
	free(path);
	if (!*url)
		return -1;
	for (size_t i = 0; i < hr->nh; i++)
		if (httpreq_header_line(hdrs, hr->hname[i], hr->hval[i]) != 0)
			return -1;
	for (size_t i = 0; i < s->nhdr; i++) {
		struct curl_slist *l = curl_slist_append(*hdrs, s->hdr[i]);

		if (!l)
			return -1;
		*hdrs = l;
	}
	return 0;
}

/* The URL a request is about, without user info or query. */
static void http_target(void *ctx, const httpreq *hr, char *out, size_t len)
{
	hstore *s = ctx;
	const hreq *r = (const hreq *)hr;

	snprintf(out, len, "%s%.400s", s->shown, r->key ? r->key : "");
}

static int http_error_verdict(void *ctx, httpreq *hr, int retry)
{
	hstore *s = ctx;
	size_t n = strlen(hr->msg);

	(void)s;
	switch (hr->status) {
	case 401:
		snprintf(hr->msg + n, sizeof(hr->msg) - n,
			 " (the server asks for credentials: a `header = "
			 "Authorization: Bearer ${TOKEN}` option, docs/http.md)");
		break;
	case 405:
	case 501:
		if (hr->op == OP_PUT || hr->op == OP_DELETE) {
			hr->st = CKPTIO_EUNSUPPORTED;
			snprintf(hr->msg + n, sizeof(hr->msg) - n,
				 " (the server does not take writes: enable "
				 "WebDAV PUT and DELETE on it, or set "
				 "`read_only = true`)");
		}
		break;
	case 301:
	case 302:
	case 303:
	case 307:
	case 308:
		snprintf(hr->msg + n, sizeof(hr->msg) - n,
			 " (a redirect, not followed: max_redirects = 0)");
		break;
	case 413:
		if (hr->op == OP_PUT)
			snprintf(hr->msg + n, sizeof(hr->msg) - n,
				 " (larger than the server takes in one PUT: "
				 "nginx's client_max_body_size, for one)");
		break;
	case 416:
		hr->st = CKPTIO_ECORRUPT;
		break;
	}
	return retry;
}

static int http_accept(void *ctx, httpreq *hr)
{
	hstore *s = ctx;
	int rc;

	httpreq_lock(s->client);
	rc = same_version(s, hr);
	httpreq_unlock(s->client);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static hreq *req_new(hstore *s, enum http_op op, const char *method,
		     const char *key)
{
	hreq *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	httpreq_init(&r->base, s->client, op, method);
	r->s = s;
	if (!(r->key = strdup(key))) {
		free(r);
		return NULL;
	}
	return r;
}

static void req_free(hreq *r)
{
	if (!r)
		return;
	httpreq_release(&r->base);
	free(r->key);
	free(r);
}

static ckptio_status fail_req(hstore *s, hreq *r)
{
	return s->base.host->error(s->base.hc, r->base.st, "%s", r->base.msg);
}

/* ------------------------------------------------------------------------ */
/* Reads (the request layer's httpreq_read)                                 */

static httpreq *get_new(void *ctx, const char *key)
{
	hreq *r = req_new(ctx, OP_GET, "GET", key);

	return r ? &r->base : NULL;
}

static void get_free(void *ctx, httpreq *r)
{
	(void)ctx;
	req_free((hreq *)r);
}

static ckptio_status http_read_ranges(ckptio_store *st,
				 const ckptio_range *ranges, size_t n,
				 uint32_t *crcs)
{
	hstore *s = (hstore *)st;
	const httpreq_reader rd = {
		.c = s->client, .max_len = s->range_size, .ctx = s,
		.get = get_new, .release = get_free};
	ckptio_status rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = check_key(s, ranges[i].key)) != CKPTIO_OK)
			return rc;
	return httpreq_read_crc(&rd, ranges, n, crcs);
}

static ckptio_status http_read(ckptio_store *st, const ckptio_range *ranges,
			     size_t n)
{
	return http_read_ranges(st, ranges, n, NULL);
}

/* read, with each range's CRC32C computed as the bytes arrive (ABI 1.7). */
static ckptio_status http_read_crc(ckptio_store *st, const ckptio_range *ranges,
				 size_t n, uint32_t *crcs)
{
	return http_read_ranges(st, ranges, n, crcs);
}

/* ------------------------------------------------------------------------ */
/* stat, remove                                                             */

/* HEAD, once per object and store: the size and time of the version this
 * store reads (every later answer must be of that version, above), so a
 * second stat of the same object has nothing new to learn and costs no
 * round trip.  What this store writes or removes is looked up again. */
static ckptio_status http_stat(ckptio_store *st, const char *key,
			       ckptio_stat *out)
{
	hstore *s = (hstore *)st;
	ckptio_status rc = check_key(s, key);
	httpreq_pin *e;
	hreq *r;

	if (rc != CKPTIO_OK)
		return rc;
	httpreq_lock(s->client);
	if ((e = httpreq_pin_find(&s->pins, key)) && e->has_size) {
		out->size = e->size;
		out->mtime = e->mtime;
		httpreq_unlock(s->client);
		return CKPTIO_OK;
	}
	httpreq_unlock(s->client);
	if (!(r = req_new(s, OP_HEAD, "HEAD", key)))
		return oom(s);
	rc = httpreq_run(&r->base);
	if (rc == CKPTIO_OK && r->base.length < 0) {
		/* Taking a missing length for 0 would make a truncated
		 * object of a healthy one. */
		rc = s->base.host->error(
			s->base.hc, CKPTIO_EIO,
			"%s%s: HEAD: no Content-Length in the answer (ckptio "
			"needs each object's size from the server)", s->shown,
			key);
	} else if (rc == CKPTIO_OK) {
		httpreq_lock(s->client);
		if (same_version(s, &r->base) != 0) {
			rc = CKPTIO_ECORRUPT;
		} else if ((e = httpreq_pin_of(&s->pins, key))) {
			e->size = (uint64_t)r->base.length;
			e->mtime = r->base.mtime;
			e->has_size = 1;
		}
		httpreq_unlock(s->client);
		if (rc != CKPTIO_OK)
			fail_req(s, r);
		out->size = (uint64_t)r->base.length;
		out->mtime = r->base.mtime;
	} else if (rc != CKPTIO_ENOTFOUND) {
		fail_req(s, r);
	}
	req_free(r);
	return rc;
}

static ckptio_status http_remove(ckptio_store *st, const char *key)
{
	hstore *s = (hstore *)st;
	ckptio_status rc = check_key(s, key);
	hreq *r;

	if (rc != CKPTIO_OK)
		return rc;
	if (!(r = req_new(s, OP_DELETE, "DELETE", key)))
		return oom(s);
	rc = httpreq_run(&r->base);
	if (rc != CKPTIO_OK && rc != CKPTIO_ENOTFOUND)
		fail_req(s, r);
	req_free(r);
	httpreq_lock(s->client);
	httpreq_pin_forget(&s->pins, key);
	httpreq_unlock(s->client);
	return rc == CKPTIO_ENOTFOUND ? CKPTIO_OK : rc;
}

/* DELETEs of n keys in parallel, in windows of a few times `concurrency`
 * requests, each freed (with its curl handle) before the next window: 10^6
 * keys never hold 10^6 requests.  Missing keys are not errors; the first
 * failure ends it after its window. */
static ckptio_status http_remove_many(ckptio_store *st,
				      const char *const *keys, size_t n)
{
	hstore *s = (hstore *)st;
	size_t win = 4 * (size_t)s->net.concurrency;
	hreq **reqs = calloc(win, sizeof(*reqs));
	ckptio_status rc = reqs ? CKPTIO_OK : oom(s);

	for (size_t i = 0; i < n && rc == CKPTIO_OK; i++)
		rc = check_key(s, keys[i]);
	for (size_t at = 0; at < n && rc == CKPTIO_OK; at += win) {
		size_t k = n - at < win ? n - at : win;
		httpreq_group g = {0};

		for (size_t i = 0; i < k; i++) {
			if (!(reqs[i] = req_new(s, OP_DELETE, "DELETE",
						keys[at + i]))) {
				rc = oom(s);
				break;
			}
			reqs[i]->base.grp = &g;
			httpreq_submit(&reqs[i]->base);
		}
		httpreq_wait(s->client, &g, 0);
		for (size_t i = 0; i < k; i++) {
			hreq *r = reqs[i];

			if (!r)
				continue;
			if (r->base.st != CKPTIO_OK &&
			    r->base.st != CKPTIO_ENOTFOUND && rc == CKPTIO_OK)
				rc = fail_req(s, r);
			httpreq_lock(s->client);
			httpreq_pin_forget(&s->pins, r->key);
			httpreq_unlock(s->client);
			req_free(r);
			reqs[i] = NULL;
		}
	}
	free(reqs);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* list, from nginx's autoindex_format json                                 */

/* Directories still to read: a FIFO of relative paths ("" or "a/b/"). */
typedef struct dirq {
	char **v;
	size_t head, n, cap;
} dirq;

static int dirq_push(dirq *q, char *d)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		char **v = realloc(q->v, cap * sizeof(*v));

		if (!v)
			return -1;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = d;
	return 0;
}

/* One autoindex page of dir: files under prefix to fn, subdirectories
 * that may hold such files to q.  *stop when fn asked to stop. */
static ckptio_status list_dir(hstore *s, const char *dir, const char *prefix,
			      ckptio_key_fn fn, void *user, dirq *q, int *stop)
{
	hreq *r = req_new(s, OP_LIST, "GET", dir);
	size_t plen = strlen(prefix), dlen = strlen(dir);
	ckptio_status rc;
	json_error_t je;
	json_t *doc = NULL, *e;
	size_t i;

	if (!r)
		return oom(s);
	rc = httpreq_run(&r->base);
	if (rc == CKPTIO_ENOTFOUND && dlen) { /* a directory that is not */
		req_free(r);
		return CKPTIO_OK;
	}
	if (rc != CKPTIO_OK) {
		fail_req(s, r);
		req_free(r);
		return rc;
	}
	doc = json_loadb(r->base.resp ? r->base.resp : "", r->base.resp_len,
			 JSON_REJECT_DUPLICATES, &je);
	if (!doc || !json_is_array(doc)) {
		rc = s->base.host->error(
			s->base.hc, CKPTIO_EIO,
			"%s%s: not an nginx autoindex JSON listing (%s; "
			"`listing = autoindex` needs `autoindex on; "
			"autoindex_format json;` there)", s->shown, dir,
			doc ? "not an array" : je.text);
		json_decref(doc);
		req_free(r);
		return rc;
	}
	json_array_foreach(doc, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *mt = json_string_value(json_object_get(e, "mtime"));
		json_t *sz = json_object_get(e, "size");
		char *full;
		int isdir;

		if (!name || !type || !*name || strchr(name, '/') ||
		    strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    (strcmp(type, "file") == 0 && !json_is_integer(sz)) ||
		    (json_is_integer(sz) && json_integer_value(sz) < 0)) {
			rc = s->base.host->error(
				s->base.hc, CKPTIO_EIO,
				"%s%s: entry %zu of the autoindex listing is "
				"malformed (a name, a type and a size)",
				s->shown, dir, i);
			break;
		}
		isdir = strcmp(type, "directory") == 0;
		if (!isdir && strcmp(type, "file") != 0)
			continue; /* "other": a FIFO, a socket */
		full = httpreq_asprintf("%s%s%s", dir, name, isdir ? "/" : "");
		if (!full) {
			rc = oom(s);
			break;
		}
		if (isdir) {
			/* Only directories that can hold keys under prefix
			 * (and valid keys at all: a server that answers every
			 * listing with a subdirectory ends here). */
			size_t flen = strlen(full);

			if (strncmp(full, prefix, flen < plen ? flen : plen) !=
				    0 ||
			    flen >= MAX_KEY) {
				free(full);
				continue;
			}
			if (q->n >= MAX_DIRS) {
				free(full);
				rc = s->base.host->error(
					s->base.hc, CKPTIO_EIO,
					"%s%s: more than %d directories to "
					"list under it", s->shown, prefix,
					MAX_DIRS);
				break;
			}
			if (dirq_push(q, full) != 0) {
				free(full);
				rc = oom(s);
				break;
			}
			continue;
		}
		if (strncmp(full, prefix, plen) == 0 &&
		    httpreq_key_valid(full, MAX_KEY)) {
			ckptio_stat sb = {.size = (uint64_t)json_integer_value(sz),
					  .mtime = mt ? (int64_t)curl_getdate(mt, NULL)
						      : 0};

			if (sb.mtime < 0)
				sb.mtime = 0;
			if (fn(user, full, &sb)) {
				*stop = 1;
				free(full);
				break;
			}
		}
		free(full);
	}
	json_decref(doc);
	req_free(r);
	return rc;
}

static ckptio_status http_list(ckptio_store *st, const char *prefix,
			       ckptio_key_fn fn, void *user)
{
	hstore *s = (hstore *)st;
	const char *slash = strrchr(prefix, '/');
	dirq q = {0};
	char *first;
	ckptio_status rc = CKPTIO_OK;
	int stop = 0;

	if (s->listing != LIST_AUTOINDEX)
		return s->base.host->error(s->base.hc, CKPTIO_EUNSUPPORTED,
					   "%s: cannot list (set `listing = "
					   "autoindex` for an nginx autoindex "
					   "JSON listing)", s->shown);
	first = slash ? strndup(prefix, (size_t)(slash - prefix) + 1)
		      : strdup("");
	if (!first || dirq_push(&q, first) != 0) {
		free(first);
		return oom(s);
	}
	while (rc == CKPTIO_OK && !stop && q.head < q.n) {
		char *dir = q.v[q.head++];

		rc = list_dir(s, dir, prefix, fn, user, &q, &stop);
		free(dir);
	}
	while (q.head < q.n)
		free(q.v[q.head++]);
	free(q.v);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Puts                                                                     */

typedef struct hput {
	hstore *s;
	char *key;
	int stable;
	/* Stable: the caller's buffers, sent at commit. */
	httpreq_seg *segs;
	size_t nseg, cap;
	uint64_t total;
	/* Streamed: a ring the PUT's body is pulled from; under the client's
	 * lock. */
	hreq *r;
	httpreq_group g;
	unsigned char *ring;
	size_t rhead, rlen;
	int paused, ended, aborted, finished;
} hput;

/* The body of a streamed PUT, on the I/O thread. */
static size_t pull(httpreq *hr, char *out, size_t n)
{
	hput *p = hr->user;
	hstore *s = p->s;
	size_t k = 0;

	httpreq_lock(s->client);
	if (p->aborted) {
		httpreq_unlock(s->client);
		return CURL_READFUNC_ABORT;
	}
	if (p->rlen == 0) {
		int end = p->ended;

		if (!end)
			p->paused = 1;
		httpreq_unlock(s->client);
		return end ? 0 : CURL_READFUNC_PAUSE;
	}
	while (k < n && p->rlen) {
		size_t c = RING_SIZE - p->rhead;

		if (c > p->rlen)
			c = p->rlen;
		if (c > n - k)
			c = n - k;
		memcpy(out + k, p->ring + p->rhead, c);
		p->rhead = (p->rhead + c) % RING_SIZE;
		p->rlen -= c;
		k += c;
	}
	httpreq_broadcast(s->client); /* room for the writer */
	httpreq_unlock(s->client);
	return k;
}

/* The streamed PUT is done (lock held). */
static void put_done(httpreq *hr)
{
	hput *p = hr->user;

	p->finished = 1;
	hr->grp->pending--;
	httpreq_broadcast(p->s->client);
}

/* Let the I/O thread go on with the stream if it waits for us; call with
 * the lock held, returns whether httpreq_unpause is due (after unlock). */
static int wake_stream(hput *p)
{
	int w = p->paused && !p->finished;

	p->paused = 0;
	return w;
}

static ckptio_status http_put_open(ckptio_store *st, const char *key,
				   uint64_t size_hint, unsigned flags,
				   ckptio_put **out)
{
	hstore *s = (hstore *)st;
	ckptio_status rc = check_key(s, key);
	hput *p;

	(void)size_hint; /* streamed as chunks: the end is the commit's */
	if (rc != CKPTIO_OK)
		return rc;
	if (s->read_only)
		return s->base.host->error(s->base.hc, CKPTIO_EUNSUPPORTED,
					   "%s%s: the store is read-only "
					   "(read_only = true)", s->shown, key);
	if (!(p = calloc(1, sizeof(*p))) || !(p->key = strdup(key))) {
		free(p);
		return oom(s);
	}
	p->s = s;
	p->stable = (flags & CKPTIO_PUT_STABLE) != 0;
	*out = (ckptio_put *)p;
	return CKPTIO_OK;
}

/* Start the streamed PUT of p.  -1: out of memory. */
static int stream_start(hput *p)
{
	hstore *s = p->s;

	if ((!p->ring && !(p->ring = malloc(RING_SIZE))) ||
	    !(p->r = req_new(s, OP_PUT, "PUT", p->key)))
		return -1;
	p->r->base.pull = pull;
	p->r->base.body_len = UINT64_MAX; /* chunked */
	p->r->base.user = p;
	p->r->base.grp = &p->g;
	p->r->base.done = put_done;
	httpreq_submit(&p->r->base);
	return 0;
}

static ckptio_status http_put_write(ckptio_put *pp, const void *buf,
				    size_t len)
{
	hput *p = (hput *)pp;
	hstore *s = p->s;
	const unsigned char *b = buf;

	if (!len)
		return CKPTIO_OK;
	if (p->stable) {
		if (p->nseg && p->segs[p->nseg - 1].buf +
				       p->segs[p->nseg - 1].len == b) {
			p->segs[p->nseg - 1].len += len; /* contiguous */
		} else {
			if (p->nseg == p->cap) {
				size_t cap = p->cap ? p->cap * 2 : 16;
				httpreq_seg *v =
					realloc(p->segs, cap * sizeof(*v));

				if (!v)
					return oom(s);
				p->segs = v;
				p->cap = cap;
			}
			p->segs[p->nseg++] = (httpreq_seg){(unsigned char *)b,
							   len};
		}
		p->total += len;
		return CKPTIO_OK;
	}
	if (!p->r && stream_start(p) != 0)
		return oom(s);
	while (len > 0) {
		size_t k, tail;
		int wake;

		httpreq_lock(s->client);
		while (p->rlen == RING_SIZE && !p->finished)
			httpreq_cond_wait(s->client);
		if (p->finished) { /* the server answered before the end */
			httpreq_unlock(s->client);
			break;
		}
		k = RING_SIZE - p->rlen < len ? RING_SIZE - p->rlen : len;
		tail = (p->rhead + p->rlen) % RING_SIZE;
		for (size_t done = 0; done < k;) {
			size_t c = RING_SIZE - tail;

			if (c > k - done)
				c = k - done;
			memcpy(p->ring + tail, b + done, c);
			tail = (tail + c) % RING_SIZE;
			done += c;
		}
		p->rlen += k;
		p->total += k;
		b += k;
		len -= k;
		wake = wake_stream(p);
		httpreq_unlock(s->client);
		if (wake)
			httpreq_unpause(&p->r->base);
	}
	if (len == 0)
		return CKPTIO_OK;
	/* Finished early: its own error, or one of ours. */
	if (p->r->base.st != CKPTIO_OK)
		return fail_req(s, p->r);
	return s->base.host->error(s->base.hc, CKPTIO_EIO,
				   "%s%s: PUT: the server answered before the "
				   "end of the body", s->shown, p->key);
}

static void put_free(hput *p)
{
	req_free(p->r);
	free(p->ring);
	free(p->segs);
	free(p->key);
	free(p);
}

/* Stop the stream of p (ended or aborted, set by the caller under the lock)
 * and wait for its request. */
static void stream_finish(hput *p)
{
	hstore *s = p->s;
	int wake;

	httpreq_lock(s->client);
	wake = wake_stream(p);
	httpreq_unlock(s->client);
	if (wake)
		httpreq_unpause(&p->r->base);
	httpreq_wait(s->client, &p->g, 0);
}

static ckptio_status http_put_commit(ckptio_put *pp)
{
	hput *p = (hput *)pp;
	hstore *s = p->s;
	ckptio_status rc;

	if (p->r) {
		httpreq_lock(s->client);
		p->ended = 1;
		httpreq_unlock(s->client);
		stream_finish(p);
		rc = p->r->base.st;
		if (rc != CKPTIO_OK)
			fail_req(s, p->r);
	} else {
		hreq *r = req_new(s, OP_PUT, "PUT", p->key);

		if (!r) {
			put_free(p);
			return oom(s);
		}
		/* One PUT from the caller's buffers (or an empty body). */
		if (!p->segs && !(p->segs = calloc(1, sizeof(*p->segs)))) {
			req_free(r);
			put_free(p);
			return oom(s);
		}
		r->base.body = p->segs;
		r->base.nbody = p->nseg ? p->nseg : 1;
		r->base.body_len = p->total;
		p->segs = NULL; /* the request frees them */
		rc = httpreq_run(&r->base);
		if (rc != CKPTIO_OK)
			fail_req(s, r);
		req_free(r);
	}
	httpreq_lock(s->client);
	httpreq_pin_forget(&s->pins, p->key);
	httpreq_unlock(s->client);
	put_free(p);
	return rc;
}

static void http_put_abort(ckptio_put *pp)
{
	hput *p = (hput *)pp;
	hstore *s = p->s;

	if (p->r) {
		/* The stream breaks off: the server drops the body (nginx
		 * writes a PUT to a temporary file, renamed at its end). */
		httpreq_lock(s->client);
		p->aborted = 1;
		httpreq_unlock(s->client);
		stream_finish(p);
	}
	put_free(p);
}

/* ------------------------------------------------------------------------ */
/* open and close                                                           */

static const struct ckptio_store_ops http_ops_table;

static void http_close(ckptio_store *st);

/* Option key as a malloc'd string in *out (NULL: unset).  -1: no memory. */
static int opt_dup(hstore *s, const char *key, char **out)
{
	const char *v = s->base.host->config_get(s->base.hc, key);

	*out = NULL;
	if (!v || !*v)
		return 0;
	return (*out = strdup(v)) ? 0 : -1;
}

static ckptio_status configure(hstore *s, const char *root)
{
	const ckptio_host *h = s->base.host;
	ckptio_host_ctx *hc = s->base.hc;
	static const char *const hkeys[NHEADERS] = {"header", "header2",
						    "header3", "header4"};
	static const char *const listings[] = {"none", "autoindex", NULL};
	char shown[1024];
	size_t len;
	unsigned e;
	ckptio_status st;

	if (!root || (strncasecmp(root, "http://", 7) != 0 &&
		      strncasecmp(root, "https://", 8) != 0))
		return h->error(hc, CKPTIO_ECONFIG,
				"%s: an HTTP root is http[s]://HOST[:PORT]"
				"[/PATH] (set `root` in the backend)",
				root && *root ? root : "(no root)");
	if (!root[strcspn(root, ":") + 3] || root[strcspn(root, ":") + 3] == '/')
		return h->error(hc, CKPTIO_ECONFIG,
				"%s: an HTTP root names a host: "
				"http[s]://HOST[:PORT][/PATH]", root);
	if (strpbrk(root, "?#"))
		return h->error(hc, CKPTIO_ECONFIG,
				"an HTTP root has no query or fragment (keys "
				"are appended to its path)");
	len = strlen(root);
	while (len > 8 && root[len - 1] == '/')
		len--;
	if (!(s->base_url = httpreq_asprintf("%.*s/", (int)len, root)))
		return CKPTIO_ENOMEM;
	httpreq_redact_url(s->base_url, shown, sizeof(shown));
	if (!(s->shown = strdup(shown)))
		return CKPTIO_ENOMEM;
	for (unsigned i = 0; i < NHEADERS; i++) {
		char *v;

		if (opt_dup(s, hkeys[i], &v) != 0)
			return CKPTIO_ENOMEM;
		if (!v)
			continue;
		if (!strchr(v, ':') || strchr(v, ':') == v ||
		    strpbrk(v, "\r\n")) {
			free(v);
			/* Never the value: it is a token, most likely. */
			return h->error(hc, CKPTIO_ECONFIG,
					"%s: expected `Name: value` (one "
					"header line)", hkeys[i]);
		}
		s->hdr[s->nhdr++] = v;
	}
	if (opt_dup(s, "user_agent", &s->user_agent) != 0 ||
	    (!s->user_agent && !(s->user_agent = strdup("ckptio-http/1"))))
		return CKPTIO_ENOMEM;
	if ((st = h->config_bool(hc, "read_only", 0, &s->read_only)) !=
	    CKPTIO_OK)
		return st;
	if ((st = h->config_enum(hc, "listing", listings, LIST_NONE, &e)) !=
	    CKPTIO_OK)
		return st;
	s->listing = (int)e;
	if ((st = h->config_size(hc, "range_size", 16u << 20,
				 &s->range_size)) != CKPTIO_OK)
		return st;
	if (s->range_size < (64u << 10) || s->range_size > (4ull << 30))
		return h->error(hc, CKPTIO_ECONFIG,
				"http: range_size %" PRIu64 " is outside 64KiB "
				"to 4GiB", s->range_size);
	if ((st = httpreq_options_read(h, hc, &s->net)) != CKPTIO_OK)
		return st;
	{
		uint64_t v;

		if ((st = h->config_uint(hc, "max_redirects", 10, 0, 50, &v)) !=
		    CKPTIO_OK)
			return st;
		s->net.max_redirects = (unsigned)v;
	}
	/* As curl(1) does: the CA bundle of the environment, when the
	 * backend names none. */
	if (!s->net.ca_file) {
		const char *ca = getenv("CURL_CA_BUNDLE");

		if (!ca || !*ca)
			ca = getenv("SSL_CERT_FILE");
		if (ca && *ca && !(s->net.ca_file = strdup(ca)))
			return CKPTIO_ENOMEM;
	}
	return CKPTIO_OK;
}

static ckptio_status http_open(const ckptio_host *host, ckptio_host_ctx *hc,
			       const char *root, int create,
			       ckptio_store **out)
{
	hstore *s = calloc(1, sizeof(*s));
	ckptio_status st;

	(void)create; /* a PUT creates its directories (create_full_put_path) */
	if (!s)
		return host->error(hc, CKPTIO_ENOMEM, "out of memory");
	s->base.ops = &http_ops_table;
	s->base.host = host;
	s->base.hc = hc;
	st = configure(s, root);
	if (st == CKPTIO_OK) {
		httpreq_config cfg = {
			.name = "http",
			.user_agent = s->user_agent,
			.faults_env = "CKPTIO_HTTP_FAULTS",
			.ops = http_ops,
			.nops = NOPS,
			.max_body = MAX_LISTING,
			.opt = s->net,
			.hooks = {.prepare = http_prepare,
				  .target = http_target,
				  .error_verdict = http_error_verdict,
				  .accept = http_accept},
			.ctx = s,
			.host = host,
			.hc = hc,
		};

		st = httpreq_client_open(&cfg, &s->client);
	}
	if (st == CKPTIO_ENOMEM)
		host->error(hc, CKPTIO_ENOMEM, "out of memory");
	if (st != CKPTIO_OK) {
		http_close(&s->base);
		return st;
	}
	host->log(hc, CKPTIO_LOG_DEBUG,
		  "http: %s (%zu extra headers, %s, listing %s), concurrency "
		  "%u, range_size %" PRIu64 ", max_redirects %u", s->shown,
		  s->nhdr, s->read_only ? "read-only" : "read-write",
		  s->listing == LIST_AUTOINDEX ? "autoindex" : "none",
		  s->net.concurrency, s->range_size, s->net.max_redirects);
	*out = &s->base;
	return CKPTIO_OK;
}

static void http_close(ckptio_store *st)
{
	hstore *s = (hstore *)st;

	httpreq_client_close(s->client); /* waits for every request */
	httpreq_pins_free(&s->pins);
	for (size_t i = 0; i < s->nhdr; i++) {
		explicit_bzero(s->hdr[i], strlen(s->hdr[i]));
		free(s->hdr[i]);
	}
	free(s->base_url);
	free(s->shown);
	free(s->user_agent);
	httpreq_options_free(&s->net);
	free(s);
}

/* Read-only backends cannot write or delete; without a listing there is no
 * list. */
static uint64_t http_instance_caps(ckptio_store *st)
{
	const hstore *s = (const hstore *)st;
	uint64_t caps = st->ops->caps;

	if (s->read_only)
		caps &= ~(CKPTIO_STORE_CAP_WRITE | CKPTIO_STORE_CAP_DELETE);
	if (s->listing != LIST_AUTOINDEX)
		caps &= ~CKPTIO_STORE_CAP_LIST;
	return caps;
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

static const struct ckptio_store_ops http_ops_table = {
	.struct_size = sizeof(struct ckptio_store_ops),
	.caps = CKPTIO_STORE_CAP_WRITE | CKPTIO_STORE_CAP_READ |
		CKPTIO_STORE_CAP_RANGE | CKPTIO_STORE_CAP_LIST |
		CKPTIO_STORE_CAP_DELETE,
	.open = http_open,
	.close = http_close,
	.put_open = http_put_open,
	.put_write = http_put_write,
	.put_commit = http_put_commit,
	.put_abort = http_put_abort,
	.read = http_read,
	.stat = http_stat,
	.list = http_list,
	.remove = http_remove,
	.remove_many = http_remove_many,
	.instance_caps = http_instance_caps,
	.read_crc = http_read_crc,
};

static const char *const http_options[] = {
	"header", "header2", "header3", "header4", "user_agent", "read_only",
	"listing", "range_size", "max_redirects", "concurrency", "retries",
	"connect_timeout", "stall_timeout", "verify_tls", "ca_file",
	"direct_reads", NULL};
static const char *const http_secrets[] = {"header", "header2", "header3",
					   "header4", NULL};
static const char *const http_schemes[] = {"http", "https", NULL};

static const ckptio_plugin http_plugin = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_STORE,
	.name = "http",
	.description = "any HTTP(S) server: parallel ranged GETs, redirects, "
		       "resumed ranges; WebDAV PUT/DELETE where allowed",
	.options = http_options,
	.schemes = http_schemes,
	.secret_options = http_secrets,
	.store = &http_ops_table,
};

CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void)
{
	return &http_plugin;
}
