/*
 * check_awsconf.c - the S3 plugin's lookup of AWS credentials, region and
 * endpoint (plugins/s3/awsconf.c): the order of the environment and the
 * shared files, profiles, sub-sections, and malformed, oversized and
 * hostile files.  Each test gets a fresh HOME and no AWS_* variables.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../plugins/s3/awsconf.h"
#include "testutil.h"

static char *home;
static s3_aws_profile prof;
static char err[512];

static const char *const vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
	"AWS_ENDPOINT_URL_S3", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_CONFIG_FILE", NULL};

static void setup(void)
{
	char *aws;

	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	home = tu_mkdtemp();
	aws = malloc(strlen(home) + 8);
	sprintf(aws, "%s/.aws", home);
	ck_assert_int_eq(mkdir(aws, 0700), 0);
	free(aws);
	memset(&prof, 0, sizeof(prof));
	err[0] = '\0';
}

static void teardown(void)
{
	s3_aws_free(&prof);
	tu_rmrf(home);
	free(home);
}

static void write_aws(const char *name, const char *text)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/.aws/%s", home, name);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
}

static int load(const char *profile)
{
	s3_aws_free(&prof);
	return s3_aws_load(profile, home, &prof, err, sizeof(err));
}

#define EXPECT_ERR(text) \
	ck_assert_msg(strstr(err, text) != NULL, "'%s' lacks '%s'", err, text)

START_TEST(test_nothing_anywhere)
{
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_ptr_null(prof.access_key);
	ck_assert_ptr_null(prof.region);
	ck_assert_ptr_null(prof.endpoint_url);
}
END_TEST

START_TEST(test_environment)
{
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
	write_aws("credentials", "[default]\naws_access_key_id = AKFILE\n"
				 "aws_secret_access_key = SKFILE\n");
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.access_key, "AKENV");
	ck_assert_str_eq(prof.secret_key, "SKENV");
	ck_assert_str_eq(prof.session_token, "TOKENV");
	ck_assert_ptr_nonnull(strstr(prof.cred_source, "environment"));
	/* A profile named by the caller wins over the environment. */
	ck_assert_int_eq(load("default"), 0);
	ck_assert_str_eq(prof.access_key, "AKFILE");
}
END_TEST

START_TEST(test_half_environment)
{
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("AWS_SECRET_ACCESS_KEY is not");
	ck_assert(strstr(err, "AKENV") == NULL);
}
END_TEST

START_TEST(test_default_profile_files)
{
	write_aws("credentials",
		  "# comment\n; another\n[other]\naws_access_key_id = AKO\n"
		  "aws_secret_access_key = SKO\n\n[default]\r\n"
		  "aws_access_key_id=AKD\r\n  aws_secret_access_key   =   SKD  \n");
	write_aws("config", "[default]\nregion = eu-west-3\n"
			    "endpoint_url = http://127.0.0.1:9000\n");
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.access_key, "AKD");
	ck_assert_str_eq(prof.secret_key, "SKD");
	ck_assert_ptr_null(prof.session_token);
	ck_assert_str_eq(prof.region, "eu-west-3");
	ck_assert_str_eq(prof.endpoint_url, "http://127.0.0.1:9000");
	ck_assert_ptr_nonnull(strstr(prof.cred_source, "credentials [default]"));
}
END_TEST

START_TEST(test_named_profiles)
{
	write_aws("credentials", "[ci]\naws_access_key_id = AKCI\n"
				 "aws_secret_access_key = SKCI\n");
	write_aws("config", "[profile dev]\naws_access_key_id = AKDEV\n"
			    "aws_secret_access_key = SKDEV\nregion = ap-south-1\n"
			    "s3 =\n  endpoint_url = http://dev:7480\n"
			    "  addressing_style = path\nother = x\n");
	ck_assert_int_eq(load("ci"), 0);
	ck_assert_str_eq(prof.access_key, "AKCI");
	setenv("AWS_PROFILE", "dev", 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.access_key, "AKDEV");
	ck_assert_str_eq(prof.region, "ap-south-1");
	ck_assert_str_eq(prof.endpoint_url, "http://dev:7480");
	ck_assert_ptr_nonnull(strstr(prof.cred_source, "[profile dev]"));
	ck_assert_int_eq(load("nosuch"), -1);
	EXPECT_ERR("AWS profile 'nosuch' not found");
}
END_TEST

START_TEST(test_credentials_file_first)
{
	write_aws("credentials", "[default]\naws_access_key_id = AKC\n"
				 "aws_secret_access_key = SKC\n");
	write_aws("config", "[default]\naws_access_key_id = AKK\n"
			    "aws_secret_access_key = SKK\n");
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.access_key, "AKC");
}
END_TEST

START_TEST(test_precedence_of_region_and_endpoint)
{
	write_aws("config", "[default]\nregion = file-region\n"
			    "endpoint_url = http://file\n");
	setenv("AWS_DEFAULT_REGION", "default-region", 1);
	setenv("AWS_ENDPOINT_URL", "http://generic", 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.region, "default-region");
	ck_assert_str_eq(prof.endpoint_url, "http://generic");
	setenv("AWS_REGION", "region", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://s3only", 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.region, "region");
	ck_assert_str_eq(prof.endpoint_url, "http://s3only");
}
END_TEST

START_TEST(test_file_variables)
{
	static const char text[] = "[default]\naws_access_key_id=A\n"
				   "aws_secret_access_key=S\n";
	char path[4200];

	snprintf(path, sizeof(path), "%s/creds", home);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.access_key, "A");
}
END_TEST

START_TEST(test_long_session_token)
{
	char *text = malloc(3000), tok[1201];

	memset(tok, 'T', 1200);
	tok[1200] = '\0';
	snprintf(text, 3000, "[default]\naws_access_key_id = AK\n"
		 "aws_secret_access_key = SK\naws_session_token = %s\n", tok);
	write_aws("credentials", text);
	ck_assert_int_eq(load(NULL), 0);
	ck_assert_str_eq(prof.session_token, tok);
	free(text);
}
END_TEST

START_TEST(test_half_key_pair_in_file)
{
	write_aws("credentials", "[default]\naws_access_key_id = AK\n");
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("credentials [default]: aws_access_key_id without "
		   "aws_secret_access_key");
}
END_TEST

START_TEST(test_malformed)
{
	write_aws("credentials", "[default]\naws_access_key_id = AK\n"
				 "this line has secret words and no equals\n");
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("credentials:3: expected 'key = value' or '[section]'");
	ck_assert(strstr(err, "secret words") == NULL);
	write_aws("credentials", "[default\n");
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("credentials:1: section header without ']'");
	write_aws("credentials", "[default]\n = value\n");
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("credentials:2: no key before '='");
}
END_TEST

START_TEST(test_nul_and_size)
{
	char path[4200];
	size_t big = (1u << 20) + 1;
	char *text = malloc(big);

	snprintf(path, sizeof(path), "%s/.aws/config", home);
	ck_assert_int_eq(tu_write_file(path, "[default]\nregion=a\0b\n", 20), 0);
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("NUL byte");
	memset(text, '#', big);
	ck_assert_int_eq(tu_write_file(path, text, big), 0);
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("larger than 1 MiB");
	memset(text, 'x', big);
	text[0] = 'k';
	text[1] = '=';
	ck_assert_int_eq(tu_write_file(path, text, 70000), 0);
	ck_assert_int_eq(load(NULL), -1);
	EXPECT_ERR("config:1: line longer than");
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("awsconf");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nothing_anywhere);
	tcase_add_test(tc, test_environment);
	tcase_add_test(tc, test_half_environment);
	tcase_add_test(tc, test_default_profile_files);
	tcase_add_test(tc, test_named_profiles);
	tcase_add_test(tc, test_credentials_file_first);
	tcase_add_test(tc, test_precedence_of_region_and_endpoint);
	tcase_add_test(tc, test_file_variables);
	tcase_add_test(tc, test_long_session_token);
	tcase_add_test(tc, test_half_key_pair_in_file);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_nul_and_size);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
