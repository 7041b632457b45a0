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
	ctx->log_level = level;
	ctx->log_fn = fn;
	ctx->log_user = user;
}

ckptio_log_level ckptio_log_level_get(const ckptio_ctx *ctx)
{
	return ctx->log_level;
}

const char *ckptio_config_path(const ckptio_ctx *ctx)
{
	return ctx->cfg->path;
}

ckptio_status ckptio_config_dump(ckptio_ctx *ctx, char **out)
{
	*out = ckptio__config_dump(ctx->cfg);
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
