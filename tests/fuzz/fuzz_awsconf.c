/*
 * fuzz_awsconf.c - the S3 plugin's reader of ~/.aws/credentials and
 * ~/.aws/config (plugins/s3/awsconf.c).  The input is the credentials
 * file, a NUL byte, then the config file (no NUL: there is no config
 * file); both are written under a private temporary home directory and
 * loaded with s3_aws_load for the default profile and for the profile
 * "ci", with no AWS_* variable set.  What loads must keep awsconf.h's
 * promises (keys in pairs, values trimmed and on one line); a failure must
 * leave nothing behind, say why and never quote a secret.
 */
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../plugins/s3/awsconf.h"
#include "fuzz.h"

extern char **environ;

static char home[4096], cred[4096 + 32], conf[4096 + 32];

static void cleanup(void)
{
	char aws[sizeof(home) + 8];

	unlink(cred);
	unlink(conf);
	snprintf(aws, sizeof(aws), "%s/.aws", home);
	rmdir(aws);
	rmdir(home);
}

/* Unset every AWS_* variable (rescanning after each unsetenv, which
 * changes environ). */
static void clear_aws_env(void)
{
	for (char **e = environ; *e;) {
		if (strncmp(*e, "AWS_", 4) == 0) {
			char *name = strndup(*e, strcspn(*e, "="));

			if (!name || unsetenv(name) != 0)
				exit(1);
			free(name);
			e = environ;
		} else {
			e++;
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char aws[sizeof(home) + 8];

	(void)argc;
	(void)argv;
	fuzz_mkdtemp(home, sizeof(home), "ckptio-fuzz-awsconf");
	snprintf(aws, sizeof(aws), "%s/.aws", home);
	if (mkdir(aws, 0700) != 0) {
		perror("fuzz_awsconf: making a home directory");
		exit(1);
	}
	snprintf(cred, sizeof(cred), "%s/credentials", aws);
	snprintf(conf, sizeof(conf), "%s/config", aws);
	atexit(cleanup);
	clear_aws_env();
	return 0;
}

static void write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror("fuzz_awsconf: writing the input");
		exit(1);
	}
}

/* One line, trimmed, not empty; NULL is fine. */
static void check_value(const char *what, const char *v)
{
	size_t n = v ? strlen(v) : 1;

	FUZZ_CHECK(!v || (n > 0 && !strpbrk(v, "\r\n") && v[0] != ' ' &&
			  v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t'),
		   "%s is empty, untrimmed or spans lines", what);
}

/* One load; its result must keep awsconf.h's promises.  The rc is
 * returned, and a failure's message is left in err. */
static int load(const char *profile, char *err, size_t errlen)
{
	s3_aws_profile p;
	int rc;

	err[0] = '\0';
	rc = s3_aws_load(profile, home, &p, err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -1, "s3_aws_load returned %d", rc);
	if (rc != 0) {
		FUZZ_CHECK(*err, "failed load without a message");
		FUZZ_CHECK(!p.access_key && !p.secret_key && !p.session_token &&
				   !p.region && !p.endpoint_url &&
				   !p.cred_source[0],
			   "failed load left results: %s", err);
		return rc;
	}
	FUZZ_CHECK(!p.access_key == !p.secret_key &&
			   (!p.session_token || p.access_key) &&
			   !p.access_key == !p.cred_source[0],
		   "keys not in pairs, or without a source (%s)",
		   p.cred_source);
	check_value("access key", p.access_key);
	check_value("secret key", p.secret_key);
	check_value("session token", p.session_token);
	check_value("region", p.region);
	check_value("endpoint", p.endpoint_url);
	s3_aws_free(&p);
	s3_aws_free(&p); /* harmless twice */
	FUZZ_CHECK(!p.access_key && !p.cred_source[0], "free left results");
	return 0;
}

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* Overwrite with 'Q's the value of line [line, end) when the line sets
 * aws_secret_access_key or aws_session_token (split where awsconf.c
 * splits it, at the top level or in a sub-section); 1 when it did. */
static int mask_line(char *line, const char *end)
{
	static const char *const keys[] = {"aws_secret_access_key",
					   "aws_session_token"};
	const char *k = skip_blanks(line, end), *v;
	char *val;
	size_t n;

	for (size_t i = 0; i < 2; i++) {
		n = strlen(keys[i]);
		if ((size_t)(end - k) <= n || strncasecmp(k, keys[i], n) != 0)
			continue;
		v = skip_blanks(k + n, end);
		if (v == end || (*v != '=' && *v != ':'))
			return 0;
		val = (char *)skip_blanks(v + 1, end);
		n = (size_t)(end - val);
		while (n && (val[n - 1] == ' ' || val[n - 1] == '\t'))
			n--;
		/* After ':', an '=' in the value would split a sub-section's
		 * line elsewhere. */
		if (n == 0 || (*v == ':' && memchr(val, '=', n)))
			return 0;
		memset(val, 'Q', n);
		return 1;
	}
	return 0;
}

/* The input with every secret value masked (mask_line), malloc'd; NULL
 * when it has none. */
static uint8_t *mask_secrets(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1), *stop = copy + size;
	int masked = 0;

	if (!copy)
		return NULL;
	memcpy(copy, data, size);
	for (char *line = copy; line < stop;) {
		char *end = line;

		while (end < stop && *end != '\n' && *end != '\r' && *end)
			end++;
		masked |= mask_line(line, end);
		line = end + 1;
	}
	if (!masked) {
		free(copy);
		return NULL;
	}
	return (uint8_t *)copy;
}

/* Write the credentials file, and the config file after a NUL. */
static void write_input(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t clen = nul ? (size_t)(nul - data) : size;

	write_file(cred, data, clen);
	if (nul)
		write_file(conf, nul + 1, size - clen - 1);
	else
		unlink(conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const profiles[] = {NULL, "ci"};
	char err[2][1024], again[1024];
	int rc[2];
	uint8_t *masked;

	write_input(data, size);
	for (int i = 0; i < 2; i++)
		rc[i] = load(profiles[i], err[i], sizeof(err[i]));
	if (!rc[0] && !rc[1])
		return 0;
	/* awsconf.c only checks that a secret is not empty: with other
	 * secrets of the same length it must fail the same way, with the
	 * same message, unless the message quotes a secret. */
	masked = mask_secrets(data, size);
	if (!masked)
		return 0;
	write_input(masked, size);
	for (int i = 0; i < 2; i++)
		if (rc[i])
			FUZZ_CHECK(load(profiles[i], again, sizeof(again)) == -1 &&
					   strcmp(again, err[i]) == 0,
				   "the message depends on a secret's value: "
				   "'%s', with other secrets '%s'", err[i], again);
	free(masked);
	return 0;
}
