/* check_util.c - keys, dtypes, status texts, the box copy used by
 * resharding, and the in-process coordinator. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

START_TEST(test_keys)
{
	char long_key[1100];

	ck_assert(ckptio__key_valid("a"));
	ck_assert(ckptio__key_valid("a/b/.metadata.json"));
	ck_assert(ckptio__key_valid("..a/b.."));
	ck_assert(!ckptio__key_valid(""));
	ck_assert(!ckptio__key_valid("/abs"));
	ck_assert(!ckptio__key_valid("a//b"));
	ck_assert(!ckptio__key_valid("a/"));
	ck_assert(!ckptio__key_valid("."));
	ck_assert(!ckptio__key_valid("a/./b"));
	ck_assert(!ckptio__key_valid("../x"));
	ck_assert(!ckptio__key_valid("a/.."));
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	ck_assert(!ckptio__key_valid(long_key));
}
END_TEST

START_TEST(test_join)
{
	char *a = ckptio__join("", "x"), *b = ckptio__join("id/sub", "x");

	ck_assert_str_eq(a, "x");
	ck_assert_str_eq(b, "id/sub/x");
	free(a);
	free(b);
}
END_TEST

/* Every dtype of the safetensors specification, with its bits. */
static const struct {
	ckptio_dtype d;
	const char *name;
	unsigned bits;
} all_dtypes[] = {
	{CKPTIO_F64, "F64", 64},
	{CKPTIO_F32, "F32", 32},
	{CKPTIO_F16, "F16", 16},
	{CKPTIO_BF16, "BF16", 16},
	{CKPTIO_I64, "I64", 64},
	{CKPTIO_I32, "I32", 32},
	{CKPTIO_I16, "I16", 16},
	{CKPTIO_I8, "I8", 8},
	{CKPTIO_U8, "U8", 8},
	{CKPTIO_BOOL, "BOOL", 8},
	{CKPTIO_F8_E4M3, "F8_E4M3", 8},
	{CKPTIO_F8_E5M2, "F8_E5M2", 8},
	{CKPTIO_U16, "U16", 16},
	{CKPTIO_U32, "U32", 32},
	{CKPTIO_U64, "U64", 64},
	{CKPTIO_F8_E8M0, "F8_E8M0", 8},
	{CKPTIO_F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
	{CKPTIO_F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
	{CKPTIO_C64, "C64", 64},
	{CKPTIO_F4, "F4", 4},
	{CKPTIO_F6_E2M3, "F6_E2M3", 6},
	{CKPTIO_F6_E3M2, "F6_E3M2", 6},
};
#define NALL (sizeof(all_dtypes) / sizeof(all_dtypes[0]))

START_TEST(test_dtypes)
{
	ck_assert_uint_eq(NALL, 22);
	for (size_t i = 0; i < NALL; i++) {
		ckptio_dtype d = all_dtypes[i].d;
		unsigned bits = all_dtypes[i].bits;

		ck_assert_str_eq(ckptio_dtype_name(d), all_dtypes[i].name);
		ck_assert_int_eq(ckptio_dtype_from_name(all_dtypes[i].name), d);
		ck_assert_uint_eq(ckptio_dtype_bits(d), bits);
		ck_assert_uint_eq(ckptio_dtype_size(d), bits % 8 ? 0 : bits / 8);
	}
	ck_assert_uint_eq(ckptio_dtype_size(CKPTIO_C64), 8);
	ck_assert_uint_eq(ckptio_dtype_size(CKPTIO_F4), 0);
	for (int d = -1; d <= 99; d += d == 0 ? 23 : 1) {
		ck_assert_uint_eq(ckptio_dtype_size((ckptio_dtype)d), 0);
		ck_assert_uint_eq(ckptio_dtype_bits((ckptio_dtype)d), 0);
		ck_assert_ptr_null(ckptio_dtype_name((ckptio_dtype)d));
	}
	ck_assert_int_eq(ckptio_dtype_from_name("f32"), CKPTIO_DTYPE_INVALID);
	ck_assert_int_eq(ckptio_dtype_from_name("F4 "), CKPTIO_DTYPE_INVALID);
	ck_assert_int_eq(ckptio_dtype_from_name("F8_E4M3FN"),
			 CKPTIO_DTYPE_INVALID);
	ck_assert_int_eq(ckptio_dtype_from_name("C128"), CKPTIO_DTYPE_INVALID);
	ck_assert_int_eq(ckptio_dtype_from_name(""), CKPTIO_DTYPE_INVALID);
	ck_assert_int_eq(ckptio_dtype_from_name(NULL), CKPTIO_DTYPE_INVALID);
}
END_TEST

/* Expect ckptio__dtype_bytes to fail with a reason containing want. */
static void bytes_bad(ckptio_dtype d, uint64_t n, const char *want)
{
	char why[CKPTIO__WHY] = "";
	uint64_t out = 12345;

	ck_assert_int_eq(ckptio__dtype_bytes(d, n, &out, why, sizeof(why)), -1);
	ck_assert_uint_eq(out, 12345);
	ck_assert_msg(strstr(why, want) != NULL, "'%s' lacks '%s'", why, want);
}

static uint64_t bytes_ok(ckptio_dtype d, uint64_t n)
{
	char why[CKPTIO__WHY] = "";
	uint64_t out = 12345;

	ck_assert_msg(ckptio__dtype_bytes(d, n, &out, why, sizeof(why)) == 0,
		      "%s", why);
	return out;
}

START_TEST(test_dtype_bytes)
{
	for (size_t i = 0; i < NALL; i++) {
		ck_assert_uint_eq(bytes_ok(all_dtypes[i].d, 0), 0);
		ck_assert_uint_eq(bytes_ok(all_dtypes[i].d, 24),
				  24 * all_dtypes[i].bits / 8);
	}
	ck_assert_uint_eq(bytes_ok(CKPTIO_F4, 4), 2);
	ck_assert_uint_eq(bytes_ok(CKPTIO_F6_E2M3, 4), 3);
	ck_assert_uint_eq(bytes_ok(CKPTIO_F6_E3M2, 12), 9);
	ck_assert_uint_eq(bytes_ok(CKPTIO_C64, 3), 24);
	bytes_bad(CKPTIO_F4, 3, "3 elements of F4 are 12 bits, not whole bytes");
	bytes_bad(CKPTIO_F4, 1, "1 element of F4 is 4 bits, not whole bytes");
	bytes_bad(CKPTIO_F6_E2M3, 5,
		  "5 elements of F6_E2M3 are 30 bits, not whole bytes");
	bytes_bad(CKPTIO_F6_E3M2, 2, "12 bits");
	bytes_bad((ckptio_dtype)23, 1, "unknown dtype 23");
	bytes_bad(CKPTIO_DTYPE_INVALID, 1, "unknown dtype 0");
	/* Near 2^64: byte counts that fit though elements x bits does not,
	 * and ones that do not fit. */
	ck_assert_uint_eq(bytes_ok(CKPTIO_F4, UINT64_MAX - 7),
			  (UINT64_MAX - 7) / 2);
	ck_assert_uint_eq(bytes_ok(CKPTIO_F6_E2M3, UINT64_MAX - 7),
			  (UINT64_MAX - 7) / 4 * 3);
	ck_assert_uint_eq(bytes_ok(CKPTIO_U8, UINT64_MAX), UINT64_MAX);
	bytes_bad(CKPTIO_F4, UINT64_MAX, "elements of F4 are not whole bytes");
	bytes_bad(CKPTIO_U16, UINT64_MAX / 2 + 1, "more than 2^64 - 1 bytes");
	bytes_bad(CKPTIO_C64, UINT64_MAX / 8 + 8, "more than 2^64 - 1 bytes");
}
END_TEST

START_TEST(test_chunk_bytes_aligned)
{
	const uint64_t g[2] = {4, 6}, z[2] = {0, 0};
	char why[CKPTIO__WHY] = "";

#define ALIGNED(d, o0, o1, s0, s1)                                            \
	ckptio__chunk_bytes_aligned(d, 2, g, (const uint64_t[2]){o0, o1},      \
				    (const uint64_t[2]){s0, s1}, why,          \
				    sizeof(why))
	ck_assert_int_eq(ALIGNED(CKPTIO_F4, 0, 2, 4, 2), 0);
	ck_assert_int_eq(ALIGNED(CKPTIO_F4, 1, 0, 2, 6), 0);
	ck_assert_int_eq(ALIGNED(CKPTIO_F4, 0, 0, 4, 6), 0); /* whole */
	ck_assert_int_eq(ALIGNED(CKPTIO_F4, 3, 1, 0, 3), 0); /* empty */
	ck_assert_int_eq(ALIGNED(CKPTIO_F4, 0, 1, 4, 2), -1);
	ck_assert_ptr_nonnull(strstr(why, "chunk [1, +2) of the last dimension "
					  "does not start and end on whole "
					  "bytes (F4 is 4 bits per element)"));
	ck_assert_int_eq(ALIGNED(CKPTIO_F4, 0, 0, 4, 3), -1);
	ck_assert_int_eq(ALIGNED(CKPTIO_F6_E2M3, 0, 0, 4, 4), 0);
	ck_assert_int_eq(ALIGNED(CKPTIO_F6_E3M2, 0, 4, 4, 2), -1);
	ck_assert_int_eq(ALIGNED(CKPTIO_F6_E3M2, 0, 0, 2, 6), -1);
	/* Whole-byte dtypes split anywhere. */
	ck_assert_int_eq(ALIGNED(CKPTIO_U8, 1, 1, 1, 1), 0);
	ck_assert_int_eq(ALIGNED(CKPTIO_C64, 1, 1, 1, 1), 0);
	ck_assert_int_eq(ckptio__chunk_bytes_aligned(CKPTIO_F4, 0, NULL, NULL,
						     NULL, why, sizeof(why)),
			 0);
	ck_assert_int_eq(ckptio__chunk_bytes_aligned(CKPTIO_F4, 2, g, z, g, why,
						     sizeof(why)),
			 0);
#undef ALIGNED
}
END_TEST

/* A [2, 8] F4 tensor in four byte-aligned chunks of [1, 4] (two bytes a
 * row), copied into the whole and back out; an unaligned box is
 * refused without writing anything. */
START_TEST(test_copy_box_sub_byte)
{
	const uint64_t whole[2] = {2, 8}, zero[2] = {0, 0}, cs[2] = {1, 4};
	const uint64_t off[4][2] = {{0, 0}, {0, 4}, {1, 0}, {1, 4}};
	unsigned char src[4][2], dst[8], back[3], want[8];
	uint16_t s16[2] = {0x1234, 0x5678}, d16[4] = {0, 0, 0, 0};

	for (int c = 0; c < 4; c++) {
		src[c][0] = (unsigned char)(0x10 * c + 1);
		src[c][1] = (unsigned char)(0x10 * c + 2);
	}
	/* Row-major: row 0 is chunks 0 then 1, row 1 chunks 2 then 3. */
	memcpy(want, src, sizeof(want));
	memset(dst, 0xee, sizeof(dst));
	for (int c = 0; c < 4; c++)
		ck_assert_int_eq(ckptio__copy_box(CKPTIO_F4, 2, off[c], cs,
						  src[c], zero, whole, dst),
				 0);
	ck_assert(memcmp(dst, want, sizeof(want)) == 0);
	ck_assert_int_eq(ckptio__copy_box(CKPTIO_F4, 2, zero, whole, dst,
					  off[3], cs, back),
			 0);
	ck_assert(memcmp(back, src[3], 2) == 0);
	/* F6: [1, 8] is 6 bytes; its columns [4, 8) are bytes [3, 6). */
	ck_assert_int_eq(ckptio__copy_box(CKPTIO_F6_E2M3, 2, zero,
					  (const uint64_t[2]){1, 8}, want,
					  (const uint64_t[2]){0, 4}, cs, back),
			 0);
	ck_assert(memcmp(back, want + 3, 3) == 0);
	memset(back, 0xee, sizeof(back));
	ck_assert_int_eq(ckptio__copy_box(CKPTIO_F4, 2, zero, whole, dst,
					  (const uint64_t[2]){0, 1}, cs, back),
			 -1);
	ck_assert_int_eq(ckptio__copy_box(CKPTIO_F4, 2, zero,
					  (const uint64_t[2]){2, 3}, dst, zero,
					  whole, back),
			 -1);
	ck_assert_int_eq(back[0], 0xee);
	ck_assert_int_eq(ckptio__copy_box((ckptio_dtype)99, 2, zero, whole,
					  dst, zero, whole, back),
			 -1);
	/* A whole-byte dtype is the plain box copy. */
	ck_assert_int_eq(ckptio__copy_box(CKPTIO_U16, 2,
					  (const uint64_t[2]){0, 2},
					  (const uint64_t[2]){1, 2}, s16, zero,
					  (const uint64_t[2]){1, 4}, d16),
			 0);
	ck_assert(d16[0] == 0 && d16[1] == 0 && d16[2] == 0x1234 &&
		  d16[3] == 0x5678);
}
END_TEST

START_TEST(test_strerror)
{
	ck_assert_str_eq(ckptio_strerror(CKPTIO_OK), "success");
	ck_assert_str_eq(ckptio_strerror(CKPTIO_ECORRUPT),
			 "corrupt or malformed data");
	ck_assert_str_eq(ckptio_strerror((ckptio_status)1000), "unknown error");
	ck_assert_str_eq(ckptio_strerror((ckptio_status)-1), "unknown error");
}
END_TEST

/* A 6x8 I32 tensor whose element (r, c) is r * 100 + c. */
static int32_t val(uint64_t r, uint64_t c)
{
	return (int32_t)(r * 100 + c);
}

START_TEST(test_copy_overlap_2d)
{
	const uint64_t soff[2] = {2, 0}, sshape[2] = {3, 8};
	const uint64_t doff[2] = {1, 3}, dshape[2] = {4, 4};
	int32_t src[3 * 8], dst[4 * 4];

	for (uint64_t r = 0; r < 3; r++)
		for (uint64_t c = 0; c < 8; c++)
			src[r * 8 + c] = val(soff[0] + r, c);
	for (int i = 0; i < 16; i++)
		dst[i] = -1;
	ckptio__copy_overlap(2, 4, soff, sshape, src, doff, dshape, dst);
	for (uint64_t r = 0; r < 4; r++)
		for (uint64_t c = 0; c < 4; c++) {
			uint64_t gr = doff[0] + r, gc = doff[1] + c;
			int32_t want = gr >= 2 && gr < 5 ? val(gr, gc) : -1;

			ck_assert_int_eq(dst[r * 4 + c], want);
		}
	ck_assert(ckptio__boxes_overlap(2, soff, sshape, doff, dshape));
}
END_TEST

START_TEST(test_copy_overlap_whole_rows)
{
	/* Trailing dimensions held whole by both boxes merge into one copy. */
	const uint64_t soff[3] = {0, 0, 0}, sshape[3] = {4, 3, 2};
	const uint64_t doff[3] = {2, 0, 0}, dshape[3] = {2, 3, 2};
	int64_t src[24], dst[12];

	for (int i = 0; i < 24; i++)
		src[i] = i;
	ckptio__copy_overlap(3, 8, soff, sshape, src, doff, dshape, dst);
	for (int i = 0; i < 12; i++)
		ck_assert_int_eq(dst[i], 12 + i);
}
END_TEST

START_TEST(test_no_overlap)
{
	const uint64_t a[1] = {0}, as[1] = {4}, b[1] = {4}, bs[1] = {4};

	ck_assert(!ckptio__boxes_overlap(1, a, as, b, bs));
}
END_TEST

typedef struct rank_arg {
	ckptio_coord co;
	int got_sum;
	char bcast[16];
} rank_arg;

static void *rank_main(void *p)
{
	rank_arg *a = p;
	int mine = a->co.rank + 1;
	void **bufs = NULL, *b = NULL;
	size_t *lens = NULL, len = 0;

	for (int round = 0; round < 50; round++) {
		ck_assert_int_eq(a->co.gather(a->co.self, &mine, sizeof(mine),
					      &bufs, &lens), CKPTIO_OK);
		if (a->co.rank == 0) {
			a->got_sum = 0;
			for (int r = 0; r < a->co.world; r++) {
				ck_assert_uint_eq(lens[r], sizeof(int));
				a->got_sum += *(int *)bufs[r];
				free(bufs[r]);
			}
			free(bufs);
			free(lens);
			b = "hello";
			len = 6;
		}
		ck_assert_int_eq(a->co.broadcast(a->co.self, &b, &len), CKPTIO_OK);
		ck_assert_uint_eq(len, 6);
		memcpy(a->bcast, b, len);
		if (a->co.rank != 0)
			free(b);
		ck_assert_int_eq(a->co.barrier(a->co.self), CKPTIO_OK);
	}
	return NULL;
}

START_TEST(test_coord_threads)
{
	ckptio_coord_group *g;
	rank_arg args[5];
	pthread_t t[5];

	ck_assert_int_eq(ckptio_coord_threads_new(&g, 5), CKPTIO_OK);
	for (int r = 0; r < 5; r++) {
		memset(&args[r], 0, sizeof(args[r]));
		ckptio_coord_threads_get(g, r, &args[r].co);
		ck_assert_int_eq(pthread_create(&t[r], NULL, rank_main, &args[r]), 0);
	}
	for (int r = 0; r < 5; r++) {
		pthread_join(t[r], NULL);
		ck_assert_str_eq(args[r].bcast, "hello");
	}
	ck_assert_int_eq(args[0].got_sum, 15);
	ckptio_coord_threads_free(g);
	ck_assert_int_eq(ckptio_coord_threads_new(&g, 0), CKPTIO_EINVAL);
	ck_assert_ptr_null(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The operation's worker pool                                              */

typedef struct pooltest {
	ckptio__pool *p;
	int *seen;      /* per index of the outer x inner loop */
	int cur, max;   /* leaf tasks running at once, and the most */
	int fail_at;    /* outer index that fails, or -1 */
	int inner_n;
} pooltest;

static ckptio_status leaf(void *arg, size_t i)
{
	pooltest *t = ((pooltest **)arg)[0];
	size_t outer = (size_t)((pooltest **)arg)[1];
	int now = __atomic_add_fetch(&t->cur, 1, __ATOMIC_SEQ_CST), m;

	while ((m = __atomic_load_n(&t->max, __ATOMIC_SEQ_CST)) < now &&
	       !__atomic_compare_exchange_n(&t->max, &m, now, 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	for (volatile int spin = 0; spin < 20000; spin++)
		;
	__atomic_add_fetch(&t->seen[outer * (size_t)t->inner_n + i], 1,
			   __ATOMIC_SEQ_CST);
	__atomic_sub_fetch(&t->cur, 1, __ATOMIC_SEQ_CST);
	return CKPTIO_OK;
}

/* Each outer task runs a nested loop on the same pool. */
static ckptio_status outer(void *arg, size_t i)
{
	pooltest *t = arg;
	void *inner_arg[2] = {t, (void *)i};

	if ((int)i == t->fail_at)
		return CKPTIO_EIO;
	return ckptio__pool_for(t->p, (size_t)t->inner_n, leaf, inner_arg);
}

/* Every index runs once, loops nest without deadlock, at most `threads`
 * tasks run at once, and after a failure the first failure comes back. */
START_TEST(test_pool)
{
	static const unsigned threads[] = {1, 2, 4, 9};

	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		pooltest t = {.fail_at = -1, .inner_n = 37};
		size_t n = 23;

		t.p = ckptio__pool_new(threads[k]);
		t.seen = calloc(n * (size_t)t.inner_n, sizeof(int));
		ck_assert_ptr_nonnull(t.seen);
		for (int round = 0; round < 3; round++) {
			memset(t.seen, 0, n * (size_t)t.inner_n * sizeof(int));
			ck_assert_int_eq(ckptio__pool_for(t.p, n, outer, &t),
					 CKPTIO_OK);
			for (size_t i = 0; i < n * (size_t)t.inner_n; i++)
				ck_assert_int_eq(t.seen[i], 1);
		}
		ck_assert_int_le(t.max, (int)threads[k]);
		ck_assert_int_ge(t.max, 1);
		t.fail_at = 5;
		ck_assert_int_eq(ckptio__pool_for(t.p, n, outer, &t),
				 CKPTIO_EIO);
		ckptio__pool_free(t.p);
		free(t.seen);
	}
	/* No pool: the caller runs everything. */
	{
		pooltest t = {.fail_at = -1, .inner_n = 3};

		t.seen = calloc(6, sizeof(int));
		ck_assert_int_eq(ckptio__pool_for(NULL, 2, outer, &t),
				 CKPTIO_OK);
		ck_assert_int_eq(t.max, 1);
		free(t.seen);
	}
}
END_TEST

static int keyed_ref_cmp(const void *a, const void *b)
{
	const ckptio__keyed *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx; /* stable */
}

/* The radix sort against qsort: keys differing in some bytes only, in
 * all, in none (no pass), with many equal keys (order kept), 0 and 1. */
START_TEST(test_sort_keyed)
{
	enum { N = 5000 };
	static ckptio__keyed v[N], want[N];
	static const uint64_t masks[] = {0xff, 0xff00ff0000000000ull,
					 ~0ull, 0, 0x7};

	for (size_t m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
		uint64_t x = 88172645463325252ull + m;

		for (size_t i = 0; i < N; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v[i] = (ckptio__keyed){(x & masks[m]) | 0x1000, i};
		}
		memcpy(want, v, sizeof(v));
		qsort(want, N, sizeof(want[0]), keyed_ref_cmp);
		ck_assert_int_eq(ckptio__sort_keyed(v, N), 0);
		ck_assert_msg(memcmp(v, want, sizeof(v)) == 0, "mask %zu", m);
	}
	v[0] = (ckptio__keyed){42, 7};
	ck_assert_int_eq(ckptio__sort_keyed(v, 1), 0);
	ck_assert(v[0].key == 42 && v[0].idx == 7);
	ck_assert_int_eq(ckptio__sort_keyed(NULL, 0), 0);
}
END_TEST

/* The planner: every item in a bin, bins balanced to within the largest
 * item (largest first into the lightest), the same answer every time. */
START_TEST(test_plan_bins)
{
	enum { N = 1000 };
	static ckptio_plan_item items[N];
	static uint32_t bin_of[N], again[N];
	uint64_t load[7] = {0}, biggest = 0, lo = UINT64_MAX, hi = 0;
	ckptio_plan plan = {.nitems = N, .items = items};
	unsigned nbins = 99;

	for (size_t i = 0; i < N; i++) {
		/* sizes from 1 byte to 4 MiB, in no order */
		items[i].nbytes = 1 + (i * 2654435761u) % (4u << 20);
		if (items[i].nbytes > biggest)
			biggest = items[i].nbytes;
	}
	ck_assert_int_eq(ckptio__plan_bins(&plan, 7, &nbins, bin_of),
			 CKPTIO_OK);
	ck_assert_uint_eq(nbins, 7);
	for (size_t i = 0; i < N; i++) {
		ck_assert_uint_lt(bin_of[i], 7);
		load[bin_of[i]] += items[i].nbytes;
	}
	for (int b = 0; b < 7; b++) {
		lo = load[b] < lo ? load[b] : lo;
		hi = load[b] > hi ? load[b] : hi;
	}
	ck_assert_msg(hi - lo <= biggest, "bins from %llu to %llu bytes",
		      (unsigned long long)lo, (unsigned long long)hi);
	ck_assert_int_eq(ckptio__plan_bins(&plan, 7, &nbins, again),
			 CKPTIO_OK);
	ck_assert_int_eq(memcmp(bin_of, again, sizeof(again)), 0);

	/* Fewer items than bins: one each.  None: no bins.  0 bins: 1. */
	plan.nitems = 3;
	ck_assert_int_eq(ckptio__plan_bins(&plan, 7, &nbins, bin_of),
			 CKPTIO_OK);
	ck_assert_uint_eq(nbins, 3);
	ck_assert(bin_of[0] != bin_of[1] && bin_of[1] != bin_of[2] &&
		  bin_of[0] != bin_of[2]);
	plan.nitems = 0;
	ck_assert_int_eq(ckptio__plan_bins(&plan, 7, &nbins, bin_of),
			 CKPTIO_OK);
	ck_assert_uint_eq(nbins, 0);
	plan.nitems = 5;
	ck_assert_int_eq(ckptio__plan_bins(&plan, 0, &nbins, bin_of),
			 CKPTIO_OK);
	ck_assert_uint_eq(nbins, 1);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(bin_of[i], 0);
}
END_TEST

/* Through the host table: 0 bins means the operation's threads, and
 * NULL arguments are refused with a message, not followed. */
START_TEST(test_host_plan_bins)
{
	static ckptio_plan_item items[10];
	uint32_t bin_of[10];
	ckptio_plan plan = {.nitems = 10, .items = items};
	ckptio_host_ctx hc;
	unsigned nbins = 0;

	for (size_t i = 0; i < 10; i++)
		items[i].nbytes = 100 + i;
	ckptio__hc_init(&hc, NULL, NULL, NULL);
	hc.threads = 3;
	ck_assert_int_eq(ckptio__host.plan_bins(&hc, &plan, 0, &nbins, bin_of),
			 CKPTIO_OK);
	ck_assert_uint_eq(nbins, 3);
	ck_assert_int_eq(ckptio__host.plan_bins(&hc, NULL, 0, &nbins, bin_of),
			 CKPTIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(hc.msg, "plan_bins: NULL"));
	ck_assert_int_eq(ckptio__host.plan_bins(&hc, &plan, 2, &nbins, NULL),
			 CKPTIO_EINVAL);
	ck_assert_int_eq(ckptio__host.plan_bins(&hc, &plan, 2, NULL, bin_of),
			 CKPTIO_EINVAL);
	ckptio__hc_destroy(&hc);
}
END_TEST

/* Replicas go to the least loaded holder, largest first, ties to the
 * first holder listed; a rank that holds no copy never gets one. */
START_TEST(test_plan_replicas)
{
	const int all[4] = {0, 1, 2, 3}, odd[2] = {1, 3};
	const uint64_t base[4] = {0, 0, 0, 500};
	ckptio__replica reps[6] = {
		{100, all, 4}, {100, all, 4}, {100, all, 4},
		{100, all, 4}, {1000, odd, 2}, {10, all + 2, 2},
	};
	int writer[6];

	ck_assert_int_eq(ckptio__plan_replicas(reps, 6, base, 4, writer),
			 CKPTIO_OK);
	/* 1000 first: to rank 1 (rank 3 has 500 already).  Then the 100s
	 * to ranks 0, 2, 0, 2 (loads 0/1000/0/500, then 100/1000/0/500,
	 * ...), and the 10 of ranks {2, 3} to rank 2 (200 against 500). */
	ck_assert_int_eq(writer[4], 1);
	ck_assert_int_eq(writer[0], 0);
	ck_assert_int_eq(writer[1], 2);
	ck_assert_int_eq(writer[2], 0);
	ck_assert_int_eq(writer[3], 2);
	ck_assert_int_eq(writer[5], 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_join);
	tcase_add_test(tc, test_dtypes);
	tcase_add_test(tc, test_dtype_bytes);
	tcase_add_test(tc, test_chunk_bytes_aligned);
	tcase_add_test(tc, test_copy_box_sub_byte);
	tcase_add_test(tc, test_strerror);
	tcase_add_test(tc, test_copy_overlap_2d);
	tcase_add_test(tc, test_copy_overlap_whole_rows);
	tcase_add_test(tc, test_no_overlap);
	tcase_add_test(tc, test_coord_threads);
	tcase_add_test(tc, test_pool);
	tcase_add_test(tc, test_sort_keyed);
	tcase_add_test(tc, test_plan_bins);
	tcase_add_test(tc, test_plan_replicas);
	tcase_add_test(tc, test_host_plan_bins);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
