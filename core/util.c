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

	while (i < len && (n = utf8_seq(u + i, len - i)) != 0)
		i += n;
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

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[CKPTIO_F64] = {"F64", 8},	 [CKPTIO_F32] = {"F32", 4},
	[CKPTIO_F16] = {"F16", 2},	 [CKPTIO_BF16] = {"BF16", 2},
	[CKPTIO_I64] = {"I64", 8},	 [CKPTIO_I32] = {"I32", 4},
	[CKPTIO_I16] = {"I16", 2},	 [CKPTIO_I8] = {"I8", 1},
	[CKPTIO_U8] = {"U8", 1},	 [CKPTIO_BOOL] = {"BOOL", 1},
	[CKPTIO_F8_E4M3] = {"F8_E4M3", 1}, [CKPTIO_F8_E5M2] = {"F8_E5M2", 1},
	[CKPTIO_U16] = {"U16", 2},	 [CKPTIO_U32] = {"U32", 4},
	[CKPTIO_U64] = {"U64", 8},
};
#define NDTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

size_t ckptio_dtype_size(ckptio_dtype dtype)
{
	if ((unsigned)dtype >= NDTYPES)
		return 0;
	return dtypes[dtype].size;
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
