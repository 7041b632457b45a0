/*
 * check_awsconf.c - the S3 plugin's AWS settings (plugins/s3/awsconf.c):
 * keys, region and endpoint from the environment, ~/.aws/credentials and
 * ~/.aws/config in the AWS CLI's order, the INI syntax of those files and
 * the exact error messages ("file:line: problem", never a secret).
 *
 * Self-contained: awsconf.c needs only libc.  Each test gets a fresh home
 * directory (passed as the home argument) and an environment without any
 * AWS_* variable.
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

#include "../plugins/s3/awsconf.h"

extern char **environ;

static char *dir;
static char err[1024];
static s3_aws_profile p;

/* ------------------------------------------------------------------------ */
/* Fixture and helpers                                                      */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
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

/* Unset every AWS_* variable (restarting the scan after each unsetenv,
 * which changes environ). */
static void clear_aws_env(void)
{
	for (int again = 1; again;) {
		again = 0;
		for (char **e = environ; *e; e++) {
			char *name;

			if (strncmp(*e, "AWS_", 4) != 0)
				continue;
			name = strndup(*e, strcspn(*e, "="));
			ck_assert_ptr_nonnull(name);
			unsetenv(name);
			free(name);
			again = 1;
			break;
		}
	}
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char *aws;

	dir = fmt("%s/ckptio-awsconf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	aws = fmt("%s/.aws", dir);
	ck_assert_int_eq(mkdir(aws, 0700), 0);
	free(aws);
	clear_aws_env();
	memset(&p, 0, sizeof(p));
	err[0] = '\0';
}

static void teardown(void)
{
	s3_aws_free(&p);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* dir/rel, malloc'd. */
static char *path_of(const char *rel)
{
	return fmt("%s/%s", dir, rel);
}

static void write_n(const char *rel, const char *data, size_t n)
{
	char *path = path_of(rel);
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

static void write_file(const char *rel, const char *text)
{
	write_n(rel, text, strlen(text));
}

static void creds(const char *text)
{
	write_file(".aws/credentials", text);
}

static void config(const char *text)
{
	write_file(".aws/config", text);
}

static void load_ok(const char *profile)
{
	s3_aws_free(&p);
	ck_assert_msg(s3_aws_load(profile, dir, &p, err, sizeof(err)) == 0,
		      "%s", err);
}

/* s with every '@' replaced by dir, malloc'd. */
static char *at_dir(const char *s)
{
	const char *at = strchr(s, '@');
	char *head, *rest, *out;

	if (!at)
		return fmt("%s", s);
	head = fmt("%.*s%s", (int)(at - s), s, dir);
	rest = at_dir(at + 1);
	out = fmt("%s%s", head, rest);
	free(head);
	free(rest);
	return out;
}

/* The load fails with exactly want ('@' stands for dir), leaving out
 * empty. */
static void load_bad(const char *profile, const char *want)
{
	char *exp = at_dir(want);

	s3_aws_free(&p);
	ck_assert_int_eq(s3_aws_load(profile, dir, &p, err, sizeof(err)), -1);
	ck_assert_str_eq(err, exp);
	ck_assert_ptr_null(p.access_key);
	ck_assert_ptr_null(p.secret_key);
	ck_assert_ptr_null(p.session_token);
	ck_assert_ptr_null(p.region);
	ck_assert_ptr_null(p.endpoint_url);
	ck_assert_str_eq(p.cred_source, "");
	free(exp);
}

static void want_keys(const char *ak, const char *sk, const char *token,
		      const char *source)
{
	char *src = at_dir(source);

	ck_assert_str_eq(p.access_key, ak);
	ck_assert_str_eq(p.secret_key, sk);
	if (token)
		ck_assert_str_eq(p.session_token, token);
	else
		ck_assert_ptr_null(p.session_token);
	ck_assert_str_eq(p.cred_source, src);
	free(src);
}

#define ENV_SRC "environment (AWS_ACCESS_KEY_ID)"
#define DEF_CREDS "[default]\naws_access_key_id = AKDEF\n" \
		  "aws_secret_access_key = SKDEF\n"
#define CI_CREDS "[ci]\naws_access_key_id = AKCI\n" \
		 "aws_secret_access_key = SKCI\naws_session_token = TKCI\n"

/* ------------------------------------------------------------------------ */
/* Keys from the environment                                                */

START_TEST(test_env_keys_only)
{
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	load_ok(NULL);
	want_keys("AKENV", "SKENV", NULL, ENV_SRC);
	ck_assert_ptr_null(p.region);
	ck_assert_ptr_null(p.endpoint_url);
}
END_TEST

START_TEST(test_env_session_token)
{
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_SESSION_TOKEN", "TKENV", 1);
	load_ok(NULL);
	want_keys("AKENV", "SKENV", "TKENV", ENV_SRC);
	setenv("AWS_SESSION_TOKEN", "", 1); /* empty is unset */
	load_ok(NULL);
	want_keys("AKENV", "SKENV", NULL, ENV_SRC);
}
END_TEST

START_TEST(test_env_half_pair)
{
	creds(DEF_CREDS); /* no fallback to the files */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	load_bad(NULL, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY "
		 "is not (set both or neither)");
	setenv("AWS_SECRET_ACCESS_KEY", "", 1);
	load_bad(NULL, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY "
		 "is not (set both or neither)");
	unsetenv("AWS_ACCESS_KEY_ID");
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	load_bad(NULL, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID "
		 "is not (set both or neither)");
	ck_assert_ptr_null(strstr(err, "SKENV"));
	/* An explicit profile ignores the environment's keys. */
	load_ok("default");
	want_keys("AKDEF", "SKDEF", NULL, "@/.aws/credentials [default]");
}
END_TEST

/* The environment beats AWS_PROFILE; an explicit profile beats both. */
START_TEST(test_env_versus_profiles)
{
	creds(DEF_CREDS CI_CREDS);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_SESSION_TOKEN", "TKENV", 1);
	load_ok(NULL);
	want_keys("AKENV", "SKENV", "TKENV", ENV_SRC);
	setenv("AWS_PROFILE", "ci", 1);
	load_ok(NULL);
	want_keys("AKENV", "SKENV", "TKENV", ENV_SRC);
	load_ok("ci");
	want_keys("AKCI", "SKCI", "TKCI", "@/.aws/credentials [ci]");
	load_ok("default"); /* the env token does not join file keys */
	want_keys("AKDEF", "SKDEF", NULL, "@/.aws/credentials [default]");
	/* AWS_PROFILE must still exist when the env has the keys. */
	setenv("AWS_PROFILE", "gone", 1);
	load_bad(NULL, "AWS profile 'gone' not found in @/.aws/credentials "
		 "or @/.aws/config");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Keys from the files                                                      */

START_TEST(test_default_from_credentials)
{
	creds(DEF_CREDS CI_CREDS);
	load_ok(NULL);
	want_keys("AKDEF", "SKDEF", NULL, "@/.aws/credentials [default]");
}
END_TEST

START_TEST(test_named_profile_argument)
{
	creds(DEF_CREDS CI_CREDS);
	load_ok("ci");
	want_keys("AKCI", "SKCI", "TKCI", "@/.aws/credentials [ci]");
}
END_TEST

START_TEST(test_named_profile_env)
{
	creds(DEF_CREDS CI_CREDS);
	setenv("AWS_PROFILE", "ci", 1);
	load_ok(NULL);
	want_keys("AKCI", "SKCI", "TKCI", "@/.aws/credentials [ci]");
	setenv("AWS_PROFILE", "", 1); /* empty is unset */
	load_ok(NULL);
	want_keys("AKDEF", "SKDEF", NULL, "@/.aws/credentials [default]");
}
END_TEST

START_TEST(test_config_profile_keys)
{
	config("[default]\nregion = us-east-2\n"
	       "[profile ci]\naws_access_key_id = AKC\n"
	       "aws_secret_access_key = SKC\naws_session_token = TKC\n"
	       "[ci]\naws_access_key_id = NOT_A_PROFILE\n"
	       "aws_secret_access_key = NOT_A_PROFILE\n");
	load_ok("ci");
	want_keys("AKC", "SKC", "TKC", "@/.aws/config [profile ci]");
	ck_assert_ptr_null(p.region); /* [default] is another profile */
	/* Blanks and quotes in the header as botocore's shlex allows. */
	config("[profile \t \"my ci\"]\naws_access_key_id = AKQ\n"
	       "aws_secret_access_key = SKQ\n");
	load_ok("my ci");
	want_keys("AKQ", "SKQ", NULL, "@/.aws/config [profile \t \"my ci\"]");
}
END_TEST

START_TEST(test_config_default_sections)
{
	config("[default]\naws_access_key_id = AKD\n"
	       "aws_secret_access_key = SKD\n");
	load_ok(NULL);
	want_keys("AKD", "SKD", NULL, "@/.aws/config [default]");
	config("[profile default]\naws_access_key_id = AKPD\n"
	       "aws_secret_access_key = SKPD\n");
	load_ok("default");
	want_keys("AKPD", "SKPD", NULL, "@/.aws/config [profile default]");
}
END_TEST

/* The credentials file's pair wins whole: no token from the config. */
START_TEST(test_credentials_override_config)
{
	creds("[ci]\naws_access_key_id = AKCRED\n"
	      "aws_secret_access_key = SKCRED\n");
	config("[profile ci]\naws_access_key_id = AKCONF\n"
	       "aws_secret_access_key = SKCONF\naws_session_token = TKCONF\n"
	       "region = eu-north-1\n");
	load_ok("ci");
	want_keys("AKCRED", "SKCRED", NULL, "@/.aws/credentials [ci]");
	ck_assert_str_eq(p.region, "eu-north-1");
	/* A profile without keys in the credentials file falls through. */
	creds("[ci]\nregion = ap-south-1\n");
	load_ok("ci");
	want_keys("AKCONF", "SKCONF", "TKCONF", "@/.aws/config [profile ci]");
	ck_assert_str_eq(p.region, "ap-south-1"); /* merged as botocore */
}
END_TEST

START_TEST(test_file_variables)
{
	char *other = path_of("other-creds");

	creds(DEF_CREDS);
	config("[default]\nregion = us-west-1\n");
	write_file("other-creds", "[default]\naws_access_key_id = AKO\n"
		   "aws_secret_access_key = SKO\n");
	write_file("other-conf", "[default]\nregion = sa-east-1\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", other, 1);
	setenv("AWS_CONFIG_FILE", "~/other-conf", 1);
	load_ok(NULL);
	want_keys("AKO", "SKO", NULL, "@/other-creds [default]");
	ck_assert_str_eq(p.region, "sa-east-1");
	/* Pointing at files that do not exist hides the default ones. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/nothing/here", 1);
	setenv("AWS_CONFIG_FILE", "/dev/null", 1);
	load_ok(NULL);
	ck_assert_ptr_null(p.access_key);
	ck_assert_ptr_null(p.region);
	ck_assert_str_eq(p.cred_source, "");
	load_bad("default", "AWS profile 'default' not found in "
		 "@/nothing/here or /dev/null");
	free(other);
}
END_TEST

START_TEST(test_missing_files_fine)
{
	load_ok(NULL);
	ck_assert_ptr_null(p.access_key);
	ck_assert_ptr_null(p.secret_key);
	ck_assert_ptr_null(p.session_token);
	ck_assert_ptr_null(p.region);
	ck_assert_ptr_null(p.endpoint_url);
	ck_assert_str_eq(p.cred_source, "");
	/* Nor is a profile without keys. */
	creds("[ci]\n");
	load_ok("ci");
	ck_assert_ptr_null(p.access_key);
}
END_TEST

START_TEST(test_missing_named_profile)
{
	load_bad("nope", "AWS profile 'nope' not found in @/.aws/credentials "
		 "or @/.aws/config");
	/* [nope] in the config and [profile nope] in the credentials file
	 * are other sections. */
	creds(DEF_CREDS "[profile nope]\n");
	config("[nope]\n[profile nope2]\n");
	setenv("AWS_PROFILE", "nope", 1);
	load_bad(NULL, "AWS profile 'nope' not found in @/.aws/credentials "
		 "or @/.aws/config");
	load_ok("nope2");
	/* "default" unnamed may be missing. */
	unsetenv("AWS_PROFILE");
	creds("");
	config("");
	load_ok(NULL);
}
END_TEST

START_TEST(test_half_pair_in_files)
{
	creds("[default]\naws_access_key_id = AKONLY\n");
	load_bad(NULL, "@/.aws/credentials:2: [default] has "
		 "aws_access_key_id but no aws_secret_access_key");
	creds("");
	config("# ci\n[profile ci]\naws_secret_access_key = SECRETONLY\n");
	load_bad("ci", "@/.aws/config:3: [profile ci] has "
		 "aws_secret_access_key but no aws_access_key_id");
	ck_assert_ptr_null(strstr(err, "SECRETONLY"));
	/* A half pair in the credentials file does not fall through. */
	creds("[ci]\naws_secret_access_key = SECRETONLY\n");
	config("[profile ci]\naws_access_key_id = AK\n"
	       "aws_secret_access_key = SK\n");
	load_bad("ci", "@/.aws/credentials:2: [ci] has "
		 "aws_secret_access_key but no aws_access_key_id");
}
END_TEST

START_TEST(test_long_session_token)
{
	char token[1201], *text;

	for (int i = 0; i < 1200; i++)
		token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789+/="[i % 65];
	token[1200] = '\0';
	text = fmt("[default]\naws_access_key_id = ASIAX\n"
		   "aws_secret_access_key = SKX\naws_session_token = %s\n",
		   token);
	creds(text);
	load_ok(NULL);
	want_keys("ASIAX", "SKX", token, "@/.aws/credentials [default]");
	ck_assert_uint_eq(strlen(p.session_token), 1200);
	free(text);
}
END_TEST

START_TEST(test_line_limit)
{
	size_t n = 64 << 10;
	char *line = malloc(n + 2), *text;

	ck_assert_ptr_nonnull(line);
	memcpy(line, "region = ", 9);
	memset(line + 9, 'r', n - 9);
	line[n] = '\0';
	text = fmt("[default]\n%s\n", line); /* exactly 64 KiB: fine */
	config(text);
	load_ok(NULL);
	ck_assert_uint_eq(strlen(p.region), n - 9);
	free(text);
	line[n] = 'r';
	line[n + 1] = '\0';
	text = fmt("[default]\n%s\n", line);
	config(text);
	load_bad(NULL, "@/.aws/config:2: line longer than 64 KiB");
	free(text);
	free(line);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Region and endpoint                                                      */

START_TEST(test_region_precedence)
{
	config("[default]\nregion = eu-west-1\n");
	load_ok(NULL);
	ck_assert_str_eq(p.region, "eu-west-1");
	setenv("AWS_DEFAULT_REGION", "eu-west-2", 1);
	load_ok(NULL);
	ck_assert_str_eq(p.region, "eu-west-2");
	setenv("AWS_REGION", "eu-west-3", 1);
	load_ok(NULL);
	ck_assert_str_eq(p.region, "eu-west-3");
	setenv("AWS_REGION", "", 1);
	load_ok(NULL);
	ck_assert_str_eq(p.region, "eu-west-2");
	/* From the env when the keys are, too. */
	unsetenv("AWS_DEFAULT_REGION");
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	load_ok(NULL);
	ck_assert_str_eq(p.region, "eu-west-1");
}
END_TEST

START_TEST(test_endpoint_precedence)
{
	config("[default]\nendpoint_url = http://global:1\n"
	       "services = local\n"
	       "[services local]\ndynamodb =\n  endpoint_url = http://ddb:2\n"
	       "s3 =\n  endpoint_url = http://svc:3\n"
	       "  addressing_style = path\n");
	load_ok(NULL);
	ck_assert_str_eq(p.endpoint_url, "http://svc:3");
	setenv("AWS_ENDPOINT_URL", "http://env:4", 1);
	load_ok(NULL);
	ck_assert_str_eq(p.endpoint_url, "http://env:4");
	setenv("AWS_ENDPOINT_URL_S3", "http://env-s3:5", 1);
	load_ok(NULL);
	ck_assert_str_eq(p.endpoint_url, "http://env-s3:5");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
	load_ok(NULL);
	ck_assert_ptr_null(p.endpoint_url);
	clear_aws_env();
	/* No s3 in the services section: the profile's endpoint_url. */
	config("[default]\nendpoint_url = http://global:1\n"
	       "services = local\n"
	       "[services local]\ndynamodb =\n  endpoint_url = http://ddb:2\n");
	load_ok(NULL);
	ck_assert_str_eq(p.endpoint_url, "http://global:1");
	config("[default]\nendpoint_url = http://global:1\n"
	       "ignore_configured_endpoint_urls = true\n");
	load_ok(NULL);
	ck_assert_ptr_null(p.endpoint_url);
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1);
	load_ok(NULL);
	ck_assert_str_eq(p.endpoint_url, "http://global:1");
}
END_TEST

START_TEST(test_services_section_missing)
{
	config("[profile ci]\nservices = nowhere\n"
	       "[services elsewhere]\ns3 =\n  endpoint_url = http://x\n");
	load_bad("ci", "@/.aws/config:2: services = nowhere, but "
		 "@/.aws/config has no [services nowhere] section");
	setenv("AWS_ENDPOINT_URL_S3", "http://env", 1); /* not needed then */
	load_ok("ci");
	ck_assert_str_eq(p.endpoint_url, "http://env");
}
END_TEST

/* Indented lines under "key =" belong to it, never to the profile. */
START_TEST(test_subsections_not_top_level)
{
	config("[default]\ns3 =\n  aws_access_key_id = BAD\n"
	       "  region = bad\n\n  # comment\n  endpoint_url = http://bad\n"
	       "region = good\ns3 =\n\tmax_concurrent_requests = 20\n");
	load_ok(NULL);
	ck_assert_ptr_null(p.access_key);
	ck_assert_str_eq(p.region, "good");
	ck_assert_ptr_null(p.endpoint_url);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Syntax                                                                   */

START_TEST(test_comments_and_blanks)
{
	creds("# a comment\n; another\n\n[default]   ; trailing comment\n"
	      "   # indented comment\n"
	      "aws_access_key_id=AKB\n"
	      "aws_secret_access_key   =\t SK B/+= \t\n"
	      "\t\n"
	      "aws_session_token = # not a comment\n"
	      "unknown_key = ignored\n");
	config("[ default ]\n  region:  us-east-1  \n");
	load_ok(NULL);
	want_keys("AKB", "SK B/+=", "# not a comment",
		  "@/.aws/credentials [default]");
	ck_assert_str_eq(p.region, "us-east-1");
}
END_TEST

/* botocore (configparser) takes key names in any case. */
START_TEST(test_key_names_any_case)
{
	creds("[default]\nAWS_ACCESS_KEY_ID = AKU\nAws_Secret_Access_Key = SKU\n");
	config("[default]\nRegion = ca-central-1\n");
	load_ok(NULL);
	want_keys("AKU", "SKU", NULL, "@/.aws/credentials [default]");
	ck_assert_str_eq(p.region, "ca-central-1");
	/* Section names are exact. */
	load_bad("DEFAULT", "AWS profile 'DEFAULT' not found in "
		 "@/.aws/credentials or @/.aws/config");
}
END_TEST

START_TEST(test_crlf_and_bom)
{
	creds("\xef\xbb\xbf[default]\r\naws_access_key_id = AKW\r\n"
	      "aws_secret_access_key = SKW\r\n\r\n[ci]\r\nregion = x\r\n");
	config("[default]\r\nregion = eu-central-1\r\ns3 =\r\n"
	       "  endpoint_url = http://n\r\n");
	load_ok(NULL);
	want_keys("AKW", "SKW", NULL, "@/.aws/credentials [default]");
	ck_assert_str_eq(p.region, "eu-central-1");
	/* Line numbers count CRLF once (and a lone CR as a line end). */
	config("[default]\r\n\r\nregion = a\rbad line\r\n");
	load_bad(NULL, "@/.aws/config:4: expected 'key = value' or "
		 "'[section]'");
}
END_TEST

START_TEST(test_malformed_line)
{
	creds("[default]\naws_access_key_id = AK\n"
	      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
	load_bad(NULL, "@/.aws/credentials:3: expected 'key = value' or "
		 "'[section]'");
	ck_assert_ptr_null(strstr(err, "EXAMPLEKEY"));
}
END_TEST

START_TEST(test_syntax_errors)
{
	config("[default\nregion = x\n");
	load_bad(NULL, "@/.aws/config:1: '[' without ']'");
	config("\n[]\n");
	load_bad(NULL, "@/.aws/config:2: empty section name '[]'");
	config("[default] region = x\n");
	load_bad(NULL, "@/.aws/config:1: unexpected text after ']'");
	config("[default]\n = x\n");
	load_bad(NULL, "@/.aws/config:2: no key before '='");
	config("[default]\n: x\n");
	load_bad(NULL, "@/.aws/config:2: no key before ':'");
	config("region = x\n[default]\n");
	load_bad(NULL, "@/.aws/config:1: 'key = value' before the first "
		 "'[section]'");
	config("[default]\nregion = us-east-1\n  output = json\n");
	load_bad(NULL, "@/.aws/config:3: indented line continues the value "
		 "of the key on line 2 (multi-line values are not supported; "
		 "remove the indentation)");
	config("[default]\ns3 =\n  SECRET\n");
	load_bad(NULL, "@/.aws/config:3: expected 'key = value' in the "
		 "sub-section of line 2");
	config("[default]\ns3 =\n  = v\n");
	load_bad(NULL, "@/.aws/config:3: no key before '='");
	/* Errors in other profiles' sections count too, as for the CLI. */
	config("[profile other]\nbroken\n");
	load_bad(NULL, "@/.aws/config:2: expected 'key = value' or "
		 "'[section]'");
}
END_TEST

/* Indented keys at the same depth are plain keys (as in configparser). */
START_TEST(test_indented_keys)
{
	creds("[default]\n  aws_access_key_id = AKI\n"
	      "  aws_secret_access_key = SKI\n");
	load_ok(NULL);
	want_keys("AKI", "SKI", NULL, "@/.aws/credentials [default]");
}
END_TEST

START_TEST(test_file_too_big)
{
	size_t n = 1u << 20;
	char *big = malloc(n + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, '#', n + 1);
	for (size_t i = 99; i <= n; i += 100)
		big[i] = '\n'; /* comment lines */
	memcpy(big, "[default]\nregion = r\n", 21);
	write_n(".aws/config", big, n); /* exactly 1 MiB: fine */
	load_ok(NULL);
	ck_assert_str_eq(p.region, "r");
	write_n(".aws/config", big, n + 1);
	load_bad(NULL, "@/.aws/config: larger than 1 MiB; not an AWS config "
		 "file?");
	free(big);
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] = "[default]\r\n\rregion = a\0b\n";

	write_n(".aws/credentials", text, sizeof(text) - 1);
	load_bad(NULL, "@/.aws/credentials:3: NUL byte; not a text file?");
}
END_TEST

START_TEST(test_unreadable)
{
	char *d = path_of(".aws/config");

	ck_assert_int_eq(mkdir(d, 0700), 0);
	load_bad(NULL, "@/.aws/config: is a directory, not a file");
	ck_assert_int_eq(rmdir(d), 0);
	free(d);
	if (geteuid() == 0)
		return; /* root reads anything */
	config("[default]\n");
	d = path_of(".aws/config");
	ck_assert_int_eq(chmod(d, 0), 0);
	load_bad(NULL, "@/.aws/config: Permission denied");
	free(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The API                                                                  */

START_TEST(test_api_edges)
{
	s3_aws_profile q;
	char small[8], *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	creds(DEF_CREDS);
	/* HOME when home is NULL. */
	setenv("HOME", dir, 1);
	ck_assert_int_eq(s3_aws_load(NULL, NULL, &q, err, sizeof(err)), 0);
	if (home)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	free(home);
	ck_assert_str_eq(q.access_key, "AKDEF");
	s3_aws_free(&q);
	s3_aws_free(&q); /* twice is harmless */
	ck_assert_ptr_null(q.secret_key);
	s3_aws_free(NULL);
	/* No room for the message, or none at all. */
	config("[default\n");
	ck_assert_int_eq(s3_aws_load(NULL, dir, &q, small, sizeof(small)), -1);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(s3_aws_load(NULL, dir, &q, NULL, 0), -1);
	ck_assert_ptr_null(q.access_key);
}
END_TEST

static Suite *awsconf_suite(void)
{
	Suite *s = suite_create("awsconf");
	TCase *envs = tcase_create("environment");
	TCase *files = tcase_create("files");
	TCase *sets = tcase_create("region and endpoint");
	TCase *syn = tcase_create("syntax");
	TCase *api = tcase_create("api");

	tcase_add_test(envs, test_env_keys_only);
	tcase_add_test(envs, test_env_session_token);
	tcase_add_test(envs, test_env_half_pair);
	tcase_add_test(envs, test_env_versus_profiles);
	tcase_add_test(files, test_default_from_credentials);
	tcase_add_test(files, test_named_profile_argument);
	tcase_add_test(files, test_named_profile_env);
	tcase_add_test(files, test_config_profile_keys);
	tcase_add_test(files, test_config_default_sections);
	tcase_add_test(files, test_credentials_override_config);
	tcase_add_test(files, test_file_variables);
	tcase_add_test(files, test_missing_files_fine);
	tcase_add_test(files, test_missing_named_profile);
	tcase_add_test(files, test_half_pair_in_files);
	tcase_add_test(files, test_long_session_token);
	tcase_add_test(files, test_line_limit);
	tcase_add_test(sets, test_region_precedence);
	tcase_add_test(sets, test_endpoint_precedence);
	tcase_add_test(sets, test_services_section_missing);
	tcase_add_test(sets, test_subsections_not_top_level);
	tcase_add_test(syn, test_comments_and_blanks);
	tcase_add_test(syn, test_key_names_any_case);
	tcase_add_test(syn, test_crlf_and_bom);
	tcase_add_test(syn, test_malformed_line);
	tcase_add_test(syn, test_syntax_errors);
	tcase_add_test(syn, test_indented_keys);
	tcase_add_test(syn, test_file_too_big);
	tcase_add_test(syn, test_nul_byte);
	tcase_add_test(syn, test_unreadable);
	tcase_add_test(api, test_api_edges);
	tcase_add_checked_fixture(envs, setup, teardown);
	tcase_add_checked_fixture(files, setup, teardown);
	tcase_add_checked_fixture(sets, setup, teardown);
	tcase_add_checked_fixture(syn, setup, teardown);
	tcase_add_checked_fixture(api, setup, teardown);
	suite_add_tcase(s, envs);
	suite_add_tcase(s, files);
	suite_add_tcase(s, sets);
	suite_add_tcase(s, syn);
	suite_add_tcase(s, api);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(awsconf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
