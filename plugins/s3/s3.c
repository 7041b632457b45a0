/*
 * s3.c - the S3 store: objects in an S3 bucket (AWS, or any S3-compatible
 * endpoint such as Ceph RGW, MinIO, R2, GCS's XML API), over libcurl.
 *
 * Layout of this file:
 *  - the request layer: one I/O thread per store drives a curl multi handle
 *    with at most `concurrency` transfers (and connections) at once; other
 *    threads submit requests and wait for them.  Requests are signed with
 *    our SigV4 signer (sigv4.c) at each attempt, and retried with
 *    exponential backoff and jitter on 5xx, 429, SlowDown, RequestTimeout
 *    and connection errors.  Tests inject faults through a table consulted
 *    before each attempt (CKPTIO_S3_FAULTS, see fault_parse).
 *  - the store methods: puts stream into parts (one PUT for small objects,
 *    multipart upload with parallel parts otherwise, aborted on failure);
 *    reads split and coalesce ranges into parallel ranged GETs written
 *    straight into the caller's buffers; stat is HEAD; list is
 *    ListObjectsV2 plus ListMultipartUploads (so that gc finds uploads left
 *    by crashed saves); remove is DELETE, and aborts such uploads.
 *
 * docs/s3.md describes the options and the choices.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf, open_memstream, explicit_bzero */
#endif
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "ckptio/plugin.h"
#include "awsconf.h"
#include "s3xml.h"
#include "sigv4.h"

#define MAX_KEY 1024              /* S3's limit on a key, in bytes */
#define MIN_PART (5ull << 20)     /* S3's smallest part but the last */
#define MAX_PART (5ull << 30)     /* S3's largest part */
#define MAX_PARTS 10000           /* S3's most parts in an upload */
#define MAX_ERROR_BODY (64u << 10) /* error bodies kept for the message */
#define MAX_XML_BODY S3XML_MAX    /* listing pages and other XML answers */
#define COALESCE_GAP (64u << 10)  /* ranges this close share one GET */
#define DELETE_BATCH 1000         /* S3's most keys per DeleteObjects */
#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ------------------------------------------------------------------------ */
/* Types                                                                    */

/* Faults for tests: the nth request of an op gets kind instead of (or in
 * the middle of) its real answer. */
enum op { OP_PUT, OP_CREATE, OP_PART, OP_COMPLETE, OP_ABORT, OP_GET,
	  OP_HEAD, OP_LIST, OP_UPLOADS, OP_DELETE, OP_DELETES, NOPS };
static const char *const op_names[NOPS] = {
	"put", "create", "part", "complete", "abort", "get", "head", "list",
	"uploads", "delete", "deletes"};
enum fault_kind { F_NONE, F_500, F_503, F_429, F_RESET, F_SHORT, F_403 };

#define MAX_FAULTS 16
typedef struct fault {
	enum op op;
	unsigned long first, last; /* nth requests of op, 1-based */
	enum fault_kind kind;
} fault;

/* A piece of a request body or of a GET's destination.  buf NULL in a
 * destination: bytes to skip (the gap between two coalesced ranges). */
typedef struct seg {
	unsigned char *buf;
	uint64_t len;
} seg;

typedef struct s3store s3store;
typedef struct req req;

/* Requests a thread waits for together. */
typedef struct group {
	unsigned pending;
} group;

struct req {
	s3store *s;
	enum op op;
	const char *method;
	char *key;            /* full object key (prefix included); NULL: bucket */
	char *qname[6], *qval[6]; /* query, not encoded; qval NULL: "name" */
	size_t nq;
	unsigned part;        /* UploadPart: its number */
	char *hname[4], *hval[4]; /* more headers, all signed */
	size_t nh;
	/* Body sent (PUT/POST): segments, total, and the read position. */
	seg *body;
	size_t nbody;
	uint64_t body_len, body_pos;
	size_t body_seg;
	uint64_t body_seg_off;
	const char *payload_hash; /* hex SHA-256 or UNSIGNED-PAYLOAD */
	uint32_t crc;             /* CRC32C of the body (checksum = crc32c) */
	char hash_buf[65];
	/* Body received: straight into dst (GET), else into resp (XML). */
	seg *dst;
	size_t ndst;
	uint64_t dst_len, got;
	size_t dst_seg;
	uint64_t dst_seg_off;
	char *resp;
	size_t resp_len, resp_cap;
	int overflow;         /* the answer was bigger than it may be */
	long wstatus;         /* HTTP status seen by on_write, 0: not yet */
	/* The result of the last attempt. */
	CURL *easy;
	struct curl_slist *hdrs;
	long status;
	CURLcode cc;
	char curl_err[CURL_ERROR_SIZE];
	char etag[128];
	int64_t length;       /* Content-Length of a HEAD, -1: none */
	uint64_t range_off;   /* GET: the first byte asked for */
	uint64_t obj_size;    /* GET: size in Content-Range, UINT64_MAX: none */
	int64_t mtime;
	s3_error_info err;    /* a parsed <Error> body */
	int injected;         /* fault_kind of this attempt */
	unsigned attempt;
	unsigned retries;     /* attempts that were retried */
	uint64_t not_before;  /* monotonic ms; retries wait for it */
	/* Done: ok, or the ckptio status and message of the failure. */
	ckptio_status st;
	char msg[1024];
	group *grp;
	void (*done)(req *r); /* on the I/O thread with s->mu held, instead
			       * of grp->pending--: it does that and may
			       * free r */
	void *user;
	req *next;
};

struct s3store {
	ckptio_store base;
	/* Where. */
	char *endpoint;   /* "http://127.0.0.1:9150", no trailing slash */
	char *scheme_host; /* URL up to the path: endpoint, or with bucket. */
	char *host;       /* Host header value */
	char *bucket;
	char *prefix;     /* "" or "runs/a/" */
	int virtual_host;
	char *region;
	/* Who. */
	char *ak, *sk, *token;
	char cred_source[256];
	/* How. */
	uint64_t part_size;
	unsigned concurrency;
	unsigned max_retries;
	unsigned list_page;   /* max-keys of a listing request */
	long connect_timeout, stall_timeout; /* seconds */
	int checksum, sign_payload, verify_tls, conditional_put;
	char *ca_file;
	fault faults[MAX_FAULTS];
	size_t nfaults;
	unsigned long op_count[NOPS];
	/* The I/O thread. */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* broadcast when a request is done */
	CURLM *multi;
	req *inbox;           /* submitted, not yet seen by the I/O thread */
	/* I/O thread only: requests to start, in order (appended at the
	 * tail), and retries waiting for their backoff (few). */
	req *ready, **ready_tail;
	req *delayed;
	unsigned active;
	int stop;
	/* Staging buffers (part_size bytes) of puts of non-stable data: in
	 * use, at most, and kept for reuse. */
	unsigned staged, max_staged;
	unsigned char **free_bufs;
	unsigned nfree;
	/* Uploads seen by list, so that remove can abort them. */
	char **up_keys, **up_ids;
	size_t nups;
	/* Statistics, for the debug log at close. */
	unsigned long requests, retried;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *xasprintf(const char *fmt, ...) CKPTIO_PRINTF(1, 2);
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static ckptio_status oom(s3store *s)
{
	return s->base.host->error(s->base.hc, CKPTIO_ENOMEM, "out of memory");
}

/* Keys as the ABI defines them: no empty, "." or ".." component, no
 * leading '/', at most MAX_KEY bytes with the prefix. */
static int key_valid(const s3store *s, const char *key)
{
	size_t len = strlen(key);

	if (len == 0 || len + strlen(s->prefix) > MAX_KEY || key[0] == '/' ||
	    key[len - 1] == '/')
		return 0;
	for (const char *c = key; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += n + (c[n] == '/');
	}
	return 1;
}

static ckptio_status check_key(s3store *s, const char *key)
{
	if (key_valid(s, key))
		return CKPTIO_OK;
	return s->base.host->error(s->base.hc, CKPTIO_EINVAL,
				   "s3://%s/%s%.200s: invalid object key",
				   s->bucket, s->prefix, key);
}

static char *full_key(s3store *s, const char *key)
{
	return xasprintf("%s%s", s->prefix, key);
}

/* ------------------------------------------------------------------------ */
/* Fault table (tests only)                                                 */

/* CKPTIO_S3_FAULTS="OP:N[-M]:KIND,...": requests N to M (1-based, counted
 * per store and op) of OP get KIND: 500, 503 (SlowDown), 429, 403,
 * reset (the connection drops mid-transfer) or short (the body ends
 * early).  The status faults answer without reaching the server, the
 * others cut a real transfer short; either way the answer goes through the
 * same classification and retry code as a real one. */
static int fault_parse(s3store *s, const char *env)
{
	char *copy = strdup(env), *save = NULL;
	static const struct { const char *name; enum fault_kind k; } kinds[] = {
		{"500", F_500}, {"503", F_503}, {"429", F_429},
		{"403", F_403}, {"reset", F_RESET}, {"short", F_SHORT},
	};

	if (!copy)
		return -1;
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char op[16], kind[16];
		unsigned long a, b;
		fault *f = &s->faults[s->nfaults];
		int n, found = 0;

		if (s->nfaults == MAX_FAULTS) { /* not silently dropped */
			free(copy);
			return -1;
		}
		if (sscanf(t, "%15[a-z]:%lu-%lu:%15[a-z0-9]%n", op, &a, &b, kind,
			   &n) == 4 && !t[n]) {
			f->first = a;
			f->last = b;
			if (b < a) {
				free(copy);
				return -1;
			}
		} else if (sscanf(t, "%15[a-z]:%lu:%15[a-z0-9]%n", op, &a, kind,
				  &n) == 3 && !t[n]) {
			f->first = f->last = a;
		} else {
			free(copy);
			return -1;
		}
		for (int i = 0; i < NOPS; i++)
			if (strcmp(op, op_names[i]) == 0)
				f->op = (enum op)i, found |= 1;
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(kind, kinds[i].name) == 0)
				f->kind = kinds[i].k, found |= 2;
		if (found != 3) {
			free(copy);
			return -1;
		}
		s->nfaults++;
	}
	free(copy);
	return 0;
}

/* The fault for this attempt of r (I/O thread only). */
static enum fault_kind fault_for(s3store *s, req *r)
{
	unsigned long n = ++s->op_count[r->op];

	for (size_t i = 0; i < s->nfaults; i++)
		if (s->faults[i].op == r->op && n >= s->faults[i].first &&
		    n <= s->faults[i].last)
			return s->faults[i].kind;
	return F_NONE;
}

/* ------------------------------------------------------------------------ */
/* curl callbacks                                                           */

/* Copy n bytes between ext and the segments v, from segment *i at offset
 * *off, and advance them: into the segments when in (a NULL segment
 * buffer drops its bytes), else out of them.  The caller checks that the
 * segments hold n more bytes. */
static void seg_copy(seg *v, size_t *i, uint64_t *off, unsigned char *ext,
		     size_t n, int in)
{
	for (size_t done = 0; done < n;) {
		seg *sg = &v[*i];
		uint64_t left = sg->len - *off;
		size_t k = n - done < left ? n - done : (size_t)left;

		if (in && sg->buf)
			memcpy(sg->buf + *off, ext + done, k);
		else if (!in)
			memcpy(ext + done, sg->buf + *off, k);
		done += k;
		*off += k;
		if (*off == sg->len) {
			++*i;
			*off = 0;
		}
	}
}

static size_t on_read(char *out, size_t size, size_t nmemb, void *u)
{
	req *r = u;
	uint64_t left = r->body_len - r->body_pos;
	size_t n = size * nmemb < left ? size * nmemb : (size_t)left;

	if (r->injected == F_RESET && r->body_pos >= r->body_len / 2)
		return CURL_READFUNC_ABORT;
	seg_copy(r->body, &r->body_seg, &r->body_seg_off, (unsigned char *)out,
		 n, 0);
	r->body_pos += n;
	return n;
}

static void body_rewind(req *r)
{
	r->body_pos = 0;
	r->body_seg = 0;
	r->body_seg_off = 0;
}

/* curl rewinds the body when it must resend it (a redirect, a reused
 * connection that turned out closed). */
static int on_seek(void *u, curl_off_t off, int origin)
{
	req *r = u;
	uint64_t left;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	body_rewind(r);
	left = (uint64_t)off;
	while (left > 0) {
		uint64_t k = r->body[r->body_seg].len;

		if (left < k) {
			r->body_seg_off = left;
			break;
		}
		left -= k;
		r->body_seg++;
	}
	r->body_pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static int keep_resp(req *r, const char *p, size_t n, size_t limit)
{
	if (r->resp_len + n > limit) {
		r->overflow = 1;
		return -1;
	}
	if (r->resp_len + n + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 4096;
		char *v;

		while (cap < r->resp_len + n + 1)
			cap *= 2;
		v = realloc(r->resp, cap);
		if (!v)
			return -1;
		r->resp = v;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *u)
{
	req *r = u;
	size_t n = size * nmemb;
	long status;

	if (!r->wstatus) /* once per answer, not per block */
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->wstatus);
	status = r->wstatus;
	if (status < 200 || status > 299 || !r->dst)
		return keep_resp(r, p, n, r->dst || status < 200 || status > 299
						  ? MAX_ERROR_BODY
						  : MAX_XML_BODY) == 0 ? n : 0;
	if ((r->injected == F_SHORT || r->injected == F_RESET) &&
	    r->got + n > r->dst_len / 2)
		return 0; /* classify() maps the abort to the fault's error */
	if (r->got + n > r->dst_len) {
		r->overflow = 1; /* more than the range asked for */
		return 0;
	}
	seg_copy(r->dst, &r->dst_seg, &r->dst_seg_off, (unsigned char *)p, n,
		 1);
	r->got += n;
	return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *u)
{
	req *r = u;
	size_t n = size * nmemb;

	if (n > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		const char *v = p + 5;
		size_t len = n - 5;

		while (len && (*v == ' ' || *v == '\t'))
			v++, len--;
		while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
			       v[len - 1] == ' '))
			len--;
		if (len < sizeof(r->etag)) {
			memcpy(r->etag, v, len);
			r->etag[len] = '\0';
		}
	}
	if (n > 14 && strncasecmp(p, "Content-Range:", 14) == 0) {
		const char *slash = memchr(p, '/', n);
		char num[24];
		size_t len = slash ? n - (size_t)(slash + 1 - p) : 0;

		if (slash && len < sizeof(num)) {
			memcpy(num, slash + 1, len);
			num[len] = '\0';
			if (sscanf(num, "%" SCNu64, &r->obj_size) != 1)
				r->obj_size = UINT64_MAX;
		}
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* Building and signing a request                                           */

/* Add name[=value] to r's query.  -1: out of memory. */
static int req_q(req *r, const char *name, const char *value)
{
	if (r->nq == 6)
		return -1;
	r->qname[r->nq] = strdup(name);
	r->qval[r->nq] = value ? strdup(value) : NULL;
	if (!r->qname[r->nq] || (value && !r->qval[r->nq])) {
		free(r->qname[r->nq]);
		free(r->qval[r->nq]);
		return -1;
	}
	r->nq++;
	return 0;
}

/* Add header name: value to r (signed with the others).  -1: out of
 * memory. */
static int req_h(req *r, const char *name, const char *value)
{
	if (r->nh == 4)
		return -1;
	r->hname[r->nh] = strdup(name);
	r->hval[r->nh] = strdup(value);
	if (!r->hname[r->nh] || !r->hval[r->nh]) {
		free(r->hname[r->nh]);
		free(r->hval[r->nh]);
		return -1;
	}
	r->nh++;
	return 0;
}

/* A "bytes=FIRST-LAST" Range header for len bytes at off. */
static int req_range(req *r, uint64_t off, uint64_t len)
{
	char v[64];

	snprintf(v, sizeof(v), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
	return req_h(r, "range", v);
}

/* The path of r as the URL and the signature see it (not encoded). */
static char *req_path(s3store *s, const req *r)
{
	if (s->virtual_host)
		return xasprintf("/%s", r->key ? r->key : "");
	return r->key ? xasprintf("/%s/%s", s->bucket, r->key)
		      : xasprintf("/%s", s->bucket);
}

/* Set up r->easy and r->hdrs for one attempt.  -1: out of memory. */
static int req_prepare(s3store *s, req *r)
{
	char date[17], *path = NULL, *epath = NULL, *url = NULL;
	char *auth = NULL;
	s3_kv kv[16], hdr[12];
	size_t nkv = 0, nh = 0;
	struct tm tm;
	time_t t = time(NULL);
	FILE *uf;
	size_t ulen;
	int rc = -1;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	path = req_path(s, r);
	epath = path ? s3_uri_encode(path, 1) : NULL;
	if (!epath)
		goto out;
	for (nkv = 0; nkv < r->nq; nkv++)
		kv[nkv] = (s3_kv){r->qname[nkv], r->qval[nkv]};
	uf = open_memstream(&url, &ulen);
	if (!uf)
		goto out;
	fprintf(uf, "%s%s", s->scheme_host, epath);
	for (size_t i = 0; i < nkv; i++) {
		char *n = s3_uri_encode(kv[i].name, 0);
		char *v = kv[i].value ? s3_uri_encode(kv[i].value, 0) : NULL;

		fprintf(uf, "%c%s", i ? '&' : '?', n ? n : "");
		if (kv[i].value)
			fprintf(uf, "=%s", v ? v : "");
		free(n);
		free(v);
	}
	if (fclose(uf) != 0)
		goto out;

	hdr[nh++] = (s3_kv){"host", s->host};
	hdr[nh++] = (s3_kv){"x-amz-date", date};
	hdr[nh++] = (s3_kv){"x-amz-content-sha256", r->payload_hash};
	if (s->token)
		hdr[nh++] = (s3_kv){"x-amz-security-token", s->token};
	for (size_t i = 0; i < r->nh; i++)
		hdr[nh++] = (s3_kv){r->hname[i], r->hval[i]};
	r->hdrs = NULL;
	for (size_t i = 0; i < nh; i++) {
		/* No fixed buffer: STS session tokens run to kilobytes. */
		char *line = xasprintf("%s: %s", hdr[i].name, hdr[i].value);
		struct curl_slist *l = line ? curl_slist_append(r->hdrs, line)
					    : NULL;

		free(line);
		if (!l)
			goto out;
		r->hdrs = l;
	}
	if (s->ak) {
		s3_sig_request sr = {
			.method = r->method, .path = path, .query = kv,
			.nquery = nkv, .headers = hdr, .nheaders = nh,
			.payload_hash = r->payload_hash, .amz_date = date,
			.region = s->region, .service = "s3"};
		char *line;
		struct curl_slist *l;

		auth = s3_authorization(&sr, s->ak, s->sk);
		line = auth ? xasprintf("Authorization: %s", auth) : NULL;
		l = line ? curl_slist_append(r->hdrs, line) : NULL;
		free(line);
		if (!l)
			goto out;
		r->hdrs = l;
	}
	{
		/* No "Expect: 100-continue" round trip before each part. */
		struct curl_slist *l = curl_slist_append(r->hdrs, "Expect:");

		if (!l)
			goto out;
		r->hdrs = l;
	}

	if (!r->easy && !(r->easy = curl_easy_init()))
		goto out;
	curl_easy_reset(r->easy);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, s->connect_timeout);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, s->stall_timeout);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, (long)s->verify_tls);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST,
			 s->verify_tls ? 2L : 0L);
	if (s->ca_file)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, s->ca_file);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "ckptio-s3/1");
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(r->easy, CURLOPT_FILETIME, 1L);
	} else if (r->body) {
		curl_easy_setopt(r->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(r->easy, CURLOPT_UPLOAD_BUFFERSIZE,
				 2L * 1024 * 1024);
		curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
		curl_easy_setopt(r->easy, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(r->easy, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(r->easy, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)r->body_len);
		if (strcmp(r->method, "PUT") != 0)
			curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST,
					 r->method);
	} else if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, r->method);
	}
	rc = 0;
out:
	free(path);
	free(epath);
	free(url);
	free(auth);
	return rc;
}

/* Forget the previous attempt's answer. */
static void req_reset_answer(req *r)
{
	body_rewind(r);
	r->got = 0;
	r->dst_seg = 0;
	r->dst_seg_off = 0;
	r->resp_len = 0;
	if (r->resp)
		r->resp[0] = '\0';
	r->overflow = 0;
	r->wstatus = 0;
	r->status = 0;
	r->cc = CURLE_OK;
	r->curl_err[0] = '\0';
	r->etag[0] = '\0';
	r->length = 0;
	r->obj_size = UINT64_MAX;
	r->mtime = 0;
	memset(&r->err, 0, sizeof(r->err));
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
}

/* ------------------------------------------------------------------------ */
/* Classification of an answer                                              */

static const char *what_of(const req *r)
{
	static const char *const w[NOPS] = {
		"PUT", "CreateMultipartUpload", "UploadPart",
		"CompleteMultipartUpload", "AbortMultipartUpload", "GET",
		"HEAD", "ListObjectsV2", "ListMultipartUploads", "DELETE",
		"DeleteObjects"};
	return w[r->op];
}

/* The object (or bucket) a request is about, for messages. */
static void req_target(const req *r, char *out, size_t len)
{
	snprintf(out, len, "s3://%s/%.400s", r->s->bucket,
		 r->key ? r->key : "");
}

static int retryable_code(const char *code)
{
	static const char *const codes[] = {
		"SlowDown", "RequestTimeout", "InternalError",
		"ServiceUnavailable", "Throttling", "ThrottlingException",
		NULL};

	for (int i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* Decide what the attempt's answer means: 0 done (r->st set), 1 retry. */
static int classify(s3store *s, req *r)
{
	char target[480], detail[300] = "";
	int retry = 0;

	r->st = CKPTIO_OK;
	if (r->injected == F_RESET && r->cc != CURLE_OK)
		r->cc = CURLE_RECV_ERROR;
	if (r->injected == F_SHORT && r->cc != CURLE_OK)
		r->cc = CURLE_PARTIAL_FILE;
	req_target(r, target, sizeof(target));
	if (r->cc != CURLE_OK) {
		if (r->overflow && r->dst) {
			r->st = CKPTIO_ECORRUPT;
			snprintf(r->msg, sizeof(r->msg), "%s: %s: the server "
				 "sent more than the %" PRIu64 " bytes asked "
				 "for", target, what_of(r), r->dst_len);
			return 0;
		}
		if (r->overflow) {
			r->st = CKPTIO_ECORRUPT;
			snprintf(r->msg, sizeof(r->msg), "%s: %s: answer over "
				 "the %u-byte limit", target, what_of(r),
				 r->dst ? MAX_ERROR_BODY : MAX_XML_BODY);
			return 0;
		}
		switch (r->cc) {
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_OUT_OF_MEMORY:
		case CURLE_ABORTED_BY_CALLBACK:
			retry = 0;
			break;
		default:
			retry = 1;
		}
		r->st = r->cc == CURLE_OUT_OF_MEMORY ? CKPTIO_ENOMEM : CKPTIO_ENET;
		snprintf(r->msg, sizeof(r->msg), "%s: %s: %s%s%s", target,
			 what_of(r), curl_easy_strerror(r->cc),
			 r->curl_err[0] ? ": " : "", r->curl_err);
		return retry;
	}
	if (r->status >= 200 && r->status <= 299) {
		if (r->dst && r->got != r->dst_len &&
		    r->obj_size != UINT64_MAX &&
		    r->range_off + r->dst_len > r->obj_size) {
			r->st = CKPTIO_ECORRUPT;
			snprintf(r->msg, sizeof(r->msg), "%s: bytes %" PRIu64
				 "-%" PRIu64 " are past the end of the object "
				 "(%" PRIu64 " bytes)", target, r->range_off,
				 r->range_off + r->dst_len - 1, r->obj_size);
			return 0;
		}
		if (r->dst && r->got != r->dst_len) {
			r->st = CKPTIO_ENET;
			snprintf(r->msg, sizeof(r->msg), "%s: %s: the answer "
				 "ended after %" PRIu64 " of %" PRIu64 " bytes",
				 target, what_of(r), r->got, r->dst_len);
			return 1;
		}
		return 0;
	}
	/* An error: its body names the S3 code. */
	if (r->resp_len) {
		char perr[256];

		if (s3xml_error(r->resp, r->resp_len, &r->err, perr,
				sizeof(perr)) == 0)
			snprintf(detail, sizeof(detail), " %s: %.200s",
				 r->err.code, r->err.message);
	}
	snprintf(r->msg, sizeof(r->msg), "%s: %s: HTTP %ld%s", target,
		 what_of(r), r->status, detail[0] ? detail : "");
	switch (r->status) {
	case 404:
		r->st = CKPTIO_ENOTFOUND;
		if (strcmp(r->err.code, "NoSuchBucket") == 0)
			snprintf(r->msg, sizeof(r->msg), "s3://%s: bucket does "
				 "not exist at %s (create it, e.g. `aws s3 mb "
				 "s3://%s --endpoint-url %s`)", s->bucket,
				 s->endpoint, s->bucket, s->endpoint);
		return 0;
	case 401:
	case 403:
		r->st = CKPTIO_EAUTH;
		snprintf(r->msg + strlen(r->msg), sizeof(r->msg) - strlen(r->msg),
			 " (access key %.32s from %s; region %s)",
			 s->ak ? s->ak : "none", s->cred_source, s->region);
		return 0;
	case 412:
		r->st = CKPTIO_EEXIST;
		return 0;
	case 416:
		r->st = CKPTIO_ECORRUPT;
		return 0;
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		r->st = CKPTIO_ENET;
		return 1;
	default:
		r->st = CKPTIO_EIO;
		return r->status == 400 && retryable_code(r->err.code);
	}
}

/* Backoff before retry `attempt` (1-based): exponential from 100 ms, capped
 * at 5 s, half of it random ("equal jitter"), so that many clients that
 * failed together do not come back together. */
static uint64_t backoff_ms(unsigned attempt)
{
	uint64_t cap = 5000, base = 100, d;
	uint32_t rnd = 0;

	d = attempt >= 7 ? cap : base << (attempt - 1);
	if (d > cap)
		d = cap;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)now_ms() * 2654435761u;
	return d / 2 + rnd % (d / 2 + 1);
}

/* ------------------------------------------------------------------------ */
/* The I/O thread                                                           */

static void req_finish(s3store *s, req *r)
{
	pthread_mutex_lock(&s->mu);
	if (r->done)
		r->done(r); /* with s->mu held; it may free r */
	else if (r->grp)
		r->grp->pending--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Answer r with the injected status instead of asking the server. */
static void inject_status(req *r, enum fault_kind k)
{
	static const char *const bodies[] = {
		[F_500] = "<Error><Code>InternalError</Code><Message>injected"
			  "</Message></Error>",
		[F_503] = "<Error><Code>SlowDown</Code><Message>injected"
			  "</Message></Error>",
		[F_429] = "<Error><Code>TooManyRequests</Code><Message>injected"
			  "</Message></Error>",
		[F_403] = "<Error><Code>AccessDenied</Code><Message>injected"
			  "</Message></Error>",
	};
	static const long status[] = {[F_500] = 500, [F_503] = 503,
				      [F_429] = 429, [F_403] = 403};

	r->status = status[k];
	keep_resp(r, bodies[k], strlen(bodies[k]), MAX_ERROR_BODY);
}

/* Start r, or answer it at once (an injected status, out of memory).
 * Returns 1 when started. */
static int req_start(s3store *s, req *r)
{
	enum fault_kind k;

	req_reset_answer(r);
	r->attempt++;
	s->requests++;
	k = fault_for(s, r);
	r->injected = k;
	if (k == F_500 || k == F_503 || k == F_429 || k == F_403) {
		inject_status(r, k);
		return 0;
	}
	if (req_prepare(s, r) != 0 ||
	    curl_multi_add_handle(s->multi, r->easy) != CURLM_OK) {
		r->cc = CURLE_OUT_OF_MEMORY;
		return 0;
	}
	s->active++;
	return 1;
}

/* After an attempt: retry it later or finish it. */
static void req_after(s3store *s, req *r)
{
	if (classify(s, r) && r->attempt <= s->max_retries) {
		uint64_t wait = backoff_ms(r->attempt);

		/* A blip is news for -v; a run of failures is for everyone. */
		s->base.host->log(s->base.hc, r->attempt >= 3 ? CKPTIO_LOG_WARN
							      : CKPTIO_LOG_INFO,
				  "%s; retry %u of %u in %" PRIu64 " ms",
				  r->msg, r->attempt, s->max_retries, wait);
		r->retries++;
		s->retried++;
		r->not_before = now_ms() + wait;
		r->next = s->delayed;
		s->delayed = r;
		return;
	}
	if (r->st != CKPTIO_OK && r->attempt > 1)
		snprintf(r->msg + strlen(r->msg), sizeof(r->msg) - strlen(r->msg),
			 " (after %u attempts)", r->attempt);
	req_finish(s, r);
}

/* Start what may start: retries whose backoff is over (first: they are
 * the oldest), then ready requests in order, while there are free
 * connections.  *next_wake: when the next retry is due.  Constant work per
 * request started; only the (few) delayed retries are scanned. */
static void start_waiting(s3store *s, uint64_t *next_wake)
{
	uint64_t now = now_ms();
	req **pp = &s->delayed;

	while (*pp) {
		req *r = *pp;

		if (r->not_before > now) {
			if (r->not_before < *next_wake)
				*next_wake = r->not_before;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = s->ready;
		s->ready = r;
		if (s->ready_tail == &s->ready)
			s->ready_tail = &r->next;
	}
	while (s->ready && s->active < s->concurrency) {
		req *r = s->ready;

		s->ready = r->next;
		if (!s->ready)
			s->ready_tail = &s->ready;
		if (!req_start(s, r))
			req_after(s, r);
	}
}

static void collect_done(s3store *s)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left))) {
		req *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		r->cc = m->data.result;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (strcmp(r->method, "HEAD") == 0) {
			curl_off_t cl = -1;
			long ft = -1;

			curl_easy_getinfo(r->easy,
					  CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
					  &cl);
			curl_easy_getinfo(r->easy, CURLINFO_FILETIME, &ft);
			r->length = cl >= 0 ? (int64_t)cl : -1;
			r->mtime = ft > 0 ? ft : 0;
		}
		curl_multi_remove_handle(s->multi, r->easy);
		s->active--;
		req_after(s, r);
	}
}

/* Move the inbox to the end of the ready list, in submission order. */
static int take_inbox(s3store *s)
{
	req *in, *rev = NULL;
	int stop;

	pthread_mutex_lock(&s->mu);
	in = s->inbox;
	s->inbox = NULL;
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	while (in) { /* the inbox is last-in first */
		req *n = in->next;

		in->next = rev;
		rev = in;
		in = n;
	}
	for (; rev; rev = rev->next) {
		*s->ready_tail = rev;
		s->ready_tail = &rev->next;
	}
	*s->ready_tail = NULL;
	return stop;
}

static void *io_thread(void *arg)
{
	s3store *s = arg;

	for (;;) {
		uint64_t wake = UINT64_MAX, now;
		int running = 0, timeout = 1000;

		if (take_inbox(s) && !s->ready && !s->delayed && s->active == 0)
			break;
		start_waiting(s, &wake);
		curl_multi_perform(s->multi, &running);
		collect_done(s);
		start_waiting(s, &wake);
		now = now_ms();
		if (wake != UINT64_MAX)
			timeout = wake <= now ? 0 : wake - now < 1000
							    ? (int)(wake - now)
							    : 1000;
		curl_multi_poll(s->multi, NULL, 0, timeout, NULL);
	}
	return NULL;
}

static void submit(s3store *s, req *r)
{
	pthread_mutex_lock(&s->mu);
	if (r->grp)
		r->grp->pending++;
	r->next = s->inbox;
	s->inbox = r;
	pthread_mutex_unlock(&s->mu);
	curl_multi_wakeup(s->multi);
}

/* Wait until at most `upto` requests of g are pending. */
static void wait_group(s3store *s, group *g, unsigned upto)
{
	pthread_mutex_lock(&s->mu);
	while (g->pending > upto)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static req *req_new(s3store *s, enum op op, const char *method,
		    const char *key)
{
	req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->s = s;
	r->op = op;
	r->method = method;
	r->payload_hash = EMPTY_SHA256;
	if (key && !(r->key = full_key(s, key))) {
		free(r);
		return NULL;
	}
	return r;
}

static void req_free(req *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->key);
	for (size_t i = 0; i < r->nq; i++) {
		free(r->qname[i]);
		free(r->qval[i]);
	}
	for (size_t i = 0; i < r->nh; i++) {
		free(r->hname[i]);
		free(r->hval[i]);
	}
	free(r->resp);
	free(r->body);
	free(r->dst);
	free(r);
}

/* Run one request to its end on the I/O thread; its status. */
static ckptio_status run(s3store *s, req *r)
{
	group g = {0};

	r->grp = &g;
	submit(s, r);
	wait_group(s, &g, 0);
	return r->st;
}

/* Record r's failure on the operation; its status. */
static ckptio_status fail_req(s3store *s, req *r)
{
	return s->base.host->error(s->base.hc, r->st, "%s", r->msg);
}

/* ------------------------------------------------------------------------ */
/* Puts                                                                     */

struct ckptio_put {
	s3store *s;
	char *key;          /* relative key */
	unsigned flags;
	int stable;         /* CKPTIO_PUT_STABLE: keep references */
	/* The part being filled: references (stable) or a staging buffer. */
	seg *segs;
	size_t nsegs, capsegs;
	unsigned char *buf;
	uint64_t cur;
	/* Multipart state. */
	char *upload_id;
	unsigned nparts;
	char **etags;       /* MAX_PARTS slots, filled by the I/O thread */
	uint32_t *crcs;     /* MAX_PARTS */
	group grp;          /* parts in flight */
	ckptio_status st;   /* the first failed part (under s->mu) */
	char msg[1024];
	uint64_t total;
};

static ckptio_status put_fail(ckptio_put *p)
{
	return p->s->base.host->error(p->s->base.hc, p->st, "%s", p->msg);
}

/* A staging buffer for a non-stable put, waiting while the store's budget
 * is used up.  NULL: out of memory. */
static unsigned char *stage_get(s3store *s)
{
	unsigned char *b = NULL;

	pthread_mutex_lock(&s->mu);
	while (s->staged >= s->max_staged)
		pthread_cond_wait(&s->cv, &s->mu);
	s->staged++;
	if (s->nfree)
		b = s->free_bufs[--s->nfree];
	pthread_mutex_unlock(&s->mu);
	if (!b && !(b = malloc(s->part_size))) {
		pthread_mutex_lock(&s->mu);
		s->staged--;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	return b;
}

/* Give a staging buffer back; with s->mu held. */
static void stage_put_locked(s3store *s, unsigned char *b)
{
	s->staged--;
	if (s->nfree < s->max_staged)
		s->free_bufs[s->nfree++] = b;
	else
		free(b);
}

static int seg_add(ckptio_put *p, const void *buf, uint64_t len)
{
	if (p->nsegs == p->capsegs) {
		size_t cap = p->capsegs ? p->capsegs * 2 : 16;
		seg *v = realloc(p->segs, cap * sizeof(*v));

		if (!v)
			return -1;
		p->segs = v;
		p->capsegs = cap;
	}
	p->segs[p->nsegs++] = (seg){(unsigned char *)buf, len};
	return 0;
}

static void crc_b64(uint32_t crc, char out[9])
{
	unsigned char be[4] = {crc >> 24, crc >> 16, crc >> 8, crc};

	EVP_EncodeBlock((unsigned char *)out, be, 4);
}

/* The checksum and payload headers of a body made of segs. */
static int body_headers(s3store *s, req *r)
{
	if (s->checksum) {
		uint32_t crc = 0;
		char b64[9];

		for (size_t i = 0; i < r->nbody; i++)
			crc = s->base.host->crc32c(crc, r->body[i].buf,
						   r->body[i].len);
		crc_b64(crc, b64);
		if (req_h(r, "x-amz-checksum-crc32c", b64) != 0)
			return -1;
		r->crc = crc;
	}
	if (s->sign_payload) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned char h[32];
		unsigned hl = 0;

		if (!md)
			return -1;
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		for (size_t i = 0; i < r->nbody; i++)
			EVP_DigestUpdate(md, r->body[i].buf, r->body[i].len);
		EVP_DigestFinal_ex(md, h, &hl);
		EVP_MD_CTX_free(md);
		for (int i = 0; i < 32; i++)
			sprintf(r->hash_buf + 2 * i, "%02x", h[i]);
		r->payload_hash = r->hash_buf;
	} else {
		r->payload_hash = "UNSIGNED-PAYLOAD";
	}
	return 0;
}

/* Hand the part being filled to req r as its body (the put starts a new
 * one). */
static void take_body(ckptio_put *p, req *r)
{
	r->body = p->segs;
	r->nbody = p->nsegs;
	r->body_len = p->cur;
	p->segs = NULL;
	p->nsegs = p->capsegs = 0;
	p->cur = 0;
}

static ckptio_status create_upload(ckptio_put *p)
{
	s3store *s = p->s;
	req *r = req_new(s, OP_CREATE, "POST", p->key);
	char err[256];
	ckptio_status st;

	if (!r || req_q(r, "uploads", NULL) != 0 ||
	    (s->checksum &&
	     req_h(r, "x-amz-checksum-algorithm", "CRC32C") != 0)) {
		req_free(r);
		return oom(s);
	}
	st = run(s, r);
	if (st == CKPTIO_OK &&
	    !(p->upload_id = s3xml_upload_id(r->resp, r->resp_len, err,
					     sizeof(err))))
		st = s->base.host->error(s->base.hc, CKPTIO_EIO,
					 "s3://%s/%s: %s", s->bucket, r->key,
					 err);
	else if (st != CKPTIO_OK)
		fail_req(s, r);
	req_free(r);
	if (st == CKPTIO_OK &&
	    (!(p->etags = calloc(MAX_PARTS, sizeof(*p->etags))) ||
	     !(p->crcs = calloc(MAX_PARTS, sizeof(*p->crcs)))))
		st = oom(s);
	return st;
}

/* A part is done (I/O thread, s->mu held). */
static void part_done(req *r)
{
	ckptio_put *p = r->user;

	if (r->st == CKPTIO_OK && !r->etag[0]) {
		r->st = CKPTIO_EIO;
		snprintf(r->msg, sizeof(r->msg), "s3://%s/%s: UploadPart: no "
			 "ETag in the answer", p->s->bucket, r->key);
	}
	if (r->st == CKPTIO_OK) {
		unsigned part = r->part;

		p->etags[part - 1] = strdup(r->etag);
		if (!p->etags[part - 1]) {
			r->st = CKPTIO_ENOMEM;
			snprintf(r->msg, sizeof(r->msg), "out of memory");
		}
	}
	if (r->st != CKPTIO_OK && p->st == CKPTIO_OK) {
		p->st = r->st;
		memcpy(p->msg, r->msg, sizeof(p->msg));
	}
	if (!p->stable && r->nbody)
		stage_put_locked(p->s, r->body[0].buf);
	p->grp.pending--;
	req_free(r);
}

/* Send the part being filled (p->cur > 0) as part nparts+1. */
static ckptio_status submit_part(ckptio_put *p)
{
	s3store *s = p->s;
	req *r;
	char num[16];
	ckptio_status st;

	if (!p->upload_id && (st = create_upload(p)) != CKPTIO_OK)
		return st;
	if (p->nparts == MAX_PARTS)
		return s->base.host->error(
			s->base.hc, CKPTIO_EUNSUPPORTED,
			"s3://%s/%s%s: more than %d parts of %" PRIu64
			" bytes: raise part_size", s->bucket, s->prefix, p->key,
			MAX_PARTS, s->part_size);
	r = req_new(s, OP_PART, "PUT", p->key);
	if (!r)
		return oom(s);
	p->nparts++;
	take_body(p, r);
	snprintf(num, sizeof(num), "%u", p->nparts);
	r->part = p->nparts;
	if (req_q(r, "partNumber", num) != 0 ||
	    req_q(r, "uploadId", p->upload_id) != 0 ||
	    body_headers(s, r) != 0) {
		if (!p->stable && r->nbody) {
			pthread_mutex_lock(&s->mu);
			stage_put_locked(s, r->body[0].buf);
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
		}
		p->buf = NULL;
		req_free(r);
		return oom(s);
	}
	p->crcs[p->nparts - 1] = r->crc;
	r->user = p;
	r->grp = &p->grp;
	r->done = part_done;
	submit(s, r);
	p->buf = NULL;
	/* Keep a window of parts in flight: enough to fill the connections,
	 * few enough that progress means something. */
	wait_group(s, &p->grp, s->concurrency);
	pthread_mutex_lock(&s->mu);
	st = p->st;
	pthread_mutex_unlock(&s->mu);
	return st == CKPTIO_OK ? CKPTIO_OK : put_fail(p);
}

static ckptio_status s3_put_open(ckptio_store *st, const char *key,
				 uint64_t size_hint, unsigned flags,
				 ckptio_put **out)
{
	s3store *s = (s3store *)st;
	ckptio_put *p;
	ckptio_status rc = check_key(s, key);

	(void)size_hint; /* parts are cut as the bytes come */
	if (rc != CKPTIO_OK)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->key = strdup(key))) {
		free(p);
		return oom(s);
	}
	p->s = s;
	p->flags = flags;
	p->stable = !!(flags & CKPTIO_PUT_STABLE);
	*out = p;
	return CKPTIO_OK;
}

static ckptio_status s3_put_write(ckptio_put *p, const void *buf, size_t len)
{
	s3store *s = p->s;
	const unsigned char *b = buf;
	ckptio_status st;

	pthread_mutex_lock(&s->mu);
	st = p->st;
	pthread_mutex_unlock(&s->mu);
	if (st != CKPTIO_OK)
		return put_fail(p);
	while (len > 0) {
		uint64_t room = s->part_size - p->cur;
		size_t k = len < room ? len : (size_t)room;

		if (p->stable) {
			if (seg_add(p, b, k) != 0)
				return oom(s);
		} else {
			if (!p->buf) {
				if (!(p->buf = stage_get(s)))
					return oom(s);
				if (seg_add(p, p->buf, 0) != 0)
					return oom(s);
			}
			memcpy(p->buf + p->cur, b, k);
			p->segs[0].len += k;
		}
		p->cur += k;
		p->total += k;
		b += k;
		len -= k;
		if (p->cur == s->part_size &&
		    (st = submit_part(p)) != CKPTIO_OK)
			return st;
	}
	return CKPTIO_OK;
}

/* Wait for every part in flight (they may read the caller's memory). */
static void drain(ckptio_put *p)
{
	wait_group(p->s, &p->grp, 0);
}

static void abort_upload(s3store *s, const char *rel_key, const char *id)
{
	req *r = req_new(s, OP_ABORT, "DELETE", rel_key);

	if (r && req_q(r, "uploadId", id) == 0 &&
	    run(s, r) != CKPTIO_OK && r->st != CKPTIO_ENOTFOUND)
		s->base.host->log(s->base.hc, CKPTIO_LOG_WARN,
				  "%s; `ckptio rm --gc` removes the upload "
				  "later", r->msg);
	req_free(r);
}

static void put_free(ckptio_put *p)
{
	s3store *s = p->s;

	if (p->buf) {
		pthread_mutex_lock(&s->mu);
		stage_put_locked(s, p->buf);
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	for (unsigned i = 0; p->etags && i < p->nparts; i++)
		free(p->etags[i]);
	free(p->etags);
	free(p->crcs);
	free(p->segs);
	free(p->upload_id);
	free(p->key);
	free(p);
}

static void s3_put_abort(ckptio_put *p)
{
	drain(p);
	if (p->upload_id)
		abort_upload(p->s, p->key, p->upload_id);
	put_free(p);
}

/* The one-request put of an object smaller than a part. */
static ckptio_status put_single(ckptio_put *p)
{
	s3store *s = p->s;
	req *r = req_new(s, OP_PUT, "PUT", p->key);
	ckptio_status st;

	if (!r)
		return oom(s);
	take_body(p, r);
	if (r->nbody == 0 && seg_add(p, "", 0) == 0)
		take_body(p, r); /* an empty object: one empty segment */
	/* A staged body stays in p->buf, which is freed with p. */
	if (body_headers(s, r) != 0 ||
	    ((p->flags & CKPTIO_PUT_IF_ABSENT) && s->conditional_put &&
	     req_h(r, "If-None-Match", "*") != 0)) {
		req_free(r);
		return oom(s);
	}
	st = run(s, r);
	if (st == CKPTIO_EEXIST)
		st = s->base.host->error(s->base.hc, CKPTIO_EEXIST,
					 "s3://%s/%s: already exists",
					 s->bucket, r->key);
	else if (st != CKPTIO_OK)
		fail_req(s, r);
	req_free(r);
	return st;
}

/* After a retried Complete answered NoSuchUpload: is the object there,
 * with every byte we sent? */
static int completed_anyway(ckptio_put *p)
{
	req *r = req_new(p->s, OP_HEAD, "HEAD", p->key);
	int done = r && run(p->s, r) == CKPTIO_OK && r->length >= 0 &&
		   (uint64_t)r->length == p->total;

	req_free(r);
	return done;
}

/* An XML document (the caller keeps and frees it) as r's signed body.
 * -1: out of memory. */
static int xml_body(req *r, char *xml, size_t len)
{
	if (!(r->body = malloc(sizeof(seg))))
		return -1;
	r->body[0] = (seg){(unsigned char *)xml, len};
	r->nbody = 1;
	r->body_len = len;
	s3_sha256_hex(xml, len, r->hash_buf);
	r->payload_hash = r->hash_buf;
	return 0;
}

static ckptio_status complete_upload(ckptio_put *p)
{
	s3store *s = p->s;
	req *r = req_new(s, OP_COMPLETE, "POST", p->key);
	char *xml = NULL, err[256];
	size_t xlen = 0;
	FILE *f;
	ckptio_status st;

	if (!r || req_q(r, "uploadId", p->upload_id) != 0 ||
	    !(f = open_memstream(&xml, &xlen))) {
		req_free(r);
		return oom(s);
	}
	fputs("<CompleteMultipartUpload>", f);
	for (unsigned i = 0; i < p->nparts; i++) {
		fprintf(f, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag>",
			i + 1, p->etags[i]);
		if (s->checksum) {
			char b64[9];

			crc_b64(p->crcs[i], b64);
			fprintf(f, "<ChecksumCRC32C>%s</ChecksumCRC32C>", b64);
		}
		fputs("</Part>", f);
	}
	fputs("</CompleteMultipartUpload>", f);
	if (fclose(f) != 0 || xml_body(r, xml, xlen) != 0) {
		free(xml);
		req_free(r);
		return oom(s);
	}
	if ((p->flags & CKPTIO_PUT_IF_ABSENT) && s->conditional_put &&
	    req_h(r, "If-None-Match", "*") != 0) {
		free(xml);
		req_free(r);
		return oom(s);
	}
	st = run(s, r);
	/* S3 may answer 200 and put an <Error> in the body. */
	if (st == CKPTIO_OK &&
	    s3xml_complete(r->resp, r->resp_len, err, sizeof(err)) != 0) {
		s3_error_info e;
		char perr[64];

		if (s3xml_error(r->resp, r->resp_len, &e, perr,
				sizeof(perr)) == 0)
			st = s->base.host->error(
				s->base.hc, CKPTIO_EIO,
				"s3://%s/%s: CompleteMultipartUpload: %s: "
				"%.200s", s->bucket, r->key, e.code, e.message);
		else
			st = s->base.host->error(s->base.hc, CKPTIO_EIO,
						 "s3://%s/%s: %s", s->bucket,
						 r->key, err);
	} else if (st == CKPTIO_ENOTFOUND && r->attempt > 1 &&
		   strcmp(r->err.code, "NoSuchUpload") == 0 &&
		   completed_anyway(p)) {
		/* An earlier attempt completed it; its answer was lost. */
		st = CKPTIO_OK;
	} else if (st != CKPTIO_OK) {
		fail_req(s, r);
	}
	free(xml);
	req_free(r);
	return st;
}

static ckptio_status s3_put_commit(ckptio_put *p)
{
	s3store *s = p->s;
	ckptio_status st = CKPTIO_OK;

	pthread_mutex_lock(&s->mu);
	st = p->st;
	pthread_mutex_unlock(&s->mu);
	if (st != CKPTIO_OK) {
		put_fail(p);
	} else if (!p->upload_id) {
		st = put_single(p);
	} else {
		if (p->cur > 0)
			st = submit_part(p);
		drain(p);
		if (st == CKPTIO_OK && p->st != CKPTIO_OK)
			st = put_fail(p); /* no part is in flight now */
		if (st == CKPTIO_OK)
			st = complete_upload(p);
	}
	if (st != CKPTIO_OK) {
		s3_put_abort(p);
		return st;
	}
	put_free(p);
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                    */

typedef struct rjob {
	const char *key;  /* relative */
	uint64_t offset, len;
	seg *dst;
	size_t ndst, cap;
} rjob;

static int by_key_offset(const void *a, const void *b)
{
	const ckptio_range *x = *(ckptio_range *const *)a;
	const ckptio_range *y = *(ckptio_range *const *)b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int job_add(rjob *j, void *buf, uint64_t len)
{
	if (j->ndst == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 4;
		seg *v = realloc(j->dst, cap * sizeof(*v));

		if (!v)
			return -1;
		j->dst = v;
		j->cap = cap;
	}
	j->dst[j->ndst++] = (seg){buf, len};
	j->len += len;
	return 0;
}

/* Cut the ranges into GETs of at most part_size bytes, joining ranges of
 * one object that are at most COALESCE_GAP apart.  -1: out of memory. */
static int plan_reads(s3store *s, const ckptio_range *ranges, size_t n,
		      rjob **out, size_t *nout)
{
	const ckptio_range **order = malloc((n ? n : 1) * sizeof(*order));
	rjob *jobs = NULL, *j = NULL;
	size_t njobs = 0, cap = 0;

	if (!order)
		return -1;
	for (size_t i = 0; i < n; i++)
		order[i] = &ranges[i];
	qsort(order, n, sizeof(*order), by_key_offset);
	for (size_t i = 0; i < n; i++) {
		const ckptio_range *rg = order[i];
		unsigned char *buf = rg->buf;
		uint64_t off = rg->offset, left = rg->length;

		while (left > 0) {
			uint64_t end = j ? j->offset + j->len : 0, k;
			int join = j && strcmp(j->key, rg->key) == 0 &&
				   off >= end && off - end <= COALESCE_GAP &&
				   j->len + (off - end) < s->part_size;

			if (join && off > end && job_add(j, NULL, off - end))
				goto oom;
			if (!join) {
				if (njobs == cap) {
					rjob *v;

					cap = cap ? cap * 2 : 16;
					v = realloc(jobs, cap * sizeof(*v));
					if (!v)
						goto oom;
					jobs = v;
				}
				j = &jobs[njobs++];
				*j = (rjob){.key = rg->key, .offset = off};
			}
			k = s->part_size - j->len;
			if (k > left)
				k = left;
			if (job_add(j, buf, k) != 0)
				goto oom;
			buf += k;
			off += k;
			left -= k;
		}
	}
	free(order);
	*out = jobs;
	*nout = njobs;
	return 0;
oom:
	for (size_t i = 0; i < njobs; i++)
		free(jobs[i].dst);
	free(jobs);
	free(order);
	return -1;
}

static ckptio_status s3_read(ckptio_store *st, const ckptio_range *ranges,
			     size_t n)
{
	s3store *s = (s3store *)st;
	rjob *jobs = NULL;
	size_t njobs = 0;
	req **reqs;
	group g = {0};
	ckptio_status rc = CKPTIO_OK;

	for (size_t i = 0; i < n; i++)
		if ((rc = check_key(s, ranges[i].key)) != CKPTIO_OK)
			return rc;
	if (plan_reads(s, ranges, n, &jobs, &njobs) != 0)
		return oom(s);
	reqs = calloc(njobs ? njobs : 1, sizeof(*reqs));
	if (!reqs)
		rc = oom(s);
	for (size_t i = 0; rc == CKPTIO_OK && i < njobs; i++) {
		req *r = req_new(s, OP_GET, "GET", jobs[i].key);

		if (!r || req_range(r, jobs[i].offset, jobs[i].len) != 0) {
			req_free(r);
			rc = oom(s);
			break;
		}
		r->dst = jobs[i].dst;
		r->ndst = jobs[i].ndst;
		r->dst_len = jobs[i].len;
		r->range_off = jobs[i].offset;
		jobs[i].dst = NULL;
		r->grp = &g;
		reqs[i] = r;
		submit(s, r);
	}
	wait_group(s, &g, 0);
	for (size_t i = 0; i < njobs; i++) {
		req *r = reqs ? reqs[i] : NULL;

		if (r && r->st != CKPTIO_OK && rc == CKPTIO_OK) {
			if (r->st == CKPTIO_ECORRUPT && r->status == 416)
				rc = s->base.host->error(
					s->base.hc, CKPTIO_ECORRUPT,
					"s3://%s/%s: bytes %" PRIu64 "-%" PRIu64
					" are past the end of the object",
					s->bucket, r->key, jobs[i].offset,
					jobs[i].offset + jobs[i].len - 1);
			else
				rc = fail_req(s, r);
		}
		req_free(r);
		free(jobs[i].dst);
	}
	free(reqs);
	free(jobs);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* stat, list, remove                                                       */

/* A HEAD answer has no body, so a 403 does not say why (a wrong secret,
 * a clock off, no permission).  Ask again with a one-byte GET, whose
 * error body does, and report that. */
static void explain_denied(s3store *s, const char *key, req *head)
{
	req *r = req_new(s, OP_GET, "GET", key);

	if (r && req_range(r, 0, 1) == 0) {
		unsigned char byte;
		seg dst = {&byte, 1};

		r->dst = malloc(sizeof(seg));
		if (r->dst) {
			r->dst[0] = dst;
			r->ndst = 1;
			r->dst_len = 1;
			if (run(s, r) == CKPTIO_EAUTH && r->err.code[0]) {
				fail_req(s, r);
				req_free(r);
				return;
			}
		}
	}
	req_free(r);
	fail_req(s, head);
}

static ckptio_status s3_stat(ckptio_store *st, const char *key,
			     ckptio_stat *out)
{
	s3store *s = (s3store *)st;
	ckptio_status rc = check_key(s, key);
	req *r;

	if (rc != CKPTIO_OK)
		return rc;
	if (!(r = req_new(s, OP_HEAD, "HEAD", key)))
		return oom(s);
	rc = run(s, r);
	if (rc == CKPTIO_OK && r->length < 0) {
		/* Taking a missing length for 0 would make a truncated
		 * object of a healthy one. */
		rc = s->base.host->error(s->base.hc, CKPTIO_EIO,
					 "s3://%s/%s: HEAD: no Content-Length in "
					 "the answer", s->bucket, r->key);
	} else if (rc == CKPTIO_OK) {
		out->size = (uint64_t)r->length;
		out->mtime = r->mtime;
	} else if (rc == CKPTIO_EAUTH) {
		explain_denied(s, key, r);
	} else if (rc != CKPTIO_ENOTFOUND) {
		fail_req(s, r);
	}
	req_free(r);
	return rc;
}

typedef struct list_ctx {
	s3store *s;
	const char *prefix; /* full prefix */
	ckptio_key_fn fn;
	void *user;
	int stopped;
	int oom;
} list_ctx;

static int list_key(void *u, const char *key, uint64_t size, int64_t mtime)
{
	list_ctx *l = u;
	size_t plen = strlen(l->s->prefix);
	ckptio_stat sb = {.size = size, .mtime = mtime};

	/* Keys outside the store's prefix, and "directory" markers. */
	if (strncmp(key, l->s->prefix, plen) != 0 || !key_valid(l->s, key + plen))
		return 0;
	if (l->fn(l->user, key + plen, &sb))
		l->stopped = 1;
	return l->stopped;
}

static int list_upload(void *u, const char *key, const char *id,
		       int64_t initiated)
{
	list_ctx *l = u;
	s3store *s = l->s;
	size_t plen = strlen(s->prefix);
	/* An unfinished upload: no size yet, its age from <Initiated>. */
	ckptio_stat sb = {.size = 0, .mtime = initiated};
	char **k, **i;

	if (strncmp(key, s->prefix, plen) != 0 || !key_valid(s, key + plen))
		return 0;
	pthread_mutex_lock(&s->mu);
	k = realloc(s->up_keys, (s->nups + 1) * sizeof(*k));
	if (k)
		s->up_keys = k;
	i = k ? realloc(s->up_ids, (s->nups + 1) * sizeof(*i)) : NULL;
	if (i) {
		s->up_ids = i;
		s->up_keys[s->nups] = strdup(key + plen);
		s->up_ids[s->nups] = strdup(id);
		if (s->up_keys[s->nups] && s->up_ids[s->nups])
			s->nups++;
		else {
			free(s->up_keys[s->nups]);
			free(s->up_ids[s->nups]);
			i = NULL;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (!i) {
		l->oom = 1;
		return 1;
	}
	if (l->fn(l->user, key + plen, &sb))
		l->stopped = 1;
	return l->stopped;
}

/* One ListObjectsV2 or ListMultipartUploads page; *more when truncated. */
static ckptio_status list_page(list_ctx *l, int uploads, char **m1, char **m2,
			       int *more)
{
	s3store *s = l->s;
	req *r = req_new(s, uploads ? OP_UPLOADS : OP_LIST, "GET", NULL);
	char err[300], *n1 = NULL, *n2 = NULL;
	ckptio_status rc;
	int bad;

	if (!r)
		return oom(s);
	if (uploads)
		bad = req_q(r, "uploads", NULL) || req_q(r, "prefix", l->prefix) ||
		      (*m1 && (req_q(r, "key-marker", *m1) ||
			       req_q(r, "upload-id-marker", *m2)));
	else
		bad = req_q(r, "list-type", "2") || req_q(r, "prefix", l->prefix) ||
		      (*m1 && req_q(r, "continuation-token", *m1));
	if (!bad && s->list_page != 1000) {
		char num[16];

		snprintf(num, sizeof(num), "%u", s->list_page);
		bad = req_q(r, uploads ? "max-uploads" : "max-keys", num);
	}
	if (bad) {
		req_free(r);
		return oom(s);
	}
	rc = run(s, r);
	if (rc != CKPTIO_OK) {
		fail_req(s, r);
		req_free(r);
		return rc;
	}
	bad = uploads ? s3xml_uploads(r->resp, r->resp_len, list_upload, l,
				      more, &n1, &n2, err, sizeof(err))
		      : s3xml_list(r->resp, r->resp_len, list_key, l, more,
				   &n1, err, sizeof(err));
	req_free(r);
	free(*m1);
	free(*m2);
	*m1 = n1;
	*m2 = n2;
	if (l->oom)
		return oom(s);
	if (bad)
		return s->base.host->error(s->base.hc, CKPTIO_EIO,
					   "s3://%s/%s: %s", s->bucket,
					   l->prefix, err);
	return CKPTIO_OK;
}

static ckptio_status s3_list(ckptio_store *st, const char *prefix,
			     ckptio_key_fn fn, void *user)
{
	s3store *s = (s3store *)st;
	char *full = full_key(s, prefix);
	list_ctx l = {.s = s, .prefix = full, .fn = fn, .user = user};
	ckptio_status rc = full ? CKPTIO_OK : oom(s);

	for (int uploads = 0; rc == CKPTIO_OK && uploads < 2 && !l.stopped;
	     uploads++) {
		char *m1 = NULL, *m2 = NULL;
		int more = 1;

		while (rc == CKPTIO_OK && more && !l.stopped) {
			rc = list_page(&l, uploads, &m1, &m2, &more);
			if (rc == CKPTIO_OK && more && !m1 && !m2)
				more = 0;
		}
		free(m1);
		free(m2);
	}
	free(full);
	return rc;
}

static void abort_listed_uploads(s3store *s, const char *key);

static ckptio_status s3_remove(ckptio_store *st, const char *key)
{
	s3store *s = (s3store *)st;
	ckptio_status rc = check_key(s, key);
	req *r;

	if (rc != CKPTIO_OK)
		return rc;
	if (!(r = req_new(s, OP_DELETE, "DELETE", key)))
		return oom(s);
	rc = run(s, r);
	if (rc != CKPTIO_OK && rc != CKPTIO_ENOTFOUND)
		fail_req(s, r);
	req_free(r);
	/* Uploads of this key that list() found: left by a crashed save. */
	if (rc != CKPTIO_ENOMEM)
		abort_listed_uploads(s, key);
	/* S3 answers DELETE of a missing key with success. */
	return rc == CKPTIO_ENOTFOUND ? CKPTIO_OK : rc;
}

/* Abort the uploads that list() found for key. */
static void abort_listed_uploads(s3store *s, const char *key)
{
	for (size_t i = 0; i < s->nups; i++) {
		char *id = NULL;

		pthread_mutex_lock(&s->mu);
		if (s->up_keys[i] && strcmp(s->up_keys[i], key) == 0) {
			id = s->up_ids[i];
			s->up_ids[i] = NULL;
			free(s->up_keys[i]);
			s->up_keys[i] = NULL;
		}
		pthread_mutex_unlock(&s->mu);
		if (id)
			abort_upload(s, key, id);
		free(id);
	}
}

/* key with XML's five special characters escaped, to f. */
static void xml_escaped(FILE *f, const char *key)
{
	for (const char *c = key; *c; c++)
		switch (*c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*c, f);
		}
}

/* One DeleteObjects request for keys[0..n), n <= DELETE_BATCH. */
static ckptio_status delete_batch(s3store *s, const char *const *keys,
				  size_t n)
{
	req *r = req_new(s, OP_DELETES, "POST", NULL);
	char *xml = NULL, md5b64[25], bad[S3XML_MAX_KEY + 1], err[300];
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned md5len = 0;
	size_t xlen = 0;
	s3_error_info e;
	FILE *f;
	ckptio_status st;
	int nerr;

	if (!r || req_q(r, "delete", NULL) != 0 ||
	    !(f = open_memstream(&xml, &xlen))) {
		req_free(r);
		return oom(s);
	}
	fputs("<Delete><Quiet>true</Quiet>", f);
	for (size_t i = 0; i < n; i++) {
		fputs("<Object><Key>", f);
		fputs(s->prefix, f);
		xml_escaped(f, keys[i]);
		fputs("</Key></Object>", f);
	}
	fputs("</Delete>", f);
	if (fclose(f) != 0 || xml_body(r, xml, xlen) != 0) {
		free(xml);
		req_free(r);
		return oom(s);
	}
	/* S3 requires an integrity header on DeleteObjects. */
	EVP_Digest(xml, xlen, md5, &md5len, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)md5b64, md5, (int)md5len);
	if (req_h(r, "content-md5", md5b64) != 0) {
		free(xml);
		req_free(r);
		return oom(s);
	}
	st = run(s, r);
	if (st != CKPTIO_OK) {
		fail_req(s, r);
	} else if ((nerr = s3xml_delete_result(r->resp, r->resp_len, bad,
					       sizeof(bad), &e, err,
					       sizeof(err))) < 0) {
		st = s->base.host->error(s->base.hc, CKPTIO_EIO, "s3://%s/%s: %s",
					 s->bucket, s->prefix, err);
	} else if (nerr > 0) {
		st = s->base.host->error(
			s->base.hc, strcmp(e.code, "AccessDenied") == 0
					    ? CKPTIO_EAUTH : CKPTIO_EIO,
			"s3://%s/%.400s: DeleteObjects: %s: %.200s (%d of %zu "
			"keys not deleted)", s->bucket, bad, e.code, e.message,
			nerr, n);
	}
	free(xml);
	req_free(r);
	return st;
}

static ckptio_status s3_remove_many(ckptio_store *st, const char *const *keys,
				    size_t n)
{
	s3store *s = (s3store *)st;
	ckptio_status rc = CKPTIO_OK;

	for (size_t i = 0; i < n; i++)
		if ((rc = check_key(s, keys[i])) != CKPTIO_OK)
			return rc;
	for (size_t i = 0; i < n && rc == CKPTIO_OK; i += DELETE_BATCH)
		rc = delete_batch(s, keys + i,
				  n - i < DELETE_BATCH ? n - i : DELETE_BATCH);
	for (size_t i = 0; i < n && s->nups; i++)
		abort_listed_uploads(s, keys[i]);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* open and close                                                           */

static const struct ckptio_store_ops s3_ops;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Option key as a malloc'd string, or NULL (unset, or out of memory: *oom). */
static char *opt_dup(s3store *s, const char *key, int *oom_flag)
{
	const char *v = s->base.host->config_get(s->base.hc, key);
	char *d;

	if (!v || !*v)
		return NULL;
	d = strdup(v);
	if (!d)
		*oom_flag = 1;
	return d;
}

/* "s3://bucket/prefix" (root) or the bucket and prefix options. */
static ckptio_status where(s3store *s, const char *root, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	char *prefix = NULL;
	size_t len;

	if (root && *root) {
		const char *b, *slash;

		if (strncmp(root, "s3://", 5) != 0)
			return h->error(s->base.hc, CKPTIO_ECONFIG,
					"%s: an S3 root is s3://BUCKET[/PREFIX]",
					root);
		b = root + 5;
		slash = strchr(b, '/');
		s->bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
		prefix = strdup(slash ? slash + 1 : "");
		if (!s->bucket || !prefix) {
			free(prefix);
			*oom_flag = 1;
			return CKPTIO_ENOMEM;
		}
	} else {
		s->bucket = opt_dup(s, "bucket", oom_flag);
		prefix = opt_dup(s, "prefix", oom_flag);
		if (!prefix && !*oom_flag)
			prefix = strdup("");
		if (!prefix)
			*oom_flag = 1;
		if (*oom_flag)
			return CKPTIO_ENOMEM;
	}
	if (!s->bucket || !*s->bucket) {
		free(prefix);
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: no bucket: use s3://BUCKET/... or set "
				"`bucket` in the backend");
	}
	/* Bucket names: 3-63 of a-z 0-9 . - (older buckets may have capitals
	 * and underscores, so only what would break a URL is refused). */
	if (strlen(s->bucket) > 255 ||
	    strspn(s->bucket, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789.-_") != strlen(s->bucket)) {
		free(prefix);
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: invalid bucket name '%.100s'", s->bucket);
	}
	/* The prefix as a directory: "a/b/" or "". */
	while (*prefix == '/')
		memmove(prefix, prefix + 1, strlen(prefix));
	len = strlen(prefix);
	while (len && prefix[len - 1] == '/')
		prefix[--len] = '\0';
	if (len && !key_valid(&(s3store){.prefix = ""}, prefix)) {
		ckptio_status st = h->error(s->base.hc, CKPTIO_ECONFIG,
					    "s3://%s/%.300s: invalid prefix "
					    "(empty, '.' or '..' component)",
					    s->bucket, prefix);
		free(prefix);
		return st;
	}
	s->prefix = len ? xasprintf("%s/", prefix) : strdup("");
	free(prefix);
	if (!s->prefix)
		*oom_flag = 1;
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

/* Keys, region and endpoint: backend options first, then the environment
 * and ~/.aws (awsconf.c). */
static ckptio_status who(s3store *s, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	s3_aws_profile prof = {0};
	char err[512];
	const char *profile = h->config_get(s->base.hc, "profile");
	int have_keys;

	s->ak = opt_dup(s, "access_key_id", oom_flag);
	s->sk = opt_dup(s, "secret_access_key", oom_flag);
	s->token = opt_dup(s, "session_token", oom_flag);
	s->region = opt_dup(s, "region", oom_flag);
	s->endpoint = opt_dup(s, "endpoint", oom_flag);
	if (*oom_flag)
		return CKPTIO_ENOMEM;
	if (!!s->ak != !!s->sk)
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: set both access_key_id and "
				"secret_access_key, or neither (to take keys "
				"from the environment or ~/.aws)");
	have_keys = s->ak != NULL;
	if (have_keys)
		snprintf(s->cred_source, sizeof(s->cred_source),
			 "the ckptio configuration");
	if (s3_aws_load(profile && *profile ? profile : NULL, NULL, &prof, err,
			sizeof(err)) != 0) {
		if (!have_keys)
			return h->error(s->base.hc, CKPTIO_ECONFIG, "s3: %s",
					err);
		h->log(s->base.hc, CKPTIO_LOG_WARN, "s3: ignoring %s", err);
	} else if (!have_keys && prof.access_key) {
		s->ak = prof.access_key;
		s->sk = prof.secret_key;
		s->token = prof.session_token;
		prof.access_key = prof.secret_key = prof.session_token = NULL;
		snprintf(s->cred_source, sizeof(s->cred_source), "%s",
			 prof.cred_source);
	}
	if (!s->region && prof.region) {
		s->region = prof.region;
		prof.region = NULL;
	}
	if (!s->endpoint && prof.endpoint_url) {
		s->endpoint = prof.endpoint_url;
		prof.endpoint_url = NULL;
	}
	s3_aws_free(&prof);
	if (!s->region && !(s->region = strdup("us-east-1")))
		*oom_flag = 1;
	if (!s->ak) {
		snprintf(s->cred_source, sizeof(s->cred_source),
			 "nowhere: no keys in the backend, the environment or "
			 "~/.aws, so requests are not signed");
		h->log(s->base.hc, CKPTIO_LOG_INFO, "s3: no credentials found; "
		       "sending anonymous requests");
	}
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

/* scheme://host[:port] of the endpoint, and the addressing style. */
static ckptio_status endpoint_setup(s3store *s, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	static const char *const styles[] = {"auto", "path", "virtual", NULL};
	unsigned style = 0;
	char *hostport, *scheme;
	const char *rest;
	size_t len;
	ckptio_status st;

	if (!s->endpoint &&
	    !(s->endpoint = xasprintf("https://s3.%s.amazonaws.com", s->region))) {
		*oom_flag = 1;
		return CKPTIO_ENOMEM;
	}
	len = strlen(s->endpoint);
	while (len && s->endpoint[len - 1] == '/')
		s->endpoint[--len] = '\0';
	if (strncmp(s->endpoint, "http://", 7) == 0)
		rest = s->endpoint + 7;
	else if (strncmp(s->endpoint, "https://", 8) == 0)
		rest = s->endpoint + 8;
	else
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: endpoint '%.200s' must start with http:// "
				"or https://", s->endpoint);
	if (!*rest || strpbrk(rest, "/?#@ ") != NULL)
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: endpoint '%.200s' must be scheme://HOST"
				"[:PORT], without a path", s->endpoint);
	st = h->config_enum(s->base.hc, "addressing", styles, 0, &style);
	if (st != CKPTIO_OK)
		return st;
	scheme = strndup(s->endpoint, (size_t)(rest - s->endpoint));
	hostport = strdup(rest);
	if (!scheme || !hostport) {
		free(scheme);
		free(hostport);
		*oom_flag = 1;
		return CKPTIO_ENOMEM;
	}
	/* curl leaves default ports out of Host, and so must the signature. */
	len = strlen(hostport);
	if ((strcmp(scheme, "http://") == 0 && len > 3 &&
	     strcmp(hostport + len - 3, ":80") == 0) ||
	    (strcmp(scheme, "https://") == 0 && len > 4 &&
	     strcmp(hostport + len - 4, ":443") == 0))
		*strrchr(hostport, ':') = '\0';
	if (style == 0) /* auto: virtual on AWS for DNS-safe names */
		style = strstr(hostport, "amazonaws.com") &&
				strspn(s->bucket, "abcdefghijklmnopqrstuvwxyz"
						  "0123456789-") ==
					strlen(s->bucket)
			? 2 : 1;
	s->virtual_host = style == 2;
	if (s->virtual_host) {
		s->host = xasprintf("%s.%s", s->bucket, hostport);
		s->scheme_host = s->host ? xasprintf("%s%s", scheme, s->host)
					 : NULL;
	} else {
		s->host = strdup(hostport);
		s->scheme_host = xasprintf("%s%s", scheme, hostport);
	}
	free(scheme);
	free(hostport);
	if (!s->host || !s->scheme_host)
		*oom_flag = 1;
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

static ckptio_status tuning(s3store *s, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	static const char *const sums[] = {"crc32c", "none", NULL};
	uint64_t v;
	unsigned sum = 0;
	ckptio_status st;
	const char *ca;

	if ((st = h->config_size(s->base.hc, "part_size", 16ull << 20,
				 &s->part_size)) != CKPTIO_OK)
		return st;
	if (s->part_size < MIN_PART || s->part_size > MAX_PART)
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: part_size %" PRIu64 " is outside S3's "
				"limits, 5MiB to 5GiB", s->part_size);
	if ((st = h->config_uint(s->base.hc, "concurrency", 16, 1, 256, &v)) !=
	    CKPTIO_OK)
		return st;
	s->concurrency = (unsigned)v;
	if ((st = h->config_uint(s->base.hc, "retries", 8, 0, 30, &v)) !=
	    CKPTIO_OK)
		return st;
	s->max_retries = (unsigned)v;
	if ((st = h->config_uint(s->base.hc, "list_page", 1000, 1, 1000, &v)) !=
	    CKPTIO_OK)
		return st;
	s->list_page = (unsigned)v;
	if ((st = h->config_uint(s->base.hc, "connect_timeout", 10, 1, 600,
				 &v)) != CKPTIO_OK)
		return st;
	s->connect_timeout = (long)v;
	if ((st = h->config_uint(s->base.hc, "stall_timeout", 60, 1, 3600,
				 &v)) != CKPTIO_OK)
		return st;
	s->stall_timeout = (long)v;
	if ((st = h->config_enum(s->base.hc, "checksum", sums, 0, &sum)) !=
	    CKPTIO_OK)
		return st;
	s->checksum = sum == 0;
	if ((st = h->config_bool(s->base.hc, "sign_payload", 0,
				 &s->sign_payload)) != CKPTIO_OK ||
	    (st = h->config_bool(s->base.hc, "verify_tls", 1,
				 &s->verify_tls)) != CKPTIO_OK ||
	    (st = h->config_bool(s->base.hc, "conditional_put", 1,
				 &s->conditional_put)) != CKPTIO_OK)
		return st;
	s->ca_file = opt_dup(s, "ca_file", oom_flag);
	ca = getenv("AWS_CA_BUNDLE");
	if (!s->ca_file && !*oom_flag && ca && *ca && !(s->ca_file = strdup(ca)))
		*oom_flag = 1;
	/* Staging for data that is not stable: a part per connection. */
	s->max_staged = s->concurrency + 1;
	s->free_bufs = calloc(s->max_staged, sizeof(*s->free_bufs));
	if (!s->free_bufs)
		*oom_flag = 1;
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

static void s3_close(ckptio_store *st);

static ckptio_status s3_open(const ckptio_host *host, ckptio_host_ctx *hc,
			     const char *root, int create, ckptio_store **out)
{
	s3store *s = calloc(1, sizeof(*s));
	const char *faults = getenv("CKPTIO_S3_FAULTS");
	int oom_flag = 0;
	ckptio_status st;

	(void)create; /* buckets are not created here: `aws s3 mb` does it */
	if (!s)
		return host->error(hc, CKPTIO_ENOMEM, "out of memory");
	s->base.ops = &s3_ops;
	s->base.host = host;
	s->base.hc = hc;
	pthread_mutex_init(&s->mu, NULL);
	s->ready_tail = &s->ready;
	pthread_cond_init(&s->cv, NULL);
	st = where(s, root, &oom_flag);
	if (st == CKPTIO_OK)
		st = who(s, &oom_flag);
	if (st == CKPTIO_OK)
		st = endpoint_setup(s, &oom_flag);
	if (st == CKPTIO_OK)
		st = tuning(s, &oom_flag);
	if (st == CKPTIO_OK && faults && *faults && fault_parse(s, faults) != 0)
		st = host->error(hc, CKPTIO_ECONFIG,
				 "CKPTIO_S3_FAULTS: expected OP:N[-M]:KIND,... "
				 "(at most 16, N <= M) "
				 "(OP: put create part complete abort get head "
				 "list uploads delete deletes; KIND: 500 503 429 403 "
				 "reset short)");
	if (st == CKPTIO_OK) {
		pthread_once(&curl_once, curl_init);
		if (curl_init_rc != CURLE_OK || !(s->multi = curl_multi_init()))
			st = host->error(hc, CKPTIO_ENOMEM, "s3: cannot "
					 "initialise libcurl");
	}
	if (st == CKPTIO_OK) {
		curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				  (long)s->concurrency);
		curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
				  (long)s->concurrency);
		curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS,
				  (long)s->concurrency);
		if (pthread_create(&s->thread, NULL, io_thread, s) != 0)
			st = host->error(hc, CKPTIO_ENOMEM,
					 "s3: cannot start the I/O thread");
		else
			s->thread_started = 1;
	}
	if (oom_flag && st == CKPTIO_ENOMEM)
		host->error(hc, CKPTIO_ENOMEM, "out of memory");
	if (st != CKPTIO_OK) {
		s3_close(&s->base);
		return st;
	}
	host->log(hc, CKPTIO_LOG_DEBUG,
		  "s3: %s bucket %s prefix '%s' (%s addressing), region %s, "
		  "keys from %s, part_size %" PRIu64 ", concurrency %u",
		  s->endpoint, s->bucket, s->prefix,
		  s->virtual_host ? "virtual-host" : "path", s->region,
		  s->cred_source, s->part_size, s->concurrency);
	*out = &s->base;
	return CKPTIO_OK;
}

static void s3_close(ckptio_store *st)
{
	s3store *s = (s3store *)st;

	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_mutex_unlock(&s->mu);
		curl_multi_wakeup(s->multi);
		pthread_join(s->thread, NULL);
		s->base.host->log(s->base.hc, CKPTIO_LOG_DEBUG,
				  "s3: %lu requests, %lu retried",
				  s->requests, s->retried);
	}
	if (s->multi)
		curl_multi_cleanup(s->multi);
	for (unsigned i = 0; i < s->nfree; i++)
		free(s->free_bufs[i]);
	free(s->free_bufs);
	for (size_t i = 0; i < s->nups; i++) {
		free(s->up_keys[i]);
		free(s->up_ids[i]);
	}
	free(s->up_keys);
	free(s->up_ids);
	free(s->endpoint);
	free(s->scheme_host);
	free(s->host);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->ak);
	if (s->sk)
		explicit_bzero(s->sk, strlen(s->sk));
	free(s->sk);
	free(s->token);
	free(s->ca_file);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* Without conditional_put no PUT carries If-None-Match: *, so this store
 * cannot refuse to replace an object. */
static uint64_t s3_instance_caps(ckptio_store *st)
{
	const s3store *s = (const s3store *)st;

	return st->ops->caps &
	       ~(s->conditional_put ? 0 : CKPTIO_STORE_CAP_IF_ABSENT);
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

static const struct ckptio_store_ops s3_ops = {
	.struct_size = sizeof(struct ckptio_store_ops),
	.caps = CKPTIO_STORE_CAP_WRITE | CKPTIO_STORE_CAP_READ |
		CKPTIO_STORE_CAP_RANGE | CKPTIO_STORE_CAP_LIST |
		CKPTIO_STORE_CAP_DELETE | CKPTIO_STORE_CAP_ATOMIC_PUT |
		CKPTIO_STORE_CAP_IF_ABSENT,
	.open = s3_open,
	.close = s3_close,
	.put_open = s3_put_open,
	.put_write = s3_put_write,
	.put_commit = s3_put_commit,
	.put_abort = s3_put_abort,
	.read = s3_read,
	.stat = s3_stat,
	.list = s3_list,
	.remove = s3_remove,
	.remove_many = s3_remove_many,
	.instance_caps = s3_instance_caps,
};

static const char *const s3_options[] = {
	"endpoint", "region", "bucket", "prefix", "addressing",
	"access_key_id", "secret_access_key", "session_token", "profile",
	"part_size", "concurrency", "retries", "connect_timeout",
	"stall_timeout", "checksum", "sign_payload", "verify_tls", "ca_file",
	"conditional_put", "list_page", NULL};
static const char *const s3_secrets[] = {"secret_access_key", "session_token",
					 NULL};
static const char *const s3_schemes[] = {"s3", NULL};

static const ckptio_plugin s3_plugin = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_STORE,
	.name = "s3",
	.description = "AWS S3 and S3-compatible object stores (SigV4, "
		       "parallel multipart upload and ranged GETs)",
	.options = s3_options,
	.schemes = s3_schemes,
	.secret_options = s3_secrets,
	.store = &s3_ops,
};

CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void)
{
	return &s3_plugin;
}
