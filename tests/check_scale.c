/* check_scale.c - every step at 10^6 items: plan, metadata, commit, open
 * (ls), verify, load (whole, resharded, and collective: two ranks, rank 0
 * reading the metadata for both), copy and gc, over the real
 * posix plugin, with every byte compared.  Correctness only: nothing here
 * is timed (bench/ measures).  CKPTIO_TEST_SCALE sets the item count
 * (.ci/run's valgrind step runs 20000; make check and the sanitizer build
 * run the full million). */
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckptio/ckptio.h"
#include "testutil.h"

#define ELEMS 16 /* F32 per item: 64 bytes */

static char *dir;
static ckptio_ctx *ctx;
static size_t n;

static void setup(void)
{
	const char *env = getenv("CKPTIO_TEST_SCALE");

	n = env ? strtoul(env, NULL, 10) : 1000000;
	dir = tu_mkdtemp();
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
}

static void teardown(void)
{
	ckptio_ctx_free(ctx);
	tu_rmrf(dir);
	free(dir);
}

/* Item i is "block.<i/1000>.expert.<i%1000>.w" (names not in the order
 * of their insertion when sorted); its 16 floats are i*16 ... */
static void name_of(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "block.%zu.expert.%zu.w", i / 1000, i % 1000);
}

static ckptio_sd *make_sd(float *data)
{
	const uint64_t shape[1] = {ELEMS};
	ckptio_sd *sd;
	char name[64];

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (size_t i = 0; i < n; i++) {
		name_of(i, name, sizeof(name));
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1,
						      shape, NULL, NULL,
						      data + i * ELEMS),
				 CKPTIO_OK);
	}
	return sd;
}

static void check_values(const float *got)
{
	for (size_t i = 0; i < n * ELEMS; i++)
		if (got[i] != (float)i)
			ck_abort_msg("element %zu is %g, not %zu", i,
				     (double)got[i], i);
}

START_TEST(test_million_items)
{
	char *loc = NULL, *copy = NULL;
	float *data = malloc(n * ELEMS * sizeof(float));
	float *back = malloc(n * ELEMS * sizeof(float));
	const uint64_t half[1] = {ELEMS / 2}, off[1] = {ELEMS / 2};
	const uint64_t shape[1] = {ELEMS};
	ckptio_rm_report rep = {.struct_size = sizeof(rep)};
	ckptio_item_info info = {.struct_size = sizeof(info)};
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;
	ckptio_sd *sd;
	ckptio_ckpt *ck;
	char name[64];

	ck_assert(data && back);
	ck_assert_int_gt(asprintf(&loc, "%s/ck", dir), 0);
	ck_assert_int_gt(asprintf(&copy, "%s/copy", dir), 0);
	for (size_t i = 0; i < n * ELEMS; i++)
		data[i] = (float)i;

	/* Plan, metadata, commit. */
	sd = make_sd(data);
	ck_assert_msg(ckptio_save(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);

	/* Open (what ls does): every item found by name. */
	ck_assert_msg(ckptio_open(ctx, loc, &ck) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_uint_eq(ckptio_ckpt_count(ck), n);
	for (size_t i = 0; i < n; i += n / 1000 + 1) {
		size_t k;

		name_of(i, name, sizeof(name));
		k = ckptio_ckpt_find(ck, name);
		ck_assert_uint_ne(k, (size_t)-1);
		ck_assert_int_eq(ckptio_ckpt_item(ck, k, &info), CKPTIO_OK);
		ck_assert_str_eq(info.name, name);
		ck_assert_uint_eq(info.nbytes, ELEMS * sizeof(float));
	}
	ck_assert_int_eq(ckptio_ckpt_debris(ck, 0, &rep), CKPTIO_OK);
	ck_assert_uint_eq(rep.debris, 0);
	ckptio_ckpt_close(ck);

	ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));

	/* Load, whole. */
	memset(back, 0, n * ELEMS * sizeof(float));
	sd = make_sd(back);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	check_values(back);

	/* Load resharded: the second half of every item. */
	memset(back, 0, n * ELEMS * sizeof(float));
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (size_t i = 0; i < n; i++) {
		name_of(i, name, sizeof(name));
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1,
						      shape, off, half,
						      back + i * ELEMS / 2),
				 CKPTIO_OK);
	}
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	for (size_t i = 0; i < n; i++)
		for (size_t e = 0; e < ELEMS / 2; e++)
			ck_assert(back[i * ELEMS / 2 + e] ==
				  (float)(i * ELEMS + ELEMS / 2 + e));

	/* Copy, then overwrite it (the replaced objects go), then gc. */
	ck_assert_msg(ckptio_copy(ctx, loc, copy, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	{
		ckptio_opts o = CKPTIO_OPTS_INIT;

		o.flags = CKPTIO_SAVE_OVERWRITE;
		ck_assert_msg(ckptio_copy(ctx, loc, copy, &o) == CKPTIO_OK,
			      "%s", ckptio_errmsg(ctx));
	}
	ro.flags = CKPTIO_RM_GC_ONLY;
	ro.report = &rep;
	ck_assert_int_eq(ckptio_remove_ex(ctx, copy, &ro), CKPTIO_OK);
	ck_assert_uint_eq(rep.removed, 0);
	memset(back, 0, n * ELEMS * sizeof(float));
	sd = make_sd(back);
	ck_assert_msg(ckptio_load(ctx, copy, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	check_values(back);

	free(loc);
	free(copy);
	free(data);
	free(back);
}
END_TEST

/* Two ranks (threads) that both hold every item, as with data
 * parallelism: n / 2 items each, so rank 0's global step sorts n plan
 * entries (10^6) and spreads the replicas over both ranks (the planner),
 * and every value loads back. */
typedef struct rep_rank {
	ckptio_coord_group *g;
	int rank;
	const char *loc;
	const float *data;
	ckptio_status st;
	char msg[512];
} rep_rank;

static void *rep_save(void *arg)
{
	rep_rank *r = arg;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_coord co;
	ckptio_ctx *c;
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_ctx_new(&c, NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_coord_threads_get(r->g, r->rank, &co),
			 CKPTIO_OK);
	o.coord = &co;
	sd = make_sd((float *)r->data);
	r->st = ckptio_save(c, r->loc, sd, &o);
	snprintf(r->msg, sizeof(r->msg), "%s", ckptio_errmsg(c));
	ckptio_sd_free(sd);
	ckptio_ctx_free(c);
	return NULL;
}

/* Rank r of a collective load: items [r * n / 2, (r + 1) * n / 2) into
 * their places in r->data (rank 0 alone reads the 10^6 items' metadata
 * and broadcasts it). */
static void *rep_load(void *arg)
{
	rep_rank *r = arg;
	const uint64_t shape[1] = {ELEMS};
	size_t first = (size_t)r->rank * n / 2, last = (size_t)(r->rank + 1) * n / 2;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_coord co;
	ckptio_ctx *c;
	ckptio_sd *sd;
	char name[64];

	ck_assert_int_eq(ckptio_ctx_new(&c, NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_coord_threads_get(r->g, r->rank, &co),
			 CKPTIO_OK);
	o.coord = &co;
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (size_t i = first; i < last; i++) {
		name_of(i, name, sizeof(name));
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1,
						      shape, NULL, NULL,
						      (float *)r->data +
							      i * ELEMS),
				 CKPTIO_OK);
	}
	r->st = ckptio_load(c, r->loc, sd, &o);
	snprintf(r->msg, sizeof(r->msg), "%s", ckptio_errmsg(c));
	ckptio_sd_free(sd);
	ckptio_ctx_free(c);
	return NULL;
}

START_TEST(test_million_replicated_two_ranks)
{
	float *data = malloc(n * ELEMS * sizeof(float));
	float *back = malloc(n * ELEMS * sizeof(float));
	rep_rank r[2];
	pthread_t t[2];
	ckptio_coord_group *g;
	int by_rank[2] = {0, 0};
	struct dirent *e;
	char *loc = NULL;
	ckptio_sd *sd;
	size_t entries = n;
	DIR *d;

	n = entries / 2; /* items per rank (make_sd, check_values) */
	ck_assert(data && back);
	ck_assert_int_gt(asprintf(&loc, "%s/rep", dir), 0);
	for (size_t i = 0; i < n * ELEMS; i++)
		data[i] = (float)i;
	ck_assert_int_eq(ckptio_coord_threads_new(&g, 2), CKPTIO_OK);
	for (int k = 0; k < 2; k++) {
		r[k] = (rep_rank){g, k, loc, data, CKPTIO_OK, ""};
		ck_assert_int_eq(pthread_create(&t[k], NULL, rep_save, &r[k]),
				 0);
	}
	for (int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	ckptio_coord_threads_free(g);
	for (int k = 0; k < 2; k++)
		ck_assert_msg(r[k].st == CKPTIO_OK, "rank %d: %s", k, r[k].msg);

	/* Both ranks wrote data objects (__0_*, __1_*). */
	d = opendir(loc);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "__", 2) == 0 &&
		    (e->d_name[2] == '0' || e->d_name[2] == '1'))
			by_rank[e->d_name[2] - '0']++;
	closedir(d);
	ck_assert_msg(by_rank[0] > 0 && by_rank[1] > 0,
		      "data objects by rank: %d and %d", by_rank[0],
		      by_rank[1]);

	memset(back, 0, n * ELEMS * sizeof(float));
	sd = make_sd(back);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	check_values(back);

	/* The same items loaded collectively, half by each rank. */
	memset(back, 0, n * ELEMS * sizeof(float));
	ck_assert_int_eq(ckptio_coord_threads_new(&g, 2), CKPTIO_OK);
	for (int k = 0; k < 2; k++) {
		r[k] = (rep_rank){g, k, loc, back, CKPTIO_OK, ""};
		ck_assert_int_eq(pthread_create(&t[k], NULL, rep_load, &r[k]),
				 0);
	}
	for (int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	ckptio_coord_threads_free(g);
	for (int k = 0; k < 2; k++)
		ck_assert_msg(r[k].st == CKPTIO_OK, "collective load, rank %d: "
			      "%s", k, r[k].msg);
	check_values(back);
	free(loc);
	free(data);
	free(back);
	n = entries;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scale");
	TCase *tc = tcase_create("scale");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_million_items);
	tcase_add_test(tc, test_million_replicated_two_ranks);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
