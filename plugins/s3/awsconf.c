/*
 * awsconf.c - AWS credentials, region and endpoint from the environment
 * and the shared files (see awsconf.h).
 *
 * The files are INI as botocore reads them: "[section]" headers, "key =
 * value" lines, '#' and ';' comment lines, and sub-sections: a key with an
 * empty value ("s3 =") followed by indented "key = value" lines.  A file is
 * read whole (at most 1 MiB) and parsed in memory.  Messages name the file
 * and line but never quote a line, which may hold a secret.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsconf.h"

#define MAX_FILE (1u << 20)
#define MAX_LINE (64u << 10)

/* What one file holds for the profile. */
typedef struct found {
	char *ak, *sk, *token, *region, *endpoint;
	int seen; /* the profile's section exists */
} found;

static void found_free(found *f)
{
	free(f->ak);
	if (f->sk)
		memset(f->sk, 0, strlen(f->sk));
	free(f->sk);
	free(f->token);
	free(f->region);
	free(f->endpoint);
	memset(f, 0, sizeof(*f));
}

static char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? (char *)v : NULL;
}

/* Strip blanks at both ends, in place. */
static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* The whole file, NUL-terminated; NULL with *missing set when it does not
 * exist, NULL with err set on other problems. */
static char *slurp(const char *path, int *missing, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*missing = 0;
	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR) {
			*missing = 1;
			return NULL;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MAX_FILE + 2);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	n = fread(buf, 1, MAX_FILE + 1, f);
	if (ferror(f) || n > MAX_FILE) {
		snprintf(err, errlen, ferror(f) ? "%s: read error"
						: "%s: larger than 1 MiB; "
						  "not an AWS config file?",
			 path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (memchr(buf, '\0', n)) {
		snprintf(err, errlen, "%s: NUL byte: not a text file", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static int set(char **slot, const char *v, const char *path, char *err,
	       size_t errlen)
{
	char *d = strdup(v);

	if (!d) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	free(*slot);
	*slot = d;
	return 0;
}

/* One key of the profile's section (parent: the open sub-section, or
 * NULL). */
static int take(found *f, const char *parent, const char *key,
		const char *value, const char *path, char *err, size_t errlen)
{
	if (parent) {
		if (strcmp(parent, "s3") == 0 && strcmp(key, "endpoint_url") == 0)
			return set(&f->endpoint, value, path, err, errlen);
		return 0;
	}
	if (strcmp(key, "aws_access_key_id") == 0)
		return set(&f->ak, value, path, err, errlen);
	if (strcmp(key, "aws_secret_access_key") == 0)
		return set(&f->sk, value, path, err, errlen);
	if (strcmp(key, "aws_session_token") == 0)
		return set(&f->token, value, path, err, errlen);
	if (strcmp(key, "region") == 0)
		return set(&f->region, value, path, err, errlen);
	if (strcmp(key, "endpoint_url") == 0 && !f->endpoint)
		return set(&f->endpoint, value, path, err, errlen);
	return 0;
}

/* Parse text (of path) and collect the keys of section want or want2. */
static int parse(char *text, const char *path, const char *want,
		 const char *want2, found *f, char *err, size_t errlen)
{
	char parent[64] = "";
	int in = 0, lineno = 0;

	for (char *line = text, *next; line; line = next) {
		char *s, *eq;
		int indented = *line == ' ' || *line == '\t';

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (strlen(line) > MAX_LINE) {
			snprintf(err, errlen, "%s:%d: line longer than %u bytes",
				 path, lineno, MAX_LINE);
			return -1;
		}
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			size_t n = strlen(s);

			if (s[n - 1] != ']') {
				snprintf(err, errlen, "%s:%d: section header "
					 "without ']'", path, lineno);
				return -1;
			}
			s[n - 1] = '\0';
			s = trim(s + 1);
			in = strcmp(s, want) == 0 || (want2 && strcmp(s, want2) == 0);
			f->seen |= in;
			parent[0] = '\0';
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected 'key = value' or "
				 "'[section]'", path, lineno);
			return -1;
		}
		*eq = '\0';
		s = trim(s);
		if (!*s) {
			snprintf(err, errlen, "%s:%d: no key before '='", path,
				 lineno);
			return -1;
		}
		if (!indented)
			parent[0] = '\0';
		if (!indented && !*trim(eq + 1)) {
			/* "s3 =": the indented lines below belong to it. */
			snprintf(parent, sizeof(parent), "%s", s);
			continue;
		}
		if (in && take(f, indented && parent[0] ? parent : NULL, s,
			       trim(eq + 1), path, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* Read path (missing is fine) for the section(s). */
static int scan(const char *path, const char *want, const char *want2,
		found *f, char *err, size_t errlen)
{
	int missing, rc;
	char *text = slurp(path, &missing, err, errlen);

	if (!text)
		return missing ? 0 : -1;
	rc = parse(text, path, want, want2, f, err, errlen);
	free(text);
	return rc;
}

/* $VAR, or HOME/def; "~/" expanded.  malloc'd. */
static char *file_path(const char *var, const char *home, const char *def)
{
	const char *v = env(var);
	char *out = NULL;

	if (v && strncmp(v, "~/", 2) == 0) {
		if (asprintf(&out, "%s/%s", home, v + 2) < 0)
			out = NULL;
	} else if (v) {
		out = strdup(v);
	} else if (asprintf(&out, "%s/%s", home, def) < 0) {
		out = NULL;
	}
	return out;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Move *from to *to when *to is empty. */
static void adopt(char **to, char **from)
{
	if (!*to && *from) {
		*to = *from;
		*from = NULL;
	}
}

int s3_aws_load(const char *profile, const char *home, s3_aws_profile *out,
		char *err, size_t errlen)
{
	const char *name = profile ? profile : env("AWS_PROFILE");
	int named = name != NULL;
	char *cred_path = NULL, *conf_path = NULL, *sect = NULL;
	found cf = {0}, pf = {0};
	const char *eak = env("AWS_ACCESS_KEY_ID");
	const char *esk = env("AWS_SECRET_ACCESS_KEY");
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!name)
		name = "default";
	if (!home)
		home = env("HOME") ? env("HOME") : "/";
	if (!!eak != !!esk && !profile) {
		snprintf(err, errlen, "%s is set but %s is not",
			 eak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			 eak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -1;
	}
	cred_path = file_path("AWS_SHARED_CREDENTIALS_FILE", home,
			      ".aws/credentials");
	conf_path = file_path("AWS_CONFIG_FILE", home, ".aws/config");
	if (!cred_path || !conf_path ||
	    asprintf(&sect, "profile %s", name) < 0) {
		sect = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (scan(cred_path, name, NULL, &cf, err, errlen) != 0 ||
	    scan(conf_path, sect, strcmp(name, "default") == 0 ? "default" : NULL,
		 &pf, err, errlen) != 0)
		goto out;
	if (named && !cf.seen && !pf.seen) {
		snprintf(err, errlen, "AWS profile '%s' not found in %s or %s",
			 name, cred_path, conf_path);
		goto out;
	}
	if (eak && esk && !profile) {
		out->access_key = strdup(eak);
		out->secret_key = strdup(esk);
		out->session_token = dup_or_null(env("AWS_SESSION_TOKEN"));
		snprintf(out->cred_source, sizeof(out->cred_source),
			 "the environment (AWS_ACCESS_KEY_ID)");
	} else {
		found *src = cf.ak || cf.sk ? &cf : &pf;
		const char *p = src == &cf ? cred_path : conf_path;

		if (!!src->ak != !!src->sk) {
			snprintf(err, errlen, "%s [%s]: %s without %s", p,
				 src == &cf ? name : sect,
				 src->ak ? "aws_access_key_id"
					 : "aws_secret_access_key",
				 src->ak ? "aws_secret_access_key"
					 : "aws_access_key_id");
			goto out;
		}
		adopt(&out->access_key, &src->ak);
		adopt(&out->secret_key, &src->sk);
		adopt(&out->session_token, &src->token);
		if (out->access_key)
			snprintf(out->cred_source, sizeof(out->cred_source),
				 "%.200s [%.40s]", p, src == &cf ? name : sect);
	}
	if (env("AWS_REGION"))
		out->region = strdup(env("AWS_REGION"));
	else if (env("AWS_DEFAULT_REGION"))
		out->region = strdup(env("AWS_DEFAULT_REGION"));
	adopt(&out->region, &pf.region);
	adopt(&out->region, &cf.region);
	if (env("AWS_ENDPOINT_URL_S3"))
		out->endpoint_url = strdup(env("AWS_ENDPOINT_URL_S3"));
	else if (env("AWS_ENDPOINT_URL"))
		out->endpoint_url = strdup(env("AWS_ENDPOINT_URL"));
	adopt(&out->endpoint_url, &pf.endpoint);
	rc = 0;
out:
	found_free(&cf);
	found_free(&pf);
	free(cred_path);
	free(conf_path);
	free(sect);
	if (rc != 0)
		s3_aws_free(out);
	return rc;
}

void s3_aws_free(s3_aws_profile *p)
{
	free(p->access_key);
	if (p->secret_key)
		memset(p->secret_key, 0, strlen(p->secret_key));
	free(p->secret_key);
	free(p->session_token);
	free(p->region);
	free(p->endpoint_url);
	p->access_key = p->secret_key = p->session_token = NULL;
	p->region = p->endpoint_url = NULL;
}
