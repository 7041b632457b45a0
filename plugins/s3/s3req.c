/*
 * s3req.c - S3 requests on the request layer (plugins/net/httpreq.h):
 * the S3 side of each attempt (path- or virtual-host addressing, the
 * query, the x-amz-* headers and the SigV4 signature, made anew at every
 * attempt so that retries carry a fresh date), what S3's error bodies
 * mean (codes that may pass, a missing bucket, whose key was refused), and
 * the kinds of request that CKPTIO_S3_FAULTS names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3.h"
#include "sigv4.h"

#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The kinds of request: the names of CKPTIO_S3_FAULTS and of messages. */
static const httpreq_op s3_req_ops[NOPS] = {
	[OP_PUT] = {"put", "PUT"},
	[OP_CREATE] = {"create", "CreateMultipartUpload"},
	[OP_PART] = {"part", "UploadPart"},
	[OP_COMPLETE] = {"complete", "CompleteMultipartUpload"},
	[OP_ABORT] = {"abort", "AbortMultipartUpload"},
	[OP_GET] = {"get", "GET"},
	[OP_HEAD] = {"head", "HEAD"},
	[OP_LIST] = {"list", "ListObjectsV2"},
	[OP_UPLOADS] = {"uploads", "ListMultipartUploads"},
	[OP_DELETE] = {"delete", "DELETE"},
	[OP_DELETES] = {"deletes", "DeleteObjects"},
};

/* What an injected status fault answers: S3's own error documents, so
 * that they go through the same reading of codes as real ones. */
static const char *const s3_fault_body[HTTPREQ_NFAULTS] = {
	[HTTPREQ_F_500] = "<Error><Code>InternalError</Code><Message>injected"
			  "</Message></Error>",
	[HTTPREQ_F_503] = "<Error><Code>SlowDown</Code><Message>injected"
			  "</Message></Error>",
	[HTTPREQ_F_429] = "<Error><Code>TooManyRequests</Code><Message>"
			  "injected</Message></Error>",
	[HTTPREQ_F_403] = "<Error><Code>AccessDenied</Code><Message>injected"
			  "</Message></Error>",
};

/* ------------------------------------------------------------------------ */
/* Building a request                                                       */

s3req *s3_req_new(s3store *s, enum s3_op op, const char *method,
		  const char *key)
{
	s3req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	httpreq_init(&r->base, s->client, op, method);
	r->s = s;
	r->payload_hash = EMPTY_SHA256;
	if (key && !(r->key = httpreq_asprintf("%s%s", s->prefix, key))) {
		free(r);
		return NULL;
	}
	return r;
}

void s3_req_free(s3req *r)
{
	if (!r)
		return;
	httpreq_release(&r->base);
	free(r->key);
	for (size_t i = 0; i < r->nq; i++) {
		free(r->qname[i]);
		free(r->qval[i]);
	}
	free(r);
}

/* Add name[=value] to r's query.  -1: out of memory. */
int s3_req_q(s3req *r, const char *name, const char *value)
{
	if (r->nq == 6)
		return -1;
	r->qname[r->nq] = strdup(name);
	r->qval[r->nq] = value ? strdup(value) : NULL;
	if (!r->qname[r->nq] || (value && !r->qval[r->nq])) {
		free(r->qname[r->nq]);
		free(r->qval[r->nq]);
		return -1;
	}
	r->nq++;
	return 0;
}

/* An XML document (the caller keeps and frees it) as r's signed body.
 * -1: out of memory. */
int s3_req_xml_body(s3req *r, char *xml, size_t len)
{
	if (!(r->base.body = malloc(sizeof(httpreq_seg))))
		return -1;
	r->base.body[0] = (httpreq_seg){(unsigned char *)xml, len};
	r->base.nbody = 1;
	r->base.body_len = len;
	s3_sha256_hex(xml, len, r->hash_buf);
	r->payload_hash = r->hash_buf;
	return 0;
}

/* Run one request to its end on the I/O thread; its status. */
ckptio_status s3_run(s3req *r)
{
	return httpreq_run(&r->base);
}

/* Record r's failure on the operation; its status. */
ckptio_status s3_fail_req(s3store *s, s3req *r)
{
	return s->base.host->error(s->base.hc, r->base.st, "%s", r->base.msg);
}

/* ------------------------------------------------------------------------ */
/* Hooks of the request layer                                               */

/* The path of r as the URL and the signature see it (not encoded). */
static char *req_path(s3store *s, const s3req *r)
{
	if (s->virtual_host)
		return httpreq_asprintf("/%s", r->key ? r->key : "");
	return r->key ? httpreq_asprintf("/%s/%s", s->bucket, r->key)
		      : httpreq_asprintf("/%s", s->bucket);
}

/* The URL and the signed headers of one attempt.  -1: out of memory. */
static int s3_prepare(void *ctx, httpreq *hr, char **url,
		      struct curl_slist **hdrs)
{
	s3store *s = ctx;
	s3req *r = (s3req *)hr;
	char date[17], *path = NULL, *epath = NULL, *auth = NULL;
	s3_kv kv[16], hdr[12];
	size_t nkv = 0, nh = 0;
	struct tm tm;
	time_t t = time(NULL);
	FILE *uf;
	size_t ulen;
	int rc = -1;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	path = req_path(s, r);
	epath = path ? s3_uri_encode(path, 1) : NULL;
	if (!epath)
		goto out;
	for (nkv = 0; nkv < r->nq; nkv++)
		kv[nkv] = (s3_kv){r->qname[nkv], r->qval[nkv]};
	uf = open_memstream(url, &ulen);
	if (!uf)
		goto out;
	fprintf(uf, "%s%s", s->scheme_host, epath);
	for (size_t i = 0; i < nkv; i++) {
		char *n = s3_uri_encode(kv[i].name, 0);
		char *v = kv[i].value ? s3_uri_encode(kv[i].value, 0) : NULL;

		fprintf(uf, "%c%s", i ? '&' : '?', n ? n : "");
		if (kv[i].value)
			fprintf(uf, "=%s", v ? v : "");
		free(n);
		free(v);
	}
	if (fclose(uf) != 0)
		goto out;

	hdr[nh++] = (s3_kv){"host", s->host};
	hdr[nh++] = (s3_kv){"x-amz-date", date};
	hdr[nh++] = (s3_kv){"x-amz-content-sha256", r->payload_hash};
	if (s->token)
		hdr[nh++] = (s3_kv){"x-amz-security-token", s->token};
	for (size_t i = 0; i < hr->nh; i++)
		hdr[nh++] = (s3_kv){hr->hname[i], hr->hval[i]};
	for (size_t i = 0; i < nh; i++)
		if (httpreq_header_line(hdrs, hdr[i].name, hdr[i].value) != 0)
			goto out;
	if (s->ak) {
		s3_sig_request sr = {
			.method = hr->method, .path = path, .query = kv,
			.nquery = nkv, .headers = hdr, .nheaders = nh,
			.payload_hash = r->payload_hash, .amz_date = date,
			.region = s->region, .service = "s3"};

		auth = s3_authorization(&sr, s->ak, s->sk);
		if (!auth || httpreq_header_line(hdrs, "Authorization", auth))
			goto out;
	}
	rc = 0;
out:
	free(path);
	free(epath);
	free(auth);
	return rc;
}

/* The object (or bucket) a request is about, for messages. */
/* A GET's answer, before its bytes land: of the version of its object
 * first seen, or refused (one version per object, httpreq_pins). */
static int s3_accept(void *ctx, httpreq *hr)
{
	s3store *s = ctx;
	const s3req *r = (const s3req *)hr;
	char u[600];
	int rc;

	if (!r->key)
		return 0;
	snprintf(u, sizeof(u), "s3://%s/%s", s->bucket, r->key);
	httpreq_lock(s->client);
	rc = httpreq_pin_check(&s->pins, r->key, hr, u);
	httpreq_unlock(s->client);
	return rc;
}

static void s3_target(void *ctx, const httpreq *hr, char *out, size_t len)
{
	s3store *s = ctx;
	const s3req *r = (const s3req *)hr;

	snprintf(out, len, "s3://%s/%.400s", s->bucket, r->key ? r->key : "");
}

/* An error body names the S3 code; keep it for the callers (NoSuchUpload
 * after a retried Complete, a denied HEAD explained).  Called for every
 * error answer, so that a code left from an earlier attempt never
 * explains a later one. */
static void s3_error_detail(void *ctx, httpreq *hr, char *out, size_t len)
{
	s3req *r = (s3req *)hr;
	char perr[256];

	(void)ctx;
	memset(&r->err, 0, sizeof(r->err));
	if (hr->resp_len && s3xml_error(hr->resp, hr->resp_len, &r->err, perr,
					sizeof(perr)) == 0)
		snprintf(out, len, " %s: %.200s", r->err.code, r->err.message);
}

static int retryable_code(const char *code)
{
	static const char *const codes[] = {
		"SlowDown", "RequestTimeout", "InternalError",
		"ServiceUnavailable", "Throttling", "ThrottlingException",
		NULL};

	for (int i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* What S3 adds to the meaning of an error status. */
static int s3_error_verdict(void *ctx, httpreq *hr, int retry)
{
	s3store *s = ctx;
	s3req *r = (s3req *)hr;

	switch (hr->status) {
	case 404:
		if (strcmp(r->err.code, "NoSuchBucket") == 0)
			snprintf(hr->msg, sizeof(hr->msg), "s3://%s: bucket "
				 "does not exist at %s (create it, e.g. `aws s3 "
				 "mb s3://%s --endpoint-url %s`)", s->bucket,
				 s->endpoint, s->bucket, s->endpoint);
		return retry;
	case 401:
	case 403:
		snprintf(hr->msg + strlen(hr->msg),
			 sizeof(hr->msg) - strlen(hr->msg),
			 " (access key %.32s from %s; region %s)",
			 s->ak ? s->ak : "none", s->cred_source, s->region);
		return retry;
	case 400:
		return retry || retryable_code(r->err.code);
	default:
		return retry;
	}
}

ckptio_status s3_client_open(s3store *s)
{
	httpreq_config cfg = {
		.name = "s3",
		.user_agent = "ckptio-s3/1",
		.faults_env = "CKPTIO_S3_FAULTS",
		.ops = s3_req_ops,
		.nops = NOPS,
		.fault_body = s3_fault_body,
		.max_body = S3XML_MAX,
		.opt = s->net,
		.hooks = {.prepare = s3_prepare, .target = s3_target,
			  .error_detail = s3_error_detail,
			  .error_verdict = s3_error_verdict,
			  .accept = s3_accept},
		.ctx = s,
		.host = s->base.host,
		.hc = s->base.hc,
	};

	return httpreq_client_open(&cfg, &s->client);
}
