/* check_api.c - the public API's contract for what callers get wrong
 * (issue 7, item 11): every function called with each NULL argument, out
 * of range counts and indices, short or garbage-tailed ckptio_opts and
 * ckptio_item_info, bad coordinators, and a future waited on by several
 * threads at once.  Each case asserts the documented status and the words
 * of the message, in the place ckptio.h says it goes.  Nothing may crash:
 * CI runs this suite without fork under valgrind, and under ASan. */
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckptio/ckptio.h"
#include "testutil.h"

static char *dir;    /* fresh per test */
static char *loc;    /* dir/ck: saved by the fixture, items "w" and "step" */
static char *loc2;   /* dir/ck2: not saved */
static ckptio_ctx *ctx;
static ckptio_sd *sd; /* the fixture's items */
static ckptio_ckpt *ck; /* loc, opened */
static ckptio_coord_group *group; /* world 2 */

static float w[4 * 8];
static char step[8] = "step-01";
static const uint64_t wshape[2] = {4, 8};

/* ------------------------------------------------------------------------ */
/* Fixture and helpers                                                      */

static char *join(const char *a, const char *b)
{
	char *p;

	ck_assert_int_gt(asprintf(&p, "%s/%s", a, b), 0);
	return p;
}

static void setup(void)
{
	dir = tu_mkdtemp();
	loc = join(dir, "ck");
	loc2 = join(dir, "ck2");
	tu_fill(w, sizeof(w), 11);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "w", CKPTIO_F32, 2, wshape,
					      NULL, NULL, w), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "step", step, sizeof(step)),
			 CKPTIO_OK);
	ck_assert_msg(ckptio_save(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_msg(ckptio_open(ctx, loc, &ck) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_coord_threads_new(&group, 2), CKPTIO_OK);
}

static void teardown(void)
{
	ckptio_coord_threads_free(group);
	ckptio_ckpt_close(ck);
	ckptio_sd_free(sd);
	ckptio_ctx_free(ctx);
	tu_rmrf(dir);
	free(dir);
	free(loc);
	free(loc2);
}

static int list_fn(void *user, const char *id)
{
	(void)user;
	(void)id;
	return 0;
}

static int plugin_fn(void *user, const ckptio_plugin_info *info)
{
	(void)user;
	(void)info;
	return 0;
}

static ckptio_status read_zeros(void *user, uint64_t off, void *buf,
				size_t len)
{
	(void)user;
	(void)off;
	memset(buf, 0, len);
	return CKPTIO_OK;
}

static int count_progress(void *user, uint64_t done, uint64_t total)
{
	(void)done;
	(void)total;
	(*(int *)user)++;
	return 0;
}

/* Where a case's message is. */
enum where { IN_CTX, IN_LAST, IN_FUTURE };

static char future_msg[4096]; /* ckptio_future_errmsg of the last case */

static const char *msg_of(enum where where)
{
	return where == IN_CTX ? ckptio_errmsg(ctx)
	       : where == IN_LAST ? ckptio_last_error() : future_msg;
}

static void expect(const char *call, ckptio_status got, ckptio_status want,
		   enum where where, const char *words)
{
	const char *m = msg_of(where);

	ck_assert_msg(got == want, "%s: status %d (%s), want %d; message: %s",
		      call, got, ckptio_strerror(got), want, m);
	ck_assert_msg(strstr(m, words) != NULL,
		      "%s: message \"%s\" lacks \"%s\"", call, m, words);
}

/* ------------------------------------------------------------------------ */
/* Every status-returning function with each NULL argument, and counts   */
/* out of range.                                                            */

static ckptio_status c_ctx_new(void)
{
	return ckptio_ctx_new(NULL, NULL);
}
static ckptio_status c_dump_ctx(void)
{
	char *s = NULL;

	return ckptio_config_dump(NULL, &s);
}
static ckptio_status c_dump_out(void)
{
	return ckptio_config_dump(ctx, NULL);
}
static ckptio_status c_sd_new(void)
{
	return ckptio_sd_new(NULL);
}
static ckptio_status c_tensor_sd(void)
{
	return ckptio_sd_add_tensor(NULL, "t", CKPTIO_F32, 2, wshape, NULL,
				    NULL, w);
}
static ckptio_status c_tensor_name(void)
{
	return ckptio_sd_add_tensor(sd, NULL, CKPTIO_F32, 2, wshape, NULL,
				    NULL, w);
}
static ckptio_status c_tensor_shape(void)
{
	return ckptio_sd_add_tensor(sd, "t", CKPTIO_F32, 2, NULL, NULL, NULL,
				    w);
}
static ckptio_status c_tensor_ndim(void)
{
	uint64_t big[CKPTIO_MAX_NDIM + 1];

	for (unsigned d = 0; d <= CKPTIO_MAX_NDIM; d++)
		big[d] = 1;
	return ckptio_sd_add_tensor(sd, "t", CKPTIO_F32, CKPTIO_MAX_NDIM + 1,
				    big, NULL, NULL, w);
}
static ckptio_status c_tensor_data(void)
{
	return ckptio_sd_add_tensor(sd, "t", CKPTIO_F32, 2, wshape, NULL, NULL,
				    NULL);
}
static ckptio_status c_bytes_sd(void)
{
	return ckptio_sd_add_bytes(NULL, "b", step, sizeof(step));
}
static ckptio_status c_bytes_name(void)
{
	return ckptio_sd_add_bytes(sd, NULL, step, sizeof(step));
}
static ckptio_status c_bytes_data(void)
{
	return ckptio_sd_add_bytes(sd, "b", NULL, 8);
}
static ckptio_status c_tfn_sd(void)
{
	return ckptio_sd_add_tensor_fn(NULL, "t", CKPTIO_F32, 2, wshape, NULL,
				       NULL, read_zeros, NULL);
}
static ckptio_status c_tfn_name(void)
{
	return ckptio_sd_add_tensor_fn(sd, NULL, CKPTIO_F32, 2, wshape, NULL,
				       NULL, read_zeros, NULL);
}
static ckptio_status c_tfn_read(void)
{
	return ckptio_sd_add_tensor_fn(sd, "t", CKPTIO_F32, 2, wshape, NULL,
				       NULL, NULL, NULL);
}
static ckptio_status c_bfn_sd(void)
{
	return ckptio_sd_add_bytes_fn(NULL, "b", 8, read_zeros, NULL);
}
static ckptio_status c_bfn_name(void)
{
	return ckptio_sd_add_bytes_fn(sd, NULL, 8, read_zeros, NULL);
}
static ckptio_status c_bfn_read(void)
{
	return ckptio_sd_add_bytes_fn(sd, "b", 8, NULL, NULL);
}
static ckptio_status c_group_out(void)
{
	return ckptio_coord_threads_new(NULL, 2);
}
static ckptio_status c_group_zero(void)
{
	ckptio_coord_group *g = NULL;

	return ckptio_coord_threads_new(&g, 0);
}
static ckptio_status c_group_neg(void)
{
	ckptio_coord_group *g = NULL;

	return ckptio_coord_threads_new(&g, -3);
}
static ckptio_status c_get_group(void)
{
	ckptio_coord co;

	return ckptio_coord_threads_get(NULL, 0, &co);
}
static ckptio_status c_get_coord(void)
{
	return ckptio_coord_threads_get(group, 0, NULL);
}
static ckptio_status c_get_rank2(void)
{
	ckptio_coord co;

	return ckptio_coord_threads_get(group, 2, &co);
}
static ckptio_status c_get_rankneg(void)
{
	ckptio_coord co;

	return ckptio_coord_threads_get(group, -1, &co);
}
static ckptio_status c_get_rankmax(void)
{
	ckptio_coord co;

	return ckptio_coord_threads_get(group, INT_MAX, &co);
}
static ckptio_status c_save_ctx(void)
{
	return ckptio_save(NULL, loc2, sd, NULL);
}
static ckptio_status c_save_loc(void)
{
	return ckptio_save(ctx, NULL, sd, NULL);
}
static ckptio_status c_save_sd(void)
{
	return ckptio_save(ctx, loc2, NULL, NULL);
}
static ckptio_status c_async_ctx(void)
{
	ckptio_future *f = NULL;

	return ckptio_async_save(NULL, loc2, sd, NULL, &f);
}
static ckptio_status c_async_out(void)
{
	return ckptio_async_save(ctx, loc2, sd, NULL, NULL);
}
/* The save's own arguments fail the save: the future reports them. */
static ckptio_status async_wait(const char *where, const ckptio_sd *s)
{
	ckptio_future *f = NULL;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_status st;

	o.flags = CKPTIO_SAVE_STAGE;
	st = ckptio_async_save(ctx, where, s, &o, &f);
	ck_assert_msg(st == CKPTIO_OK, "%s", ckptio_errmsg(ctx));
	st = ckptio_future_wait(f);
	snprintf(future_msg, sizeof(future_msg), "%s",
		 ckptio_future_errmsg(f));
	ckptio_future_free(f);
	return st;
}
static ckptio_status c_async_loc(void)
{
	return async_wait(NULL, sd);
}
static ckptio_status c_async_sd(void)
{
	return async_wait(loc2, NULL);
}
static ckptio_status c_wait(void)
{
	return ckptio_future_wait(NULL);
}
static ckptio_status c_load_ctx(void)
{
	return ckptio_load(NULL, loc, sd, NULL);
}
static ckptio_status c_load_loc(void)
{
	return ckptio_load(ctx, NULL, sd, NULL);
}
static ckptio_status c_load_sd(void)
{
	return ckptio_load(ctx, loc, NULL, NULL);
}
static ckptio_status c_open_ctx(void)
{
	ckptio_ckpt *c = NULL;

	return ckptio_open(NULL, loc, &c);
}
static ckptio_status c_open_loc(void)
{
	ckptio_ckpt *c = NULL;

	return ckptio_open(ctx, NULL, &c);
}
static ckptio_status c_open_out(void)
{
	return ckptio_open(ctx, loc, NULL);
}
static ckptio_status c_item_ck(void)
{
	ckptio_item_info info = {.struct_size = sizeof(info)};

	return ckptio_ckpt_item(NULL, 0, &info);
}
static ckptio_status c_item_info(void)
{
	return ckptio_ckpt_item(ck, 0, NULL);
}
static ckptio_status c_item_past(void)
{
	ckptio_item_info info = {.struct_size = sizeof(info)};

	return ckptio_ckpt_item(ck, 2, &info);
}
static ckptio_status c_item_max(void)
{
	ckptio_item_info info = {.struct_size = sizeof(info)};

	return ckptio_ckpt_item(ck, SIZE_MAX, &info);
}
static ckptio_status c_item_size0(void)
{
	ckptio_item_info info = {.struct_size = 0};

	return ckptio_ckpt_item(ck, 0, &info);
}
static ckptio_status c_item_size4(void)
{
	ckptio_item_info info = {.struct_size = 4};

	return ckptio_ckpt_item(ck, 0, &info);
}
static ckptio_status c_list_ctx(void)
{
	return ckptio_list(NULL, dir, list_fn, NULL);
}
static ckptio_status c_list_loc(void)
{
	return ckptio_list(ctx, NULL, list_fn, NULL);
}
static ckptio_status c_list_fn(void)
{
	return ckptio_list(ctx, dir, NULL, NULL);
}
static ckptio_status c_verify_ctx(void)
{
	return ckptio_verify(NULL, loc, NULL);
}
static ckptio_status c_verify_loc(void)
{
	return ckptio_verify(ctx, NULL, NULL);
}
static ckptio_status c_remove_ctx(void)
{
	return ckptio_remove(NULL, loc, 0);
}
static ckptio_status c_remove_loc(void)
{
	return ckptio_remove(ctx, NULL, 0);
}
static ckptio_status c_remove_ex_ctx(void)
{
	return ckptio_remove_ex(NULL, loc, NULL);
}
static ckptio_status c_remove_ex_loc(void)
{
	return ckptio_remove_ex(ctx, NULL, NULL);
}
static ckptio_status c_remove_ex_size(void)
{
	ckptio_rm_opts o = CKPTIO_RM_OPTS_INIT;

	o.struct_size = 4;
	return ckptio_remove_ex(ctx, loc, &o);
}
static ckptio_status c_remove_ex_flags(void)
{
	ckptio_rm_opts o = CKPTIO_RM_OPTS_INIT;

	o.flags = 1u << 7;
	return ckptio_remove_ex(ctx, loc, &o);
}
static ckptio_status c_debris_ck(void)
{
	ckptio_rm_report r = {.struct_size = sizeof(r)};

	return ckptio_ckpt_debris(NULL, 0, &r);
}
static ckptio_status c_debris_report(void)
{
	return ckptio_ckpt_debris(ck, 0, NULL);
}
static ckptio_status c_copy_ctx(void)
{
	return ckptio_copy(NULL, loc, loc2, NULL);
}
static ckptio_status c_copy_src(void)
{
	return ckptio_copy(ctx, NULL, loc2, NULL);
}
static ckptio_status c_copy_dst(void)
{
	return ckptio_copy(ctx, loc, NULL, NULL);
}
static ckptio_status c_plugins_ctx(void)
{
	return ckptio_plugins(NULL, plugin_fn, NULL);
}
static ckptio_status c_plugins_fn(void)
{
	return ckptio_plugins(ctx, NULL, NULL);
}

static const struct status_case {
	const char *call;
	ckptio_status (*run)(void);
	ckptio_status want;
	enum where where;
	const char *words;
} status_cases[] = {
	{"ctx_new(NULL out)", c_ctx_new, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_ctx_new: out is NULL"},
	{"config_dump(NULL ctx)", c_dump_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_config_dump: ctx is NULL"},
	{"config_dump(NULL out)", c_dump_out, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_config_dump: out is NULL"},
	{"sd_new(NULL out)", c_sd_new, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_new: out is NULL"},
	{"sd_add_tensor(NULL sd)", c_tensor_sd, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_tensor: sd is NULL"},
	{"sd_add_tensor(NULL name)", c_tensor_name, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_tensor: name is NULL"},
	{"sd_add_tensor(ndim 2, NULL shape)", c_tensor_shape, CKPTIO_EINVAL,
	 IN_LAST, "item 't': 2 dimensions"},
	{"sd_add_tensor(ndim 33)", c_tensor_ndim, CKPTIO_EINVAL, IN_LAST,
	 "item 't': 33 dimensions (at most 32"},
	{"sd_add_tensor(NULL data)", c_tensor_data, CKPTIO_EINVAL, IN_LAST,
	 "item 't': no data"},
	{"sd_add_bytes(NULL sd)", c_bytes_sd, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_bytes: sd is NULL"},
	{"sd_add_bytes(NULL name)", c_bytes_name, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_bytes: name is NULL"},
	{"sd_add_bytes(NULL data)", c_bytes_data, CKPTIO_EINVAL, IN_LAST,
	 "item 'b': no data"},
	{"sd_add_tensor_fn(NULL sd)", c_tfn_sd, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_tensor_fn: sd is NULL"},
	{"sd_add_tensor_fn(NULL name)", c_tfn_name, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_tensor_fn: name is NULL"},
	{"sd_add_tensor_fn(NULL read)", c_tfn_read, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_tensor_fn: read is NULL"},
	{"sd_add_bytes_fn(NULL sd)", c_bfn_sd, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_bytes_fn: sd is NULL"},
	{"sd_add_bytes_fn(NULL name)", c_bfn_name, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_bytes_fn: name is NULL"},
	{"sd_add_bytes_fn(NULL read)", c_bfn_read, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_sd_add_bytes_fn: read is NULL"},
	{"coord_threads_new(NULL out)", c_group_out, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_coord_threads_new: out is NULL"},
	{"coord_threads_new(world 0)", c_group_zero, CKPTIO_EINVAL, IN_LAST,
	 "world size 0 < 1"},
	{"coord_threads_new(world -3)", c_group_neg, CKPTIO_EINVAL, IN_LAST,
	 "world size -3 < 1"},
	{"coord_threads_get(NULL group)", c_get_group, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_coord_threads_get: group is NULL"},
	{"coord_threads_get(NULL coord)", c_get_coord, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_coord_threads_get: coord is NULL"},
	{"coord_threads_get(rank 2 of 2)", c_get_rank2, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_coord_threads_get: rank 2 is outside 0..1 (the group has 2 "
	 "ranks)"},
	{"coord_threads_get(rank -1)", c_get_rankneg, CKPTIO_EINVAL, IN_LAST,
	 "rank -1 is outside 0..1"},
	{"coord_threads_get(rank INT_MAX)", c_get_rankmax, CKPTIO_EINVAL,
	 IN_LAST, "is outside 0..1"},
	{"save(NULL ctx)", c_save_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_save: ctx is NULL"},
	{"save(NULL location)", c_save_loc, CKPTIO_EINVAL, IN_CTX,
	 "the location is NULL"},
	{"save(NULL sd)", c_save_sd, CKPTIO_EINVAL, IN_CTX,
	 "the state dict (sd) is NULL"},
	{"async_save(NULL ctx)", c_async_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_async_save: ctx is NULL"},
	{"async_save(NULL out)", c_async_out, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_async_save: out is NULL"},
	{"async_save(NULL location)", c_async_loc, CKPTIO_EINVAL, IN_FUTURE,
	 "the location is NULL"},
	{"async_save(NULL sd)", c_async_sd, CKPTIO_EINVAL, IN_FUTURE,
	 "the state dict (sd) is NULL"},
	{"future_wait(NULL)", c_wait, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_future_wait: f is NULL"},
	{"load(NULL ctx)", c_load_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_load: ctx is NULL"},
	{"load(NULL location)", c_load_loc, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_load: location is NULL"},
	{"load(NULL sd)", c_load_sd, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_load: sd is NULL"},
	{"open(NULL ctx)", c_open_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_open: ctx is NULL"},
	{"open(NULL location)", c_open_loc, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_open: location is NULL"},
	{"open(NULL out)", c_open_out, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_open: out is NULL"},
	{"ckpt_item(NULL ck)", c_item_ck, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_ckpt_item: ck is NULL"},
	{"ckpt_item(NULL info)", c_item_info, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_ckpt_item: info is NULL"},
	{"ckpt_item(i == count)", c_item_past, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_ckpt_item: item 2 is out of range (the checkpoint has 2 "
	 "items)"},
	{"ckpt_item(i == SIZE_MAX)", c_item_max, CKPTIO_EINVAL, IN_LAST,
	 "is out of range"},
	{"ckpt_item(struct_size 0)", c_item_size0, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_ckpt_item: info->struct_size is 0"},
	{"ckpt_item(struct_size 4)", c_item_size4, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_ckpt_item: info->struct_size is 4"},
	{"list(NULL ctx)", c_list_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_list: ctx is NULL"},
	{"list(NULL location)", c_list_loc, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_list: location is NULL"},
	{"list(NULL fn)", c_list_fn, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_list: fn is NULL"},
	{"verify(NULL ctx)", c_verify_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_verify: ctx is NULL"},
	{"verify(NULL location)", c_verify_loc, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_verify: location is NULL"},
	{"remove(NULL ctx)", c_remove_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_remove: ctx is NULL"},
	{"remove(NULL location)", c_remove_loc, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_remove: location is NULL"},
	{"remove_ex(NULL ctx)", c_remove_ex_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_remove_ex: ctx is NULL"},
	{"remove_ex(NULL location)", c_remove_ex_loc, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_remove_ex: location is NULL"},
	{"remove_ex(struct_size 4)", c_remove_ex_size, CKPTIO_EINVAL, IN_CTX,
	 "opts->struct_size is 4"},
	{"remove_ex(unknown flag)", c_remove_ex_flags, CKPTIO_EINVAL, IN_CTX,
	 "bits this ckptio does not know"},
	{"ckpt_debris(NULL ck)", c_debris_ck, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_ckpt_debris: ck is NULL"},
	{"ckpt_debris(NULL report)", c_debris_report, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_ckpt_debris: report is NULL"},
	{"copy(NULL ctx)", c_copy_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_copy: ctx is NULL"},
	{"copy(NULL src)", c_copy_src, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_copy: src is NULL"},
	{"copy(NULL dst)", c_copy_dst, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_copy: dst is NULL"},
	{"plugins(NULL ctx)", c_plugins_ctx, CKPTIO_EINVAL, IN_LAST,
	 "ckptio_plugins: ctx is NULL"},
	{"plugins(NULL fn)", c_plugins_fn, CKPTIO_EINVAL, IN_CTX,
	 "ckptio_plugins: fn is NULL"},
};

/* A NULL handed to a status function: EINVAL with its message, and
 * nothing else changed (the fixture's checkpoint still loads, sd keeps
 * its two items, nothing appeared at loc2). */
START_TEST(test_null_arguments)
{
	const size_t n = sizeof(status_cases) / sizeof(status_cases[0]);
	ckptio_ckpt *c2 = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct status_case *c = &status_cases[i];

		expect(c->call, c->run(), c->want, c->where, c->words);
	}
	ck_assert_uint_eq(ckptio_sd_count(sd), 2);
	ck_assert_int_eq(ckptio_open(ctx, loc2, &c2), CKPTIO_ENOTFOUND);
	ck_assert_msg(ckptio_load(ctx, loc, sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_verify(ctx, loc, NULL), CKPTIO_OK);
}
END_TEST

/* Functions that return a value, or nothing, given NULL: the value ckptio.h
 * names, and no crash. */
START_TEST(test_null_values)
{
	ckptio_item_info info = {.struct_size = sizeof(info)};

	ck_assert_int_eq(ckptio_sd_add_bytes(NULL, "b", step, 8),
			 CKPTIO_EINVAL);
	/* A NULL context's message is the thread's last error. */
	ck_assert_ptr_eq(ckptio_errmsg(NULL), ckptio_last_error());
	ck_assert_str_eq(ckptio_errmsg(NULL),
			 "ckptio_sd_add_bytes: sd is NULL");
	ckptio_set_log(NULL, CKPTIO_LOG_DEBUG, NULL, NULL);
	ck_assert_str_eq(ckptio_last_error(), "ckptio_set_log: ctx is NULL");
	ck_assert_int_eq(ckptio_log_level_get(NULL), CKPTIO_LOG_WARN);
	ck_assert_ptr_null(ckptio_config_path(NULL));
	ck_assert_uint_eq(ckptio_sd_count(NULL), 0);
	ck_assert_uint_eq(ckptio_ckpt_count(NULL), 0);
	ck_assert_uint_eq(ckptio_ckpt_find(NULL, "w"), (size_t)-1);
	ck_assert_uint_eq(ckptio_ckpt_find(ck, NULL), (size_t)-1);
	ck_assert_ptr_null(ckptio_ckpt_layout(NULL));
	ck_assert_int_eq(ckptio_ckpt_world(NULL), 0);
	ck_assert_uint_eq(ckptio_ckpt_nbytes(NULL), 0);
	ck_assert_int_eq(ckptio_future_wait(NULL), CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio_future_poll(NULL), -1);
	ck_assert_ptr_eq(ckptio_future_errmsg(NULL), ckptio_last_error());
	ck_assert_str_eq(ckptio_future_errmsg(NULL),
			 "ckptio_future_wait: f is NULL");
	ck_assert_int_eq(ckptio_dtype_from_name(NULL), CKPTIO_DTYPE_INVALID);
	ck_assert_ptr_null(ckptio_dtype_name((ckptio_dtype)999));
	ck_assert_uint_eq(ckptio_dtype_size((ckptio_dtype)-1), 0);
	ck_assert_str_eq(ckptio_strerror((ckptio_status)999), "unknown error");
	ckptio_ctx_free(NULL);
	ckptio_sd_free(NULL);
	ckptio_coord_threads_free(NULL);
	ckptio_ckpt_close(NULL);
	ckptio_future_free(NULL);
	/* The same functions on real handles still answer. */
	ck_assert_int_eq(ckptio_log_level_get(ctx), CKPTIO_LOG_WARN);
	ck_assert_uint_eq(ckptio_ckpt_count(ck), 2);
	ck_assert_uint_eq(ckptio_ckpt_find(ck, "step"), 0);
	ck_assert_str_eq(ckptio_ckpt_layout(ck), "native");
	ck_assert_int_eq(ckptio_ckpt_world(ck), 1);
	ck_assert_uint_eq(ckptio_ckpt_nbytes(ck), sizeof(w) + sizeof(step));
	ck_assert_int_eq(ckptio_ckpt_item(ck, 1, &info), CKPTIO_OK);
	ck_assert_str_eq(info.name, "w");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Caller-filled structs: struct_size honoured, nothing read or written  */
/* past it.                                                                 */

/* A caller's ckptio_opts as an older or newer header laid it out: size
 * bytes given, everything after them garbage that must not be read. */
typedef union raw_opts {
	ckptio_opts o;
	unsigned char b[sizeof(ckptio_opts) + 64];
} raw_opts;

#define END_OF(type, m) (offsetof(type, m) + sizeof(((type *)0)->m))

/* The caller's bytes (up to size) hold CKPTIO_OPTS_INIT's values and
 * flags; every byte past size is 0xa5: a pointer made of them crashes. */
static const ckptio_opts *garbage_opts(raw_opts *r, uint32_t size,
				       uint32_t flags)
{
	const ckptio_opts def = CKPTIO_OPTS_INIT;

	memset(r, 0xa5, sizeof(*r));
	memcpy(r, &def, size < sizeof(def) ? size : sizeof(def));
	r->o.struct_size = size;
	if (size >= END_OF(ckptio_opts, flags))
		r->o.flags = flags;
	return &r->o;
}

START_TEST(test_opts_struct_size)
{
	raw_opts r;
	ckptio_future *f = NULL;
	ckptio_sd *part;
	const uint64_t one[1] = {1};
	float extra = 1.0f;
	const uint32_t shorts[] = {END_OF(ckptio_opts, flags),
				   END_OF(ckptio_opts, coord),
				   END_OF(ckptio_opts, progress_user),
				   END_OF(ckptio_opts, threads),
				   /* cuts `coord` in half: coord not read */
				   END_OF(ckptio_opts, flags) + 4,
				   sizeof(ckptio_opts) + 64};
	int calls = 0;

	/* Older callers: the flags they have are honoured (OVERWRITE), what
	 * they lack is the default, and the garbage past struct_size (a
	 * coord, a progress function) is never touched. */
	for (size_t i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++) {
		const uint32_t size = shorts[i];
		const uint32_t ow = CKPTIO_SAVE_OVERWRITE;
		ckptio_status st;

		st = ckptio_save(ctx, loc, sd, garbage_opts(&r, size, ow));
		ck_assert_msg(st == CKPTIO_OK, "save, struct_size %u: %s", size,
			      ckptio_errmsg(ctx));
		st = ckptio_load(ctx, loc, sd, garbage_opts(&r, size, 0));
		ck_assert_msg(st == CKPTIO_OK, "load, struct_size %u: %s", size,
			      ckptio_errmsg(ctx));
		st = ckptio_verify(ctx, loc, garbage_opts(&r, size, 0));
		ck_assert_msg(st == CKPTIO_OK, "verify, struct_size %u: %s",
			      size, ckptio_errmsg(ctx));
		st = ckptio_copy(ctx, loc, loc2, garbage_opts(&r, size, ow));
		ck_assert_msg(st == CKPTIO_OK, "copy, struct_size %u: %s", size,
			      ckptio_errmsg(ctx));
		st = ckptio_async_save(ctx, loc, sd, garbage_opts(&r, size, ow),
				       &f);
		ck_assert_msg(st == CKPTIO_OK, "async_save, struct_size %u: %s",
			      size, ckptio_errmsg(ctx));
		st = ckptio_future_wait(f);
		ck_assert_msg(st == CKPTIO_OK, "async, struct_size %u: %s",
			      size, ckptio_future_errmsg(f));
		ckptio_future_free(f);
	}
	/* The flags are the caller's (0: no overwrite), not the garbage. */
	expect("save, flags 0",
	       ckptio_save(ctx, loc, sd,
			   garbage_opts(&r, END_OF(ckptio_opts, flags), 0)),
	       CKPTIO_EEXIST, IN_CTX, "already exists");

	/* LOAD_PARTIAL from a struct that ends at flags. */
	ck_assert_int_eq(ckptio_sd_new(&part), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(part, "absent", CKPTIO_F32, 1,
					      one, NULL, NULL, &extra),
			 CKPTIO_OK);
	garbage_opts(&r, END_OF(ckptio_opts, flags), CKPTIO_LOAD_PARTIAL);
	ck_assert_msg(ckptio_load(ctx, loc, part, &r.o) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(part);

	/* A progress function within struct_size is called. */
	garbage_opts(&r, END_OF(ckptio_opts, progress_user),
		     CKPTIO_SAVE_OVERWRITE);
	r.o.coord = NULL;
	r.o.progress = count_progress;
	r.o.progress_user = &calls;
	ck_assert_msg(ckptio_save(ctx, loc, sd, &r.o) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_gt(calls, 0);
}
END_TEST

/* struct_size 0 or 4 is a caller that never set it: refused, by every
 * function that takes opts, before anything is written. */
START_TEST(test_opts_unset)
{
	static const uint32_t bad[] = {0, 4, 7};
	raw_opts r;
	ckptio_future *f = (ckptio_future *)&r; /* must become NULL */
	ckptio_ckpt *c2 = NULL;
	char words[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(words, sizeof(words),
			 "opts->struct_size is %u, smaller than any "
			 "ckptio_opts", bad[i]);
		expect("save", ckptio_save(ctx, loc2, sd,
					   garbage_opts(&r, bad[i], 0)),
		       CKPTIO_EINVAL, IN_CTX, words);
		ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx),
					     "ckptio_save: "));
		expect("async_save",
		       ckptio_async_save(ctx, loc2, sd,
					 garbage_opts(&r, bad[i], 0), &f),
		       CKPTIO_EINVAL, IN_CTX, words);
		expect("load", ckptio_load(ctx, loc, sd,
					   garbage_opts(&r, bad[i], 0)),
		       CKPTIO_EINVAL, IN_CTX, words);
		expect("verify", ckptio_verify(ctx, loc,
					       garbage_opts(&r, bad[i], 0)),
		       CKPTIO_EINVAL, IN_CTX, words);
		expect("copy", ckptio_copy(ctx, loc, loc2,
					   garbage_opts(&r, bad[i], 0)),
		       CKPTIO_EINVAL, IN_CTX, words);
	}
	ck_assert_ptr_null(f); /* *out is NULL after a refused async save */
	ck_assert_int_eq(ckptio_open(ctx, loc2, &c2), CKPTIO_ENOTFOUND);
}
END_TEST

/* Flags of a newer release (or of the other family) are refused, not
 * silently dropped. */
START_TEST(test_opts_unknown_flags)
{
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_future *f = NULL;
	ckptio_ckpt *c2 = NULL;

	o.flags = CKPTIO_SAVE_OVERWRITE | (1u << 7);
	expect("save", ckptio_save(ctx, loc2, sd, &o), CKPTIO_EINVAL, IN_CTX,
	       "opts->flags 0x81 has bits this ckptio does not know (0x80); "
	       "it takes only CKPTIO_SAVE_* flags (0x3)");
	ck_assert_int_eq(ckptio_async_save(ctx, loc2, sd, &o, &f), CKPTIO_OK);
	ck_assert_int_eq(ckptio_future_wait(f), CKPTIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(ckptio_future_errmsg(f),
				     "has bits this ckptio does not know"));
	ckptio_future_free(f);
	expect("copy", ckptio_copy(ctx, loc, loc2, &o), CKPTIO_EINVAL, IN_CTX,
	       "ckptio_copy: opts->flags 0x81 has bits");
	ck_assert_int_eq(ckptio_open(ctx, loc2, &c2), CKPTIO_ENOTFOUND);
	o.flags = CKPTIO_LOAD_PARTIAL | (1u << 20);
	expect("load", ckptio_load(ctx, loc, sd, &o), CKPTIO_EINVAL, IN_CTX,
	       "ckptio_load: opts->flags 0x100002 has bits this ckptio does "
	       "not know (0x100000); it takes only CKPTIO_LOAD_* flags");
	/* verify documents that it ignores flags. */
	o.flags = ~0u;
	ck_assert_int_eq(ckptio_verify(ctx, loc, &o), CKPTIO_OK);
}
END_TEST

/* ckptio_ckpt_item writes no more than the caller's struct_size. */
START_TEST(test_item_info_short)
{
	union {
		ckptio_item_info i;
		unsigned char b[sizeof(ckptio_item_info) + 32];
	} u;
	const size_t end = END_OF(ckptio_item_info, name);

	memset(&u, 0xa5, sizeof(u));
	u.i.struct_size = (uint32_t)end;
	ck_assert_int_eq(ckptio_ckpt_item(ck, 1, &u.i), CKPTIO_OK);
	ck_assert_uint_eq(u.i.struct_size, end);
	ck_assert_str_eq(u.i.name, "w");
	for (size_t k = end; k < sizeof(u); k++)
		ck_assert_msg(u.b[k] == 0xa5, "byte %zu written", k);
	/* A newer caller's larger struct: filled up to ours, the rest kept. */
	memset(&u, 0xa5, sizeof(u));
	u.i.struct_size = sizeof(u);
	ck_assert_int_eq(ckptio_ckpt_item(ck, 1, &u.i), CKPTIO_OK);
	ck_assert_uint_eq(u.i.struct_size, sizeof(ckptio_item_info));
	ck_assert_uint_eq(u.i.ndim, 2);
	ck_assert_uint_eq(u.i.nbytes, sizeof(w));
	for (size_t k = sizeof(ckptio_item_info); k < sizeof(u); k++)
		ck_assert_msg(u.b[k] == 0xa5, "byte %zu written", k);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Coordinators                                                             */

/* A rank out of range is refused by ckptio_coord_threads_get, and the
 * zeroed coord it leaves is refused by save: before this, rank 2 of 2
 * pointed past the group's array (ASan: heap-buffer-overflow in the
 * gather). */
START_TEST(test_coord_threads_bounds)
{
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_coord co;
	ckptio_coord_group *solo;

	memset(&co, 0x5a, sizeof(co));
	ck_assert_int_eq(ckptio_coord_threads_get(group, 2, &co),
			 CKPTIO_EINVAL);
	ck_assert_uint_eq(co.struct_size, 0);
	ck_assert_ptr_null(co.gather);
	o.coord = &co;
	expect("save with the refused coord", ckptio_save(ctx, loc2, sd, &o),
	       CKPTIO_EINVAL, IN_CTX,
	       "ckptio_save: opts->coord->struct_size is 0, smaller than a "
	       "ckptio_coord");
	/* A group of one: its rank 0 saves; rank 1 does not exist. */
	ck_assert_int_eq(ckptio_coord_threads_new(&solo, 1), CKPTIO_OK);
	ck_assert_int_eq(ckptio_coord_threads_get(solo, 1, &co),
			 CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio_coord_threads_get(solo, 0, &co), CKPTIO_OK);
	ck_assert_int_eq(co.rank, 0);
	ck_assert_int_eq(co.world, 1);
	ck_assert_msg(ckptio_save(ctx, loc2, sd, &o) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_coord_threads_free(solo);
}
END_TEST

static ckptio_status no_gather(void *self, const void *buf, size_t len,
			       void ***out_bufs, size_t **out_lens)
{
	(void)self;
	(void)buf;
	(void)len;
	(void)out_bufs;
	(void)out_lens;
	ck_abort_msg("a refused coordinator was called");
	return CKPTIO_ECOORD;
}

static ckptio_status no_broadcast(void *self, void **buf, size_t *len)
{
	(void)self;
	(void)buf;
	(void)len;
	ck_abort_msg("a refused coordinator was called");
	return CKPTIO_ECOORD;
}

/* Hand-made coordinators that cannot work are refused before any of their
 * methods is called, by save and async_save alike. */
START_TEST(test_coord_invalid)
{
	static const struct {
		uint32_t struct_size;
		int rank, world;
		int drop; /* 1: gather, 2: broadcast is NULL */
		const char *words;
	} bad[] = {
		{sizeof(ckptio_coord), 0, 0, 0, "world size 0 is not positive"},
		{sizeof(ckptio_coord), 0, -4, 0,
		 "world size -4 is not positive"},
		{sizeof(ckptio_coord), 2, 2, 0,
		 "rank 2 is outside 0..1 (world size 2)"},
		{sizeof(ckptio_coord), -1, 4, 0, "rank -1 is outside 0..3"},
		{sizeof(ckptio_coord), 0, 2, 1,
		 "opts->coord has no gather method"},
		{sizeof(ckptio_coord), 0, 2, 2,
		 "opts->coord has no broadcast method"},
		/* Up to gather only: no room for broadcast. */
		{offsetof(ckptio_coord, broadcast), 0, 2, 0,
		 "opts->coord->struct_size is"},
	};
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_future *f = NULL;
	ckptio_ckpt *c2 = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ckptio_coord co = {
			.struct_size = bad[i].struct_size,
			.rank = bad[i].rank,
			.world = bad[i].world,
			.gather = bad[i].drop == 1 ? NULL : no_gather,
			.broadcast = bad[i].drop == 2 ? NULL : no_broadcast,
		};

		o.coord = &co;
		expect(bad[i].words, ckptio_save(ctx, loc2, sd, &o),
		       CKPTIO_EINVAL, IN_CTX, bad[i].words);
		expect(bad[i].words, ckptio_async_save(ctx, loc2, sd, &o, &f),
		       CKPTIO_EINVAL, IN_CTX, bad[i].words);
		ck_assert_ptr_null(f);
	}
	ck_assert_int_eq(ckptio_open(ctx, loc2, &c2), CKPTIO_ENOTFOUND);
}
END_TEST

/* barrier is optional (ckptio never calls it), and a coordinator made
 * before it existed -- struct_size ending at broadcast -- still works. */
START_TEST(test_coord_without_barrier)
{
	ckptio_coord_group *g;
	ckptio_coord co;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_ckpt *c2 = NULL;

	ck_assert_int_eq(ckptio_coord_threads_new(&g, 1), CKPTIO_OK);
	ck_assert_int_eq(ckptio_coord_threads_get(g, 0, &co), CKPTIO_OK);
	co.barrier = NULL;
	o.coord = &co;
	ck_assert_msg(ckptio_save(ctx, loc2, sd, &o) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	co.struct_size = (uint32_t)(offsetof(ckptio_coord, broadcast) +
				    sizeof(co.broadcast));
	o.flags = CKPTIO_SAVE_OVERWRITE;
	ck_assert_msg(ckptio_save(ctx, loc2, sd, &o) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_open(ctx, loc2, &c2), CKPTIO_OK);
	ckptio_ckpt_close(c2);
	ckptio_coord_threads_free(g);
}
END_TEST

/* One rank of a two-rank save; rank 1 makes the mistake `bad`. */
typedef struct rank_job {
	int rank;
	int bad; /* 1: NULL sd, 2: NULL location, 3: unknown flags */
	ckptio_status st;
	char msg[512];
} rank_job;

static void *rank_main(void *arg)
{
	rank_job *j = arg;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_coord co;
	ckptio_ctx *c = NULL;
	ckptio_sd *s = NULL;
	char b[4] = "abc";
	const int mine = j->rank == 1 ? j->bad : 0;

	j->st = ckptio_coord_threads_get(group, j->rank, &co);
	if (j->st == CKPTIO_OK)
		j->st = ckptio_ctx_new(&c, NULL);
	if (j->st == CKPTIO_OK)
		j->st = ckptio_sd_new(&s);
	if (j->st == CKPTIO_OK)
		j->st = ckptio_sd_add_bytes(s, "b", b, sizeof(b));
	if (j->st == CKPTIO_OK) {
		o.coord = &co;
		o.flags = mine == 3 ? 1u << 9 : 0;
		j->st = ckptio_save(c, mine == 2 ? NULL : loc2,
				    mine == 1 ? NULL : s, &o);
		snprintf(j->msg, sizeof(j->msg), "%s", ckptio_errmsg(c));
	}
	ckptio_sd_free(s);
	ckptio_ctx_free(c);
	return NULL;
}

/* A NULL sd or location, or unknown flags, on one rank fail the save on
 * every rank, naming that rank: nobody waits for a rank that left. */
START_TEST(test_save_args_reach_every_rank)
{
	static const char *const words[] = {
		NULL, "rank 1: save: the state dict (sd) is NULL",
		"rank 1: save: the location is NULL",
		"rank 1: save: opts->flags 0x200 has bits this ckptio does not "
		"know"};
	ckptio_ckpt *c2 = NULL;

	for (int bad = 1; bad <= 3; bad++) {
		rank_job jobs[2] = {{.rank = 0, .bad = bad},
				    {.rank = 1, .bad = bad}};
		pthread_t tid[2];

		for (int r = 0; r < 2; r++)
			ck_assert_int_eq(pthread_create(&tid[r], NULL,
							rank_main, &jobs[r]),
					 0);
		for (int r = 0; r < 2; r++)
			ck_assert_int_eq(pthread_join(tid[r], NULL), 0);
		for (int r = 0; r < 2; r++) {
			ck_assert_msg(jobs[r].st == CKPTIO_EINVAL,
				      "case %d, rank %d: status %d: %s", bad,
				      r, jobs[r].st, jobs[r].msg);
			ck_assert_msg(strstr(jobs[r].msg, words[bad]),
				      "case %d, rank %d: \"%s\" lacks \"%s\"",
				      bad, r, jobs[r].msg, words[bad]);
		}
	}
	ck_assert_int_eq(ckptio_open(ctx, loc2, &c2), CKPTIO_ENOTFOUND);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A future waited on by several threads at once                            */

/* The save's only item is pulled from gate_read, which blocks until the
 * test opens the gate, so the waiters are all inside ckptio_future_wait
 * while the save still runs. */
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;
	int started; /* waiter threads about to call ckptio_future_wait */
	ckptio_status fail; /* what the read returns */
} gate;

static ckptio_status gate_read(void *user, uint64_t off, void *buf,
			       size_t len)
{
	gate *g = user;

	(void)off;
	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	memset(buf, 0x3c, len);
	return g->fail;
}

typedef struct waiter {
	gate *g;
	ckptio_future *f;
	ckptio_status st;
	int poll_after; /* ckptio_future_poll once the wait returned */
	char msg[256];
} waiter;

static void *wait_main(void *arg)
{
	waiter *wt = arg;

	pthread_mutex_lock(&wt->g->mu);
	wt->g->started++;
	pthread_cond_broadcast(&wt->g->cv);
	pthread_mutex_unlock(&wt->g->mu);
	wt->st = ckptio_future_wait(wt->f);
	wt->poll_after = ckptio_future_poll(wt->f);
	snprintf(wt->msg, sizeof(wt->msg), "%s", ckptio_future_errmsg(wt->f));
	return NULL;
}

/* Polls until the save is done; once 1, poll stays 1. */
static void *poll_main(void *arg)
{
	waiter *wt = arg;
	int p;

	while ((p = ckptio_future_poll(wt->f)) == 0)
		sched_yield();
	wt->poll_after = p;
	for (int i = 0; i < 100; i++)
		if (ckptio_future_poll(wt->f) != 1)
			wt->poll_after = -2;
	return NULL;
}

START_TEST(test_future_concurrent_wait)
{
	enum { ROUNDS = 6, MAXW = 4 };

	for (int round = 0; round < ROUNDS; round++) {
		gate g = {.fail = round % 2 ? CKPTIO_EIO : CKPTIO_OK};
		const int nw = 2 + round % 3; /* 2, 3 or 4 waiters */
		const ckptio_status want = g.fail;
		ckptio_opts o = CKPTIO_OPTS_INIT;
		waiter wt[MAXW + 1];
		pthread_t tid[MAXW + 1];
		ckptio_future *f = NULL;
		ckptio_sd *gsd;
		struct timespec settle = {0, 20 * 1000 * 1000};

		pthread_mutex_init(&g.mu, NULL);
		pthread_cond_init(&g.cv, NULL);
		ck_assert_int_eq(ckptio_sd_new(&gsd), CKPTIO_OK);
		ck_assert_int_eq(ckptio_sd_add_bytes_fn(gsd, "gated", 4096,
							gate_read, &g),
				 CKPTIO_OK);
		o.flags = CKPTIO_SAVE_OVERWRITE;
		o.threads = 1;
		ck_assert_int_eq(ckptio_async_save(ctx, loc2, gsd, &o, &f),
				 CKPTIO_OK);
		for (int i = 0; i <= nw; i++) {
			wt[i] = (waiter){.g = &g, .f = f, .poll_after = 7};
			ck_assert_int_eq(pthread_create(&tid[i], NULL,
							i < nw ? wait_main
							       : poll_main,
							&wt[i]),
					 0);
		}
		/* Every waiter is about to wait; give them a moment to be
		 * inside it (a race made likely, not a timing assertion). */
		pthread_mutex_lock(&g.mu);
		while (g.started < nw)
			pthread_cond_wait(&g.cv, &g.mu);
		pthread_mutex_unlock(&g.mu);
		nanosleep(&settle, NULL);
		ck_assert_int_eq(ckptio_future_poll(f), 0);
		pthread_mutex_lock(&g.mu);
		g.open = 1;
		pthread_cond_broadcast(&g.cv);
		pthread_mutex_unlock(&g.mu);
		for (int i = 0; i <= nw; i++)
			ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
		for (int i = 0; i < nw; i++) {
			ck_assert_msg(wt[i].st == want,
				      "round %d, waiter %d: status %d, want "
				      "%d (%s)", round, i, wt[i].st, want,
				      wt[i].msg);
			ck_assert_int_eq(wt[i].poll_after, 1);
			if (want == CKPTIO_OK)
				ck_assert_str_eq(wt[i].msg, "");
			else
				ck_assert_ptr_nonnull(strstr(wt[i].msg,
							     "gated"));
		}
		ck_assert_int_eq(wt[nw].poll_after, 1);
		/* And once more from this thread, after them all. */
		ck_assert_int_eq(ckptio_future_wait(f), want);
		ckptio_future_free(f);
		ckptio_sd_free(gsd);
		pthread_cond_destroy(&g.cv);
		pthread_mutex_destroy(&g.mu);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *nulls = tcase_create("null arguments");
	TCase *structs = tcase_create("caller structs");
	TCase *coord = tcase_create("coordinators");
	TCase *future = tcase_create("futures");

	tcase_add_checked_fixture(nulls, setup, teardown);
	tcase_add_test(nulls, test_null_arguments);
	tcase_add_test(nulls, test_null_values);
	suite_add_tcase(s, nulls);
	tcase_add_checked_fixture(structs, setup, teardown);
	tcase_add_test(structs, test_opts_struct_size);
	tcase_add_test(structs, test_opts_unset);
	tcase_add_test(structs, test_opts_unknown_flags);
	tcase_add_test(structs, test_item_info_short);
	suite_add_tcase(s, structs);
	tcase_add_checked_fixture(coord, setup, teardown);
	tcase_add_test(coord, test_coord_threads_bounds);
	tcase_add_test(coord, test_coord_invalid);
	tcase_add_test(coord, test_coord_without_barrier);
	tcase_add_test(coord, test_save_args_reach_every_rank);
	suite_add_tcase(s, coord);
	tcase_add_checked_fixture(future, setup, teardown);
	tcase_add_test(future, test_future_concurrent_wait);
	suite_add_tcase(s, future);
	return tu_run_suite(s);
}
