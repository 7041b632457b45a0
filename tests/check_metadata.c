/* check_metadata.c - the metadata model and its JSON form: round trips and
 * every kind of malformed, truncated and hostile input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

static ckptio_host_ctx hc;

static void setup(void)
{
	ckptio__hc_init(&hc, NULL, NULL, NULL);
}

static void teardown(void)
{
	ckptio__hc_destroy(&hc);
}

/* A 2-chunk F32 [4, 3] tensor and a bytes item. */
static ckptio_metadata *sample(void)
{
	const uint64_t shape[2] = {4, 3}, o0[2] = {0, 0}, o1[2] = {2, 0};
	const uint64_t half[2] = {2, 3};
	ckptio_metadata *md;
	size_t t, b;

	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	md->world = 2;
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "w", CKPTIO_ITEM_TENSOR,
					     CKPTIO_F32, 2, shape, &t), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "step", CKPTIO_ITEM_BYTES,
					     0, 0, NULL, &b), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, t, o1, half,
					      "__1_0.t.ckd", 0, 24, 1, 7),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, t, o0, half,
					      "__0_0.t.ckd", 8, 24, 1, 0xdeadbeef),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, b, NULL, NULL,
					      "__0_0.t.ckd", 0, 8, 1, 3),
			 CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_set_attr(&hc, md, "note", "x\"y"), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_seal(&hc, "test", md), CKPTIO_OK);
	return md;
}

START_TEST(test_round_trip)
{
	ckptio_metadata *md = sample(), *back;
	size_t len;
	char *json = ckptio__md_to_json(md, &len);

	ck_assert_ptr_nonnull(json);
	ck_assert_int_eq(ckptio__md_from_json(&hc, "k", json, len, &back),
			 CKPTIO_OK);
	ck_assert_uint_eq(back->nitems, 2);
	ck_assert_int_eq(back->world, 2);
	ck_assert_str_eq(back->items[0].name, "step"); /* sorted */
	ck_assert_uint_eq(back->items[0].nbytes, 8);
	ck_assert_str_eq(back->items[1].name, "w");
	ck_assert_uint_eq(back->items[1].nbytes, 48);
	ck_assert_uint_eq(back->items[1].nchunks, 2);
	ck_assert_uint_eq(back->items[1].chunks[1].crc32c, 0xdeadbeef);
	ck_assert_uint_eq(back->items[1].chunks[1].offset, 8);
	ck_assert_uint_eq(back->items[1].chunks[0].offsets[0], 2);
	ck_assert_str_eq(back->attr_values[0], "x\"y");
	ck_assert_uint_eq(ckptio__md_find(back, "w"), 1);
	ck_assert_uint_eq(ckptio__md_find(back, "nope"), (size_t)-1);
	free(json);
	ckptio__md_free(md);
	ckptio__md_free(back);
}
END_TEST

/* Parse text and expect failure with a message containing `want`. */
static void expect_bad(const char *text, ckptio_status st, const char *want)
{
	ckptio_metadata *md = (ckptio_metadata *)1;

	hc.status = CKPTIO_OK;
	hc.msg[0] = '\0';
	ck_assert_int_eq(ckptio__md_from_json(&hc, "ck/.metadata.json", text,
					      strlen(text), &md), st);
	ck_assert_ptr_null(md);
	ck_assert_msg(strstr(hc.msg, want) != NULL, "message '%s' lacks '%s'",
		      hc.msg, want);
	ck_assert_msg(strstr(hc.msg, "ck/.metadata.json") != NULL,
		      "message '%s' does not name the object", hc.msg);
}

#define HEAD "{\"format\":\"ckptio\",\"version\":1,\"layout\":\"native\",\"world\":1,"
#define T(chunks) HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"tensor\",\"dtype\":\"F32\"," \
	"\"shape\":[4],\"chunks\":[" chunks "]}]}"
#define C(obj, off, len, o, s) "{\"object\":\"" obj "\",\"offset\":" #off \
	",\"length\":" #len ",\"crc32c\":1,\"offsets\":[" #o "],\"shape\":[" #s "]}"

START_TEST(test_valid_minimal)
{
	ckptio_metadata *md;
	const char *t = T(C("__0_0.x.ckd", 0, 16, 0, 4));

	ck_assert_int_eq(ckptio__md_from_json(&hc, "k", t, strlen(t), &md),
			 CKPTIO_OK);
	ck_assert_uint_eq(md->items[0].nbytes, 16);
	ckptio__md_free(md);
}
END_TEST

START_TEST(test_malformed)
{
	expect_bad("", CKPTIO_ECORRUPT, "malformed JSON");
	expect_bad("{\"format\":", CKPTIO_ECORRUPT, "malformed JSON at line 1");
	expect_bad(T(C("a", 0, 16, 0, 4)) "x", CKPTIO_ECORRUPT, "malformed JSON");
	expect_bad("[]", CKPTIO_ECORRUPT, "expected a JSON object");
	expect_bad("{\"format\":\"zip\"}", CKPTIO_ECORRUPT, "format");
	expect_bad("{\"format\":\"ckptio\",\"version\":99,\"world\":1,\"items\":[]}",
		   CKPTIO_EUNSUPPORTED, "version 99 is newer");
	expect_bad(HEAD "\"items\":{}}", CKPTIO_ECORRUPT, "items: expected an array");
	expect_bad("{\"format\":\"ckptio\",\"format\":\"ckptio\"}", CKPTIO_ECORRUPT,
		   "duplicate");
}
END_TEST

START_TEST(test_bad_fields)
{
	expect_bad(T(C("a", -1, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "items[0].chunks[0].offset: expected a non-negative integer");
	expect_bad(T(C("a", 0, 12, 0, 4)), CKPTIO_ECORRUPT,
		   "chunk length 12 does not match");
	expect_bad(T(C("a", 0, 16, 1, 4)), CKPTIO_ECORRUPT, "out of bounds");
	expect_bad(T(C("a", 18446744073709551615, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "malformed JSON");
	expect_bad(T(C("a", 0, 8, 0, 2)), CKPTIO_ECORRUPT, "cover 2 of 4");
	expect_bad(T(C("a", 0, 12, 0, 3) "," C("a", 12, 8, 2, 2)),
		   CKPTIO_ECORRUPT, "overlap");
	expect_bad(HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"tensor\","
		   "\"dtype\":\"F31\",\"shape\":[4],\"chunks\":[]}]}",
		   CKPTIO_ECORRUPT, "dtype: unknown dtype");
	expect_bad(HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"bag\"}]}",
		   CKPTIO_ECORRUPT, "kind");
	expect_bad(HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"tensor\","
		   "\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
		   "\"chunks\":[]}]}",
		   CKPTIO_ECORRUPT, "too large");
	expect_bad(HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"bytes\","
		   "\"chunks\":[]}]}", CKPTIO_ECORRUPT, "has no chunks");
}
END_TEST

START_TEST(test_hostile_names)
{
	char *big, *json;
	size_t n = 10240;

	/* Object keys must stay inside the checkpoint. */
	expect_bad(T(C("../../etc/passwd", 0, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "invalid object name '../../etc/passwd'");
	expect_bad(T(C("/etc/passwd", 0, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "invalid object name");
	expect_bad(T(C("a//b", 0, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "invalid object name");
	expect_bad(T(C("", 0, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "invalid object name");
	/* Item names: NUL, empty, too long, duplicated. */
	expect_bad(HEAD "\"items\":[{\"name\":\"a\\u0000b\",\"kind\":\"bytes\","
		   "\"chunks\":[]}]}", CKPTIO_ECORRUPT, "malformed JSON");
	expect_bad(HEAD "\"items\":[{\"name\":\"\",\"kind\":\"bytes\","
		   "\"chunks\":[]}]}", CKPTIO_ECORRUPT, "item name is 0 bytes");
	expect_bad(HEAD "\"items\":[{\"name\":\"a\",\"kind\":\"bytes\",\"chunks\":"
		   "[{\"object\":\"o\",\"offset\":0,\"length\":1}]},"
		   "{\"name\":\"a\",\"kind\":\"bytes\",\"chunks\":"
		   "[{\"object\":\"o\",\"offset\":0,\"length\":1}]}]}",
		   CKPTIO_ECORRUPT, "item 'a' appears twice");
	big = malloc(n + 1);
	memset(big, 'n', n);
	big[n] = '\0';
	json = ckptio__asprintf(HEAD "\"items\":[{\"name\":\"%s\",\"kind\":"
				"\"bytes\",\"chunks\":[]}]}", big);
	expect_bad(json, CKPTIO_ECORRUPT, "item name is 10240 bytes");
	free(json);
	free(big);
}
END_TEST

START_TEST(test_truncations)
{
	/* Every prefix of a valid document is rejected, never accepted. */
	ckptio_metadata *md = sample(), *back;
	size_t len;
	char *json = ckptio__md_to_json(md, &len);

	for (size_t cut = 0; cut < len; cut++) {
		hc.status = CKPTIO_OK;
		back = NULL;
		ck_assert_int_ne(ckptio__md_from_json(&hc, "k", json, cut, &back),
				 CKPTIO_OK);
		ck_assert_ptr_null(back);
	}
	free(json);
	ckptio__md_free(md);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metadata");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_valid_minimal);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_bad_fields);
	tcase_add_test(tc, test_hostile_names);
	tcase_add_test(tc, test_truncations);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
