/*
 * check_config.c - the INI configuration (core/config.c): syntax, values,
 * ${ENV}, the search order, redaction, plugin options, and the exact error
 * messages ("file:line: key: problem").
 *
 * Self-contained on purpose (no testutil): config.c depends on libc and
 * libinih only, so this suite also builds with just the two files.  Each
 * test gets a fresh directory for its files.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifndef CKPTIO_SYSCONFDIR /* as config.c has it */
#define CKPTIO_SYSCONFDIR "/etc"
#endif

static char *dir;
static char err[CKPTIO__ERRMSG];

/* ------------------------------------------------------------------------ */
/* Fixture and helpers                                                      */

static char *fmt(const char *f, ...) CKPTIO__PRINTF(1, 2);
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	return s;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	dir = fmt("%s/ckptio-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	err[0] = '\0';
	/* Tests that search set these themselves. */
	unsetenv("CKPTIO_CONFIG");
}

static void teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Write text to dir/name; returns the malloc'd path. */
static char *write_file(const char *name, const char *text)
{
	char *path = fmt("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static char *write_conf(const char *text)
{
	return write_file("c.conf", text);
}

static ckptio__config *load_ok(const char *text)
{
	char *path = write_conf(text);
	ckptio__config *cfg = NULL;

	ck_assert_msg(ckptio__config_load(path, &cfg, err, sizeof(err)) ==
		      CKPTIO_OK, "%s", err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->path, path);
	free(path);
	return cfg;
}

/* The load fails with exactly "<path>:<rest>". */
static void load_bad(const char *text, const char *rest)
{
	char *path = write_conf(text), *want = fmt("%s:%s", path, rest);
	ckptio__config *cfg = (ckptio__config *)&cfg; /* must become NULL */

	ck_assert_int_eq(ckptio__config_load(path, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, want);
	free(path);
	free(want);
}

/* Value of key in the section, which must exist. */
static const char *value_of(const ckptio__section *sec, const char *key)
{
	const ckptio__opt *o = ckptio__section_get(sec, key);

	ck_assert_msg(o != NULL, "no key %s", key);
	return o->value;
}

/* ------------------------------------------------------------------------ */
/* Syntax that loads                                                        */

START_TEST(test_sections_and_lookup)
{
	ckptio__config *cfg = load_ok(
		"# comment\n[ckptio]\ndefault = local\nthreads = 8\n\n"
		"[backend \"local\"]\nstore = posix\nroot = /data\n"
		"[store \"posix\"]\nio_size = 1MiB\n");
	const ckptio__section *b = ckptio__config_backend(cfg, "local");

	ck_assert_uint_eq(cfg->nsections, 3);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->kind, CKPTIO__SEC_BACKEND);
	ck_assert_str_eq(b->name, "local");
	ck_assert_str_eq(b->file, cfg->path);
	ck_assert_int_eq(b->line, 6);
	ck_assert_int_eq(ckptio__section_get(b, "root")->line, 8);
	ck_assert_str_eq(value_of(b, "root"), "/data");
	ck_assert_str_eq(value_of(ckptio__config_main(cfg), "default"),
			 "local");
	ck_assert_int_eq(ckptio__config_main(cfg)->line, 2);
	ck_assert_str_eq(value_of(ckptio__config_store(cfg, "posix"),
				  "io_size"), "1MiB");
	ck_assert_ptr_null(ckptio__config_backend(cfg, "other"));
	ck_assert_ptr_null(ckptio__config_backend(cfg, "posix"));
	ck_assert_ptr_null(ckptio__config_store(cfg, "local"));
	ck_assert_ptr_null(ckptio__section_get(b, "nope"));
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_inline_comments)
{
	ckptio__config *cfg = load_ok(
		"[backend \"b\"]   # a backend\n"
		"store = posix\n"
		"layout = native   # or safetensors\n"
		"root = /data\t; tab then ';'\n"
		"url = http://h/x#frag;v   # '#' inside a word stays\n"
		"  ; an indented comment\n"
		"  # another one\n");
	const ckptio__section *b = ckptio__config_backend(cfg, "b");

	ck_assert_str_eq(value_of(b, "layout"), "native");
	ck_assert_str_eq(value_of(b, "root"), "/data");
	ck_assert_str_eq(value_of(b, "url"), "http://h/x#frag;v");
	ck_assert_uint_eq(b->nopts, 4);
	ckptio__config_free(cfg);
}
END_TEST

/* libinih would take an indented line as the continuation of the value
 * above; ours are keys like any other. */
START_TEST(test_indented_keys)
{
	ckptio__config *cfg = load_ok("[backend \"b\"]\n  store = posix\n"
				      "\troot = /x\n    layout = native\n");
	const ckptio__section *b = ckptio__config_backend(cfg, "b");

	ck_assert_str_eq(value_of(b, "store"), "posix");
	ck_assert_str_eq(value_of(b, "root"), "/x");
	ck_assert_str_eq(value_of(b, "layout"), "native");
	ck_assert_int_eq(ckptio__section_get(b, "layout")->line, 4);
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_crlf_bom_and_spacing)
{
	ckptio__config *cfg = load_ok("\xEF\xBB\xBF[ckptio]\r\nthreads=3\r\n"
				      "[  backend\t \"x.Y-1_z\"  ]\r\n"
				      "store:posix\r\nroot   =   /a b  \r\n");
	const ckptio__section *b = ckptio__config_backend(cfg, "x.Y-1_z");

	ck_assert_str_eq(value_of(ckptio__config_main(cfg), "threads"), "3");
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(value_of(b, "store"), "posix");
	ck_assert_str_eq(value_of(b, "root"), "/a b");
	ckptio__config_free(cfg);
}
END_TEST

/* Longer than libinih's 200-byte buffer, up to our 4096. */
START_TEST(test_long_lines_load)
{
	char name[65], *big = malloc(4097), *text;
	ckptio__config *cfg;
	const ckptio__section *b;

	memset(name, 'n', 64);
	name[64] = '\0';
	/* "root = " + 4089 bytes: exactly 4096 */
	memset(big, 'v', 4089);
	big[4089] = '\0';
	text = fmt("[backend \"%s\"]\nstore = posix\nroot = %s\n"
		   "%s = %.100s   # comment\n", name, big, big + 3000, big);
	cfg = load_ok(text);
	b = ckptio__config_backend(cfg, name);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(strlen(value_of(b, "root")), 4089);
	ck_assert_int_eq(ckptio__section_get(b, "root")->line, 3);
	/* A 1089-byte key with a 100-byte value and a comment */
	ck_assert_str_eq(value_of(b, big + 3000), big + 3989);
	ckptio__config_free(cfg);
	free(text);
	free(big);
}
END_TEST

START_TEST(test_empty_sections_and_files)
{
	ckptio__config *cfg = load_ok("");

	ck_assert_uint_eq(cfg->nsections, 0);
	ck_assert_ptr_null(ckptio__config_main(cfg));
	ckptio__config_free(cfg);
	cfg = load_ok("[ckptio]\n[store \"s3\"]\n");
	ck_assert_uint_eq(cfg->nsections, 2);
	ck_assert_uint_eq(ckptio__config_store(cfg, "s3")->nopts, 0);
	ckptio__config_free(cfg);
	ck_assert_int_eq(ckptio__config_load("/dev/null", &cfg, err,
					     sizeof(err)), CKPTIO_OK);
	ck_assert_str_eq(cfg->path, "/dev/null");
	ck_assert_uint_eq(cfg->nsections, 0);
	ckptio__config_free(cfg);
	ckptio__config_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Errors, with their exact messages                                        */

START_TEST(test_unknown_key)
{
	load_bad("[ckptio]\ncolour = red\n",
		 "2: colour: unknown key in [ckptio] (known: default, "
		 "plugin_path, log_level, threads)");
	/* [ckptio] knows only its own keys, not backend ones. */
	load_bad("[ckptio]\nstore = posix\n",
		 "2: store: unknown key in [ckptio] (known: default, "
		 "plugin_path, log_level, threads)");
}
END_TEST

START_TEST(test_duplicate_key)
{
	load_bad("[backend \"a\"]\nstore = posix\n# x\nstore = s3\n",
		 "4: store: set twice in this section (first on line 2)");
	load_bad("[ckptio]\nthreads = 2\nthreads = 2\n",
		 "3: threads: set twice in this section (first on line 2)");
}
END_TEST

START_TEST(test_duplicate_section)
{
	load_bad("[backend \"a\"]\nstore = posix\n[backend \"a\"]\nstore = x\n",
		 "3: section [backend \"a\"] appears twice (first on line 1)");
	load_bad("[ckptio]\n[store \"s3\"]\n\n[ckptio]\n",
		 "4: section [ckptio] appears twice (first on line 1)");
	load_bad("[store \"s3\"]\n[store  \"s3\"]\n",
		 "2: section [store \"s3\"] appears twice (first on line 1)");
}
END_TEST

START_TEST(test_bad_section_name)
{
	load_bad("[colours]\n",
		 "1: unknown section [colours] (expected [ckptio], "
		 "[backend \"NAME\"] or [store \"PLUGIN\"])");
	load_bad("[Backend \"a\"]\n",
		 "1: unknown section [Backend \"a\"] (expected [ckptio], "
		 "[backend \"NAME\"] or [store \"PLUGIN\"])");
	load_bad("[backend a]\nstore = posix\n",
		 "1: section [backend a]: write the name in double quotes: "
		 "[backend \"NAME\"]");
	load_bad("[store]\n",
		 "1: section [store]: write the name in double quotes: "
		 "[store \"NAME\"]");
	load_bad("[backend \"a b\"]\nstore = posix\n",
		 "1: section [backend \"a b\"]: invalid backend name (1 to 64 "
		 "of A-Z a-z 0-9 _ . -)");
	load_bad("[backend \"\"]\n",
		 "1: section [backend \"\"]: invalid backend name (1 to 64 "
		 "of A-Z a-z 0-9 _ . -)");
	load_bad("[store \"S3\"]\n",
		 "1: section [store \"S3\"]: invalid plugin name (1 to 64 of "
		 "a-z 0-9 _)");
}
END_TEST

START_TEST(test_overlong_section_name)
{
	char name[66], *text, *want;

	memset(name, 'n', 65);
	name[65] = '\0';
	text = fmt("[ckptio]\n[backend \"%s\"]\nstore = posix\n", name);
	want = fmt("2: section [backend \"%s\"]: invalid backend name (1 to "
		   "64 of A-Z a-z 0-9 _ . -)", name);
	load_bad(text, want);
	free(text);
	free(want);
}
END_TEST

START_TEST(test_backend_without_store)
{
	load_bad("[backend \"a\"]\nroot = /x\n",
		 "1: backend \"a\" has no 'store' key");
	/* A header with no key at all: libinih never reports it. */
	load_bad("[ckptio]\n[backend \"empty\"]\n[store \"posix\"]\n",
		 "2: backend \"empty\" has no 'store' key");
}
END_TEST

START_TEST(test_bad_values)
{
	load_bad("[ckptio]\nthreads = abc\n",
		 "2: threads: 'abc' is not a whole number between 1 and 256");
	load_bad("[ckptio]\nthreads = 0\n",
		 "2: threads: '0' is not a whole number between 1 and 256");
	load_bad("[backend \"b\"]\nstore = posix\nthreads = 257\n",
		 "3: threads: '257' is not a whole number between 1 and 256");
	load_bad("[backend \"b\"]\nstore = posix\nthreads = -1\n",
		 "3: threads: '-1' is not a whole number between 1 and 256");
	load_bad("[backend \"b\"]\nstore = posix\nthreads =\n",
		 "3: threads: '' is not a whole number between 1 and 256");
	load_bad("[ckptio]\nlog_level = loud\n",
		 "2: log_level: 'loud' is not one of error, warn, info, debug");
	load_bad("[backend \"a\"]\nstore = ../evil\n",
		 "2: store: '../evil' is not a plugin name (1 to 64 of a-z "
		 "0-9 _)");
	load_bad("[backend \"a\"]\nstore = posix\nlayout = Native\n",
		 "3: layout: 'Native' is not a plugin name (1 to 64 of a-z "
		 "0-9 _)");
	load_bad("[ckptio]\ndefault = a:b\n",
		 "2: default: 'a:b' is not a backend name (1 to 64 of A-Z a-z "
		 "0-9 _ . -)");
}
END_TEST

START_TEST(test_values_expanded_before_checks)
{
	setenv("CKPTIO_T_THREADS", "many", 1);
	load_bad("[ckptio]\nthreads = ${CKPTIO_T_THREADS}\n",
		 "2: threads: 'many' is not a whole number between 1 and 256");
}
END_TEST

START_TEST(test_default_must_exist)
{
	ckptio__config *cfg;

	load_bad("[ckptio]\ndefault = nosuch\n",
		 "2: default: no backend \"nosuch\" is defined in this file");
	/* The built-in "local" needs no section; a later one counts. */
	cfg = load_ok("[ckptio]\ndefault = local\n");
	ckptio__config_free(cfg);
	cfg = load_ok("[ckptio]\ndefault = b\n[backend \"b\"]\nstore = s3\n");
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_overlong_line)
{
	char *big = malloc(4097), *text;

	/* "root = " + 4090 bytes: one more than allowed */
	memset(big, 'x', 4090);
	big[4090] = '\0';
	text = fmt("[backend \"b\"]\nstore = posix\nroot = %s\nroot = y\n",
		   big);
	load_bad(text, "3: line longer than 4096 bytes");
	free(text);
	/* Comments count too: the limit is on what the file holds. */
	text = fmt("# %s%s\n", big, big);
	load_bad(text, "1: line longer than 4096 bytes");
	free(text);
	free(big);
}
END_TEST

START_TEST(test_syntax_errors)
{
	load_bad("[ckptio]\nthis is not ini\n", "2: syntax error");
	load_bad("[ckptio\n", "1: syntax error");
	load_bad("[ckptio] trailing\n", "1: syntax error");
	load_bad("[ckptio]\n= 4\n", "2: missing key before '='");
	load_bad("default = x\n", "1: default: key outside of any section");
	load_bad("[ckptio]\nthreads = 1\n\x01\x02\n", "3: syntax error");
}
END_TEST

/* A long line without '=' goes to libinih as a stand-in it rejects. */
START_TEST(test_syntax_error_in_long_line)
{
	char *big = malloc(1001), *text;

	memset(big, 'w', 1000);
	big[1000] = '\0';
	text = fmt("[ckptio]\n%s\n", big);
	load_bad(text, "2: syntax error");
	free(text);
	free(big);
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] = "[ckptio]\nthreads = 1\0\n";
	char *path = fmt("%s/c.conf", dir), *want;
	FILE *f = fopen(path, "w");
	ckptio__config *cfg;

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, sizeof(text) - 1, f),
			  sizeof(text) - 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(ckptio__config_load(path, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	want = fmt("%s:2: NUL byte in the line (not a text file?)", path);
	ck_assert_str_eq(err, want);
	free(want);
	free(path);
}
END_TEST

/* The first problem in the file is the one reported, whoever finds it. */
START_TEST(test_first_error_wins)
{
	load_bad("[ckptio]\nnot ini\ncolour = red\n", "2: syntax error");
	load_bad("[ckptio]\ncolour = red\nnot ini\n",
		 "2: colour: unknown key in [ckptio] (known: default, "
		 "plugin_path, log_level, threads)");
	load_bad("[ckptio]\nnot ini\n[nope]\n", "2: syntax error");
	load_bad("[nope]\nnot ini\n",
		 "1: unknown section [nope] (expected [ckptio], "
		 "[backend \"NAME\"] or [store \"PLUGIN\"])");
}
END_TEST

START_TEST(test_unreadable_explicit_file)
{
	char *missing = fmt("%s/nosuch.conf", dir), *want;
	ckptio__config *cfg = (ckptio__config *)&cfg;

	ck_assert_int_eq(ckptio__config_load(missing, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_null(cfg);
	want = fmt("cannot open config file %s: No such file or directory",
		   missing);
	ck_assert_str_eq(err, want);
	free(want);
	/* A directory is refused before any read. */
	ck_assert_int_eq(ckptio__config_load(dir, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	want = fmt("config file %s is not a regular file (a directory)", dir);
	ck_assert_str_eq(err, want);
	free(want);
	free(missing);
}
END_TEST

/* Only a regular file (or a link to one) is a configuration; /dev/null is
 * the one exception, an empty one.  A FIFO used to block the open until a
 * writer came; now it is refused at once, as are devices. */
START_TEST(test_not_a_regular_file)
{
	char *fifo = fmt("%s/fifo.conf", dir), *link = fmt("%s/link.conf", dir);
	char *path = write_conf("[ckptio]\nthreads = 3\n"), *want;
	ckptio__config *cfg;

	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(ckptio__config_load(fifo, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_null(cfg);
	want = fmt("config file %s is not a regular file (a FIFO)", fifo);
	ck_assert_str_eq(err, want);
	free(want);
	ck_assert_int_eq(ckptio__config_load("/dev/zero", &cfg, err,
					     sizeof(err)), CKPTIO_ECONFIG);
	ck_assert_str_eq(err, "config file /dev/zero is not a regular file "
			      "(a character device)");
	/* "No configuration", as the tests and CI say it. */
	ck_assert_int_eq(ckptio__config_load("/dev/null", &cfg, err,
					     sizeof(err)), CKPTIO_OK);
	ck_assert_uint_eq(cfg->nsections, 0);
	ckptio__config_free(cfg);
	/* A link to a regular file is followed, like a dotfile link. */
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(ckptio__config_load(link, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_ptr_nonnull(ckptio__section_get(ckptio__config_main(cfg),
						  "threads"));
	ckptio__config_free(cfg);
	free(path);
	free(link);
	free(fifo);
}
END_TEST

START_TEST(test_permission_denied)
{
	char *path = write_conf("[ckptio]\n"), *want;
	ckptio__config *cfg;

	ck_assert_int_eq(chmod(path, 0), 0);
	if (access(path, R_OK) == 0) {
		/* root reads anything: nothing to test here. */
		free(path);
		return;
	}
	ck_assert_int_eq(ckptio__config_load(path, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	want = fmt("cannot open config file %s: Permission denied", path);
	ck_assert_str_eq(err, want);
	free(want);
	free(path);
}
END_TEST

START_TEST(test_malformed_references)
{
	load_bad("[ckptio]\ndefault = ${\n",
		 "2: default: malformed variable reference '${' (write "
		 "${NAME}, ${NAME:-default}, or $$ for a '$')");
	load_bad("[ckptio]\ndefault = a${}b\n",
		 "2: default: malformed variable reference '${}' (write "
		 "${NAME}, ${NAME:-default}, or $$ for a '$')");
	load_bad("[ckptio]\ndefault = ${A B}\n",
		 "2: default: malformed variable reference '${A B}' (write "
		 "${NAME}, ${NAME:-default}, or $$ for a '$')");
	load_bad("[ckptio]\ndefault = ${1A}\n",
		 "2: default: malformed variable reference '${1A}' (write "
		 "${NAME}, ${NAME:-default}, or $$ for a '$')");
	load_bad("[ckptio]\ndefault = ${A:-x\n",
		 "2: default: malformed variable reference '${A:-x' (write "
		 "${NAME}, ${NAME:-default}, or $$ for a '$')");
	load_bad("[ckptio]\ndefault = ${A:-${B}}\n",
		 "2: default: malformed variable reference '${A:-${B}' (write "
		 "${NAME}, ${NAME:-default}, or $$ for a '$')");
	/* Part of a secret must not reach the message (or a log). */
	load_bad("[store \"s3\"]\nsecret_access_key = abc${def\n",
		 "2: secret_access_key: malformed variable reference (write "
		 "${NAME}, ${NAME:-default}, or $$ for a '$')");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* ${ENV}                                                                   */

START_TEST(test_env_expansion)
{
	ckptio__config *cfg;
	const ckptio__section *b;

	setenv("CKPTIO_T_ROOT", "/mnt/x", 1);
	setenv("CKPTIO_T_EMPTY", "", 1);
	setenv("CKPTIO_T_TRICKY", "a # b ${CKPTIO_T_ROOT} $$", 1);
	unsetenv("CKPTIO_T_UNSET");
	cfg = load_ok("[backend \"b\"]\nstore = posix\n"
		      "root = ${CKPTIO_T_ROOT}/ck\n"
		      "io_size = ${CKPTIO_T_UNSET:-4MiB}\n"
		      "threads = ${CKPTIO_T_UNSET:-3}\n"
		      "direct = ${CKPTIO_T_EMPTY:-true}\n"
		      "fsync = x${CKPTIO_T_EMPTY}y\n"
		      "price = $$5 and $7 and $\n"
		      "tricky = ${CKPTIO_T_TRICKY}\n"
		      "two = ${CKPTIO_T_ROOT}${CKPTIO_T_ROOT:-no}\n");
	b = ckptio__config_backend(cfg, "b");
	ck_assert_str_eq(value_of(b, "root"), "/mnt/x/ck");
	ck_assert_str_eq(value_of(b, "io_size"), "4MiB");
	ck_assert_str_eq(value_of(b, "threads"), "3");
	ck_assert_str_eq(value_of(b, "direct"), "true");
	ck_assert_str_eq(value_of(b, "fsync"), "xy");
	ck_assert_str_eq(value_of(b, "price"), "$5 and $7 and $");
	/* A variable's value is used as it is: no comments, no expansion. */
	ck_assert_str_eq(value_of(b, "tricky"), "a # b ${CKPTIO_T_ROOT} $$");
	ck_assert_str_eq(value_of(b, "two"), "/mnt/x/mnt/x");
	ck_assert_ptr_null(ckptio__section_get(b, "root")->unset_var);
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_unset_variable_recorded)
{
	ckptio__config *cfg;
	const ckptio__section *b;
	const ckptio__opt *o;

	unsetenv("CKPTIO_T_UNSET");
	unsetenv("CKPTIO_T_UNSET2");
	setenv("CKPTIO_T_SET", "v", 1);
	/* Not even core keys fail the load: whoever reads them reports. */
	cfg = load_ok("[ckptio]\nthreads = ${CKPTIO_T_UNSET}\n"
		      "[backend \"b\"]\nstore = ${CKPTIO_T_UNSET}\n"
		      "token = ${CKPTIO_T_SET}/${CKPTIO_T_UNSET2}/"
		      "${CKPTIO_T_UNSET}\n");
	b = ckptio__config_backend(cfg, "b");
	o = ckptio__section_get(b, "store");
	ck_assert_ptr_null(o->value);
	ck_assert_str_eq(o->unset_var, "CKPTIO_T_UNSET");
	ck_assert_int_eq(o->line, 4);
	o = ckptio__section_get(b, "token");
	ck_assert_ptr_null(o->value);
	ck_assert_str_eq(o->unset_var, "CKPTIO_T_UNSET2");
	o = ckptio__section_get(ckptio__config_main(cfg), "threads");
	ck_assert_ptr_null(o->value);
	ck_assert_str_eq(o->unset_var, "CKPTIO_T_UNSET");
	ckptio__config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Value parsers                                                            */

START_TEST(test_sizes)
{
	static const struct {
		const char *in;
		uint64_t out;
	} ok[] = {
		{"0", 0}, {"4096", 4096}, {"007", 7}, {"10b", 10},
		{"10B", 10}, {"4k", 4096}, {"4K", 4096}, {"4KiB", 4096},
		{"4kib", 4096}, {"4KB", 4000}, {"4kB", 4000},
		{"3M", 3ull << 20}, {"64MiB", 64ull << 20},
		{"64 MiB", 64ull << 20}, {"64\tMiB", 64ull << 20},
		{"2MB", 2000000}, {"2G", 2ull << 30}, {"1.5GiB", 3ull << 29},
		{"2GB", 2000000000ull}, {"1T", 1ull << 40},
		{"1TiB", 1ull << 40}, {"3TB", 3000000000000ull},
		{"1.5", 1}, {"0.5k", 512}, {"0.0001k", 0}, {"0.001KB", 1},
		{"1.9999999999k", 2047},
		{"0.99999999999999999999999999999999999999999999999999T",
		 (1ull << 40) - 1},
		{"18446744073709551615", UINT64_MAX},
		{"16777215TiB", 16777215ull << 40},
		{"15.99999999GiB", 17179869173ull},
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		ck_assert_msg(ckptio__parse_size(ok[i].in, &v) == 0, "%s",
			      ok[i].in);
		ck_assert_msg(v == ok[i].out, "%s: %llu, not %llu", ok[i].in,
			      (unsigned long long)v,
			      (unsigned long long)ok[i].out);
		/* The public parser the ckptio command uses is this one. */
		v = 12345;
		ck_assert_int_eq(ckptio_parse_size(ok[i].in, &v), CKPTIO_OK);
		ck_assert_uint_eq(v, ok[i].out);
	}
}
END_TEST

START_TEST(test_sizes_rejected)
{
	static const char *const bad[] = {
		"", " 4", "-1", "+1", "MiB", ".5k", "1.", "1.k", "4 XB",
		"4MiBs", "4 MiB x", "1e3", "4Ki", "1,5MiB", "0x10",
		"18446744073709551616", "99999999999999999999",
		"16777216TiB", "18446744073709551615.5k", NULL,
	};
	uint64_t v = 77;

	for (int i = 0; bad[i]; i++)
		ck_assert_msg(ckptio__parse_size(bad[i], &v) == -1, "'%s'",
			      bad[i]);
	ck_assert_uint_eq(v, 77); /* untouched on failure */
	ck_assert_int_eq(ckptio__parse_size(NULL, &v), -1);
	for (int i = 0; bad[i]; i++)
		ck_assert_int_eq(ckptio_parse_size(bad[i], &v), CKPTIO_EINVAL);
	ck_assert_uint_eq(v, 77);
	ck_assert_int_eq(ckptio_parse_size(NULL, &v), CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio_parse_size("4k", NULL), CKPTIO_EINVAL);
}
END_TEST

START_TEST(test_uint)
{
	uint64_t v;

	ck_assert_int_eq(ckptio__parse_uint("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(ckptio__parse_uint("256", &v), 0);
	ck_assert_uint_eq(v, 256);
	ck_assert_int_eq(ckptio__parse_uint("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(ckptio__parse_uint("18446744073709551616", &v), -1);
	ck_assert_int_eq(ckptio__parse_uint("12a", &v), -1);
	ck_assert_int_eq(ckptio__parse_uint("", &v), -1);
	ck_assert_int_eq(ckptio__parse_uint("-1", &v), -1);
	ck_assert_int_eq(ckptio__parse_uint(" 1", &v), -1);
	ck_assert_int_eq(ckptio__parse_uint("1k", &v), -1);
}
END_TEST

START_TEST(test_bools)
{
	static const char *const yes[] = {"true", "TRUE", "Yes", "on", "ON",
					  "1", NULL};
	static const char *const no[] = {"false", "False", "no", "NO", "off",
					 "0", NULL};
	static const char *const bad[] = {"maybe", "", "2", "y", "n",
					  "truee", " true", NULL};
	int b;

	for (int i = 0; yes[i]; i++) {
		b = -1;
		ck_assert_msg(ckptio__parse_bool(yes[i], &b) == 0 && b == 1,
			      "%s", yes[i]);
	}
	for (int i = 0; no[i]; i++) {
		b = -1;
		ck_assert_msg(ckptio__parse_bool(no[i], &b) == 0 && b == 0,
			      "%s", no[i]);
	}
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(ckptio__parse_bool(bad[i], &b) == -1, "'%s'",
			      bad[i]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Where the file comes from                                                */

START_TEST(test_search_order)
{
	char *home = fmt("%s/home", dir), *cdir = fmt("%s/.config", home);
	char *udir = fmt("%s/ckptio", cdir), *user, *named;
	ckptio__config *cfg;

	ck_assert_int_eq(mkdir(home, 0755), 0);
	ck_assert_int_eq(mkdir(cdir, 0755), 0);
	ck_assert_int_eq(mkdir(udir, 0755), 0);
	user = write_file("home/.config/ckptio/ckptio.conf",
			  "[ckptio]\nlog_level = info\n");
	named = write_file("named.conf", "[ckptio]\nlog_level = debug\n");
	setenv("HOME", home, 1);

	/* No $CKPTIO_CONFIG (or an empty one): the user's file. */
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_str_eq(cfg->path, user);
	ck_assert_str_eq(value_of(ckptio__config_main(cfg), "log_level"),
			 "info");
	ckptio__config_free(cfg);
	setenv("CKPTIO_CONFIG", "", 1);
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_str_eq(cfg->path, user);
	ckptio__config_free(cfg);

	/* $CKPTIO_CONFIG comes first. */
	setenv("CKPTIO_CONFIG", named, 1);
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_str_eq(cfg->path, named);
	ck_assert_str_eq(value_of(ckptio__config_main(cfg), "log_level"),
			 "debug");
	ckptio__config_free(cfg);

	/* An explicit path comes before both. */
	ck_assert_int_eq(ckptio__config_load(user, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_str_eq(cfg->path, user);
	ckptio__config_free(cfg);
	free(home);
	free(cdir);
	free(udir);
	free(user);
	free(named);
}
END_TEST

START_TEST(test_search_named_missing_is_error)
{
	ckptio__config *cfg = (ckptio__config *)&cfg;

	setenv("HOME", dir, 1);
	setenv("CKPTIO_CONFIG", "/nonexistent/ckptio.conf", 1);
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, "cannot open config file "
			      "/nonexistent/ckptio.conf: No such file or "
			      "directory");
	setenv("CKPTIO_CONFIG", "/dev/null", 1);
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_str_eq(cfg->path, "/dev/null");
	ck_assert_uint_eq(cfg->nsections, 0);
	ckptio__config_free(cfg);
}
END_TEST

/* With no user file, the system file if the machine has one, else an
 * empty configuration without a path. */
START_TEST(test_search_nothing_found)
{
	static const char sys[] = CKPTIO_SYSCONFDIR "/ckptio/ckptio.conf";
	ckptio__config *cfg;
	ckptio_status st;

	setenv("HOME", dir, 1);
	st = ckptio__config_load(NULL, &cfg, err, sizeof(err));
	if (access(sys, F_OK) == 0) {
		if (st == CKPTIO_OK) {
			ck_assert_str_eq(cfg->path, sys);
			ckptio__config_free(cfg);
		}
		return;
	}
	ck_assert_int_eq(st, CKPTIO_OK);
	ck_assert_ptr_null(cfg->path);
	ck_assert_uint_eq(cfg->nsections, 0);
	ck_assert_ptr_null(ckptio__config_main(cfg));
	ck_assert_ptr_null(ckptio__config_backend(cfg, "local"));
	ckptio__config_free(cfg);
	/* Without $HOME too. */
	unsetenv("HOME");
	ck_assert_int_eq(ckptio__config_load(NULL, &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_ptr_null(cfg->path);
	ckptio__config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* plugin_path                                                              */

/* Relative entries mean the config file's directory, never the current
 * one; absolute ones stay; empty ones are dropped.  A config file named
 * by a relative path is anchored to the current directory at load. */
START_TEST(test_plugin_path_relative_to_file)
{
	ckptio__config *cfg;
	char *cwd0 = getcwd(NULL, 0), *want;

	setenv("CKPTIO_T_SUB", "sub", 1);
	cfg = load_ok("[ckptio]\nplugin_path = plugins:/opt/p::.:"
		      "${CKPTIO_T_SUB}/x\n");
	want = fmt("%s/plugins:/opt/p:%s:%s/sub/x", dir, dir, dir);
	ck_assert_str_eq(value_of(ckptio__config_main(cfg), "plugin_path"),
			 want);
	ckptio__config_free(cfg);
	free(want);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(ckptio__config_load("c.conf", &cfg, err, sizeof(err)),
			 CKPTIO_OK);
	ck_assert_int_eq(chdir("/"), 0); /* what counts is the load */
	want = fmt("%s/plugins:/opt/p:%s:%s/sub/x", dir, dir, dir);
	ck_assert_str_eq(value_of(ckptio__config_main(cfg), "plugin_path"),
			 want);
	ckptio__config_free(cfg);
	free(want);
	ck_assert_int_eq(chdir(cwd0), 0);
	free(cwd0);
	unsetenv("CKPTIO_T_SUB");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Secrets and the dump                                                     */

START_TEST(test_is_secret_key)
{
	static const char *const secrets[] = {"sse_customer_key", NULL};
	ckptio_plugin p = {.abi_version = CKPTIO_ABI_VERSION,
			   .struct_size = sizeof(p), .name = "s3",
			   .secret_options = secrets};

	ck_assert(ckptio__is_secret_key("secret_access_key", NULL));
	ck_assert(ckptio__is_secret_key("SESSION_TOKEN", NULL));
	ck_assert(ckptio__is_secret_key("db_password", NULL));
	ck_assert(ckptio__is_secret_key("key_passphrase", NULL));
	ck_assert(ckptio__is_secret_key("Authorization", NULL));
	ck_assert(!ckptio__is_secret_key("access_key_id", NULL));
	ck_assert(!ckptio__is_secret_key("sse_customer_key", NULL));
	ck_assert(ckptio__is_secret_key("sse_customer_key", &p));
	ck_assert(ckptio__is_secret_key("token", &p));
	ck_assert(!ckptio__is_secret_key("region", &p));
}
END_TEST

/* A store declaring a secret whose name does not look secret. */
static const char *const dump_opts[] = {"access_key_id", "secret_access_key",
					"session_token", "region", "opaque",
					"password", "missing", NULL};
static const char *const dump_secrets[] = {"opaque", NULL};
static const ckptio_plugin dump_store = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_STORE,
	.name = "s3",
	.options = dump_opts,
	.secret_options = dump_secrets,
};

#define DUMP_CONF \
	"[ckptio]\ndefault = s\n" \
	"[backend \"s\"]\nstore = s3\nroot = /r\naccess_key_id = AKIA\n" \
	"secret_access_key = ${CKPTIO_T_SECRET}\n" \
	"session_token = tok\npassword = pw\nopaque = hush\n" \
	"region = ${CKPTIO_T_REGION}\ncolour = blue\n" \
	"missing = ${CKPTIO_T_NOPE}\n" \
	"[store \"s3\"]\nAuthorization = Bearer xyz\nopaque = hush2\n" \
	"region = eu-2\n"

static ckptio__config *dump_conf(void)
{
	unsetenv("CKPTIO_T_NOPE");
	setenv("CKPTIO_T_SECRET", "hunter2", 1);
	setenv("CKPTIO_T_REGION", "eu-test-1", 1);
	return load_ok(DUMP_CONF);
}

START_TEST(test_dump_redacts)
{
	ckptio__dump_info info[3] = {
		{{NULL, NULL}, NULL},
		{{&dump_store, NULL}, NULL},
		{{&dump_store, NULL}, NULL},
	};
	ckptio__config *cfg = dump_conf();
	char *text, *want;

	text = ckptio__config_dump(cfg, info);
	ck_assert_ptr_nonnull(text);
	/* opaque: declared secret; colour: declared by no plugin. */
	want = fmt("# %s\n"
		   "\n[ckptio]\ndefault = s\n"
		   "\n[backend \"s\"]\nstore = s3\nroot = /r\n"
		   "access_key_id = AKIA\n"
		   "secret_access_key = <redacted>\n"
		   "session_token = <redacted>\npassword = <redacted>\n"
		   "opaque = <redacted>\n"
		   "region = eu-test-1\ncolour = <redacted>\n"
		   "missing = <unset: ${CKPTIO_T_NOPE}>\n"
		   "\n[store \"s3\"]\nAuthorization = <redacted>\n"
		   "opaque = <redacted>\nregion = eu-2\n",
		   cfg->path);
	ck_assert_str_eq(text, want);
	ck_assert_ptr_null(strstr(text, "hunter2"));
	ck_assert_ptr_null(strstr(text, "hush"));
	free(want);
	free(text);
	ckptio__config_free(cfg);
}
END_TEST

/* DUMP_CONF's dump when the plugins are not known, with the notes the
 * dump adds under the two plugin sections. */
#define DUMP_SAFE(note1, note2) \
	"\n[backend \"s\"]\n" note1 \
	"store = s3\nroot = /r\n" \
	"access_key_id = <redacted>\n" \
	"secret_access_key = <redacted>\n" \
	"session_token = <redacted>\n" \
	"password = <redacted>\nopaque = <redacted>\n" \
	"region = <redacted>\ncolour = <redacted>\n" \
	"missing = <unset: ${CKPTIO_T_NOPE}>\n" \
	"\n[store \"s3\"]\n" note2 \
	"Authorization = <redacted>\n" \
	"opaque = <redacted>\nregion = <redacted>\n"

/* Without the plugins' declarations, nothing but the core keys shows. */
START_TEST(test_dump_fails_safe)
{
	ckptio__dump_info info[3] = {
		{{NULL, NULL}, NULL},
		{{&dump_store, NULL}, "native"},
		{{NULL, NULL}, "s3"},
	};
	ckptio__config *cfg = dump_conf();
	char *text, *want;

	text = ckptio__config_dump(cfg, info);
	want = fmt("# %s\n\n[ckptio]\ndefault = s\n" DUMP_SAFE(
		   "# plugin 'native' could not be loaded: the values of its "
		   "options are redacted\n", "# plugin 's3' could not be "
		   "loaded: the values of its options are redacted\n"),
		   cfg->path);
	ck_assert_str_eq(text, want);
	free(text);
	free(want);
	/* No information at all. */
	text = ckptio__config_dump(cfg, NULL);
	want = fmt("# %s\n\n[ckptio]\ndefault = s\n" DUMP_SAFE("", ""),
		   cfg->path);
	ck_assert_str_eq(text, want);
	free(text);
	free(want);
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_dump_empty)
{
	ckptio__config empty = {0};
	char *text = ckptio__config_dump(&empty, NULL);

	ck_assert_str_eq(text, "# no configuration file found\n");
	free(text);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Plugin options                                                           */

static const char *const posix_opts[] = {"root_mode", NULL};
static const ckptio_plugin fake_posix = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_STORE,
	.name = "posix",
	.options = posix_opts,
};

START_TEST(test_check_plugin)
{
	ckptio__config *cfg = load_ok("[backend \"b\"]\nstore = posix\n"
				      "layout = native\nroot = /r\n"
				      "threads = 2\nroot_mode = 1\n"
				      "bogus = 2\n");
	char *want = fmt("%s/c.conf:7: bogus: unknown option for store "
			 "'posix' (known: root_mode)", dir);

	ck_assert_int_eq(ckptio__config_check_plugin(
				 ckptio__config_backend(cfg, "b"), &fake_posix,
				 err, sizeof(err)), CKPTIO_ECONFIG);
	ck_assert_str_eq(err, want);
	free(want);
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_check_plugin_ok)
{
	ckptio__config *cfg = load_ok("[backend \"b\"]\nstore = posix\n"
				      "root = /r\nroot_mode = 1\n"
				      "[store \"posix\"]\nroot_mode = 2\n");

	err[0] = '\0';
	ck_assert_int_eq(ckptio__config_check_plugin(
				 ckptio__config_backend(cfg, "b"), &fake_posix,
				 err, sizeof(err)), CKPTIO_OK);
	ck_assert_int_eq(ckptio__config_check_plugin(
				 ckptio__config_store(cfg, "posix"),
				 &fake_posix, err, sizeof(err)), CKPTIO_OK);
	ck_assert_int_eq(ckptio__config_check_plugin(NULL, &fake_posix, err,
						     sizeof(err)), CKPTIO_OK);
	ck_assert_str_eq(err, "");
	ckptio__config_free(cfg);
}
END_TEST

/* Core backend keys mean nothing in [store "x"]: only plugin options. */
START_TEST(test_check_plugin_store_section)
{
	static const char *const two[] = {"root_mode", "io_size", NULL};
	ckptio_plugin p = fake_posix, bare = fake_posix;
	ckptio__config *cfg = load_ok("[store \"posix\"]\nio_size = 1MiB\n"
				      "root = /r\n");
	const ckptio__section *s = ckptio__config_store(cfg, "posix");
	char *want;

	p.options = two;
	ck_assert_int_eq(ckptio__config_check_plugin(s, &p, err, sizeof(err)),
			 CKPTIO_ECONFIG);
	want = fmt("%s/c.conf:3: root: unknown option for store 'posix' "
		   "(known: root_mode, io_size)", dir);
	ck_assert_str_eq(err, want);
	free(want);
	bare.options = NULL;
	ck_assert_int_eq(ckptio__config_check_plugin(s, &bare, err,
						     sizeof(err)),
			 CKPTIO_ECONFIG);
	want = fmt("%s/c.conf:2: io_size: unknown option for store 'posix' "
		   "(known: none)", dir);
	ck_assert_str_eq(err, want);
	free(want);
	ckptio__config_free(cfg);
}
END_TEST

START_TEST(test_backend_core_keys)
{
	static const char *const want[] = {"store", "layout", "root",
					   "threads"};
	size_t n = 0;

	for (; ckptio__backend_core_keys[n]; n++) {
		ck_assert_uint_lt(n, 4);
		ck_assert_str_eq(ckptio__backend_core_keys[n], want[n]);
	}
	ck_assert_uint_eq(n, 4);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The example shipped in conf/                                             */

static char *example_path(void)
{
	const char *src = getenv("CKPTIO_SRCDIR");
	static const char *const rel[] = {"../conf/ckptio.conf",
					  "conf/ckptio.conf", NULL};

	if (src && *src)
		return fmt("%s/conf/ckptio.conf", src);
	for (int i = 0; rel[i]; i++)
		if (access(rel[i], R_OK) == 0)
			return fmt("%s", rel[i]);
	ck_abort_msg("conf/ckptio.conf not found: set CKPTIO_SRCDIR");
	return NULL;
}

START_TEST(test_example_config_loads)
{
	char *path = example_path();
	ckptio__config *cfg;
	const ckptio__section *b;

	ck_assert_msg(ckptio__config_load(path, &cfg, err, sizeof(err)) ==
		      CKPTIO_OK, "%s", err);
	ck_assert_str_eq(value_of(ckptio__config_main(cfg), "default"),
			 "local");
	b = ckptio__config_backend(cfg, "local");
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(value_of(b, "store"), "posix");
	ck_assert_str_eq(value_of(b, "root"), "/var/lib/ckptio");
	/* The S3 example is commented out. */
	ck_assert_ptr_null(ckptio__config_backend(cfg, "rgw"));
	ckptio__config_free(cfg);
	free(path);
}
END_TEST

/* The commented-out examples are valid too: uncomment every "#key" and
 * "#[section" line and load the result. */
START_TEST(test_example_config_uncommented)
{
	char *path = example_path(), *line = NULL, *copy;
	FILE *in = fopen(path, "r"), *out;
	ckptio__config *cfg;
	size_t cap = 0;

	ck_assert_ptr_nonnull(in);
	copy = fmt("%s/example.conf", dir);
	out = fopen(copy, "w");
	ck_assert_ptr_nonnull(out);
	while (getline(&line, &cap, in) > 0) {
		int code = line[0] == '#' && (line[1] == '[' ||
					      (line[1] >= 'a' &&
					       line[1] <= 'z'));

		fputs(line + code, out);
	}
	free(line);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_msg(ckptio__config_load(copy, &cfg, err, sizeof(err)) ==
		      CKPTIO_OK, "%s", err);
	ck_assert_str_eq(value_of(ckptio__config_backend(cfg, "rgw"), "store"),
			 "s3");
	ck_assert_str_eq(value_of(ckptio__config_backend(cfg, "local"),
				  "fsync"), "always");
	ck_assert_ptr_nonnull(ckptio__config_store(cfg, "posix"));
	ckptio__config_free(cfg);
	free(copy);
	free(path);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *syn = tcase_create("syntax");
	TCase *errs = tcase_create("errors");
	TCase *env = tcase_create("env");
	TCase *vals = tcase_create("values");
	TCase *search = tcase_create("search");
	TCase *use = tcase_create("use");

	tcase_add_test(syn, test_sections_and_lookup);
	tcase_add_test(syn, test_inline_comments);
	tcase_add_test(syn, test_indented_keys);
	tcase_add_test(syn, test_crlf_bom_and_spacing);
	tcase_add_test(syn, test_long_lines_load);
	tcase_add_test(syn, test_empty_sections_and_files);
	tcase_add_test(errs, test_unknown_key);
	tcase_add_test(errs, test_duplicate_key);
	tcase_add_test(errs, test_duplicate_section);
	tcase_add_test(errs, test_bad_section_name);
	tcase_add_test(errs, test_overlong_section_name);
	tcase_add_test(errs, test_backend_without_store);
	tcase_add_test(errs, test_bad_values);
	tcase_add_test(errs, test_values_expanded_before_checks);
	tcase_add_test(errs, test_default_must_exist);
	tcase_add_test(errs, test_overlong_line);
	tcase_add_test(errs, test_syntax_errors);
	tcase_add_test(errs, test_syntax_error_in_long_line);
	tcase_add_test(errs, test_nul_byte);
	tcase_add_test(errs, test_first_error_wins);
	tcase_add_test(errs, test_unreadable_explicit_file);
	tcase_add_test(errs, test_not_a_regular_file);
	tcase_add_test(errs, test_permission_denied);
	tcase_add_test(errs, test_malformed_references);
	tcase_add_test(env, test_env_expansion);
	tcase_add_test(env, test_unset_variable_recorded);
	tcase_add_test(vals, test_sizes);
	tcase_add_test(vals, test_sizes_rejected);
	tcase_add_test(vals, test_uint);
	tcase_add_test(vals, test_bools);
	tcase_add_test(search, test_search_order);
	tcase_add_test(search, test_search_named_missing_is_error);
	tcase_add_test(search, test_search_nothing_found);
	tcase_add_test(use, test_plugin_path_relative_to_file);
	tcase_add_test(use, test_is_secret_key);
	tcase_add_test(use, test_dump_redacts);
	tcase_add_test(use, test_dump_fails_safe);
	tcase_add_test(use, test_dump_empty);
	tcase_add_test(use, test_check_plugin);
	tcase_add_test(use, test_check_plugin_ok);
	tcase_add_test(use, test_check_plugin_store_section);
	tcase_add_test(use, test_backend_core_keys);
	tcase_add_test(use, test_example_config_loads);
	tcase_add_test(use, test_example_config_uncommented);
	tcase_add_checked_fixture(syn, setup, teardown);
	tcase_add_checked_fixture(errs, setup, teardown);
	tcase_add_checked_fixture(env, setup, teardown);
	tcase_add_checked_fixture(vals, setup, teardown);
	tcase_add_checked_fixture(search, setup, teardown);
	tcase_add_checked_fixture(use, setup, teardown);
	suite_add_tcase(s, syn);
	suite_add_tcase(s, errs);
	suite_add_tcase(s, env);
	suite_add_tcase(s, vals);
	suite_add_tcase(s, search);
	suite_add_tcase(s, use);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
