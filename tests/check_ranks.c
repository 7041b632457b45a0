/* check_ranks.c - several ranks as threads of one process, each with its
 * own context and the in-process coordinator, saving shards of the same
 * tensors to one checkpoint; then loading it back with another number of
 * ranks and another split (resharding), and the ways a multi-rank save
 * must fail on every rank at once, leaving nothing behind.
 *
 * The saved state dict, with values that are a function of the global
 * index so that any misplaced element shows:
 *   A     F32  [16, 10]  split by rows, 4 per rank
 *   B     I64  [6, 12]   split by columns, 3 per rank
 *   C     BF16 [5, 7]    replicated on every rank (written once)
 *   step  bytes          replicated on every rank
 *   rank0.only  bytes    on rank 0 only
 *
 * Rank threads never call ck_assert (Check's failure path is not thread
 * safe): they record their status, message and mismatches, and the main
 * thread asserts. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckptio/ckptio.h"
#include "testutil.h"

#define SAVE_WORLD 4
#define LOAD_WORLD 2
#define SAVE_THREADS 3 /* writer threads per rank, pinned for the layout */

#define A_ROWS 16
#define A_COLS 10
#define B_ROWS 6
#define B_COLS 12
#define C_ROWS 5
#define C_COLS 7

static const char STEP[] = "step=000042";
static const char RANK0[] = "written by rank 0 alone";

static char *dir; /* fresh per test */
static char *loc; /* dir/ck */

/* ------------------------------------------------------------------------ */
/* Values by global index                                                   */

static float a_val(unsigned r, unsigned c)
{
	return (float)(r * 1000 + c);
}

static int64_t b_val(unsigned r, unsigned c)
{
	return (int64_t)r * 1000000007LL - (int64_t)c * 31 - 5;
}

static uint16_t c_val(unsigned r, unsigned c)
{
	return (uint16_t)(0x3f00 + r * 64 + c); /* a BF16 bit pattern */
}

/* ------------------------------------------------------------------------ */
/* Fixture                                                                  */

static void setup(void)
{
	dir = tu_mkdtemp();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_gt(asprintf(&loc, "%s/ck", dir), 0);
}

static void teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	free(loc);
}

/* Names in dir/ck, sorted, joined by ';' (each followed by one); "" when
 * the directory is absent or empty. */
static char *list_ck(void)
{
	struct dirent **ents;
	size_t cap = 1, len = 0;
	char *out;
	int n = scandir(loc, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++)
		cap += strlen(ents[i]->d_name) + 1;
	out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			len += (size_t)sprintf(out + len, "%s;", name);
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
	return out;
}

/* ------------------------------------------------------------------------ */
/* Ranks                                                                    */

typedef enum save_mode {
	SAVE_GOOD,
	SAVE_ASYNC,
	SAVE_BAD_DTYPE, /* rank 2 declares A as F64 */
	SAVE_NO_COVER,  /* rank 3 leaves out its rows of A */
	SAVE_BAD_BYTES  /* rank 1's replica of step is one byte shorter */
} save_mode;

typedef struct rank_job {
	ckptio_coord_group *group;
	int rank;
	save_mode mode;
	ckptio_status st;
	char msg[2048];
	long bad;           /* load: values that did not match */
	char first_bad[256];
} rank_job;

static void job_fail(rank_job *j, ckptio_status st, const char *what,
		     const char *msg)
{
	if (j->st == CKPTIO_OK) {
		j->st = st;
		snprintf(j->msg, sizeof(j->msg), "%s: %s", what, msg);
	}
}

/* The first wrong element, as "what[r][c]". */
static void job_mismatch(rank_job *j, const char *what, unsigned r,
			 unsigned c)
{
	if (j->bad++ == 0)
		snprintf(j->first_bad, sizeof(j->first_bad), "%s[%u][%u]",
			 what, r, c);
}

/* Rank j->rank's shard of every item, in the layout described on top. */
static void *save_rank(void *arg)
{
	rank_job *j = arg;
	const int r = j->rank;
	const uint64_t ag[2] = {A_ROWS, A_COLS}, bg[2] = {B_ROWS, B_COLS};
	const uint64_t cg[2] = {C_ROWS, C_COLS};
	const uint64_t aoff[2] = {(uint64_t)r * 4, 0}, ashape[2] = {4, A_COLS};
	const uint64_t boff[2] = {0, (uint64_t)r * 3}, bshape[2] = {B_ROWS, 3};
	float a[4 * A_COLS];
	double a64[4 * A_COLS];
	int64_t b[B_ROWS * 3];
	uint16_t c[C_ROWS * C_COLS];
	char step[sizeof(STEP)], only[sizeof(RANK0)];
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_coord coord;
	ckptio_ctx *ctx = NULL;
	ckptio_sd *sd = NULL;
	ckptio_status st;

	for (unsigned i = 0; i < 4; i++)
		for (unsigned k = 0; k < A_COLS; k++) {
			a[i * A_COLS + k] = a_val(4 * (unsigned)r + i, k);
			a64[i * A_COLS + k] = a[i * A_COLS + k];
		}
	for (unsigned i = 0; i < B_ROWS; i++)
		for (unsigned k = 0; k < 3; k++)
			b[i * 3 + k] = b_val(i, 3 * (unsigned)r + k);
	for (unsigned i = 0; i < C_ROWS; i++)
		for (unsigned k = 0; k < C_COLS; k++)
			c[i * C_COLS + k] = c_val(i, k);
	memcpy(step, STEP, sizeof(STEP));
	memcpy(only, RANK0, sizeof(RANK0));

	ckptio_coord_threads_get(j->group, r, &coord);
	opts.coord = &coord;
	opts.threads = SAVE_THREADS;
	st = ckptio_ctx_new(&ctx, NULL);
	if (st != CKPTIO_OK) {
		job_fail(j, st, "ckptio_ctx_new", ckptio_last_error());
		return NULL;
	}
	st = ckptio_sd_new(&sd);
	if (st == CKPTIO_OK && !(j->mode == SAVE_NO_COVER && r == 3)) {
		if (j->mode == SAVE_BAD_DTYPE && r == 2)
			st = ckptio_sd_add_tensor(sd, "A", CKPTIO_F64, 2, ag,
						  aoff, ashape, a64);
		else
			st = ckptio_sd_add_tensor(sd, "A", CKPTIO_F32, 2, ag,
						  aoff, ashape, a);
	}
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "B", CKPTIO_I64, 2, bg, boff,
					  bshape, b);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "C", CKPTIO_BF16, 2, cg, NULL,
					  NULL, c);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_bytes(sd, "step", step,
					 sizeof(step) -
						 (j->mode == SAVE_BAD_BYTES &&
						  r == 1));
	if (st == CKPTIO_OK && r == 0)
		st = ckptio_sd_add_bytes(sd, "rank0.only", only, sizeof(only));
	if (st != CKPTIO_OK) {
		/* The save must still run: the other ranks wait for us. */
		job_fail(j, st, "building the state dict", ckptio_last_error());
	}
	if (j->mode == SAVE_ASYNC) {
		ckptio_future *f = NULL;

		st = ckptio_async_save(ctx, loc, sd, &opts, &f);
		if (st == CKPTIO_OK) {
			st = ckptio_future_wait(f);
			if (st != CKPTIO_OK)
				job_fail(j, st, "async save",
					 ckptio_future_errmsg(f));
			ckptio_future_free(f);
		} else {
			job_fail(j, st, "async_save", ckptio_errmsg(ctx));
		}
	} else {
		st = ckptio_save(ctx, loc, sd, &opts);
		if (st != CKPTIO_OK)
			job_fail(j, st, "save", ckptio_errmsg(ctx));
	}
	ckptio_sd_free(sd);
	ckptio_ctx_free(ctx);
	return NULL;
}

/* Load with LOAD_WORLD ranks and another split:
 *   A by columns (5 each), B by rows (3 each), C by rows (3 and 2). */
static void *load_rank(void *arg)
{
	rank_job *j = arg;
	const unsigned r = (unsigned)j->rank;
	const uint64_t ag[2] = {A_ROWS, A_COLS}, bg[2] = {B_ROWS, B_COLS};
	const uint64_t cg[2] = {C_ROWS, C_COLS};
	const uint64_t aoff[2] = {0, 5 * r}, ashape[2] = {A_ROWS, 5};
	const uint64_t boff[2] = {3 * r, 0}, bshape[2] = {3, B_COLS};
	const unsigned crow0 = r == 0 ? 0 : 3, crows = r == 0 ? 3 : 2;
	const uint64_t coff[2] = {crow0, 0}, cshape[2] = {crows, C_COLS};
	float a[A_ROWS * 5];
	int64_t b[3 * B_COLS];
	uint16_t c[3 * C_COLS];
	char step[sizeof(STEP)], only[sizeof(RANK0)];
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_coord coord;
	ckptio_ctx *ctx = NULL;
	ckptio_sd *sd = NULL;
	ckptio_status st;

	memset(a, 0xa5, sizeof(a));
	memset(b, 0xa5, sizeof(b));
	memset(c, 0xa5, sizeof(c));
	memset(step, 0, sizeof(step));
	memset(only, 0, sizeof(only));
	ckptio_coord_threads_get(j->group, (int)r, &coord);
	opts.coord = &coord;
	st = ckptio_ctx_new(&ctx, NULL);
	if (st != CKPTIO_OK) {
		job_fail(j, st, "ckptio_ctx_new", ckptio_last_error());
		return NULL;
	}
	st = ckptio_sd_new(&sd);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "A", CKPTIO_F32, 2, ag, aoff,
					  ashape, a);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "B", CKPTIO_I64, 2, bg, boff,
					  bshape, b);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "C", CKPTIO_BF16, 2, cg, coff,
					  cshape, c);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_bytes(sd, "step", step, sizeof(step));
	if (st == CKPTIO_OK && r == 0)
		st = ckptio_sd_add_bytes(sd, "rank0.only", only, sizeof(only));
	if (st != CKPTIO_OK)
		job_fail(j, st, "building the state dict", ckptio_last_error());
	else if ((st = ckptio_load(ctx, loc, sd, &opts)) != CKPTIO_OK)
		job_fail(j, st, "load", ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	ckptio_ctx_free(ctx);
	if (j->st != CKPTIO_OK)
		return NULL;
	for (unsigned i = 0; i < A_ROWS; i++)
		for (unsigned k = 0; k < 5; k++)
			if (a[i * 5 + k] != a_val(i, 5 * r + k))
				job_mismatch(j, "A", i, 5 * r + k);
	for (unsigned i = 0; i < 3; i++)
		for (unsigned k = 0; k < B_COLS; k++)
			if (b[i * B_COLS + k] != b_val(3 * r + i, k))
				job_mismatch(j, "B", 3 * r + i, k);
	for (unsigned i = 0; i < crows; i++)
		for (unsigned k = 0; k < C_COLS; k++)
			if (c[i * C_COLS + k] != c_val(crow0 + i, k))
				job_mismatch(j, "C", crow0 + i, k);
	if (memcmp(step, STEP, sizeof(STEP)) != 0)
		job_mismatch(j, "step", 0, 0);
	if (r == 0 && memcmp(only, RANK0, sizeof(RANK0)) != 0)
		job_mismatch(j, "rank0.only", 0, 0);
	return NULL;
}

/* Run `world` rank threads of fn over one coordinator group. */
static void run_ranks(int world, void *(*fn)(void *), save_mode mode,
		      rank_job *jobs)
{
	ckptio_coord_group *g;
	pthread_t tid[SAVE_WORLD];

	ck_assert_int_le(world, SAVE_WORLD);
	ck_assert_int_eq(ckptio_coord_threads_new(&g, world), CKPTIO_OK);
	for (int r = 0; r < world; r++) {
		memset(&jobs[r], 0, sizeof(jobs[r]));
		jobs[r].group = g;
		jobs[r].rank = r;
		jobs[r].mode = mode;
		ck_assert_int_eq(pthread_create(&tid[r], NULL, fn, &jobs[r]), 0);
	}
	for (int r = 0; r < world; r++)
		pthread_join(tid[r], NULL);
	ckptio_coord_threads_free(g);
}

static void save_all(save_mode mode)
{
	rank_job jobs[SAVE_WORLD];

	run_ranks(SAVE_WORLD, save_rank, mode, jobs);
	for (int r = 0; r < SAVE_WORLD; r++)
		ck_assert_msg(jobs[r].st == CKPTIO_OK, "rank %d: %s (%s)", r,
			      jobs[r].msg, ckptio_strerror(jobs[r].st));
}

/* ------------------------------------------------------------------------ */
/* Checks on a saved checkpoint                                             */

static void load_resharded(void)
{
	rank_job jobs[LOAD_WORLD];

	run_ranks(LOAD_WORLD, load_rank, SAVE_GOOD, jobs);
	for (int r = 0; r < LOAD_WORLD; r++) {
		ck_assert_msg(jobs[r].st == CKPTIO_OK, "load rank %d: %s", r,
			      jobs[r].msg);
		ck_assert_msg(jobs[r].bad == 0,
			      "load rank %d: %ld wrong values, first %s", r,
			      jobs[r].bad, jobs[r].first_bad);
	}
}

/* The whole of every tensor, in one process and one buffer each. */
static void load_whole(void)
{
	const uint64_t ag[2] = {A_ROWS, A_COLS}, bg[2] = {B_ROWS, B_COLS};
	const uint64_t cg[2] = {C_ROWS, C_COLS};
	float a[A_ROWS * A_COLS];
	int64_t b[B_ROWS * B_COLS];
	uint16_t c[C_ROWS * C_COLS];
	ckptio_ctx *ctx;
	ckptio_sd *sd;

	memset(a, 0xa5, sizeof(a));
	memset(b, 0xa5, sizeof(b));
	memset(c, 0xa5, sizeof(c));
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "A", CKPTIO_F32, 2, ag, NULL,
					      NULL, a), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "B", CKPTIO_I64, 2, bg, NULL,
					      NULL, b), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "C", CKPTIO_BF16, 2, cg, NULL,
					      NULL, c), CKPTIO_OK);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	for (unsigned i = 0; i < A_ROWS; i++)
		for (unsigned k = 0; k < A_COLS; k++)
			ck_assert_msg(a[i * A_COLS + k] == a_val(i, k),
				      "A[%u][%u] = %g", i, k,
				      (double)a[i * A_COLS + k]);
	for (unsigned i = 0; i < B_ROWS; i++)
		for (unsigned k = 0; k < B_COLS; k++)
			ck_assert_msg(b[i * B_COLS + k] == b_val(i, k),
				      "B[%u][%u] = %lld", i, k,
				      (long long)b[i * B_COLS + k]);
	for (unsigned i = 0; i < C_ROWS; i++)
		for (unsigned k = 0; k < C_COLS; k++)
			ck_assert_msg(c[i * C_COLS + k] == c_val(i, k),
				      "C[%u][%u] = %#x", i, k,
				      c[i * C_COLS + k]);
	ck_assert_int_eq(ckptio_verify(ctx, loc, NULL), CKPTIO_OK);
	ckptio_sd_free(sd);
	ckptio_ctx_free(ctx);
}

static void expect_item(const ckptio_ckpt *ck, const char *name,
			ckptio_item_kind kind, ckptio_dtype dtype,
			uint64_t rows, uint64_t cols, uint64_t nbytes,
			size_t nchunks)
{
	ckptio_item_info info = {.struct_size = sizeof(info)};
	size_t i = ckptio_ckpt_find(ck, name);

	ck_assert_msg(i != (size_t)-1, "item %s missing", name);
	ck_assert_int_eq(ckptio_ckpt_item(ck, i, &info), CKPTIO_OK);
	ck_assert_str_eq(info.name, name);
	ck_assert_int_eq(info.kind, kind);
	ck_assert_uint_eq(info.nbytes, nbytes);
	ck_assert_uint_eq(info.nchunks, nchunks);
	if (kind == CKPTIO_ITEM_BYTES)
		return;
	ck_assert_int_eq(info.dtype, dtype);
	ck_assert_uint_eq(info.ndim, 2);
	ck_assert_uint_eq(info.shape[0], rows);
	ck_assert_uint_eq(info.shape[1], cols);
}

static void check_open(void)
{
	ckptio_ctx *ctx;
	ckptio_ckpt *ck;

	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	ck_assert_msg(ckptio_open(ctx, loc, &ck) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_ckpt_world(ck), SAVE_WORLD);
	ck_assert_str_eq(ckptio_ckpt_layout(ck), "native");
	ck_assert_uint_eq(ckptio_ckpt_count(ck), 5);
	expect_item(ck, "A", CKPTIO_ITEM_TENSOR, CKPTIO_F32, A_ROWS, A_COLS,
		    A_ROWS * A_COLS * 4, SAVE_WORLD);
	expect_item(ck, "B", CKPTIO_ITEM_TENSOR, CKPTIO_I64, B_ROWS, B_COLS,
		    B_ROWS * B_COLS * 8, SAVE_WORLD);
	/* Replicated: one chunk, written once. */
	expect_item(ck, "C", CKPTIO_ITEM_TENSOR, CKPTIO_BF16, C_ROWS, C_COLS,
		    C_ROWS * C_COLS * 2, 1);
	expect_item(ck, "step", CKPTIO_ITEM_BYTES, CKPTIO_DTYPE_INVALID, 0, 0,
		    sizeof(STEP), 1);
	expect_item(ck, "rank0.only", CKPTIO_ITEM_BYTES, CKPTIO_DTYPE_INVALID,
		    0, 0, sizeof(RANK0), 1);
	ck_assert_uint_eq(ckptio_ckpt_nbytes(ck),
			  A_ROWS * A_COLS * 4 + B_ROWS * B_COLS * 8 +
				  C_ROWS * C_COLS * 2 + sizeof(STEP) +
				  sizeof(RANK0));
	ckptio_ckpt_close(ck);
	ckptio_ctx_free(ctx);
}

/* Parse "__<rank>_<n>.<token>.ckd"; 0 on success. */
static int parse_object(const char *name, int *rank, int *n, char *token,
			size_t toklen)
{
	int used = 0;
	const char *dot;
	size_t len = strlen(name);

	if (sscanf(name, "__%d_%d.%n", rank, n, &used) != 2 || used == 0 ||
	    len < 4 || strcmp(name + len - 4, ".ckd") != 0)
		return -1;
	dot = name + used;
	if ((size_t)(name + len - 4 - dot) >= toklen || name + len - 4 <= dot)
		return -1;
	memcpy(token, dot, (size_t)(name + len - 4 - dot));
	token[name + len - 4 - dot] = '\0';
	return 0;
}

/* The object of a chunk, from .metadata.json (version 2: items are
 * [name, dtype, shape, chunks], a chunk starts with its object's index
 * in "objects"). */
static const char *object_of(json_t *md, json_t *chunk)
{
	return json_string_value(
		json_array_get(json_object_get(md, "objects"),
			       (size_t)json_integer_value(
				       json_array_get(chunk, 0))));
}

/* The object holding item `name`'s only chunk. */
static const char *chunk_object(json_t *md, const char *name)
{
	json_t *items = json_object_get(md, "items"), *it;
	size_t i;

	json_array_foreach(items, i, it) {
		if (strcmp(json_string_value(json_array_get(it, 0)), name) == 0)
			return object_of(md, json_array_get(
						     json_array_get(it, 3), 0));
	}
	return NULL;
}

/* The checkpoint directory holds .metadata.json and exactly one data
 * object per rank and writer thread that had something to write.  C and
 * step are on every rank but written once: step (bytes) by the lowest
 * rank, C (a tensor) by the least loaded rank that holds it (the
 * planner), which is rank 1: rank 0 already writes step and rank0.only.
 * So rank 0 writes A, B, step and rank0.only: min(4, SAVE_THREADS)
 * objects; rank 1 A, B and C: min(3, SAVE_THREADS); ranks 2-3 A and B.
 * No temporary file stays, and the metadata references exactly the
 * objects present. */
static void check_objects(void)
{
	const int want[SAVE_WORLD] = {4 < SAVE_THREADS ? 4 : SAVE_THREADS,
				      3 < SAVE_THREADS ? 3 : SAVE_THREADS, 2,
				      2};
	int seen[SAVE_WORLD][8] = {{0}};
	char token[64] = "", tok[64], *names = list_ck(), *save = NULL;
	char *mdpath, *referenced = NULL;
	size_t nobjects = 0, rlen = 0;
	json_error_t jerr;
	json_t *md, *items, *it, *chunk;
	size_t i, k;
	int nmeta = 0;

	for (char *name = strtok_r(names, ";", &save); name;
	     name = strtok_r(NULL, ";", &save)) {
		int r, n;

		if (strcmp(name, ".metadata.json") == 0) {
			nmeta++;
			continue;
		}
		ck_assert_msg(parse_object(name, &r, &n, tok, sizeof(tok)) == 0,
			      "unexpected file %s in the checkpoint", name);
		ck_assert_msg(r >= 0 && r < SAVE_WORLD && n >= 0 && n < 8,
			      "object %s: bad rank or index", name);
		if (!token[0])
			snprintf(token, sizeof(token), "%s", tok);
		ck_assert_msg(strcmp(token, tok) == 0,
			      "objects of two saves: %s and token %s", name,
			      token);
		seen[r][n]++;
		nobjects++;
	}
	free(names);
	ck_assert_int_eq(nmeta, 1);
	for (int r = 0; r < SAVE_WORLD; r++)
		for (int n = 0; n < 8; n++)
			ck_assert_msg(seen[r][n] == (n < want[r]),
				      "rank %d object %d: %d present, want %d",
				      r, n, seen[r][n], n < want[r]);

	/* Every object present is referenced, and nothing else is. */
	ck_assert_int_gt(asprintf(&mdpath, "%s/.metadata.json", loc), 0);
	md = json_load_file(mdpath, 0, &jerr);
	ck_assert_msg(md != NULL, "%s: %s", mdpath, jerr.text);
	free(mdpath);
	items = json_object_get(md, "items");
	referenced = calloc(1, 1);
	json_array_foreach(items, i, it) {
		json_array_foreach(json_array_get(it, 3), k, chunk) {
			const char *obj = object_of(md, chunk);
			char *p;
			struct stat sb;

			ck_assert_ptr_nonnull(obj);
			ck_assert_int_gt(asprintf(&p, "%s/%s", loc, obj), 0);
			ck_assert_msg(stat(p, &sb) == 0, "%s missing", p);
			free(p);
			if (!strstr(referenced, obj)) {
				referenced = realloc(referenced,
						     rlen + strlen(obj) + 2);
				rlen += (size_t)sprintf(referenced + rlen,
							"%s;", obj);
			}
		}
	}
	{
		size_t nref = 0;

		for (const char *p = referenced; (p = strchr(p, ';')); p++)
			nref++;
		ck_assert_uint_eq(nref, nobjects);
	}
	free(referenced);
	/* Replicated items were written once: the tensor by the least
	 * loaded rank, the bytes item by the lowest. */
	ck_assert_int_eq(strncmp(chunk_object(md, "C"), "__1_", 4), 0);
	ck_assert_int_eq(strncmp(chunk_object(md, "step"), "__0_", 4), 0);
	ck_assert_int_eq(strncmp(chunk_object(md, "rank0.only"), "__0_", 4), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(md, "world")),
			 SAVE_WORLD);
	json_decref(md);
}

/* A failed multi-rank save: every rank reports st with a message holding
 * both needles, and nothing is left in the checkpoint directory. */
static void expect_all_fail(save_mode mode, ckptio_status st,
			    const char *needle1, const char *needle2)
{
	rank_job jobs[SAVE_WORLD];
	char *names;

	run_ranks(SAVE_WORLD, save_rank, mode, jobs);
	for (int r = 0; r < SAVE_WORLD; r++) {
		ck_assert_msg(jobs[r].st == st, "rank %d: %s (%s), want %s", r,
			      jobs[r].msg, ckptio_strerror(jobs[r].st),
			      ckptio_strerror(st));
		ck_assert_msg(strstr(jobs[r].msg, needle1) &&
				      strstr(jobs[r].msg, needle2),
			      "rank %d: '%s' lacks '%s' or '%s'", r,
			      jobs[r].msg, needle1, needle2);
	}
	names = list_ck();
	ck_assert_msg(names[0] == '\0', "left behind: %s", names);
	free(names);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

/* ------------------------------------------------------------------------ */
/* Replicated tensors (data parallelism) are written by every rank          */

#define REP_N 8       /* tensors, each on every rank */
#define REP_LEN 1000  /* floats each */

static float rep_w[REP_N][REP_LEN]; /* every rank saves these bytes */

static float rep_val(unsigned t, unsigned i)
{
	return (float)(t * 100000 + i);
}

static void *save_replicated_rank(void *arg)
{
	rank_job *j = arg;
	const uint64_t shape[1] = {REP_LEN};
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_coord coord;
	ckptio_ctx *ctx = NULL;
	ckptio_sd *sd = NULL;
	ckptio_status st;

	ckptio_coord_threads_get(j->group, j->rank, &coord);
	opts.coord = &coord;
	opts.threads = 1;
	st = ckptio_ctx_new(&ctx, NULL);
	if (st == CKPTIO_OK)
		st = ckptio_sd_new(&sd);
	for (unsigned t = 0; st == CKPTIO_OK && t < REP_N; t++) {
		char name[16];

		snprintf(name, sizeof(name), "w%u", t);
		st = ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1, shape, NULL,
					  NULL, rep_w[t]);
	}
	if (st != CKPTIO_OK) /* the save must still run: the others wait */
		job_fail(j, st, "building the state dict", ckptio_last_error());
	st = ckptio_save(ctx, loc, sd, &opts);
	if (st != CKPTIO_OK)
		job_fail(j, st, "ckptio_save", ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	ckptio_ctx_free(ctx);
	return NULL;
}

/* Every rank holds the whole model: the planner spreads the writing over
 * all of them (2 tensors each), not rank 0 alone, and one process loads
 * every value back. */
START_TEST(test_replicated_spread_over_ranks)
{
	rank_job jobs[SAVE_WORLD];
	int per_rank[SAVE_WORLD] = {0};
	static float back[REP_LEN];
	const uint64_t shape[1] = {REP_LEN};
	char *mdpath;
	json_error_t jerr;
	json_t *md;
	ckptio_ctx *ctx;
	ckptio_sd *sd;

	for (unsigned t = 0; t < REP_N; t++)
		for (unsigned i = 0; i < REP_LEN; i++)
			rep_w[t][i] = rep_val(t, i);
	run_ranks(SAVE_WORLD, save_replicated_rank, SAVE_GOOD, jobs);
	for (int r = 0; r < SAVE_WORLD; r++)
		ck_assert_msg(jobs[r].st == CKPTIO_OK, "rank %d: %s", r,
			      jobs[r].msg);
	ck_assert_int_gt(asprintf(&mdpath, "%s/.metadata.json", loc), 0);
	md = json_load_file(mdpath, 0, &jerr);
	ck_assert_msg(md != NULL, "%s: %s", mdpath, jerr.text);
	free(mdpath);
	for (unsigned t = 0; t < REP_N; t++) {
		char name[16];
		const char *obj;
		int r;

		snprintf(name, sizeof(name), "w%u", t);
		obj = chunk_object(md, name);
		ck_assert_ptr_nonnull(obj);
		ck_assert_int_eq(sscanf(obj, "__%d_", &r), 1);
		ck_assert_int_ge(r, 0);
		ck_assert_int_lt(r, SAVE_WORLD);
		per_rank[r]++;
	}
	json_decref(md);
	for (int r = 0; r < SAVE_WORLD; r++)
		ck_assert_msg(per_rank[r] == REP_N / SAVE_WORLD,
			      "rank %d wrote %d of the %d replicated tensors",
			      r, per_rank[r], REP_N);

	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	for (unsigned t = 0; t < REP_N; t++) {
		char name[16];

		snprintf(name, sizeof(name), "w%u", t);
		memset(back, 0, sizeof(back));
		ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1,
						      shape, NULL, NULL, back),
				 CKPTIO_OK);
		ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK,
			      "%s", ckptio_errmsg(ctx));
		ckptio_sd_free(sd);
		ck_assert_msg(memcmp(back, rep_w[t], sizeof(back)) == 0,
			      "tensor %s loaded wrong values", name);
	}
	ckptio_ctx_free(ctx);
}
END_TEST

START_TEST(test_four_ranks_save_two_load)
{
	save_all(SAVE_GOOD);
	check_open();
	check_objects();
	load_resharded();
	load_whole();
}
END_TEST

/* A copy assembles an item saved in chunks by several ranks (A: one row
 * block per rank) and checks each chunk's CRC32C as it reads it: a bit
 * flipped inside one chunk fails the copy, naming the item, and leaves no
 * checkpoint at the destination. */
START_TEST(test_copy_checks_every_chunk)
{
	ckptio_ctx *ctx;
	json_t *md, *items, *it, *chunk = NULL;
	char *mdpath, *obj, *dst;
	size_t i;

	save_all(SAVE_GOOD);
	ck_assert_int_gt(asprintf(&mdpath, "%s/.metadata.json", loc), 0);
	ck_assert_ptr_nonnull(md = json_load_file(mdpath, 0, NULL));
	items = json_object_get(md, "items");
	json_array_foreach(items, i, it)
		if (!strcmp(json_string_value(json_array_get(it, 0)), "A"))
			chunk = json_array_get(json_array_get(it, 3), 1);
	ck_assert_ptr_nonnull(chunk); /* A's second chunk */
	ck_assert_int_gt(asprintf(&obj, "%s/%s", loc, object_of(md, chunk)),
			 0);
	tu_flip_bit(obj, (uint64_t)json_integer_value(json_array_get(chunk, 1)) +
				 (uint64_t)json_integer_value(
					 json_array_get(chunk, 2)) / 2,
		    5);
	ck_assert_int_gt(asprintf(&dst, "%s/copy", dir), 0);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_copy(ctx, loc, dst, NULL), CKPTIO_ECORRUPT);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), "'A'") &&
			      strstr(ckptio_errmsg(ctx), "CRC32C"),
		      "%s", ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_verify(ctx, dst, NULL), CKPTIO_ENOTFOUND);
	ckptio_ctx_free(ctx);
	json_decref(md);
	free(mdpath);
	free(obj);
	free(dst);
}
END_TEST

START_TEST(test_async_per_rank)
{
	save_all(SAVE_ASYNC);
	check_open();
	check_objects();
	load_resharded();
	load_whole();
}
END_TEST

START_TEST(test_dtype_disagreement_fails_everywhere)
{
	expect_all_fail(SAVE_BAD_DTYPE, CKPTIO_EINVAL, "'A'", "disagree");
}
END_TEST

START_TEST(test_chunks_must_tile)
{
	expect_all_fail(SAVE_NO_COVER, CKPTIO_EINVAL, "'A'", "cover");
}
END_TEST

/* A bytes item replicated on every rank is written once: the ranks must
 * agree on its length, or one rank's blob would be dropped unseen. */
START_TEST(test_bytes_replicas_must_agree)
{
	expect_all_fail(SAVE_BAD_BYTES, CKPTIO_EINVAL, "'step'", "length");
}
END_TEST

/* A failed save does not disturb an earlier checkpoint at the same place,
 * and a second save of the same id is refused on every rank. */
START_TEST(test_failure_keeps_previous)
{
	rank_job jobs[SAVE_WORLD];

	save_all(SAVE_GOOD);
	run_ranks(SAVE_WORLD, save_rank, SAVE_GOOD, jobs);
	for (int r = 0; r < SAVE_WORLD; r++)
		ck_assert_msg(jobs[r].st == CKPTIO_EEXIST, "rank %d: %s", r,
			      jobs[r].msg);
	run_ranks(SAVE_WORLD, save_rank, SAVE_BAD_DTYPE, jobs);
	for (int r = 0; r < SAVE_WORLD; r++)
		ck_assert_int_ne(jobs[r].st, CKPTIO_OK);
	check_objects();
	load_resharded();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ranks");
	TCase *tc = tcase_create("threads");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_four_ranks_save_two_load);
	tcase_add_test(tc, test_copy_checks_every_chunk);
	tcase_add_test(tc, test_async_per_rank);
	tcase_add_test(tc, test_replicated_spread_over_ranks);
	tcase_add_test(tc, test_dtype_disagreement_fails_everywhere);
	tcase_add_test(tc, test_chunks_must_tile);
	tcase_add_test(tc, test_bytes_replicas_must_agree);
	tcase_add_test(tc, test_failure_keeps_previous);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
