/*
 * util.c - small helpers shared by the core's units: the thread-local error
 * of calls made before a context exists, string helpers, key validation,
 * dtype tables and status texts.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[CKPTIO__ERRMSG];

ckptio_status ckptio__set_last_error(ckptio_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return st;
}

void ckptio__clear_last_error(void)
{
	last_error[0] = '\0';
}

const char *ckptio_last_error(void)
{
	return last_error;
}

const char *ckptio_version(void)
{
	return PACKAGE_VERSION;
}

const char *ckptio_strerror(ckptio_status status)
{
	static const char *const text[] = {
		[CKPTIO_OK] = "success",
		[CKPTIO_EINVAL] = "invalid argument",
		[CKPTIO_ENOMEM] = "out of memory",
		[CKPTIO_EIO] = "input/output error",
		[CKPTIO_ENOTFOUND] = "not found",
		[CKPTIO_EEXIST] = "already exists",
		[CKPTIO_ECORRUPT] = "corrupt or malformed data",
		[CKPTIO_ECONFIG] = "configuration error",
		[CKPTIO_EPLUGIN] = "plugin error",
		[CKPTIO_EUNSUPPORTED] = "operation not supported",
		[CKPTIO_EAUTH] = "authentication or permission denied",
		[CKPTIO_ENET] = "network error",
		[CKPTIO_ECANCELED] = "cancelled",
		[CKPTIO_ECOORD] = "coordination with other ranks failed",
		[CKPTIO_ENOSPC] = "no space left",
		[CKPTIO_EINDOUBT] = "commit in doubt: the checkpoint may be "
				    "visible or not durable; nothing was "
				    "removed",
	};

	if ((unsigned)status >= sizeof(text) / sizeof(text[0]) ||
	    !text[status])
		return "unknown error";
	return text[status];
}

char *ckptio__strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *ckptio__asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

char *ckptio__join(const char *id, const char *name)
{
	if (!id || !*id)
		return strdup(name);
	return ckptio__asprintf("%s/%s", id, name);
}

int ckptio__key_valid(const char *key)
{
	const char *p = key, *slash;
	size_t len;

	if (!key || !*key || strlen(key) > 1024 || *key == '/')
		return 0;
	for (;;) {
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

/* Bytes of the UTF-8 sequence at s (at most left), or 0 if malformed. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0; /* continuation byte, overlong lead, or > U+10FFFF */
	n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	/* The second byte's range excludes overlongs and surrogates. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

size_t ckptio__utf8_prefix(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		/* ASCII, the usual name, eight bytes at a time. */
		while (len - i >= 8) {
			uint64_t w;

			memcpy(&w, u + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i < len && u[i] < 0x80) {
			i++;
			continue;
		}
		if (i == len || (n = utf8_seq(u + i, len - i)) == 0)
			break;
		i += n;
	}
	return i;
}

void ckptio__utf8_scrub(char *s)
{
	size_t len = strlen(s), i = 0, n;

	while (i < len) {
		n = utf8_seq((unsigned char *)s + i, len - i);
		if (n == 0) {
			s[i] = '?';
			n = 1;
		}
		i += n;
	}
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Open addressing, linear probing, at most half full. */
static const char **strset_slot(const char **slots, size_t nslots,
				const char *s)
{
	size_t i = (size_t)str_hash(s) & (nslots - 1);

	while (slots[i] && strcmp(slots[i], s) != 0)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

int ckptio__strset_add(ckptio__strset *set, const char *s)
{
	const char **slot;

	if ((set->n + 1) * 2 > set->nslots) {
		size_t n = set->nslots ? set->nslots * 2 : 64;
		const char **v = calloc(n, sizeof(*v));

		if (!v)
			return -1;
		for (size_t i = 0; i < set->nslots; i++)
			if (set->slots[i])
				*strset_slot(v, n, set->slots[i]) = set->slots[i];
		free(set->slots);
		set->slots = v;
		set->nslots = n;
	}
	slot = strset_slot(set->slots, set->nslots, s);
	if (*slot)
		return 0;
	*slot = s;
	set->n++;
	return 1;
}

int ckptio__strset_has(const ckptio__strset *set, const char *s)
{
	return set->nslots && *strset_slot(set->slots, set->nslots, s);
}

void ckptio__strset_free(ckptio__strset *set)
{
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

int ckptio__in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* dtypes                                                                   */

/* Bits per element: a multiple of 8 except for the sub-byte dtypes, which
 * safetensors packs densely (F4: two elements per byte, F6: four per three
 * bytes), row-major, with no padding between rows. */
static const struct {
	const char *name;
	unsigned bits;
} dtypes[] = {
	[CKPTIO_F64] = {"F64", 64},
	[CKPTIO_F32] = {"F32", 32},
	[CKPTIO_F16] = {"F16", 16},
	[CKPTIO_BF16] = {"BF16", 16},
	[CKPTIO_I64] = {"I64", 64},
	[CKPTIO_I32] = {"I32", 32},
	[CKPTIO_I16] = {"I16", 16},
	[CKPTIO_I8] = {"I8", 8},
	[CKPTIO_U8] = {"U8", 8},
	[CKPTIO_BOOL] = {"BOOL", 8},
	[CKPTIO_F8_E4M3] = {"F8_E4M3", 8},
	[CKPTIO_F8_E5M2] = {"F8_E5M2", 8},
	[CKPTIO_U16] = {"U16", 16},
	[CKPTIO_U32] = {"U32", 32},
	[CKPTIO_U64] = {"U64", 64},
	[CKPTIO_F8_E8M0] = {"F8_E8M0", 8},
	[CKPTIO_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
	[CKPTIO_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
	[CKPTIO_C64] = {"C64", 64},
	[CKPTIO_F4] = {"F4", 4},
	[CKPTIO_F6_E2M3] = {"F6_E2M3", 6},
	[CKPTIO_F6_E3M2] = {"F6_E3M2", 6},
};
#define NDTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

unsigned ckptio_dtype_bits(ckptio_dtype dtype)
{
	if ((unsigned)dtype >= NDTYPES)
		return 0;
	return dtypes[dtype].bits;
}

size_t ckptio_dtype_size(ckptio_dtype dtype)
{
	unsigned bits = ckptio_dtype_bits(dtype);

	return bits % 8 ? 0 : bits / 8;
}

const char *ckptio_dtype_name(ckptio_dtype dtype)
{
	if ((unsigned)dtype >= NDTYPES)
		return NULL;
	return dtypes[dtype].name;
}

ckptio_dtype ckptio_dtype_from_name(const char *name)
{
	for (unsigned i = 1; name && i < NDTYPES; i++)
		if (dtypes[i].name && strcmp(dtypes[i].name, name) == 0)
			return (ckptio_dtype)i;
	return CKPTIO_DTYPE_INVALID;
}

/* n elements of `bits` bits end on a byte boundary.  (n % 8 first: n x
 * bits may not fit in 64 bits when the byte count does.) */
static int whole_bytes(uint64_t n, unsigned bits)
{
	return (n % 8) * bits % 8 == 0;
}

/* Bytes of n elements known to fit (an extent of a validated tensor). */
static uint64_t bytes_of(uint64_t n, unsigned bits)
{
	return n / 8 * bits + n % 8 * bits / 8;
}

int ckptio__dtype_bytes(ckptio_dtype dtype, uint64_t nelems, uint64_t *out,
			char *why, size_t whylen)
{
	unsigned bits = ckptio_dtype_bits(dtype);
	uint64_t n, bitcount;

	if (bits == 0) {
		snprintf(why, whylen, "unknown dtype %d", (int)dtype);
		return -1;
	}
	if (!whole_bytes(nelems, bits)) {
		if (__builtin_mul_overflow(nelems, (uint64_t)bits, &bitcount))
			snprintf(why, whylen,
				 "%llu elements of %s are not whole bytes",
				 (unsigned long long)nelems, dtypes[dtype].name);
		else
			snprintf(why, whylen,
				 "%llu element%s of %s %s %llu bits, not "
				 "whole bytes",
				 (unsigned long long)nelems,
				 nelems == 1 ? "" : "s", dtypes[dtype].name,
				 nelems == 1 ? "is" : "are",
				 (unsigned long long)bitcount);
		return -1;
	}
	if (__builtin_mul_overflow(nelems / 8, (uint64_t)bits, &n) ||
	    __builtin_add_overflow(n, nelems % 8 * bits / 8, &n)) {
		snprintf(why, whylen,
			 "%llu elements of %s are more than 2^64 - 1 bytes",
			 (unsigned long long)nelems, dtypes[dtype].name);
		return -1;
	}
	*out = n;
	return 0;
}

int ckptio__chunk_bytes_aligned(ckptio_dtype dtype, unsigned ndim,
				const uint64_t *global_shape,
				const uint64_t *offsets, const uint64_t *shape,
				char *why, size_t whylen)
{
	unsigned bits = ckptio_dtype_bits(dtype), last = ndim - 1;
	int whole = 1, empty = 0;

	if (bits % 8 == 0 || ndim == 0)
		return 0;
	for (unsigned d = 0; d < ndim; d++) {
		whole &= offsets[d] == 0 && shape[d] == global_shape[d];
		empty |= shape[d] == 0;
	}
	if (whole || empty ||
	    (whole_bytes(offsets[last], bits) && whole_bytes(shape[last], bits)))
		return 0;
	snprintf(why, whylen,
		 "chunk [%llu, +%llu) of the last dimension does not start "
		 "and end on whole bytes (%s is %u bits per element); a "
		 "sub-byte tensor may be split only where its rows stay "
		 "byte-aligned",
		 (unsigned long long)offsets[last],
		 (unsigned long long)shape[last], dtypes[dtype].name, bits);
	return -1;
}

int ckptio__copy_box(ckptio_dtype dtype, unsigned ndim, const uint64_t *soff,
		     const uint64_t *sshape, const void *src,
		     const uint64_t *doff, const uint64_t *dshape, void *dst)
{
	uint64_t so[CKPTIO_MAX_NDIM], ss[CKPTIO_MAX_NDIM];
	uint64_t dof[CKPTIO_MAX_NDIM], ds[CKPTIO_MAX_NDIM];
	unsigned bits = ckptio_dtype_bits(dtype), last = ndim - 1;

	if (bits == 0)
		return -1;
	if (bits % 8 == 0) {
		ckptio__copy_overlap(ndim, bits / 8, soff, sshape, src, doff,
				     dshape, dst);
		return 0;
	}
	/* Sub-byte: in byte units along the last dimension, exact only when
	 * both boxes' rows start and end on whole bytes. */
	if (ndim == 0 || !whole_bytes(soff[last], bits) ||
	    !whole_bytes(sshape[last], bits) || !whole_bytes(doff[last], bits) ||
	    !whole_bytes(dshape[last], bits))
		return -1;
	memcpy(so, soff, ndim * sizeof(*so));
	memcpy(ss, sshape, ndim * sizeof(*ss));
	memcpy(dof, doff, ndim * sizeof(*dof));
	memcpy(ds, dshape, ndim * sizeof(*ds));
	so[last] = bytes_of(soff[last], bits);
	ss[last] = bytes_of(sshape[last], bits);
	dof[last] = bytes_of(doff[last], bits);
	ds[last] = bytes_of(dshape[last], bits);
	ckptio__copy_overlap(ndim, 1, so, ss, src, dof, ds, dst);
	return 0;
}

int ckptio__sort_keyed(ckptio__keyed *v, size_t n)
{
	uint64_t all_or = 0, all_and = ~(uint64_t)0, differ;
	ckptio__keyed *tmp = NULL, *from = v, *to;

	for (size_t i = 0; i < n; i++) {
		all_or |= v[i].key;
		all_and &= v[i].key;
	}
	differ = n > 1 ? all_or ^ all_and : 0;
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[256] = {0}, pos = 0;

		if (((differ >> shift) & 0xff) == 0)
			continue;
		if (!tmp && !(tmp = malloc(n * sizeof(*tmp))))
			return -1;
		to = from == v ? tmp : v;
		for (size_t i = 0; i < n; i++)
			count[(from[i].key >> shift) & 0xff]++;
		for (unsigned d = 0; d < 256; d++) {
			size_t c = count[d];

			count[d] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			to[count[(from[i].key >> shift) & 0xff]++] = from[i];
		from = to;
	}
	if (from != v)
		memcpy(v, from, n * sizeof(*v));
	free(tmp);
	return 0;
}
