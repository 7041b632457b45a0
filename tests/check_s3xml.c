/* check_s3xml.c - the S3 plugin's response parsers against valid,
 * malformed, truncated, oversized and hostile XML. */
#include <check.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../plugins/s3/s3xml.h"

static char err[512];

typedef struct seen {
	char keys[512];
	uint64_t total;
	int n, stop_after;
	int64_t mtimes[8];
} seen;

static int on_key(void *user, const char *key, uint64_t size, int64_t mtime)
{
	seen *s = user;

	strcat(s->keys, key);
	strcat(s->keys, "|");
	s->total += size;
	if (s->n < 8)
		s->mtimes[s->n] = mtime;
	return ++s->n == s->stop_after;
}

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
static const char page[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult " NS ">"
	"<Name>b</Name><Prefix>runs/</Prefix><KeyCount>3</KeyCount>"
	"<IsTruncated>true</IsTruncated>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
	"</NextContinuationToken>"
	"<Contents><Key>runs/a b+c</Key><Size>10</Size>"
	"<LastModified>2026-12-01T04:13:29.000Z</LastModified></Contents>"
	"<Contents><Key>runs/caf\xc3\xa9 &amp; co</Key><Size>0</Size>"
	"<LastModified>1970-01-01T00:00:01Z</LastModified></Contents>"
	"<Contents><Key>runs/%41</Key><Size>18446744073709551615</Size>"
	"</Contents></ListBucketResult>";

static int list(const char *body, size_t len, seen *s, int *trunc,
		char **tok)
{
	return s3xml_list(body, len, on_key, s, trunc, tok, err, sizeof(err));
}

START_TEST(test_list_page)
{
	seen s = {.keys = ""};
	int trunc;
	char *tok;

	ck_assert_int_eq(list(page, strlen(page), &s, &trunc, &tok), 0);
	ck_assert_str_eq(s.keys, "runs/a b+c|runs/caf\xc3\xa9 & co|runs/%41|");
	ck_assert_uint_eq(s.total, 9u); /* 10 + 0 + (2^64-1) wraps */
	ck_assert_int_eq(s.mtimes[0], 1796098409); /* date -d ... +%s */
	ck_assert_int_eq(s.mtimes[1], 1);
	ck_assert_int_eq(s.mtimes[2], 0); /* no <LastModified>: unknown */
	ck_assert_int_eq(trunc, 1);
	ck_assert_str_eq(tok, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	free(tok);
	s = (seen){.stop_after = 1}; /* the callback stops after one key */
	ck_assert_int_eq(list(page, strlen(page), &s, &trunc, &tok), 0);
	ck_assert_str_eq(s.keys, "runs/a b+c|");
	free(tok);
}
END_TEST

START_TEST(test_list_last_page_and_empty)
{
	const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			   "<Contents><Key>k</Key><Size>1</Size></Contents>"
			   "</ListBucketResult>";
	const char *empty = "<ListBucketResult " NS "><KeyCount>0</KeyCount>"
			    "<IsTruncated>false</IsTruncated></ListBucketResult>";
	seen s = {.keys = ""};
	int trunc = 7;
	char *tok = (char *)1;

	ck_assert_int_eq(list(last, strlen(last), &s, &trunc, &tok), 0);
	ck_assert_int_eq(trunc, 0);
	ck_assert_ptr_null(tok);
	ck_assert_int_eq(list(empty, strlen(empty), &s, &trunc, &tok), 0);
	ck_assert_int_eq(s.n, 1);
}
END_TEST

static void list_bad(const char *body, size_t len, const char *want)
{
	seen s = {.keys = ""};
	int trunc;
	char *tok = (char *)1;

	err[0] = '\0';
	ck_assert_int_eq(list(body, len, &s, &trunc, &tok), -1);
	ck_assert_ptr_null(tok);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}

static void list_bad_s(const char *body, const char *want)
{
	list_bad(body, strlen(body), want);
}

START_TEST(test_list_rejects)
{
	char *big;

	/* Every truncation of a valid page is rejected. */
	for (size_t cut = 1; cut < strlen(page) - 1; cut += 7)
		list_bad(page, cut, "ListObjectsV2 response: malformed XML");
	list_bad_s("", "ListObjectsV2 response: empty body");
	list_bad_s("<Error><Code>x</Code></Error>",
		 "expected <ListBucketResult>, got <Error>");
	list_bad_s("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
		 "</Contents></ListBucketResult>",
		 "<Size> of key 'k' is not a number");
	list_bad_s("<ListBucketResult><Contents><Key>k</Key><Size>12ab</Size>"
		 "</Contents></ListBucketResult>", "is not a number");
	list_bad_s("<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
		 "<LastModified>yesterday</LastModified></Contents>"
		 "</ListBucketResult>",
		 "<LastModified> of key 'k' is not an ISO 8601 UTC time");
	list_bad_s("<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
		 "<LastModified>2026-12-01T04:13:29+02:00</LastModified>"
		 "</Contents></ListBucketResult>", "<LastModified>");
	list_bad_s("<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
		 "<LastModified>2026-12-01T04:13:29.5ZZ</LastModified>"
		 "</Contents></ListBucketResult>", "<LastModified>");
	list_bad_s("<ListBucketResult><Contents><Key>k</Key><Size>99999999999999"
		 "999999999</Size></Contents></ListBucketResult>",
		 "is not a number");
	list_bad_s("<ListBucketResult><Contents><Size>1</Size></Contents>"
		 "</ListBucketResult>", "a <Key> is missing");
	list_bad_s("<ListBucketResult><IsTruncated>true</IsTruncated>"
		 "</ListBucketResult>", "without a usable");
	big = malloc(S3XML_MAX + 2);
	memset(big, ' ', S3XML_MAX + 1);
	list_bad(big, S3XML_MAX + 1, "over the 16777216-byte limit");
	free(big);
}
END_TEST

START_TEST(test_long_key)
{
	char body[4096], key[2000];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	snprintf(body, sizeof(body), "<ListBucketResult><Contents><Key>%s</Key>"
		 "<Size>1</Size></Contents></ListBucketResult>", key);
	list_bad(body, strlen(body), "longer than 1024 bytes");
}
END_TEST

START_TEST(test_hostile_dtd)
{
	const char *laughs =
		"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
		"<ListBucketResult><Contents><Key>&lol3;</Key><Size>1</Size>"
		"</Contents></ListBucketResult>";
	const char *external =
		"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
		"\"file:///etc/passwd\">]><Error><Code>&x;</Code></Error>";
	s3_error_info e;

	list_bad(laughs, strlen(laughs), "a DTD is not allowed");
	ck_assert_int_eq(s3xml_error(external, strlen(external), &e, err,
				     sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "DTD"));
	ck_assert_ptr_null(strstr(e.code, "root"));
}
END_TEST

START_TEST(test_error_body)
{
	const char *body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>"
			   "<Code>SignatureDoesNotMatch</Code><Message>The "
			   "request signature we calculated does not match"
			   "</Message><RequestId>tx00000a</RequestId></Error>";
	const char *unknown = "<Error><Code>BrandNewCode</Code></Error>";
	s3_error_info e;

	ck_assert_int_eq(s3xml_error(body, strlen(body), &e, err, sizeof(err)), 0);
	ck_assert_str_eq(e.code, "SignatureDoesNotMatch");
	ck_assert_str_eq(e.request_id, "tx00000a");
	ck_assert_ptr_nonnull(strstr(e.message, "does not match"));
	ck_assert_int_eq(s3xml_error(unknown, strlen(unknown), &e, err,
				     sizeof(err)), 0);
	ck_assert_str_eq(e.code, "BrandNewCode");
	ck_assert_str_eq(e.message, "");
	ck_assert_int_eq(s3xml_error("<Error></Error>", 15, &e, err,
				     sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "missing or overlong <Code>"));
	ck_assert_int_eq(s3xml_error("<Error><Code>x", 14, &e, err,
				     sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "S3 error response: malformed XML"));
}
END_TEST

START_TEST(test_upload_id)
{
	const char *ok = "<InitiateMultipartUploadResult " NS "><Bucket>b</Bucket>"
			 "<Key>k</Key><UploadId>2~abc.def</UploadId>"
			 "</InitiateMultipartUploadResult>";
	const char *none = "<InitiateMultipartUploadResult><Key>k</Key>"
			   "</InitiateMultipartUploadResult>";
	char *id = s3xml_upload_id(ok, strlen(ok), err, sizeof(err));

	ck_assert_str_eq(id, "2~abc.def");
	free(id);
	ck_assert_ptr_null(s3xml_upload_id(none, strlen(none), err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "missing or overlong <UploadId>"));
}
END_TEST

typedef struct ups {
	char line[512];
	int n;
} ups;

static int on_upload(void *user, const char *key, const char *id,
		     int64_t initiated)
{
	ups *u = user;
	size_t len = strlen(u->line);

	snprintf(u->line + len, sizeof(u->line) - len, "%s=%s@%lld|", key, id,
		 (long long)initiated);
	u->n++;
	return 0;
}

/* ListMultipartUploads as radosgw and AWS send it: keys, ids, the time
 * each upload began (gc --older-than needs it), markers when truncated. */
START_TEST(test_uploads_page)
{
	static const char page2[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<ListMultipartUploadsResult " NS "><Bucket>b</Bucket>"
		"<IsTruncated>true</IsTruncated>"
		"<NextKeyMarker>t/k2</NextKeyMarker>"
		"<NextUploadIdMarker>2~x</NextUploadIdMarker>"
		"<Upload><Key>t/k1</Key><UploadId>2~abc</UploadId>"
		"<Initiated>2026-11-30T23:59:59.123Z</Initiated></Upload>"
		"<Upload><Key>t/k2</Key><UploadId>2~x</UploadId></Upload>"
		"</ListMultipartUploadsResult>";
	static const char badtime[] =
		"<ListMultipartUploadsResult><Upload><Key>t/k</Key>"
		"<UploadId>u</UploadId><Initiated>30 Nov 2026</Initiated>"
		"</Upload></ListMultipartUploadsResult>";
	ups u = {"", 0};
	char *nk = NULL, *nu = NULL;
	int trunc = 0;

	ck_assert_int_eq(s3xml_uploads(page2, strlen(page2), on_upload, &u,
				       &trunc, &nk, &nu, err, sizeof(err)),
			 0);
	ck_assert_str_eq(u.line, "t/k1=2~abc@1796083199|t/k2=2~x@0|");
	ck_assert_int_eq(trunc, 1);
	ck_assert_str_eq(nk, "t/k2");
	ck_assert_str_eq(nu, "2~x");
	free(nk);
	free(nu);
	ck_assert_int_eq(s3xml_uploads(badtime, strlen(badtime), on_upload, &u,
				       &trunc, &nk, &nu, err, sizeof(err)),
			 -1);
	ck_assert_msg(strstr(err, "<Initiated> of key 't/k' is not an ISO "
				  "8601 UTC time"),
		      "%s", err);
	/* Every truncation of the page is refused, never half-listed. */
	for (size_t cut = 1; cut < strlen(page2) - 1; cut += 5) {
		ck_assert_int_eq(s3xml_uploads(page2, cut, on_upload, &u,
					       &trunc, &nk, &nu, err,
					       sizeof(err)),
				 -1);
		ck_assert_ptr_null(nk);
	}
}
END_TEST

START_TEST(test_time)
{
	int64_t t;

	ck_assert_int_eq(s3xml_time("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(s3xml_time("2026-12-01T04:13:29.000Z", &t), 0);
	ck_assert_int_eq(t, 1796098409);
	ck_assert_int_eq(s3xml_time("2026-12-01T04:13:29+00:00", &t), 0);
	ck_assert_int_eq(t, 1796098409);
	ck_assert_int_eq(s3xml_time("", &t), -1);
	ck_assert_int_eq(s3xml_time("2026-12-01", &t), -1);
	ck_assert_int_eq(s3xml_time("2026-12-01T04:13:29", &t), -1);
	ck_assert_int_eq(s3xml_time("2026-12-01T04:13:29.Zx", &t), -1);
	ck_assert_int_eq(s3xml_time("1969-12-31T23:59:59Z", &t), -1);
	ck_assert_int_eq(s3xml_time("Tue, 01 Dec 2026 04:13:29 GMT", &t), -1);
}
END_TEST

/* A body that declares an encoding its bytes do not follow is rejected
 * without a word on stderr: libxml2's encoding layer printed there past
 * XML_PARSE_NOERROR ("encoding error : input conversion failed").  The
 * thread's libxml2 error handler is left as it was. */
START_TEST(test_bad_encoding_quiet)
{
	static const char body[] =
		"<?xml version=\"1.0\" encoding=\"WINDOWS-1252\"?><Error>"
		"<Code>\x81\x8d</Code></Error>";
	xmlGenericErrorFunc before = xmlGenericError;
	FILE *capture = tmpfile();
	int saved = dup(2), rc;
	s3_error_info e;

	ck_assert_ptr_nonnull(capture);
	ck_assert_int_ge(saved, 0);
	fflush(stderr);
	ck_assert_int_eq(dup2(fileno(capture), 2), 2);
	rc = s3xml_error(body, sizeof(body) - 1, &e, err, sizeof(err));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err, "S3 error response: malformed XML") == err,
		      "%s", err);
	ck_assert_msg(fseek(capture, 0, SEEK_END) == 0 && ftell(capture) == 0,
		      "libxml2 wrote to stderr");
	ck_assert(xmlGenericError == before);
	fclose(capture);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3xml");
	TCase *tc = tcase_create("parsers");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_list_page);
	tcase_add_test(tc, test_list_last_page_and_empty);
	tcase_add_test(tc, test_list_rejects);
	tcase_add_test(tc, test_long_key);
	tcase_add_test(tc, test_hostile_dtd);
	tcase_add_test(tc, test_error_body);
	tcase_add_test(tc, test_upload_id);
	tcase_add_test(tc, test_uploads_page);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_bad_encoding_quiet);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	xmlCleanupParser();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
