/*
 * sigv4.h - AWS Signature Version 4 for the S3 store plugin.
 *
 * Our own signer on OpenSSL rather than libcurl's CURLOPT_AWS_SIGV4, which
 * in curl 7.88 (Debian 12) leaves the canonical query unsorted and
 * unencoded, omits x-amz-content-sha256 and orders header names wrongly
 * when one is a prefix of another (docs/s3.md).  Checked against AWS's
 * published examples by tests/check_sigv4.c.
 *
 * Everything here is pure computation: no I/O, no globals, thread safe.
 */
#ifndef CKPTIO_S3_SIGV4_H
#define CKPTIO_S3_SIGV4_H

#include <stddef.h>

typedef struct s3_kv {
	const char *name;
	const char *value; /* query: NULL means "name=" */
} s3_kv;

typedef struct s3_sig_request {
	const char *method;       /* "GET" */
	const char *path;         /* "/bucket/key with space", not encoded */
	const s3_kv *query;       /* not encoded; any order */
	size_t nquery;
	const s3_kv *headers;     /* signed headers, any case, any order;
				     must include host and x-amz-date */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 or "UNSIGNED-PAYLOAD" */
	const char *amz_date;     /* "20130524T000000Z" */
	const char *region;       /* "us-east-1" */
	const char *service;      /* "s3" */
	int double_encode_path;   /* 1 for services other than s3 */
} s3_sig_request;

/* RFC 3986 encoding as SigV4 wants it: unreserved characters kept, every
 * other byte %XX (upper case); '/' kept when keep_slash.  Returns the
 * malloc'd string or NULL when out of memory. */
char *s3_uri_encode(const char *s, int keep_slash);

/* The canonical request, the string to sign and the signature (64 hex
 * characters) of req; each malloc'd, NULL when out of memory or when
 * req lacks a field.  Exposed for tests and for debugging a server's
 * SignatureDoesNotMatch (which echoes its own canonical request). */
char *s3_canonical_request(const s3_sig_request *req);
char *s3_string_to_sign(const s3_sig_request *req, const char *canonical);
char *s3_signature(const s3_sig_request *req, const char *secret_key,
		   const char *string_to_sign);

/* The Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
 *  SignedHeaders=a;b, Signature=hex"; malloc'd or NULL. */
char *s3_authorization(const s3_sig_request *req, const char *access_key,
		       const char *secret_key);

/* Lower-case hex SHA-256 of buf into out[65]. */
void s3_sha256_hex(const void *buf, size_t len, char out[65]);

#endif /* CKPTIO_S3_SIGV4_H */
