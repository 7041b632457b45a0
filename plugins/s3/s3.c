/*
 * s3.c - the S3 store: objects in an S3 bucket (AWS, or any S3-compatible
 * endpoint such as Ceph RGW, MinIO, R2, GCS's XML API), over libcurl.
 *
 * The files of the store (s3.h lists them): this one has the store's
 * methods but puts, which are s3put.c; requests run on the request layer
 * shared with the other HTTP stores (plugins/net/httpreq.h: the I/O
 * thread, retries, the fault table), and s3req.c is their S3 side
 * (addressing, SigV4, S3 error codes); s3conf.c reads the configuration.
 *
 * Reads split and coalesce ranges into parallel ranged GETs written
 * straight into the caller's buffers (httpreq_read); stat is HEAD; list is ListObjectsV2
 * plus ListMultipartUploads (so that gc finds uploads left by crashed
 * saves); remove is DELETE, and aborts such uploads; remove_many is
 * DeleteObjects.
 *
 * docs/s3.md describes the options and the choices.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, explicit_bzero */
#endif
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define MAX_KEY 1024              /* S3's limit on a key, in bytes */
#define DELETE_BATCH 1000         /* S3's most keys per DeleteObjects */

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

ckptio_status s3_oom(s3store *s)
{
	return s->base.host->error(s->base.hc, CKPTIO_ENOMEM, "out of memory");
}

/* Keys as the ABI defines them: no empty, "." or ".." component, no
 * leading '/', at most MAX_KEY bytes with the prefix. */
int s3_key_valid(const s3store *s, const char *key)
{
	size_t plen = strlen(s->prefix);

	return plen < MAX_KEY && httpreq_key_valid(key, MAX_KEY - plen);
}

ckptio_status s3_check_key(s3store *s, const char *key)
{
	if (s3_key_valid(s, key))
		return CKPTIO_OK;
	return s->base.host->error(s->base.hc, CKPTIO_EINVAL,
				   "s3://%s/%s%.200s: invalid object key",
				   s->bucket, s->prefix, key);
}

static char *full_key(s3store *s, const char *key)
{
	return httpreq_asprintf("%s%s", s->prefix, key);
}

/* ------------------------------------------------------------------------ */
/* Reads (the request layer's httpreq_read)                                 */

static httpreq *get_new(void *ctx, const char *key)
{
	s3req *r = s3_req_new(ctx, OP_GET, "GET", key);

	return r ? &r->base : NULL;
}

static void get_free(void *ctx, httpreq *r)
{
	(void)ctx;
	s3_req_free((s3req *)r);
}

static ckptio_status s3_read_ranges(ckptio_store *st,
				 const ckptio_range *ranges, size_t n,
				 uint32_t *crcs)
{
	s3store *s = (s3store *)st;
	const httpreq_reader rd = {
		.c = s->client, .max_len = s->part_size, .ctx = s,
		.get = get_new, .release = get_free};
	ckptio_status rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = s3_check_key(s, ranges[i].key)) != CKPTIO_OK)
			return rc;
	return httpreq_read_crc(&rd, ranges, n, crcs);
}

static ckptio_status s3_read(ckptio_store *st, const ckptio_range *ranges,
			     size_t n)
{
	return s3_read_ranges(st, ranges, n, NULL);
}

/* read, with each range's CRC32C computed as the bytes arrive (ABI 1.7). */
static ckptio_status s3_read_crc(ckptio_store *st, const ckptio_range *ranges,
				 size_t n, uint32_t *crcs)
{
	return s3_read_ranges(st, ranges, n, crcs);
}

void s3_pin_forget(s3store *s, const char *key)
{
	size_t pl = strlen(s->prefix), kl = strlen(key);
	char *full = malloc(pl + kl + 1);

	httpreq_lock(s->client);
	if (full) {
		memcpy(full, s->prefix, pl);
		memcpy(full + pl, key, kl + 1);
		httpreq_pin_forget(&s->pins, full);
	} else {
		/* Without the key's name, forget every version rather than
		 * refuse a later answer about it as "changed". */
		httpreq_pins_free(&s->pins);
	}
	httpreq_unlock(s->client);
	free(full);
}

/* ------------------------------------------------------------------------ */
/* stat, list, remove                                                       */

/* A HEAD answer has no body, so a 403 does not say why (a wrong secret,
 * a clock off, no permission).  Ask again with a one-byte GET, whose
 * error body does, and report that. */
static void explain_denied(s3store *s, const char *key, s3req *head)
{
	s3req *r = s3_req_new(s, OP_GET, "GET", key);

	if (r && httpreq_range(&r->base, 0, 1) == 0) {
		unsigned char byte;
		httpreq_seg dst = {&byte, 1};

		r->base.dst = malloc(sizeof(httpreq_seg));
		if (r->base.dst) {
			r->base.dst[0] = dst;
			r->base.ndst = 1;
			r->base.dst_len = 1;
			if (s3_run(r) == CKPTIO_EAUTH && r->err.code[0]) {
				s3_fail_req(s, r);
				s3_req_free(r);
				return;
			}
		}
	}
	s3_req_free(r);
	s3_fail_req(s, head);
}

static ckptio_status s3_stat(ckptio_store *st, const char *key,
			     ckptio_stat *out)
{
	s3store *s = (s3store *)st;
	ckptio_status rc = s3_check_key(s, key);
	s3req *r;

	if (rc != CKPTIO_OK)
		return rc;
	if (!(r = s3_req_new(s, OP_HEAD, "HEAD", key)))
		return s3_oom(s);
	rc = s3_run(r);
	if (rc == CKPTIO_OK && r->base.length < 0) {
		/* Taking a missing length for 0 would make a truncated
		 * object of a healthy one. */
		rc = s->base.host->error(s->base.hc, CKPTIO_EIO,
					 "s3://%s/%s: HEAD: no Content-Length in "
					 "the answer", s->bucket, r->key);
	} else if (rc == CKPTIO_OK) {
		char u[600];

		snprintf(u, sizeof(u), "s3://%s/%s", s->bucket, r->key);
		httpreq_lock(s->client);
		if (httpreq_pin_check(&s->pins, r->key, &r->base, u) != 0)
			rc = CKPTIO_ECORRUPT;
		httpreq_unlock(s->client);
		if (rc != CKPTIO_OK)
			s3_fail_req(s, r);
		out->size = (uint64_t)r->base.length;
		out->mtime = r->base.mtime;
	} else if (rc == CKPTIO_EAUTH) {
		explain_denied(s, key, r);
	} else if (rc != CKPTIO_ENOTFOUND) {
		s3_fail_req(s, r);
	}
	s3_req_free(r);
	return rc;
}

typedef struct list_ctx {
	s3store *s;
	const char *prefix; /* full prefix */
	ckptio_key_fn fn;
	void *user;
	int stopped;
	int oom;
} list_ctx;

static int list_key(void *u, const char *key, uint64_t size, int64_t mtime)
{
	list_ctx *l = u;
	size_t plen = strlen(l->s->prefix);
	ckptio_stat sb = {.size = size, .mtime = mtime};

	/* Keys outside the store's prefix, and "directory" markers. */
	if (strncmp(key, l->s->prefix, plen) != 0 ||
	    !s3_key_valid(l->s, key + plen))
		return 0;
	if (l->fn(l->user, key + plen, &sb))
		l->stopped = 1;
	return l->stopped;
}

static int list_upload(void *u, const char *key, const char *id,
		       int64_t initiated)
{
	list_ctx *l = u;
	s3store *s = l->s;
	size_t plen = strlen(s->prefix);
	/* An unfinished upload: no size yet, its age from <Initiated>. */
	ckptio_stat sb = {.size = 0, .mtime = initiated};
	char **k, **i;

	if (strncmp(key, s->prefix, plen) != 0 || !s3_key_valid(s, key + plen))
		return 0;
	httpreq_lock(s->client);
	k = realloc(s->up_keys, (s->nups + 1) * sizeof(*k));
	if (k)
		s->up_keys = k;
	i = k ? realloc(s->up_ids, (s->nups + 1) * sizeof(*i)) : NULL;
	if (i) {
		s->up_ids = i;
		s->up_keys[s->nups] = strdup(key + plen);
		s->up_ids[s->nups] = strdup(id);
		if (s->up_keys[s->nups] && s->up_ids[s->nups])
			s->nups++;
		else {
			free(s->up_keys[s->nups]);
			free(s->up_ids[s->nups]);
			i = NULL;
		}
	}
	httpreq_unlock(s->client);
	if (!i) {
		l->oom = 1;
		return 1;
	}
	if (l->fn(l->user, key + plen, &sb))
		l->stopped = 1;
	return l->stopped;
}

/* One ListObjectsV2 or ListMultipartUploads page; *more when truncated. */
static ckptio_status list_page(list_ctx *l, int uploads, char **m1, char **m2,
			       int *more)
{
	s3store *s = l->s;
	s3req *r = s3_req_new(s, uploads ? OP_UPLOADS : OP_LIST, "GET", NULL);
	char err[300], *n1 = NULL, *n2 = NULL;
	ckptio_status rc;
	int bad;

	if (!r)
		return s3_oom(s);
	if (uploads)
		bad = s3_req_q(r, "uploads", NULL) ||
		      s3_req_q(r, "prefix", l->prefix) ||
		      (*m1 && (s3_req_q(r, "key-marker", *m1) ||
			       s3_req_q(r, "upload-id-marker", *m2)));
	else
		bad = s3_req_q(r, "list-type", "2") ||
		      s3_req_q(r, "prefix", l->prefix) ||
		      (*m1 && s3_req_q(r, "continuation-token", *m1));
	if (!bad && s->list_page != 1000) {
		char num[16];

		snprintf(num, sizeof(num), "%u", s->list_page);
		bad = s3_req_q(r, uploads ? "max-uploads" : "max-keys", num);
	}
	if (bad) {
		s3_req_free(r);
		return s3_oom(s);
	}
	rc = s3_run(r);
	if (rc != CKPTIO_OK) {
		s3_fail_req(s, r);
		s3_req_free(r);
		return rc;
	}
	bad = uploads ? s3xml_uploads(r->base.resp, r->base.resp_len,
				      list_upload, l, more, &n1, &n2, err,
				      sizeof(err))
		      : s3xml_list(r->base.resp, r->base.resp_len, list_key, l,
				   more, &n1, err, sizeof(err));
	s3_req_free(r);
	free(*m1);
	free(*m2);
	*m1 = n1;
	*m2 = n2;
	if (l->oom)
		return s3_oom(s);
	if (bad)
		return s->base.host->error(s->base.hc, CKPTIO_EIO,
					   "s3://%s/%s: %s", s->bucket,
					   l->prefix, err);
	return CKPTIO_OK;
}

static ckptio_status s3_list(ckptio_store *st, const char *prefix,
			     ckptio_key_fn fn, void *user)
{
	s3store *s = (s3store *)st;
	char *full = full_key(s, prefix);
	list_ctx l = {.s = s, .prefix = full, .fn = fn, .user = user};
	ckptio_status rc = full ? CKPTIO_OK : s3_oom(s);

	for (int uploads = 0; rc == CKPTIO_OK && uploads < 2 && !l.stopped;
	     uploads++) {
		char *m1 = NULL, *m2 = NULL;
		int more = 1;

		while (rc == CKPTIO_OK && more && !l.stopped) {
			rc = list_page(&l, uploads, &m1, &m2, &more);
			if (rc == CKPTIO_OK && more && !m1 && !m2)
				more = 0;
		}
		free(m1);
		free(m2);
	}
	free(full);
	return rc;
}

static void abort_listed_uploads(s3store *s, const char *key);

static ckptio_status s3_remove(ckptio_store *st, const char *key)
{
	s3store *s = (s3store *)st;
	ckptio_status rc = s3_check_key(s, key);
	s3req *r;

	if (rc != CKPTIO_OK)
		return rc;
	if (!(r = s3_req_new(s, OP_DELETE, "DELETE", key)))
		return s3_oom(s);
	rc = s3_run(r);
	if (rc != CKPTIO_OK && rc != CKPTIO_ENOTFOUND)
		s3_fail_req(s, r);
	s3_req_free(r);
	s3_pin_forget(s, key);
	/* Uploads of this key that list() found: left by a crashed save. */
	if (rc != CKPTIO_ENOMEM)
		abort_listed_uploads(s, key);
	/* S3 answers DELETE of a missing key with success. */
	return rc == CKPTIO_ENOTFOUND ? CKPTIO_OK : rc;
}

/* Abort the uploads that list() found for key. */
static void abort_listed_uploads(s3store *s, const char *key)
{
	for (size_t i = 0; i < s->nups; i++) {
		char *id = NULL;

		httpreq_lock(s->client);
		if (s->up_keys[i] && strcmp(s->up_keys[i], key) == 0) {
			id = s->up_ids[i];
			s->up_ids[i] = NULL;
			free(s->up_keys[i]);
			s->up_keys[i] = NULL;
		}
		httpreq_unlock(s->client);
		if (id)
			s3_abort_upload(s, key, id);
		free(id);
	}
}

/* key with XML's five special characters escaped, to f. */
static void xml_escaped(FILE *f, const char *key)
{
	for (const char *c = key; *c; c++)
		switch (*c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*c, f);
		}
}

/* One DeleteObjects request for keys[0..n), n <= DELETE_BATCH. */
static ckptio_status delete_batch(s3store *s, const char *const *keys,
				  size_t n)
{
	s3req *r = s3_req_new(s, OP_DELETES, "POST", NULL);
	char *xml = NULL, md5b64[25], bad[S3XML_MAX_KEY + 1], err[300];
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned md5len = 0;
	size_t xlen = 0;
	s3_error_info e;
	FILE *f;
	ckptio_status st;
	int nerr;

	if (!r || s3_req_q(r, "delete", NULL) != 0 ||
	    !(f = open_memstream(&xml, &xlen))) {
		s3_req_free(r);
		return s3_oom(s);
	}
	fputs("<Delete><Quiet>true</Quiet>", f);
	for (size_t i = 0; i < n; i++) {
		fputs("<Object><Key>", f);
		fputs(s->prefix, f);
		xml_escaped(f, keys[i]);
		fputs("</Key></Object>", f);
	}
	fputs("</Delete>", f);
	if (fclose(f) != 0 || s3_req_xml_body(r, xml, xlen) != 0) {
		free(xml);
		s3_req_free(r);
		return s3_oom(s);
	}
	/* S3 requires an integrity header on DeleteObjects. */
	EVP_Digest(xml, xlen, md5, &md5len, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)md5b64, md5, (int)md5len);
	if (httpreq_header(&r->base, "content-md5", md5b64) != 0) {
		free(xml);
		s3_req_free(r);
		return s3_oom(s);
	}
	st = s3_run(r);
	if (st != CKPTIO_OK) {
		s3_fail_req(s, r);
	} else if ((nerr = s3xml_delete_result(r->base.resp, r->base.resp_len,
					       bad, sizeof(bad), &e, err,
					       sizeof(err))) < 0) {
		st = s->base.host->error(s->base.hc, CKPTIO_EIO, "s3://%s/%s: %s",
					 s->bucket, s->prefix, err);
	} else if (nerr > 0) {
		st = s->base.host->error(
			s->base.hc, strcmp(e.code, "AccessDenied") == 0
					    ? CKPTIO_EAUTH : CKPTIO_EIO,
			"s3://%s/%.400s: DeleteObjects: %s: %.200s (%d of %zu "
			"keys not deleted)", s->bucket, bad, e.code, e.message,
			nerr, n);
	}
	free(xml);
	s3_req_free(r);
	return st;
}

static ckptio_status s3_remove_many(ckptio_store *st, const char *const *keys,
				    size_t n)
{
	s3store *s = (s3store *)st;
	ckptio_status rc = CKPTIO_OK;

	for (size_t i = 0; i < n; i++)
		if ((rc = s3_check_key(s, keys[i])) != CKPTIO_OK)
			return rc;
	for (size_t i = 0; i < n && rc == CKPTIO_OK; i += DELETE_BATCH)
		rc = delete_batch(s, keys + i,
				  n - i < DELETE_BATCH ? n - i : DELETE_BATCH);
	for (size_t i = 0; i < n && s->pins.n; i++)
		s3_pin_forget(s, keys[i]);
	for (size_t i = 0; i < n && s->nups; i++)
		abort_listed_uploads(s, keys[i]);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* open and close                                                           */

static const struct ckptio_store_ops s3_ops;

static void s3_close(ckptio_store *st);

static ckptio_status s3_open(const ckptio_host *host, ckptio_host_ctx *hc,
			     const char *root, int create, ckptio_store **out)
{
	s3store *s = calloc(1, sizeof(*s));
	int oom_flag = 0;
	ckptio_status st;

	(void)create; /* buckets are not created here: `aws s3 mb` does it */
	if (!s)
		return host->error(hc, CKPTIO_ENOMEM, "out of memory");
	s->base.ops = &s3_ops;
	s->base.host = host;
	s->base.hc = hc;
	st = s3_configure(s, root, &oom_flag);
	if (st == CKPTIO_OK)
		st = s3_client_open(s);
	if (oom_flag && st == CKPTIO_ENOMEM)
		host->error(hc, CKPTIO_ENOMEM, "out of memory");
	if (st != CKPTIO_OK) {
		s3_close(&s->base);
		return st;
	}
	host->log(hc, CKPTIO_LOG_DEBUG,
		  "s3: %s bucket %s prefix '%s' (%s addressing), region %s, "
		  "keys from %s, part_size %" PRIu64 ", concurrency %u",
		  s->endpoint, s->bucket, s->prefix,
		  s->virtual_host ? "virtual-host" : "path", s->region,
		  s->cred_source, s->part_size, s->net.concurrency);
	*out = &s->base;
	return CKPTIO_OK;
}

static void s3_close(ckptio_store *st)
{
	s3store *s = (s3store *)st;

	httpreq_client_close(s->client); /* waits for every request */
	httpreq_pins_free(&s->pins);
	for (unsigned i = 0; i < s->nfree; i++)
		free(s->free_bufs[i]);
	free(s->free_bufs);
	for (size_t i = 0; i < s->nups; i++) {
		free(s->up_keys[i]);
		free(s->up_ids[i]);
	}
	free(s->up_keys);
	free(s->up_ids);
	free(s->endpoint);
	free(s->scheme_host);
	free(s->host);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->ak);
	if (s->sk)
		explicit_bzero(s->sk, strlen(s->sk));
	free(s->sk);
	free(s->token);
	httpreq_options_free(&s->net);
	free(s);
}

/* Without conditional_put no PUT carries If-None-Match: *, so this store
 * cannot refuse to replace an object. */
static uint64_t s3_instance_caps(ckptio_store *st)
{
	const s3store *s = (const s3store *)st;

	return st->ops->caps &
	       ~(s->conditional_put ? 0 : CKPTIO_STORE_CAP_IF_ABSENT);
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

static const struct ckptio_store_ops s3_ops = {
	.struct_size = sizeof(struct ckptio_store_ops),
	.caps = CKPTIO_STORE_CAP_WRITE | CKPTIO_STORE_CAP_READ |
		CKPTIO_STORE_CAP_RANGE | CKPTIO_STORE_CAP_LIST |
		CKPTIO_STORE_CAP_DELETE | CKPTIO_STORE_CAP_ATOMIC_PUT |
		CKPTIO_STORE_CAP_IF_ABSENT,
	.open = s3_open,
	.close = s3_close,
	.put_open = s3_put_open,
	.put_write = s3_put_write,
	.put_commit = s3_put_commit,
	.put_abort = s3_put_abort,
	.read = s3_read,
	.stat = s3_stat,
	.list = s3_list,
	.remove = s3_remove,
	.remove_many = s3_remove_many,
	.instance_caps = s3_instance_caps,
	.read_crc = s3_read_crc,
};

static const char *const s3_options[] = {
	"endpoint", "region", "bucket", "prefix", "addressing",
	"access_key_id", "secret_access_key", "session_token", "profile",
	"part_size", "concurrency", "retries", "connect_timeout",
	"stall_timeout", "checksum", "sign_payload", "verify_tls", "ca_file",
	"conditional_put", "list_page", "direct_reads", NULL};
static const char *const s3_secrets[] = {"secret_access_key", "session_token",
					 NULL};
static const char *const s3_schemes[] = {"s3", NULL};

static const ckptio_plugin s3_plugin = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_STORE,
	.name = "s3",
	.description = "AWS S3 and S3-compatible object stores (SigV4, "
		       "parallel multipart upload and ranged GETs)",
	.options = s3_options,
	.schemes = s3_schemes,
	.secret_options = s3_secrets,
	.store = &s3_ops,
};

CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void)
{
	return &s3_plugin;
}
