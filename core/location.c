/*
 * location.c - turning a location string into a store plugin, a store root
 * and a checkpoint id (DESIGN.md section 6).
 *
 *   /data/ck/step-1, ./ck, ck       a path: root /data/ck, id step-1
 *   file:///data/ck/step-1          the same
 *   s3://bucket/runs/step-1         store s3, root s3://bucket/runs, id step-1
 *                                   (the plugin declaring scheme s3: loader.c)
 *   NAME:runs/step-1                backend NAME: its root, id runs/step-1
 *   :runs/step-1                    the [ckptio] default backend (or local)
 *
 * The built-in backend "local" (a posix store under
 * ${XDG_DATA_HOME:-~/.local/share}/ckptio) exists unless the config
 * defines its own.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_THREADS 4

/* Keys of a backend section must be core keys or options of its store or
 * layout plugin. */
static ckptio_status check_backend_keys(ckptio_ctx *ctx,
					const ckptio__section *sec,
					const ckptio_plugin *store,
					const ckptio_plugin *layout)
{
	for (size_t i = 0; sec && i < sec->nopts; i++) {
		const char *k = sec->opts[i].key;

		if (ckptio__in_list(ckptio__backend_core_keys, k) ||
		    ckptio__in_list(store->options, k) || ckptio__in_list(layout->options, k))
			continue;
		return ckptio__error(ctx, CKPTIO_ECONFIG,
				     "%s:%d: %s: unknown option for store "
				     "'%s' and layout '%s'",
				     sec->file, sec->opts[i].line, k,
				     store->name, layout->name);
	}
	return CKPTIO_OK;
}

static ckptio_status split_real(ckptio_ctx *ctx, const char *path,
				ckptio__loc *loc);

/* Split "a/b/c" into root "a/b" and id "c"; "c" into "." and "c".
 * A path the user names is theirs to resolve: links in it, the last
 * component included (latest -> step-100), are followed once, here.
 * What lies below the checkpoint's directory is opened by the store
 * without following any link (docs/posix.md). */
static ckptio_status split_path(ckptio_ctx *ctx, const char *path,
				ckptio__loc *loc)
{
	char *real = realpath(path, NULL);
	ckptio_status st;

	st = split_real(ctx, real ? real : path, loc);
	free(real);
	return st;
}

static ckptio_status split_real(ckptio_ctx *ctx, const char *path,
				ckptio__loc *loc)
{
	size_t len = strlen(path);
	const char *slash;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0)
		return ckptio__error(ctx, CKPTIO_EINVAL, "empty location");
	loc->root = strndup(path, len);
	if (!loc->root)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	slash = memrchr(loc->root, '/', len);
	if (strcmp(loc->root, "/") == 0 || strcmp(loc->root, ".") == 0 ||
	    strcmp(loc->root, "..") == 0 || (slash && (strcmp(slash, "/.") == 0 ||
						     strcmp(slash, "/..") == 0)))
		loc->id = strdup("");
	else if (!slash) {
		loc->id = loc->root;
		loc->root = strdup(".");
	} else {
		loc->id = strdup(slash + 1);
		if (slash == loc->root)
			slash++; /* "/ck": root is "/" */
		loc->root[slash - loc->root] = '\0';
	}
	if (!loc->id || !loc->root)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	return CKPTIO_OK;
}

/* A backend's checkpoint id: strip slashes at both ends, then it must be a
 * valid key (or empty). */
static ckptio_status backend_id(ckptio_ctx *ctx, const char *location,
				const char *path, ckptio__loc *loc)
{
	size_t len;

	while (*path == '/')
		path++;
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	loc->id = strndup(path, len);
	if (!loc->id)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	if (*loc->id && !ckptio__key_valid(loc->id))
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s: invalid checkpoint path '%s' (no "
				     "'.', '..' or empty components)",
				     location, loc->id);
	return CKPTIO_OK;
}

static char *local_root(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

	if (xdg && *xdg)
		return ckptio__asprintf("%s/ckptio", xdg);
	return ckptio__asprintf("%s/.local/share/ckptio",
				home && *home ? home : ".");
}

static int backend_name_len(const char *s)
{
	int n = 0;

	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-' ||
	       s[n] == '.')
		n++;
	return n;
}

static ckptio_status resolve_backend(ckptio_ctx *ctx, const char *location,
				     const char *name, const char *path,
				     const char **store_name, ckptio__loc *loc)
{
	const ckptio__section *sec = ckptio__config_backend(ctx->cfg, name);
	const ckptio__opt *o;

	if (!sec && strcmp(name, "local") != 0)
		return ckptio__error(ctx, CKPTIO_ENOTFOUND,
				     "%s: no backend '%s' in %s", location,
				     name,
				     ctx->cfg->path ? ctx->cfg->path
						    : "the configuration "
						      "(no config file found)");
	loc->section = sec;
	if (!sec) {
		*store_name = "posix";
		loc->root = local_root();
	} else {
		o = ckptio__section_get(sec, "store");
		*store_name = o && o->value ? o->value : "";
		o = ckptio__section_get(sec, "root");
		if (o && !o->value)
			return ckptio__error(ctx, CKPTIO_ECONFIG,
					     "%s:%d: root: environment "
					     "variable %s is not set",
					     sec->file, o->line, o->unset_var);
		loc->root = strdup(o ? o->value : "");
	}
	if (!loc->root)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	return backend_id(ctx, location, path, loc);
}

/* A URI: "file" is a local path, like a plain one, for the posix store;
 * any other scheme goes to the store plugin that declares it. */
static ckptio_status resolve_uri(ckptio_ctx *ctx, const char *location,
				 const char *sep, const char **store_name,
				 ckptio__loc *loc)
{
	size_t slen = (size_t)(sep - location);
	ckptio_status st;
	char *parent, scheme[72];

	if (slen >= sizeof(scheme))
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%.80s...: URI scheme too long (%zu "
				     "characters; at most %zu)",
				     location, slen, sizeof(scheme) - 1);
	memcpy(scheme, location, slen);
	scheme[slen] = '\0';
	if (strcmp(scheme, "file") == 0) {
		*store_name = "posix";
		if (sep[3] != '/')
			return ckptio__error(ctx, CKPTIO_EINVAL,
					     "%s: a file URI needs an absolute "
					     "path (file:///dir)",
					     location);
		return split_path(ctx, sep + 3, loc);
	}
	st = ckptio__plugin_for_scheme(ctx, scheme, location,
				       &loc->store_plugin);
	if (st != CKPTIO_OK)
		return st;
	*store_name = loc->store_plugin->desc->name;
	/* Other schemes keep theirs in the root: "s3://b/p" + id.  Not a
	 * local path: nothing is resolved on this machine's files. */
	st = split_real(ctx, sep + 3, loc);
	if (st != CKPTIO_OK)
		return st;
	parent = ckptio__asprintf("%.*s://%s", (int)slen, location,
				  strcmp(loc->root, ".") == 0 ? "" : loc->root);
	if (!parent)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	if (strcmp(loc->root, ".") == 0 && *loc->id) {
		/* "s3://bucket": the bucket is the root, no id. */
		free(parent);
		parent = ckptio__asprintf("%.*s://%s", (int)slen, location,
					  loc->id);
		loc->id[0] = '\0';
		if (!parent)
			return ckptio__error(ctx, CKPTIO_ENOMEM,
					     "out of memory");
	}
	free(loc->root);
	loc->root = parent;
	return CKPTIO_OK;
}

static unsigned pick_threads(ckptio_ctx *ctx, const ckptio__section *sec)
{
	const ckptio__opt *o = ckptio__section_get(sec, "threads");
	uint64_t v;

	if (!o)
		o = ckptio__section_get(ckptio__config_main(ctx->cfg),
					"threads");
	if (o && o->value && ckptio__parse_uint(o->value, &v) == 0 && v >= 1 &&
	    v <= 256)
		return (unsigned)v;
	return DEFAULT_THREADS;
}

ckptio_status ckptio__loc_resolve(ckptio_ctx *ctx, const char *location,
				  const char *layout_override, ckptio__loc *loc)
{
	const char *sep, *store_name = NULL, *layout_name = NULL;
	const ckptio__opt *o;
	ckptio_status st;
	int n;

	memset(loc, 0, sizeof(*loc));
	if (!location || !*location)
		return ckptio__error(ctx, CKPTIO_EINVAL, "empty location");
	sep = strstr(location, "://");
	n = backend_name_len(location);
	if (sep && sep > location && backend_name_len(location) >= sep - location)
		st = resolve_uri(ctx, location, sep, &store_name, loc);
	else if (location[0] == ':') {
		/* ":path": the configured default backend, else "local". */
		const ckptio__opt *d = ckptio__section_get(
			ckptio__config_main(ctx->cfg), "default");

		st = resolve_backend(ctx, location,
				     d && d->value ? d->value : "local",
				     location + 1, &store_name, loc);
	} else if (n > 0 && location[n] == ':') {
		char name[72];

		if (n >= (int)sizeof(name))
			return ckptio__error(ctx, CKPTIO_EINVAL,
					     "%s: backend name too long",
					     location);
		memcpy(name, location, (size_t)n);
		name[n] = '\0';
		st = resolve_backend(ctx, location, name, location + n + 1,
				     &store_name, loc);
	} else {
		store_name = "posix";
		st = split_path(ctx, location, loc);
	}
	if (st != CKPTIO_OK)
		goto fail;
	if (!loc->section)
		loc->defaults = ckptio__config_store(ctx->cfg, store_name);
	if (!loc->store_plugin)
		st = ckptio__plugin_get(ctx, store_name, CKPTIO_PLUGIN_STORE,
					&loc->store_plugin);
	if (st != CKPTIO_OK)
		goto fail;
	o = ckptio__section_get(loc->section, "layout");
	layout_name = layout_override ? layout_override
		      : (o && o->value) ? o->value : "native";
	loc->layout_explicit = layout_override || (o && o->value);
	st = ckptio__plugin_get(ctx, layout_name, CKPTIO_PLUGIN_LAYOUT,
				&loc->layout_plugin);
	if (st != CKPTIO_OK)
		goto fail;
	st = check_backend_keys(ctx, loc->section, loc->store_plugin->desc,
				loc->layout_plugin->desc);
	if (st == CKPTIO_OK && loc->defaults) {
		char err[CKPTIO__ERRMSG];

		st = ckptio__config_check_plugin(loc->defaults,
						 loc->store_plugin->desc, err,
						 sizeof(err));
		if (st != CKPTIO_OK)
			ckptio__error(ctx, st, "%s", err);
	}
	if (st != CKPTIO_OK)
		goto fail;
	loc->threads = pick_threads(ctx, loc->section);
	return CKPTIO_OK;
fail:
	ckptio__loc_free(loc);
	return st;
}

static const struct {
	uint64_t bit;
	const char *word, *verb;
} cap_words[] = {
	{CKPTIO_STORE_CAP_WRITE, "write", "write"},
	{CKPTIO_STORE_CAP_READ, "read", "read"},
	{CKPTIO_STORE_CAP_RANGE, "range", "read byte ranges"},
	{CKPTIO_STORE_CAP_LIST, "list", "list objects"},
	{CKPTIO_STORE_CAP_DELETE, "delete", "delete objects"},
	{CKPTIO_STORE_CAP_ATOMIC_PUT, "atomic-put", "put atomically"},
	{CKPTIO_STORE_CAP_IF_ABSENT, "if-absent", "put only if absent"},
	{CKPTIO_STORE_CAP_COPY, "copy", "copy on the server"},
};

ckptio_status ckptio__store_require(ckptio_host_ctx *hc,
				    const ckptio__loc *loc, ckptio_store *st,
				    uint64_t need)
{
	uint64_t caps = ckptio__store_caps(st), lack = need & ~caps;
	char cannot[160] = "", can[160] = "";
	size_t nc = 0, nk = 0;

	if (!lack)
		return CKPTIO_OK;
	for (size_t i = 0; i < sizeof(cap_words) / sizeof(cap_words[0]); i++) {
		if ((lack & cap_words[i].bit) && nc < sizeof(cannot))
			nc += (size_t)snprintf(cannot + nc, sizeof(cannot) - nc,
					       "%s%s", nc ? " or " : "",
					       cap_words[i].verb);
		if ((caps & cap_words[i].bit) && nk < sizeof(can))
			nk += (size_t)snprintf(can + nk, sizeof(can) - nk,
					       "%s%s", nk ? ", " : "",
					       cap_words[i].word);
	}
	return ckptio__hc_error(hc, CKPTIO_EUNSUPPORTED,
				"store '%s'%s%s%s cannot %s (what it can do "
				"as configured: %s)",
				loc->store_plugin->desc->name,
				*loc->root ? " at '" : "", loc->root,
				*loc->root ? "'" : "", cannot,
				nk ? can : "nothing");
}

void ckptio__loc_free(ckptio__loc *loc)
{
	free(loc->root);
	free(loc->id);
	loc->root = loc->id = NULL;
}
