/*
 * fuzz_s3xml.c - the S3 plugin's XML response parsers
 * (plugins/s3/s3xml.c): every input goes to each of them (error body,
 * ListObjectsV2, ListMultipartUploads, CreateMultipartUpload,
 * CompleteMultipartUpload, DeleteObjects), and each must either give
 * results that keep its promises (s3xml.h) or fail with a message, and
 * never let libxml2 print to stderr.
 */
#include <libxml/parser.h>
#include <string.h>

#include "../../plugins/s3/s3xml.h"
#include "fuzz.h"

/* Every key passed to a callback: non-empty and within S3's limit. */
static int on_key(void *user, const char *key, uint64_t size, int64_t mtime)
{
	(void)size;
	/* Times are checked by s3xml_time: never before the epoch. */
	FUZZ_CHECK(mtime >= 0, "listed key with time %lld", (long long)mtime);
	FUZZ_CHECK(*key && strlen(key) <= S3XML_MAX_KEY, "listed key of "
		   "%zu bytes", strlen(key));
	/* Stop early now and then, as a caller may. */
	return ++*(int *)user == 1000;
}

static int on_upload(void *user, const char *key, const char *id,
		     int64_t initiated)
{
	FUZZ_CHECK(initiated >= 0, "listed upload with time %lld",
		   (long long)initiated);
	FUZZ_CHECK(*key && strlen(key) <= S3XML_MAX_KEY && *id,
		   "listed upload with a key of %zu bytes and an id of %zu",
		   strlen(key), strlen(id));
	++*(int *)user;
	return 0;
}

static void check_err(int failed, const char *err, const char *fn)
{
	if (failed)
		FUZZ_CHECK(*err, "%s failed without a message", fn);
}

static void fuzz_list(const char *body, size_t len)
{
	char err[512] = "", *token = (char *)1;
	int n = 0, truncated = -1;
	int rc = s3xml_list(body, len, on_key, &n, &truncated, &token, err,
			    sizeof(err));

	check_err(rc != 0, err, "s3xml_list");
	FUZZ_CHECK(rc == 0 || rc == -1, "s3xml_list returned %d", rc);
	FUZZ_CHECK(rc == 0 ? (truncated == 1) == (token != NULL) && (!token || *token)
			   : token == NULL,
		   "s3xml_list: rc %d, truncated %d, token %s", rc, truncated,
		   token ? "set" : "NULL");
	free(token);
}

static void fuzz_uploads(const char *body, size_t len)
{
	char err[512] = "", *key = (char *)1, *id = (char *)1;
	int n = 0, truncated = -1;
	int rc = s3xml_uploads(body, len, on_upload, &n, &truncated, &key, &id,
			       err, sizeof(err));

	check_err(rc != 0, err, "s3xml_uploads");
	FUZZ_CHECK(rc == 0 || rc == -1, "s3xml_uploads returned %d", rc);
	FUZZ_CHECK(rc == 0 && truncated == 1 ? key && id && (*key || *id)
					     : !key && !id,
		   "s3xml_uploads: rc %d, truncated %d, markers %s/%s", rc,
		   truncated, key ? "set" : "NULL", id ? "set" : "NULL");
	free(key);
	free(id);
}

/* libxml2 printing to stderr: the parsers must keep it quiet (they give
 * their errors in err), whatever the body. */
static void on_print(void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void on_print(void *ctx, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	(void)ctx;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fuzz_fail("libxml2 printed to stderr: %s", msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, on_print);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char err[512] = "", key[64];
	s3_error_info e;
	char *id;
	int rc;

	rc = s3xml_error(body, size, &e, err, sizeof(err));
	check_err(rc != 0, err, "s3xml_error");
	FUZZ_CHECK(rc != 0 || (*e.code && strlen(e.code) < sizeof(e.code)),
		   "s3xml_error accepted an empty <Code>");
	fuzz_list(body, size);
	fuzz_uploads(body, size);
	err[0] = '\0';
	id = s3xml_upload_id(body, size, err, sizeof(err));
	check_err(!id, err, "s3xml_upload_id");
	FUZZ_CHECK(!id || *id, "s3xml_upload_id gave an empty id");
	free(id);
	err[0] = '\0';
	check_err(s3xml_complete(body, size, err, sizeof(err)) != 0, err,
		  "s3xml_complete");
	err[0] = '\0';
	rc = s3xml_delete_result(body, size, key, sizeof(key), &e, err,
				 sizeof(err));
	check_err(rc < 0, err, "s3xml_delete_result");
	FUZZ_CHECK(rc >= -1 && strlen(key) < sizeof(key),
		   "s3xml_delete_result returned %d", rc);
	return 0;
}
