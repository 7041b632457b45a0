/*
 * check_safetensors.c - the safetensors layout plugin through the library:
 * single file and shards, the on-disk format byte for byte, loads of all
 * and of a subset, overwrite and refusal, a failure at the commit and in
 * the middle of a sharded save, what the format cannot hold, and hostile
 * files (every rule of the strict reader, each with the file and tensor
 * in its message).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "testutil.h"

static char *dir;
static ckptio_ctx *ctx;

static void setup(void)
{
	char *path;

	dir = tu_mkdtemp();
	/* A backend with small shards, beside the plain-path default. */
	path = ckptio__asprintf("%s/c.conf", dir);
	{
		char *text = ckptio__asprintf("[backend \"hf\"]\nstore = posix\n"
					      "root = %s\nlayout = safetensors\n"
					      "shard_size = 64KiB\n",
					      dir);
		ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
		free(text);
	}
	setenv("CKPTIO_CONFIG", path, 1);
	free(path);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	unsetenv("CKPTIO_POSIX_FAULT");
}

static void teardown(void)
{
	ckptio_ctx_free(ctx);
	setenv("CKPTIO_CONFIG", "/dev/null", 1);
	tu_rmrf(dir);
	free(dir);
}

static char *path(const char *name)
{
	return ckptio__asprintf("%s/%s", dir, name);
}

static int exists(const char *name)
{
	char *p = path(name);
	struct stat sb;
	int yes = lstat(p, &sb) == 0;

	free(p);
	return yes;
}

/* A model: F32 [64, 300], BF16 [300], I64 [3, 5], F64 scalar, an empty
 * F32 [0, 4] and a bytes item. */
typedef struct model {
	float w[64 * 300];
	uint16_t b[300];
	int64_t ids[15];
	double scalar;
	float none[1];
	char step[13];
} model;

static void model_fill(model *m, uint64_t seed)
{
	tu_fill(m->w, sizeof(m->w), seed);
	tu_fill(m->b, sizeof(m->b), seed + 1);
	tu_fill(m->ids, sizeof(m->ids), seed + 2);
	m->scalar = 1.5 * (double)seed;
	snprintf(m->step, sizeof(m->step), "step-%07llu", (unsigned long long)seed);
}

static ckptio_sd *model_sd(model *m)
{
	const uint64_t ws[2] = {64, 300}, bs[1] = {300}, is[2] = {3, 5},
		       es[2] = {0, 4};
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.w", CKPTIO_F32, 2, ws,
					      NULL, NULL, m->w),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.b", CKPTIO_BF16, 1, bs,
					      NULL, NULL, m->b),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "ids", CKPTIO_I64, 2, is, NULL,
					      NULL, m->ids),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "scalar", CKPTIO_F64, 0, NULL,
					      NULL, NULL, &m->scalar),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "empty", CKPTIO_F32, 2, es,
					      NULL, NULL, m->none),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "optimizer.step", m->step,
					     sizeof(m->step)),
			 CKPTIO_OK);
	return sd;
}

static ckptio_status save_as(const char *loc, model *m, unsigned flags)
{
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_sd *sd = model_sd(m);
	ckptio_status st;

	o.layout = "safetensors";
	o.flags = flags;
	st = ckptio_save(ctx, loc, sd, &o);
	ckptio_sd_free(sd);
	return st;
}

/* Load loc into a fresh model and compare with want. */
static void expect_model(const char *loc, const model *want)
{
	model *got = calloc(1, sizeof(*got));
	ckptio_sd *sd = model_sd(got);

	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert(memcmp(got->w, want->w, sizeof(got->w)) == 0);
	ck_assert(memcmp(got->b, want->b, sizeof(got->b)) == 0);
	ck_assert(memcmp(got->ids, want->ids, sizeof(got->ids)) == 0);
	ck_assert(got->scalar == want->scalar);
	ck_assert_str_eq(got->step, want->step);
	ckptio_sd_free(sd);
	free(got);
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

START_TEST(test_single_file_round_trip_and_format)
{
	model *m = malloc(sizeof(*m));
	char *loc = path("m"), *file = path("m/model.safetensors");
	size_t len = 0;
	unsigned char *raw;
	json_t *h, *t, *meta;
	uint64_t n, begin;

	model_fill(m, 3);
	ck_assert_msg(save_as(loc, m, 0) == CKPTIO_OK, "%s", ckptio_errmsg(ctx));
	ck_assert(exists("m/model.safetensors"));
	ck_assert(!exists("m/model.safetensors.index.json"));
	ck_assert(!exists("m/.metadata.json"));
	/* Detected on read, loaded, verified with the recorded CRC32Cs. */
	expect_model(loc, m);
	ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));

	/* The format: length, JSON from '{', data 8-byte aligned, offsets
	 * relative to the data, tensors back to back, "format": "pt". */
	raw = (unsigned char *)tu_read_file(file, &len);
	ck_assert_ptr_nonnull(raw);
	n = le64(raw);
	ck_assert_uint_eq(n % 8, 0);
	ck_assert_int_eq(raw[8], '{');
	h = json_loadb((char *)raw + 8, n, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_ptr_nonnull(h);
	meta = json_object_get(h, "__metadata__");
	ck_assert_str_eq(json_string_value(json_object_get(meta, "format")), "pt");
	ck_assert_str_eq(json_string_value(json_object_get(meta, "ckptio.bytes")),
			 "[\"optimizer.step\"]");
	ck_assert_uint_eq(json_string_length(json_object_get(meta, "ckptio.crc32c")),
			  6 * 8);
	t = json_object_get(h, "model.w");
	ck_assert_str_eq(json_string_value(json_object_get(t, "dtype")), "F32");
	ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(t, "shape"), 1)),
			 300);
	begin = (uint64_t)json_integer_value(
		json_array_get(json_object_get(t, "data_offsets"), 0));
	ck_assert(memcmp(raw + 8 + n + begin, m->w, sizeof(m->w)) == 0);
	t = json_object_get(h, "optimizer.step");
	ck_assert_str_eq(json_string_value(json_object_get(t, "dtype")), "U8");
	t = json_object_get(h, "scalar");
	ck_assert_uint_eq(json_array_size(json_object_get(t, "shape")), 0);
	json_decref(h);
	free(raw);
	free(file);
	free(loc);
	free(m);
}
END_TEST

START_TEST(test_sharded_index_and_subset_load)
{
	model *m = malloc(sizeof(*m)), *got = calloc(1, sizeof(*got));
	char *ipath = path("s/model.safetensors.index.json");
	const uint64_t bs[1] = {300};
	ckptio_opts o = CKPTIO_OPTS_INIT;
	json_t *idx, *map, *v;
	const char *name;
	ckptio_sd *sd;
	char *text;
	int files = 0;

	model_fill(m, 5);
	/* The backend's shard_size (64 KiB) splits model.w (75 KiB) off. */
	ck_assert_msg(save_as("hf:s", m, 0) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert(!exists("s/model.safetensors"));
	text = tu_read_file(ipath, NULL);
	ck_assert_ptr_nonnull(text);
	idx = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(idx);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(idx, "metadata"), "total_size")),
			 sizeof(m->w) + sizeof(m->b) + sizeof(m->ids) + 8 +
				 sizeof(m->step));
	map = json_object_get(idx, "weight_map");
	ck_assert_uint_eq(json_object_size(map), 6);
	json_object_foreach(map, name, v) {
		char *f = ckptio__asprintf("s/%s", json_string_value(v));

		ck_assert_msg(exists(f), "%s", f);
		ck_assert(strstr(json_string_value(v), "-of-00002-"));
		files += strcmp(name, "model.w") == 0;
		free(f);
	}
	ck_assert_int_eq(files, 1);
	json_decref(idx);
	free(text);
	expect_model("hf:s", m);
	ck_assert_msg(ckptio_verify(ctx, "hf:s", NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	/* The same model through a plain path: the layout is detected. */
	{
		char *loc = path("s");

		expect_model(loc, m);
		free(loc);
	}
	/* One tensor of the model, the rest left alone. */
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.b", CKPTIO_BF16, 1, bs,
					      NULL, NULL, got->b),
			 CKPTIO_OK);
	o.flags = CKPTIO_LOAD_PARTIAL;
	ck_assert_int_eq(ckptio_load(ctx, "hf:s", sd, &o), CKPTIO_OK);
	ck_assert(memcmp(got->b, m->b, sizeof(m->b)) == 0);
	ckptio_sd_free(sd);
	free(ipath);
	free(got);
	free(m);
}
END_TEST

static int count_files(const char *sub)
{
	char *p = path(sub), *cmd = ckptio__asprintf("ls -A '%s' | wc -l", p);
	FILE *f = popen(cmd, "r");
	int n = -1;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &n), 1);
	pclose(f);
	free(cmd);
	free(p);
	return n;
}

START_TEST(test_overwrite_both_ways_and_refusal)
{
	model *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *single = path("o");

	model_fill(a, 7);
	model_fill(b, 8);
	ck_assert_int_eq(save_as("hf:o", a, 0), CKPTIO_OK); /* sharded */
	/* Without overwrite: refused, the model untouched. */
	ck_assert_int_eq(save_as(single, b, 0), CKPTIO_EEXIST);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), "already exists"));
	ck_assert_int_eq(save_as("hf:o", b, 0), CKPTIO_EEXIST);
	expect_model("hf:o", a);
	/* Sharded -> one file: the index and old shards go. */
	ck_assert_int_eq(save_as(single, b, CKPTIO_SAVE_OVERWRITE), CKPTIO_OK);
	ck_assert(!exists("o/model.safetensors.index.json"));
	ck_assert_int_eq(count_files("o"), 1);
	expect_model(single, b);
	/* One file -> shards: the single file goes. */
	ck_assert_int_eq(save_as("hf:o", a, CKPTIO_SAVE_OVERWRITE), CKPTIO_OK);
	ck_assert(!exists("o/model.safetensors"));
	ck_assert_int_eq(count_files("o"), 3);
	expect_model("hf:o", a);
	/* Shards -> shards: the old shards go. */
	ck_assert_int_eq(save_as("hf:o", b, CKPTIO_SAVE_OVERWRITE), CKPTIO_OK);
	ck_assert_int_eq(count_files("o"), 3);
	expect_model("hf:o", b);
	free(single);
	free(a);
	free(b);
}
END_TEST

/* The commit of a single file fails (its rename): the save fails, and
 * the model it was replacing is intact. */
START_TEST(test_failed_commit_keeps_previous)
{
	model *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *loc = path("f");

	model_fill(a, 11);
	model_fill(b, 12);
	ck_assert_int_eq(save_as(loc, a, 0), CKPTIO_OK);
	setenv("CKPTIO_POSIX_FAULT", "rename:1", 1);
	ck_assert_int_ne(save_as(loc, b, CKPTIO_SAVE_OVERWRITE), CKPTIO_OK);
	unsetenv("CKPTIO_POSIX_FAULT");
	expect_model(loc, a);
	ck_assert_int_eq(count_files("f"), 1);
	/* A first save failing so leaves nothing that loads. */
	{
		char *fresh = path("g");

		setenv("CKPTIO_POSIX_FAULT", "link:1", 1);
		ck_assert_int_ne(save_as(fresh, b, 0), CKPTIO_OK);
		unsetenv("CKPTIO_POSIX_FAULT");
		ck_assert(!exists("g/model.safetensors"));
		free(fresh);
	}
	free(loc);
	free(a);
	free(b);
}
END_TEST

/* A write fails in the second shard: no index, and the first shard,
 * already committed, is removed. */
START_TEST(test_failed_sharded_save_leaves_nothing)
{
	model *a = malloc(sizeof(*a));

	model_fill(a, 13);
	setenv("CKPTIO_POSIX_FAULT", "pwrite:2:ENOSPC", 1);
	ck_assert_int_eq(save_as("hf:x", a, 0), CKPTIO_ENOSPC);
	unsetenv("CKPTIO_POSIX_FAULT");
	ck_assert(!exists("x/model.safetensors.index.json"));
	ck_assert_int_le(count_files("x"), 0);
	free(a);
}
END_TEST

START_TEST(test_reserved_name_refused)
{
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_sd *sd;
	char *loc = path("r");
	char x = 1;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "__metadata__", &x, 1),
			 CKPTIO_OK);
	o.layout = "safetensors";
	ck_assert_int_eq(ckptio_save(ctx, loc, sd, &o), CKPTIO_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx),
				     "item '__metadata__': the name is reserved"));
	ck_assert(!exists("r/model.safetensors"));
	ckptio_sd_free(sd);
	free(loc);
}
END_TEST

/* Two ranks each save half of a tensor: safetensors holds whole tensors,
 * so the save is refused naming the item, and nothing is written. */
typedef struct rjob {
	ckptio_coord_group *group;
	int rank;
	float half[8];
	ckptio_status st;
} rjob;

static void *rank_save(void *arg)
{
	rjob *j = arg;
	const uint64_t g[1] = {16}, off[1] = {(uint64_t)j->rank * 8},
		       sh[1] = {8};
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_coord coord;
	ckptio_ctx *c;
	ckptio_sd *sd;
	char *loc = path("p");

	ckptio_ctx_new(&c, NULL);
	ckptio_coord_threads_get(j->group, j->rank, &coord);
	ckptio_sd_new(&sd);
	ckptio_sd_add_tensor(sd, "rows", CKPTIO_F32, 1, g, off, sh, j->half);
	o.layout = "safetensors";
	o.coord = &coord;
	j->st = ckptio_save(c, loc, sd, &o);
	if (j->rank == 0)
		ck_assert_msg(strstr(ckptio_errmsg(c), "item 'rows': rank") &&
				      strstr(ckptio_errmsg(c), "whole tensors"),
			      "%s", ckptio_errmsg(c));
	ckptio_sd_free(sd);
	ckptio_ctx_free(c);
	free(loc);
	return NULL;
}

START_TEST(test_chunked_tensor_refused)
{
	rjob jobs[2];
	pthread_t tid[2];
	ckptio_coord_group *g;

	ck_assert_int_eq(ckptio_coord_threads_new(&g, 2), CKPTIO_OK);
	for (int r = 0; r < 2; r++) {
		jobs[r] = (rjob){.group = g, .rank = r};
		ck_assert_int_eq(pthread_create(&tid[r], NULL, rank_save, &jobs[r]),
				 0);
	}
	for (int r = 0; r < 2; r++)
		pthread_join(tid[r], NULL);
	for (int r = 0; r < 2; r++)
		ck_assert_int_eq(jobs[r].st, CKPTIO_EUNSUPPORTED);
	ck_assert(!exists("p/model.safetensors"));
	ck_assert(!exists("p/model.safetensors.index.json"));
	ckptio_coord_threads_free(g);
}
END_TEST

/* Two ranks save a native checkpoint of one [8, 6] F32 tensor split by
 * rows (dim 0) or by columns (dim 1); converted to safetensors, the rows'
 * CRC32Cs combine into the whole tensor's (verify vouches for it), the
 * columns' cannot (verify says so), and the values are whole either way. */
typedef struct sjob {
	ckptio_coord_group *group;
	int rank, dim;
	float part[24];
	const char *loc;
	ckptio_status st;
} sjob;

static void *split_save(void *arg)
{
	sjob *j = arg;
	const uint64_t g[2] = {8, 6};
	uint64_t off[2] = {0, 0}, sh[2] = {8, 6};
	ckptio_coord coord;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_ctx *c;
	ckptio_sd *sd;

	sh[j->dim] /= 2;
	off[j->dim] = (uint64_t)j->rank * sh[j->dim];
	ckptio_ctx_new(&c, NULL);
	ckptio_coord_threads_get(j->group, j->rank, &coord);
	ckptio_sd_new(&sd);
	ckptio_sd_add_tensor(sd, "t", CKPTIO_F32, 2, g, off, sh, j->part);
	o.coord = &coord;
	j->st = ckptio_save(c, j->loc, sd, &o);
	ckptio_sd_free(sd);
	ckptio_ctx_free(c);
	return NULL;
}

static void split_then_convert(int dim, ckptio_status want_verify,
			       const char *want_msg)
{
	char *nat = path(dim ? "ncol" : "nrow"), *st = path(dim ? "scol" : "srow");
	ckptio_coord_group *g;
	sjob jobs[2];
	pthread_t tid[2];
	ckptio_opts o = CKPTIO_OPTS_INIT;
	float whole[48], got[48];
	const uint64_t gs[2] = {8, 6};
	ckptio_sd *sd;

	for (int i = 0; i < 48; i++)
		whole[i] = (float)i * 0.5f - 3.0f;
	ck_assert_int_eq(ckptio_coord_threads_new(&g, 2), CKPTIO_OK);
	for (int r = 0; r < 2; r++) {
		jobs[r] = (sjob){.group = g, .rank = r, .dim = dim, .loc = nat};
		for (int i = 0; i < 24; i++) /* this rank's part, row-major */
			jobs[r].part[i] = dim == 0
				? whole[r * 24 + i]
				: whole[(i / 3) * 6 + r * 3 + i % 3];
		ck_assert_int_eq(pthread_create(&tid[r], NULL, split_save,
						&jobs[r]), 0);
	}
	for (int r = 0; r < 2; r++)
		pthread_join(tid[r], NULL);
	ckptio_coord_threads_free(g);
	ck_assert_int_eq(jobs[0].st, CKPTIO_OK);
	o.layout = "safetensors";
	ck_assert_msg(ckptio_copy(ctx, nat, st, &o) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_verify(ctx, st, NULL), want_verify);
	if (want_msg)
		ck_assert_msg(strstr(ckptio_errmsg(ctx), want_msg), "%s",
			      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "t", CKPTIO_F32, 2, gs, NULL,
					      NULL, got), CKPTIO_OK);
	ck_assert_int_eq(ckptio_load(ctx, st, sd, NULL), CKPTIO_OK);
	ck_assert(memcmp(got, whole, sizeof(whole)) == 0);
	ckptio_sd_free(sd);
	free(nat);
	free(st);
}

START_TEST(test_converted_row_split_keeps_crc)
{
	split_then_convert(0, CKPTIO_OK, NULL);
}
END_TEST

START_TEST(test_converted_column_split_has_no_crc)
{
	split_then_convert(1, CKPTIO_EUNSUPPORTED,
			   "1 of 1 chunks have no checksum");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Files written by hand                                                    */

/* DIR/model.safetensors: an 8-byte length (hlen, or the JSON's own length
 * when hlen is UINT64_MAX - 1), the header JSON, then ndata bytes. */
static void put_file(const char *sub, const char *name, uint64_t hlen,
		     const char *json, size_t ndata)
{
	size_t jl = strlen(json), total = 8 + jl + ndata;
	unsigned char *b = calloc(1, total);
	char *d = path(sub), *f = ckptio__asprintf("%s/%s", d, name);

	if (hlen == UINT64_MAX - 1)
		hlen = jl;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(hlen >> (8 * i));
	memcpy(b + 8, json, jl);
	for (size_t i = 0; i < ndata; i++)
		b[8 + jl + i] = (unsigned char)(i * 7 + 1);
	mkdir(d, 0755);
	ck_assert_int_eq(tu_write_file(f, b, total), 0);
	free(b);
	free(f);
	free(d);
}

#define OWN (UINT64_MAX - 1)

/* Opening DIR fails with ECORRUPT and a message holding want and the
 * file's name. */
static void expect_bad(const char *sub, const char *want)
{
	char *loc = path(sub);
	ckptio_ckpt *ck = NULL;
	ckptio_status st = ckptio_open(ctx, loc, &ck);

	ck_assert_msg(st == CKPTIO_ECORRUPT, "%s: status %d: %s", sub, st,
		      ckptio_errmsg(ctx));
	ck_assert_msg(strstr(ckptio_errmsg(ctx), want) != NULL,
		      "%s: '%s' not in: %s", sub, want, ckptio_errmsg(ctx));
	ck_assert_msg(strstr(ckptio_errmsg(ctx), ".safetensors") != NULL,
		      "%s: no file named in: %s", sub, ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT);
	free(loc);
}

static const char *const SINGLE = "model.safetensors";

/* The specification's example layout (a 2x2 I32 tensor "test"), read
 * value for value, without ckptio's metadata: loads on trust, and verify
 * says it cannot vouch for the bytes. */
START_TEST(test_reads_foreign_file)
{
	const char *json =
		"{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],"
		"\"data_offsets\":[0,16]},\"__metadata__\":{\"k\":\"v\"}}";
	char *loc = path("spec");
	const uint64_t sh[2] = {2, 2};
	int32_t got[4];
	ckptio_sd *sd;
	uint8_t want[16];

	put_file("spec", SINGLE, OWN, json, 16);
	for (int i = 0; i < 16; i++)
		want[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "test", CKPTIO_I32, 2, sh,
					      NULL, NULL, got),
			 CKPTIO_OK);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert(memcmp(got, want, 16) == 0);
	ck_assert_int_eq(ckptio_verify(ctx, loc, NULL), CKPTIO_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), "no checksum"));
	ckptio_sd_free(sd);
	free(loc);
}
END_TEST

START_TEST(test_hostile_headers)
{
	const char *T = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
			"\"data_offsets\":[0,8]}}";

	put_file("h1", SINGLE, OWN, "", 0);
	expect_bad("h1", "does not start with '{'");
	/* Five bytes: too short for the length. */
	{
		char *f = path("h2/model.safetensors"), *d = path("h2");

		mkdir(d, 0755);
		ck_assert_int_eq(tu_write_file(f, "abcde", 5), 0);
		free(f);
		free(d);
	}
	expect_bad("h2", "too short");
	put_file("h3", SINGLE, 1000, T, 8);
	expect_bad("h3", "past the end of the file");
	put_file("h4", SINGLE, UINT64_MAX, T, 8);
	expect_bad("h4", "header length 18446744073709551615");
	put_file("h5", SINGLE, 100000001, T, 8);
	expect_bad("h5", "over the 100000000-byte limit");
	put_file("h6", SINGLE, OWN, "[1,2]", 0);
	expect_bad("h6", "does not start with '{'");
	put_file("h7", SINGLE, OWN, "{\"a\":", 0);
	expect_bad("h7", "not valid JSON");
	put_file("h8", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}",
		 8);
	expect_bad("h8", "tensor 'a': unknown dtype F33");
	put_file("h9", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
		 8);
	expect_bad("h9", "shape[0] is not a non-negative integer");
	put_file("h10", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
		 8);
	expect_bad("h10", "tensor 'a': F32 of shape with 3 elements takes 12 bytes");
	put_file("h11", SINGLE, OWN, T, 9);
	expect_bad("h11", "the tensors end at byte");
	put_file("h12", SINGLE, OWN, T, 7);
	expect_bad("h12", "the tensors end at byte");
	put_file("h13", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
		 16);
	expect_bad("h13", "duplicate");
	put_file("h14", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
		 12);
	expect_bad("h14", "overlap");
	put_file("h15", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
		 20);
	expect_bad("h15", "a gap");
	put_file("h16", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}",
		 2);
	expect_bad("h16", "3 elements of F4 are not a whole number of bytes");
	put_file("h17", SINGLE, OWN,
		 "{\"__metadata__\":{\"n\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
		 "\"data_offsets\":[0,8]}}",
		 8);
	expect_bad("h17", "__metadata__ 'n' is not a string");
	put_file("h18", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
		 "\"data_offsets\":[0,8]}}",
		 8);
	expect_bad("h18", "overflows");
	put_file("h19", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
		 8);
	expect_bad("h19", "end before they begin");
	put_file("h20", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
		 "\"x\":1}}",
		 8);
	expect_bad("h20", "unknown field 'x'");
	put_file("h21", SINGLE, OWN,
		 "{\"__metadata__\":{\"ckptio.crc32c\":\"0011\"},\"a\":{\"dtype\":"
		 "\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
		 8);
	expect_bad("h21", "not 8 for each of 1 tensors");
	put_file("h22", SINGLE, OWN,
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8);
	expect_bad("h22", "shape is not an array");
	/* A tensor name that is not UTF-8 (0xe9: Latin-1 e-acute). */
	put_file("h23", SINGLE, OWN,
		 "{\"caf\xe9\":{\"dtype\":\"F32\",\"shape\":[2],"
		 "\"data_offsets\":[0,8]}}", 8);
	expect_bad("h23", "unable to decode byte 0xe9");
	expect_bad("h23", "names are UTF-8; this one is not");
}
END_TEST

START_TEST(test_hostile_index)
{
	const char *A = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
			"\"data_offsets\":[0,8]}}";
	const char *idx_missing =
		"{\"weight_map\":{\"a\":\"one.safetensors\",\"b\":"
		"\"two.safetensors\"}}";
	const char *idx_wrong =
		"{\"weight_map\":{\"a\":\"one.safetensors\",\"z\":"
		"\"one.safetensors\"}}";
	const char *idx_less = "{\"weight_map\":{\"q\":\"one.safetensors\"}}";
	const char *idx_escape = "{\"weight_map\":{\"a\":\"../one.safetensors\"}}";
	char *f;

	put_file("i1", "one.safetensors", OWN, A, 8);
	f = path("i1/model.safetensors.index.json");
	ck_assert_int_eq(tu_write_file(f, idx_missing, strlen(idx_missing)), 0);
	free(f);
	expect_bad("i1", "two.safetensors: missing (the index names it)");

	put_file("i2", "one.safetensors", OWN, A, 8);
	f = path("i2/model.safetensors.index.json");
	ck_assert_int_eq(tu_write_file(f, idx_wrong, strlen(idx_wrong)), 0);
	free(f);
	expect_bad("i2", "tensor 'z' of the index is not in it");

	put_file("i3", "one.safetensors", OWN, A, 8);
	f = path("i3/model.safetensors.index.json");
	ck_assert_int_eq(tu_write_file(f, idx_less, strlen(idx_less)), 0);
	free(f);
	expect_bad("i3", "tensor 'a' is not in the index");

	put_file("i4", "one.safetensors", OWN, A, 8);
	f = path("i4/model.safetensors.index.json");
	ck_assert_int_eq(tu_write_file(f, idx_escape, strlen(idx_escape)), 0);
	free(f);
	expect_bad("i4", "not a file name beside the index");

	put_file("i5", "one.safetensors", OWN, A, 8);
	f = path("i5/model.safetensors.index.json");
	ck_assert_int_eq(tu_write_file(f, "{\"weight_map\":", 14), 0);
	free(f);
	expect_bad("i5", "model.safetensors.index.json: not valid JSON");
}
END_TEST

/* A bit flipped in a tensor's bytes: the recorded CRC32C catches it. */
START_TEST(test_corrupt_data_caught)
{
	model *m = malloc(sizeof(*m)), *got = calloc(1, sizeof(*got));
	char *loc = path("c"), *file = path("c/model.safetensors");
	size_t len = 0;
	ckptio_sd *sd;

	model_fill(m, 17);
	ck_assert_int_eq(save_as(loc, m, 0), CKPTIO_OK);
	free(tu_read_file(file, &len));
	tu_flip_bit(file, len - 100, 3);
	sd = model_sd(got);
	ck_assert_int_eq(ckptio_load(ctx, loc, sd, NULL), CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), "fails its CRC32C"));
	ck_assert_int_eq(ckptio_verify(ctx, loc, NULL), CKPTIO_ECORRUPT);
	ckptio_sd_free(sd);
	free(file);
	free(loc);
	free(got);
	free(m);
}
END_TEST

/* 10^6 tensors (CKPTIO_TEST_SCALE under valgrind) of one F32 each, in
 * one file, then in shards of 256 KiB (a backend option): save, open,
 * load and verify, each linear in tensors.  Names are 8 digits, so the
 * single file's header stays under the 100,000,000-byte limit. */
static size_t scale(void)
{
	const char *s = getenv("CKPTIO_TEST_SCALE");

	return s && atol(s) > 0 ? (size_t)atol(s) : 1000000;
}

static void many(const char *loc)
{
	size_t n = scale();
	float *v = malloc(n * sizeof(*v)), *got = calloc(n, sizeof(*got));
	const uint64_t one[1] = {1};
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_sd *sd, *back;
	ckptio_ckpt *ck;
	char name[24];

	ck_assert(v && got);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_new(&back), CKPTIO_OK);
	for (size_t i = 0; i < n; i++) {
		v[i] = (float)i;
		snprintf(name, sizeof(name), "%08zu", i);
		ck_assert_int_eq(ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1,
						      one, NULL, NULL, &v[i]),
				 CKPTIO_OK);
		ck_assert_int_eq(ckptio_sd_add_tensor(back, name, CKPTIO_F32, 1,
						      one, NULL, NULL, &got[i]),
				 CKPTIO_OK);
	}
	o.layout = "safetensors";
	ck_assert_msg(ckptio_save(ctx, loc, sd, &o) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_open(ctx, loc, &ck), CKPTIO_OK);
	ck_assert_uint_eq(ckptio_ckpt_count(ck), n);
	ckptio_ckpt_close(ck);
	ck_assert_msg(ckptio_load(ctx, loc, back, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert(memcmp(v, got, n * sizeof(*v)) == 0);
	ck_assert_msg(ckptio_verify(ctx, loc, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	ckptio_sd_free(back);
	free(v);
	free(got);
}


/* Overwrites racing loads: a writer saves a sharded model over and over,
 * every other version with one more tensor (so the index changes size);
 * a reader loads meanwhile.  Every load either succeeds with the tensors
 * of one version, whole, or fails because the shards it was reading were
 * replaced (not found) -- never a corrupt index (a prefix of the next
 * one, or a read past the end of a shorter one), never mixed versions. */
typedef struct race {
	const char *loc;
	int done;
	unsigned loads, ok, gone;
	char why[512];
} race;

static ckptio_status save_version(ckptio_ctx *c, const char *loc, model *m,
				  int extra)
{
	static float more[600];
	const uint64_t ms[1] = {600};
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_sd *sd = model_sd(m);
	ckptio_status st = CKPTIO_OK;

	if (extra)
		st = ckptio_sd_add_tensor(sd, "extra.tensor.with.a.long.name",
					  CKPTIO_F32, 1, ms, NULL, NULL, more);
	o.flags = CKPTIO_SAVE_OVERWRITE;
	if (st == CKPTIO_OK)
		st = ckptio_save(c, loc, sd, &o);
	ckptio_sd_free(sd);
	return st;
}

static void *race_reader(void *arg)
{
	race *r = arg;
	ckptio_ctx *c;
	model *got = calloc(1, sizeof(*got)), *want = malloc(sizeof(*want));

	ck_assert_int_eq(ckptio_ctx_new(&c, NULL), CKPTIO_OK);
	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) && !r->why[0]) {
		ckptio_sd *sd = model_sd(got);
		ckptio_status st = ckptio_load(c, r->loc, sd, NULL);
		unsigned long long v;

		r->loads++;
		if (st == CKPTIO_ENOTFOUND) {
			r->gone++;
		} else if (st != CKPTIO_OK) {
			snprintf(r->why, sizeof(r->why), "load %u: status %d: %s",
				 r->loads, st, ckptio_errmsg(c));
		} else if (sscanf(got->step, "step-%llu", &v) != 1) {
			snprintf(r->why, sizeof(r->why), "load %u: step '%.12s'",
				 r->loads, got->step);
		} else {
			/* Every tensor of the version the bytes item names. */
			model_fill(want, v);
			if (memcmp(got->w, want->w, sizeof(got->w)) != 0 ||
			    memcmp(got->b, want->b, sizeof(got->b)) != 0 ||
			    got->scalar != want->scalar)
				snprintf(r->why, sizeof(r->why), "load %u: "
					 "tensors not all of version %llu",
					 r->loads, v);
			r->ok++;
		}
		ckptio_sd_free(sd);
	}
	ckptio_ctx_free(c);
	free(got);
	free(want);
	return NULL;
}

START_TEST(test_overwrite_races_loads)
{
	model *m = malloc(sizeof(*m));
	race r = {.loc = "hf:race"};
	pthread_t tid;
	ckptio_ctx *c;
	unsigned v = 1;

	ck_assert_int_eq(ckptio_ctx_new(&c, NULL), CKPTIO_OK);
	model_fill(m, v);
	ck_assert_msg(save_version(c, r.loc, m, 0) == CKPTIO_OK, "%s",
		      ckptio_errmsg(c));
	ck_assert_int_eq(pthread_create(&tid, NULL, race_reader, &r), 0);
	/* At least 100 versions, and on until the reader saw 20 loads. */
	for (v = 2; !r.why[0] && (v <= 100 || r.loads < 20) && v < 2000; v++) {
		model_fill(m, v);
		ck_assert_msg(save_version(c, r.loc, m, (int)(v & 1)) == CKPTIO_OK,
			      "%s", ckptio_errmsg(c));
	}
	__atomic_store_n(&r.done, 1, __ATOMIC_RELEASE);
	pthread_join(tid, NULL);
	ck_assert_msg(!r.why[0], "%s", r.why);
	ck_assert_uint_ge(r.loads, 20);
	ck_assert_uint_gt(r.ok, 0);
	ckptio_ctx_free(c);
	free(m);
}
END_TEST

START_TEST(test_million_tensors_one_file)
{
	char *loc = path("many");

	many(loc);
	free(loc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("safetensors");
	TCase *tc = tcase_create("layout");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_single_file_round_trip_and_format);
	tcase_add_test(tc, test_sharded_index_and_subset_load);
	tcase_add_test(tc, test_overwrite_both_ways_and_refusal);
	tcase_add_test(tc, test_failed_commit_keeps_previous);
	tcase_add_test(tc, test_failed_sharded_save_leaves_nothing);
	tcase_add_test(tc, test_reserved_name_refused);
	tcase_add_test(tc, test_chunked_tensor_refused);
	tcase_add_test(tc, test_converted_row_split_keeps_crc);
	tcase_add_test(tc, test_converted_column_split_has_no_crc);
	tcase_add_test(tc, test_reads_foreign_file);
	tcase_add_test(tc, test_hostile_headers);
	tcase_add_test(tc, test_hostile_index);
	tcase_add_test(tc, test_corrupt_data_caught);
	tcase_add_test(tc, test_overwrite_races_loads);
	suite_add_tcase(s, tc);
	tc = tcase_create("scale");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_million_tensors_one_file);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
