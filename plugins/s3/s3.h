/*
 * s3.h - what the files of the S3 store share (never installed):
 *   s3.c      the store: reads, stat, list, remove, open and close, the
 *             descriptor and the entry point;
 *   s3put.c   puts: staging, single PUTs and multipart uploads;
 *   s3req.c   S3 requests on the request layer (plugins/net/httpreq.h):
 *             addressing, SigV4 signing, S3 error codes, the fault ops;
 *   s3conf.c  the options, credentials and endpoint of a store;
 *   sigv4.c, s3xml.c, awsconf.c: the signer, the XML parsers and the
 *             reader of ~/.aws, each with its own header and tests.
 */
#ifndef CKPTIO_S3_S3_H
#define CKPTIO_S3_S3_H

#include <stdint.h>

#include "ckptio/plugin.h"
#include "httpreq.h"
#include "s3xml.h"

/* The kinds of request, for the fault table (CKPTIO_S3_FAULTS) and for
 * messages (s3req.c names them). */
enum s3_op { OP_PUT, OP_CREATE, OP_PART, OP_COMPLETE, OP_ABORT, OP_GET,
	     OP_HEAD, OP_LIST, OP_UPLOADS, OP_DELETE, OP_DELETES, NOPS };

typedef struct s3store {
	ckptio_store base;
	/* Where. */
	char *endpoint;   /* "http://127.0.0.1:9150", no trailing slash */
	char *scheme_host; /* URL up to the path: endpoint, or with bucket. */
	char *host;       /* Host header value */
	char *bucket;
	char *prefix;     /* "" or "runs/a/" */
	int virtual_host;
	char *region;
	/* Who. */
	char *ak, *sk, *token;
	char cred_source[256];
	/* How. */
	uint64_t part_size;
	unsigned list_page;   /* max-keys of a listing request */
	int checksum, sign_payload, conditional_put;
	httpreq_options net;  /* concurrency, retries, timeouts, TLS */
	httpreq_client *client;
	/* Staging buffers (part_size bytes) of puts of non-stable data: in
	 * use, at most, and kept for reuse; under the client's lock. */
	unsigned staged, max_staged;
	unsigned char **free_bufs;
	unsigned nfree;
	/* Uploads seen by list, so that remove can abort them; under the
	 * client's lock. */
	char **up_keys, **up_ids;
	size_t nups;
	/* The version of each object read (full keys): one version per
	 * object for the store's life; under the client's lock. */
	httpreq_pins pins;
} s3store;

/* An S3 request: the layer's request and what signing and S3's answers
 * need. */
typedef struct s3req {
	httpreq base;         /* first: the layer hands back &base */
	s3store *s;
	char *key;            /* full key (prefix included); NULL: bucket */
	char *qname[6], *qval[6]; /* query, not encoded; qval NULL: "name" */
	size_t nq;
	unsigned part;        /* UploadPart: its number */
	const char *payload_hash; /* hex SHA-256 or UNSIGNED-PAYLOAD */
	uint32_t crc;         /* CRC32C of the body (checksum = crc32c) */
	char hash_buf[65];
	s3_error_info err;    /* the <Error> of the last answer */
} s3req;

/* s3.c: helpers of every file. */
ckptio_status s3_oom(s3store *s);
/* Forget the pinned version of key (relative): this store wrote or
 * removed it. */
void s3_pin_forget(s3store *s, const char *key);
int s3_key_valid(const s3store *s, const char *key);
ckptio_status s3_check_key(s3store *s, const char *key);

/* s3req.c: requests.  key is relative to the prefix (NULL: the bucket). */
s3req *s3_req_new(s3store *s, enum s3_op op, const char *method,
		  const char *key);
void s3_req_free(s3req *r);
int s3_req_q(s3req *r, const char *name, const char *value);
int s3_req_xml_body(s3req *r, char *xml, size_t len);
ckptio_status s3_run(s3req *r);
ckptio_status s3_fail_req(s3store *s, s3req *r);
ckptio_status s3_client_open(s3store *s);

/* s3put.c: the put methods, and the abort of an upload. */
ckptio_status s3_put_open(ckptio_store *st, const char *key,
			  uint64_t size_hint, unsigned flags, ckptio_put **out);
ckptio_status s3_put_write(ckptio_put *p, const void *buf, size_t len);
ckptio_status s3_put_commit(ckptio_put *p);
void s3_put_abort(ckptio_put *p);
void s3_abort_upload(s3store *s, const char *rel_key, const char *id);

/* s3conf.c: bucket and prefix (from root or the options), credentials,
 * endpoint and tuning.  *oom_flag set when out of memory. */
ckptio_status s3_configure(s3store *s, const char *root, int *oom_flag);

#endif /* CKPTIO_S3_S3_H */
