/* check_commit.c - nothing lost: the commit protocol under faults and
 * concurrent writers, item names that JSON cannot hold, messages between
 * ranks that do not add up, and what rm and gc may delete.  Over the real
 * posix plugin, with its fault hook (CKPTIO_POSIX_FAULT).
 *
 * The promise checked everywhere: after any save, successful or not, the
 * location loads as exactly the old or the new checkpoint (or, for a first
 * save, as the new one or none), verify passes, and nothing a user did not
 * ask to delete is gone. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckptio/ckptio.h"
#include "testutil.h"

static char *dir;
static char *loc; /* dir/ck */
static ckptio_ctx *ctx;

static void setup(void)
{
	dir = tu_mkdtemp();
	ck_assert_int_gt(asprintf(&loc, "%s/ck", dir), 0);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
}

static void teardown(void)
{
	ckptio_ctx_free(ctx);
	unsetenv("CKPTIO_POSIX_FAULT");
	tu_rmrf(dir);
	free(dir);
	free(loc);
}

static char *at(const char *base, const char *name)
{
	char *p;

	ck_assert_int_gt(asprintf(&p, "%s/%s", base, name), 0);
	return p;
}

static int exists(const char *base, const char *name)
{
	char *p = at(base, name);
	int r = access(p, F_OK) == 0;

	free(p);
	return r;
}

static void touch(const char *base, const char *name, const char *text)
{
	char *p = at(base, name);

	ck_assert_int_eq(tu_write_file(p, text, strlen(text)), 0);
	free(p);
}

/* ------------------------------------------------------------------------ */
/* A small model whose every byte depends on a seed                         */

#define NT 4            /* tensors, of equal size so results could swap */
#define TN (64 * 1024)  /* floats per tensor */

typedef struct model {
	float t[NT][TN];
	char step[16];
} model;

static model *model_new(uint64_t seed)
{
	model *m = calloc(1, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	tu_fill(m->t, sizeof(m->t), seed);
	snprintf(m->step, sizeof(m->step), "seed=%llu", (unsigned long long)seed);
	return m;
}

static ckptio_sd *model_sd(model *m)
{
	const uint64_t shape[1] = {TN};
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (int i = 0; i < NT; i++) {
		char name[32];

		snprintf(name, sizeof(name), "layer%d.weight", i);
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1,
						      shape, NULL, NULL,
						      m->t[i]),
				 CKPTIO_OK);
	}
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "step", m->step,
					     sizeof(m->step)),
			 CKPTIO_OK);
	return sd;
}

/* Save the model of seed to where; returns the status (no assertion). */
static ckptio_status save_seed(ckptio_ctx *c, const char *where, uint64_t seed,
			       unsigned flags, const ckptio_coord *coord)
{
	ckptio_opts o = CKPTIO_OPTS_INIT;
	model *m = model_new(seed);
	ckptio_sd *sd = model_sd(m);
	ckptio_status st;

	o.flags = flags;
	o.threads = 2; /* two data objects: two commits before the metadata */
	o.coord = coord;
	st = ckptio_save(c, where, sd, &o);
	ckptio_sd_free(sd);
	free(m);
	return st;
}

/* Which seed the location loads as: seed a, seed b, 0 when there is no
 * checkpoint, -1 when it loads as neither (or fails to load). */
static int loads_as(const char *where, uint64_t a, uint64_t b)
{
	model *got = model_new(0), *ma = model_new(a), *mb = model_new(b);
	ckptio_sd *sd = model_sd(got);
	ckptio_status st = ckptio_load(ctx, where, sd, NULL);
	int r = -1;

	if (st == CKPTIO_ENOTFOUND)
		r = 0;
	else if (st == CKPTIO_OK && memcmp(got, ma, sizeof(*got)) == 0)
		r = 1;
	else if (st == CKPTIO_OK && memcmp(got, mb, sizeof(*got)) == 0)
		r = 2;
	ckptio_sd_free(sd);
	free(got);
	free(ma);
	free(mb);
	return r;
}

/* Entries in directory d (0 when it does not exist). */
static int count_entries(const char *d)
{
	DIR *dh = opendir(d);
	struct dirent *de;
	int n = 0;

	while (dh && (de = readdir(dh)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (dh)
		closedir(dh);
	return n;
}

/* Every object in the checkpoint directory is its metadata or an object
 * the metadata names (nothing left behind, nothing missing).  The
 * metadata's "objects" table lists each object its chunks are in, once
 * (the reader refuses one that no chunk uses). */
static void only_named_objects(const char *where)
{
	char *mdpath = at(where, ".metadata.json");
	json_t *md = json_load_file(mdpath, 0, NULL), *objects, *o;
	size_t i, named = 0;
	struct dirent *de;
	DIR *d = opendir(where);

	ck_assert_msg(md != NULL, "%s: unreadable", mdpath);
	ck_assert_ptr_nonnull(d);
	objects = json_object_get(md, "objects");
	while ((de = readdir(d))) {
		int found = 0;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, ".metadata.json"))
			continue;
		json_array_foreach(objects, i, o)
			if (!strcmp(json_string_value(o), de->d_name))
				found = 1;
		ck_assert_msg(found, "%s/%s is not named by the metadata",
			      where, de->d_name);
		named++;
	}
	closedir(d);
	ck_assert_uint_gt(named, 0);
	json_decref(md);
	free(mdpath);
}

/* ------------------------------------------------------------------------ */
/* 1. Item names are UTF-8                                                  */

START_TEST(test_names_must_be_utf8)
{
	static const char *const bad[] = {
		"w\xff",              /* not UTF-8 at all */
		"\xc0\xaf.weight",    /* overlong '/' */
		"a\xed\xa0\x80z",     /* a UTF-16 surrogate */
		"\xf4\x90\x80\x80",   /* beyond U+10FFFF */
		"cut\xe2\x82",        /* a sequence cut short */
		"\x80lead",           /* a lone continuation byte */
	};
	static const char *const good[] = {
		"\xcf\x80.weight",             /* π */
		"layers.\xe2\x82\xac",         /* € */
		"emoji.\xf0\x9f\x98\x80.bias", /* U+1F600 */
	};
	const uint64_t shape[1] = {4};
	float v[4] = {1, 2, 3, 4}, back[4];
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, bad[i], CKPTIO_F32, 1,
						      shape, NULL, NULL, v),
				 CKPTIO_EINVAL);
		ck_assert_msg(strstr(ckptio_last_error(), "not valid UTF-8"),
			      "%s", ckptio_last_error());
		ck_assert_int_eq(ckptio_sd_add_bytes(sd, bad[i], v, 4),
				 CKPTIO_EINVAL);
	}
	ck_assert_uint_eq(ckptio_sd_count(sd), 0);
	/* Extents past 2^63 - 1 cannot be written as JSON integers: refused
	 * when added (an empty tensor, so no overflow of the byte count
	 * would catch it). */
	{
		const uint64_t huge[2] = {0, (uint64_t)INT64_MAX + 1};

		ck_assert_int_eq(ckptio_sd_add_tensor(sd, "huge", CKPTIO_F32, 2,
						      huge, NULL, NULL, NULL),
				 CKPTIO_EINVAL);
		ck_assert_msg(strstr(ckptio_last_error(), "larger than 2^63"),
			      "%s", ckptio_last_error());
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, good[i], CKPTIO_F32,
						      1, shape, NULL, NULL, v),
				 CKPTIO_OK);
	ck_assert_int_eq(ckptio_save(ctx, loc, sd, NULL), CKPTIO_OK);
	ckptio_sd_free(sd);

	/* Every item is there, under its own name. */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
		memset(back, 0, sizeof(back));
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, good[i], CKPTIO_F32,
						      1, shape, NULL, NULL,
						      back),
				 CKPTIO_OK);
		ck_assert_int_eq(ckptio_load(ctx, loc, sd, NULL), CKPTIO_OK);
		ck_assert(memcmp(back, v, sizeof(v)) == 0);
		ckptio_sd_free(sd);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Results are paired with items by name, never by position alone           */

/* Rank 1's coordinator tampers with its write results on their way to
 * rank 0, as a buggy transport or layout could.  (Rank 0's own results
 * never travel as messages.) */
typedef enum tamper { SWAP_RESULTS, DROP_RESULT, RENAME_RESULT } tamper;

typedef struct tamper_co {
	ckptio_coord inner;
	tamper how;
} tamper_co;

static char *tampered(const void *buf, size_t len, tamper how)
{
	json_t *o = json_loadb(buf, len, 0, NULL), *r;
	char *s;

	if (!o)
		return NULL;
	r = json_object_get(o, "r");
	if (json_array_size(r) >= 2) {
		json_t *a = json_incref(json_array_get(r, 0));
		json_t *b = json_incref(json_array_get(r, 1));

		switch (how) {
		case SWAP_RESULTS:
			json_array_set_new(r, 0, b);
			json_array_set_new(r, 1, a);
			break;
		case DROP_RESULT:
			json_array_remove(r, 1);
			json_decref(a);
			json_decref(b);
			break;
		case RENAME_RESULT: /* a result that names another item */
			json_array_set(r, 0, b);
			json_decref(a);
			json_decref(b);
			break;
		}
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static ckptio_status tamper_gather(void *self, const void *buf, size_t len,
				   void ***out_bufs, size_t **out_lens)
{
	tamper_co *t = self;
	char *s = t->inner.rank == 1 ? tampered(buf, len, t->how) : NULL;
	ckptio_status st;

	st = t->inner.gather(t->inner.self, s ? s : buf, s ? strlen(s) : len,
			     out_bufs, out_lens);
	free(s);
	return st;
}

static ckptio_status tamper_bcast(void *self, void **buf, size_t *len)
{
	tamper_co *t = self;

	return t->inner.broadcast(t->inner.self, buf, len);
}

static ckptio_status tamper_barrier(void *self)
{
	tamper_co *t = self;

	return t->inner.barrier(t->inner.self);
}

typedef struct tamper_rank {
	ckptio_coord_group *g;
	int rank;
	tamper how;
	ckptio_status st;
} tamper_rank;

static void *tamper_thread(void *arg)
{
	tamper_rank *r = arg;
	tamper_co t = {.how = r->how};
	ckptio_coord co;
	ckptio_ctx *c;

	ckptio_coord_threads_get(r->g, r->rank, &t.inner);
	co = (ckptio_coord){sizeof(co), r->rank, 2, &t, tamper_gather,
			    tamper_bcast, tamper_barrier, NULL};
	r->st = ckptio_ctx_new(&c, NULL);
	if (r->st != CKPTIO_OK)
		return NULL;
	if (r->rank == 0) {
		char step[8] = "rank0";

		ckptio_sd *sd;

		ckptio_sd_new(&sd);
		ckptio_sd_add_bytes(sd, "rank0.step", step, sizeof(step));
		{
			ckptio_opts o = CKPTIO_OPTS_INIT;

			o.coord = &co;
			r->st = ckptio_save(c, loc, sd, &o);
		}
		ckptio_sd_free(sd);
	} else {
		/* Tensors of one size: swapped results would commit valid
		 * CRCs over the wrong bytes. */
		r->st = save_seed(c, loc, 7, 0, &co);
	}
	ckptio_ctx_free(c);
	return NULL;
}

START_TEST(test_results_paired_by_name)
{
	static const tamper hows[] = {SWAP_RESULTS, DROP_RESULT, RENAME_RESULT};

	for (size_t h = 0; h < sizeof(hows) / sizeof(hows[0]); h++) {
		ckptio_coord_group *g;
		tamper_rank r[2];
		pthread_t t[2];

		ck_assert_int_eq(ckptio_coord_threads_new(&g, 2), CKPTIO_OK);
		for (int i = 0; i < 2; i++) {
			r[i] = (tamper_rank){.g = g, .rank = i, .how = hows[h]};
			ck_assert_int_eq(pthread_create(&t[i], NULL,
							tamper_thread, &r[i]),
					 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		ckptio_coord_threads_free(g);
		for (int i = 0; i < 2; i++)
			ck_assert_msg(r[i].st == CKPTIO_ECOORD,
				      "tamper %d, rank %d: %s", (int)hows[h], i,
				      ckptio_strerror(r[i].st));
		ck_assert_int_eq(loads_as(loc, 7, 7), 0);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 3. Concurrent overwriting saves of one id                                */

typedef struct writer {
	uint64_t seed;
	ckptio_status st;
	char msg[512];
} writer;

static void *overwrite_thread(void *arg)
{
	writer *w = arg;
	ckptio_ctx *c;

	w->st = ckptio_ctx_new(&c, NULL);
	if (w->st != CKPTIO_OK)
		return NULL;
	w->st = save_seed(c, loc, w->seed, CKPTIO_SAVE_OVERWRITE, NULL);
	snprintf(w->msg, sizeof(w->msg), "%s", ckptio_errmsg(c));
	ckptio_ctx_free(c);
	return NULL;
}

START_TEST(test_concurrent_overwrite)
{
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;

	ck_assert_int_eq(save_seed(ctx, loc, 1, 0, NULL), CKPTIO_OK);
	for (int round = 0; round < 12; round++) {
		writer w[2] = {{.seed = 100 + 2 * (uint64_t)round},
			       {.seed = 101 + 2 * (uint64_t)round}};
		pthread_t t[2];
		int as;

		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(pthread_create(&t[i], NULL,
							overwrite_thread, &w[i]),
					 0);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		for (int i = 0; i < 2; i++)
			ck_assert_msg(w[i].st == CKPTIO_OK, "round %d: %s",
				      round, w[i].msg);
		as = loads_as(loc, w[0].seed, w[1].seed);
		ck_assert_msg(as == 1 || as == 2,
			      "round %d: the checkpoint loads as neither "
			      "save: %s",
			      round, ckptio_errmsg(ctx));
		ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK,
			      "round %d: %s", round, ckptio_errmsg(ctx));
	}
	/* The loser of each round left its objects: gc finds them, and
	 * only them. */
	ro.flags = CKPTIO_RM_GC_ONLY;
	ck_assert_msg(ckptio_remove_ex(ctx, loc, &ro) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	only_named_objects(loc);
	ck_assert_int_eq(ckptio_verify(ctx, loc, NULL), CKPTIO_OK);
}
END_TEST

START_TEST(test_overwrite_removes_only_what_it_replaced)
{
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;
	ckptio_rm_report rep = {.struct_size = sizeof(rep)};

	ck_assert_int_eq(save_seed(ctx, loc, 1, 0, NULL), CKPTIO_OK);
	/* Objects of the layout's form that the checkpoint does not name:
	 * a save in flight, or the loser of a race.  Not this save's to
	 * remove. */
	touch(loc, "__0_0.0123456789ab.ckd", "in flight");
	touch(loc, "__3_1.0123456789ab.ckd", "in flight");
	touch(loc, "notes.txt", "mine");
	ck_assert_int_eq(save_seed(ctx, loc, 2, CKPTIO_SAVE_OVERWRITE, NULL),
			 CKPTIO_OK);
	ck_assert(exists(loc, "__0_0.0123456789ab.ckd"));
	ck_assert(exists(loc, "__3_1.0123456789ab.ckd"));
	ck_assert(exists(loc, "notes.txt"));
	ck_assert_int_eq(loads_as(loc, 1, 2), 2);
	/* What the replaced metadata named is gone: gc finds only the two. */
	ro.flags = CKPTIO_RM_GC_ONLY | CKPTIO_RM_DRY_RUN;
	ro.report = &rep;
	ck_assert_int_eq(ckptio_remove_ex(ctx, loc, &ro), CKPTIO_OK);
	ck_assert_uint_eq(rep.debris, 2);
	ck_assert_uint_eq(rep.foreign, 1);
}
END_TEST

/* A save of one rank builds its metadata while its data is written
 * (core/save.c, solo_build): a plan the build refuses, a chunk that
 * leaves most of its tensor uncovered, fails the save after the writes.
 * Neither a first save nor an overwrite may leave anything of it: no
 * checkpoint, no data object, the old checkpoint as it was. */
static ckptio_status save_partial(const char *where, unsigned flags)
{
	ckptio_opts o = CKPTIO_OPTS_INIT;
	const uint64_t global[1] = {4 * TN}, off[1] = {TN}, shape[1] = {TN};
	model *m = model_new(3);
	ckptio_sd *sd = model_sd(m);
	ckptio_status st;

	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "sharded", CKPTIO_F32, 1,
					      global, off, shape, m->t[0]),
			 CKPTIO_OK);
	o.flags = flags;
	o.threads = 2;
	st = ckptio_save(ctx, where, sd, &o);
	ckptio_sd_free(sd);
	free(m);
	return st;
}

START_TEST(test_refused_plan_leaves_nothing)
{
	char *fresh = at(dir, "fresh");

	ck_assert_int_eq(save_partial(fresh, 0), CKPTIO_EINVAL);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), "'sharded'") &&
			      strstr(ckptio_errmsg(ctx), "cover"),
		      "%s", ckptio_errmsg(ctx));
	ck_assert_int_eq(count_entries(fresh), 0);
	ck_assert_int_eq(loads_as(fresh, 1, 2), 0);

	ck_assert_int_eq(save_seed(ctx, loc, 1, 0, NULL), CKPTIO_OK);
	ck_assert_int_eq(save_partial(loc, CKPTIO_SAVE_OVERWRITE),
			 CKPTIO_EINVAL);
	ck_assert_int_eq(loads_as(loc, 1, 2), 1);
	only_named_objects(loc);
	free(fresh);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 4. A fault at every step of the commit                                   */

typedef struct faults {
	int fired;
} faults;

static void fault_log(void *user, ckptio_log_level level, const char *msg)
{
	faults *f = user;

	(void)level;
	if (strstr(msg, "posix: injected fault"))
		__atomic_store_n(&f->fired, 1, __ATOMIC_RELAXED);
}

/* Save seed b over seed a (a == 0: a first save) with the Nth call of op
 * failing with err.  Returns 0 when the fault never fired (N is past the
 * last call), else checks the promise and returns 1. */
static int fault_round(const char *op, int n, const char *err, uint64_t a,
		       uint64_t b)
{
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;
	char spec[64], what[128];
	faults f = {0};
	ckptio_ctx *c;
	ckptio_status st;
	int as;

	tu_rmrf(loc);
	if (a)
		ck_assert_int_eq(save_seed(ctx, loc, a, 0, NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_ctx_new(&c, NULL), CKPTIO_OK);
	ckptio_set_log(c, CKPTIO_LOG_DEBUG, fault_log, &f);
	snprintf(spec, sizeof(spec), "%s:%d:%s", op, n, err);
	setenv("CKPTIO_POSIX_FAULT", spec, 1);
	st = save_seed(c, loc, b, a ? CKPTIO_SAVE_OVERWRITE : 0, NULL);
	unsetenv("CKPTIO_POSIX_FAULT");
	snprintf(what, sizeof(what), "%s %s save, fault %s: %s: %s",
		 a ? "overwriting" : "first", st ? "failed" : "ok", spec,
		 ckptio_strerror(st), ckptio_errmsg(c));
	ckptio_ctx_free(c);
	if (!f.fired) {
		ck_assert_msg(st == CKPTIO_OK, "%s", what);
		return 0;
	}
	as = loads_as(loc, a, b);
	/* Exactly the old or the new checkpoint, and which one follows from
	 * the status: success means new, a certain failure means old (or
	 * none), in doubt may be either. */
	ck_assert_msg(as >= 0, "%s; then the load: %s", what,
		      ckptio_errmsg(ctx));
	if (st == CKPTIO_OK)
		ck_assert_msg(as == 2, "%s, but loads as %d", what, as);
	else if (st != CKPTIO_EINDOUBT)
		ck_assert_msg(as == (a ? 1 : 0), "%s, but loads as %d", what,
			      as);
	if (as > 0) {
		ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK,
			      "%s; verify: %s", what, ckptio_errmsg(ctx));
		/* Whatever the fault left behind, gc finds it. */
		ro.flags = CKPTIO_RM_GC_ONLY;
		ck_assert_msg(ckptio_remove_ex(ctx, loc, &ro) == CKPTIO_OK,
			      "%s; gc: %s", what, ckptio_errmsg(ctx));
		only_named_objects(loc);
		ck_assert_int_eq(loads_as(loc, a, b), as);
	} else {
		ro.flags = CKPTIO_RM_GC_ONLY;
		if (access(loc, F_OK) == 0)
			ck_assert_msg(ckptio_remove_ex(ctx, loc, &ro) ==
					      CKPTIO_OK,
				      "%s; gc: %s", what, ckptio_errmsg(ctx));
		/* Nothing left (a directory the save made may stay, empty,
		 * when it never held an object). */
		ck_assert_msg(count_entries(loc) == 0,
			      "%s: gc left something in %s", what, loc);
	}
	return 1;
}

static void fault_sweep(const char *op)
{
	static const char *const errs[] = {"EIO", "ENOSPC"};
	int rounds = 0;

	for (size_t e = 0; e < 2; e++)
		for (uint64_t a = 0; a <= 1; a++)
			for (int n = 1; n < 200; n++) {
				if (!fault_round(op, n, errs[e], a ? 11 : 0, 12))
					break;
				rounds++;
			}
	ck_assert_msg(rounds > 0, "no call of %s failed", op);
}

START_TEST(test_commit_faults_open) { fault_sweep("open"); }
END_TEST
START_TEST(test_commit_faults_pwrite) { fault_sweep("pwrite"); }
END_TEST
START_TEST(test_commit_faults_pread) { fault_sweep("pread"); }
END_TEST
START_TEST(test_commit_faults_fsync) { fault_sweep("fsync"); }
END_TEST
START_TEST(test_commit_faults_rename) { fault_sweep("rename"); }
END_TEST
START_TEST(test_commit_faults_link) { fault_sweep("link"); }
END_TEST
START_TEST(test_commit_faults_unlink) { fault_sweep("unlink"); }
END_TEST

/* The commit key is visible, then the directory fsync fails: committed,
 * durability unknown, and the data it names stays. */
START_TEST(test_fsync_after_commit_keeps_data)
{
	int n = 0;

	/* Each save: 2 data files and the metadata, each an fsync of the
	 * file and one of its directory; the metadata's directory fsync is
	 * the last. */
	ck_assert_int_eq(save_seed(ctx, loc, 3, 0, NULL), CKPTIO_OK);
	for (int k = 1; k < 20; k++) {
		faults f = {0};
		ckptio_ctx *c;
		char spec[32];

		tu_rmrf(loc);
		ck_assert_int_eq(ckptio_ctx_new(&c, NULL), CKPTIO_OK);
		ckptio_set_log(c, CKPTIO_LOG_DEBUG, fault_log, &f);
		snprintf(spec, sizeof(spec), "fsync:%d:EIO", k);
		setenv("CKPTIO_POSIX_FAULT", spec, 1);
		if (save_seed(c, loc, 4, 0, NULL) == CKPTIO_EINDOUBT) {
			ck_assert_msg(strstr(ckptio_errmsg(c),
					     "durability unknown"),
				      "%s", ckptio_errmsg(c));
			n++;
		}
		unsetenv("CKPTIO_POSIX_FAULT");
		ckptio_ctx_free(c);
		if (!f.fired)
			break;
	}
	ck_assert_int_eq(n, 1);
	/* The last one that fired was the metadata's directory. */
	ck_assert_int_eq(loads_as(loc, 3, 4), 2);
}
END_TEST

/* Rank 0 commits, and rank 1 never hears the verdict: rank 1 must keep
 * what it wrote (the committed metadata names it). */
typedef struct deaf {
	ckptio_coord inner;
	int bcasts;
} deaf;

static ckptio_status deaf_gather(void *self, const void *buf, size_t len,
				 void ***b, size_t **l)
{
	deaf *d = self;

	return d->inner.gather(d->inner.self, buf, len, b, l);
}

static ckptio_status deaf_bcast(void *self, void **buf, size_t *len)
{
	deaf *d = self;
	ckptio_status st = d->inner.broadcast(d->inner.self, buf, len);

	/* The second broadcast is the commit's verdict. */
	if (++d->bcasts == 2 && d->inner.rank == 1) {
		free(*buf);
		*buf = NULL;
		return CKPTIO_ECOORD;
	}
	return st;
}

static ckptio_status deaf_barrier(void *self)
{
	deaf *d = self;

	return d->inner.barrier(d->inner.self);
}

static const char *deaf_errmsg(void *self)
{
	(void)self;
	return "the verdict was lost on the wire";
}

typedef struct deaf_rank {
	ckptio_coord_group *g;
	int rank;
	ckptio_status st;
	char msg[1024];
} deaf_rank;

static void *deaf_thread(void *arg)
{
	deaf_rank *r = arg;
	deaf d = {.bcasts = 0};
	ckptio_coord co;
	ckptio_ctx *c;

	ckptio_coord_threads_get(r->g, r->rank, &d.inner);
	co = (ckptio_coord){sizeof(co), r->rank, 2, &d, deaf_gather,
			    deaf_bcast, deaf_barrier, deaf_errmsg};
	r->st = ckptio_ctx_new(&c, NULL);
	if (r->st != CKPTIO_OK)
		return NULL;
	/* Both ranks save the same items: rank 1's replicas are skipped, so
	 * give it items of its own. */
	{
		const uint64_t shape[1] = {2 * TN}, off[1] = {(uint64_t)r->rank * TN},
			       part[1] = {TN};
		model *m = model_new(5);
		ckptio_opts o = CKPTIO_OPTS_INIT;
		ckptio_sd *sd;

		ckptio_sd_new(&sd);
		ckptio_sd_add_tensor(sd, "sharded", CKPTIO_F32, 1, shape, off,
				     part, m->t[r->rank]);
		o.coord = &co;
		r->st = ckptio_save(c, loc, sd, &o);
		snprintf(r->msg, sizeof(r->msg), "%s", ckptio_errmsg(c));
		ckptio_sd_free(sd);
		free(m);
	}
	ckptio_ctx_free(c);
	return NULL;
}

START_TEST(test_lost_verdict_keeps_data)
{
	deaf_rank r[2];
	pthread_t t[2];
	ckptio_coord_group *g;

	ck_assert_int_eq(ckptio_coord_threads_new(&g, 2), CKPTIO_OK);
	for (int i = 0; i < 2; i++) {
		r[i] = (deaf_rank){.g = g, .rank = i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, deaf_thread, &r[i]),
				 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ckptio_coord_threads_free(g);
	ck_assert_int_eq(r[0].st, CKPTIO_OK);
	ck_assert_int_eq(r[1].st, CKPTIO_EINDOUBT);
	/* The coordinator's own words are in the message. */
	ck_assert_msg(strstr(r[1].msg, "the verdict was lost on the wire"),
		      "%s", r[1].msg);
	ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* 2, 14. What rm and gc may delete                                         */

/* Files of a user's that merely sit beside checkpoints. */
static const char *const user_files[] = {
	"notes.txt", ".hidden", "__0_0.ckd", "__x_0.ab.ckd",
	"__0_0.notHEX.ckd", "model.safetensors", ".metadata.json.bak",
	".notes.txt.tmp.1.0000abcd", /* a temporary of a user file */
};
#define NUSER (sizeof(user_files) / sizeof(user_files[0]))

static void put_user_files(const char *where)
{
	mkdir(where, 0755);
	for (size_t i = 0; i < NUSER; i++)
		touch(where, user_files[i], "the user's");
}

static void user_files_intact(const char *where)
{
	for (size_t i = 0; i < NUSER; i++)
		ck_assert_msg(exists(where, user_files[i]), "%s/%s was removed",
			      where, user_files[i]);
}

START_TEST(test_rm_refuses_a_directory_without_checkpoint)
{
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;
	ckptio_rm_report rep = {.struct_size = sizeof(rep)};

	put_user_files(loc);
	touch(loc, "__0_0.abc123.ckd", "debris");
	touch(loc, ".__0_1.abc123.ckd.tmp.42.0000beef", "debris");
	touch(loc, "..metadata.json.tmp.42.0000beef", "debris");
	ck_assert_int_eq(ckptio_remove(ctx, loc, 0), CKPTIO_ENOTFOUND);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), "3 objects of failed saves"),
		      "%s", ckptio_errmsg(ctx));
	user_files_intact(loc);
	ck_assert(exists(loc, "__0_0.abc123.ckd"));
	/* gc removes the layout's debris, and only it. */
	ro.flags = CKPTIO_RM_GC_ONLY;
	ro.report = &rep;
	ck_assert_int_eq(ckptio_remove_ex(ctx, loc, &ro), CKPTIO_OK);
	ck_assert_uint_eq(rep.removed, 3);
	ck_assert_uint_eq(rep.foreign, NUSER);
	ck_assert(!exists(loc, "__0_0.abc123.ckd"));
	ck_assert(!exists(loc, ".__0_1.abc123.ckd.tmp.42.0000beef"));
	ck_assert(!exists(loc, "..metadata.json.tmp.42.0000beef"));
	user_files_intact(loc);
	/* The store root itself is never a target of rm. */
	ck_assert_int_eq(ckptio_remove(ctx, dir, 0), CKPTIO_ENOTFOUND);
	user_files_intact(loc);
}
END_TEST

START_TEST(test_rm_keeps_what_is_not_the_checkpoints)
{
	char *nested = at(loc, "sub/inner");

	ck_assert_int_eq(save_seed(ctx, loc, 1, 0, NULL), CKPTIO_OK);
	ck_assert_int_eq(save_seed(ctx, nested, 2, 0, NULL), CKPTIO_OK);
	put_user_files(loc);
	touch(loc, "__1_0.feed.ckd", "debris of a crashed save");
	ck_assert_int_eq(ckptio_remove(ctx, loc, 0), CKPTIO_OK);
	ck_assert(!exists(loc, ".metadata.json"));
	ck_assert(!exists(loc, "__1_0.feed.ckd"));
	user_files_intact(loc);
	/* A nested checkpoint is another checkpoint. */
	ck_assert_int_eq(loads_as(nested, 1, 2), 2);
	free(nested);
}
END_TEST

START_TEST(test_rm_corrupt_metadata)
{
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;

	ck_assert_int_eq(save_seed(ctx, loc, 1, 0, NULL), CKPTIO_OK);
	put_user_files(loc);
	touch(loc, ".metadata.json", "{ not json");
	/* gc cannot know what a corrupt metadata names: it refuses. */
	ro.flags = CKPTIO_RM_GC_ONLY;
	ck_assert_int_eq(ckptio_remove_ex(ctx, loc, &ro), CKPTIO_ECORRUPT);
	ck_assert(exists(loc, ".metadata.json"));
	/* rm still removes the checkpoint: commit key and data objects. */
	ck_assert_int_eq(ckptio_remove(ctx, loc, 0), CKPTIO_OK);
	ck_assert(!exists(loc, ".metadata.json"));
	user_files_intact(loc);
	/* The user's model.safetensors (not a valid one) would now be read
	 * as a broken safetensors model: without it, nothing loads. */
	{
		char *p = at(loc, "model.safetensors");

		ck_assert_int_eq(unlink(p), 0);
		free(p);
	}
	ck_assert_int_eq(loads_as(loc, 1, 1), 0);
}
END_TEST

static void age(const char *where, const char *name, time_t secs)
{
	char *p = at(where, name);
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= secs;
	ts[1] = ts[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

START_TEST(test_gc_min_age)
{
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;
	ckptio_rm_report rep = {.struct_size = sizeof(rep)};
	ckptio_ckpt *ck;
	char *user;

	ck_assert_int_eq(save_seed(ctx, loc, 1, 0, NULL), CKPTIO_OK);
	touch(loc, "__0_0.0ld.ckd", "x"); /* not hex: the user's */
	touch(loc, "__0_0.01d.ckd", "old debris");
	touch(loc, ".__0_1.01d.ckd.tmp.7.0000abcd", "old temporary");
	touch(loc, "__0_0.f7e500.ckd", "young: a save in flight?");
	age(loc, "__0_0.01d.ckd", 7200);
	age(loc, ".__0_1.01d.ckd.tmp.7.0000abcd", 7200);

	ck_assert_int_eq(ckptio_open(ctx, loc, &ck), CKPTIO_OK);
	ck_assert_int_eq(ckptio_ckpt_debris(ck, 0, &rep), CKPTIO_OK);
	ck_assert_uint_eq(rep.debris, 3);
	ck_assert_uint_eq(rep.debris_bytes, 10 + 13 + 24);
	ck_assert_uint_eq(rep.foreign, 1);
	ck_assert_int_eq(ckptio_ckpt_debris(ck, 3600, &rep), CKPTIO_OK);
	ck_assert_uint_eq(rep.debris, 2);
	ck_assert_uint_eq(rep.kept_young, 1);
	ckptio_ckpt_close(ck);

	ro.flags = CKPTIO_RM_GC_ONLY | CKPTIO_RM_DRY_RUN;
	ro.min_age = 3600;
	ro.report = &rep;
	ck_assert_int_eq(ckptio_remove_ex(ctx, loc, &ro), CKPTIO_OK);
	ck_assert_uint_eq(rep.removed, 2);
	ck_assert(exists(loc, "__0_0.01d.ckd")); /* a dry run */

	ro.flags = CKPTIO_RM_GC_ONLY;
	ck_assert_int_eq(ckptio_remove_ex(ctx, loc, &ro), CKPTIO_OK);
	ck_assert_uint_eq(rep.removed, 2);
	ck_assert_uint_eq(rep.kept_young, 1);
	ck_assert(!exists(loc, "__0_0.01d.ckd"));
	ck_assert(!exists(loc, ".__0_1.01d.ckd.tmp.7.0000abcd"));
	ck_assert(exists(loc, "__0_0.f7e500.ckd"));
	ck_assert(exists(loc, "__0_0.0ld.ckd"));
	ck_assert_int_eq(loads_as(loc, 1, 1), 1);

	ro.min_age = 0;
	ck_assert_int_eq(ckptio_remove_ex(ctx, loc, &ro), CKPTIO_OK);
	ck_assert_uint_eq(rep.removed, 1);
	ck_assert(!exists(loc, "__0_0.f7e500.ckd"));
	ck_assert(exists(loc, "__0_0.0ld.ckd"));
	user = at(loc, "__0_0.0ld.ckd");
	ck_assert_int_eq(unlink(user), 0);
	free(user);
	only_named_objects(loc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("commit");
	TCase *tc = tcase_create("commit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_names_must_be_utf8);
	tcase_add_test(tc, test_results_paired_by_name);
	tcase_add_test(tc, test_concurrent_overwrite);
	tcase_add_test(tc, test_overwrite_removes_only_what_it_replaced);
	tcase_add_test(tc, test_refused_plan_leaves_nothing);
	tcase_add_test(tc, test_commit_faults_open);
	tcase_add_test(tc, test_commit_faults_pwrite);
	tcase_add_test(tc, test_commit_faults_pread);
	tcase_add_test(tc, test_commit_faults_fsync);
	tcase_add_test(tc, test_commit_faults_rename);
	tcase_add_test(tc, test_commit_faults_link);
	tcase_add_test(tc, test_commit_faults_unlink);
	tcase_add_test(tc, test_fsync_after_commit_keeps_data);
	tcase_add_test(tc, test_lost_verdict_keeps_data);
	tcase_add_test(tc, test_rm_refuses_a_directory_without_checkpoint);
	tcase_add_test(tc, test_rm_keeps_what_is_not_the_checkpoints);
	tcase_add_test(tc, test_rm_corrupt_metadata);
	tcase_add_test(tc, test_gc_min_age);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
