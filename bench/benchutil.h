/*
 * benchutil.h - small helpers shared by the bench/ drivers (scale.c,
 * ranks.c): each is one program, so these are static.
 */
#ifndef CKPTIO_BENCHUTIL_H
#define CKPTIO_BENCHUTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Monotonic seconds. */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A decimal count: digits only, no sign, no suffix.  0, or -1. */
static inline int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

#endif
