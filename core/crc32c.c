/*
 * crc32c.c - CRC32C (Castagnoli) through ISA-L, which picks the fastest
 * implementation the CPU offers (SSE4.2 crc32 with PCLMUL folding, AVX512)
 * at run time and has a portable table fallback.
 */
#include <isa-l/crc.h>
#include <limits.h>

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
