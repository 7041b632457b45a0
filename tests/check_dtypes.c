/* check_dtypes.c - every dtype through the public API over the real posix
 * plugin: a save and load of each of the 22, then the sub-byte ones (F4,
 * F6_E2M3, F6_E3M2): saved in chunks by two ranks, loaded chunk by chunk,
 * verified and copied, and what is refused (element counts that are not
 * whole bytes, chunks whose rows do not start on a byte, resharding).
 *
 * Rank threads never call ck_assert (Check's failure path is not thread
 * safe): they record their status and message, and the main thread
 * asserts. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckptio/ckptio.h"
#include "testutil.h"

static char *dir;
static ckptio_ctx *ctx;

static void setup(void)
{
	dir = tu_mkdtemp();
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
}

static void teardown(void)
{
	ckptio_ctx_free(ctx);
	tu_rmrf(dir);
	free(dir);
}

static char *path(const char *name)
{
	char *p;

	ck_assert_int_gt(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

/* msg contains want. */
static void error_has(const char *msg, const char *want)
{
	ck_assert_msg(strstr(msg, want) != NULL, "message '%s' lacks '%s'", msg,
		      want);
}

/* ------------------------------------------------------------------------ */
/* Every dtype                                                              */

#define NDTYPES 22
#define ROWS 3
#define COLS 8 /* 24 elements: whole bytes for every dtype */

static size_t bytes_of(ckptio_dtype d)
{
	return (size_t)ROWS * COLS * ckptio_dtype_bits(d) / 8;
}

/* One [ROWS, COLS] tensor of every dtype, named by its dtype, over
 * buf[d] (d = 1..NDTYPES). */
static ckptio_sd *every_dtype_sd(unsigned char *buf[NDTYPES + 1])
{
	const uint64_t shape[2] = {ROWS, COLS};
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (int d = 1; d <= NDTYPES; d++)
		ck_assert_msg(ckptio_sd_add_tensor(sd, ckptio_dtype_name(d), d,
						   2, shape, NULL, NULL,
						   buf[d]) == CKPTIO_OK,
			      "%s: %s", ckptio_dtype_name(d),
			      ckptio_last_error());
	return sd;
}

START_TEST(test_every_dtype_round_trip)
{
	unsigned char *src[NDTYPES + 1], *dst[NDTYPES + 1];
	char *loc = path("all");
	ckptio_ckpt *ck;
	ckptio_sd *sd;

	ck_assert_ptr_null(ckptio_dtype_name(NDTYPES + 1));
	for (int d = 1; d <= NDTYPES; d++) {
		size_t n = bytes_of(d);

		ck_assert_uint_gt(n, 0);
		src[d] = malloc(n);
		dst[d] = calloc(1, n);
		ck_assert(src[d] && dst[d]);
		tu_fill(src[d], n, (uint64_t)d);
	}
	sd = every_dtype_sd(src);
	ck_assert_msg(ckptio_save(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);

	/* The names and byte counts as the metadata holds them. */
	ck_assert_int_eq(ckptio_open(ctx, loc, &ck), CKPTIO_OK);
	ck_assert_uint_eq(ckptio_ckpt_count(ck), NDTYPES);
	for (int d = 1; d <= NDTYPES; d++) {
		ckptio_item_info it = {.struct_size = sizeof(it)};
		size_t i = ckptio_ckpt_find(ck, ckptio_dtype_name(d));

		ck_assert_msg(i != (size_t)-1, "%s", ckptio_dtype_name(d));
		ck_assert_int_eq(ckptio_ckpt_item(ck, i, &it), CKPTIO_OK);
		ck_assert_int_eq(it.dtype, d);
		ck_assert_uint_eq(it.nbytes, bytes_of(d));
	}
	/* 8 dtypes of 8 bits, 4 of 16, 3 of 32, 4 of 64, F4, two F6. */
	ck_assert_uint_eq(ckptio_ckpt_nbytes(ck),
			  ROWS * COLS *
				  (8 * 8 + 4 * 16 + 3 * 32 + 4 * 64 + 4 + 2 * 6) /
				  8);
	ckptio_ckpt_close(ck);

	sd = every_dtype_sd(dst);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	for (int d = 1; d <= NDTYPES; d++) {
		ck_assert_msg(memcmp(src[d], dst[d], bytes_of(d)) == 0, "%s",
			      ckptio_dtype_name(d));
		free(src[d]);
		free(dst[d]);
	}
	ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	free(loc);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Sub-byte tensors that are refused                                        */

static ckptio_status no_read(void *user, uint64_t offset, void *buf,
			     size_t len)
{
	(void)user;
	(void)offset;
	(void)buf;
	(void)len;
	return CKPTIO_EIO;
}

/* Adding the tensor fails with CKPTIO_EINVAL and a message with want, and
 * leaves the state dict as it was; the pull-style variant too. */
static void add_refused(ckptio_dtype d, unsigned ndim, const uint64_t *g,
			const uint64_t *off, const uint64_t *shape,
			const char *want)
{
	static unsigned char buf[64];
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "w", d, ndim, g, off, shape,
					      buf),
			 CKPTIO_EINVAL);
	error_has(ckptio_last_error(), want);
	ck_assert_int_eq(ckptio_sd_add_tensor_fn(sd, "w", d, ndim, g, off,
						 shape, no_read, NULL),
			 CKPTIO_EINVAL);
	error_has(ckptio_last_error(), want);
	ck_assert_uint_eq(ckptio_sd_count(sd), 0);
	ckptio_sd_free(sd);
}

START_TEST(test_sub_byte_refused)
{
	const uint64_t three[1] = {3}, five[1] = {5}, g33[2] = {3, 3};
	const uint64_t g24[2] = {2, 4}, o01[2] = {0, 1}, s22[2] = {2, 2};
	const uint64_t o00[2] = {0, 0}, s23[2] = {2, 3};
	const uint64_t g42[2] = {4, 2}, o20[2] = {2, 0};

	add_refused(CKPTIO_F4, 1, three, NULL, NULL,
		    "item 'w': 3 elements of F4 are 12 bits, not whole bytes");
	add_refused(CKPTIO_F6_E2M3, 1, five, NULL, NULL,
		    "item 'w': 5 elements of F6_E2M3 are 30 bits, not whole "
		    "bytes");
	add_refused(CKPTIO_F6_E3M2, 1, five, NULL, NULL,
		    "item 'w': 5 elements of F6_E3M2 are 30 bits");
	add_refused(CKPTIO_F4, 0, NULL, NULL, NULL,
		    "item 'w': 1 element of F4 is 4 bits, not whole bytes");
	/* A chunk of whole bytes in a tensor of 9 F4: the tensor counts. */
	add_refused(CKPTIO_F4, 2, g33, o00, s23,
		    "item 'w': 9 elements of F4 are 36 bits");
	/* Whole bytes, but rows starting mid-byte: columns [1, 3) of F4. */
	add_refused(CKPTIO_F4, 2, g24, o01, s22,
		    "item 'w': chunk [1, +2) of the last dimension does not "
		    "start and end on whole bytes (F4 is 4 bits per element)");
	/* Rows of 2 F6 (12 bits) split by rows: whole bytes in all (2 rows
	 * = 3 bytes), but row 2 starts mid-byte in the tensor. */
	add_refused(CKPTIO_F6_E3M2, 2, g42, o20, s22,
		    "item 'w': chunk [0, +2) of the last dimension");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Sub-byte tensors in chunks                                               */

/* Saved by two ranks:
 *   q4  F4      [4, 6]  split by rows: rank r has rows [2r, 2r + 2), 6 bytes
 *   q6  F6_E3M2 [2, 8]  split by columns: rank r has columns [4r, 4r + 4),
 *                       two rows of 3 bytes
 * Chunk r of each is filled with tu_fill(seed 40 + r, 50 + r). */
#define Q4_BYTES 6
#define Q6_BYTES 6

typedef struct rank_job {
	ckptio_coord_group *group;
	const char *loc;
	int rank;
	ckptio_status st;
	char msg[512];
} rank_job;

static const uint64_t q4g[2] = {4, 6}, q4s[2] = {2, 6};
static const uint64_t q6g[2] = {2, 8}, q6s[2] = {2, 4};

static void q4_off(int r, uint64_t off[2])
{
	off[0] = 2 * (uint64_t)r;
	off[1] = 0;
}

static void q6_off(int r, uint64_t off[2])
{
	off[0] = 0;
	off[1] = 4 * (uint64_t)r;
}

static void *save_rank(void *arg)
{
	rank_job *j = arg;
	unsigned char q4[Q4_BYTES], q6[Q6_BYTES];
	uint64_t o4[2], o6[2];
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_coord coord;
	ckptio_ctx *c = NULL;
	ckptio_sd *sd = NULL;

	tu_fill(q4, sizeof(q4), 40 + (uint64_t)j->rank);
	tu_fill(q6, sizeof(q6), 50 + (uint64_t)j->rank);
	q4_off(j->rank, o4);
	q6_off(j->rank, o6);
	j->st = ckptio_coord_threads_get(j->group, j->rank, &coord);
	opts.coord = &coord;
	if (j->st == CKPTIO_OK)
		j->st = ckptio_ctx_new(&c, NULL);
	if (j->st == CKPTIO_OK)
		j->st = ckptio_sd_new(&sd);
	if (j->st == CKPTIO_OK)
		j->st = ckptio_sd_add_tensor(sd, "q4", CKPTIO_F4, 2, q4g, o4,
					     q4s, q4);
	if (j->st == CKPTIO_OK)
		j->st = ckptio_sd_add_tensor(sd, "q6", CKPTIO_F6_E3M2, 2, q6g,
					     o6, q6s, q6);
	if (j->st != CKPTIO_OK) {
		snprintf(j->msg, sizeof(j->msg), "%s", ckptio_last_error());
	} else {
		j->st = ckptio_save(c, j->loc, sd, &opts);
		snprintf(j->msg, sizeof(j->msg), "%s", ckptio_errmsg(c));
	}
	ckptio_sd_free(sd);
	ckptio_ctx_free(c);
	return NULL;
}

static void save_two_ranks(const char *loc)
{
	ckptio_coord_group *g;
	rank_job jobs[2];
	pthread_t tid[2];

	ck_assert_int_eq(ckptio_coord_threads_new(&g, 2), CKPTIO_OK);
	for (int r = 0; r < 2; r++) {
		jobs[r] = (rank_job){.group = g, .loc = loc, .rank = r};
		ck_assert_int_eq(pthread_create(&tid[r], NULL, save_rank,
						&jobs[r]),
				 0);
	}
	for (int r = 0; r < 2; r++)
		pthread_join(tid[r], NULL);
	ckptio_coord_threads_free(g);
	for (int r = 0; r < 2; r++)
		ck_assert_msg(jobs[r].st == CKPTIO_OK, "rank %d: %s: %s", r,
			      ckptio_strerror(jobs[r].st), jobs[r].msg);
}

/* The whole q4 and q6 as the ranks' chunks make them up (row-major). */
static void expected_whole(unsigned char q4[2 * Q4_BYTES],
			   unsigned char q6[2 * Q6_BYTES])
{
	unsigned char c6[2][Q6_BYTES];

	/* q4: rank 0's rows, then rank 1's. */
	tu_fill(q4, Q4_BYTES, 40);
	tu_fill(q4 + Q4_BYTES, Q4_BYTES, 41);
	/* q6: each row of 8 F6 is 6 bytes, 3 from each rank's chunk. */
	tu_fill(c6[0], Q6_BYTES, 50);
	tu_fill(c6[1], Q6_BYTES, 51);
	for (int row = 0; row < 2; row++)
		for (int r = 0; r < 2; r++)
			memcpy(q6 + 6 * row + 3 * r, c6[r] + 3 * row, 3);
}

/* Load q4's and q6's chunk r exactly as saved (direct reads). */
static void load_chunk(const char *loc, int r)
{
	unsigned char q4[Q4_BYTES], q6[Q6_BYTES];
	unsigned char w4[Q4_BYTES], w6[Q6_BYTES];
	uint64_t o4[2], o6[2];
	ckptio_sd *sd;

	q4_off(r, o4);
	q6_off(r, o6);
	memset(q4, 0, sizeof(q4));
	memset(q6, 0, sizeof(q6));
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "q4", CKPTIO_F4, 2, q4g, o4,
					      q4s, q4),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "q6", CKPTIO_F6_E3M2, 2, q6g,
					      o6, q6s, q6),
			 CKPTIO_OK);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	tu_fill(w4, sizeof(w4), 40 + (uint64_t)r);
	tu_fill(w6, sizeof(w6), 50 + (uint64_t)r);
	ck_assert(memcmp(q4, w4, sizeof(q4)) == 0);
	ck_assert(memcmp(q6, w6, sizeof(q6)) == 0);
}

/* Loading q4 as the box off/shape is refused: not a saved chunk. */
static void reshard_refused(const char *loc, const uint64_t off[2],
			    const uint64_t shape[2])
{
	unsigned char buf[2 * Q4_BYTES];
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_msg(ckptio_sd_add_tensor(sd, "q4", CKPTIO_F4, 2, q4g, off,
					   shape, buf) == CKPTIO_OK,
		      "%s", ckptio_last_error());
	ck_assert_int_eq(ckptio_load(ctx, loc, sd, NULL), CKPTIO_EUNSUPPORTED);
	error_has(ckptio_errmsg(ctx),
		  "item 'q4': F4 has 4-bit elements, which load only in the "
		  "chunks they were saved in");
	error_has(ckptio_errmsg(ctx),
		  "resharding a sub-byte tensor is not supported");
	ckptio_sd_free(sd);
}

START_TEST(test_sub_byte_chunks)
{
	const uint64_t rows12[2] = {1, 0}, two_rows[2] = {2, 6};
	const uint64_t zero[2] = {0, 0}, cols[2] = {4, 2};
	unsigned char w4[2 * Q4_BYTES], w6[2 * Q6_BYTES];
	unsigned char q4[2 * Q4_BYTES], q6[2 * Q6_BYTES];
	char *loc = path("q"), *copy = path("q-copy");
	ckptio_ckpt *ck;
	ckptio_sd *sd;

	save_two_ranks(loc);
	ck_assert_int_eq(ckptio_open(ctx, loc, &ck), CKPTIO_OK);
	for (size_t i = 0; i < 2; i++) {
		ckptio_item_info it = {.struct_size = sizeof(it)};

		ck_assert_int_eq(ckptio_ckpt_item(ck, i, &it), CKPTIO_OK);
		ck_assert_uint_eq(it.nchunks, 2);
		ck_assert_uint_eq(it.nbytes, 12);
	}
	ckptio_ckpt_close(ck);
	ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	load_chunk(loc, 0);
	load_chunk(loc, 1);

	/* Another split: the whole tensor, rows 1-2 (across both chunks),
	 * or columns [0, 2) of every row (inside no chunk). */
	reshard_refused(loc, zero, q4g);
	reshard_refused(loc, rows12, two_rows);
	reshard_refused(loc, zero, cols);

	/* A copy assembles each tensor whole (one chunk), byte by byte along
	 * the rows: it then loads whole, equal to the chunks put together. */
	ck_assert_msg(ckptio_copy(ctx, loc, copy, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_verify(ctx, copy, NULL), CKPTIO_OK);
	expected_whole(w4, w6);
	memset(q4, 0, sizeof(q4));
	memset(q6, 0, sizeof(q6));
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "q4", CKPTIO_F4, 2, q4g, NULL,
					      NULL, q4),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "q6", CKPTIO_F6_E3M2, 2, q6g,
					      NULL, NULL, q6),
			 CKPTIO_OK);
	ck_assert_msg(ckptio_load(ctx, copy, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	ck_assert(memcmp(q4, w4, sizeof(q4)) == 0);
	ck_assert(memcmp(q6, w6, sizeof(q6)) == 0);
	/* ... and no longer in the saved chunks, which the copy does not
	 * have. */
	reshard_refused(copy, zero, q4s);
	free(loc);
	free(copy);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dtypes");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_dtype_round_trip);
	tcase_add_test(tc, test_sub_byte_refused);
	tcase_add_test(tc, test_sub_byte_chunks);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
