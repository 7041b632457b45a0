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
	/* Statistics, for the debug log at close. */
	unsigned long requests, retried;
};

/* Forget the previous attempt's answer. */
void httpreq_reset_answer(httpreq *r);

/* Answer r with the status of fault k instead of asking the server. */
void httpreq_inject_status(httpreq *r, httpreq_fault_kind k);

/* Set up r->easy and r->hdrs for one attempt.  -1: out of memory. */
int httpreq_prepare(httpreq *r);

/* Read what curl knows of the finished attempt (status, HEAD fields). */
void httpreq_collect(httpreq *r, CURLcode cc);

/* Decide what the attempt's answer means: 0 done (r->st set), 1 retry. */
int httpreq_classify(httpreq *r);

/* Before a retry of a ranged GET that received bytes of its object: keep
 * them and ask for the rest next time.  1 when resumed, 0 when the next
 * attempt starts at the same byte as this one did, -1 out of memory. */
int httpreq_resume(httpreq *r);

#endif /* CKPTIO_NET_HTTPINT_H */
