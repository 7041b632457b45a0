/*
 * crc32c.c - CRC32C (Castagnoli) through ISA-L, which picks the fastest
 * implementation the CPU offers (SSE4.2 crc32 with PCLMUL folding, AVX512)
 * at run time and has a portable table fallback.
 */
#include <isa-l/crc.h>
#include <limits.h>
#include <stdlib.h>

#include "internal.h"

/* ISA-L's crc32_iscsi works on the raw register: it neither inverts the
 * seed nor the result, and its length is an int.  The standard CRC32C
 * (crc = 0 to start, chained by passing the previous result) inverts both,
 * so convert here, in slices below INT_MAX. */
uint32_t ckptio__crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		reg = crc32_iscsi((unsigned char *)p, (int)n, reg);
		p += n;
		len -= n;
	}
	return ~reg;
}

/* CRC32C of A followed by B from crc(A), crc(B) and len(B), without the
 * bytes: appending len2 zero bytes to A is a linear map of its CRC
 * register, applied by squaring the one-zero-bit operator (GF(2) 32x32
 * matrices, as zlib's crc32_combine), O(log len2). */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	for (; vec; vec >>= 1, mat++)
		if (vec & 1)
			sum ^= *mat;
	return sum;
}

static void gf2_square(uint32_t *sq, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++)
		sq[n] = gf2_times(mat, mat[n]);
}

uint32_t ckptio__crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
	uint32_t even[32], odd[32], row = 1;

	if (len2 == 0)
		return crc1;
	odd[0] = 0x82f63b78u; /* reflected Castagnoli polynomial */
	for (int n = 1; n < 32; n++, row <<= 1)
		odd[n] = row;
	gf2_square(even, odd); /* two zero bits */
	gf2_square(odd, even); /* four */
	do {
		gf2_square(even, odd); /* one zero byte, then 4, 16, ... */
		if (len2 & 1)
			crc1 = gf2_times(even, crc1);
		len2 >>= 1;
		if (!len2)
			break;
		gf2_square(odd, even);
		if (len2 & 1)
			crc1 = gf2_times(odd, crc1);
		len2 >>= 1;
	} while (len2);
	return crc1 ^ crc2;
}

int ckptio__has_read_crc(const struct ckptio_layout_ops *lo)
{
	return lo->struct_size >=
		       CKPTIO__END_OF(struct ckptio_layout_ops, read_data_crc) &&
	       lo->read_data_crc;
}

uint32_t *ckptio__read_crcs(const struct ckptio_layout_ops *lo, size_t n)
{
	if (!ckptio__has_read_crc(lo))
		return NULL;
	return malloc((n ? n : 1) * sizeof(uint32_t));
}
