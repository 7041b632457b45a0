/*
 * s3conf.c - the configuration of an S3 store: the bucket and prefix
 * (from an s3:// root or the backend's options), the credentials, region
 * and endpoint (the options first, then the environment and ~/.aws, as
 * the AWS tools look them up; awsconf.c reads the files), the addressing
 * style, and the tuning options.  docs/s3.md lists the options.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup */
#endif
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsconf.h"
#include "s3.h"

#define MIN_PART (5ull << 20)     /* S3's smallest part but the last */
#define MAX_PART (5ull << 30)     /* S3's largest part */

/* Option key as a malloc'd string, or NULL (unset, or out of memory:
 * *oom_flag). */
static char *opt_dup(s3store *s, const char *key, int *oom_flag)
{
	const char *v = s->base.host->config_get(s->base.hc, key);
	char *d;

	if (!v || !*v)
		return NULL;
	d = strdup(v);
	if (!d)
		*oom_flag = 1;
	return d;
}

/* "s3://bucket/prefix" (root) or the bucket and prefix options. */
static ckptio_status where(s3store *s, const char *root, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	char *prefix = NULL;
	size_t len;

	if (root && *root) {
		const char *b, *slash;

		if (strncmp(root, "s3://", 5) != 0)
			return h->error(s->base.hc, CKPTIO_ECONFIG,
					"%s: an S3 root is s3://BUCKET[/PREFIX]",
					root);
		b = root + 5;
		slash = strchr(b, '/');
		s->bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
		prefix = strdup(slash ? slash + 1 : "");
		if (!s->bucket || !prefix) {
			free(prefix);
			*oom_flag = 1;
			return CKPTIO_ENOMEM;
		}
	} else {
		s->bucket = opt_dup(s, "bucket", oom_flag);
		prefix = opt_dup(s, "prefix", oom_flag);
		if (!prefix && !*oom_flag)
			prefix = strdup("");
		if (!prefix)
			*oom_flag = 1;
		if (*oom_flag)
			return CKPTIO_ENOMEM;
	}
	if (!s->bucket || !*s->bucket) {
		free(prefix);
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: no bucket: use s3://BUCKET/... or set "
				"`bucket` in the backend");
	}
	/* Bucket names: 3-63 of a-z 0-9 . - (older buckets may have capitals
	 * and underscores, so only what would break a URL is refused). */
	if (strlen(s->bucket) > 255 ||
	    strspn(s->bucket, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "0123456789.-_") != strlen(s->bucket)) {
		free(prefix);
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: invalid bucket name '%.100s'", s->bucket);
	}
	/* The prefix as a directory: "a/b/" or "". */
	while (*prefix == '/')
		memmove(prefix, prefix + 1, strlen(prefix));
	len = strlen(prefix);
	while (len && prefix[len - 1] == '/')
		prefix[--len] = '\0';
	if (len && !s3_key_valid(&(s3store){.prefix = ""}, prefix)) {
		ckptio_status st = h->error(s->base.hc, CKPTIO_ECONFIG,
					    "s3://%s/%.300s: invalid prefix "
					    "(empty, '.' or '..' component)",
					    s->bucket, prefix);
		free(prefix);
		return st;
	}
	s->prefix = len ? httpreq_asprintf("%s/", prefix) : strdup("");
	free(prefix);
	if (!s->prefix)
		*oom_flag = 1;
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

/* Keys, region and endpoint: backend options first, then the environment
 * and ~/.aws (awsconf.c). */
static ckptio_status who(s3store *s, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	s3_aws_profile prof = {0};
	char err[512];
	const char *profile = h->config_get(s->base.hc, "profile");
	int have_keys;

	s->ak = opt_dup(s, "access_key_id", oom_flag);
	s->sk = opt_dup(s, "secret_access_key", oom_flag);
	s->token = opt_dup(s, "session_token", oom_flag);
	s->region = opt_dup(s, "region", oom_flag);
	s->endpoint = opt_dup(s, "endpoint", oom_flag);
	if (*oom_flag)
		return CKPTIO_ENOMEM;
	if (!!s->ak != !!s->sk)
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: set both access_key_id and "
				"secret_access_key, or neither (to take keys "
				"from the environment or ~/.aws)");
	have_keys = s->ak != NULL;
	if (have_keys)
		snprintf(s->cred_source, sizeof(s->cred_source),
			 "the ckptio configuration");
	if (s3_aws_load(profile && *profile ? profile : NULL, NULL, &prof, err,
			sizeof(err)) != 0) {
		if (!have_keys)
			return h->error(s->base.hc, CKPTIO_ECONFIG, "s3: %s",
					err);
		h->log(s->base.hc, CKPTIO_LOG_WARN, "s3: ignoring %s", err);
	} else if (!have_keys && prof.access_key) {
		s->ak = prof.access_key;
		s->sk = prof.secret_key;
		s->token = prof.session_token;
		prof.access_key = prof.secret_key = prof.session_token = NULL;
		snprintf(s->cred_source, sizeof(s->cred_source), "%s",
			 prof.cred_source);
	}
	if (!s->region && prof.region) {
		s->region = prof.region;
		prof.region = NULL;
	}
	if (!s->endpoint && prof.endpoint_url) {
		s->endpoint = prof.endpoint_url;
		prof.endpoint_url = NULL;
	}
	s3_aws_free(&prof);
	if (!s->region && !(s->region = strdup("us-east-1")))
		*oom_flag = 1;
	if (!s->ak) {
		snprintf(s->cred_source, sizeof(s->cred_source),
			 "nowhere: no keys in the backend, the environment or "
			 "~/.aws, so requests are not signed");
		h->log(s->base.hc, CKPTIO_LOG_INFO, "s3: no credentials found; "
		       "sending anonymous requests");
	}
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

/* scheme://host[:port] of the endpoint, and the addressing style. */
static ckptio_status endpoint_setup(s3store *s, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	static const char *const styles[] = {"auto", "path", "virtual", NULL};
	unsigned style = 0;
	char *hostport, *scheme;
	const char *rest;
	size_t len;
	ckptio_status st;

	if (!s->endpoint &&
	    !(s->endpoint = httpreq_asprintf("https://s3.%s.amazonaws.com", s->region))) {
		*oom_flag = 1;
		return CKPTIO_ENOMEM;
	}
	len = strlen(s->endpoint);
	while (len && s->endpoint[len - 1] == '/')
		s->endpoint[--len] = '\0';
	if (strncmp(s->endpoint, "http://", 7) == 0)
		rest = s->endpoint + 7;
	else if (strncmp(s->endpoint, "https://", 8) == 0)
		rest = s->endpoint + 8;
	else
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: endpoint '%.200s' must start with http:// "
				"or https://", s->endpoint);
	if (!*rest || strpbrk(rest, "/?#@ ") != NULL)
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: endpoint '%.200s' must be scheme://HOST"
				"[:PORT], without a path", s->endpoint);
	st = h->config_enum(s->base.hc, "addressing", styles, 0, &style);
	if (st != CKPTIO_OK)
		return st;
	scheme = strndup(s->endpoint, (size_t)(rest - s->endpoint));
	hostport = strdup(rest);
	if (!scheme || !hostport) {
		free(scheme);
		free(hostport);
		*oom_flag = 1;
		return CKPTIO_ENOMEM;
	}
	/* curl leaves default ports out of Host, and so must the signature. */
	len = strlen(hostport);
	if ((strcmp(scheme, "http://") == 0 && len > 3 &&
	     strcmp(hostport + len - 3, ":80") == 0) ||
	    (strcmp(scheme, "https://") == 0 && len > 4 &&
	     strcmp(hostport + len - 4, ":443") == 0))
		*strrchr(hostport, ':') = '\0';
	if (style == 0) /* auto: virtual on AWS for DNS-safe names */
		style = strstr(hostport, "amazonaws.com") &&
				strspn(s->bucket, "abcdefghijklmnopqrstuvwxyz"
						  "0123456789-") ==
					strlen(s->bucket)
			? 2 : 1;
	s->virtual_host = style == 2;
	if (s->virtual_host) {
		s->host = httpreq_asprintf("%s.%s", s->bucket, hostport);
		s->scheme_host = s->host ? httpreq_asprintf("%s%s", scheme, s->host)
					 : NULL;
	} else {
		s->host = strdup(hostport);
		s->scheme_host = httpreq_asprintf("%s%s", scheme, hostport);
	}
	free(scheme);
	free(hostport);
	if (!s->host || !s->scheme_host)
		*oom_flag = 1;
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

static ckptio_status tuning(s3store *s, int *oom_flag)
{
	const ckptio_host *h = s->base.host;
	static const char *const sums[] = {"crc32c", "none", NULL};
	uint64_t v;
	unsigned sum = 0;
	ckptio_status st;
	const char *ca;

	if ((st = h->config_size(s->base.hc, "part_size", 16ull << 20,
				 &s->part_size)) != CKPTIO_OK)
		return st;
	if (s->part_size < MIN_PART || s->part_size > MAX_PART)
		return h->error(s->base.hc, CKPTIO_ECONFIG,
				"s3: part_size %" PRIu64 " is outside S3's "
				"limits, 5MiB to 5GiB", s->part_size);
	/* concurrency, retries, timeouts, verify_tls and ca_file. */
	if ((st = httpreq_options_read(h, s->base.hc, &s->net)) != CKPTIO_OK) {
		if (st == CKPTIO_ENOMEM)
			*oom_flag = 1;
		return st;
	}
	if ((st = h->config_uint(s->base.hc, "list_page", 1000, 1, 1000, &v)) !=
	    CKPTIO_OK)
		return st;
	s->list_page = (unsigned)v;
	if ((st = h->config_enum(s->base.hc, "checksum", sums, 0, &sum)) !=
	    CKPTIO_OK)
		return st;
	s->checksum = sum == 0;
	if ((st = h->config_bool(s->base.hc, "sign_payload", 0,
				 &s->sign_payload)) != CKPTIO_OK ||
	    (st = h->config_bool(s->base.hc, "conditional_put", 1,
				 &s->conditional_put)) != CKPTIO_OK)
		return st;
	ca = getenv("AWS_CA_BUNDLE");
	if (!s->net.ca_file && ca && *ca && !(s->net.ca_file = strdup(ca)))
		*oom_flag = 1;
	/* Staging for data that is not stable: a part per connection. */
	s->max_staged = s->net.concurrency + 1;
	s->free_bufs = calloc(s->max_staged, sizeof(*s->free_bufs));
	if (!s->free_bufs)
		*oom_flag = 1;
	return *oom_flag ? CKPTIO_ENOMEM : CKPTIO_OK;
}

ckptio_status s3_configure(s3store *s, const char *root, int *oom_flag)
{
	ckptio_status st = where(s, root, oom_flag);

	if (st == CKPTIO_OK)
		st = who(s, oom_flag);
	if (st == CKPTIO_OK)
		st = endpoint_setup(s, oom_flag);
	if (st == CKPTIO_OK)
		st = tuning(s, oom_flag);
	return st;
}
