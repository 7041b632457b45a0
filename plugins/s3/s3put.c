/*
 * s3put.c - puts of the S3 store: bytes are cut into parts of part_size
 * as they come; an object that ends before its first part is full goes
 * in one PUT, otherwise a multipart upload sends a window of parts in
 * parallel and completes them in order, and is aborted on failure.  A
 * stable put (CKPTIO_PUT_STABLE) sends parts straight from the caller's
 * memory; others are copied into a bounded pool of staging buffers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream */
#endif
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"
#include "sigv4.h"

#define MAX_PARTS 10000           /* S3's most parts in an upload */

/* ------------------------------------------------------------------------ */
/* Private state                                                            */

struct ckptio_put {
	s3store *s;
	char *key;          /* relative key */
	unsigned flags;
	int stable;         /* CKPTIO_PUT_STABLE: keep references */
	/* The part being filled: references (stable) or a staging buffer. */
	httpreq_seg *segs;
	size_t nsegs, capsegs;
	unsigned char *buf;
	uint64_t cur;
	/* Multipart state. */
	char *upload_id;
	unsigned nparts;
	char **etags;       /* MAX_PARTS slots, filled by the I/O thread */
	uint32_t *crcs;     /* MAX_PARTS */
	httpreq_group grp;  /* parts in flight */
	ckptio_status st;   /* the first failed part (client's lock) */
	char msg[1024];
	uint64_t total;
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static ckptio_status put_fail(ckptio_put *p)
{
	return p->s->base.host->error(p->s->base.hc, p->st, "%s", p->msg);
}

/* A staging buffer for a non-stable put, waiting while the store's budget
 * is used up.  NULL: out of memory. */
static unsigned char *stage_get(s3store *s)
{
	unsigned char *b = NULL;

	httpreq_lock(s->client);
	while (s->staged >= s->max_staged)
		httpreq_cond_wait(s->client);
	s->staged++;
	if (s->nfree)
		b = s->free_bufs[--s->nfree];
	httpreq_unlock(s->client);
	if (!b && !(b = malloc(s->part_size))) {
		httpreq_lock(s->client);
		s->staged--;
		httpreq_broadcast(s->client);
		httpreq_unlock(s->client);
	}
	return b;
}

/* Give a staging buffer back and wake the puts waiting for one (the
 * request layer wakes only a part's own put); with the client's lock
 * held. */
static void stage_put_locked(s3store *s, unsigned char *b)
{
	s->staged--;
	if (s->nfree < s->max_staged)
		s->free_bufs[s->nfree++] = b;
	else
		free(b);
	httpreq_broadcast(s->client);
}

static int seg_add(ckptio_put *p, const void *buf, uint64_t len)
{
	if (p->nsegs == p->capsegs) {
		size_t cap = p->capsegs ? p->capsegs * 2 : 16;
		httpreq_seg *v = realloc(p->segs, cap * sizeof(*v));

		if (!v)
			return -1;
		p->segs = v;
		p->capsegs = cap;
	}
	p->segs[p->nsegs++] = (httpreq_seg){(unsigned char *)buf, len};
	return 0;
}

static void crc_b64(uint32_t crc, char out[9])
{
	unsigned char be[4] = {crc >> 24, crc >> 16, crc >> 8, crc};

	EVP_EncodeBlock((unsigned char *)out, be, 4);
}

/* The checksum and payload headers of a body made of segs. */
static int body_headers(s3store *s, s3req *r)
{
	if (s->checksum) {
		uint32_t crc = 0;
		char b64[9];

		for (size_t i = 0; i < r->base.nbody; i++)
			crc = s->base.host->crc32c(crc, r->base.body[i].buf,
						   r->base.body[i].len);
		crc_b64(crc, b64);
		if (httpreq_header(&r->base, "x-amz-checksum-crc32c", b64) != 0)
			return -1;
		r->crc = crc;
	}
	if (s->sign_payload) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned char h[32];
		unsigned hl = 0;

		if (!md)
			return -1;
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		for (size_t i = 0; i < r->base.nbody; i++)
			EVP_DigestUpdate(md, r->base.body[i].buf,
					 r->base.body[i].len);
		EVP_DigestFinal_ex(md, h, &hl);
		EVP_MD_CTX_free(md);
		for (int i = 0; i < 32; i++)
			sprintf(r->hash_buf + 2 * i, "%02x", h[i]);
		r->payload_hash = r->hash_buf;
	} else {
		r->payload_hash = "UNSIGNED-PAYLOAD";
	}
	return 0;
}

/* Hand the part being filled to req r as its body (the put starts a new
 * one). */
static void take_body(ckptio_put *p, s3req *r)
{
	r->base.body = p->segs;
	r->base.nbody = p->nsegs;
	r->base.body_len = p->cur;
	p->segs = NULL;
	p->nsegs = p->capsegs = 0;
	p->cur = 0;
}

/* ------------------------------------------------------------------------ */
/* Multipart uploads                                                        */

static ckptio_status create_upload(ckptio_put *p)
{
	s3store *s = p->s;
	s3req *r = s3_req_new(s, OP_CREATE, "POST", p->key);
	char err[256];
	ckptio_status st;

	if (!r || s3_req_q(r, "uploads", NULL) != 0 ||
	    (s->checksum &&
	     httpreq_header(&r->base, "x-amz-checksum-algorithm",
			    "CRC32C") != 0)) {
		s3_req_free(r);
		return s3_oom(s);
	}
	st = s3_run(r);
	if (st == CKPTIO_OK &&
	    !(p->upload_id = s3xml_upload_id(r->base.resp, r->base.resp_len,
					     err, sizeof(err))))
		st = s->base.host->error(s->base.hc, CKPTIO_EIO,
					 "s3://%s/%s: %s", s->bucket, r->key,
					 err);
	else if (st != CKPTIO_OK)
		s3_fail_req(s, r);
	s3_req_free(r);
	if (st == CKPTIO_OK &&
	    (!(p->etags = calloc(MAX_PARTS, sizeof(*p->etags))) ||
	     !(p->crcs = calloc(MAX_PARTS, sizeof(*p->crcs)))))
		st = s3_oom(s);
	return st;
}

/* A part is done (I/O thread, the client's lock held). */
static void part_done(httpreq *hr)
{
	s3req *r = (s3req *)hr;
	ckptio_put *p = hr->user;

	if (r->base.st == CKPTIO_OK && !r->base.etag[0]) {
		r->base.st = CKPTIO_EIO;
		snprintf(r->base.msg, sizeof(r->base.msg), "s3://%s/%s: "
			 "UploadPart: no ETag in the answer", p->s->bucket,
			 r->key);
	}
	if (r->base.st == CKPTIO_OK) {
		unsigned part = r->part;

		p->etags[part - 1] = strdup(r->base.etag);
		if (!p->etags[part - 1]) {
			r->base.st = CKPTIO_ENOMEM;
			snprintf(r->base.msg, sizeof(r->base.msg),
				 "out of memory");
		}
	}
	if (r->base.st != CKPTIO_OK && p->st == CKPTIO_OK) {
		p->st = r->base.st;
		memcpy(p->msg, r->base.msg, sizeof(p->msg));
	}
	if (!p->stable && r->base.nbody)
		stage_put_locked(p->s, r->base.body[0].buf);
	p->grp.pending--;
	s3_req_free(r);
}

/* Send the part being filled (p->cur > 0) as part nparts+1. */
static ckptio_status submit_part(ckptio_put *p)
{
	s3store *s = p->s;
	s3req *r;
	char num[16];
	ckptio_status st;

	if (!p->upload_id && (st = create_upload(p)) != CKPTIO_OK)
		return st;
	if (p->nparts == MAX_PARTS)
		return s->base.host->error(
			s->base.hc, CKPTIO_EUNSUPPORTED,
			"s3://%s/%s%s: more than %d parts of %" PRIu64
			" bytes: raise part_size", s->bucket, s->prefix, p->key,
			MAX_PARTS, s->part_size);
	r = s3_req_new(s, OP_PART, "PUT", p->key);
	if (!r)
		return s3_oom(s);
	p->nparts++;
	take_body(p, r);
	snprintf(num, sizeof(num), "%u", p->nparts);
	r->part = p->nparts;
	if (s3_req_q(r, "partNumber", num) != 0 ||
	    s3_req_q(r, "uploadId", p->upload_id) != 0 ||
	    body_headers(s, r) != 0) {
		if (!p->stable && r->base.nbody) {
			httpreq_lock(s->client);
			stage_put_locked(s, r->base.body[0].buf);
			httpreq_unlock(s->client);
		}
		p->buf = NULL;
		s3_req_free(r);
		return s3_oom(s);
	}
	p->crcs[p->nparts - 1] = r->crc;
	r->base.user = p;
	r->base.grp = &p->grp;
	r->base.done = part_done;
	httpreq_submit(&r->base);
	p->buf = NULL;
	/* Keep a window of parts in flight: enough to fill the connections,
	 * few enough that progress means something. */
	httpreq_wait(s->client, &p->grp, s->net.concurrency);
	httpreq_lock(s->client);
	st = p->st;
	httpreq_unlock(s->client);
	return st == CKPTIO_OK ? CKPTIO_OK : put_fail(p);
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                  */

ckptio_status s3_put_open(ckptio_store *st, const char *key,
				 uint64_t size_hint, unsigned flags,
				 ckptio_put **out)
{
	s3store *s = (s3store *)st;
	ckptio_put *p;
	ckptio_status rc = s3_check_key(s, key);

	(void)size_hint; /* parts are cut as the bytes come */
	if (rc != CKPTIO_OK)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->key = strdup(key))) {
		free(p);
		return s3_oom(s);
	}
	p->s = s;
	p->flags = flags;
	p->stable = !!(flags & CKPTIO_PUT_STABLE);
	*out = p;
	return CKPTIO_OK;
}

ckptio_status s3_put_write(ckptio_put *p, const void *buf, size_t len)
{
	s3store *s = p->s;
	const unsigned char *b = buf;
	ckptio_status st;

	httpreq_lock(s->client);
	st = p->st;
	httpreq_unlock(s->client);
	if (st != CKPTIO_OK)
		return put_fail(p);
	while (len > 0) {
		uint64_t room = s->part_size - p->cur;
		size_t k = len < room ? len : (size_t)room;

		if (p->stable) {
			if (seg_add(p, b, k) != 0)
				return s3_oom(s);
		} else {
			if (!p->buf) {
				if (!(p->buf = stage_get(s)))
					return s3_oom(s);
				if (seg_add(p, p->buf, 0) != 0)
					return s3_oom(s);
			}
			memcpy(p->buf + p->cur, b, k);
			p->segs[0].len += k;
		}
		p->cur += k;
		p->total += k;
		b += k;
		len -= k;
		if (p->cur == s->part_size &&
		    (st = submit_part(p)) != CKPTIO_OK)
			return st;
	}
	return CKPTIO_OK;
}

/* Wait for every part in flight (they may read the caller's memory). */
static void drain(ckptio_put *p)
{
	httpreq_wait(p->s->client, &p->grp, 0);
}

void s3_abort_upload(s3store *s, const char *rel_key, const char *id)
{
	s3req *r = s3_req_new(s, OP_ABORT, "DELETE", rel_key);

	if (r && s3_req_q(r, "uploadId", id) == 0 &&
	    s3_run(r) != CKPTIO_OK && r->base.st != CKPTIO_ENOTFOUND)
		s->base.host->log(s->base.hc, CKPTIO_LOG_WARN,
				  "%s; `ckptio rm --gc` removes the upload "
				  "later", r->base.msg);
	s3_req_free(r);
}

static void put_free(ckptio_put *p)
{
	s3store *s = p->s;

	if (p->buf) {
		httpreq_lock(s->client);
		stage_put_locked(s, p->buf);
		httpreq_unlock(s->client);
	}
	for (unsigned i = 0; p->etags && i < p->nparts; i++)
		free(p->etags[i]);
	free(p->etags);
	free(p->crcs);
	free(p->segs);
	free(p->upload_id);
	free(p->key);
	free(p);
}

void s3_put_abort(ckptio_put *p)
{
	drain(p);
	if (p->upload_id)
		s3_abort_upload(p->s, p->key, p->upload_id);
	put_free(p);
}

/* The one-request put of an object smaller than a part. */
static ckptio_status put_single(ckptio_put *p)
{
	s3store *s = p->s;
	s3req *r = s3_req_new(s, OP_PUT, "PUT", p->key);
	ckptio_status st;

	if (!r)
		return s3_oom(s);
	take_body(p, r);
	if (r->base.nbody == 0 && seg_add(p, "", 0) == 0)
		take_body(p, r); /* an empty object: one empty segment */
	/* A staged body stays in p->buf, which is freed with p. */
	if (body_headers(s, r) != 0 ||
	    ((p->flags & CKPTIO_PUT_IF_ABSENT) && s->conditional_put &&
	     httpreq_header(&r->base, "If-None-Match", "*") != 0)) {
		s3_req_free(r);
		return s3_oom(s);
	}
	st = s3_run(r);
	if (st == CKPTIO_EEXIST)
		st = s->base.host->error(s->base.hc, CKPTIO_EEXIST,
					 "s3://%s/%s: already exists",
					 s->bucket, r->key);
	else if (st != CKPTIO_OK)
		s3_fail_req(s, r);
	s3_req_free(r);
	return st;
}

/* After a retried Complete answered NoSuchUpload: is the object there,
 * with every byte we sent? */
static int completed_anyway(ckptio_put *p)
{
	s3req *r = s3_req_new(p->s, OP_HEAD, "HEAD", p->key);
	int done = r && s3_run(r) == CKPTIO_OK && r->base.length >= 0 &&
		   (uint64_t)r->base.length == p->total;

	s3_req_free(r);
	return done;
}

static ckptio_status complete_upload(ckptio_put *p)
{
	s3store *s = p->s;
	s3req *r = s3_req_new(s, OP_COMPLETE, "POST", p->key);
	char *xml = NULL, err[256];
	size_t xlen = 0;
	FILE *f;
	ckptio_status st;

	if (!r || s3_req_q(r, "uploadId", p->upload_id) != 0 ||
	    !(f = open_memstream(&xml, &xlen))) {
		s3_req_free(r);
		return s3_oom(s);
	}
	fputs("<CompleteMultipartUpload>", f);
	for (unsigned i = 0; i < p->nparts; i++) {
		fprintf(f, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag>",
			i + 1, p->etags[i]);
		if (s->checksum) {
			char b64[9];

			crc_b64(p->crcs[i], b64);
			fprintf(f, "<ChecksumCRC32C>%s</ChecksumCRC32C>", b64);
		}
		fputs("</Part>", f);
	}
	fputs("</CompleteMultipartUpload>", f);
	if (fclose(f) != 0 || s3_req_xml_body(r, xml, xlen) != 0) {
		free(xml);
		s3_req_free(r);
		return s3_oom(s);
	}
	if ((p->flags & CKPTIO_PUT_IF_ABSENT) && s->conditional_put &&
	    httpreq_header(&r->base, "If-None-Match", "*") != 0) {
		free(xml);
		s3_req_free(r);
		return s3_oom(s);
	}
	st = s3_run(r);
	/* S3 may answer 200 and put an <Error> in the body. */
	if (st == CKPTIO_OK &&
	    s3xml_complete(r->base.resp, r->base.resp_len, err,
			   sizeof(err)) != 0) {
		s3_error_info e;
		char perr[64];

		if (s3xml_error(r->base.resp, r->base.resp_len, &e, perr,
				sizeof(perr)) == 0)
			st = s->base.host->error(
				s->base.hc, CKPTIO_EIO,
				"s3://%s/%s: CompleteMultipartUpload: %s: "
				"%.200s", s->bucket, r->key, e.code, e.message);
		else
			st = s->base.host->error(s->base.hc, CKPTIO_EIO,
						 "s3://%s/%s: %s", s->bucket,
						 r->key, err);
	} else if (st == CKPTIO_ENOTFOUND && r->base.attempt > 1 &&
		   strcmp(r->err.code, "NoSuchUpload") == 0 &&
		   completed_anyway(p)) {
		/* An earlier attempt completed it; its answer was lost. */
		st = CKPTIO_OK;
	} else if (st != CKPTIO_OK) {
		s3_fail_req(s, r);
	}
	free(xml);
	s3_req_free(r);
	return st;
}

ckptio_status s3_put_commit(ckptio_put *p)
{
	s3store *s = p->s;
	ckptio_status st = CKPTIO_OK;

	httpreq_lock(s->client);
	st = p->st;
	httpreq_unlock(s->client);
	if (st != CKPTIO_OK) {
		put_fail(p);
	} else if (!p->upload_id) {
		st = put_single(p);
	} else {
		if (p->cur > 0)
			st = submit_part(p);
		drain(p);
		if (st == CKPTIO_OK && p->st != CKPTIO_OK)
			st = put_fail(p); /* no part is in flight now */
		if (st == CKPTIO_OK)
			st = complete_upload(p);
	}
	/* Whatever happened, the object may have a new version now. */
	s3_pin_forget(s, p->key);
	if (st != CKPTIO_OK) {
		s3_put_abort(p);
		return st;
	}
	put_free(p);
	return CKPTIO_OK;
}
