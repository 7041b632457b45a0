/* check_sigv4.c - the S3 plugin's SigV4 signer against AWS's published
 * examples (S3 developer guide and the signature-v4 test suite). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/s3/sigv4.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_AK "AKIAIOSFODNN7EXAMPLE"
#define S3_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* S3 guide, "Example: GET Object": the first 10 bytes of test.txt. */
START_TEST(test_s3_get_object)
{
	const s3_kv h[] = {
		{"Host", "examplebucket.s3.amazonaws.com"},
		{"Range", "bytes=0-9"},
		{"x-amz-content-sha256", EMPTY_SHA},
		{"x-amz-date", "20130524T000000Z"},
	};
	s3_sig_request r = {"GET", "/test.txt", NULL, 0, h, 4, EMPTY_SHA,
			    "20130524T000000Z", "us-east-1", "s3", 0};
	char *creq = s3_canonical_request(&r), *sts, *sig, *auth;

	ck_assert_str_eq(creq, "GET\n/test.txt\n\n"
			       "host:examplebucket.s3.amazonaws.com\n"
			       "range:bytes=0-9\n"
			       "x-amz-content-sha256:" EMPTY_SHA "\n"
			       "x-amz-date:20130524T000000Z\n\n"
			       "host;range;x-amz-content-sha256;x-amz-date\n"
			       EMPTY_SHA);
	sts = s3_string_to_sign(&r, creq);
	ck_assert_str_eq(sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n"
			      "20130524/us-east-1/s3/aws4_request\n"
			      "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	sig = s3_signature(&r, S3_SK, sts);
	ck_assert_str_eq(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	auth = s3_authorization(&r, S3_AK, S3_SK);
	ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
			       "20130524/us-east-1/s3/aws4_request, SignedHeaders="
			       "host;range;x-amz-content-sha256;x-amz-date, "
			       "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	free(creq);
	free(sts);
	free(sig);
	free(auth);
}
END_TEST

/* Test suite get-vanilla-query-order-key-case: the query is sorted. */
START_TEST(test_suite_query_order)
{
	const s3_kv q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
	const s3_kv h[] = {{"Host", "example.amazonaws.com"},
			   {"X-Amz-Date", "20150830T123600Z"}};
	s3_sig_request r = {"GET", "/", q, 2, h, 2, EMPTY_SHA,
			    "20150830T123600Z", "us-east-1", "service", 1};
	char *auth = s3_authorization(&r, "AKIDEXAMPLE", SUITE_SK);
	char *creq = s3_canonical_request(&r);

	ck_assert_ptr_nonnull(strstr(creq, "\nParam1=value1&Param2=value2\n"));
	ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
			       "us-east-1/service/aws4_request, SignedHeaders="
			       "host;x-amz-date, Signature="
			       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
	free(auth);
	free(creq);
}
END_TEST

/* Test suite get-header-key-duplicate: repeated names join in order. */
START_TEST(test_suite_duplicate_header)
{
	const s3_kv h[] = {{"Host", "example.amazonaws.com"},
			   {"My-Header1", "value2"},
			   {"My-Header1", "value2"},
			   {"My-Header1", "value1"},
			   {"X-Amz-Date", "20150830T123600Z"}};
	s3_sig_request r = {"GET", "/", NULL, 0, h, 5, EMPTY_SHA,
			    "20150830T123600Z", "us-east-1", "service", 1};
	char *creq = s3_canonical_request(&r);
	char *auth = s3_authorization(&r, "AKIDEXAMPLE", SUITE_SK);

	ck_assert_ptr_nonnull(strstr(creq, "\nmy-header1:value2,value2,value1\n"));
	ck_assert_ptr_nonnull(strstr(auth, "SignedHeaders=host;my-header1;x-amz-date, "
				     "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"));
	free(creq);
	free(auth);
}
END_TEST

/* Header names where one is a prefix of another sort by full name, and
 * values are trimmed with inner spaces folded. */
START_TEST(test_header_order_and_trim)
{
	const s3_kv h[] = {{"x-amz-meta-ab", "  two   words "},
			   {"X-Amz-Meta-A", "1"},
			   {"host", "h"},
			   {"x-amz-date", "20150830T123600Z"}};
	s3_sig_request r = {"PUT", "/b/k", NULL, 0, h, 4, "UNSIGNED-PAYLOAD",
			    "20150830T123600Z", "eu-west-1", "s3", 0};
	char *creq = s3_canonical_request(&r);

	ck_assert_str_eq(creq, "PUT\n/b/k\n\nhost:h\nx-amz-date:20150830T123600Z\n"
			       "x-amz-meta-a:1\nx-amz-meta-ab:two words\n\n"
			       "host;x-amz-date;x-amz-meta-a;x-amz-meta-ab\n"
			       "UNSIGNED-PAYLOAD");
	free(creq);
}
END_TEST

START_TEST(test_encoding)
{
	char *a = s3_uri_encode("runs/step 1/a+b%c~d_e.f-g\xc3\xa9", 1);
	char *b = s3_uri_encode("a/b=c&d", 0);
	const s3_kv q[] = {{"prefix", "runs/x y"}, {"list-type", "2"},
			   {"uploads", NULL}};
	const s3_kv h[] = {{"host", "h"}, {"x-amz-date", "20150830T123600Z"}};
	s3_sig_request r = {"GET", "/bucket/a b+c", q, 3, h, 2, EMPTY_SHA,
			    "20150830T123600Z", "us-east-1", "s3", 0};
	char *creq = s3_canonical_request(&r);

	ck_assert_str_eq(a, "runs/step%201/a%2Bb%25c~d_e.f-g%C3%A9");
	ck_assert_str_eq(b, "a%2Fb%3Dc%26d");
	ck_assert_ptr_nonnull(strstr(creq, "GET\n/bucket/a%20b%2Bc\n"
				     "list-type=2&prefix=runs%2Fx%20y&uploads=\n"));
	free(a);
	free(b);
	free(creq);
}
END_TEST

START_TEST(test_incomplete_request)
{
	s3_sig_request r = {"GET", "/", NULL, 0, NULL, 0, EMPTY_SHA, "2015",
			    "us-east-1", "s3", 0};
	char hex[65];

	ck_assert_ptr_null(s3_canonical_request(&r)); /* date too short */
	ck_assert_ptr_null(s3_authorization(&r, "AK", "SK"));
	s3_sha256_hex("", 0, hex);
	ck_assert_str_eq(hex, EMPTY_SHA);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sigv4");
	TCase *tc = tcase_create("aws examples");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_s3_get_object);
	tcase_add_test(tc, test_suite_query_order);
	tcase_add_test(tc, test_suite_duplicate_header);
	tcase_add_test(tc, test_header_order_and_trim);
	tcase_add_test(tc, test_encoding);
	tcase_add_test(tc, test_incomplete_request);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
