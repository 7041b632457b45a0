/*
 * httpclient.c - the client of the request layer: its options, its I/O
 * thread and the queues that feed it, the retry policy, and the waiting
 * of the threads that submit requests (httpreq.h).
 *
 * One I/O thread per client drives a curl multi handle with at most
 * `concurrency` transfers (and connections) at once.  Submitted requests
 * go to an inbox under the lock; the I/O thread moves them to its ready
 * list in submission order, starts what the connection limit allows and
 * classifies each finished attempt: done, or retried after a backoff on a
 * short list of delayed requests.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "httpint.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

/* r is done: one less pending in its group, and the group's waiter woken
 * when that is what it waits for.  The group outlives this: its waiter
 * cannot return before we let go of the lock. */
static void req_finish(httpreq_client *c, httpreq *r)
{
	httpreq_group *g = r->grp; /* done may free r */

	pthread_mutex_lock(&c->mu);
	if (g && r->st != CKPTIO_OK)
		g->failed = 1;
	if (r->unpause_queued) { /* never left behind in the list */
		httpreq **pp = &c->unpause;

		while (*pp != r)
			pp = &(*pp)->unext;
		*pp = r->unext;
		r->unpause_queued = 0;
	}
	if (r->done)
		r->done(r); /* with c->mu held; it does g->pending-- */
	else if (g)
		g->pending--;
	if (g && g->waiter && g->pending <= g->upto)
		pthread_cond_signal(g->waiter);
	pthread_mutex_unlock(&c->mu);
}

/* Start r, or answer it at once (an injected status, out of memory).
 * Returns 1 when started. */
static int req_start(httpreq_client *c, httpreq *r)
{
	httpreq_fault_kind k;

	httpreq_reset_answer(r);
	r->attempt++;
	c->requests++;
	k = httpreq_faults_next(&c->faults, r->op);
	r->injected = k;
	if (k == HTTPREQ_F_500 || k == HTTPREQ_F_503 || k == HTTPREQ_F_429 ||
	    k == HTTPREQ_F_403) {
		httpreq_inject_status(r, k);
		return 0;
	}
	switch (httpreq_direct_take(c, r)) {
	case 1:
		c->active++;
		r->running = 1;
		return 1;
	case -1:
		r->cc = CURLE_OUT_OF_MEMORY;
		return 0;
	}
	if (httpreq_prepare(r) != 0 ||
	    curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
		r->cc = CURLE_OUT_OF_MEMORY;
		return 0;
	}
	c->active++;
	r->running = 1;
	return 1;
}

/* After an attempt: retry it later or finish it. */
static void req_after(httpreq_client *c, httpreq *r)
{
	const httpreq_config *cfg = &c->cfg;
	int retry = httpreq_classify(r);

	/* A stream cannot be sent again once the server took some of it. */
	if (retry && r->pull && r->body_pos > 0) {
		snprintf(r->msg + strlen(r->msg), sizeof(r->msg) - strlen(r->msg),
			 " (a streamed upload cannot be retried)");
		retry = 0;
	}
	if (retry && r->retry_after > HTTPREQ_MAX_RETRY_AFTER &&
	    (r->status == 429 || r->status == 503)) {
		snprintf(r->msg + strlen(r->msg), sizeof(r->msg) - strlen(r->msg),
			 " (Retry-After: %ld s, more than the %d s this client "
			 "waits)", r->retry_after, HTTPREQ_MAX_RETRY_AFTER);
		retry = 0;
	}
	if (retry && r->attempt <= cfg->opt.retries) {
		uint64_t wait = backoff_ms(r->attempt);
		int resumed = httpreq_resume(r);
		char also[96] = "";

		if (resumed < 0) { /* out of memory: as it was */
			r->st = CKPTIO_ENOMEM;
			req_finish(c, r);
			return;
		}
		if (r->retry_after > 0 && (r->status == 429 || r->status == 503) &&
		    (uint64_t)r->retry_after * 1000 > wait) {
			wait = (uint64_t)r->retry_after * 1000;
			snprintf(also, sizeof(also), " (Retry-After)");
		}
		if (r->resume_at)
			snprintf(also + strlen(also), sizeof(also) - strlen(also),
				 ", from byte %" PRIu64 " of %" PRIu64,
				 r->resume_at, r->dst_len);
		/* A blip is news for -v; a run of failures is for everyone. */
		cfg->host->log(cfg->hc, r->attempt >= 3 ? CKPTIO_LOG_WARN
							: CKPTIO_LOG_INFO,
			       "%s; retry %u of %u in %" PRIu64 " ms%s", r->msg,
			       r->attempt, cfg->opt.retries, wait, also);
		r->retries++;
		c->retried++;
		r->not_before = now_ms() + wait;
		r->next = c->delayed;
		c->delayed = r;
		return;
	}
	if (r->st != CKPTIO_OK && r->attempt > 1)
		snprintf(r->msg + strlen(r->msg),
			 sizeof(r->msg) - strlen(r->msg), " (after %u attempts)",
			 r->attempt);
	req_finish(c, r);
}

/* Start what may start: retries whose backoff is over (first: they are
 * the oldest), then ready requests in order, while there are free
 * connections.  *next_wake: when the next retry is due.  Constant work per
 * request started; only the (few) delayed retries are scanned. */
static void start_waiting(httpreq_client *c, uint64_t *next_wake)
{
	uint64_t now = now_ms();
	httpreq **pp = &c->delayed;

	while (*pp) {
		httpreq *r = *pp;

		if (r->not_before > now) {
			if (r->not_before < *next_wake)
				*next_wake = r->not_before;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = c->ready;
		c->ready = r;
		if (c->ready_tail == &c->ready)
			c->ready_tail = &r->next;
	}
	while (c->ready && c->active < c->cfg.opt.concurrency) {
		httpreq *r = c->ready;

		c->ready = r->next;
		if (!c->ready)
			c->ready_tail = &c->ready;
		if (r->grp && r->grp->fail_fast && r->grp->failed) {
			/* (failed is written on this thread, under the lock) */
			r->st = CKPTIO_ECANCELED;
			snprintf(r->msg, sizeof(r->msg), "canceled: another "
				 "request of the same operation failed");
			req_finish(c, r);
			continue;
		}
		if (!req_start(c, r))
			req_after(c, r);
	}
}

static void collect_done(httpreq_client *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		httpreq *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		if (httpreq_direct_connected(c, m->easy_handle,
					     m->data.result))
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&r);
		httpreq_collect(r, m->data.result);
		curl_multi_remove_handle(c->multi, r->easy);
		c->active--;
		r->running = 0;
		req_after(c, r);
	}
}

/* What the direct reads' step finished, and what it handed back to
 * libcurl (the same attempt, asked again through a curl transfer). */
static void collect_direct(httpreq_client *c)
{
	while (c->dback) {
		httpreq *r = c->dback;

		c->dback = r->next;
		httpreq_reset_answer(r);
		if (httpreq_prepare(r) == 0 &&
		    curl_multi_add_handle(c->multi, r->easy) == CURLM_OK)
			continue; /* still active and running */
		r->cc = CURLE_OUT_OF_MEMORY;
		r->next = c->dfin;
		c->dfin = r;
	}
	while (c->dfin) {
		httpreq *r = c->dfin;

		c->dfin = r->next;
		c->active--;
		r->running = 0;
		req_after(c, r);
	}
}

/* Move the inbox to the end of the ready list, in submission order. */
static int take_inbox(httpreq_client *c)
{
	httpreq *in, *rev = NULL;
	int stop;

	/* Streamed bodies with more to send, one at a time off the list.
	 * curl_easy_pause runs outside the lock: curl may call the body's
	 * pull, which takes it.  None can finish (and be freed by its owner)
	 * meanwhile: requests finish on this thread. */
	for (;;) {
		httpreq *r;

		pthread_mutex_lock(&c->mu);
		if ((r = c->unpause)) {
			c->unpause = r->unext;
			r->unpause_queued = 0;
		}
		pthread_mutex_unlock(&c->mu);
		if (!r)
			break;
		if (r->running)
			curl_easy_pause(r->easy, CURLPAUSE_CONT);
	}
	pthread_mutex_lock(&c->mu);
	in = c->inbox;
	c->inbox = NULL;
	stop = c->stop;
	pthread_mutex_unlock(&c->mu);
	while (in) { /* the inbox is last-in first */
		httpreq *n = in->next;

		in->next = rev;
		rev = in;
		in = n;
	}
	for (; rev; rev = rev->next) {
		*c->ready_tail = rev;
		c->ready_tail = &rev->next;
	}
	*c->ready_tail = NULL;
	return stop;
}

static void *io_thread(void *arg)
{
	httpreq_client *c = arg;

	for (;;) {
		uint64_t wake = UINT64_MAX, now;
		int running = 0, timeout = 1000, more = 0;
		size_t nfd = 0;

		if (take_inbox(c) && !c->ready && !c->delayed && c->active == 0)
			break;
		start_waiting(c, &wake);
		curl_multi_perform(c->multi, &running);
		collect_done(c);
		if (c->dc) {
			more = httpreq_direct_step(c);
			collect_direct(c);
		}
		start_waiting(c, &wake);
		now = now_ms();
		if (wake != UINT64_MAX)
			timeout = wake <= now ? 0 : wake - now < 1000
							    ? (int)(wake - now)
							    : 1000;
		if (c->dc)
			nfd = httpreq_direct_fds(c);
		curl_multi_poll(c->multi, c->dpoll, (unsigned)nfd,
				more ? 0 : timeout, NULL);
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Submitting and waiting                                                   */

void httpreq_submit(httpreq *r)
{
	httpreq_client *c = r->c;

	pthread_mutex_lock(&c->mu);
	if (r->grp)
		r->grp->pending++;
	r->next = c->inbox;
	c->inbox = r;
	pthread_mutex_unlock(&c->mu);
	curl_multi_wakeup(c->multi);
}

void httpreq_wait(httpreq_client *c, httpreq_group *g, unsigned upto)
{
	pthread_cond_t cv;

	pthread_mutex_lock(&c->mu);
	if (g->pending > upto) {
		pthread_cond_init(&cv, NULL);
		g->waiter = &cv;
		g->upto = upto;
		while (g->pending > upto)
			pthread_cond_wait(&cv, &c->mu);
		g->waiter = NULL;
		pthread_cond_destroy(&cv);
	}
	pthread_mutex_unlock(&c->mu);
}

void httpreq_unpause(httpreq *r)
{
	httpreq_client *c = r->c;

	pthread_mutex_lock(&c->mu);
	if (!r->unpause_queued) {
		r->unpause_queued = 1;
		r->unext = c->unpause;
		c->unpause = r;
	}
	pthread_mutex_unlock(&c->mu);
	curl_multi_wakeup(c->multi);
}

ckptio_status httpreq_run(httpreq *r)
{
	httpreq_group g = {0};

	r->grp = &g;
	httpreq_submit(r);
	httpreq_wait(r->c, &g, 0);
	return r->st;
}

void httpreq_lock(httpreq_client *c)
{
	pthread_mutex_lock(&c->mu);
}

void httpreq_unlock(httpreq_client *c)
{
	pthread_mutex_unlock(&c->mu);
}

void httpreq_cond_wait(httpreq_client *c)
{
	pthread_cond_wait(&c->cv, &c->mu);
}

void httpreq_broadcast(httpreq_client *c)
{
	pthread_cond_broadcast(&c->cv);
}

/* ------------------------------------------------------------------------ */
/* Options, open and close                                                  */

ckptio_status httpreq_options_read(const ckptio_host *h, ckptio_host_ctx *hc,
				   httpreq_options *o)
{
	const char *ca;
	uint64_t v;
	ckptio_status st;

	if ((st = h->config_uint(hc, "concurrency", 16, 1, 256, &v)) !=
	    CKPTIO_OK)
		return st;
	o->concurrency = (unsigned)v;
	if ((st = h->config_uint(hc, "retries", 8, 0, 30, &v)) != CKPTIO_OK)
		return st;
	o->retries = (unsigned)v;
	if ((st = h->config_uint(hc, "connect_timeout", 10, 1, 600, &v)) !=
	    CKPTIO_OK)
		return st;
	o->connect_timeout = (long)v;
	if ((st = h->config_uint(hc, "stall_timeout", 60, 1, 3600, &v)) !=
	    CKPTIO_OK)
		return st;
	o->stall_timeout = (long)v;
	if ((st = h->config_bool(hc, "verify_tls", 1, &o->verify_tls)) !=
	    CKPTIO_OK)
		return st;
	if ((st = h->config_bool(hc, "direct_reads", 1, &o->direct_reads)) !=
	    CKPTIO_OK)
		return st;
	ca = h->config_get(hc, "ca_file");
	if (ca && *ca && !(o->ca_file = strdup(ca)))
		return CKPTIO_ENOMEM;
	return CKPTIO_OK;
}

void httpreq_options_free(httpreq_options *o)
{
	free(o->ca_file);
	o->ca_file = NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The fault table from the store's variable; its error names the op and
 * kind words, so a test cannot silently run without its faults. */
static ckptio_status faults_setup(httpreq_client *c)
{
	const httpreq_config *cfg = &c->cfg;
	const char *spec = getenv(cfg->faults_env);
	char *words = NULL;
	size_t wlen = 0;
	FILE *f;
	ckptio_status st;

	if (!spec || !*spec ||
	    httpreq_faults_parse(&c->faults, spec, cfg->ops, cfg->nops) == 0)
		return CKPTIO_OK;
	if ((f = open_memstream(&words, &wlen))) {
		for (unsigned i = 0; i < cfg->nops; i++)
			fprintf(f, "%s%s", i ? " " : "", cfg->ops[i].name);
		if (fclose(f) != 0) {
			free(words);
			words = NULL;
		}
	}
	st = cfg->host->error(cfg->hc, CKPTIO_ECONFIG,
			      "%s: expected OP:N[-M]:KIND,... (at most %d, "
			      "N <= M) (OP: %s; KIND: 500 503 429 403 reset "
			      "short)",
			      cfg->faults_env, HTTPREQ_MAX_FAULTS,
			      words ? words : "...");
	free(words);
	return st;
}

ckptio_status httpreq_client_open(const httpreq_config *cfg,
				  httpreq_client **out)
{
	httpreq_client *c = calloc(1, sizeof(*c));
	ckptio_status st;

	if (cfg->nops > HTTPREQ_MAX_OPS) { /* the fault counters' size */
		free(c);
		return cfg->host->error(cfg->hc, CKPTIO_EINVAL, "%s: %u kinds "
					"of request, more than the %d the "
					"request layer counts", cfg->name,
					cfg->nops, HTTPREQ_MAX_OPS);
	}
	if (!c)
		return cfg->host->error(cfg->hc, CKPTIO_ENOMEM,
					"out of memory");
	c->cfg = *cfg;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->ready_tail = &c->ready;
	st = faults_setup(c);
	if (st == CKPTIO_OK) {
		pthread_once(&curl_once, curl_init);
		if (curl_init_rc != CURLE_OK || !(c->multi = curl_multi_init()))
			st = cfg->host->error(cfg->hc, CKPTIO_ENOMEM,
					      "%s: cannot initialise libcurl",
					      cfg->name);
	}
	if (st == CKPTIO_OK) {
		long n = (long)cfg->opt.concurrency;

		curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
		curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n);
		curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, n);
		if (httpreq_direct_init(c) != 0)
			st = cfg->host->error(cfg->hc, CKPTIO_ENOMEM,
					      "out of memory");
		else if (pthread_create(&c->thread, NULL, io_thread, c) != 0)
			st = cfg->host->error(cfg->hc, CKPTIO_ENOMEM,
					      "%s: cannot start the I/O thread",
					      cfg->name);
		else
			c->thread_started = 1;
	}
	if (st != CKPTIO_OK) {
		httpreq_client_close(c);
		return st;
	}
	*out = c;
	return CKPTIO_OK;
}

void httpreq_client_close(httpreq_client *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_mutex_unlock(&c->mu);
		curl_multi_wakeup(c->multi);
		pthread_join(c->thread, NULL);
		c->cfg.host->log(c->cfg.hc, CKPTIO_LOG_DEBUG,
				 "%s: %lu requests, %lu retried", c->cfg.name,
				 c->requests, c->retried);
	}
	httpreq_direct_free(c);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
