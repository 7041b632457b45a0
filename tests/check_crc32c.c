/* check_crc32c.c - CRC32C against published check values, chaining, and
 * slices beyond ISA-L's int length. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

START_TEST(test_check_value)
{
	/* The CRC-32C check value of "123456789" (RFC 3720 B.4 catalogue). */
	ck_assert_uint_eq(ckptio__crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(ckptio__crc32c(0, "", 0), 0);
}
END_TEST

START_TEST(test_rfc3720_vectors)
{
	unsigned char buf[32];

	/* RFC 3720 B.4: 32 bytes of zeros, of ones, incrementing. */
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(ckptio__crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(ckptio__crc32c(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	ck_assert_uint_eq(ckptio__crc32c(0, buf, 32), 0x46DD794Eu);
}
END_TEST

START_TEST(test_chaining)
{
	size_t n = 1 << 20;
	unsigned char *buf = malloc(n);
	uint32_t whole, part = 0;

	ck_assert_ptr_nonnull(buf);
	tu_fill(buf, n, 7);
	whole = ckptio__crc32c(0, buf, n);
	for (size_t off = 0; off < n; off += 4093) {
		size_t len = n - off < 4093 ? n - off : 4093;

		part = ckptio__crc32c(part, buf + off, len);
	}
	ck_assert_uint_eq(whole, part);
	buf[n / 2] ^= 1;
	ck_assert_uint_ne(whole, ckptio__crc32c(0, buf, n));
	free(buf);
}
END_TEST

/* crc(A then B) from crc(A), crc(B) and len(B), at split points from 0
 * to the whole, lengths crossing powers of two. */
START_TEST(test_combine)
{
	enum { N = 70000 };
	unsigned char *buf = malloc(N);
	const size_t lens[] = {0, 1, 3, 8, 63, 64, 65, 4095, 4096, 65537, N};

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < N; i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 7));
	for (size_t a = 0; a < sizeof(lens) / sizeof(lens[0]); a++)
		for (size_t b = 0; b < sizeof(lens) / sizeof(lens[0]); b++) {
			size_t la = lens[a], lb = lens[b];

			if (la + lb > N)
				continue;
			ck_assert_uint_eq(
				ckptio__crc32c_combine(ckptio__crc32c(0, buf, la),
						       ckptio__crc32c(0, buf + la, lb),
						       lb),
				ckptio__crc32c(0, buf, la + lb));
		}
	free(buf);
}
END_TEST

START_TEST(test_large_slices)
{
	/* Lengths past 1 GiB are sliced; the result must equal chaining. */
	size_t n = (1u << 30) + 4096;
	unsigned char *buf = calloc(1, n);
	uint32_t a, b;

	ck_assert_ptr_nonnull(buf);
	buf[n - 1] = 0x5a;
	a = ckptio__crc32c(0, buf, n);
	b = ckptio__crc32c(ckptio__crc32c(0, buf, 1u << 30), buf + (1u << 30),
			   4096);
	ck_assert_uint_eq(a, b);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_check_value);
	tcase_add_test(tc, test_rfc3720_vectors);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_combine);
	tcase_add_test(tc, test_large_slices);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
