/*
 * coord.c - coordinators: the single-process default and an in-process one
 * for ranks running as threads (tests, one-thread-per-GPU programs).
 *
 * Every collective is built on a reusable generation barrier, so ranks can
 * run collectives back to back without a rank overtaking the others.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Memory shared with coordinators and bindings                             */

void *ckptio_alloc(size_t len)
{
	return malloc(len ? len : 1);
}

void ckptio_free(void *p)
{
	free(p);
}

/* ------------------------------------------------------------------------ */
/* Single process                                                           */

static ckptio_status solo_gather(void *self, const void *buf, size_t len,
				 void ***out_bufs, size_t **out_lens)
{
	(void)self;
	*out_bufs = malloc(sizeof(void *));
	*out_lens = malloc(sizeof(size_t));
	if (!*out_bufs || !*out_lens || !((*out_bufs)[0] = malloc(len ? len : 1))) {
		free(*out_bufs);
		free(*out_lens);
		*out_bufs = NULL;
		*out_lens = NULL;
		return CKPTIO_ENOMEM;
	}
	memcpy((*out_bufs)[0], buf, len);
	(*out_lens)[0] = len;
	return CKPTIO_OK;
}

static ckptio_status solo_broadcast(void *self, void **buf, size_t *len)
{
	(void)self;
	(void)buf;
	(void)len;
	return CKPTIO_OK;
}

static ckptio_status solo_barrier(void *self)
{
	(void)self;
	return CKPTIO_OK;
}

const ckptio_coord ckptio__solo_coord = {
	.struct_size = sizeof(ckptio_coord),
	.rank = 0,
	.world = 1,
	.gather = solo_gather,
	.broadcast = solo_broadcast,
	.barrier = solo_barrier,
};

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */

typedef struct rank_self {
	ckptio_coord_group *g;
	int rank;
} rank_self;

struct ckptio_coord_group {
	int world;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int arrived;
	unsigned long generation;
	void **slots;
	size_t *lens;
	void *bcast;
	size_t bcast_len;
	rank_self *selves;
};

/* Called with g->mu held. */
static void wait_all(ckptio_coord_group *g)
{
	unsigned long gen = g->generation;

	if (++g->arrived == g->world) {
		g->arrived = 0;
		g->generation++;
		pthread_cond_broadcast(&g->cv);
		return;
	}
	while (gen == g->generation)
		pthread_cond_wait(&g->cv, &g->mu);
}

static ckptio_status thr_gather(void *self, const void *buf, size_t len,
				void ***out_bufs, size_t **out_lens)
{
	rank_self *rs = self;
	ckptio_coord_group *g = rs->g;
	void *copy = malloc(len ? len : 1);
	ckptio_status st = CKPTIO_OK;

	*out_bufs = NULL;
	*out_lens = NULL;
	if (copy)
		memcpy(copy, buf, len);
	pthread_mutex_lock(&g->mu);
	g->slots[rs->rank] = copy;
	g->lens[rs->rank] = copy ? len : (size_t)-1;
	wait_all(g);
	if (rs->rank == 0) {
		void **bufs = calloc((size_t)g->world, sizeof(*bufs));
		size_t *lens = calloc((size_t)g->world, sizeof(*lens));

		for (int r = 0; r < g->world; r++) {
			if (g->lens[r] == (size_t)-1)
				st = CKPTIO_ECOORD;
			if (bufs && lens) {
				bufs[r] = g->slots[r];
				lens[r] = g->lens[r];
			} else {
				free(g->slots[r]);
			}
			g->slots[r] = NULL;
		}
		if (!bufs || !lens || st != CKPTIO_OK) {
			for (int r = 0; bufs && lens && r < g->world; r++)
				free(bufs[r]);
			free(bufs);
			free(lens);
			st = CKPTIO_ECOORD;
		} else {
			*out_bufs = bufs;
			*out_lens = lens;
		}
	}
	wait_all(g);
	pthread_mutex_unlock(&g->mu);
	return st;
}

static ckptio_status thr_broadcast(void *self, void **buf, size_t *len)
{
	rank_self *rs = self;
	ckptio_coord_group *g = rs->g;
	ckptio_status st = CKPTIO_OK;

	pthread_mutex_lock(&g->mu);
	if (rs->rank == 0) {
		g->bcast = *buf;
		g->bcast_len = *len;
	}
	wait_all(g);
	if (rs->rank != 0) {
		*buf = malloc(g->bcast_len ? g->bcast_len : 1);
		*len = g->bcast_len;
		if (*buf)
			memcpy(*buf, g->bcast, g->bcast_len);
		else
			st = CKPTIO_ECOORD;
	}
	wait_all(g);
	pthread_mutex_unlock(&g->mu);
	return st;
}

static ckptio_status thr_barrier(void *self)
{
	rank_self *rs = self;

	pthread_mutex_lock(&rs->g->mu);
	wait_all(rs->g);
	pthread_mutex_unlock(&rs->g->mu);
	return CKPTIO_OK;
}

ckptio_status ckptio_coord_threads_new(ckptio_coord_group **out, int world)
{
	ckptio_coord_group *g;

	if (!out)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "%s: out is NULL", __func__);
	*out = NULL;
	if (world < 1)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "world size %d < 1", world);
	g = calloc(1, sizeof(*g));
	if (g) {
		g->slots = calloc((size_t)world, sizeof(*g->slots));
		g->lens = calloc((size_t)world, sizeof(*g->lens));
		g->selves = calloc((size_t)world, sizeof(*g->selves));
	}
	if (!g || !g->slots || !g->lens || !g->selves) {
		ckptio_coord_threads_free(g);
		return ckptio__set_last_error(CKPTIO_ENOMEM, "out of memory");
	}
	g->world = world;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	for (int r = 0; r < world; r++) {
		g->selves[r].g = g;
		g->selves[r].rank = r;
	}
	*out = g;
	return CKPTIO_OK;
}

ckptio_status ckptio_coord_threads_get(ckptio_coord_group *group, int rank,
				       ckptio_coord *coord)
{
	if (!group || !coord)
		return ckptio__set_last_error(CKPTIO_EINVAL, "%s: %s is NULL",
					      __func__,
					      !group ? "group" : "coord");
	memset(coord, 0, sizeof(*coord));
	/* A zeroed coord is refused by save (struct_size 0), so a caller
	 * that ignores this status cannot run with a bad rank. */
	if (rank < 0 || rank >= group->world)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "%s: rank %d is outside 0..%d "
					      "(the group has %d ranks)",
					      __func__, rank, group->world - 1,
					      group->world);
	coord->struct_size = sizeof(*coord);
	coord->rank = rank;
	coord->world = group->world;
	coord->self = &group->selves[rank];
	coord->gather = thr_gather;
	coord->broadcast = thr_broadcast;
	coord->barrier = thr_barrier;
	return CKPTIO_OK;
}

void ckptio_coord_threads_free(ckptio_coord_group *g)
{
	if (!g)
		return;
	if (g->world) { /* set only once the mutex exists */
		pthread_mutex_destroy(&g->mu);
		pthread_cond_destroy(&g->cv);
	}
	free(g->slots);
	free(g->lens);
	free(g->selves);
	free(g);
}
