/*
 * s3xml.c - S3 response parsing (see s3xml.h).
 */
#include <errno.h>
#include <pthread.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3xml.h"

/* libxml2's generic error output, silenced while we parse. */
static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

/* libxml2 (2.9) initialises its globals on first use, and two threads
 * doing that at once race: one global mutex is allocated twice and one is
 * lost (LeakSanitizer saw it in a multipart save).  Its documentation asks
 * multithreaded programs to call xmlInitParser() once first. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

/* Parse with every network and entity feature off.  NULL with err set. */
static xmlDocPtr parse(const char *what, const char *body, size_t len,
		       const char *root, char *err, size_t errlen)
{
	xmlGenericErrorFunc saved;
	void *saved_ctx;
	xmlDocPtr doc;
	xmlNodePtr top;

	pthread_once(&xml_once, xml_init);
	if (!body || len == 0) {
		snprintf(err, errlen, "%s: empty body", what);
		return NULL;
	}
	if (len > S3XML_MAX) {
		snprintf(err, errlen, "%s: %zu bytes, over the %u-byte limit",
			 what, len, S3XML_MAX);
		return NULL;
	}
	/* XML_PARSE_NOERROR does not cover the encoding layer: a body that
	 * declares an encoding its bytes do not follow would have libxml2
	 * print to the application's stderr.  The handler is the thread's. */
	saved = xmlGenericError;
	saved_ctx = xmlGenericErrorContext;
	xmlSetGenericErrorFunc(NULL, quiet);
	doc = xmlReadMemory(body, (int)len, "response.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
	xmlSetGenericErrorFunc(saved_ctx, saved);
	if (!doc) {
		const xmlError *e = xmlGetLastError();

		snprintf(err, errlen, "%s: malformed XML%s%.200s", what,
			 e && e->message ? ": " : "",
			 e && e->message ? e->message : "");
		/* libxml2 messages end with a newline */
		if (strlen(err) && err[strlen(err) - 1] == '\n')
			err[strlen(err) - 1] = '\0';
		return NULL;
	}
	/* A DTD could declare entities (billion laughs, external files). */
	if (doc->intSubset || doc->extSubset) {
		snprintf(err, errlen, "%s: a DTD is not allowed", what);
		xmlFreeDoc(doc);
		return NULL;
	}
	top = xmlDocGetRootElement(doc);
	if (!top || xmlStrcmp(top->name, (const xmlChar *)root) != 0) {
		snprintf(err, errlen, "%s: expected <%s>, got <%.64s>", what, root,
			 top ? (const char *)top->name : "nothing");
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(c->name, (const xmlChar *)name) == 0)
			return c;
	return NULL;
}

/* Text of <name> under n copied into out; -1 when longer than outlen-1. */
static int text_of(xmlNodePtr n, const char *name, char *out, size_t outlen)
{
	xmlChar *t = xmlNodeGetContent(child(n, name));
	size_t len = t ? strlen((const char *)t) : 0;
	int rc = len < outlen ? 0 : -1;

	if (outlen)
		snprintf(out, outlen, "%s", t ? (const char *)t : "");
	xmlFree(t);
	return rc;
}

int s3xml_error(const char *body, size_t len, s3_error_info *out, char *err,
		size_t errlen)
{
	xmlDocPtr doc = parse("S3 error response", body, len, "Error", err,
			      errlen);
	xmlNodePtr top;

	memset(out, 0, sizeof(*out));
	if (!doc)
		return -1;
	top = xmlDocGetRootElement(doc);
	text_of(top, "Message", out->message, sizeof(out->message));
	text_of(top, "RequestId", out->request_id, sizeof(out->request_id));
	if (text_of(top, "Code", out->code, sizeof(out->code)) != 0 ||
	    !out->code[0]) {
		snprintf(err, errlen, "S3 error response: missing or overlong "
				      "<Code>");
		xmlFreeDoc(doc);
		return -1;
	}
	xmlFreeDoc(doc);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

int s3xml_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *p;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p || strlen(s) < 19 || tm.tm_year < 70)
		return -1;
	if (*p == '.') /* fractional seconds: digits only */
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* The optional timestamp <name> of n: 0 when absent, -1 when malformed. */
static int time_of(xmlNodePtr n, const char *name, int64_t *out)
{
	char buf[64];

	*out = 0;
	if (!child(n, name))
		return 0;
	if (text_of(n, name, buf, sizeof(buf)) != 0)
		return -1;
	return s3xml_time(buf, out);
}

int s3xml_list(const char *body, size_t len, s3xml_key_fn fn, void *user,
	       int *truncated, char **next_token, char *err, size_t errlen)
{
	static const char what[] = "ListObjectsV2 response";
	xmlDocPtr doc = parse(what, body, len, "ListBucketResult", err, errlen);
	char key[S3XML_MAX_KEY + 1], num[32], flag[8], token[2048];
	xmlNodePtr top;
	int rc = 0;

	*next_token = NULL;
	*truncated = 0;
	if (!doc)
		return -1;
	top = xmlDocGetRootElement(doc);
	for (xmlNodePtr c = top->children; c && rc == 0; c = c->next) {
		uint64_t size;
		int64_t mtime;

		if (c->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(c->name, (const xmlChar *)"Contents") != 0)
			continue;
		if (text_of(c, "Key", key, sizeof(key)) != 0 || !key[0]) {
			snprintf(err, errlen, "%s: a <Key> is missing, empty or "
				 "longer than %d bytes", what, S3XML_MAX_KEY);
			rc = -1;
		} else if (text_of(c, "Size", num, sizeof(num)) != 0 ||
			   parse_u64(num, &size) != 0) {
			snprintf(err, errlen, "%s: <Size> of key '%.200s' is not "
				 "a number", what, key);
			rc = -1;
		} else if (time_of(c, "LastModified", &mtime) != 0) {
			snprintf(err, errlen, "%s: <LastModified> of key "
				 "'%.200s' is not an ISO 8601 UTC time", what,
				 key);
			rc = -1;
		} else if (fn(user, key, size, mtime)) {
			break;
		}
	}
	if (rc == 0 && text_of(top, "IsTruncated", flag, sizeof(flag)) == 0)
		*truncated = strcmp(flag, "true") == 0;
	if (rc == 0 && *truncated) {
		if (text_of(top, "NextContinuationToken", token,
			    sizeof(token)) != 0 || !token[0]) {
			snprintf(err, errlen, "%s: truncated listing without a "
				 "usable <NextContinuationToken>", what);
			rc = -1;
		} else if (!(*next_token = strdup(token))) {
			snprintf(err, errlen, "%s: out of memory", what);
			rc = -1;
		}
	}
	xmlFreeDoc(doc);
	return rc;
}

char *s3xml_upload_id(const char *body, size_t len, char *err, size_t errlen)
{
	static const char what[] = "CreateMultipartUpload response";
	xmlDocPtr doc = parse(what, body, len, "InitiateMultipartUploadResult",
			      err, errlen);
	char id[1024];
	char *out = NULL;

	if (!doc)
		return NULL;
	if (text_of(xmlDocGetRootElement(doc), "UploadId", id, sizeof(id)) != 0 ||
	    !id[0])
		snprintf(err, errlen, "%s: missing or overlong <UploadId>", what);
	else if (!(out = strdup(id)))
		snprintf(err, errlen, "%s: out of memory", what);
	xmlFreeDoc(doc);
	return out;
}

int s3xml_uploads(const char *body, size_t len, s3xml_upload_fn fn,
		  void *user, int *truncated, char **next_key,
		  char **next_upload, char *err, size_t errlen)
{
	static const char what[] = "ListMultipartUploads response";
	xmlDocPtr doc = parse(what, body, len, "ListMultipartUploadsResult", err,
			      errlen);
	char key[S3XML_MAX_KEY + 1], id[1024], flag[8];
	xmlNodePtr top;
	int rc = 0;

	*next_key = *next_upload = NULL;
	*truncated = 0;
	if (!doc)
		return -1;
	top = xmlDocGetRootElement(doc);
	for (xmlNodePtr c = top->children; c && rc == 0; c = c->next) {
		int64_t initiated;

		if (c->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(c->name, (const xmlChar *)"Upload") != 0)
			continue;
		if (text_of(c, "Key", key, sizeof(key)) != 0 || !key[0]) {
			snprintf(err, errlen, "%s: a <Key> is missing, empty or "
				 "longer than %d bytes", what, S3XML_MAX_KEY);
			rc = -1;
		} else if (text_of(c, "UploadId", id, sizeof(id)) != 0 ||
			   !id[0]) {
			snprintf(err, errlen, "%s: <UploadId> of key '%.200s' "
				 "is missing or overlong", what, key);
			rc = -1;
		} else if (time_of(c, "Initiated", &initiated) != 0) {
			snprintf(err, errlen, "%s: <Initiated> of key '%.200s' "
				 "is not an ISO 8601 UTC time", what, key);
			rc = -1;
		} else if (fn(user, key, id, initiated)) {
			break;
		}
	}
	if (rc == 0 && text_of(top, "IsTruncated", flag, sizeof(flag)) == 0)
		*truncated = strcmp(flag, "true") == 0;
	if (rc == 0 && *truncated) {
		if (text_of(top, "NextKeyMarker", key, sizeof(key)) != 0 ||
		    text_of(top, "NextUploadIdMarker", id, sizeof(id)) != 0 ||
		    (!key[0] && !id[0])) {
			snprintf(err, errlen, "%s: truncated listing without "
				 "usable next markers", what);
			rc = -1;
		} else if (!(*next_key = strdup(key)) ||
			   !(*next_upload = strdup(id))) {
			free(*next_key);
			*next_key = NULL;
			snprintf(err, errlen, "%s: out of memory", what);
			rc = -1;
		}
	}
	xmlFreeDoc(doc);
	return rc;
}

int s3xml_complete(const char *body, size_t len, char *err, size_t errlen)
{
	xmlDocPtr doc = parse("CompleteMultipartUpload response", body, len,
			      "CompleteMultipartUploadResult", err, errlen);

	if (!doc)
		return -1;
	xmlFreeDoc(doc);
	return 0;
}

int s3xml_delete_result(const char *body, size_t len, char *key,
			size_t keylen, s3_error_info *first, char *err,
			size_t errlen)
{
	xmlDocPtr doc = parse("DeleteObjects response", body, len,
			      "DeleteResult", err, errlen);
	int n = 0;

	memset(first, 0, sizeof(*first));
	if (keylen)
		key[0] = '\0';
	if (!doc)
		return -1;
	for (xmlNodePtr c = xmlDocGetRootElement(doc)->children; c;
	     c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(c->name, (const xmlChar *)"Error") != 0)
			continue;
		if (n++ == 0) {
			text_of(c, "Key", key, keylen);
			text_of(c, "Code", first->code, sizeof(first->code));
			text_of(c, "Message", first->message,
				sizeof(first->message));
		}
	}
	xmlFreeDoc(doc);
	return n;
}
