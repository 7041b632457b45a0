/*
 * util.c - small helpers shared by the core's units: the thread-local error
 * of calls made before a context exists, string helpers, key validation,
 * dtype tables and status texts.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

double ckptio__now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
