/*
 * host.c - the host-services table handed to plugins, and the per-operation
 * context (ckptio_host_ctx) that carries the first error of an operation
 * and the backend's options.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

void ckptio__hc_init(ckptio_host_ctx *hc, ckptio_ctx *ctx,
		     const ckptio__section *section,
		     const ckptio__section *defaults)
{
	memset(hc, 0, sizeof(*hc));
	hc->ctx = ctx;
	hc->section = section;
	hc->defaults = defaults;
	pthread_mutex_init(&hc->mu, NULL);
}

ckptio__pool *ckptio__hc_pool(ckptio_host_ctx *hc)
{
	ckptio__pool *p;

	if (!hc || hc->threads < 2)
		return NULL;
	pthread_mutex_lock(&hc->mu);
	if (!hc->pool)
		hc->pool = ckptio__pool_new(hc->threads);
	p = hc->pool;
	pthread_mutex_unlock(&hc->mu);
	return p;
}

void ckptio__hc_destroy(ckptio_host_ctx *hc)
{
	ckptio__pool_free(hc->pool);
	hc->pool = NULL;
	pthread_mutex_destroy(&hc->mu);
}

ckptio_status ckptio__hc_verror(ckptio_host_ctx *hc, ckptio_status st,
				const char *fmt, va_list ap)
{
	pthread_mutex_lock(&hc->mu);
	if (hc->status == CKPTIO_OK && st != CKPTIO_OK) {
		hc->status = st;
		vsnprintf(hc->msg, sizeof(hc->msg), fmt, ap);
	}
	pthread_mutex_unlock(&hc->mu);
	return st;
}

ckptio_status ckptio__hc_error(ckptio_host_ctx *hc, ckptio_status st,
			       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ckptio__hc_verror(hc, st, fmt, ap);
	va_end(ap);
	return st;
}

/* With hc->mu held. */
static void put_prefix(ckptio_host_ctx *hc, const char *prefix)
{
	size_t wl = strlen(prefix), ml;

	if (hc->status != CKPTIO_OK && strncmp(hc->msg, prefix, wl) != 0 &&
	    wl + 2 < sizeof(hc->msg)) {
		/* Shift the message right and put "prefix: " in front. */
		ml = strnlen(hc->msg, sizeof(hc->msg) - 1);
		if (ml > sizeof(hc->msg) - 1 - wl - 2)
			ml = sizeof(hc->msg) - 1 - wl - 2;
		memmove(hc->msg + wl + 2, hc->msg, ml);
		memcpy(hc->msg, prefix, wl);
		memcpy(hc->msg + wl, ": ", 2);
		hc->msg[wl + 2 + ml] = '\0';
	}
}

void ckptio__hc_prefix(ckptio_host_ctx *hc, const char *prefix)
{
	pthread_mutex_lock(&hc->mu);
	put_prefix(hc, prefix);
	pthread_mutex_unlock(&hc->mu);
}

/* msg names object as the end of a key: "root/id/OBJECT: ...". */
static int names_object(const char *msg, const char *object)
{
	size_t len = strlen(object);

	for (const char *p = msg; len && (p = strstr(p, object)); p++)
		if ((p == msg || p[-1] == '/') && strchr(":, )", p[len]))
			return 1;
	return 0;
}

void ckptio__hc_item_context(ckptio_host_ctx *hc, const char *item,
			     const char *object)
{
	char prefix[256];

	snprintf(prefix, sizeof(prefix), "item '%.200s'", item);
	pthread_mutex_lock(&hc->mu);
	if (hc->status != CKPTIO_OK && !hc->item_named &&
	    names_object(hc->msg, object)) {
		hc->item_named = 1;
		put_prefix(hc, prefix);
	}
	pthread_mutex_unlock(&hc->mu);
}

void ckptio__hc_save(ckptio_host_ctx *hc, ckptio__hc_state *sv)
{
	pthread_mutex_lock(&hc->mu);
	sv->status = hc->status;
	sv->item_named = hc->item_named;
	memcpy(sv->msg, hc->msg, sizeof(sv->msg));
	pthread_mutex_unlock(&hc->mu);
}

void ckptio__hc_restore(ckptio_host_ctx *hc, const ckptio__hc_state *sv)
{
	pthread_mutex_lock(&hc->mu);
	hc->status = sv->status;
	hc->item_named = sv->item_named;
	memcpy(hc->msg, sv->msg, sizeof(hc->msg));
	pthread_mutex_unlock(&hc->mu);
}

ckptio_status ckptio__hc_finish(ckptio_host_ctx *hc, ckptio_status st)
{
	if (st == CKPTIO_OK || !hc->ctx)
		return st;
	if (hc->status != CKPTIO_OK)
		ckptio__error(hc->ctx, st, "%s", hc->msg);
	else
		ckptio__error(hc->ctx, st, "%s", ckptio_strerror(st));
	return st;
}

/* ------------------------------------------------------------------------ */
/* Host table methods                                                       */

static void host_log(ckptio_host_ctx *hc, ckptio_log_level level,
		     const char *fmt, ...) CKPTIO__PRINTF(3, 4);
static void host_log(ckptio_host_ctx *hc, ckptio_log_level level,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ckptio__vlog(hc ? hc->ctx : NULL, level, fmt, ap);
	va_end(ap);
}

/* The option's record: the backend section first, then [store "x"]. */
static const ckptio__opt *find_opt(ckptio_host_ctx *hc, const char *key,
				   const ckptio__section **sec)
{
	const ckptio__opt *o = NULL;

	if (hc && hc->section && (o = ckptio__section_get(hc->section, key)))
		*sec = hc->section;
	else if (hc && hc->defaults &&
		 (o = ckptio__section_get(hc->defaults, key)))
		*sec = hc->defaults;
	return o;
}

static const char *host_config_get(ckptio_host_ctx *hc, const char *key)
{
	const ckptio__section *sec = NULL;
	const ckptio__opt *o = find_opt(hc, key, &sec);

	if (!o)
		return NULL;
	if (!o->value) {
		ckptio__log(hc->ctx, CKPTIO_LOG_WARN,
			    "%s:%d: %s: environment variable %s is not set; "
			    "using the default",
			    sec->file, o->line, key, o->unset_var);
		return NULL;
	}
	return o->value;
}

/* Shared shape of the typed lookups: find, parse, or explain. */
static ckptio_status bad_value(ckptio_host_ctx *hc, const ckptio__section *sec,
			       const ckptio__opt *o, const char *expect)
{
	return ckptio__hc_error(hc, CKPTIO_ECONFIG, "%s:%d: %s: '%s' is not %s",
				sec->file ? sec->file : "(config)", o->line,
				o->key, o->value, expect);
}

static ckptio_status host_config_size(ckptio_host_ctx *hc, const char *key,
				      uint64_t def, uint64_t *out)
{
	const ckptio__section *sec = NULL;
	const ckptio__opt *o = find_opt(hc, key, &sec);

	*out = def;
	if (!o || !host_config_get(hc, key))
		return CKPTIO_OK;
	if (ckptio__parse_size(o->value, out) != 0) {
		*out = def;
		return bad_value(hc, sec, o, "a size (e.g. 64MiB)");
	}
	return CKPTIO_OK;
}

static ckptio_status host_config_uint(ckptio_host_ctx *hc, const char *key,
				      uint64_t def, uint64_t min, uint64_t max,
				      uint64_t *out)
{
	const ckptio__section *sec = NULL;
	const ckptio__opt *o = find_opt(hc, key, &sec);
	char expect[96];

	*out = def;
	if (!o || !host_config_get(hc, key))
		return CKPTIO_OK;
	if (ckptio__parse_uint(o->value, out) != 0 || *out < min ||
	    *out > max) {
		*out = def;
		snprintf(expect, sizeof(expect),
			 "a whole number between %llu and %llu",
			 (unsigned long long)min, (unsigned long long)max);
		return bad_value(hc, sec, o, expect);
	}
	return CKPTIO_OK;
}

static ckptio_status host_config_bool(ckptio_host_ctx *hc, const char *key,
				      int def, int *out)
{
	const ckptio__section *sec = NULL;
	const ckptio__opt *o = find_opt(hc, key, &sec);

	*out = def;
	if (!o || !host_config_get(hc, key))
		return CKPTIO_OK;
	if (ckptio__parse_bool(o->value, out) != 0) {
		*out = def;
		return bad_value(hc, sec, o, "true or false");
	}
	return CKPTIO_OK;
}

static ckptio_status host_config_enum(ckptio_host_ctx *hc, const char *key,
				      const char *const *choices, unsigned def,
				      unsigned *out)
{
	const ckptio__section *sec = NULL;
	const ckptio__opt *o = find_opt(hc, key, &sec);
	char expect[256];
	size_t len = 0;

	*out = def;
	if (!o || !host_config_get(hc, key))
		return CKPTIO_OK;
	for (unsigned i = 0; choices[i]; i++)
		if (strcasecmp(o->value, choices[i]) == 0) {
			*out = i;
			return CKPTIO_OK;
		}
	len = (size_t)snprintf(expect, sizeof(expect), "one of");
	for (unsigned i = 0; choices[i] && len < sizeof(expect); i++)
		len += (size_t)snprintf(expect + len, sizeof(expect) - len,
					"%s %s", i ? "," : "", choices[i]);
	return bad_value(hc, sec, o, expect);
}

static ckptio_status host_parallel_for(ckptio_host_ctx *hc, size_t n,
				       ckptio_status (*fn)(void *arg, size_t i),
				       void *arg)
{
	return ckptio__pool_for(ckptio__hc_pool(hc), n, fn, arg);
}

static ckptio_status host_plan_bins(ckptio_host_ctx *hc,
				     const ckptio_plan *plan, unsigned max_bins,
				     unsigned *nbins, uint32_t *bin_of)
{
	ckptio_status st;

	if (!plan || !nbins || (plan->nitems && (!plan->items || !bin_of)))
		return ckptio__hc_error(hc, CKPTIO_EINVAL,
					"plan_bins: NULL plan, nbins or "
					"bin_of");
	st = ckptio__plan_bins(plan, max_bins ? max_bins : hc->threads,
			       nbins, bin_of);
	if (st != CKPTIO_OK)
		return ckptio__hc_error(hc, st,
					"out of memory planning %zu items",
					plan->nitems);
	return CKPTIO_OK;
}

const ckptio_host ckptio__host = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_host),
	.log = host_log,
	.error = ckptio__hc_error,
	.config_get = host_config_get,
	.config_size = host_config_size,
	.config_uint = host_config_uint,
	.config_bool = host_config_bool,
	.config_enum = host_config_enum,
	.crc32c = ckptio__crc32c,
	.md_new = ckptio__md_new,
	.md_add_item = ckptio__md_add_item,
	.md_add_chunk = ckptio__md_add_chunk,
	.md_set_attr = ckptio__md_set_attr,
	.md_free = ckptio__md_free,
	.parallel_for = host_parallel_for,
	.md_to_json = ckptio__md_to_json,
	.md_from_json = ckptio__md_from_json,
	.remove_many = ckptio__store_remove_many,
	.plan_bins = host_plan_bins,
	.crc32c_combine = ckptio__crc32c_combine,
	.store_read_crc = ckptio__store_read_crc,
};
