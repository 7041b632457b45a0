/* check_loader.c - plugin discovery and validation, with test plugins that
 * misbehave on purpose (tests/plugins/bad.c) and a good in-memory store. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	unsetenv("CKPTIO_TEST_MARKER");
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

/* A layout plugin's metadata goes through the core's checks whatever it
 * does: items out of name order are still found by name, and chunks that
 * overlap (their sizes adding up) are refused, not loaded. */
START_TEST(test_layout_metadata_is_sealed)
{
	char *dir = tu_mkdtemp();
	char *conf = ckptio__asprintf("%s/c.conf", dir);
	char *text = ckptio__asprintf("[backend \"loose\"]\nstore = posix\n"
				      "root = %s\nlayout = looselayout\n", dir);
	unsigned char alpha[8], zeta[3];
	const uint64_t shape[1] = {8};
	ckptio_ckpt *ck;
	ckptio_sd *sd;

	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	ckptio_ctx_free(ctx);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, conf), CKPTIO_OK);
	ck_assert_msg(ckptio_open(ctx, "loose:ck", &ck) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_uint_eq(ckptio_ckpt_find(ck, "alpha"), 0);
	ck_assert_uint_eq(ckptio_ckpt_find(ck, "zeta"), 1);
	ckptio_ckpt_close(ck);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "alpha", CKPTIO_U8, 1, shape,
					      NULL, NULL, alpha), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes(sd, "zeta", zeta, 3), CKPTIO_OK);
	ck_assert_msg(ckptio_load(ctx, "loose:ck", sd, NULL) == CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	ck_assert_int_eq(alpha[0], 8);
	ck_assert_int_eq(alpha[4], 16);
	ck_assert_int_eq(zeta[2], 2);

	setenv("CKPTIO_LOOSE_OVERLAP", "1", 1);
	ck_assert_int_eq(ckptio_open(ctx, "loose:ck", &ck), CKPTIO_ECORRUPT);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), "alpha"), "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(ckptio_load(ctx, "loose:ck", sd, NULL),
			 CKPTIO_ECORRUPT);
	unsetenv("CKPTIO_LOOSE_OVERLAP");
	ckptio_sd_free(sd);
	free(text);
	free(conf);
	tu_rmrf(dir);
	free(dir);
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

/* ckptio_config_dump loads the plugins a configuration names to learn
 * their secret options; values of a plugin that does not load, and of
 * keys no plugin declares, are hidden as well. */
START_TEST(test_config_dump_plugin_secrets)
{
	char *dir = tu_mkdtemp(), *conf = ckptio__asprintf("%s/c.conf", dir);
	const char *text = "[backend \"mem\"]\nstore = goodstore\n"
			   "opaque = hush1\nlabel = shown1\ncolour = blue\n"
			   "[store \"goodstore\"]\nopaque = hush2\n"
			   "label = shown2\n"
			   "[backend \"gone\"]\nstore = nosuch\nroot = /r\n"
			   "label = hush3\n"
			   "[backend \"unset\"]\nstore = ${CKPTIO_T_UNSET}\n"
			   "label = hush4\n";
	char *dump = NULL;

	unsetenv("CKPTIO_T_UNSET");
	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	ckptio_ctx_free(ctx);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, conf), CKPTIO_OK);
	ck_assert_int_eq(ckptio_config_dump(ctx, &dump), CKPTIO_OK);
	ck_assert_ptr_null(strstr(dump, "hush"));
	ck_assert_ptr_null(strstr(dump, "blue"));
	ck_assert_ptr_nonnull(strstr(dump, "\nopaque = <redacted>\n"
					   "label = shown1\n"
					   "colour = <redacted>\n"));
	ck_assert_ptr_nonnull(strstr(dump, "\nopaque = <redacted>\n"
					   "label = shown2\n"));
	ck_assert_ptr_nonnull(strstr(dump, "[backend \"gone\"]\n"
					   "# plugin 'nosuch' could not be "
					   "loaded: the values of its options "
					   "are redacted\nstore = nosuch\n"
					   "root = /r\nlabel = <redacted>\n"));
	ck_assert_ptr_nonnull(strstr(dump, "[backend \"unset\"]\n"
					   "# plugin '(unset)' could not be "
					   "loaded"));
	free(dump);
	tu_rmrf(dir);
	free(dir);
	free(conf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Trust: what the loader refuses to map (docs/ABI.md section 7).           */

/* Copy src to dst and give it mode. */
static void copy_file(const char *src, const char *dst, mode_t mode)
{
	size_t len;
	char *buf = tu_read_file(src, &len);

	ck_assert_msg(buf != NULL, "read %s: %s", src, strerror(errno));
	ck_assert_int_eq(tu_write_file(dst, buf, len), 0);
	ck_assert_int_eq(chmod(dst, mode), 0);
	free(buf);
}

static char *test_plugin(const char *name)
{
	return ckptio__asprintf("%s/%s.so", getenv("CKPTIO_TEST_PLUGINS"),
				name);
}

/* ckptio__plugin_trust(dir, "goodstore.so") as the current user fails
 * with a message holding want. */
static void expect_refused(const char *dir, uid_t euid, const char *want)
{
	char *real = NULL;

	ck_assert_int_eq(ckptio__plugin_trust(ctx, dir, "goodstore.so", euid,
					      &real), CKPTIO_EPLUGIN);
	ck_assert_ptr_null(real);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), want) != NULL,
		      "message '%s' lacks '%s'", ckptio_errmsg(ctx), want);
}

START_TEST(test_trust_rules)
{
	char *dir = tu_mkdtemp(), *other = tu_mkdtemp(), *good = test_plugin(
		"goodstore");
	char *file = ckptio__asprintf("%s/goodstore.so", dir);
	char *target = ckptio__asprintf("%s/real.so", other);
	char *want = NULL, *real = NULL;
	uid_t me = geteuid(), stranger = me == 0 ? 65534 : me + 1;

	/* Mode 0644 in a 0700 directory of ours: loadable, at its path. */
	copy_file(good, file, 0644);
	ck_assert_int_eq(ckptio__plugin_trust(ctx, dir, "goodstore.so", me,
					      &real), CKPTIO_OK);
	ck_assert_str_eq(real, file);
	free(real);
	ck_assert_int_eq(ckptio__plugin_trust(ctx, dir, "nosuch.so", me,
					      &real), CKPTIO_ENOTFOUND);
	/* Writable by others, or by the group. */
	ck_assert_int_eq(chmod(file, 0646), 0);
	want = ckptio__asprintf("refusing to load %s: the file is writable by "
				"everyone (mode 0646); a plugin and the "
				"directories it is loaded from must be owned "
				"by root or by you (uid %u) and writable by no "
				"one else", file, (unsigned)me);
	expect_refused(dir, me, want);
	free(want);
	ck_assert_int_eq(chmod(file, 0664), 0);
	expect_refused(dir, me, "the file is writable by its group (mode 0664)");
	ck_assert_int_eq(chmod(file, 0644), 0);
	/* Owned by someone else: root gives the file away; anyone else asks
	 * on behalf of another user. */
	if (me == 0)
		ck_assert_int_eq(chown(file, stranger, stranger), 0);
	want = ckptio__asprintf("the file is owned by uid %u",
				(unsigned)(me == 0 ? stranger : me));
	expect_refused(dir, me == 0 ? me : stranger, want);
	free(want);
	if (me == 0)
		ck_assert_int_eq(chown(file, 0, 0), 0);
	/* The directory it is found in: world-writable, sticky or not, and
	 * group-writable. */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	want = ckptio__asprintf("its directory %s is writable by everyone "
				"(mode 0777)", dir);
	expect_refused(dir, me, want);
	free(want);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	expect_refused(dir, me, "is writable by everyone (mode 1777)");
	ck_assert_int_eq(chmod(dir, 0770), 0);
	expect_refused(dir, me, "is writable by its group (mode 0770)");
	ck_assert_int_eq(chmod(dir, 0755), 0);
	/* A symbolic link to a trusted file elsewhere: loaded by its real
	 * path; refused when that file's own directory is open to all. */
	ck_assert_int_eq(unlink(file), 0);
	copy_file(good, target, 0644);
	ck_assert_int_eq(symlink(target, file), 0);
	ck_assert_int_eq(ckptio__plugin_trust(ctx, dir, "goodstore.so", me,
					      &real), CKPTIO_OK);
	ck_assert_str_eq(real, target);
	free(real);
	ck_assert_int_eq(chmod(other, 0777), 0);
	want = ckptio__asprintf("the directory %s it links into is writable "
				"by everyone", other);
	expect_refused(dir, me, want);
	free(want);
	/* Not a regular file: a FIFO is refused, without blocking. */
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(mkfifo(file, 0600), 0);
	expect_refused(dir, me, "it is not a regular file");
	tu_rmrf(dir);
	tu_rmrf(other);
	free(dir);
	free(other);
	free(good);
	free(file);
	free(target);
}
END_TEST

/* A refused file is never mapped (its constructor would run inside
 * dlopen), and the search stops there rather than quietly loading a
 * namesake from a later directory. */
START_TEST(test_refused_file_never_runs)
{
	char *dir = tu_mkdtemp(), *marker = ckptio__asprintf("%s/ran", dir);
	char *sub = ckptio__asprintf("%s/open", dir);
	char *file = ckptio__asprintf("%s/goodstore.so", sub);
	char *src = test_plugin("marker"), *path;
	const ckptio__plugin *p = NULL;

	ck_assert_int_eq(mkdir(sub, 0755), 0);
	copy_file(src, file, 0666);
	setenv("CKPTIO_TEST_MARKER", marker, 1);
	path = ckptio__asprintf("%s:%s", sub, getenv("CKPTIO_TEST_PLUGINS"));
	setenv("CKPTIO_PLUGIN_PATH", path, 1);
	ck_assert_int_eq(ckptio__plugin_get(ctx, "goodstore",
					    CKPTIO_PLUGIN_STORE, &p),
			 CKPTIO_EPLUGIN);
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), "refusing to load"));
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(ctx), file));
	ck_assert_msg(access(marker, F_OK) != 0, "%s was loaded", file);
	/* Relative entries of the variable name nothing: refused. */
	setenv("CKPTIO_PLUGIN_PATH", "plugins:/usr/lib", 1);
	ck_assert_int_eq(ckptio__plugin_get(ctx, "goodstore",
					    CKPTIO_PLUGIN_STORE, &p),
			 CKPTIO_EPLUGIN);
	ck_assert_str_eq(ckptio_errmsg(ctx), "$CKPTIO_PLUGIN_PATH: 'plugins' "
			 "is a relative directory; plugins are only loaded "
			 "from absolute directories (write the full path)");
	tu_rmrf(dir);
	free(dir);
	free(marker);
	free(sub);
	free(file);
	free(src);
	free(path);
}
END_TEST

/* plugin_path = .:plugins in a config file means the config file's
 * directory and its plugins/ subdirectory, never the current directory:
 * a posix.so in the current directory is never mapped. */
START_TEST(test_relative_plugin_path_ignores_cwd)
{
	char *top = tu_mkdtemp(), *cwd0 = getcwd(NULL, 0);
	char *work = ckptio__asprintf("%s/work", top);
	char *wplug = ckptio__asprintf("%s/work/plugins", top);
	char *conf_dir = ckptio__asprintf("%s/conf", top);
	char *cplug = ckptio__asprintf("%s/conf/plugins", top);
	char *conf = ckptio__asprintf("%s/conf/c.conf", top);
	char *marker = ckptio__asprintf("%s/ran", top);
	char *evil = test_plugin("marker"), *posix = tu_plugin_file("posix");
	char *dst, *want;
	const char *text = "[ckptio]\nplugin_path = .:plugins\n";
	const ckptio__plugin *p = NULL;

	ck_assert_int_eq(mkdir(work, 0755), 0);
	ck_assert_int_eq(mkdir(wplug, 0755), 0);
	ck_assert_int_eq(mkdir(conf_dir, 0755), 0);
	ck_assert_int_eq(mkdir(cplug, 0755), 0);
	dst = ckptio__asprintf("%s/posix.so", work);
	copy_file(evil, dst, 0644);
	free(dst);
	dst = ckptio__asprintf("%s/posix.so", wplug);
	copy_file(evil, dst, 0644);
	free(dst);
	dst = ckptio__asprintf("%s/posix.so", cplug);
	copy_file(posix, dst, 0644);
	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	setenv("CKPTIO_TEST_MARKER", marker, 1);
	unsetenv("CKPTIO_PLUGIN_PATH");
	ck_assert_int_eq(chdir(work), 0);
	ckptio_ctx_free(ctx);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, conf), CKPTIO_OK);
	ck_assert_msg(ckptio__plugin_get(ctx, "posix", CKPTIO_PLUGIN_STORE,
					 &p) == CKPTIO_OK, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_str_eq(p->path, dst);
	ck_assert_msg(access(marker, F_OK) != 0, "a posix.so under the "
		      "current directory %s was loaded", work);
	/* Where it looked, in a failed lookup: the config's directories. */
	ck_assert_int_eq(ckptio__plugin_get(ctx, "nosuch", CKPTIO_PLUGIN_STORE,
					    &p), CKPTIO_EPLUGIN);
	want = ckptio__asprintf("(searched nosuch.so in: %s, %s, ", conf_dir,
				cplug);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), want) != NULL, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_int_eq(chdir(cwd0), 0);
	tu_rmrf(top);
	free(want);
	free(dst);
	free(top);
	free(cwd0);
	free(work);
	free(wplug);
	free(conf_dir);
	free(cplug);
	free(conf);
	free(marker);
	free(evil);
	free(posix);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* URI schemes: from the plugins' `schemes` (docs/configuration.md).        */

/* Warnings and debug lines of a context. */
typedef struct logbuf {
	char text[32768];
	int warnings;
} logbuf;

static void capture(void *user, ckptio_log_level level, const char *msg)
{
	logbuf *b = user;
	size_t used = strlen(b->text);

	b->warnings += level == CKPTIO_LOG_WARN;
	snprintf(b->text + used, sizeof(b->text) - used, "%s\n", msg);
}

static int count_of(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/* A fresh ctx over the configuration text (written under *dir). */
static ckptio_ctx *ctx_with(const char *text, char **dir)
{
	char *conf;
	ckptio_ctx *c;

	*dir = tu_mkdtemp();
	conf = ckptio__asprintf("%s/c.conf", *dir);
	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	ck_assert_msg(ckptio_ctx_new(&c, conf) == CKPTIO_OK, "%s",
		      ckptio_last_error());
	free(conf);
	return c;
}

/* One U32 tensor "t" of 100 elements over data. */
static ckptio_sd *u32_sd(uint32_t *data)
{
	const uint64_t shape[1] = {100};
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "t", CKPTIO_U32, 1, shape,
					      NULL, NULL, data), CKPTIO_OK);
	return sd;
}

static ckptio_status save_u32(ckptio_ctx *c, const char *loc, uint32_t *data,
			      unsigned flags)
{
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_sd *sd = u32_sd(data);
	ckptio_status st;

	o.flags = flags;
	st = ckptio_save(c, loc, sd, &o);
	ckptio_sd_free(sd);
	return st;
}

static ckptio_status load_u32(ckptio_ctx *c, const char *loc, uint32_t *data)
{
	ckptio_sd *sd = u32_sd(data);
	ckptio_status st = ckptio_load(c, loc, sd, NULL);

	ckptio_sd_free(sd);
	return st;
}

static int find_id(void *user, const char *id)
{
	if (strcmp(id, "scheme_rt") == 0)
		*(int *)user = 1;
	return 0;
}

/* mem:// is served by the test plugins that declare it (no plugin is
 * named "mem"): a whole save, load, verify, list and rm go through it,
 * with no scheme known to the core. */
START_TEST(test_scheme_served_by_plugin)
{
	uint32_t data[100], back[100];
	ckptio__loc loc;
	ckptio_ctx *c;
	char *dir;
	int found = 0;

	ckptio_set_log(ctx, CKPTIO_LOG_ERROR, quiet, NULL);
	ck_assert_msg(ckptio__loc_resolve(ctx, "mem://b/scheme_rt", NULL,
					  &loc) == CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	ck_assert_str_eq(loc.store_plugin->desc->name, "goodstore");
	ck_assert_str_eq(loc.root, "mem://b");
	ck_assert_str_eq(loc.id, "scheme_rt");
	ckptio__loc_free(&loc);
	tu_fill(data, sizeof(data), 7);
	ck_assert_msg(save_u32(ctx, "mem://b/scheme_rt", data, 0) == CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	ck_assert_msg(load_u32(ctx, "mem://b/scheme_rt", back) == CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	ck_assert(memcmp(data, back, sizeof(data)) == 0);
	ck_assert_int_eq(ckptio_verify(ctx, "mem://b/scheme_rt", NULL),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio_list(ctx, "mem://b", find_id, &found),
			 CKPTIO_OK);
	ck_assert(found);
	ck_assert_int_eq(ckptio_remove(ctx, "mem://b/scheme_rt", 0), CKPTIO_OK);
	ck_assert_int_eq(load_u32(ctx, "mem://b/scheme_rt", back),
			 CKPTIO_ENOTFOUND);
	/* [store "goodstore"] is the section of mem:// locations. */
	c = ctx_with("[store \"goodstore\"]\ncolour = blue\n", &dir);
	ckptio_set_log(c, CKPTIO_LOG_ERROR, quiet, NULL);
	ck_assert_int_eq(load_u32(c, "mem://b/scheme_rt", back),
			 CKPTIO_ECONFIG);
	ck_assert_msg(strstr(ckptio_errmsg(c), "colour: unknown option for "
			     "store 'goodstore'"), "%s", ckptio_errmsg(c));
	ckptio_ctx_free(c);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A plugin named like the scheme that declares it is taken without
 * loading any other plugin; one that does not declare it is passed over. */
START_TEST(test_scheme_named_plugin)
{
	ckptio__loc loc;

	ck_assert_msg(ckptio__loc_resolve(ctx, "s3://bucket/run/a", NULL,
					  &loc) == CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	ck_assert_str_eq(loc.store_plugin->desc->name, "s3");
	ck_assert_str_eq(loc.root, "s3://bucket/run");
	ckptio__loc_free(&loc);
	for (size_t i = 0; i < ctx->nplugins; i++)
		ck_assert_msg(strcmp(ctx->plugins[i]->desc->name, "s3") == 0 ||
				      strcmp(ctx->plugins[i]->desc->name,
					     "native") == 0,
			      "%s was loaded to resolve s3://",
			      ctx->plugins[i]->path);
	/* file:// is the posix store's, a local path. */
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "file:///tmp/x", NULL, &loc),
			 CKPTIO_OK);
	ck_assert_str_eq(loc.store_plugin->desc->name, "posix");
	ck_assert_str_eq(loc.id, "x");
	ckptio__loc_free(&loc);
	/* posix.so exists but serves file://, not posix://. */
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "posix://x/y", NULL, &loc),
			 CKPTIO_EUNSUPPORTED);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), "posix://x/y: unknown URI "
			     "scheme 'posix': no plugin on the search path "
			     "serves it (posix.so does not declare it; "
			     "searched: ") != NULL,
		      "%s", ckptio_errmsg(ctx));
}
END_TEST

/* A scheme nobody serves: the message says where the search looked, which
 * schemes are served and which files could not be loaded; those files are
 * warnings.  The answer for a served scheme stays the same afterwards. */
START_TEST(test_unknown_scheme)
{
	const char *tp = getenv("CKPTIO_TEST_PLUGINS");
	char *want, *bad;
	ckptio__loc loc;
	logbuf lb = {"", 0};

	ckptio_set_log(ctx, CKPTIO_LOG_WARN, capture, &lb);
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "gs://bucket/ck", NULL, &loc),
			 CKPTIO_EUNSUPPORTED);
	want = ckptio__asprintf("gs://bucket/ck: unknown URI scheme 'gs': no "
				"plugin on the search path serves it (searched: "
				"%s, %s, " CKPTIO_PLUGIN_DIR "; schemes served: "
				"file, http, https, mem, s3; not loaded: ",
				tp, tu_plugin_path_listed());
	ck_assert_msg(strstr(ckptio_errmsg(ctx), want) != NULL,
		      "message '%s' lacks '%s'", ckptio_errmsg(ctx), want);
	bad = ckptio__asprintf("%s/badabi.so", tp);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), bad) != NULL, "%s",
		      ckptio_errmsg(ctx));
	ck_assert_msg(strstr(lb.text, "badabi.so: ") != NULL &&
			      strstr(lb.text, "built for plugin ABI 2.0") != NULL,
		      "%s", lb.text);
	ck_assert_int_ge(lb.warnings, 4); /* badabi, nomethods, short, wrong */
	ck_assert_ptr_null(strstr(lb.text, "noentry")); /* not a plugin */
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "mem://b/x", NULL, &loc),
			 CKPTIO_OK);
	ck_assert_str_eq(loc.store_plugin->desc->name, "goodstore");
	ckptio__loc_free(&loc);
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "x-y.z://b/x", NULL, &loc),
			 CKPTIO_EUNSUPPORTED);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), "unknown URI scheme 'x-y.z'"),
		      "%s", ckptio_errmsg(ctx));
	{
		char longer[200];

		memset(longer, 'a', 100);
		strcpy(longer + 100, "://b/x");
		ck_assert_int_eq(ckptio__loc_resolve(ctx, longer, NULL, &loc),
				 CKPTIO_EINVAL);
		ck_assert_msg(strstr(ckptio_errmsg(ctx), "URI scheme too long "
				     "(100 characters; at most 71)"),
			      "%s", ckptio_errmsg(ctx));
	}
	/* A file named like the scheme that cannot be loaded is the
	 * error: the user named it. */
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "badabi://b/x", NULL, &loc),
			 CKPTIO_EPLUGIN);
	ck_assert_msg(strstr(ckptio_errmsg(ctx), "badabi.so: built for plugin "
			     "ABI 2.0"), "%s", ckptio_errmsg(ctx));
	free(want);
	free(bad);
}
END_TEST

/* Two plugins declare mem: the first in search order serves it (in one
 * directory, by file name), and the debug log says which one is passed
 * over.  A directory earlier on the search path comes first. */
START_TEST(test_scheme_first_in_search_order)
{
	char *dir = tu_mkdtemp(), *twin = test_plugin("memtwin"), *dst, *path;
	ckptio__loc loc;
	logbuf lb = {"", 0};

	ckptio_set_log(ctx, CKPTIO_LOG_DEBUG, capture, &lb);
	ck_assert_int_eq(ckptio__loc_resolve(ctx, "mem://b/x", NULL, &loc),
			 CKPTIO_OK);
	ck_assert_str_eq(loc.store_plugin->desc->name, "goodstore");
	ckptio__loc_free(&loc);
	ck_assert_msg(strstr(lb.text, "URI scheme 'mem': served by 'goodstore'") &&
			      strstr(lb.text, "'memtwin' (") &&
			      strstr(lb.text, "declares it too and is not used"),
		      "%s", lb.text);

	dst = ckptio__asprintf("%s/memtwin.so", dir);
	copy_file(twin, dst, 0755);
	path = ckptio__asprintf("%s:%s", dir, search);
	setenv("CKPTIO_PLUGIN_PATH", path, 1);
	ckptio_ctx_free(ctx);
	ck_assert_int_eq(ckptio_ctx_new(&ctx, NULL), CKPTIO_OK);
	ck_assert_msg(ckptio__loc_resolve(ctx, "mem://b/x", NULL, &loc) ==
			      CKPTIO_OK,
		      "%s", ckptio_errmsg(ctx));
	ck_assert_str_eq(loc.store_plugin->desc->name, "memtwin");
	ck_assert_str_eq(loc.store_plugin->path, dst);
	ckptio__loc_free(&loc);
	tu_rmrf(dir);
	free(path);
	free(dst);
	free(twin);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Capabilities of one opened store (instance_caps), checked before use.   */

#define NO_IF_ABSENT "cannot put an object only if it is absent"
/* Backend m (options follow) and backend full, both the test store. */
#define CAPS_CONF \
	"[backend \"full\"]\nstore = goodstore\nroot = mem://b\n" \
	"[backend \"m\"]\nstore = goodstore\nroot = mem://b\n"

/* Without if-absent (drop_caps), a save that does not overwrite still
 * refuses an existing checkpoint, and warns once per save of the race
 * that remains. */
START_TEST(test_caps_no_if_absent_refuses)
{
	char *dir;
	ckptio_ctx *c = ctx_with(CAPS_CONF "drop_caps = if_absent\n", &dir);
	uint32_t data[100], back[100];
	logbuf lb = {"", 0};

	ckptio_set_log(c, CKPTIO_LOG_WARN, capture, &lb);
	tu_fill(data, sizeof(data), 1);
	ck_assert_msg(save_u32(c, "m:noif", data, 0) == CKPTIO_OK, "%s",
		      ckptio_errmsg(c));
	ck_assert_int_eq(count_of(lb.text, NO_IF_ABSENT), 1);
	ck_assert_msg(strstr(lb.text, "m:noif: store 'goodstore' "
			     NO_IF_ABSENT) != NULL, "%s", lb.text);
	ck_assert_ptr_nonnull(strstr(lb.text, "become debris for `ckptio rm "
					      "--gc`"));
	tu_fill(data, sizeof(data), 2);
	ck_assert_int_eq(save_u32(c, "m:noif", data, 0), CKPTIO_EEXIST);
	ck_assert_msg(strstr(ckptio_errmsg(c), "already exists"), "%s",
		      ckptio_errmsg(c));
	ck_assert_int_eq(count_of(lb.text, NO_IF_ABSENT), 2);
	ck_assert_int_eq(load_u32(c, "m:noif", back), CKPTIO_OK);
	tu_fill(data, sizeof(data), 1);
	ck_assert(memcmp(data, back, sizeof(data)) == 0);
	/* Overwriting relies on no if-absent: no warning. */
	tu_fill(data, sizeof(data), 3);
	ck_assert_int_eq(save_u32(c, "m:noif", data,
				  CKPTIO_SAVE_OVERWRITE), CKPTIO_OK);
	ck_assert_int_eq(count_of(lb.text, NO_IF_ABSENT), 2);
	ck_assert_int_eq(ckptio_remove(c, "m:noif", 0), CKPTIO_OK);
	/* With the capability, no warning. */
	ck_assert_int_eq(save_u32(c, "full:noif", data, 0), CKPTIO_OK);
	ck_assert_int_eq(ckptio_remove(c, "full:noif", 0), CKPTIO_OK);
	ckptio_ctx_free(c);
	ck_assert_int_eq(count_of(lb.text, NO_IF_ABSENT), 2);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A pull source that, the first time it is read, lets another save of the
 * same id commit first: the race of two first saves, made certain. */
typedef struct racer {
	const char *config;
	const char *location;
	int done;
	ckptio_status inner;
	uint32_t data[100];
} racer;

static ckptio_status racing_read(void *user, uint64_t offset, void *buf,
				 size_t len)
{
	racer *r = user;
	char *dir;

	if (!r->done) {
		ckptio_ctx *c = ctx_with(r->config, &dir);

		ckptio_set_log(c, CKPTIO_LOG_ERROR, quiet, NULL);
		r->done = 1;
		r->inner = save_u32(c, r->location, r->data, 0);
		ckptio_ctx_free(c);
		tu_rmrf(dir);
		free(dir);
	}
	memset(buf, (int)(offset & 0x7f), len);
	return CKPTIO_OK;
}

static void race(const char *config, const char *location)
{
	char *dir;
	ckptio_ctx *c = ctx_with(config, &dir);
	racer r = {config, location, 0, CKPTIO_EIO, {0}};
	ckptio_rm_report rep = {.struct_size = sizeof(rep)};
	ckptio_rm_opts ro = CKPTIO_RM_OPTS_INIT;
	uint32_t back[100];
	ckptio_sd *sd;
	ckptio_status st;

	ckptio_set_log(c, CKPTIO_LOG_ERROR, quiet, NULL);
	tu_fill(r.data, sizeof(r.data), 9);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes_fn(sd, "blob", 4096, racing_read,
						&r), CKPTIO_OK);
	st = ckptio_save(c, location, sd, NULL);
	ckptio_sd_free(sd);
	ck_assert(r.done);
	ck_assert_int_eq(r.inner, CKPTIO_OK);
	ck_assert_msg(st == CKPTIO_EEXIST, "%s: %s", ckptio_strerror(st),
		      ckptio_errmsg(c));
	ck_assert_msg(strstr(ckptio_errmsg(c), "already exists"), "%s",
		      ckptio_errmsg(c));
	/* The first commit stays, and the loser left nothing behind. */
	ck_assert_msg(load_u32(c, location, back) == CKPTIO_OK, "%s",
		      ckptio_errmsg(c));
	ck_assert(memcmp(r.data, back, sizeof(back)) == 0);
	ro.flags = CKPTIO_RM_GC_ONLY | CKPTIO_RM_DRY_RUN;
	ro.report = &rep;
	ck_assert_int_eq(ckptio_remove_ex(c, location, &ro), CKPTIO_OK);
	ck_assert_uint_eq(rep.debris + rep.kept_young, 0);
	ck_assert_int_eq(ckptio_remove(c, location, 0), CKPTIO_OK);
	ckptio_ctx_free(c);
	tu_rmrf(dir);
	free(dir);
}

/* A first save whose id another save committed while it wrote its data:
 * refused at its commit, with or without if-absent (without it, the core
 * looks just before the commit). */
START_TEST(test_caps_first_save_race)
{
	race(CAPS_CONF, "full:race1");
	race(CAPS_CONF "drop_caps = if_absent\n", "m:race2");
}
END_TEST

/* Each operation checks the capabilities of the store as opened (the test
 * store aborts the process when a method it lacks is called). */
START_TEST(test_caps_checked_before_use)
{
	static const char *const drops[] = {"write", "read", "list", "delete"};
	uint32_t data[100], back[100];
	char conf[256], *dir;
	ckptio_ctx *c = ctx_with(CAPS_CONF, &dir), *full = c;
	char *fdir = dir;

	tu_fill(data, sizeof(data), 4);
	ck_assert_int_eq(save_u32(full, "m:capck", data, 0), CKPTIO_OK);
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		snprintf(conf, sizeof(conf), CAPS_CONF "drop_caps = %s\n",
			 drops[i]);
		c = ctx_with(conf, &dir);
		ckptio_set_log(c, CKPTIO_LOG_ERROR, quiet, NULL);
		if (strcmp(drops[i], "write") == 0) {
			ck_assert_int_eq(save_u32(c, "m:capck2", data, 0),
					 CKPTIO_EUNSUPPORTED);
			ck_assert_msg(strstr(ckptio_errmsg(c),
					     "store 'goodstore' at 'mem://b' "
					     "cannot write (what it can do as "
					     "configured: read, range, list, "
					     "delete, atomic-put, if-absent)"),
				      "%s", ckptio_errmsg(c));
			ck_assert_int_eq(load_u32(c, "m:capck", back),
					 CKPTIO_OK);
		} else if (strcmp(drops[i], "read") == 0) {
			ck_assert_int_eq(load_u32(c, "m:capck", back),
					 CKPTIO_EUNSUPPORTED);
			ck_assert_msg(strstr(ckptio_errmsg(c), "cannot read ("),
				      "%s", ckptio_errmsg(c));
			ck_assert_int_eq(ckptio_verify(c, "m:capck", NULL),
					 CKPTIO_EUNSUPPORTED);
		} else if (strcmp(drops[i], "list") == 0) {
			ck_assert_int_eq(ckptio_list(c, "m:", find_id, NULL),
					 CKPTIO_EUNSUPPORTED);
			ck_assert_msg(strstr(ckptio_errmsg(c),
					     "cannot list objects ("),
				      "%s", ckptio_errmsg(c));
			ck_assert_int_eq(ckptio_remove(c, "m:capck", 0),
					 CKPTIO_EUNSUPPORTED);
		} else {
			ck_assert_int_eq(ckptio_remove(c, "m:capck", 0),
					 CKPTIO_EUNSUPPORTED);
			ck_assert_msg(strstr(ckptio_errmsg(c),
					     "cannot delete objects ("),
				      "%s", ckptio_errmsg(c));
			/* Replacing it cannot remove the old objects: they
			 * stay, and the save succeeds. */
			ck_assert_int_eq(save_u32(c, "m:capck", data,
						  CKPTIO_SAVE_OVERWRITE),
					 CKPTIO_OK);
		}
		ckptio_ctx_free(c);
		tu_rmrf(dir);
		free(dir);
	}
	ck_assert_int_eq(load_u32(full, "m:capck", back), CKPTIO_OK);
	ck_assert_int_eq(ckptio_remove(full, "m:capck", 0), CKPTIO_OK);
	ckptio_ctx_free(full);
	tu_rmrf(fdir);
	free(fdir);
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
	tcase_add_test(tc, test_config_dump_plugin_secrets);
	tcase_add_test(tc, test_trust_rules);
	tcase_add_test(tc, test_refused_file_never_runs);
	tcase_add_test(tc, test_relative_plugin_path_ignores_cwd);
	tcase_add_test(tc, test_layout_metadata_is_sealed);
	tcase_add_test(tc, test_scheme_served_by_plugin);
	tcase_add_test(tc, test_scheme_named_plugin);
	tcase_add_test(tc, test_unknown_scheme);
	tcase_add_test(tc, test_scheme_first_in_search_order);
	tcase_add_test(tc, test_caps_no_if_absent_refuses);
	tcase_add_test(tc, test_caps_first_save_race);
	tcase_add_test(tc, test_caps_checked_before_use);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
