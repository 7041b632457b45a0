/* check_metadata.c - the metadata model and its JSON form: round trips and
 * every kind of malformed, truncated and hostile input. */
#include <check.h>
#include <jansson.h>
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

/* sample() as versions 1 and 2 write it. */
static const char sample_v1[] =
	"{\"format\":\"ckptio\",\"version\":1,\"layout\":\"native\",\"world\":2,"
	"\"attrs\":{\"note\":\"x\\\"y\"},\"items\":[{\"name\":\"step\",\"kind\":"
	"\"bytes\",\"chunks\":[{\"object\":\"__0_0.t.ckd\",\"offset\":0,"
	"\"length\":8,\"crc32c\":3}]},{\"name\":\"w\",\"kind\":\"tensor\","
	"\"dtype\":\"F32\",\"shape\":[4,3],\"chunks\":[{\"object\":"
	"\"__1_0.t.ckd\",\"offset\":0,\"length\":24,\"crc32c\":7,\"offsets\":"
	"[2,0],\"shape\":[2,3]},{\"object\":\"__0_0.t.ckd\",\"offset\":8,"
	"\"length\":24,\"crc32c\":3735928559,\"offsets\":[0,0],\"shape\":"
	"[2,3]}]}]}";
static const char sample_v2[] =
	"{\"format\":\"ckptio\",\"version\":2,\"layout\":\"native\",\"world\":2,"
	"\"attrs\":{\"note\":\"x\\\"y\"},\"objects\":[\"__0_0.t.ckd\","
	"\"__1_0.t.ckd\"],\"items\":[[\"step\",\"bytes\",null,[[0,0,8,3]]],"
	"[\"w\",\"F32\",[4,3],[[1,0,24,7,[2,0],[2,3]],"
	"[0,8,24,3735928559,[0,0],[2,3]]]]]}";

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
		   "key 'format' appears twice");
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

/* Every prefix of a valid document is rejected, never accepted. */
static void expect_prefixes_bad(const char *json, size_t len)
{
	ckptio_metadata *back;

	for (size_t cut = 0; cut < len; cut++) {
		hc.status = CKPTIO_OK;
		back = NULL;
		ck_assert_int_ne(ckptio__md_from_json(&hc, "k", json, cut, &back),
				 CKPTIO_OK);
		ck_assert_ptr_null(back);
	}
}

START_TEST(test_truncations)
{
	ckptio_metadata *md = sample();
	size_t len;
	char *json = ckptio__md_to_json(md, &len);

	expect_prefixes_bad(json, len);
	expect_prefixes_bad(sample_v1, strlen(sample_v1));
	free(json);
	ckptio__md_free(md);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Tiling: chunks hold every element of a tensor exactly once               */

static void reset_error(void)
{
	hc.status = CKPTIO_OK;
	hc.msg[0] = '\0';
}

/* Seal a U8 tensor of the given shape cut into n chunks, given as
 * offsets then shape (2 * ndim numbers each). */
static ckptio_status tile(unsigned ndim, const uint64_t *shape, size_t n,
			  const uint64_t *boxes)
{
	ckptio_metadata *md;
	size_t t;
	ckptio_status st;

	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "t", CKPTIO_ITEM_TENSOR,
					     CKPTIO_U8, ndim, shape, &t),
			 CKPTIO_OK);
	for (size_t i = 0; i < n; i++) {
		const uint64_t *o = boxes + 2 * ndim * i, *s = o + ndim;
		uint64_t len = 1;

		for (unsigned d = 0; d < ndim; d++)
			len *= s[d];
		ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, t, o, s, "d", 0,
						      len, 0, 0),
				 CKPTIO_OK);
	}
	st = ckptio__md_seal(&hc, "test", md);
	ckptio__md_free(md);
	return st;
}

#define NBOX(b, ndim) (sizeof(b) / sizeof((b)[0]) / (2 * (ndim)))
#define TILE_OK(ndim, shape, b) \
	ck_assert_msg(tile(ndim, shape, NBOX(b, ndim), b) == CKPTIO_OK, \
		      "%s rejected: %s", #b, hc.msg)
#define TILE_BAD(ndim, shape, b, want)                                    \
	do {                                                              \
		ck_assert_int_eq(tile(ndim, shape, NBOX(b, ndim), b),     \
				 CKPTIO_ECORRUPT);                        \
		ck_assert_msg(strstr(hc.msg, want) != NULL,               \
			      "%s: message '%s' lacks '%s'", #b, hc.msg,  \
			      want);                                      \
	} while (0)

START_TEST(test_tiling_valid)
{
	const uint64_t s4[1] = {4}, s0[1] = {0}, s44[2] = {4, 4};
	const uint64_t s33[2] = {3, 3}, s30[2] = {3, 0}, s234[3] = {2, 3, 4};
	const uint64_t scalar[1] = {0};
	/* 1-D, out of order; zero-size chunks hold nothing, anywhere. */
	const uint64_t line[] = {2, 2, 0, 2};
	const uint64_t zeros[] = {0, 4, 2, 0, 4, 0, 0, 0};
	const uint64_t empty[] = {0, 0, 0, 0, 0, 0};
	const uint64_t empty2[] = {0, 0, 3, 0, 1, 0, 2, 0};
	/* 2-D, not a grid: each row band split its own way. */
	const uint64_t bricks[] = {0, 0, 2, 2, 0, 2, 2, 2, 2, 0, 2, 1,
				   2, 1, 2, 2, 2, 3, 2, 1};
	/* 2-D pinwheel: no straight cut runs through it. */
	const uint64_t pinwheel[] = {0, 0, 2, 1, 2, 0, 1, 2, 1, 2, 2, 1,
				     0, 1, 1, 2, 1, 1, 1, 1};
	/* 3-D. */
	const uint64_t cube[] = {0, 0, 0, 1, 3, 4, 1, 0, 0, 1, 2, 4,
				 1, 2, 0, 1, 1, 1, 1, 2, 1, 1, 1, 3};
	/* 5-D, cut in 3 unequal parts along every dimension. */
	const uint64_t s5[5] = {6, 6, 6, 6, 6}, at[3] = {0, 1, 3};
	uint64_t grid5[243 * 10];

	for (unsigned i = 0; i < 243; i++)
		for (unsigned d = 0, c = i; d < 5; d++, c /= 3) {
			grid5[10 * i + d] = at[c % 3];
			grid5[10 * i + 5 + d] = (c % 3 == 2 ? 6 : at[c % 3 + 1]) -
						at[c % 3];
		}
	TILE_OK(1, s4, line);
	TILE_OK(1, s4, zeros);
	TILE_OK(1, s0, empty);
	TILE_OK(2, s30, empty2);
	TILE_OK(2, s44, bricks);
	TILE_OK(2, s33, pinwheel);
	TILE_OK(3, s234, cube);
	ck_assert_msg(tile(5, s5, 243, grid5) == CKPTIO_OK, "%s", hc.msg);
	/* A 0-dim scalar: one chunk of one element. */
	ck_assert_msg(tile(0, NULL, 1, scalar) == CKPTIO_OK, "%s", hc.msg);
}
END_TEST

START_TEST(test_tiling_hostile)
{
	const uint64_t s4[1] = {4}, s44[2] = {4, 4}, s33[2] = {3, 3};
	const uint64_t s234[3] = {2, 3, 4};
	const uint64_t scalar[2] = {0, 0};
	/* Same element count as the tensor, an overlap and a gap. */
	const uint64_t shifted[] = {0, 2, 1, 2};
	const uint64_t late[] = {1, 2, 2, 2};
	const uint64_t twins[] = {0, 2, 0, 2};
	const uint64_t bands[] = {0, 0, 2, 4, 1, 0, 2, 4};
	/* A cross: neither bar has a corner inside the other. */
	const uint64_t cross[] = {0, 1, 3, 1, 1, 0, 1, 3, 0, 0, 1, 1,
				  2, 0, 1, 1, 0, 2, 1, 1};
	const uint64_t cube[] = {0, 0, 0, 1, 3, 4, 1, 0, 0, 1, 2, 4,
				 1, 2, 0, 1, 1, 1, 1, 1, 1, 1, 1, 3};
	/* A 2 x 2 grid of blocks, one twice and one missing. */
	const uint64_t blocks[] = {0, 0, 2, 2, 0, 2, 2, 2, 2, 0, 2, 2,
				   0, 0, 2, 2};
	/* More elements than the tensor, or fewer. */
	const uint64_t thrice[] = {0, 4, 0, 4, 0, 4};
	const uint64_t short_[] = {0, 1, 2, 2};

	TILE_BAD(1, s4, shifted, "chunks 0 and 1 overlap at element [1]");
	TILE_BAD(1, s4, late, "chunks overlap: element [0] is in none");
	TILE_BAD(1, s4, twins, "chunks 0 and 1 overlap at element [0]");
	TILE_BAD(2, s44, bands, "chunks 0 and 1 overlap at element [1, 0]");
	TILE_BAD(2, s33, cross, "chunks 0 and 1 overlap at element [1, 1]");
	TILE_BAD(3, s234, cube, "chunks 1 and 3 overlap at element [1, 1, 1]");
	TILE_BAD(2, s44, blocks, "chunks 0 and 3 overlap at element [0, 0]");
	TILE_BAD(1, s4, thrice, "chunks overlap: they hold more elements");
	TILE_BAD(1, s4, short_, "chunks cover 3 of 4 elements");
	ck_assert_int_eq(tile(0, NULL, 2, scalar), CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(hc.msg, "chunks overlap"));
}
END_TEST

/* 5 chunks of a U8 tensor of 2^62 elements, each all of it: their
 * element counts add up to the tensor's modulo 2^64.  (Dimensions stop
 * below 2^63, as the numbers of the JSON form.) */
START_TEST(test_tiling_wraparound)
{
	const uint64_t big = (uint64_t)1 << 62, shape[1] = {big};
	const uint64_t whole[] = {0, big, 0, big, 0, big, 0, big, 0, big};

	TILE_BAD(1, shape, whole, "chunks overlap");
}
END_TEST

/* The central cell of a 3 x 3 x ... tensor of `ndim` dimensions and the
 * 2 * ndim slabs around it; the cell moved to the corner when `moved`. */
static uint64_t *central_cell(unsigned ndim, int moved, size_t *n)
{
	uint64_t *b = calloc((2 * ndim + 1) * 2 * ndim, sizeof(*b)), *o, *s;

	ck_assert_ptr_nonnull(b);
	for (unsigned k = 0; k < 2 * ndim; k++) {
		o = b + 2 * ndim * k;
		s = o + ndim;
		for (unsigned d = 0; d < ndim; d++) {
			o[d] = d < k / 2 ? 1 : d == k / 2 ? 2 * (k % 2) : 0;
			s[d] = d <= k / 2 ? 1 : 3;
		}
	}
	o = b + 2 * ndim * 2 * ndim;
	for (unsigned d = 0; d < ndim; d++) {
		o[d] = moved ? 0 : 1;
		o[ndim + d] = 1;
	}
	*n = 2 * ndim + 1;
	return b;
}

START_TEST(test_tiling_many_dimensions)
{
	uint64_t shape[CKPTIO_MAX_NDIM], *b;
	size_t n;

	for (unsigned d = 0; d < CKPTIO_MAX_NDIM; d++)
		shape[d] = 3;
	/* 4096 corners for the cell: checked by corners. */
	b = central_cell(12, 0, &n);
	ck_assert_msg(tile(12, shape, n, b) == CKPTIO_OK, "%s", hc.msg);
	free(b);
	/* 2^32 corners: few chunks, checked pair by pair. */
	b = central_cell(32, 0, &n);
	ck_assert_msg(tile(32, shape, n, b) == CKPTIO_OK, "%s", hc.msg);
	free(b);
	b = central_cell(32, 1, &n);
	ck_assert_int_eq(tile(32, shape, n, b), CKPTIO_ECORRUPT);
	ck_assert_msg(strstr(hc.msg, "chunks 0 and 64 overlap"), "%s", hc.msg);
	free(b);
}
END_TEST

/* Many chunks and 2^21 corners for one of them: more than the check
 * affords, so refused, and said so. */
START_TEST(test_tiling_too_irregular)
{
	const unsigned nd = 21, ndim = nd + 1, split = 4096;
	uint64_t shape[CKPTIO_MAX_NDIM], *cell, *b, *o;
	size_t n, k = 0;

	cell = central_cell(nd, 0, &n);
	b = calloc((n - 1 + split) * 2 * ndim, sizeof(*b));
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++)
		for (unsigned part = 0; part < (i == 0 ? split : 1); part++) {
			o = b + 2 * ndim * k++;
			memcpy(o, cell + 2 * nd * i, nd * sizeof(*o));
			memcpy(o + ndim, cell + 2 * nd * i + nd,
			       nd * sizeof(*o));
			o[nd] = i == 0 ? part : 0;
			o[ndim + nd] = i == 0 ? 1 : split;
		}
	for (unsigned d = 0; d < nd; d++)
		shape[d] = 3;
	shape[nd] = split;
	ck_assert_int_eq(tile(ndim, shape, k, b), CKPTIO_ECORRUPT);
	ck_assert_msg(strstr(hc.msg, "too irregular to check"), "%s", hc.msg);
	free(b);
	free(cell);
}
END_TEST

START_TEST(test_bytes_and_scalars)
{
	const uint64_t none[1] = {0};
	ckptio_metadata *md;
	size_t b, s;

	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "b", CKPTIO_ITEM_BYTES, 0,
					     0, NULL, &b), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "s", CKPTIO_ITEM_TENSOR,
					     CKPTIO_F64, 0, NULL, &s), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, b, NULL, NULL, "o", 0, 5,
					      0, 0), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, b, NULL, NULL, "o", 5, 5,
					      0, 0), CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(hc.msg, "has exactly one chunk"));
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, s, none, none, "o", 10,
					      8, 0, 0), CKPTIO_OK);
	reset_error();
	ck_assert_int_eq(ckptio__md_seal(&hc, "test", md), CKPTIO_OK);
	ck_assert_uint_eq(md->items[0].nbytes, 5);
	ck_assert_uint_eq(md->items[1].nbytes, 8);
	ck_assert_uint_eq(md->items[1].ndim, 0);
	ckptio__md_free(md);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Attributes                                                               */

START_TEST(test_attrs)
{
	ckptio_metadata *md;
	size_t n = 100000, i;
	char key[32], val[32];
	ckptio_status st = CKPTIO_OK;

	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_set_attr(&hc, md, NULL, "v"), CKPTIO_EINVAL);
	/* Distinct keys, then each set again: the last value stays.  (One
	 * assertion per loop: Check logs every one.) */
	for (i = 0; st == CKPTIO_OK && i < 2 * n; i++) {
		snprintf(key, sizeof(key), "k%06zu", (i * 7919) % n);
		snprintf(val, sizeof(val), "%zu", i);
		st = ckptio__md_set_attr(&hc, md, key, val);
	}
	ck_assert_int_eq(st, CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_seal(&hc, "test", md), CKPTIO_OK);
	ck_assert_uint_eq(md->nattrs, n);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%06zu", i);
		if (strcmp(md->attr_keys[i], key) != 0)
			break;
	}
	ck_assert_uint_eq(i, n);
	/* k000000 was set at i = 0 and i = n. */
	ck_assert_str_eq(md->attr_values[0], "100000");
	ckptio__md_free(md);
	expect_bad(HEAD "\"attrs\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"},"
		   "\"items\":[]}", CKPTIO_ECORRUPT,
		   "attrs: key 'a' appears twice");
	expect_bad(HEAD "\"attrs\":{\"a\":1},\"items\":[]}", CKPTIO_ECORRUPT,
		   "attrs: expected string values");
	expect_bad(HEAD "\"attrs\":[],\"items\":[]}", CKPTIO_ECORRUPT,
		   "attrs: expected an object of strings");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The JSON reader                                                          */

static ckptio_metadata *parse_ok(const char *text)
{
	ckptio_metadata *md = NULL;

	reset_error();
	ck_assert_msg(ckptio__md_from_json(&hc, "k", text, strlen(text), &md) ==
			      CKPTIO_OK,
		      "rejected: %s", hc.msg);
	return md;
}

/* Members in any order, escapes, unknown members of every kind. */
static const char any_order[] =
		"{\"items\":[{\"chunks\":[{\"shape\":[2],\"offsets\":[2],"
		"\"length\":8,\"offset\":8,\"object\":\"__0_0.\\u0074.ckd\","
		"\"x\":{\"y\":[1,2.5e3,-0,true,null,\"\\\"\",{}]}},"
		"{\"object\":\"__0_0.t.ckd\",\"offset\":0,\"length\":8,"
		"\"offsets\":[0],\"shape\":[2],\"crc32c\":4294967295}],"
		"\"shape\":[4],\"dtype\":\"F32\",\"kind\":\"tensor\","
		"\"name\":\"caf\\u00e9\"},"
		" {\"name\":\"b\",\"dtype\":7,\"shape\":{\"any\":[]},"
		"\"chunks\":[{\"length\":1000000000000000000,\"offset\":0,"
		"\"object\":\"o\",\"shape\":\"ignored\"}],\"kind\":\"bytes\"}],"
		"\"world\":3,\"extra\":[[[]]],\"attrs\":{\"\\u0061\":\"\\n\"},"
		"\"layout\":\"native\",\"version\":1,\"format\":\"ckptio\"}\n";

START_TEST(test_json_any_order)
{
	ckptio_metadata *md = parse_ok(any_order);
	const ckptio_item_meta *t;

	ck_assert_uint_eq(md->nitems, 2);
	ck_assert_int_eq(md->world, 3);
	ck_assert_str_eq(md->attr_keys[0], "a");
	ck_assert_str_eq(md->attr_values[0], "\n");
	ck_assert_str_eq(md->items[0].name, "b");
	ck_assert_uint_eq(md->items[0].nbytes, 1000000000000000000ull);
	t = &md->items[1];
	ck_assert_str_eq(t->name, "caf\xc3\xa9");
	ck_assert_uint_eq(t->nchunks, 2);
	ck_assert_uint_eq(t->chunks[0].offsets[0], 2);
	ck_assert_int_eq(t->chunks[0].has_crc, 0);
	ck_assert_uint_eq(t->chunks[1].crc32c, 4294967295u);
	/* One copy of each object name, however it was spelled. */
	ck_assert_str_eq(t->chunks[0].object, "__0_0.t.ckd");
	ck_assert_ptr_eq(t->chunks[0].object, t->chunks[1].object);
	ckptio__md_free(md);
}
END_TEST

/* Version 2 with its members out of order: items before the objects
 * table and the header, unknown members, escapes, chunks without a
 * CRC32C, a whole tensor in a chunk written as a part of it. */
static const char any_order_v2[] =
		"{\"items\":[[\"caf\\u00e9\",\"F32\",[4],[[1,8,8,null,[2],[2]],"
		"[0,0,8,4294967295,[0],[2]]]],"
		" [\"b\",\"bytes\",null,[[1,0,1000000000000000000,null]]],"
		"[\"s\",\"F64\",[],[[0,16,8,5]]],"
		"[\"w\",\"U8\",[2,2],[[0,0,4,1,[0,0],[2,2]]]]],"
		"\"extra\":{\"objects\":[7]},\"objects\":[\"__0_0.\\u0074.ckd\","
		"\"o\"],\"world\":3,\"attrs\":{\"\\u0061\":\"\\n\"},"
		"\"layout\":\"native\",\"version\":2,\"format\":\"ckptio\"}\n";

START_TEST(test_json_any_order_v2)
{
	ckptio_metadata *md = parse_ok(any_order_v2);
	const ckptio_item_meta *t;
	size_t len;
	char *json;

	ck_assert_uint_eq(md->nitems, 4);
	ck_assert_int_eq(md->world, 3);
	ck_assert_str_eq(md->attr_keys[0], "a");
	ck_assert_str_eq(md->attr_values[0], "\n");
	ck_assert_str_eq(md->items[0].name, "b");
	ck_assert_int_eq(md->items[0].kind, CKPTIO_ITEM_BYTES);
	ck_assert_uint_eq(md->items[0].nbytes, 1000000000000000000ull);
	ck_assert_int_eq(md->items[0].chunks[0].has_crc, 0);
	t = &md->items[1];
	ck_assert_str_eq(t->name, "caf\xc3\xa9");
	ck_assert_uint_eq(t->nchunks, 2);
	ck_assert_uint_eq(t->chunks[0].offsets[0], 2);
	ck_assert_int_eq(t->chunks[0].has_crc, 0);
	ck_assert_int_eq(t->chunks[1].has_crc, 1);
	ck_assert_uint_eq(t->chunks[1].crc32c, 4294967295u);
	ck_assert_str_eq(t->chunks[1].object, "__0_0.t.ckd");
	/* One copy of each object name. */
	ck_assert_ptr_eq(t->chunks[0].object, md->items[0].chunks[0].object);
	ck_assert_uint_eq(md->items[2].nbytes, 8);
	ck_assert_uint_eq(md->items[2].ndim, 0);
	t = &md->items[3];
	ck_assert_uint_eq(t->chunks[0].offsets[1], 0);
	ck_assert_uint_eq(t->chunks[0].shape[1], 2);
	/* Written back in order, each object once, in the order of first use,
	 * whole chunks without offsets and shape. */
	json = ckptio__md_to_json(md, &len);
	ck_assert_ptr_nonnull(json);
	ck_assert_str_eq(json,
			 "{\"format\":\"ckptio\",\"version\":2,\"layout\":"
			 "\"native\",\"world\":3,\"attrs\":{\"a\":\"\\n\"},"
			 "\"objects\":[\"o\",\"__0_0.t.ckd\"],\"items\":["
			 "[\"b\",\"bytes\",null,[[0,0,1000000000000000000,"
			 "null]]],[\"caf\xc3\xa9\",\"F32\",[4],[[0,8,8,null,[2],"
			 "[2]],[1,0,8,4294967295,[0],[2]]]],[\"s\",\"F64\",[],"
			 "[[1,16,8,5]]],[\"w\",\"U8\",[2,2],[[1,0,4,1]]]]}");
	free(json);
	ckptio__md_free(md);
}
END_TEST

START_TEST(test_json_duplicates)
{
	expect_bad("{\"format\":\"ckptio\",\"\\u0066ormat\":\"ckptio\"}",
		   CKPTIO_ECORRUPT, "ck/.metadata.json: key 'format' appears twice");
	expect_bad(HEAD "\"items\":[],\"items\":[]}", CKPTIO_ECORRUPT,
		   "key 'items' appears twice");
	expect_bad(HEAD "\"items\":[{\"name\":\"a\",\"name\":\"b\"}]}",
		   CKPTIO_ECORRUPT, "items[0]: key 'name' appears twice");
	expect_bad(T("{\"object\":\"a\",\"offset\":0,\"offset\":1}"),
		   CKPTIO_ECORRUPT,
		   "items[0].chunks[0]: key 'offset' appears twice");
	/* Before the item is known (its chunks first), and after. */
	expect_bad(HEAD "\"items\":[{\"chunks\":[],\"name\":\"a\",\"kind\":"
		   "\"bytes\",\"kind\":\"bytes\"}]}",
		   CKPTIO_ECORRUPT, "items[0]: key 'kind' appears twice");
	expect_bad(HEAD "\"items\":[{\"name\":\"a\",\"kind\":\"bytes\","
		   "\"chunks\":[{\"object\":\"o\",\"offset\":0,\"length\":1}],"
		   "\"chunks\":[]}]}",
		   CKPTIO_ECORRUPT, "items[0]: key 'chunks' appears twice");
}
END_TEST

START_TEST(test_json_syntax)
{
	/* Every one malformed, anywhere in the document. */
	static const char *const bad[] = {
		HEAD "\"items\":[],}",
		HEAD "\"items\":[]",
		HEAD "\"items\" []}",
		HEAD "\"items\":[]} x",
		HEAD "\"items\":[{\"name\":\"a\",\"kind\":\"bytes\","
		     "\"shape\":[1,,2],\"chunks\":[{\"object\":\"o\","
		     "\"offset\":0,\"length\":1}]}]}",
		HEAD "\"x\":[1 2],\"items\":[]}",
		HEAD "\"x\":{\"a\"},\"items\":[]}",
		HEAD "\"x\":{1:2},\"items\":[]}",
		HEAD "\"x\":\"\\q\",\"items\":[]}",
		HEAD "\"x\":\"a\tb\",\"items\":[]}",
		HEAD "\"x\":\"\xff\",\"items\":[]}",
		HEAD "\"x\":01,\"items\":[]}",
		HEAD "\"x\":+1,\"items\":[]}",
		HEAD "\"x\":NaN,\"items\":[]}",
		HEAD "\"x\":[1,],\"items\":[]}",
		HEAD "\"x\":tru,\"items\":[]}",
		HEAD "\"items\":[{\"name\":\"a\",\"kind\":\"bytes\",\"chunks\":"
		     "[{\"object\":\"o\",\"offset\":0,\"length\":1},]}]}",
		T(C("a", 0, 16, 0, 4) ",x"),
		T(C("a", 00, 16, 0, 4)),
		"{\"format\":\"ckptio\"",
		"{\"format\" : \"ckpt",
		"  ",
		/* An unterminated string after the end: yajl alone takes it
		 * for a token still to come. */
		HEAD "\"items\":[]}\"",
		HEAD "\"items\":[]} \"abc",
		HEAD "\"items\":[]}\n\"\\u00",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i], CKPTIO_ECORRUPT, "malformed JSON");
	expect_bad(T(C("a", 1.0, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "offset: expected a non-negative integer");
	expect_bad(T(C("a", 0, 16, 0, 4e0)), CKPTIO_ECORRUPT,
		   "shape: expected non-negative integers");
	expect_bad(HEAD "\"items\":[{\"name\":[\"a\"]}]}", CKPTIO_ECORRUPT,
		   "items[0].name: expected a string");
}
END_TEST

/* Nesting deeper than jansson's limit, in a member nobody reads: an
 * error, not a crash. */
START_TEST(test_json_deep)
{
	size_t depth = 100000, n = strlen(HEAD) + 2 * depth + 32;
	char *text = malloc(n), *p = text;

	ck_assert_ptr_nonnull(text);
	p += sprintf(p, HEAD "\"x\":");
	memset(p, '[', depth);
	memset(p + depth, ']', depth);
	strcpy(p + 2 * depth, ",\"items\":[]}");
	expect_bad(text, CKPTIO_ECORRUPT, "maximum parsing depth");
	/* Objects as keys, nested: refused at the first. */
	memset(p, '{', depth);
	expect_bad(text, CKPTIO_ECORRUPT, "invalid object key");
	/* 2000 levels are fine. */
	memset(p, '[', 2000);
	memset(p + 2000, ']', 2000);
	strcpy(p + 4000, ",\"items\":[]}");
	ckptio__md_free(parse_ok(text));
	free(text);
}
END_TEST

/* The reader accepts only valid JSON: whatever one byte of a valid
 * document is changed to, or deleted, a document it accepts jansson
 * accepts as well.  Returns how many it accepted. */
static size_t only_valid(const char *json, size_t len)
{
	static const char repl[] = "\"\\{}[],: 0-.ex\x01\x80";
	ckptio_metadata *back;
	size_t accepted = 0;
	char *mut = malloc(len + 1);
	json_error_t e;
	json_t *j;

	ck_assert_ptr_nonnull(mut);
	for (size_t at = 0; at < len; at++)
		for (size_t r = 0; r <= sizeof(repl) - 1; r++) {
			size_t n = len;

			memcpy(mut, json, len);
			if (r < sizeof(repl) - 1)
				mut[at] = repl[r];
			else
				memmove(mut + at, mut + at + 1, --n - at);
			reset_error();
			back = NULL;
			if (ckptio__md_from_json(&hc, "k", mut, n, &back) !=
			    CKPTIO_OK)
				continue;
			accepted++;
			ckptio__md_free(back);
			j = json_loadb(mut, n, 0, &e);
			ck_assert_msg(j != NULL, "accepted invalid JSON %.*s",
				      (int)n, mut);
			json_decref(j);
		}
	free(mut);
	return accepted;
}

START_TEST(test_json_only_valid)
{
	ckptio_metadata *md = sample();
	size_t len;
	char *json = ckptio__md_to_json(md, &len);

	ck_assert_uint_gt(only_valid(json, len), 0);
	ck_assert_uint_gt(only_valid(sample_v1, strlen(sample_v1)), 0);
	/* Members out of order: the look-aheads too. */
	ck_assert_uint_gt(only_valid(any_order, strlen(any_order)), 0);
	ck_assert_uint_gt(only_valid(any_order_v2, strlen(any_order_v2)), 0);
	free(json);
	ckptio__md_free(md);
}
END_TEST

/* Strings are held to strict JSON (RFC 8259, UTF-8 as in RFC 3629)
 * wherever they are, keys too: yajl alone lets some of these through, or
 * turns them into other characters. */
START_TEST(test_json_strings)
{
	static const char *const bad[] = {
		"\\uD800",          /* a lone high surrogate: yajl makes it '?' */
		"a\\uD800b",
		"\\uDBFF",
		"\\uDC00",          /* a lone low surrogate */
		"\\uD800\\u0041",   /* high, then not low */
		"\\uD800\\uD800",
		"\\u0000",          /* NUL: it would cut a C string */
		"a\\u0000",
		"\xc0\x80",         /* overlong NUL */
		"\xe0\x80\xaf",     /* overlong '/' */
		"\xed\xa0\x80",     /* a surrogate, encoded */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"\xf5\x80\x80\x80",
		"\xff",
		"\x80",
		"\xc3",             /* cut short */
	};
	/* Where: before and after the string. */
	static const char *const where[][2] = {
		{HEAD "\"items\":[{\"name\":\"", "\",\"kind\":\"bytes\",\"chunks\":"
		      "[{\"object\":\"o\",\"offset\":0,\"length\":1}]}]}"},
		{HEAD "\"items\":[{\"name\":\"a\",\"kind\":\"bytes\",\"chunks\":"
		      "[{\"object\":\"", "\",\"offset\":0,\"length\":1}]}]}"},
		{HEAD "\"attrs\":{\"k\":\"", "\"},\"items\":[]}"},
		{HEAD "\"attrs\":{\"", "\":\"v\"},\"items\":[]}"},
		{HEAD "\"x\":[{\"y\":\"", "\"}],\"items\":[]}"},
		{HEAD "\"x\":{\"", "\":1},\"items\":[]}"},
		{HEAD "\"items\":[{\"chunks\":[],\"x\":\"", "\"}]}"},
	};
	static const struct {
		const char *json, *name;
	} good[] = {
		{"\\uD834\\uDD1E", "\xf0\x9d\x84\x9e"},
		{"caf\\u00e9", "caf\xc3\xa9"},
		{"\xf0\x9d\x84\x9e\xc3\xa9", "\xf0\x9d\x84\x9e\xc3\xa9"},
		{"\\\\uD800", "\\uD800"}, /* an escaped backslash, then text */
		{"\\\\\\uD83D\\uDE00", "\\\xf0\x9f\x98\x80"},
		{"q\\\"\\\\\\\"", "q\"\\\""},
		{"\\\"\\uDBFF\\uDFFF\\\"", "\"\xf4\x8f\xbf\xbf\""},
		{"\\/\\b\\f\\n\\r\\t\\u001f", "/\b\f\n\r\t\x1f"},
	};
	ckptio_metadata *md;
	char *json;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
			json = ckptio__asprintf("%s%s%s", where[w][0], bad[i],
						where[w][1]);
			expect_bad(json, CKPTIO_ECORRUPT, "malformed JSON");
			free(json);
		}
	expect_bad(HEAD "\"x\":\"\\uD800\",\"items\":[]}", CKPTIO_ECORRUPT,
		   "line 1 column 72 (byte 71): a string holds an unpaired "
		   "UTF-16 surrogate escape");
	expect_bad(HEAD "\"x\":\"\\u0000\",\"items\":[]}", CKPTIO_ECORRUPT,
		   "a string holds a NUL character (\\u0000)");
	expect_bad(HEAD "\"x\":\"\xc0\x80\",\"items\":[]}", CKPTIO_ECORRUPT,
		   "a string is not valid UTF-8");
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json = ckptio__asprintf("%s%s%s", where[0][0], good[i].json,
					where[0][1]);
		md = parse_ok(json);
		ck_assert_str_eq(md->items[0].name, good[i].name);
		ckptio__md_free(md);
		free(json);
	}
}
END_TEST

#define BYTES_ITEM(name, len) "{\"name\":\"" name "\",\"kind\":\"bytes\"," \
	"\"chunks\":[{\"object\":\"o\",\"offset\":0,\"length\":" #len "}]}"

/* Errors name the file and, for a JSON error, the line, column and byte,
 * else the member's path. */
START_TEST(test_json_messages)
{
	char *deep, *p;
	size_t depth = 3000;

	expect_bad("{\"format\":\"ckptio\",\n  \"version\": tru}", CKPTIO_ECORRUPT,
		   "ck/.metadata.json: malformed JSON at line 2 column 17 (byte "
		   "36): lexical error: invalid string in json text.");
	expect_bad(HEAD "\"items\":[", CKPTIO_ECORRUPT,
		   "malformed JSON at line 1 column 69 (byte 68): parse error: "
		   "premature EOF");
	expect_bad(HEAD "\"items\":[" BYTES_ITEM("a", 1) ",{\"name\":\"b\","
		   "\"kind\":\"bytes\",\"chunks\":[{\"object\":\"o\",\"offset\":0,"
		   "\"length\":-1}]}]}", CKPTIO_ECORRUPT,
		   "ck/.metadata.json: items[1].chunks[0].length: expected a "
		   "non-negative integer");
	expect_bad(T(C("a", 9223372036854775808, 16, 0, 4)), CKPTIO_ECORRUPT,
		   "parse error: integer overflow");
	expect_bad(T("{\"object\":\"a\",\"offset\":0,\"length\":16,"
		     "\"crc32c\":4294967296,\"offsets\":[0],\"shape\":[4]}"),
		   CKPTIO_ECORRUPT,
		   "items[0].chunks[0].crc32c: larger than 32 bits");
	expect_bad(T(C("a", 0, 12, 0, 4)), CKPTIO_ECORRUPT,
		   "ck/.metadata.json: items[0].chunks[0]: item 't': chunk "
		   "length 12 does not match");
	expect_bad(T(C("a", 0, 16, 0, 4) ",{\"object\":\"a\",\"offset\":0,"
		     "\"length\":0,\"offsets\":[0],\"shape\":[0,1]}"),
		   CKPTIO_ECORRUPT,
		   "items[0].chunks[1].shape: expected an array of one integer "
		   "per dimension");
	expect_bad(T("{\"object\":\"a\",\"offset\":0,\"length\":16,"
		     "\"shape\":[4]}"), CKPTIO_ECORRUPT,
		   "items[0].chunks[0].offsets: expected an array of one "
		   "integer per dimension");
	expect_bad(T("{\"object\":7,\"offset\":0,\"length\":16}"),
		   CKPTIO_ECORRUPT, "items[0].chunks[0].object: expected a string");
	expect_bad(T("{\"object\":\"a\",\"length\":16}"), CKPTIO_ECORRUPT,
		   "items[0].chunks[0].offset: missing");
	expect_bad(HEAD "\"items\":[" BYTES_ITEM("a", 1) ",7]}", CKPTIO_ECORRUPT,
		   "items[1]: expected an object");
	expect_bad(T("[]"), CKPTIO_ECORRUPT, "items[0].chunks[0]: expected an "
					     "object");
	expect_bad(HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"tensor\","
		   "\"dtype\":\"F32\",\"shape\":[-4],\"chunks\":[]}]}",
		   CKPTIO_ECORRUPT, "items[0].shape: expected non-negative "
				    "integers");
	expect_bad(HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"tensor\","
		   "\"dtype\":\"F32\",\"shape\":4,\"chunks\":[]}]}",
		   CKPTIO_ECORRUPT, "items[0].shape: expected an array of at "
				    "most 32 integers");
	expect_bad(HEAD "\"items\":[{\"name\":\"t\",\"kind\":\"tensor\","
		   "\"dtype\":\"F32\",\"shape\":[4]}]}", CKPTIO_ECORRUPT,
		   "items[0].chunks: expected an array");
	expect_bad("{\"format\":\"ckptio\",\"version\":1,\"layout\":7,"
		   "\"world\":1,\"items\":[]}", CKPTIO_ECORRUPT,
		   "ck/.metadata.json: layout: expected a string");
	expect_bad("{\"format\":\"ckptio\",\"version\":1,\"world\":0,"
		   "\"items\":[]}", CKPTIO_ECORRUPT,
		   "world: expected an integer from 1 to 16777216");
	expect_bad("{\"format\":\"ckptio\",\"version\":1.0,\"world\":1,"
		   "\"items\":[]}", CKPTIO_ECORRUPT,
		   "version: expected a positive integer");
	expect_bad("{\"format\":\"ckptio\",\"version\":1,\"world\":1}",
		   CKPTIO_ECORRUPT, "items: expected an array");
	expect_bad("\"ckptio\"", CKPTIO_ECORRUPT, "expected a JSON object");
	/* Too deep inside a chunk, in a member nobody reads. */
	deep = malloc(2 * depth + 256);
	ck_assert_ptr_nonnull(deep);
	p = deep + sprintf(deep, HEAD "\"items\":[{\"name\":\"a\",\"kind\":"
			   "\"bytes\",\"chunks\":[{\"x\":");
	memset(p, '[', depth);
	memset(p + depth, ']', depth);
	strcpy(p + 2 * depth, ",\"object\":\"o\",\"offset\":0,\"length\":1}]}]}");
	expect_bad(deep, CKPTIO_ECORRUPT, "nested deeper than 2048 levels "
					  "(maximum parsing depth)");
	free(deep);
}
END_TEST

/* Members in any order: the header and an item's own members are read
 * ahead of what depends on them, and checked first as when in order. */
START_TEST(test_json_look_ahead)
{
	ckptio_metadata *md;

	/* A newer version is said so, whatever its items hold. */
	expect_bad("{\"items\":[{\"name\":\"a\",\"kind\":\"sparse\"}],"
		   "\"world\":1,\"version\":3,\"format\":\"ckptio\"}",
		   CKPTIO_EUNSUPPORTED, "version 3 is newer than this ckptio "
					"understands (2)");
	expect_bad("{\"attrs\":{\"a\":7},\"version\":1,\"world\":1,"
		   "\"items\":[],\"format\":\"zip\"}",
		   CKPTIO_ECORRUPT, "format: expected \"ckptio\"");
	expect_bad("{\"items\":[],\"version\":1,\"format\":\"ckptio\"}",
		   CKPTIO_ECORRUPT, "world: expected an integer");
	/* The item's header before its chunks. */
	expect_bad(HEAD "\"items\":[{\"chunks\":[{\"object\":\"o\",\"offset\":-1,"
		   "\"length\":1}],\"name\":\"a\",\"kind\":\"bag\"}]}",
		   CKPTIO_ECORRUPT, "items[0].kind: expected \"tensor\" or "
				    "\"bytes\"");
	expect_bad(HEAD "\"items\":[{\"chunks\":[{\"object\":\"o\",\"offset\":0,"
		   "\"length\":16,\"offsets\":[0],\"shape\":[4]}],\"name\":\"t\","
		   "\"kind\":\"tensor\",\"dtype\":\"F32\"}]}",
		   CKPTIO_ECORRUPT, "items[0].shape: expected an array");
	/* A JSON error found while looking ahead. */
	expect_bad("{\"items\":[],\"version\":1,\"world\":1,\"x\":[1 2]}",
		   CKPTIO_ECORRUPT, "malformed JSON at line 1 column 43");
	expect_bad(HEAD "\"items\":[{\"chunks\":[],\"name\":\"a\",,}]}",
		   CKPTIO_ECORRUPT, "malformed JSON");
	/* Every prefix of an out-of-order document is refused. */
	for (size_t cut = 0; cut < sizeof(any_order) - 2; cut++) {
		reset_error();
		md = NULL;
		ck_assert_int_ne(ckptio__md_from_json(&hc, "k", any_order, cut,
						      &md),
				 CKPTIO_OK);
		ck_assert_ptr_null(md);
	}
	/* Header last, chunks first, dims before the dtype. */
	md = parse_ok("{\"items\":[{\"chunks\":[{\"shape\":[4],\"offsets\":[0],"
		      "\"object\":\"o\",\"offset\":0,\"length\":16}],\"shape\":[4],"
		      "\"name\":\"t\",\"dtype\":\"F32\",\"kind\":\"tensor\"},"
		      BYTES_ITEM("b", 3) "],\"attrs\":{\"k\":\"v\"},"
		      "\"world\":2,\"layout\":\"other\",\"version\":1,"
		      "\"format\":\"ckptio\"}");
	ck_assert_uint_eq(md->nitems, 2);
	ck_assert_int_eq(md->world, 2);
	ck_assert_str_eq(md->layout, "other");
	ck_assert_str_eq(md->attr_values[0], "v");
	ck_assert_uint_eq(md->items[1].nbytes, 16);
	ck_assert_uint_eq(md->items[0].nbytes, 3);
	ckptio__md_free(md);
}
END_TEST

/* Everything the builder accepts is written and read back as it was,
 * and written again to the same bytes. */
static void md_assert_equal(const ckptio_metadata *a, const ckptio_metadata *b)
{
	ck_assert_int_eq(a->version, b->version);
	ck_assert_int_eq(a->world, b->world);
	ck_assert_str_eq(a->layout, b->layout);
	ck_assert_uint_eq(a->nattrs, b->nattrs);
	for (size_t i = 0; i < a->nattrs; i++) {
		ck_assert_str_eq(a->attr_keys[i], b->attr_keys[i]);
		ck_assert_str_eq(a->attr_values[i], b->attr_values[i]);
	}
	ck_assert_uint_eq(a->nitems, b->nitems);
	for (size_t i = 0; i < a->nitems; i++) {
		const ckptio_item_meta *x = &a->items[i], *y = &b->items[i];

		ck_assert_str_eq(x->name, y->name);
		ck_assert_int_eq(x->kind, y->kind);
		ck_assert_int_eq(x->dtype, y->dtype);
		ck_assert_uint_eq(x->ndim, y->ndim);
		ck_assert_uint_eq(x->nbytes, y->nbytes);
		for (unsigned d = 0; d < x->ndim; d++)
			ck_assert_uint_eq(x->shape[d], y->shape[d]);
		ck_assert_uint_eq(x->nchunks, y->nchunks);
		for (size_t c = 0; c < x->nchunks; c++) {
			const ckptio_chunk_meta *p = &x->chunks[c];
			const ckptio_chunk_meta *q = &y->chunks[c];

			ck_assert_str_eq(p->object, q->object);
			ck_assert_uint_eq(p->offset, q->offset);
			ck_assert_uint_eq(p->length, q->length);
			ck_assert_int_eq(p->has_crc, q->has_crc);
			ck_assert_uint_eq(p->crc32c, q->crc32c);
			for (unsigned d = 0; d < x->ndim; d++) {
				ck_assert_uint_eq(p->offsets[d], q->offsets[d]);
				ck_assert_uint_eq(p->shape[d], q->shape[d]);
			}
		}
	}
}

START_TEST(test_json_round_trip)
{
	const uint64_t big = INT64_MAX, huge[2] = {INT64_MAX, 0};
	const uint64_t zero[2] = {0, 0}, none[1] = {0};
	const char *names[] = {"caf\xc3\xa9/\xf0\x9d\x84\x9e", "a\"b\\c\n\x01\x7f/",
			       "s"};
	const char *head = "{\"format\":\"ckptio\",\"version\":2,\"layout\":"
			   "\"native\",\"world\":16777216,\"attrs\":{\"\":\"\","
			   "\"\xe2\x82\xac\\t\\\"\":\"\\\\u0041 </script>\"},"
			   "\"objects\":[\"d/x\",\"\xc3\xa9t\xc3\xa9\"],\"items\":[[";
	ckptio_metadata *md, *back;
	size_t i, len, len2;
	char *json, *json2;

	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	md->world = 1 << 24;
	/* Numbers up to 2^63 - 1: an empty tensor of that many rows, a
	 * bytes item that ends there. */
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "empty", CKPTIO_ITEM_TENSOR,
					     CKPTIO_U8, 2, huge, &i), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, i, zero, huge, "d/x", 0, 0,
					      1, 0xffffffffu), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, names[0], CKPTIO_ITEM_BYTES,
					     0, 0, NULL, &i), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, i, NULL, NULL,
					      "\xc3\xa9t\xc3\xa9", big - 1, 1, 0,
					      0), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, names[1], CKPTIO_ITEM_TENSOR,
					     CKPTIO_BF16, 0, NULL, &i), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, i, none, none, "d/x", 2,
					      2, 1, 0), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_set_attr(&hc, md, "\xe2\x82\xac\t\"",
					     "\\u0041 </script>"), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_set_attr(&hc, md, "", ""), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_seal(&hc, "test", md), CKPTIO_OK);
	json = ckptio__md_to_json(md, &len);
	ck_assert_ptr_nonnull(json);
	ck_assert_uint_eq(strlen(json), len);
	/* Compact, UTF-8 as it is, '/' not escaped. */
	ck_assert_ptr_nonnull(strstr(json, "[\"caf\xc3\xa9/\xf0\x9d\x84\x9e\","
					   "\"bytes\",null,[[1,"
					   "9223372036854775806,1,null]]]"));
	ck_assert_ptr_nonnull(strstr(json, "[\"a\\\"b\\\\c\\n\\u0001\x7f/\","
					   "\"BF16\",[],[[0,2,2,0]]]"));
	ck_assert_ptr_nonnull(strstr(json, "[\"empty\",\"U8\",[9223372036854775807,"
					   "0],[[0,0,0,4294967295]]]"));
	ck_assert_int_eq(strncmp(json, head, strlen(head)), 0);
	back = parse_ok(json);
	md_assert_equal(md, back);
	json2 = ckptio__md_to_json(back, &len2);
	ck_assert_ptr_nonnull(json2);
	ck_assert_uint_eq(len, len2);
	ck_assert_int_eq(memcmp(json, json2, len), 0);
	free(json2);
	ckptio__md_free(back);
	free(json);
	ckptio__md_free(md);
}
END_TEST

/* The builder keeps to what the JSON form holds: numbers below 2^63,
 * UTF-8 object names. */
START_TEST(test_builder_json_range)
{
	const uint64_t two63[1] = {(uint64_t)1 << 63}, one[1] = {1};
	const uint64_t zero[1] = {0};
	ckptio_metadata *md;
	size_t i;

	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "t", CKPTIO_ITEM_TENSOR,
					     CKPTIO_U8, 1, two63, &i),
			 CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(hc.msg, "too large"));
	reset_error();
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "t", CKPTIO_ITEM_TENSOR,
					     CKPTIO_U8, 1, one, &i), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, i, zero, one, "o",
					      INT64_MAX, 1, 0, 0),
			 CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(hc.msg, "reaches 2^63"));
	reset_error();
	ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, i, zero, one, "o\xc0\x80",
					      0, 1, 0, 0),
			 CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(hc.msg, "invalid object name"));
	ckptio__md_free(md);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Version 2: items and chunks as arrays, objects by index                  */

/* What version 2 writes, exactly; version 1 reads as the same metadata
 * and is written back as version 2. */
START_TEST(test_v2_format)
{
	ckptio_metadata *md = sample(), *back;
	size_t len;
	char *json = ckptio__md_to_json(md, &len);

	ck_assert_ptr_nonnull(json);
	ck_assert_str_eq(json, sample_v2);
	ck_assert_uint_eq(len, strlen(sample_v2));
	free(json);
	back = parse_ok(sample_v1);
	md_assert_equal(md, back);
	json = ckptio__md_to_json(back, &len);
	ck_assert_str_eq(json, sample_v2);
	free(json);
	ckptio__md_free(back);
	back = parse_ok(sample_v2);
	md_assert_equal(md, back);
	ckptio__md_free(back);
	ckptio__md_free(md);
}
END_TEST

#define HEAD2 "{\"format\":\"ckptio\",\"version\":2,\"layout\":\"native\"," \
	"\"world\":1,"
/* A F32 [4] tensor "t" with the given chunks, objects "a" and "b" (and
 * a bytes item "u" in "b"). */
#define T2(chunks) HEAD2 "\"objects\":[\"a\",\"b\"],\"items\":[[\"t\"," \
	"\"F32\",[4],[" chunks "]],[\"u\",\"bytes\",null,[[1,0,1,null]]]]}"
/* An item, objects "a" and "b". */
#define I2(item) HEAD2 "\"objects\":[\"a\",\"b\"],\"items\":[" item "]}"
/* A bytes item in object "a", and the objects table given. */
#define O2(objects) HEAD2 "\"objects\":" objects ",\"items\":[[\"s\"," \
	"\"bytes\",null,[[0,0,1,null]]]]}"

/* Every malformed variant is refused, naming the file and the path. */
START_TEST(test_v2_hostile)
{
	static const struct {
		const char *json, *want;
	} bad[] = {
		/* The objects table. */
		{HEAD2 "\"items\":[]}",
		 "ck/.metadata.json: objects: expected an array of object names"},
		{O2("\"a\""), "objects: expected an array of object names"},
		{O2("{}"), "objects: expected an array of object names"},
		{O2("[7]"), "objects[0]: expected a string"},
		{O2("[\"a\",[]]"), "objects[1]: expected a string"},
		{O2("[\"a\",null]"), "objects[1]: expected a string"},
		{O2("[\"../x\"]"), "objects[0]: invalid object name '../x'"},
		{O2("[\"a\",\"/etc/passwd\"]"),
		 "objects[1]: invalid object name '/etc/passwd'"},
		{O2("[\"a\",\"b//c\"]"), "objects[1]: invalid object name"},
		{O2("[\"\"]"), "objects[0]: invalid object name ''"},
		{O2("[\"a\",\"b\",\"\\u0061\"]"),
		 "objects[2]: object 'a' appears twice"},
		{O2("[\"a\",\"b\"]"), "objects[1]: object 'b' is used by no chunk"},
		{HEAD2 "\"objects\":[\"a\"],\"items\":[],\"objects\":[\"a\"]}",
		 "key 'objects' appears twice"},
		{HEAD2 "\"items\":[],\"objects\":[\"a\"],\"objects\":[]}",
		 "key 'objects' appears twice"},
		/* Items. */
		{HEAD2 "\"objects\":[],\"items\":{}}", "items: expected an array"},
		{I2("{\"name\":\"t\"}"),
		 "items[0]: expected an array [name, dtype, shape, chunks]"},
		{I2("7"), "items[0]: expected an array [name, dtype, shape, "
			  "chunks]"},
		{I2("[]"), "items[0]: expected an array [name, dtype, shape, "
			   "chunks], not 0 elements"},
		{I2("[\"s\",\"bytes\",null]"),
		 "items[0]: expected an array [name, dtype, shape, chunks], "
		 "not 3 elements"},
		{I2("[\"s\",\"bytes\",null,[[0,0,1,null]],7]"),
		 "items[0]: more than 4 elements"},
		{I2("[\"s\",\"bytes\",null,[[0,0,1,null]],[]]"),
		 "items[0]: more than 4 elements"},
		{I2("[7,\"bytes\",null,[]]"), "items[0][0] (name): expected a "
					      "string"},
		{I2("[null,\"bytes\",null,[]]"), "items[0][0] (name): expected a "
						 "string"},
		{I2("[[\"s\"],\"bytes\",null,[]]"),
		 "items[0][0] (name): expected a string"},
		{I2("[\"\",\"bytes\",null,[[0,0,1,null]]]"),
		 "items[0]: item name is 0 bytes"},
		{I2("[\"t\",\"F31\",[4],[]]"),
		 "items[0][1] (dtype): unknown dtype"},
		{I2("[\"t\",\"Bytes\",null,[]]"),
		 "items[0][1] (dtype): unknown dtype"},
		{I2("[\"t\",\"tensor\",[4],[]]"),
		 "items[0][1] (dtype): unknown dtype"},
		{I2("[\"t\",null,[4],[]]"), "items[0][1] (dtype): expected a "
					    "string"},
		{I2("[\"t\",4,[4],[]]"), "items[0][1] (dtype): expected a "
					 "string"},
		{I2("[\"s\",\"bytes\",[1],[[0,0,1,null]]]"),
		 "items[0][2] (shape): expected null: a bytes item has no "
		 "shape"},
		{I2("[\"s\",\"bytes\",[],[[0,0,1,null]]]"),
		 "items[0][2] (shape): expected null"},
		{I2("[\"t\",\"F32\",null,[[0,0,4,null]]]"),
		 "items[0][2] (shape): expected an array of at most 32 "
		 "integers"},
		{I2("[\"t\",\"F32\",4,[]]"),
		 "items[0][2] (shape): expected an array of at most 32 "
		 "integers"},
		{I2("[\"t\",\"F32\",[-4],[]]"),
		 "items[0][2] (shape): expected non-negative integers"},
		{I2("[\"t\",\"F32\",[4.0],[]]"),
		 "items[0][2] (shape): expected non-negative integers"},
		{I2("[\"t\",\"F32\",[4294967296,4294967296,4294967296],[]]"),
		 "items[0]: item 't': bad dtype, rank (3) or shape (too large)"},
		{I2("[\"t\",\"F32\",[4],{}]"),
		 "items[0][3] (chunks): expected an array"},
		{I2("[\"t\",\"F32\",[4],null]"),
		 "items[0][3] (chunks): expected an array"},
		{HEAD2 "\"objects\":[],\"items\":[[\"t\",\"F32\",[4],[]]]}",
		 "item 't' has no chunks"},
		{I2("[\"a\",\"bytes\",null,[[0,0,1,null]]],"
		    "[\"a\",\"bytes\",null,[[1,0,1,null]]]"),
		 "item 'a' appears twice"},
		/* Chunks. */
		{T2("{\"object\":0}"),
		 "items[0][3][0]: expected an array [object, offset, length, "
		 "crc32c] or [object, offset, length, crc32c, offsets, "
		 "shape]"},
		{T2("0"), "items[0][3][0]: expected an array"},
		{T2("[0,0,16]"), "items[0][3][0]: expected an array [object, "
				 "offset, length, crc32c] or [object, offset, "
				 "length, crc32c, offsets, shape], not 3 "
				 "elements"},
		{T2("[0,0,16,1,[0]]"), "items[0][3][0]: expected an array "
				       "[object, offset, length, crc32c] or "
				       "[object, offset, length, crc32c, "
				       "offsets, shape], not 5 elements"},
		{T2("[0,0,16,1,[0],[4],[]]"), "items[0][3][0]: more than 6 "
					      "elements"},
		{T2("[0,0,16,1,[0],[4],0]"), "items[0][3][0]: more than 6 "
					     "elements"},
		{T2("[2,0,16,1]"), "items[0][3][0][0] (object): object index 2 "
				   "is out of range (2 objects)"},
		{T2("[9223372036854775807,0,16,1]"),
		 "items[0][3][0][0] (object): object index "
		 "9223372036854775807 is out of range"},
		{T2("[-1,0,16,1]"), "items[0][3][0][0] (object): expected a "
				    "non-negative integer"},
		{T2("[\"a\",0,16,1]"), "items[0][3][0][0] (object): expected a "
				       "non-negative integer"},
		{T2("[0.0,0,16,1]"), "items[0][3][0][0] (object): expected a "
				     "non-negative integer"},
		{T2("[null,0,16,1]"), "items[0][3][0][0] (object): expected a "
				      "non-negative integer"},
		{T2("[[0],0,16,1]"), "items[0][3][0][0] (object): expected a "
				     "non-negative integer"},
		{T2("[0,-1,16,1]"), "items[0][3][0][1] (offset): expected a "
				    "non-negative integer"},
		{T2("[0,null,16,1]"), "items[0][3][0][1] (offset): expected a "
				      "non-negative integer"},
		{T2("[0,0,-16,1]"), "items[0][3][0][2] (length): expected a "
				    "non-negative integer"},
		{T2("[0,0,16e0,1]"), "items[0][3][0][2] (length): expected a "
				     "non-negative integer"},
		{T2("[0,0,16,4294967296]"), "items[0][3][0][3] (crc32c): larger "
					    "than 32 bits"},
		{T2("[0,0,16,-1]"), "items[0][3][0][3] (crc32c): expected a "
				    "non-negative integer"},
		{T2("[0,0,16,true]"), "items[0][3][0][3] (crc32c): expected a "
				      "non-negative integer or null"},
		{T2("[0,0,16,\"1\"]"), "items[0][3][0][3] (crc32c): expected a "
				       "non-negative integer or null"},
		{T2("[0,0,16,[]]"), "items[0][3][0][3] (crc32c): expected a "
				    "non-negative integer or null"},
		{T2("[0,0,16,1,[0],[4,1]]"),
		 "items[0][3][0][5] (shape): expected an array of one integer "
		 "per dimension"},
		{T2("[0,0,16,1,[],[4]]"),
		 "items[0][3][0][4] (offsets): expected an array of one integer "
		 "per dimension"},
		{T2("[0,0,16,1,null,[4]]"),
		 "items[0][3][0][4] (offsets): expected an array of one integer "
		 "per dimension"},
		{T2("[0,0,16,1,[-1],[4]]"),
		 "items[0][3][0][4] (offsets): expected non-negative integers"},
		{T2("[0,0,16,1,[0],[-4]]"),
		 "items[0][3][0][5] (shape): expected non-negative integers"},
		{I2("[\"s\",\"bytes\",null,[[0,0,1,null,[],[]]]]"),
		 "items[0][3][0]: a chunk of a bytes item has no offsets or "
		 "shape"},
		{I2("[\"s\",\"bytes\",null,[[0,0,1,null],[1,0,1,null]]]"),
		 "items[0][3][1]: item 's': a bytes item has exactly one chunk"},
		{T2("[0,0,12,1]"), "items[0][3][0]: item 't': chunk length 12 "
				   "does not match its shape and dtype"},
		{T2("[0,0,12,1,[0],[3]],[1,0,8,1,[3],[1]]"),
		 "items[0][3][1]: item 't': chunk length 8 does not match"},
		{T2("[0,0,8,1,[3],[2]]"),
		 "items[0][3][0]: item 't': chunk out of bounds in dimension 0"},
		{T2("[0,0,8,1,[0],[2]]"), "item 't': chunks cover 2 of 4 "
					  "elements"},
		{T2("[0,0,12,1,[0],[3]],[1,0,8,1,[2],[2]]"),
		 "item 't': chunks overlap"},
		{T2("[0,0,16,1],[1,0,16,1]"), "item 't': chunks overlap"},
		{T2("[0,9223372036854775800,16,1]"), "chunk offset plus length "
						     "reaches 2^63"},
		{T2("[0,0,16,1]") ",", "malformed JSON"},
		{T2("[0,0,16,1,]"), "malformed JSON"},
		{T2("[0,0,16,01]"), "malformed JSON"},
		{T2("[0,0,16,9223372036854775808]"), "integer overflow"},
		{"{\"format\":\"ckptio\",\"version\":3,\"world\":1,\"objects\":"
		 "[],\"items\":[]}", "version 3 is newer"},
		{"{\"format\":\"ckptio\",\"version\":2,\"world\":1,\"objects\":"
		 "[\"../x\"]}", "objects[0]: invalid object name '../x'"},
		{"{\"format\":\"ckptio\",\"version\":2,\"world\":1,\"objects\":"
		 "[]}", "items: expected an array"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i].json,
			   strstr(bad[i].want, "newer") ? CKPTIO_EUNSUPPORTED
							: CKPTIO_ECORRUPT,
			   bad[i].want);
}
END_TEST

/* The objects table and the header may come after the items: read
 * ahead, and checked as when in order. */
START_TEST(test_v2_look_ahead)
{
	ckptio_metadata *md;

	md = parse_ok("{\"items\":[[\"s\",\"bytes\",null,[[1,0,3,null]]],"
		      "[\"t\",\"bytes\",null,[[0,0,3,null]]]],"
		      "\"objects\":[\"a\",\"b\"],\"world\":2,\"version\":2,"
		      "\"format\":\"ckptio\",\"attrs\":{}}");
	ck_assert_str_eq(md->items[0].chunks[0].object, "b");
	ck_assert_str_eq(md->items[1].chunks[0].object, "a");
	ck_assert_int_eq(md->world, 2);
	ckptio__md_free(md);
	/* The header last, the table between attrs and items. */
	md = parse_ok("{\"attrs\":{\"k\":\"v\"},\"objects\":[\"a\"],\"items\":"
		      "[[\"s\",\"bytes\",null,[[0,0,3,7]]]],\"world\":1,"
		      "\"version\":2,\"format\":\"ckptio\"}");
	ck_assert_uint_eq(md->items[0].chunks[0].crc32c, 7);
	ck_assert_str_eq(md->attr_values[0], "v");
	ckptio__md_free(md);
	/* Found ahead: refused as when in order. */
	expect_bad(HEAD2 "\"items\":[[\"s\",\"bytes\",null,[[0,0,1,null]]]],"
		   "\"objects\":[\"../x\"]}", CKPTIO_ECORRUPT,
		   "objects[0]: invalid object name '../x'");
	expect_bad(HEAD2 "\"items\":[[\"s\",\"bytes\",null,[[0,0,1,null]]]],"
		   "\"objects\":\"a\"}", CKPTIO_ECORRUPT,
		   "objects: expected an array of object names");
	expect_bad(HEAD2 "\"items\":[[\"s\",\"bytes\",null,[[1,0,1,null]]]],"
		   "\"objects\":[\"a\"]}", CKPTIO_ECORRUPT,
		   "items[0][3][0][0] (object): object index 1 is out of range "
		   "(1 objects)");
	expect_bad(HEAD2 "\"items\":[],\"objects\":[\"a\"],\"x\":[1 2]}",
		   CKPTIO_ECORRUPT, "malformed JSON");
	expect_bad("{\"items\":[],\"objects\":[],\"version\":3,\"world\":1,"
		   "\"format\":\"ckptio\"}", CKPTIO_EUNSUPPORTED,
		   "version 3 is newer");
	/* Version 1 has no objects table: one is an unknown member. */
	ckptio__md_free(parse_ok(HEAD "\"objects\":7,\"items\":[]}"));
	ckptio__md_free(parse_ok(HEAD "\"objects\":[\"../x\",{}],\"items\":[]}"));
	ckptio__md_free(parse_ok("{\"objects\":[\"../x\"],\"items\":[],"
				 "\"world\":1,\"version\":1,\"format\":"
				 "\"ckptio\"}"));
	/* Every prefix of an out-of-order document is refused. */
	expect_prefixes_bad(any_order_v2, sizeof(any_order_v2) - 2);
}
END_TEST

/* Strings in version 2's places are held to the same rules. */
START_TEST(test_v2_strings)
{
	static const char *const bad[] = {
		"\\uD800", "\\u0000", "\xc0\x80", "\xed\xa0\x80", "\xff",
	};
	static const char *const where[][2] = {
		{HEAD2 "\"objects\":[\"o\"],\"items\":[[\"",
		 "\",\"bytes\",null,[[0,0,1,null]]]]}"},
		{HEAD2 "\"objects\":[\"", "\"],\"items\":[[\"a\",\"bytes\",null,"
					  "[[0,0,1,null]]]]}"},
		{HEAD2 "\"objects\":[\"o\"],\"items\":[[\"a\",\"",
		 "\",null,[[0,0,1,null]]]]}"},
	};
	char *json;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
			json = ckptio__asprintf("%s%s%s", where[w][0], bad[i],
						where[w][1]);
			expect_bad(json, CKPTIO_ECORRUPT, "malformed JSON");
			free(json);
		}
}
END_TEST

/* The items are written by hand (not by yajl_gen): every byte from 0x01
 * to 0x7f, and a multi-byte character, at every place of a name against
 * the eight-byte scan, must come out escaped as yajl_gen escapes (the
 * reference below), read back the same, and invalid UTF-8 must fail. */
static void json_escape_ref(char *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	*out++ = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\"
				: c == '\b' ? "\\b" : c == '\f' ? "\\f"
				: c == '\n' ? "\\n" : c == '\r' ? "\\r"
				: c == '\t' ? "\\t" : NULL;

		if (e) {
			out = stpcpy(out, e);
		} else if (c < 0x20) {
			out = stpcpy(out, "\\u00");
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		} else {
			*out++ = (char)c;
		}
	}
	*out++ = '"';
	*out = '\0';
}

START_TEST(test_v2_escapes)
{
	const uint64_t shape[1] = {1}, zero[1] = {0};
	ckptio_metadata *md, *back;
	char name[32], want[256], *json;
	size_t t, len, n = 0;

	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	for (unsigned c = 1; c <= 0x80; c++)
		for (unsigned at = 0; at < 17; at++) {
			memset(name, 'a' + (int)(n % 26), 20);
			name[20] = '\0';
			/* 0x80 stands for "é", two bytes. */
			if (c == 0x80)
				memcpy(name + at, "\xc3\xa9", 2);
			else
				name[at] = (char)c;
			snprintf(name + 20, sizeof(name) - 20, "%zu", n);
			ck_assert_int_eq(ckptio__md_add_item(&hc, md, name,
							     CKPTIO_ITEM_TENSOR,
							     CKPTIO_U8, 1, shape,
							     &t), CKPTIO_OK);
			ck_assert_int_eq(ckptio__md_add_chunk(&hc, md, t, zero,
							      shape, "o", n, 1, 1,
							      7), CKPTIO_OK);
			n++;
		}
	ck_assert_int_eq(ckptio__md_seal(&hc, "test", md), CKPTIO_OK);
	json = ckptio__md_to_json(md, &len);
	ck_assert_ptr_nonnull(json);
	for (size_t i = 0; i < md->nitems; i++) {
		json_escape_ref(want, md->items[i].name);
		strcat(want, ",\"U8\",[1],[[0,");
		ck_assert_msg(strstr(json, want), "%s not in the text", want);
	}
	back = parse_ok(json);
	md_assert_equal(md, back);
	ckptio__md_free(back);
	free(json);
	ckptio__md_free(md);
}
END_TEST

/* The issue 8 target: a model of many small tensors, the metadata at
 * most 100 bytes an item.  64,000 F32 tensors of 1,024 elements with
 * 40-byte names, in one object (offsets up to 2^28), every CRC32C of
 * ten digits: a bound on the format, not on a clock. */
START_TEST(test_v2_size)
{
	const size_t n = 64000;
	const uint64_t shape[1] = {1024}, zero[1] = {0};
	ckptio_metadata *md, *back;
	char name[64], *json, *again;
	size_t i, t, len, len2;
	ckptio_status st = CKPTIO_OK;

	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	for (i = 0; st == CKPTIO_OK && i < n; i++) {
		snprintf(name, sizeof(name),
			 "model.layers.%03zu.experts.%04zu.w%zu.weights", i / 640,
			 i / 3 % 1000, i % 3 + 1);
		if (strlen(name) != 40)
			break;
		st = ckptio__md_add_item(&hc, md, name, CKPTIO_ITEM_TENSOR,
					 CKPTIO_F32, 1, shape, &t);
		if (st == CKPTIO_OK)
			st = ckptio__md_add_chunk(&hc, md, t, zero, shape,
						  "__0_0.5f1e2a9c.ckd", 4096 * i,
						  4096, 1, 4000000000u + i);
	}
	ck_assert_uint_eq(i, n);
	ck_assert_int_eq(st, CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_seal(&hc, "test", md), CKPTIO_OK);
	json = ckptio__md_to_json(md, &len);
	ck_assert_ptr_nonnull(json);
	ck_assert_msg(len <= 100 * n, "%zu bytes for %zu items: %.1f an item",
		      len, n, (double)len / (double)n);
	/* And it reads back, and is written again the same. */
	back = parse_ok(json);
	md_assert_equal(md, back);
	again = ckptio__md_to_json(back, &len2);
	ck_assert_ptr_nonnull(again);
	ck_assert_uint_eq(len, len2);
	ck_assert_int_eq(memcmp(json, again, len), 0);
	free(again);
	free(json);
	ckptio__md_free(back);
	ckptio__md_free(md);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Scale: a million chunks or items, checked in O(n log n)                  */

/* 1000000, or CKPTIO_TEST_SCALE (smaller under valgrind). */
static size_t scale(void)
{
	const char *s = getenv("CKPTIO_TEST_SCALE");
	size_t n = s ? strtoul(s, NULL, 10) : 0;

	return n >= 16 ? n : 1000000;
}

/* A U8 [n] tensor in n one-element chunks, added in a scrambled order;
 * the chunk at `at` is moved by `shift` or (shift 2) left out. */
static ckptio_status line_of(size_t n, size_t at, int shift)
{
	ckptio_metadata *md;
	uint64_t shape[1] = {n}, one[1] = {1}, off[1];
	size_t t;
	ckptio_status st = CKPTIO_OK;

	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "t", CKPTIO_ITEM_TENSOR,
					     CKPTIO_U8, 1, shape, &t),
			 CKPTIO_OK);
	for (size_t i = 0; st == CKPTIO_OK && i < n; i++) {
		off[0] = i % 2 ? i / 2 : n - 1 - i / 2;
		if (off[0] == at && shift == 2)
			continue;
		if (off[0] == at)
			off[0] += (uint64_t)(int64_t)shift;
		st = ckptio__md_add_chunk(&hc, md, t, off, one, "d", i, 1, 0, 0);
	}
	ck_assert_int_eq(st, CKPTIO_OK);
	st = ckptio__md_seal(&hc, "test", md);
	ckptio__md_free(md);
	return st;
}

START_TEST(test_scale_chunks)
{
	size_t n = scale(), at = n / 3;
	char want[96];

	ck_assert_msg(line_of(n, 0, 0) == CKPTIO_OK, "%s", hc.msg);
	ck_assert_int_eq(line_of(n, at, -1), CKPTIO_ECORRUPT);
	snprintf(want, sizeof(want), "overlap at element [%zu]", at - 1);
	ck_assert_msg(strstr(hc.msg, want), "%s", hc.msg);
	ck_assert_int_eq(line_of(n, at, 1), CKPTIO_ECORRUPT);
	snprintf(want, sizeof(want), "element [%zu] is in none", at);
	ck_assert_msg(strstr(hc.msg, want), "%s", hc.msg);
	ck_assert_int_eq(line_of(n, at, 2), CKPTIO_ECORRUPT);
	snprintf(want, sizeof(want), "cover %zu of %zu", n - 1, n);
	ck_assert_msg(strstr(hc.msg, want), "%s", hc.msg);
}
END_TEST

/* A side x side grid of chunks, by columns. */
START_TEST(test_scale_grid)
{
	size_t side = 1, t, n = scale();
	uint64_t shape[2], off[2], one[2] = {1, 1};
	ckptio_metadata *md;
	ckptio_status st = CKPTIO_OK;

	while ((side + 1) * (side + 1) <= n)
		side++;
	shape[0] = shape[1] = side;
	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "g", CKPTIO_ITEM_TENSOR,
					     CKPTIO_U8, 2, shape, &t),
			 CKPTIO_OK);
	for (size_t i = 0; st == CKPTIO_OK && i < side * side; i++) {
		off[0] = i % side;
		off[1] = i / side;
		st = ckptio__md_add_chunk(&hc, md, t, off, one, "d", i, 1, 0, 0);
	}
	ck_assert_int_eq(st, CKPTIO_OK);
	ck_assert_msg(ckptio__md_seal(&hc, "test", md) == CKPTIO_OK, "%s",
		      hc.msg);
	ckptio__md_free(md);
}
END_TEST

/* Rows, each cut in two at its own column: not a grid. */
START_TEST(test_scale_bricks)
{
	size_t rows = scale() / 2, t;
	uint64_t shape[2] = {rows, 1000}, off[2], cut[2] = {1, 0};
	ckptio_metadata *md;
	ckptio_status st = CKPTIO_OK;

	reset_error();
	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	ck_assert_int_eq(ckptio__md_add_item(&hc, md, "b", CKPTIO_ITEM_TENSOR,
					     CKPTIO_U8, 2, shape, &t),
			 CKPTIO_OK);
	for (size_t r = 0; st == CKPTIO_OK && r < 2 * rows; r++) {
		uint64_t at = 1 + r / 2 % 999;

		off[0] = r / 2;
		off[1] = r % 2 ? at : 0;
		cut[1] = r % 2 ? 1000 - at : at;
		st = ckptio__md_add_chunk(&hc, md, t, off, cut, "d", r, cut[1],
					  0, 0);
	}
	ck_assert_int_eq(st, CKPTIO_OK);
	ck_assert_msg(ckptio__md_seal(&hc, "test", md) == CKPTIO_OK, "%s",
		      hc.msg);
	ckptio__md_free(md);
}
END_TEST

/* A metadata file of a million one-chunk items, in reverse order. */
START_TEST(test_scale_items)
{
	size_t n = scale(), cap = 192 * n + 256, len, i;
	char *text = malloc(cap), name[32];
	ckptio_metadata *md;

	ck_assert_ptr_nonnull(text);
	len = (size_t)sprintf(text, HEAD "\"items\":[");
	for (i = n; i-- > 0;)
		len += (size_t)sprintf(text + len,
				       "%s{\"name\":\"w%07zu\",\"kind\":\"tensor\","
				       "\"dtype\":\"F32\",\"shape\":[2],"
				       "\"chunks\":[{\"object\":\"__%zu_0.ckd\","
				       "\"offset\":%zu,\"length\":8,"
				       "\"offsets\":[0],\"shape\":[2]}]}",
				       i + 1 < n ? "," : "", i, i % 4, 8 * i);
	len += (size_t)sprintf(text + len, "]}");
	ck_assert_uint_lt(len, cap);
	md = parse_ok(text);
	free(text);
	ck_assert_uint_eq(md->nitems, n);
	snprintf(name, sizeof(name), "w%07zu", n / 2);
	ck_assert_uint_eq(ckptio__md_find(md, name), n / 2);
	ck_assert_uint_eq(md->items[n - 1].chunks[0].offset, 8 * (n - 1));
	/* Four data objects, four strings. */
	for (i = 4; i < n; i++)
		if (md->items[i].chunks[0].object !=
		    md->items[i % 4].chunks[0].object)
			break;
	ck_assert_uint_eq(i, n);
	ckptio__md_free(md);
}
END_TEST

/* The same in version 2: a million items, in reverse order, each a
 * whole-tensor chunk or (every third) a tensor in two parts. */
START_TEST(test_scale_items_v2)
{
	size_t n = scale(), cap = 96 * n + 256, len, i;
	char *text = malloc(cap), name[32], *json;
	ckptio_metadata *md;

	ck_assert_ptr_nonnull(text);
	len = (size_t)sprintf(text, HEAD2 "\"objects\":[\"__0_0.ckd\","
			      "\"__1_0.ckd\",\"__2_0.ckd\",\"__3_0.ckd\"],"
			      "\"items\":[");
	for (i = n; i-- > 0;)
		len += (size_t)sprintf(text + len,
				       i % 3 ? "%s[\"w%07zu\",\"F32\",[2],"
					       "[[%zu,%zu,8,%zu]]]"
					     : "%s[\"w%07zu\",\"F32\",[2],"
					       "[[%zu,%zu,4,%zu,[0],[1]],"
					       "[0,0,4,null,[1],[1]]]]",
				       i + 1 < n ? "," : "", i, i % 4, 8 * i, i);
	len += (size_t)sprintf(text + len, "]}");
	ck_assert_uint_lt(len, cap);
	md = parse_ok(text);
	ck_assert_uint_eq(md->nitems, n);
	snprintf(name, sizeof(name), "w%07zu", n / 2);
	ck_assert_uint_eq(ckptio__md_find(md, name), n / 2);
	ck_assert_uint_eq(md->items[n - 1].chunks[0].offset, 8 * (n - 1));
	ck_assert_uint_eq(md->items[n - 1].chunks[0].crc32c, n - 1);
	/* Four data objects, four strings. */
	for (i = 4; i < n; i++)
		if (md->items[i].chunks[0].object !=
		    md->items[i % 4].chunks[0].object)
			break;
	ck_assert_uint_eq(i, n);
	/* Written in order, and read again to the same. */
	json = ckptio__md_to_json(md, &len);
	ck_assert_ptr_nonnull(json);
	ckptio__md_free(md);
	md = parse_ok(json);
	ck_assert_uint_eq(md->nitems, n);
	ck_assert_uint_eq(md->items[0].nchunks, 2);
	ck_assert_int_eq(md->items[0].chunks[1].has_crc, 0);
	free(json);
	free(text);
	ckptio__md_free(md);
}
END_TEST

/* Every dtype round-trips by name: a [2, 8] tensor in two [1, 8] chunks
 * (whole bytes and byte-aligned rows for the sub-byte ones too), whose
 * byte counts follow the bits. */
START_TEST(test_every_dtype_round_trip)
{
	const uint64_t shape[2] = {2, 8}, half[2] = {1, 8};
	const uint64_t o0[2] = {0, 0}, o1[2] = {1, 0};
	ckptio_metadata *md, *back;
	char *json;
	size_t len, idx;
	int n = 0;

	ck_assert_int_eq(ckptio__md_new(&hc, "native", &md), CKPTIO_OK);
	for (int d = 1; ckptio_dtype_name((ckptio_dtype)d); d++) {
		char name[16];
		uint64_t row = 8 * ckptio_dtype_bits((ckptio_dtype)d) / 8;

		snprintf(name, sizeof(name), "t%02d", d);
		ck_assert_int_eq(ckptio__md_add_item(&hc, md, name,
						     CKPTIO_ITEM_TENSOR,
						     (ckptio_dtype)d, 2, shape,
						     &idx),
				 CKPTIO_OK);
		ck_assert_uint_eq(md->items[idx].nbytes, 2 * row);
		ck_assert_msg(ckptio__md_add_chunk(&hc, md, idx, o0, half, "a",
						   0, row, 1, 1) == CKPTIO_OK &&
				      ckptio__md_add_chunk(&hc, md, idx, o1,
							   half, "a", row, row,
							   1, 2) == CKPTIO_OK,
			      "%s: %s", name, hc.msg);
		n++;
	}
	ck_assert_int_eq(n, 22);
	ck_assert_int_eq(ckptio__md_seal(&hc, "test", md), CKPTIO_OK);
	json = ckptio__md_to_json(md, &len);
	ck_assert_ptr_nonnull(json);
	ck_assert_ptr_nonnull(strstr(json, "\"F6_E3M2\""));
	ck_assert_ptr_nonnull(strstr(json, "\"F8_E5M2FNUZ\""));
	ck_assert_int_eq(ckptio__md_from_json(&hc, "k", json, len, &back),
			 CKPTIO_OK);
	ck_assert_uint_eq(back->nitems, 22);
	for (size_t i = 0; i < back->nitems; i++) {
		ck_assert_int_eq(back->items[i].dtype, md->items[i].dtype);
		ck_assert_uint_eq(back->items[i].nbytes, md->items[i].nbytes);
		ck_assert_uint_eq(back->items[i].chunks[1].length,
				  md->items[i].chunks[1].length);
	}
	ck_assert_uint_eq(back->items[CKPTIO_F4 - 1].nbytes, 8);
	ck_assert_uint_eq(back->items[CKPTIO_F6_E2M3 - 1].nbytes, 12);
	ck_assert_uint_eq(back->items[CKPTIO_C64 - 1].nbytes, 128);
	free(json);
	ckptio__md_free(md);
	ckptio__md_free(back);
}
END_TEST

/* A sub-byte tensor "w" of the given dtype and shape, with chunks. */
#define SUB2(dtype, shape, chunks) I2("[\"w\",\"" dtype "\"," shape ",[" \
	chunks "]]")

/* Hostile metadata for sub-byte tensors: refused, naming the item, never
 * sized by rounding. */
START_TEST(test_sub_byte_hostile)
{
	ckptio_metadata *md;
	const char *ok = SUB2("F4", "[2,4]", "[0,0,2,1,[0,0],[1,4]],"
				"[1,0,2,1,[1,0],[1,4]]");

	ck_assert_msg(ckptio__md_from_json(&hc, "k", ok, strlen(ok), &md) ==
			      CKPTIO_OK,
		      "%s", hc.msg);
	ck_assert_uint_eq(md->items[0].nbytes, 4);
	ckptio__md_free(md);
	/* A chunk length that disagrees with the shape (2 bytes). */
	expect_bad(SUB2("F4", "[4]", "[0,0,3,1,[0],[4]]"), CKPTIO_ECORRUPT,
		   "item 'w': chunk length 3 does not match its shape and "
		   "dtype (expected 2)");
	expect_bad(SUB2("F4", "[4]", "[0,0,1,1,[0],[4]]"), CKPTIO_ECORRUPT,
		   "item 'w': chunk length 1 does not match");
	/* Odd element counts: the tensor, then a chunk. */
	expect_bad(SUB2("F4", "[3]", "[0,0,2,1,[0],[3]]"), CKPTIO_ECORRUPT,
		   "item 'w': 3 elements of F4 are 12 bits, not whole bytes");
	expect_bad(SUB2("F6_E2M3", "[5]", "[0,0,4,1,[0],[5]]"),
		   CKPTIO_ECORRUPT,
		   "item 'w': 5 elements of F6_E2M3 are 30 bits, not whole "
		   "bytes");
	expect_bad(SUB2("F4", "[4]", "[0,0,1,1,[0],[2]],[0,1,1,1,[2],[1]],"
				     "[0,2,1,1,[3],[1]]"),
		   CKPTIO_ECORRUPT,
		   "item 'w': chunk of length 1: 1 element of F4 is 4 bits");
	/* Whole bytes, but rows that do not start on a byte: [2, 2] F4 split
	 * into columns. */
	expect_bad(SUB2("F4", "[2,2]", "[0,0,1,1,[0,0],[2,1]],"
				       "[0,1,1,1,[0,1],[2,1]]"),
		   CKPTIO_ECORRUPT,
		   "item 'w': chunk of length 1: chunk [0, +1) of the last "
		   "dimension does not start and end on whole bytes");
	/* Or split into rows whose ends are not bytes. */
	expect_bad(SUB2("F6_E3M2", "[4,2]", "[0,0,3,1,[0,0],[2,2]],"
					   "[0,3,3,1,[2,0],[2,2]]"),
		   CKPTIO_ECORRUPT, "item 'w': chunk of length 3: chunk [0, +2)");
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
	tcase_add_test(tc, test_every_dtype_round_trip);
	tcase_add_test(tc, test_sub_byte_hostile);
	tcase_add_test(tc, test_hostile_names);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_tiling_valid);
	tcase_add_test(tc, test_tiling_hostile);
	tcase_add_test(tc, test_tiling_wraparound);
	tcase_add_test(tc, test_tiling_many_dimensions);
	tcase_add_test(tc, test_tiling_too_irregular);
	tcase_add_test(tc, test_bytes_and_scalars);
	tcase_add_test(tc, test_attrs);
	tcase_add_test(tc, test_json_any_order);
	tcase_add_test(tc, test_json_any_order_v2);
	tcase_add_test(tc, test_json_duplicates);
	tcase_add_test(tc, test_json_syntax);
	tcase_add_test(tc, test_json_deep);
	tcase_add_test(tc, test_json_only_valid);
	tcase_add_test(tc, test_json_strings);
	tcase_add_test(tc, test_json_messages);
	tcase_add_test(tc, test_json_look_ahead);
	tcase_add_test(tc, test_json_round_trip);
	tcase_add_test(tc, test_builder_json_range);
	tcase_add_test(tc, test_v2_format);
	tcase_add_test(tc, test_v2_hostile);
	tcase_add_test(tc, test_v2_look_ahead);
	tcase_add_test(tc, test_v2_strings);
	tcase_add_test(tc, test_v2_size);
	tcase_add_test(tc, test_v2_escapes);
	tcase_add_test(tc, test_scale_chunks);
	tcase_add_test(tc, test_scale_grid);
	tcase_add_test(tc, test_scale_bricks);
	tcase_add_test(tc, test_scale_items);
	tcase_add_test(tc, test_scale_items_v2);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
