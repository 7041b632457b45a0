/* check_config.c - the INI configuration: syntax, values, ${ENV}, search
 * order, redaction, and the exact error messages (file:line: key). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

static char *dir;
static char err[CKPTIO__ERRMSG];

static void setup(void)
{
	dir = tu_mkdtemp();
	err[0] = '\0';
}

static void teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

static char *write_conf(const char *text)
{
	char *path = ckptio__asprintf("%s/c.conf", dir);

	ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
	return path;
}

static ckptio__config *load_ok(const char *text)
{
	char *path = write_conf(text);
	ckptio__config *cfg;

	ck_assert_msg(ckptio__config_load(path, &cfg, err, sizeof(err)) ==
		      CKPTIO_OK, "%s", err);
	free(path);
	return cfg;
}

/* The load fails with "<path>:<rest>". */
static void load_bad(const char *text, const char *rest)
{
	char *path = write_conf(text), *want = ckptio__asprintf("%s:%s", path, rest);
	ckptio__config *cfg = NULL;

	ck_assert_int_eq(ckptio__config_load(path, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, want);
	free(path);
	free(want);
}

START_TEST(test_sections_and_lookup)
{
	ckptio__config *cfg = load_ok(
		"# comment\n[ckptio]\ndefault = local\nthreads = 8\n\n"
		"[backend \"local\"]\nstore = posix\nroot = /data   # where\n"
		"layout = native ; inline\n[store \"posix\"]\nio_size = 1MiB\n");
	const ckptio__section *b = ckptio__config_backend(cfg, "local");

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->line, 6);
	ck_assert_str_eq(ckptio__section_get(b, "root")->value, "/data");
	ck_assert_int_eq(ckptio__section_get(b, "root")->line, 8);
	ck_assert_str_eq(ckptio__section_get(b, "layout")->value, "native");
	ck_assert_str_eq(ckptio__section_get(ckptio__config_main(cfg),
					     "default")->value, "local");
	ck_assert_ptr_nonnull(ckptio__config_store(cfg, "posix"));
	ck_assert_ptr_null(ckptio__config_backend(cfg, "other"));
	ck_assert_ptr_null(ckptio__section_get(b, "nope"));
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_errors)
{
	load_bad("[ckptio]\ncolour = red\n",
		 "2: colour: unknown key in [ckptio] (known: default, "
		 "plugin_path, log_level, threads)");
	load_bad("[backend \"a\"]\nstore = posix\nstore = s3\n",
		 "3: store: set twice in this section");
	load_bad("[backend \"a\"]\nstore = posix\n[backend \"a\"]\nstore = x\n",
		 "3: section [backend \"a\"] appears twice");
	load_bad("[backend a]\nstore = posix\n",
		 "1: unknown section [backend a] (expected [ckptio], "
		 "[backend \"NAME\"] or [store \"PLUGIN\"])");
	load_bad("[backend \"a b\"]\nstore = posix\n",
		 "1: unknown section [backend \"a b\"] (expected [ckptio], "
		 "[backend \"NAME\"] or [store \"PLUGIN\"])");
	load_bad("[backend \"a\"]\nroot = /x\n", "1: backend \"a\" has no "
						  "'store' key");
	load_bad("[ckptio]\nthreads = abc\n",
		 "2: threads: 'abc' is not a whole number between 1 and 256");
	load_bad("[ckptio]\nthreads = 0\n",
		 "2: threads: '0' is not a whole number between 1 and 256");
	load_bad("[ckptio]\nlog_level = loud\n",
		 "2: log_level: 'loud' is not one of error, warn, info, debug");
	load_bad("[backend \"a\"]\nstore = ../evil\n",
		 "2: store: '../evil' is not a plugin name (lowercase letters, "
		 "digits, '_')");
	load_bad("[ckptio]\ndefault = ${\n",
		 "2: default: malformed variable reference in '${' (use "
		 "${NAME} or ${NAME:-default})");
	load_bad("[ckptio]\ndefault = ${A B}\n",
		 "2: default: malformed variable reference in '${A B}' (use "
		 "${NAME} or ${NAME:-default})");
	load_bad("[ckptio]\nthis is not ini\n",
		 "2: syntax error (expected [section] or key = value)");
	load_bad("default = x\n", "1: default: key outside of any section");
	load_bad("[ckptio]\ndefault = nosuch\n",
		 "2: default: no backend \"nosuch\" is defined in this file");
}
END_TEST

START_TEST(test_long_line)
{
	size_t n = 5000;
	char *text = malloc(n + 64);

	strcpy(text, "[ckptio]\ndefault = ");
	memset(text + strlen(text), 'x', n);
	strcpy(text + 19 + n, "\n");
	load_bad(text, "2: line longer than 4096 bytes");
	free(text);
}
END_TEST

START_TEST(test_env_expansion)
{
	ckptio__config *cfg;
	const ckptio__section *b;

	setenv("CKPTIO_T_ROOT", "/mnt/x", 1);
	unsetenv("CKPTIO_T_UNSET");
	cfg = load_ok("[backend \"b\"]\nstore = posix\nroot = ${CKPTIO_T_ROOT}/ck\n"
		      "io_size = ${CKPTIO_T_UNSET:-4MiB}\n"
		      "threads = ${CKPTIO_T_UNSET:-3}\n"
		      "secret_token = ${CKPTIO_T_UNSET}\nprice = $$5\n");
	b = ckptio__config_backend(cfg, "b");
	ck_assert_str_eq(ckptio__section_get(b, "root")->value, "/mnt/x/ck");
	ck_assert_str_eq(ckptio__section_get(b, "io_size")->value, "4MiB");
	ck_assert_str_eq(ckptio__section_get(b, "threads")->value, "3");
	ck_assert_ptr_null(ckptio__section_get(b, "secret_token")->value);
	ck_assert_str_eq(ckptio__section_get(b, "secret_token")->unset_var,
			 "CKPTIO_T_UNSET");
	ck_assert_str_eq(ckptio__section_get(b, "price")->value, "$5");
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		const char *in;
		uint64_t out;
	} ok[] = {
		{"0", 0}, {"4096", 4096}, {"4k", 4096}, {"4K", 4096},
		{"4KiB", 4096}, {"4KB", 4000}, {"64MiB", 64ull << 20},
		{"64 MiB", 64ull << 20}, {"1.5GiB", 3ull << 29},
		{"2GB", 2000000000ull}, {"1TiB", 1ull << 40}, {"10b", 10},
	};
	static const char *const bad[] = {"", "-1", "MiB", "4 XB", "4MiBs",
					  "1e3", "99999999999999999999",
					  "16777216TiB", NULL};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(ckptio__parse_size(ok[i].in, &v) == 0, "%s",
			      ok[i].in);
		ck_assert_uint_eq(v, ok[i].out);
	}
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(ckptio__parse_size(bad[i], &v) == -1, "%s", bad[i]);
	ck_assert_int_eq(ckptio__parse_uint("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(ckptio__parse_uint("18446744073709551616", &v), -1);
	ck_assert_int_eq(ckptio__parse_uint("12a", &v), -1);
}
END_TEST

START_TEST(test_bools)
{
	int b;

	ck_assert(ckptio__parse_bool("Yes", &b) == 0 && b == 1);
	ck_assert(ckptio__parse_bool("off", &b) == 0 && b == 0);
	ck_assert(ckptio__parse_bool("1", &b) == 0 && b == 1);
	ck_assert_int_eq(ckptio__parse_bool("maybe", &b), -1);
}
END_TEST

START_TEST(test_search_order)
{
	char *home = ckptio__asprintf("%s/home", dir);
	char *user = ckptio__asprintf("%s/.config/ckptio/ckptio.conf", home);
	char *mk = ckptio__asprintf("mkdir -p %s/.config/ckptio", home);
	char *named;
	ckptio__config *cfg;

	ck_assert_int_eq(system(mk), 0);
	ck_assert_int_eq(tu_write_file(user, "[ckptio]\nlog_level = info\n", 26),
			 0);
	setenv("HOME", home, 1);
	unsetenv("CKPTIO_CONFIG");
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_str_eq(cfg->path, user);
	ckptio__config_free(cfg);
	named = write_conf("[ckptio]\nlog_level = debug\n");
	setenv("CKPTIO_CONFIG", named, 1);
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_str_eq(cfg->path, named);
	ckptio__config_free(cfg);
	/* A named file that is missing is an error, not a fallback. */
	setenv("CKPTIO_CONFIG", "/nonexistent/ckptio.conf", 1);
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	ck_assert_str_eq(err, "cannot open config file /nonexistent/ckptio.conf: "
			      "No such file or directory");
	setenv("CKPTIO_CONFIG", "/dev/null", 1);
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_uint_eq(cfg->nsections, 0);
	ckptio__config_free(cfg);
	free(home);
	free(user);
	free(mk);
	free(named);
}
END_TEST

START_TEST(test_dump_redacts)
{
	ckptio__config *cfg = load_ok(
		"[backend \"s\"]\nstore = s3\naccess_key_id = AKIA\n"
		"secret_access_key = hunter2\nsession_token = tok\n"
		"password = pw\nmissing = ${CKPTIO_T_NOPE}\n");
	char *text = ckptio__config_dump(cfg);

	ck_assert_ptr_nonnull(strstr(text, "access_key_id = AKIA\n"));
	ck_assert_ptr_nonnull(strstr(text, "secret_access_key = <redacted>\n"));
	ck_assert_ptr_nonnull(strstr(text, "session_token = <redacted>\n"));
	ck_assert_ptr_null(strstr(text, "hunter2"));
	ck_assert_ptr_null(strstr(text, "tok\n"));
	ck_assert_ptr_null(strstr(text, "= pw"));
	ck_assert_ptr_nonnull(strstr(text, "missing = <unset: ${CKPTIO_T_NOPE}>"));
	ck_assert_ptr_nonnull(strstr(text, "[backend \"s\"]"));
	free(text);
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_check_plugin)
{
	static const char *const options[] = {"root_mode", NULL};
	ckptio_plugin p = {.name = "posix", .options = options};
	ckptio__config *cfg = load_ok("[backend \"b\"]\nstore = posix\n"
				      "root_mode = 1\nbogus = 2\n");
	char *want = ckptio__asprintf("%s/c.conf:4: bogus: unknown option for "
				      "store 'posix' (known: root_mode)", dir);

	ck_assert_int_eq(ckptio__config_check_plugin(
				 ckptio__config_backend(cfg, "b"), &p, err,
				 sizeof(err)), CKPTIO_ECONFIG);
	ck_assert_str_eq(err, want);
	free(want);
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_example_config_loads)
{
	const char *src = getenv("CKPTIO_SRCDIR");
	char *path = ckptio__asprintf("%s/conf/ckptio.conf", src ? src : "..");
	ckptio__config *cfg;

	ck_assert_msg(ckptio__config_load(path, &cfg, err, sizeof(err)) ==
		      CKPTIO_OK, "%s", err);
	ck_assert_ptr_nonnull(ckptio__config_backend(cfg, "local"));
	ckptio__config_free(cfg);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("ini");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sections_and_lookup);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_env_expansion);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_bools);
	tcase_add_test(tc, test_search_order);
	tcase_add_test(tc, test_dump_redacts);
	tcase_add_test(tc, test_check_plugin);
	tcase_add_test(tc, test_example_config_loads);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
