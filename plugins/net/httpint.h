/*
 * httpint.h - what the files of the request library share and its users
 * do not see: the client's state, and the steps of an attempt that the
 * I/O thread (httpclient.c) calls in the request code (httpreq.c).
 */
#ifndef CKPTIO_NET_HTTPINT_H
#define CKPTIO_NET_HTTPINT_H

#include <pthread.h>

#include "httpreq.h"

struct httpreq_client {
	httpreq_config cfg;
	httpreq_faults faults;
	/* The I/O thread. */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* the store's state (httpreq_cond_wait) */
	CURLM *multi;
	httpreq *inbox;       /* submitted, not yet seen by the I/O thread */
	httpreq *unpause;     /* streamed bodies to go on with (few) */
	/* I/O thread only: requests to start, in order (appended at the
	 * tail), and retries waiting for their backoff (few). */
	httpreq *ready, **ready_tail;
	httpreq *delayed;
	unsigned active;
	int stop;
	/* Ranged GETs on connections of their own (httpdirect.c): ndc slots
	 * (concurrency; none when off), their poll entries, a buffer for
	 * gaps, the requests each step finished (dfin) or handed back to
	 * libcurl (dback), and whether a redirect sent all reads back. */
	struct httpreq_dconn *dc;
	unsigned ndc;
	struct curl_waitfd *dpoll;
	unsigned char *dscratch;
	httpreq *dfin, *dback;
	int direct_off;
	/* Statistics, for the debug log at close. */
	unsigned long requests, retried;
};

/* Forget the previous attempt's answer. */
void httpreq_reset_answer(httpreq *r);

/* Answer r with the status of fault k instead of asking the server. */
void httpreq_inject_status(httpreq *r, httpreq_fault_kind k);

/* The URL (*url, malloc'd) and r->hdrs of one attempt, from the store's
 * prepare hook.  -1: out of memory. */
int httpreq_prepare_request(httpreq *r, char **url);

/* The options of how easy connects, the same for libcurl's transfers and
 * the direct reads' connections: timeout, TLS verification and CA,
 * keepalive, http and https only, no signals. */
void httpreq_conn_options(const httpreq_config *cfg, CURL *easy);

/* One line of an answer's head (n bytes, its line end included or not):
 * a status line forgets the previous answer's, ETag, Last-Modified and
 * the size in Content-Range are kept in r.  libcurl's header callback and
 * the direct reads' parser both feed it. */
void httpreq_answer_header(httpreq *r, const char *p, size_t n);

/* Set up r->easy and r->hdrs for one attempt.  -1: out of memory. */
int httpreq_prepare(httpreq *r);

/* The head of a 2xx answer for dst has come (r->wstatus, r->etag,
 * r->last_modified set; length: its Content-Length, -1 none): 0 to take
 * its body, else -1 with a flag saying why not (norange, changed,
 * refused). */
int httpreq_answer_check(httpreq *r, int64_t length);

/* n more bytes of the answer's body: into dst (a 2xx for dst) or resp.
 * -1: refused (past the range: r->overflow; an injected cut; resp over
 * its limit or out of memory). */
int httpreq_answer_bytes(httpreq *r, const char *p, size_t n);

/* Read what curl knows of the finished attempt (status, HEAD fields). */
void httpreq_collect(httpreq *r, CURLcode cc);

/* Decide what the attempt's answer means: 0 done (r->st set), 1 retry. */
int httpreq_classify(httpreq *r);

/* Before a retry of a ranged GET that received bytes of its object: keep
 * them and ask for the rest next time.  1 when resumed, 0 when the next
 * attempt starts at the same byte as this one did, -1 out of memory. */
int httpreq_resume(httpreq *r);

/* Direct reads (httpdirect.c), all on the I/O thread.  init: the slots,
 * unless the option or a proxy in the environment says no (-1: out of
 * memory); free: close every connection. */
typedef struct httpreq_dconn httpreq_dconn;
int httpreq_direct_init(httpreq_client *c);
void httpreq_direct_free(httpreq_client *c);
/* Start r on a connection of its own: 1 taken, 0 libcurl's (r may now
 * have no_direct set), -1 out of memory. */
int httpreq_direct_take(httpreq_client *c, httpreq *r);
/* libcurl finished connecting easy: 1 when it is a direct connection's
 * (its request goes on, or is in dfin with the error). */
int httpreq_direct_connected(httpreq_client *c, CURL *easy, CURLcode cc);
/* Move what can move on every connection; finished requests go to dfin,
 * those for libcurl to dback.  1: some connection has more to read now
 * (do not wait). */
int httpreq_direct_step(httpreq_client *c);
/* The sockets to wait for, into c->dpoll; how many. */
size_t httpreq_direct_fds(httpreq_client *c);

#endif /* CKPTIO_NET_HTTPINT_H */
