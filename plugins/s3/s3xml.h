/*
 * s3xml.h - parsing of S3's XML responses for the S3 store plugin, with
 * libxml2.  Every parser takes the raw body and its length, refuses bodies
 * over S3XML_MAX bytes, DTDs, entities and network access, and explains a
 * rejection in err ("ListObjectsV2 response: <Size> of key 'a' is not a
 * number").  Pure functions: no globals beyond libxml2's, thread safe.
 */
#ifndef CKPTIO_S3_XML_H
#define CKPTIO_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#define S3XML_MAX (16u << 20) /* no legitimate response is this large */
#define S3XML_MAX_KEY 1024    /* S3's own limit on key length */

typedef struct s3_error_info {
	char code[64];      /* "SlowDown", "SignatureDoesNotMatch" */
	char message[512];
	char request_id[128];
} s3_error_info;

/* An <Error> document.  Returns 0, or -1 with err set. */
int s3xml_error(const char *body, size_t len, s3_error_info *out, char *err,
		size_t errlen);

/* Called for each <Contents> of a ListObjectsV2 page with its key, size
 * and <LastModified> in seconds since the epoch (0 when absent); nonzero
 * stops. */
typedef int (*s3xml_key_fn)(void *user, const char *key, uint64_t size,
			    int64_t mtime);

/* A ListObjectsV2 page: every key and size to fn, then *truncated and the
 * malloc'd *next_token (NULL when the listing is complete).  Returns 0, or
 * -1 with err set (nothing is returned in *next_token then). */
int s3xml_list(const char *body, size_t len, s3xml_key_fn fn, void *user,
	       int *truncated, char **next_token, char *err, size_t errlen);

/* <InitiateMultipartUploadResult>: the malloc'd UploadId, or NULL with err
 * set. */
char *s3xml_upload_id(const char *body, size_t len, char *err, size_t errlen);

/* Called for each <Upload> of a ListMultipartUploads page with its key,
 * upload id and <Initiated> time (seconds since the epoch, 0 when absent);
 * nonzero stops. */
typedef int (*s3xml_upload_fn)(void *user, const char *key,
			       const char *upload_id, int64_t initiated);

/* A ListMultipartUploads page: every key and upload id to fn; when
 * *truncated, the malloc'd key and upload-id markers of the next page.
 * Returns 0, or -1 with err set. */
int s3xml_uploads(const char *body, size_t len, s3xml_upload_fn fn,
		  void *user, int *truncated, char **next_key,
		  char **next_upload, char *err, size_t errlen);

/* An S3 timestamp ("2026-12-01T04:13:29.000Z", ISO 8601 in UTC, with
 * optional fractional seconds) in seconds since the epoch.  Returns 0, or
 * -1 when s is not one. */
int s3xml_time(const char *s, int64_t *out);

/* A CompleteMultipartUpload response: 0 when it is a
 * <CompleteMultipartUploadResult>; -1 with err set otherwise (S3 may answer
 * 200 with an <Error> body, which the caller then parses with
 * s3xml_error). */
int s3xml_complete(const char *body, size_t len, char *err, size_t errlen);

/* A DeleteObjects <DeleteResult>: the number of <Error> entries (0: every
 * key deleted), with the first one's key (cut to keylen) and code and
 * message in *first; -1 with err set when the body is not one. */
int s3xml_delete_result(const char *body, size_t len, char *key,
			size_t keylen, s3_error_info *first, char *err,
			size_t errlen);

#endif /* CKPTIO_S3_XML_H */
