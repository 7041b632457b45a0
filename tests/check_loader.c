/* check_loader.c - plugin discovery and validation, with test plugins that
 * misbehave on purpose (tests/plugins/bad.c) and a good in-memory store. */
#include <check.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

static ckptio_ctx *ctx;
static char *search;

static void setup(void)
{
	const char *tp = getenv("CKPTIO_TEST_PLUGINS");

	ck_assert_ptr_nonnull(tp);
	search = ckptio__asprintf("%s:%s", tp, tu_plugin_path());
	setenv("CKPTIO_PLUGIN_PATH", search, 1);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
}

static void teardown(void)
{
	ckptio_ctx_free(ctx);
	free(search);
}

static void expect_fail(const char *name, const char *want)
{
	const ckptio__plugin *p = NULL;

	ck_assert_int_eq(ckptio__plugin_get(ctx, name, CKPTIO_PLUGIN_STORE, &p),
			 CKPTIO_EPLUGIN);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), want) != NULL,
		      "message '%s' lacks '%s'", ckptio_errmsg(ctx), want);
}

START_TEST(test_bad_plugins)
{
	char want[256];

	snprintf(want, sizeof(want), "badabi.so: built for plugin ABI 2.0, "
		 "this ckptio has ABI %d.%d", CKPTIO_ABI_MAJOR, CKPTIO_ABI_MINOR);
	expect_fail("badabi", want);
	snprintf(want, sizeof(want), "shortstruct.so: descriptor is %zu bytes, "
		 "ABI 1.0 needs at least %zu",
		 offsetof(ckptio_plugin, description),
		 offsetof(ckptio_plugin, layout) + sizeof(void *));
	expect_fail("shortstruct", want);
	expect_fail("nomethods", "nomethods.so: required store method 'open' "
				 "is missing");
	expect_fail("wrongname", "wrongname.so: file is wrongname.so but the "
				 "plugin says 'someothername'");
	expect_fail("noentry", "noentry.so is not a ckptio plugin (no "
			       "ckptio_plugin_entry)");
	expect_fail("Bad/Name", "invalid plugin name 'Bad/Name'");
}
END_TEST

START_TEST(test_not_found_lists_every_place)
{
	char want[1024];

	snprintf(want, sizeof(want),
		 "store plugin 'nosuch' not found (searched nosuch.so in: %s, "
		 "%s, " CKPTIO_PLUGIN_DIR ")",
		 getenv("CKPTIO_TEST_PLUGINS"), tu_plugin_path_listed());
	expect_fail("nosuch", want);
}
END_TEST

START_TEST(test_kind_mismatch_and_cache)
{
	const ckptio__plugin *a, *b;

	ck_assert_int_eq(ckptio__plugin_get(ctx, "posix", CKPTIO_PLUGIN_LAYOUT,
					    &a), CKPTIO_EPLUGIN);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx),
				     "is a store plugin, not a layout plugin"));
	ck_assert_int_eq(ckptio__plugin_get(ctx, "posix", CKPTIO_PLUGIN_STORE, &a),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio__plugin_get(ctx, "posix", CKPTIO_PLUGIN_STORE, &b),
			 CKPTIO_OK);
	ck_assert_ptr_eq(a, b);
	ck_assert_str_eq(a->desc->name, "posix");
	ck_assert_int_eq(ckptio__plugin_get(ctx, "native", CKPTIO_PLUGIN_LAYOUT,
					    &a), CKPTIO_OK);
	ck_assert_str_eq(a->path, "(built-in)");
}
END_TEST

typedef struct seen {
	char names[512];
} seen;

static int on_plugin(void *user, const ckptio_plugin_info *info)
{
	seen *s = user;

	strcat(s->names, info->name);
	strcat(s->names, ",");
	ck_assert_uint_eq(info->abi_version >> 16, CKPTIO_ABI_MAJOR);
	return 0;
}

static void quiet(void *user, ckptio_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	(void)msg;
}

START_TEST(test_enumerate)
{
	seen s = {""};

	ckptio_set_log(ctx, CKPTIO_LOG_ERROR, quiet, NULL);
	ck_assert_int_eq(ckptio_plugins(ctx, on_plugin, &s), CKPTIO_OK);
	ck_assert_ptr_nonnull(strstr(s.names, "native,"));
	ck_assert_ptr_nonnull(strstr(s.names, "posix,"));
	ck_assert_ptr_nonnull(strstr(s.names, "goodstore,"));
	ck_assert_ptr_null(strstr(s.names, "badabi"));
	ck_assert_ptr_null(strstr(s.names, "wrongname"));
}
END_TEST

START_TEST(test_any_layout_over_a_third_party_store)
{
	char *dir = tu_mkdtemp();
	char *conf = ckptio__asprintf("%s/c.conf", dir);
	const char *text = "[backend \"mem\"]\nstore = goodstore\n";
	uint32_t data[1000], back[1000];
	const uint64_t shape[1] = {1000};
	ckptio_sd *sd;

	tu_fill(data, sizeof(data), 3);
	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	ckptio_ctx_free(ctx);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, conf), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "t", CKPTIO_U32, 1, shape,
					      NULL, NULL, data), CKPTIO_OK);
	ck_assert_msg(ckptio_save(ctx, "mem:run", sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ckptio_sd_free(sd);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "t", CKPTIO_U32, 1, shape,
					      NULL, NULL, back), CKPTIO_OK);
	ck_assert_msg(ckptio_load(ctx, "mem:run", sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert(memcmp(data, back, sizeof(data)) == 0);
	ck_assert_int_eq(ckptio_verify(ctx, "mem:run", NULL), CKPTIO_OK);
	ck_assert_int_eq(ckptio_remove(ctx, "mem:run", 0), CKPTIO_OK);
	ck_assert_int_eq(ckptio_load(ctx, "mem:run", sd, NULL), CKPTIO_ENOTFOUND);
	ckptio_sd_free(sd);
	tu_rmrf(dir);
	free(dir);
	free(conf);
}
END_TEST

/* Descriptors crafted in memory, for checks the .so files do not cover. */
static ckptio_status nop_open(const ckptio_host *h, ckptio_host_ctx *hc,
			      const char *root, int create, ckptio_store **out)
{
	(void)h, (void)hc, (void)root, (void)create, (void)out;
	return CKPTIO_EIO;
}

/* An accepted plugin stays mapped after its context is freed (its
 * libraries' exit handlers and key destructors must find their code); a
 * rejected one is unloaded at once. */
START_TEST(test_accepted_plugins_stay_mapped)
{
	const ckptio__plugin *p = NULL;
	char *good = tu_plugin_file("posix");
	char *bad = ckptio__asprintf("%s/badabi.so",
				     getenv("CKPTIO_TEST_PLUGINS"));
	void *dl;

	ck_assert_int_eq(ckptio__plugin_get(ctx, "posix", CKPTIO_PLUGIN_STORE,
					    &p), CKPTIO_OK);
	ck_assert_int_eq(ckptio__plugin_get(ctx, "badabi", CKPTIO_PLUGIN_STORE,
					    &p), CKPTIO_EPLUGIN);
	ckptio_ctx_free(ctx);
	ctx = NULL;
	dl = dlopen(good, RTLD_NOW | RTLD_NOLOAD);
	ck_assert_msg(dl != NULL, "%s was unloaded", good);
	dlclose(dl);
	ck_assert_msg(dlopen(bad, RTLD_NOW | RTLD_NOLOAD) == NULL,
		      "%s stayed loaded", bad);
	free(good);
	free(bad);
}
END_TEST

START_TEST(test_validate_unit)
{
	struct ckptio_store_ops ops = {.struct_size = sizeof(ops),
				       .caps = CKPTIO_STORE_CAP_WRITE,
				       .open = nop_open};
	struct ckptio_layout_ops lops = {.struct_size = sizeof(lops)};
	ckptio_plugin p = {.abi_version = CKPTIO_ABI_VERSION,
			   .struct_size = sizeof(p),
			   .kind = CKPTIO_PLUGIN_STORE,
			   .name = "x",
			   .store = &ops};
	char err[256];

	ck_assert_int_eq(ckptio__plugin_validate(NULL, "x", err, sizeof(err)),
			 CKPTIO_EPLUGIN);
	ck_assert_str_eq(err, "ckptio_plugin_entry() returned NULL");
	ck_assert_int_eq(ckptio__plugin_validate(&p, "x", err, sizeof(err)),
			 CKPTIO_EPLUGIN);
	ck_assert_str_eq(err, "required store method 'close' is missing");
	ops.struct_size = 8;
	ck_assert_int_eq(ckptio__plugin_validate(&p, "x", err, sizeof(err)),
			 CKPTIO_EPLUGIN);
	ck_assert_ptr_nonnull(strstr(err, "store ops table is 8 bytes"));
	/* A newer minor version with a bigger descriptor is accepted. */
	ops.struct_size = sizeof(ops);
	p.abi_version = CKPTIO_ABI_VERSION + 1;
	p.kind = CKPTIO_PLUGIN_LAYOUT;
	p.layout = &lops;
	ck_assert_int_eq(ckptio__plugin_validate(&p, "x", err, sizeof(err)),
			 CKPTIO_EPLUGIN);
	ck_assert_str_eq(err, "layout declares no commit_keys");
	p.kind = (ckptio_plugin_kind)7;
	ck_assert_int_eq(ckptio__plugin_validate(&p, "x", err, sizeof(err)),
			 CKPTIO_EPLUGIN);
	ck_assert_str_eq(err, "unknown plugin kind 7");
	ck_assert_int_eq(ckptio__plugin_validate(&ckptio__native_layout_plugin,
						 "native", err, sizeof(err)),
			 CKPTIO_OK);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_plugins);
	tcase_add_test(tc, test_not_found_lists_every_place);
	tcase_add_test(tc, test_kind_mismatch_and_cache);
	tcase_add_test(tc, test_enumerate);
	tcase_add_test(tc, test_any_layout_over_a_third_party_store);
	tcase_add_test(tc, test_validate_unit);
	tcase_add_test(tc, test_accepted_plugins_stay_mapped);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
