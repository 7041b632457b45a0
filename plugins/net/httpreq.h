/*
 * httpreq.h - the request layer of the stores that speak HTTP (s3 and
 * http): a small internal library linked into each of
 * those plugins, never installed, its symbols hidden in each .so.
 *
 * A client runs one I/O thread that drives a libcurl multi handle with at
 * most `concurrency` transfers and connections at once (kept alive and
 * reused); other threads submit requests and wait for them.  A request
 * sends its body from segments of the caller's memory and receives a
 * successful answer straight into the caller's segments (a ranged GET)
 * or into a growing buffer (an XML or JSON answer).  Each attempt is
 * classified (curl error, HTTP status, a body that ended early or ran
 * long) into a ckptio status and a message; what may pass is retried up
 * to `retries` times after a backoff with jitter.  Tests inject faults
 * through a table read from an environment variable that each store names
 * (CKPTIO_S3_FAULTS), consulted before each attempt.
 *
 * What a store provides to use it (httpreq_config):
 *  - hooks.prepare: the URL and header lines of one attempt, called on
 *    the I/O thread before every attempt, so that a signature carries the
 *    attempt's own time (the S3 store signs with SigV4 there).  A store
 *    without signing writes the URL and the request's headers.
 *  - hooks.target: what a request is about, for messages ("s3://b/key").
 *    The library itself never puts a URL or a header (where signatures,
 *    tokens and passwords travel) in a message or a log line; a store
 *    that names objects by URL passes them through httpreq_redact_url,
 *    so that no password or signed query leaks.
 *  - optionally hooks.error_detail (reads an error body, such as S3's
 *    <Error><Code>) and hooks.error_verdict (amends the status, message
 *    or retry decision of an error answer: S3 retries a 400 SlowDown).
 *  - its ops: one entry per kind of request, with the name that the
 *    fault table uses and the name that messages use.
 *  - the options read by httpreq_options_read (concurrency, retries,
 *    connect_timeout, stall_timeout, verify_tls, ca_file), which the
 *    plugin lists in its `options`.
 *  - the host table and context, for logging and errors.
 *
 * Ownership: the caller allocates each request (usually inside its own
 * struct, the httpreq first), fills it and hands it to httpreq_submit or
 * httpreq_run; from then until it is done the request belongs to the I/O
 * thread.  httpreq_release frees what the library allocated and the body
 * and dst segment arrays (not the bytes they point to), never the
 * request itself.  Strings in the config must outlive the client.
 *
 * Thread safety: any thread may submit, run and wait; the hooks and the
 * done callbacks run on the I/O thread.  The client's lock (httpreq_lock)
 * may be shared by the store for its own state that done callbacks touch.
 *
 * Return codes: functions returning ckptio_status record the detail on
 * the config's hc; those returning int give 0, or -1 when out of memory
 * (or past a stated limit).  A request's own outcome is r->st and r->msg.
 *
 * What the layer does for every store: a ranged GET that broke after some
 * bytes is resumed from the byte where it stopped (only when the object's
 * ETag, or its Last-Modified, is the same in the new answer); a 2xx
 * answer to a ranged GET that is not 206 (a server that ignores Range)
 * is refused unless it is exactly the range; a 429 or 503 with a
 * Retry-After waits that long (at most HTTPREQ_MAX_RETRY_AFTER seconds,
 * else fails at once); redirects are followed when the options allow
 * (max_redirects), to http and https only, and curl drops the
 * Authorization and Cookie headers when the host changes.
 *
 * Direct reads (httpdirect.c, option direct_reads, on by default): a
 * ranged GET into dst goes on an HTTP/1.1 connection that libcurl made
 * (CURLOPT_CONNECT_ONLY) and the layer speaks on itself, its body
 * received by curl_easy_recv straight into the segments, with no copy
 * out of a libcurl buffer.  An answer it does not read plainly (a
 * redirect, a chunked body) goes back to a libcurl transfer for the same
 * attempt; everything above (retries, resume, versions, faults) is the
 * same on both paths.
 */
#ifndef CKPTIO_NET_HTTPREQ_H
#define CKPTIO_NET_HTTPREQ_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ckptio/plugin.h"

#define HTTPREQ_MAX_HEADERS 4  /* headers a request adds */
#define HTTPREQ_MAX_OPS 16     /* kinds of request of one store */
#define HTTPREQ_MAX_FAULTS 16  /* rules in a fault table */
#define HTTPREQ_MAX_ERROR_BODY (64u << 10) /* error bodies kept */
#define HTTPREQ_MAX_RETRY_AFTER 120 /* seconds a Retry-After may ask */

typedef struct httpreq_client httpreq_client;
typedef struct httpreq httpreq;

/* A piece of a request body or of an answer's destination.  buf NULL in a
 * destination: bytes to skip (the gap between two coalesced ranges). */
typedef struct httpreq_seg {
	unsigned char *buf;
	uint64_t len;
} httpreq_seg;

/* Requests a thread waits for together.  Zero it before use; one thread
 * at a time may wait on a group (httpreq_wait). */
typedef struct httpreq_group {
	unsigned pending;
	/* Set before submitting: once a request of the group has failed,
	 * those not started yet finish at once with CKPTIO_ECANCELED (a
	 * read that cannot succeed does not fetch the rest).  A caller
	 * reports the first error that is not CKPTIO_ECANCELED. */
	int fail_fast;
	int failed;   /* the library's: a request of the group failed */
	/* The library's own: the waiting thread's condition, and how few
	 * pending requests it waits for.  A finished request wakes only the
	 * waiter of its own group, and only once that many are left. */
	pthread_cond_t *waiter;
	unsigned upto;
} httpreq_group;

/* ------------------------------------------------------------------------ */
/* Fault table (tests only)                                                 */

/* "OP:N[-M]:KIND,...": requests N to M (1-based, counted per client and
 * op) of OP get KIND: 500, 503, 429, 403, reset (the connection drops
 * mid-transfer) or short (the body ends early).  The status faults answer
 * without reaching the server (with the store's fault_body), the others
 * cut a real transfer short; either way the answer goes through the same
 * classification and retry code as a real one. */
typedef enum httpreq_fault_kind {
	HTTPREQ_F_NONE, HTTPREQ_F_500, HTTPREQ_F_503, HTTPREQ_F_429,
	HTTPREQ_F_RESET, HTTPREQ_F_SHORT, HTTPREQ_F_403, HTTPREQ_NFAULTS
} httpreq_fault_kind;

typedef struct httpreq_faults {
	struct {
		unsigned op;
		unsigned long first, last;
		httpreq_fault_kind kind;
	} rule[HTTPREQ_MAX_FAULTS];
	size_t n;
	unsigned long count[HTTPREQ_MAX_OPS]; /* requests seen per op */
} httpreq_faults;

/* A kind of request: its name in a fault rule ("part") and in messages
 * ("UploadPart"). */
typedef struct httpreq_op {
	const char *name;
	const char *what;
} httpreq_op;

/* Parse spec into t (zeroed first) with the op names ops[0..nops).
 * 0, or -1: malformed, more than HTTPREQ_MAX_FAULTS rules, M < N, an
 * unknown op or kind, or out of memory. */
int httpreq_faults_parse(httpreq_faults *t, const char *spec,
			 const httpreq_op *ops, unsigned nops);

/* Count one more request of op and return its fault (HTTPREQ_F_NONE). */
httpreq_fault_kind httpreq_faults_next(httpreq_faults *t, unsigned op);

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

struct httpreq {
	/* Set by httpreq_init. */
	httpreq_client *c;
	unsigned op;            /* index into the config's ops */
	const char *method;     /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	/* Set by the caller before submitting. */
	char *hname[HTTPREQ_MAX_HEADERS], *hval[HTTPREQ_MAX_HEADERS];
	size_t nh;              /* headers added by httpreq_header */
	httpreq_seg *body;      /* malloc'd array; NULL: no body */
	size_t nbody;
	uint64_t body_len;      /* sum of the body's segments */
	httpreq_seg *dst;       /* malloc'd array: a 2xx body goes there;
				 * NULL: into resp */
	size_t ndst;
	uint64_t dst_len;       /* sum of dst's segments: exactly expected */
	/* ndst entries, zeroed, or NULL: the CRC32C of the bytes written into
	 * each dst segment, computed as they arrive; dst_crc_bad is set when
	 * a retry dropped bytes they cover (then checksum the buffers). */
	uint32_t *dst_crc;
	int dst_crc_bad;
	uint64_t range_off;     /* the first byte asked for (httpreq_range) */
	/* A streamed body (instead of body segments): called on the I/O
	 * thread for up to n more bytes; returns how many, 0 at the end, or
	 * CURL_READFUNC_PAUSE / CURL_READFUNC_ABORT.  After a pause the
	 * producer calls httpreq_unpause.  body_len: the length when known
	 * (Content-Length), else UINT64_MAX (chunked).  A streamed request
	 * is retried only while none of its body was taken. */
	size_t (*pull)(httpreq *r, char *out, size_t n);
	httpreq_group *grp;     /* pending-- when done, if no done callback */
	void (*done)(httpreq *r); /* on the I/O thread with the client's
				   * lock held, instead of grp->pending--:
				   * it does that (on r->grp, which must
				   * not change), and may free r */
	void *user;
	/* The answer of the last attempt. */
	long status;            /* HTTP status; 0: none */
	CURLcode cc;
	char curl_err[CURL_ERROR_SIZE];
	char *resp;             /* an error body, or a 2xx body without dst,
				 * NUL-terminated */
	size_t resp_len;
	char etag[128];         /* ETag header, quotes kept; "": none */
	char last_modified[64]; /* Last-Modified header; "": none */
	int64_t length;         /* Content-Length of a HEAD, -1: none */
	uint64_t obj_size;      /* size in Content-Range, UINT64_MAX: none */
	int64_t mtime;          /* Last-Modified of a HEAD, 0: none */
	long retry_after;       /* seconds a 429/503 asked for; 0: none */
	unsigned attempt;       /* attempts made, 1 for the first */
	unsigned retries;       /* attempts that were retried */
	/* Done: ok, or the ckptio status and message of the failure. */
	ckptio_status st;
	char msg[1024];
	/* The library's own. */
	uint64_t body_pos, body_seg_off, got, dst_seg_off;
	size_t body_seg, dst_seg, resp_cap;
	int overflow;           /* the answer was bigger than it may be */
	int refused;            /* hooks.accept refused the answer */
	int norange;            /* a 2xx that is not the range asked for */
	int badrange;           /* a 206 for other bytes than asked */
	int crange;             /* Content-Range: 0 none, 1 "bytes A-B/N",
				 * 2 "bytes * /N", -1 unreadable */
	uint64_t crange_first;  /* its A */
	int changed;            /* a resumed answer of another version */
	int range_hdr;          /* index + 1 of the range header; 0: none */
	uint64_t resume_at;     /* bytes of dst kept from earlier attempts */
	char resume_tag[192];   /* the ETag (or Last-Modified) they had */
	long wstatus;           /* HTTP status seen by the write callback */
	httpreq_fault_kind injected;
	uint64_t not_before;    /* monotonic ms; a retry waits for it */
	CURL *easy;
	struct curl_slist *hdrs;
	httpreq *next;
	httpreq *unext;         /* in the client's unpause list */
	int unpause_queued, running;
	int no_direct;          /* libcurl's transfer, not httpdirect.c's */
};

/* Start a request of kind op on c.  r must be zeroed (calloc). */
void httpreq_init(httpreq *r, httpreq_client *c, unsigned op,
		  const char *method);

/* Free what the library and the caller's body/dst arrays hold; r itself
 * stays the caller's. */
void httpreq_release(httpreq *r);

/* Add the header "name: value" (copied).  0, or -1: out of memory or
 * more than HTTPREQ_MAX_HEADERS. */
int httpreq_header(httpreq *r, const char *name, const char *value);

/* Ask for len bytes at off (a "range: bytes=FIRST-LAST" header; a resumed
 * attempt asks for the rest). */
int httpreq_range(httpreq *r, uint64_t off, uint64_t len);

/* For prepare hooks: append the line "name: value" to *l.  0, or -1: out
 * of memory (*l keeps what it had). */
int httpreq_header_line(struct curl_slist **l, const char *name,
			const char *value);

/* A key as the store ABI defines them: 1 to max_len bytes, no empty, "."
 * or ".." component, no leading or trailing '/'.  1 valid, 0 not. */
int httpreq_key_valid(const char *key, size_t max_len);

/* A malloc'd formatted string (URLs, keys); NULL: out of memory. */
char *httpreq_asprintf(const char *fmt, ...) CKPTIO_PRINTF(1, 2);

/* url without its user info, query and fragment, into out (truncated to
 * len), for messages about URLs that may carry a password or a signed
 * query string. */
void httpreq_redact_url(const char *url, char *out, size_t len);

/* ------------------------------------------------------------------------ */
/* Clients                                                                  */

typedef struct httpreq_hooks {
	/* The URL (*url, malloc'd; the library frees it) and the header
	 * lines (appended to *hdrs, which the library frees) of one attempt
	 * of r, the request's own headers (r->hname) included.  0, or -1: out
	 * of memory.  Required. */
	int (*prepare)(void *ctx, httpreq *r, char **url,
		       struct curl_slist **hdrs);
	/* What r is about, for messages.  Required. */
	void (*target)(void *ctx, const httpreq *r, char *out, size_t len);
	/* Every error answer (r->status not 2xx; r->resp_len may be 0): a
	 * detail for the message from its body, " CODE: text", or nothing
	 * (out is ""); a store keeps what it reads for its callers.
	 * Optional. */
	void (*error_detail)(void *ctx, httpreq *r, char *out, size_t len);
	/* An error answer, after the library set r->st and r->msg from the
	 * status: amend them, and return whether to retry (retry: the
	 * library's decision).  Optional. */
	int (*error_verdict)(void *ctx, httpreq *r, int retry);
	/* A 2xx answer with a body for dst, before its first byte goes
	 * there (r->etag and r->last_modified are set): 0 to take it, or
	 * nonzero to refuse it, not retried, with r->st and r->msg set (an
	 * object that changed between two requests).  Optional. */
	int (*accept)(void *ctx, httpreq *r);
} httpreq_hooks;

/* The options a store reads with httpreq_options_read. */
typedef struct httpreq_options {
	unsigned concurrency;  /* transfers and connections at once */
	unsigned retries;      /* retries of a failed request */
	long connect_timeout;  /* seconds */
	long stall_timeout;    /* seconds without a byte */
	int verify_tls;
	char *ca_file;         /* malloc'd; NULL: the system's */
	unsigned max_redirects; /* 0: redirects are not followed */
	int direct_reads;      /* ranged GETs straight into dst */
} httpreq_options;

/* Read concurrency (16, 1-256), retries (8, 0-30), connect_timeout (10,
 * 1-600), stall_timeout (60, 1-3600), verify_tls (true), direct_reads
 * (true) and ca_file from the store's options.  On failure the error is recorded on hc (ENOMEM
 * without a message: the caller reports it). */
ckptio_status httpreq_options_read(const ckptio_host *h, ckptio_host_ctx *hc,
				   httpreq_options *o);
void httpreq_options_free(httpreq_options *o);

typedef struct httpreq_config {
	const char *name;         /* "s3": starts the client's messages */
	const char *user_agent;   /* "ckptio-s3/1" */
	const char *faults_env;   /* "CKPTIO_S3_FAULTS" */
	const httpreq_op *ops;    /* nops <= HTTPREQ_MAX_OPS */
	unsigned nops;
	/* The body of an injected status fault, per kind; NULL: none. */
	const char *const *fault_body;
	size_t max_body;          /* most bytes of a 2xx answer into resp */
	httpreq_options opt;      /* ca_file borrowed */
	httpreq_hooks hooks;
	void *ctx;                /* passed to the hooks */
	const ckptio_host *host;
	ckptio_host_ctx *hc;
} httpreq_config;

/* Read the fault table, set up libcurl and start the I/O thread.  On
 * failure the error is recorded on cfg->hc and nothing is left. */
ckptio_status httpreq_client_open(const httpreq_config *cfg,
				  httpreq_client **out);

/* Stop the I/O thread once every submitted request is done, and free c
 * (NULL: nothing). */
void httpreq_client_close(httpreq_client *c);

/* Hand r to the I/O thread (r->grp->pending++ first). */
void httpreq_submit(httpreq *r);

/* A streamed body has more bytes (or has ended, or was aborted) after its
 * pull returned CURL_READFUNC_PAUSE: let the I/O thread go on with it. */
void httpreq_unpause(httpreq *r);

/* Submit r and wait for it; its status (r->st, r->msg). */
ckptio_status httpreq_run(httpreq *r);

/* Wait until at most `upto` requests of g are pending.  Only this
 * thread is woken, and only then: a finished request of another group
 * wakes nobody here. */
void httpreq_wait(httpreq_client *c, httpreq_group *g, unsigned upto);

/* The client's lock, held by done callbacks, and a condition for the
 * store's own state that those callbacks touch (buffers given back): a
 * store guards that state with the lock, and whoever changes it in a way
 * a waiter cares for calls httpreq_broadcast.  The library never
 * broadcasts it itself (a finished request wakes only its group's
 * waiter, above). */
void httpreq_lock(httpreq_client *c);
void httpreq_unlock(httpreq_client *c);
void httpreq_cond_wait(httpreq_client *c); /* lock held */
void httpreq_broadcast(httpreq_client *c); /* lock held */

/* ------------------------------------------------------------------------ */
/* Scatter reads (httpread.c)                                               */

/* What a store gives httpreq_read. */
typedef struct httpreq_reader {
	httpreq_client *c;
	uint64_t max_len;  /* most bytes in one GET */
	void *ctx;         /* passed to the functions below */
	/* A new GET of key (relative, as the store names it), zeroed and
	 * initialised but for its range and destination.  NULL: out of
	 * memory. */
	httpreq *(*get)(void *ctx, const char *key);
	void (*release)(void *ctx, httpreq *r); /* frees what get made */
} httpreq_reader;

/* Fill every range (keys checked by the store): sorted by key and offset,
 * neighbours at most 64 KiB apart joined (the gap is read and dropped),
 * cut into GETs of at most max_len bytes, all submitted at once on a
 * fail-fast group (the client runs `concurrency` at a time), each written
 * straight into the ranges' buffers.  On failure the first real failure,
 * recorded on the client's hc (a 416: "TARGET: bytes X-Y are past the end
 * of the object", CKPTIO_ECORRUPT). */
ckptio_status httpreq_read(const httpreq_reader *rd, const ckptio_range *ranges,
			   size_t n);
/* httpreq_read, and crcs[i] = the CRC32C of range i, computed on each
 * block as libcurl hands it over (the store's read_crc, ABI 1.7); crcs
 * NULL: httpreq_read.  A block dropped by a retry that restarts mid-range
 * makes that range's checksum come from its buffer instead. */
ckptio_status httpreq_read_crc(const httpreq_reader *rd,
			       const ckptio_range *ranges, size_t n,
			       uint32_t *crcs);

/* ------------------------------------------------------------------------ */
/* One version per object (httppin.c)                                       */

/* What a store has seen of one object: its version (ETag, else
 * Last-Modified; NULL: none given yet) and, from a HEAD, its size and
 * time. */
typedef struct httpreq_pin {
	char *key;
	char *tag;
	uint64_t size;
	int64_t mtime;
	int has_size;
} httpreq_pin;

/* The objects' pins of one store, zeroed before use; every call under the
 * client's lock (httpreq_lock). */
typedef struct httpreq_pins {
	httpreq_pin *v;
	size_t cap, n;
} httpreq_pins;

/* key's pin, or NULL: none. */
httpreq_pin *httpreq_pin_find(httpreq_pins *p, const char *key);
/* key's pin, made (empty) when there is none; NULL: out of memory. */
httpreq_pin *httpreq_pin_of(httpreq_pins *p, const char *key);
/* Forget key's version (the store wrote or removed it). */
void httpreq_pin_forget(httpreq_pins *p, const char *key);
void httpreq_pins_free(httpreq_pins *p);
/* r's answer about key against key's pinned version: 0 when it is that
 * version, or the first (then pinned), or the answer names none; else -1
 * with r->st CKPTIO_ECORRUPT and r->msg "SHOWN: changed on the server
 * since it was first read (A, now B): not mixing two versions of it". */
int httpreq_pin_check(httpreq_pins *p, const char *key, httpreq *r,
		      const char *shown);

#endif /* CKPTIO_NET_HTTPREQ_H */
