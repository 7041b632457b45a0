/*
 * pool.c - the one pool of worker threads of an operation (a save, a load,
 * a verify...), offered to layouts and stores through the host table
 * (host->parallel_for), so that the number of threads doing I/O at once is
 * the `threads` the user configured, not that number at each layer.
 *
 * parallel_for(n, fn, arg) runs fn(arg, i) for every i in [0, n).  The
 * calling thread takes part, running indices of its own loop until none
 * is left, and the pool's workers help with whatever loop is waiting.  So
 * a loop started inside another one's task (the layout writes objects in
 * parallel, the store splits one large write) never waits for a worker
 * that may be busy: its caller runs it alone if need be.  Workers start on
 * the first loop and stop when the pool is freed.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One parallel_for in progress. */
typedef struct loop {
	ckptio_status (*fn)(void *arg, size_t i);
	void *arg;
	size_t n, next, running;
	ckptio_status st; /* the first failure */
	struct loop *prev, *nextl; /* in the pool's list of open loops */
	pthread_cond_t done;
} loop;

struct ckptio__pool {
	pthread_mutex_t mu;
	pthread_cond_t work;
	loop *open;      /* loops with indices left, newest first */
	unsigned want;   /* workers to have (threads - 1: callers run too) */
	unsigned started;
	pthread_t *tids;
	int stop;
};

ckptio__pool *ckptio__pool_new(unsigned threads)
{
	ckptio__pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	p->want = threads > 1 ? threads - 1 : 0;
	if (p->want > CKPTIO__POOL_MAX)
		p->want = CKPTIO__POOL_MAX;
	return p;
}

/* Take an index of l and run it; with p->mu held, returns with it held. */
static void run_one(ckptio__pool *p, loop *l)
{
	size_t i = l->next++;
	ckptio_status st;

	if (l->next == l->n) { /* no index left: no longer open */
		if (l->prev)
			l->prev->nextl = l->nextl;
		else
			p->open = l->nextl;
		if (l->nextl)
			l->nextl->prev = l->prev;
		l->prev = l->nextl = NULL;
	}
	l->running++;
	pthread_mutex_unlock(&p->mu);
	/* After a failure the rest are skipped, not run. */
	st = __atomic_load_n(&l->st, __ATOMIC_RELAXED) == CKPTIO_OK
		     ? l->fn(l->arg, i) : CKPTIO_OK;
	pthread_mutex_lock(&p->mu);
	if (st != CKPTIO_OK && l->st == CKPTIO_OK)
		__atomic_store_n(&l->st, st, __ATOMIC_RELAXED);
	if (--l->running == 0 && l->next == l->n)
		pthread_cond_broadcast(&l->done);
}

static void *worker(void *arg)
{
	ckptio__pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && !p->open)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop)
			break;
		run_one(p, p->open);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Start the workers (with p->mu held); those that cannot start are done
 * without: callers run every loop themselves. */
static void start_workers(ckptio__pool *p)
{
	pthread_attr_t attr;

	if (p->tids || !p->want)
		return;
	p->tids = calloc(p->want, sizeof(*p->tids));
	if (!p->tids) {
		p->want = 0;
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256u << 10);
	while (p->started < p->want &&
	       pthread_create(&p->tids[p->started], &attr, worker, p) == 0)
		p->started++;
	pthread_attr_destroy(&attr);
}

ckptio_status ckptio__pool_for(ckptio__pool *p, size_t n,
			       ckptio_status (*fn)(void *arg, size_t i),
			       void *arg)
{
	loop l = {.fn = fn, .arg = arg, .n = n};
	ckptio_status st = CKPTIO_OK;

	if (n == 0)
		return CKPTIO_OK;
	if (!p || n == 1) {
		for (size_t i = 0; i < n && st == CKPTIO_OK; i++)
			st = fn(arg, i);
		return st;
	}
	pthread_cond_init(&l.done, NULL);
	pthread_mutex_lock(&p->mu);
	start_workers(p);
	l.nextl = p->open;
	if (p->open)
		p->open->prev = &l;
	p->open = &l;
	if (p->started)
		pthread_cond_broadcast(&p->work);
	while (l.next < l.n)
		run_one(p, &l);
	while (l.running)
		pthread_cond_wait(&l.done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	pthread_cond_destroy(&l.done);
	return l.st;
}

void ckptio__pool_free(ckptio__pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->started; i++)
		pthread_join(p->tids[i], NULL);
	free(p->tids);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
