/* check_checkpoint.c - save, load, inspect, list, verify, remove and copy
 * through the public API over the real posix plugin, in one process. */
#include <check.h>
#include <dirent.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
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
	return ckptio__asprintf("%s/%s", dir, name);
}

/* A model: three tensors of mixed dtypes (one large), a scalar, an empty
 * tensor and two bytes items, filled from seed. */
typedef struct model {
	float *w;       /* F32 [300, 1000] */
	uint16_t *b;    /* BF16 [1000] */
	int64_t *ids;   /* I64 [7, 3, 5] */
	double scalar;  /* F64 [] */
	char step[8];
	char empty[1];
} model;

static void model_fill(model *m, uint64_t seed)
{
	m->w = malloc(300 * 1000 * 4);
	m->b = malloc(1000 * 2);
	m->ids = malloc(7 * 3 * 5 * 8);
	ck_assert(m->w && m->b && m->ids);
	tu_fill(m->w, 300 * 1000 * 4, seed);
	tu_fill(m->b, 1000 * 2, seed + 1);
	tu_fill(m->ids, 7 * 3 * 5 * 8, seed + 2);
	m->scalar = 3.25 * (double)seed;
	memcpy(m->step, &seed, 8);
}

static void model_free(model *m)
{
	free(m->w);
	free(m->b);
	free(m->ids);
}

static ckptio_sd *model_sd(model *m)
{
	const uint64_t ws[2] = {300, 1000}, bs[1] = {1000}, is[3] = {7, 3, 5};
	const uint64_t es[2] = {0, 4};
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.w", CKPTIO_F32, 2, ws,
					      NULL, NULL, m->w), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.b", CKPTIO_BF16, 1, bs,
					      NULL, NULL, m->b), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "ids", CKPTIO_I64, 3, is,
					      NULL, NULL, m->ids), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "scale", CKPTIO_F64, 0, NULL,
					      NULL, NULL, &m->scalar), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "empty", CKPTIO_U8, 2, es,
					      NULL, NULL, m->empty), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "optim.step", m->step, 8),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "nothing", m->empty, 0),
			 CKPTIO_OK);
	ck_assert_uint_eq(ckptio_sd_count(sd), 7);
	return sd;
}

static void model_eq(const model *a, const model *b)
{
	ck_assert(memcmp(a->w, b->w, 300 * 1000 * 4) == 0);
	ck_assert(memcmp(a->b, b->b, 1000 * 2) == 0);
	ck_assert(memcmp(a->ids, b->ids, 7 * 3 * 5 * 8) == 0);
	ck_assert(a->scalar == b->scalar);
	ck_assert(memcmp(a->step, b->step, 8) == 0);
}

static void save_model(const char *loc, uint64_t seed, unsigned flags,
		       ckptio_status want)
{
	model m;
	ckptio_sd *sd;
	ckptio_opts o = CKPTIO_OPTS_INIT;

	model_fill(&m, seed);
	sd = model_sd(&m);
	o.flags = flags;
	ck_assert_msg(ckptio_save(ctx, loc, sd, &o) == want, "save %s: %s",
		      loc, ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	model_free(&m);
}

static void load_and_compare(const char *loc, uint64_t seed)
{
	model m, got;
	ckptio_sd *sd;

	model_fill(&m, seed);
	model_fill(&got, 999);
	sd = model_sd(&got);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "load: %s",
		      ckptio_errmsg(ctx));
	model_eq(&m, &got);
	ckptio_sd_free(sd);
	model_free(&m);
	model_free(&got);
}

static int count_files(const char *d, const char *suffix)
{
	DIR *dd = opendir(d);
	struct dirent *de;
	int n = 0;

	while (dd && (de = readdir(dd))) {
		size_t l = strlen(de->d_name), s = strlen(suffix);

		if (de->d_name[0] != '.' || strcmp(suffix, ".json") == 0)
			n += l >= s && strcmp(de->d_name + l - s, suffix) == 0;
	}
	if (dd)
		closedir(dd);
	return n;
}

/* Item names are unique, checked through a hash index: 200k items, a
 * duplicate found among them, and a name whose add failed (no data) is
 * free again. */
START_TEST(test_unique_names)
{
	ckptio_sd *sd;
	char name[32];
	static float one;
	const uint64_t shape[1] = {1};

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	for (int i = 0; i < 200000; i++) {
		snprintf(name, sizeof(name), "layer.%d.w", i);
		ck_assert_int_eq(ckptio_sd_add_bytes(sd, name, &one, 4),
				 CKPTIO_OK);
	}
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "layer.123456.w", &one, 4),
			 CKPTIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(ckptio_last_error(), "already in the "
					"state dict"));
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "nodata", CKPTIO_F32, 1,
					      shape, NULL, NULL, NULL),
			 CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "other", CKPTIO_F32, 1,
					      shape, NULL, NULL, &one),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "nodata", CKPTIO_F32, 1,
					      shape, NULL, NULL, &one),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "other", &one, 4),
			 CKPTIO_EINVAL);
	ck_assert_uint_eq(ckptio_sd_count(sd), 200002);
	ckptio_sd_free(sd);
}
END_TEST

START_TEST(test_round_trip)
{
	char *loc = path("ck");

	save_model(loc, 1, 0, CKPTIO_OK);
	load_and_compare(loc, 1);
	free(loc);
}
END_TEST

START_TEST(test_threads_and_layout_of_objects)
{
	char *loc = path("ck"), *md = path("ck/.metadata.json");

	ckptio_opts o = CKPTIO_OPTS_INIT;
	model m;
	ckptio_sd *sd;

	model_fill(&m, 5);
	sd = model_sd(&m);
	o.threads = 3;
	ck_assert_int_eq(ckptio_save(ctx, loc, sd, &o), CKPTIO_OK);
	ck_assert_int_eq(access(md, F_OK), 0);
	ck_assert_int_eq(count_files(loc, ".ckd"), 3);
	o.threads = 1;
	o.flags = CKPTIO_SAVE_OVERWRITE;
	ck_assert_int_eq(ckptio_save(ctx, loc, sd, &o), CKPTIO_OK);
	/* The overwritten save's objects are gone. */
	ck_assert_int_eq(count_files(loc, ".ckd"), 1);
	load_and_compare(loc, 5);
	ckptio_sd_free(sd);
	model_free(&m);
	free(loc);
	free(md);
}
END_TEST

START_TEST(test_overwrite)
{
	char *loc = path("ck");

	save_model(loc, 1, 0, CKPTIO_OK);
	save_model(loc, 2, 0, CKPTIO_EEXIST);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), "already exists"));
	load_and_compare(loc, 1);
	save_model(loc, 2, CKPTIO_SAVE_OVERWRITE, CKPTIO_OK);
	load_and_compare(loc, 2);
	free(loc);
}
END_TEST

static int list_cb(void *user, const char *id)
{
	char *buf = user;

	strcat(buf, id);
	strcat(buf, ";");
	return 0;
}

START_TEST(test_inspect_list_verify_remove)
{
	char *a = path("runs/step-1"), *b = path("runs/step-2");
	char *runs = path("runs"), listed[256] = "";
	ckptio_ckpt *ck;
	ckptio_item_info info = {.struct_size = sizeof(info)};
	size_t i;

	save_model(b, 2, 0, CKPTIO_OK);
	save_model(a, 1, 0, CKPTIO_OK);
	ck_assert_int_eq(ckptio_open(ctx, a, &ck), CKPTIO_OK);
	ck_assert_uint_eq(ckptio_ckpt_count(ck), 7);
	ck_assert_str_eq(ckptio_ckpt_layout(ck), "native");
	ck_assert_int_eq(ckptio_ckpt_world(ck), 1);
	ck_assert_uint_eq(ckptio_ckpt_nbytes(ck),
			  300 * 1000 * 4 + 2000 + 7 * 3 * 5 * 8 + 8 + 8);
	i = ckptio_ckpt_find(ck, "ids");
	ck_assert_int_eq(ckptio_ckpt_item(ck, i, &info), CKPTIO_OK);
	ck_assert_str_eq(info.name, "ids");
	ck_assert_int_eq(info.kind, CKPTIO_ITEM_TENSOR);
	ck_assert_int_eq(info.dtype, CKPTIO_I64);
	ck_assert_uint_eq(info.ndim, 3);
	ck_assert_uint_eq(info.shape[2], 5);
	ck_assert_uint_eq(info.nchunks, 1);
	ck_assert_uint_eq(ckptio_ckpt_find(ck, "nope"), (size_t)-1);
	ck_assert_int_eq(ckptio_ckpt_item(ck, 99, &info), CKPTIO_EINVAL);
	ckptio_ckpt_close(ck);

	ck_assert_int_eq(ckptio_list(ctx, runs, list_cb, listed), CKPTIO_OK);
	ck_assert_str_eq(listed, "step-1;step-2;");
	ck_assert_int_eq(ckptio_verify(ctx, a, NULL), CKPTIO_OK);

	ck_assert_int_eq(ckptio_remove(ctx, a, 0), CKPTIO_OK);
	ck_assert_int_eq(ckptio_open(ctx, a, &ck), CKPTIO_ENOTFOUND);
	ck_assert_int_eq(access(a, F_OK), -1); /* the directory went too */
	ck_assert_int_eq(ckptio_remove(ctx, a, 0), CKPTIO_ENOTFOUND);
	listed[0] = '\0';
	ck_assert_int_eq(ckptio_list(ctx, runs, list_cb, listed), CKPTIO_OK);
	ck_assert_str_eq(listed, "step-2;");
	free(a);
	free(b);
	free(runs);
}
END_TEST

START_TEST(test_gc)
{
	char *loc = path("ck"), *junk = path("ck/__0_9.dead.ckd");
	char *tmp = path("ck/.__0_0.beef.ckd.tmp.1.0000abcd");

	save_model(loc, 1, 0, CKPTIO_OK);
	ck_assert_int_eq(tu_write_file(junk, "x", 1), 0);
	ck_assert_int_eq(tu_write_file(tmp, "y", 1), 0);
	ck_assert_int_eq(ckptio_remove(ctx, loc, CKPTIO_RM_GC_ONLY), CKPTIO_OK);
	ck_assert_int_eq(access(junk, F_OK), -1);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	load_and_compare(loc, 1);
	free(loc);
	free(junk);
	free(tmp);
}
END_TEST

typedef struct prog {
	uint64_t last, total;
	int calls;
	uint64_t cancel_at;
} prog;

static int on_progress(void *user, uint64_t done, uint64_t total)
{
	prog *p = user;

	ck_assert_uint_ge(done, p->last);
	p->last = done;
	p->total = total;
	p->calls++;
	return p->cancel_at && done >= p->cancel_at;
}

START_TEST(test_progress_and_cancel)
{
	char *loc = path("ck");
	model m;
	ckptio_sd *sd;
	ckptio_ckpt *ck;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	prog p = {0};

	model_fill(&m, 3);
	sd = model_sd(&m);
	o.progress = on_progress;
	o.progress_user = &p;
	o.threads = 1;
	p.cancel_at = 1;
	ck_assert_int_eq(ckptio_save(ctx, loc, sd, &o), CKPTIO_ECANCELED);
	ck_assert_int_eq(ckptio_open(ctx, loc, &ck), CKPTIO_ENOTFOUND);
	ck_assert_int_eq(count_files(loc, ".ckd"), 0);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(ckptio_save(ctx, loc, sd, &o), CKPTIO_OK);
	ck_assert_int_gt(p.calls, 0);
	ck_assert_uint_eq(p.last, p.total);
	ck_assert_uint_eq(p.total, 300 * 1000 * 4 + 2000 + 7 * 3 * 5 * 8 + 8 + 8);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(ckptio_load(ctx, loc, sd, &o), CKPTIO_OK);
	ck_assert_uint_eq(p.last, p.total);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(ckptio_verify(ctx, loc, &o), CKPTIO_OK);
	ck_assert_uint_eq(p.last, p.total);
	ckptio_sd_free(sd);
	model_free(&m);
	free(loc);
}
END_TEST

START_TEST(test_async)
{
	char *loc = path("a"), *loc2 = path("b");
	model m, orig;
	ckptio_sd *sd;
	ckptio_future *f;
	ckptio_opts o = CKPTIO_OPTS_INIT;

	model_fill(&m, 4);
	sd = model_sd(&m);
	ck_assert_int_eq(ckptio_async_save(ctx, loc, sd, NULL, &f), CKPTIO_OK);
	ck_assert_int_eq(ckptio_future_wait(f), CKPTIO_OK);
	ck_assert_int_eq(ckptio_future_poll(f), 1);
	ck_assert_str_eq(ckptio_future_errmsg(f), "");
	ckptio_future_free(f);
	load_and_compare(loc, 4);

	/* Staged: the caller scribbles over its buffers right away. */
	o.flags = CKPTIO_SAVE_STAGE;
	ck_assert_int_eq(ckptio_async_save(ctx, loc2, sd, &o, &f), CKPTIO_OK);
	memset(m.w, 0, 300 * 1000 * 4);
	ckptio_sd_free(sd);
	ck_assert_int_eq(ckptio_future_wait(f), CKPTIO_OK);
	ckptio_future_free(f);
	load_and_compare(loc2, 4);

	/* A failing async save reports through the future. */
	model_fill(&orig, 4);
	sd = model_sd(&orig);
	ck_assert_int_eq(ckptio_async_save(ctx, loc, sd, NULL, &f), CKPTIO_OK);
	ck_assert_int_eq(ckptio_future_wait(f), CKPTIO_EEXIST);
	ck_assert_ptr_nonnull(strstr(ckptio_future_errmsg(f), "already exists"));
	ckptio_future_free(f);
	ckptio_sd_free(sd);
	model_free(&orig);
	model_free(&m);
	free(loc);
	free(loc2);
}
END_TEST

START_TEST(test_partial_and_reshard)
{
	char *loc = path("ck");
	model m;
	const uint64_t ws[2] = {300, 1000}, off[2] = {10, 250}, sh[2] = {20, 500};
	float *part = malloc(20 * 500 * 4);
	double scalar = 0;
	ckptio_sd *sd;
	ckptio_opts o = CKPTIO_OPTS_INIT;

	save_model(loc, 7, 0, CKPTIO_OK);
	model_fill(&m, 7);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "model.w", CKPTIO_F32, 2, ws,
					      off, sh, part), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "scale", CKPTIO_F64, 0, NULL,
					      NULL, NULL, &scalar), CKPTIO_OK);
	ck_assert_int_eq(ckptio_load(ctx, loc, sd, NULL), CKPTIO_OK);
	for (int r = 0; r < 20; r++)
		ck_assert(memcmp(part + r * 500, m.w + (10 + r) * 1000 + 250,
				 500 * 4) == 0);
	ck_assert(scalar == m.scalar);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "not.there", part, 4),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_load(ctx, loc, sd, NULL), CKPTIO_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), "not.there"));
	o.flags = CKPTIO_LOAD_PARTIAL;
	ck_assert_int_eq(ckptio_load(ctx, loc, sd, &o), CKPTIO_OK);
	ckptio_sd_free(sd);
	model_free(&m);
	free(part);
	free(loc);
}
END_TEST

START_TEST(test_copy)
{
	char *a = path("a"), *b = path("sub/b");

	save_model(a, 9, 0, CKPTIO_OK);
	ck_assert_msg(ckptio_copy(ctx, a, b, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_verify(ctx, b, NULL), CKPTIO_OK);
	load_and_compare(b, 9);
	ck_assert_int_eq(ckptio_copy(ctx, a, b, NULL), CKPTIO_EEXIST);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_config_backend)
{
	char *conf = path("ckptio.conf"), *root = path("root"), *text;
	char *runs = path("root/runs/r1/.metadata.json"), listed[64] = "";

	ckptio_ctx_free(ctx);
	text = ckptio__asprintf("[ckptio]\ndefault = t\n\n[backend \"t\"]\n"
				"store = posix\nroot = %s\nthreads = 2\n"
				"io_size = 1MiB\n",
				root);
	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	ck_assert_msg(ckptio_ctx_new(&ctx, conf) == CKPTIO_OK, "%s",
		      ckptio_last_error());
	ck_assert_str_eq(ckptio_config_path(ctx), conf);
	save_model("t:runs/r1", 11, 0, CKPTIO_OK);
	ck_assert_int_eq(access(runs, F_OK), 0);
	load_and_compare("t:/runs/r1/", 11);
	load_and_compare(":runs/r1", 11); /* the default backend */
	ck_assert_int_eq(ckptio_list(ctx, "t:", list_cb, listed), CKPTIO_OK);
	ck_assert_str_eq(listed, "runs/r1;");
	ck_assert_int_eq(ckptio_remove(ctx, "t:", 0), CKPTIO_EINVAL);
	save_model("nosuch:x", 1, 0, CKPTIO_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), "no backend 'nosuch'"));
	save_model("t:../x", 1, 0, CKPTIO_EINVAL);
	save_model("ftp://x/y", 1, 0, CKPTIO_EUNSUPPORTED);
	free(text);
	free(conf);
	free(root);
	free(runs);
}
END_TEST

START_TEST(test_file_uri)
{
	char *uri = ckptio__asprintf("file://%s/u", dir);

	save_model(uri, 12, 0, CKPTIO_OK);
	load_and_compare(uri, 12);
	free(uri);
}
END_TEST

/* A path the user gives is resolved, links included (latest -> step-1);
 * an s3:// location is never resolved against local files, even when a
 * directory of the same name exists here. */
START_TEST(test_location_links)
{
	char *step = path("step-1"), *latest = path("latest");
	char *real = realpath(dir, NULL), *cwd = getcwd(NULL, 0), *bucket;
	ckptio__loc loc;

	save_model(step, 13, 0, CKPTIO_OK);
	ck_assert_int_eq(symlink(step, latest), 0);
	ck_assert_int_eq(ckptio__loc_resolve(ctx, latest, NULL, &loc),
			 CKPTIO_OK);
	ck_assert_str_eq(loc.root, real);
	ck_assert_str_eq(loc.id, "step-1");
	ckptio__loc_free(&loc);
	load_and_compare(latest, 13);
	ck_assert_int_eq(ckptio_verify(ctx, latest, NULL), CKPTIO_OK);

	bucket = path("bkt");
	ck_assert_int_eq(mkdir(bucket, 0755), 0);
	free(bucket);
	bucket = path("bkt/runs");
	ck_assert_int_eq(mkdir(bucket, 0755), 0);
	free(bucket);
	bucket = path("bkt/runs/x");
	ck_assert_int_eq(mkdir(bucket, 0755), 0);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "s3://bkt/runs/x", NULL,
					     &loc),
			 CKPTIO_OK);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_str_eq(loc.root, "s3://bkt/runs");
	ck_assert_str_eq(loc.id, "x");
	ckptio__loc_free(&loc);
	free(step);
	free(latest);
	free(real);
	free(cwd);
	free(bucket);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unique_names);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_threads_and_layout_of_objects);
	tcase_add_test(tc, test_overwrite);
	tcase_add_test(tc, test_inspect_list_verify_remove);
	tcase_add_test(tc, test_gc);
	tcase_add_test(tc, test_progress_and_cancel);
	tcase_add_test(tc, test_async);
	tcase_add_test(tc, test_partial_and_reshard);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_config_backend);
	tcase_add_test(tc, test_file_uri);
	tcase_add_test(tc, test_location_links);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
