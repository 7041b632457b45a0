/*
 * ctx.c - the context: configuration, loaded plugins, error detail and
 * logging.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static ckptio_log_level level_from_config(const ckptio__config *cfg)
{
	const ckptio__opt *o = ckptio__section_get(ckptio__config_main(cfg),
						   "log_level");
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (unsigned i = 0; o && o->value && i < 4; i++)
		if (strcasecmp(o->value, names[i]) == 0)
			return (ckptio_log_level)i;
	return CKPTIO_LOG_WARN;
}

ckptio_status ckptio_ctx_new(ckptio_ctx **out, const char *config_path)
{
	char err[CKPTIO__ERRMSG];
	ckptio_ctx *ctx;
	ckptio_status st;

	if (!out)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "%s: out is NULL", __func__);
	*out = NULL;
	ckptio__clear_last_error();
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return ckptio__set_last_error(CKPTIO_ENOMEM, "out of memory");
	err[0] = '\0';
	st = ckptio__config_load(config_path, &ctx->cfg, err, sizeof(err));
	if (st != CKPTIO_OK) {
		free(ctx);
		return ckptio__set_last_error(st, "%s", err);
	}
	pthread_mutex_init(&ctx->log_mu, NULL);
	ctx->log_level = level_from_config(ctx->cfg);
	*out = ctx;
	return CKPTIO_OK;
}

void ckptio_ctx_free(ckptio_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < ctx->nplugins; i++) {
		if (ctx->plugins[i]->dl)
			dlclose(ctx->plugins[i]->dl);
		free(ctx->plugins[i]->path);
		free(ctx->plugins[i]);
	}
	free(ctx->plugins);
	ckptio__schemes_free(ctx->schemes);
	ckptio__config_free(ctx->cfg);
	pthread_mutex_destroy(&ctx->log_mu);
	free(ctx);
}

const char *ckptio_errmsg(const ckptio_ctx *ctx)
{
	return ctx ? ctx->errmsg : ckptio_last_error();
}

void ckptio_set_log(ckptio_ctx *ctx, ckptio_log_level level, ckptio_log_fn fn,
		    void *user)
{
	if (!ctx) {
		ckptio__null_arg(ctx, __func__, "ctx");
		return;
	}
	ctx->log_level = level;
	ctx->log_fn = fn;
	ctx->log_user = user;
}

ckptio_log_level ckptio_log_level_get(const ckptio_ctx *ctx)
{
	if (!ctx)
		return CKPTIO_LOG_WARN;
	return ctx->log_level;
}

const char *ckptio_config_path(const ckptio_ctx *ctx)
{
	if (!ctx)
		return NULL;
	return ctx->cfg->path;
}

/* Load the plugins section s names, so that the dump knows which of
 * their options are secret; one that cannot be loaded (or is not even
 * named: an unset ${VAR}) is recorded, and the dump then fails safe. */
static void dump_plugins(ckptio_ctx *ctx, const ckptio__section *s,
			 ckptio__dump_info *info)
{
	static const ckptio_plugin_kind kinds[2] = {CKPTIO_PLUGIN_STORE,
						    CKPTIO_PLUGIN_LAYOUT};
	const char *names[2] = {s->name, NULL};
	const ckptio__plugin *p;
	const ckptio__opt *o;

	if (s->kind == CKPTIO__SEC_MAIN)
		return;
	if (s->kind == CKPTIO__SEC_BACKEND) {
		o = ckptio__section_get(s, "store");
		names[0] = o ? o->value : NULL;
		o = ckptio__section_get(s, "layout");
		names[1] = !o ? ckptio__native_layout_plugin.name : o->value;
		if (!names[1])
			info->unloaded = "";
	}
	if (!names[0])
		info->unloaded = "";
	for (int i = 0; i < 2; i++) {
		if (!names[i])
			continue;
		if (ckptio__plugin_get(ctx, names[i], kinds[i], &p) ==
		    CKPTIO_OK)
			info->plugins[i] = p->desc;
		else
			info->unloaded = names[i];
	}
}

ckptio_status ckptio_config_dump(ckptio_ctx *ctx, char **out)
{
	size_t n;
	ckptio__dump_info *info;

	if (out)
		*out = NULL;
	if (!ctx || !out)
		return ckptio__null_arg(ctx, __func__, "out");
	n = ctx->cfg->nsections;
	info = calloc(n ? n : 1, sizeof(*info));
	if (!info)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		dump_plugins(ctx, &ctx->cfg->sections[i], &info[i]);
	*out = ckptio__config_dump(ctx->cfg, info);
	free(info);
	if (!*out)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	return CKPTIO_OK;
}

ckptio_status ckptio__error(ckptio_ctx *ctx, ckptio_status st,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
	return st;
}

static void vlog(ckptio_ctx *ctx, ckptio_log_level lvl, const char *fmt,
		 va_list ap) CKPTIO__PRINTF(3, 0);
static void vlog(ckptio_ctx *ctx, ckptio_log_level lvl, const char *fmt,
		 va_list ap)
{
	static const char *const prefix[] = {"error", "warning", "info",
					     "debug"};
	char msg[CKPTIO__ERRMSG];

	if (!ctx || lvl > ctx->log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&ctx->log_mu);
	if (ctx->log_fn)
		ctx->log_fn(ctx->log_user, lvl, msg);
	else
		fprintf(stderr, "ckptio: %s: %s\n", prefix[lvl], msg);
	pthread_mutex_unlock(&ctx->log_mu);
}

void ckptio__log(ckptio_ctx *ctx, ckptio_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(ctx, lvl, fmt, ap);
	va_end(ap);
}

void ckptio__vlog(ckptio_ctx *ctx, ckptio_log_level lvl, const char *fmt,
		  va_list ap)
{
	vlog(ctx, lvl, fmt, ap);
}
