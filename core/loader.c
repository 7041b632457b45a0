/*
 * loader.c - finding, loading and validating plugins.
 *
 * Search order (DESIGN.md section 6): $CKPTIO_PLUGIN_PATH (colon-separated),
 * the config's plugin_path, then the compiled-in CKPTIO_PLUGIN_DIR.  Plugin
 * NAME lives in NAME.so and must say it is NAME.  A file without the entry
 * symbol is "not a plugin" and the search goes on; when nothing is found
 * the error lists every directory searched.
 *
 * Trust (docs/ABI.md section 7): a plugin runs with the caller's rights
 * as soon as it is mapped (its constructors run inside dlopen), so only
 * files that root or the user alone could have put there are loaded.
 * Directories of the search path are absolute (the config file's relative
 * entries were made absolute against its own directory when it was read);
 * the file and the directory it is found in (and the one it really lives
 * in, when the name is a symbolic link) must be owned by root or by the
 * effective user and writable by no one else.  A refused file stops the
 * search with a message naming the file and the rule, as a plugin that
 * fails validation does: falling through to another directory would hide
 * the problem, and load a plugin the user did not pick.
 *
 * URI schemes (docs/configuration.md): the store plugin named like the
 * scheme serves it when it declares it; else every plugin of the search
 * path is loaded, in order, as `ckptio plugins` does (a file that cannot
 * be loaded is a warning: no plugin was named), and the first store
 * plugin declaring the scheme serves it.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Smallest descriptor / ops tables of ABI 1.0, for struct_size checks. */
#define END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define MIN_PLUGIN END_OF(ckptio_plugin, layout)
#define MIN_STORE_OPS END_OF(struct ckptio_store_ops, remove)
#define MIN_LAYOUT_OPS END_OF(struct ckptio_layout_ops, reader_free)

void ckptio__strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static int strv_push(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -1;
	*v = nv;
	nv[*n] = strndup(s, len);
	if (!nv[*n])
		return -1;
	(*n)++;
	return 0;
}

/* Append the entries of a colon-separated list (empty entries mean
 * nothing).  A relative entry is refused: it would name a directory under
 * whatever the current directory happens to be, where anyone may have
 * left a NAME.so (ld.so ignores such entries for setuid programs). */
static ckptio_status push_path_list(ckptio_ctx *ctx, char ***v, size_t *n,
				    const char *list, const char *source)
{
	const char *p = list;

	while (p && *p) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		if (len > 0 && p[0] != '/')
			return ckptio__error(ctx, CKPTIO_EPLUGIN,
					     "%s: '%.*s' is a relative directory;"
					     " plugins are only loaded from "
					     "absolute directories (write the "
					     "full path)", source,
					     len > 256 ? 256 : (int)len, p);
		if (len > 0 && strv_push(v, n, p, len) != 0)
			return ckptio__error(ctx, CKPTIO_ENOMEM,
					     "out of memory");
		p = colon ? colon + 1 : NULL;
	}
	return CKPTIO_OK;
}

ckptio_status ckptio__plugin_dirs(ckptio_ctx *ctx, char ***out, size_t *nout)
{
	const ckptio__opt *o;
	ckptio_status st;
	char **v = NULL, *source;
	size_t n = 0;

	*out = NULL;
	*nout = 0;
	o = ckptio__section_get(ckptio__config_main(ctx->cfg), "plugin_path");
	st = push_path_list(ctx, &v, &n, getenv("CKPTIO_PLUGIN_PATH"),
			    "$CKPTIO_PLUGIN_PATH");
	if (st == CKPTIO_OK && o && o->value) {
		source = ckptio__asprintf("%s:%d: plugin_path",
					  ctx->cfg->path, o->line);
		st = source ? push_path_list(ctx, &v, &n, o->value, source)
			    : ckptio__error(ctx, CKPTIO_ENOMEM,
					    "out of memory");
		free(source);
	}
	if (st == CKPTIO_OK &&
	    strv_push(&v, &n, CKPTIO_PLUGIN_DIR, strlen(CKPTIO_PLUGIN_DIR)))
		st = ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	if (st != CKPTIO_OK) {
		ckptio__strv_free(v, n);
		return st;
	}
	*out = v;
	*nout = n;
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */

static ckptio_status check_store_ops(const struct ckptio_store_ops *s,
				     char *err, size_t errlen)
{
	static const struct {
		uint64_t cap;
		size_t off;
		const char *name;
	} req[] = {
#define M(cap, f) {cap, offsetof(struct ckptio_store_ops, f), #f}
		M(0, open), M(0, close), M(0, stat),
		M(CKPTIO_STORE_CAP_WRITE, put_open),
		M(CKPTIO_STORE_CAP_WRITE, put_write),
		M(CKPTIO_STORE_CAP_WRITE, put_commit),
		M(CKPTIO_STORE_CAP_WRITE, put_abort),
		M(CKPTIO_STORE_CAP_READ, read),
		M(CKPTIO_STORE_CAP_LIST, list),
		M(CKPTIO_STORE_CAP_DELETE, remove),
#undef M
	};

	if (!s) {
		snprintf(err, errlen, "store plugin without a store ops table");
		return CKPTIO_EPLUGIN;
	}
	if (s->struct_size < MIN_STORE_OPS) {
		snprintf(err, errlen,
			 "store ops table is %u bytes, ABI 1.0 needs %zu",
			 s->struct_size, MIN_STORE_OPS);
		return CKPTIO_EPLUGIN;
	}
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		void *const *fn = (void *const *)((const char *)s + req[i].off);

		if ((req[i].cap == 0 || (s->caps & req[i].cap)) && !*fn) {
			snprintf(err, errlen,
				 "required store method '%s' is missing",
				 req[i].name);
			return CKPTIO_EPLUGIN;
		}
	}
	return CKPTIO_OK;
}

static ckptio_status check_layout_ops(const struct ckptio_layout_ops *l,
				      char *err, size_t errlen)
{
	static const struct {
		size_t off;
		const char *name;
	} req[] = {
#define M(f) {offsetof(struct ckptio_layout_ops, f), #f}
		M(writer_setup), M(prepare_local_plan), M(prepare_global_plan),
		M(write_data), M(finish), M(abort), M(writer_free),
		M(reader_setup), M(read_metadata), M(read_data),
		M(reader_free),
#undef M
	};

	if (!l) {
		snprintf(err, errlen, "layout plugin without a layout ops table");
		return CKPTIO_EPLUGIN;
	}
	if (l->struct_size < MIN_LAYOUT_OPS) {
		snprintf(err, errlen,
			 "layout ops table is %u bytes, ABI 1.0 needs %zu",
			 l->struct_size, MIN_LAYOUT_OPS);
		return CKPTIO_EPLUGIN;
	}
	if (!l->commit_keys || !l->commit_keys[0]) {
		snprintf(err, errlen, "layout declares no commit_keys");
		return CKPTIO_EPLUGIN;
	}
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		void *const *fn = (void *const *)((const char *)l + req[i].off);

		if (!*fn) {
			snprintf(err, errlen,
				 "required layout method '%s' is missing",
				 req[i].name);
			return CKPTIO_EPLUGIN;
		}
	}
	return CKPTIO_OK;
}

ckptio_status ckptio__plugin_validate(const ckptio_plugin *p,
				      const char *expect_name, char *err,
				      size_t errlen)
{
	if (!p) {
		snprintf(err, errlen, "ckptio_plugin_entry() returned NULL");
		return CKPTIO_EPLUGIN;
	}
	if ((p->abi_version >> 16) != CKPTIO_ABI_MAJOR) {
		snprintf(err, errlen,
			 "built for plugin ABI %u.%u, this ckptio has ABI %u.%u",
			 p->abi_version >> 16, p->abi_version & 0xffff,
			 CKPTIO_ABI_MAJOR, CKPTIO_ABI_MINOR);
		return CKPTIO_EPLUGIN;
	}
	if (p->struct_size < MIN_PLUGIN) {
		snprintf(err, errlen,
			 "descriptor is %u bytes, ABI 1.0 needs at least %zu",
			 p->struct_size, MIN_PLUGIN);
		return CKPTIO_EPLUGIN;
	}
	if (!p->name || (expect_name && strcmp(p->name, expect_name) != 0)) {
		snprintf(err, errlen, "file is %s.so but the plugin says '%s'",
			 expect_name ? expect_name : "?",
			 p->name ? p->name : "(null)");
		return CKPTIO_EPLUGIN;
	}
	if (p->kind == CKPTIO_PLUGIN_STORE)
		return check_store_ops(p->store, err, errlen);
	if (p->kind == CKPTIO_PLUGIN_LAYOUT)
		return check_layout_ops(p->layout, err, errlen);
	snprintf(err, errlen, "unknown plugin kind %d", (int)p->kind);
	return CKPTIO_EPLUGIN;
}

/* ------------------------------------------------------------------------ */
/* Trust                                                                    */

#define TRUST_RULE \
	"a plugin and the directories it is loaded from must be owned by " \
	"root or by you (uid %u) and writable by no one else"

/* Why root and user euid alone could not have made st what it is, in why;
 * 0 when they alone could.  sudo's and OpenSSH's rule: owned by root or
 * by the user, not writable by group or others.  No exception for a
 * sticky directory: it stops others from replacing a file, not from
 * adding the NAME.so that is not there yet. */
static int distrust(const struct stat *st, uid_t euid, char *why, size_t len)
{
	unsigned mode = (unsigned)st->st_mode & 07777;

	if (st->st_uid != 0 && st->st_uid != euid)
		snprintf(why, len, "is owned by uid %u", (unsigned)st->st_uid);
	else if (st->st_mode & S_IWOTH)
		snprintf(why, len, "is writable by everyone (mode %04o)", mode);
	else if (st->st_mode & S_IWGRP)
		snprintf(why, len, "is writable by its group (mode %04o)",
			 mode);
	else
		return 0;
	return 1;
}

static ckptio_status refuse(ckptio_ctx *ctx, const char *path,
			    const char *what, const char *why, uid_t euid)
{
	char rule[160];

	snprintf(rule, sizeof(rule), TRUST_RULE, (unsigned)euid);
	return ckptio__error(ctx, CKPTIO_EPLUGIN,
			     "refusing to load %s: %s %s; %s", path, what, why,
			     rule);
}

/* The directory the canonical file real lives in, when it is not the
 * directory searched (dst): a symbolic link led elsewhere.  Checked too,
 * since whoever can write there can replace the file. */
static ckptio_status check_real_dir(ckptio_ctx *ctx, const char *path,
				    const char *real, const struct stat *dst,
				    uid_t euid)
{
	char *dir = strdup(real), why[96], *what;
	struct stat st;
	ckptio_status rc = CKPTIO_OK;

	if (!dir)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	*strrchr(dir, '/') = '\0'; /* realpath: absolute, so a '/' is there */
	if (stat(*dir ? dir : "/", &st) != 0) {
		rc = ckptio__error(ctx, CKPTIO_EPLUGIN, "cannot check %s: %s: %s",
				   path, *dir ? dir : "/", strerror(errno));
	} else if ((st.st_dev != dst->st_dev || st.st_ino != dst->st_ino) &&
		   distrust(&st, euid, why, sizeof(why))) {
		what = ckptio__asprintf("the directory %s it links into",
					*dir ? dir : "/");
		rc = what ? refuse(ctx, path, what, why, euid)
			  : ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
		free(what);
	}
	free(dir);
	return rc;
}

/* The file and directory are open (fd, dfd): check them, then find the
 * canonical path that dlopen will get, and check that it still names
 * the file checked. */
static ckptio_status check_open(ckptio_ctx *ctx, int dfd, int fd,
				const char *dir, const char *path, uid_t euid,
				char **real)
{
	struct stat fst, dst, rst;
	ckptio_status rc;
	char why[96], *what;

	if (fstat(fd, &fst) != 0 || fstat(dfd, &dst) != 0)
		return ckptio__error(ctx, CKPTIO_EPLUGIN, "cannot check %s: %s",
				     path, strerror(errno));
	if (!S_ISREG(fst.st_mode))
		return refuse(ctx, path, "it", "is not a regular file", euid);
	if (distrust(&fst, euid, why, sizeof(why)))
		return refuse(ctx, path, "the file", why, euid);
	if (distrust(&dst, euid, why, sizeof(why))) {
		what = ckptio__asprintf("its directory %s", dir);
		rc = what ? refuse(ctx, path, what, why, euid)
			  : ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
		free(what);
		return rc;
	}
	*real = realpath(path, NULL);
	if (!*real)
		return ckptio__error(ctx, errno == ENOMEM ? CKPTIO_ENOMEM
							  : CKPTIO_EPLUGIN,
				     "cannot resolve %s: %s", path,
				     strerror(errno));
	if (stat(*real, &rst) != 0 || rst.st_dev != fst.st_dev ||
	    rst.st_ino != fst.st_ino)
		return ckptio__error(ctx, CKPTIO_EPLUGIN, "refusing to load %s: "
				     "it changed while it was being checked",
				     path);
	return check_real_dir(ctx, path, *real, &dst, euid);
}

ckptio_status ckptio__plugin_trust(ckptio_ctx *ctx, const char *dir,
				   const char *file, uid_t euid, char **real)
{
	char *path = ckptio__asprintf("%s/%s", dir, file);
	ckptio_status rc = CKPTIO_ENOTFOUND;
	int dfd = -1, fd = -1;

	*real = NULL;
	if (!path)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	/* A directory that is missing or unreadable holds no plugin for us:
	 * search on.  So does a missing file (or a dangling link).  O_PATH:
	 * nothing is read, and a FIFO or device there is never opened. */
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fd = openat(dfd, file, O_PATH | O_CLOEXEC);
	if (dfd >= 0 && fd < 0 && errno != ENOENT)
		rc = ckptio__error(ctx, CKPTIO_EPLUGIN, "cannot open %s: %s",
				   path, strerror(errno));
	if (fd >= 0)
		rc = check_open(ctx, dfd, fd, dir, path, euid, real);
	if (rc != CKPTIO_OK) {
		free(*real);
		*real = NULL;
	}
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(path);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

static int name_valid(const char *name)
{
	if (!name || !*name || strlen(name) > 64)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_'))
			return 0;
	return 1;
}

static const char *kind_name(ckptio_plugin_kind k)
{
	return k == CKPTIO_PLUGIN_STORE ? "store" : "layout";
}

static ckptio_status remember(ckptio_ctx *ctx, const ckptio_plugin *desc,
			      void *dl, const char *path,
			      const ckptio__plugin **out)
{
	ckptio__plugin **v, *p = calloc(1, sizeof(*p));

	v = p ? realloc(ctx->plugins, (ctx->nplugins + 1) * sizeof(*v)) : NULL;
	if (!v || !(p->path = strdup(path))) {
		if (v)
			ctx->plugins = v;
		free(p);
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	}
	p->desc = desc;
	p->dl = dl;
	ctx->plugins = v;
	v[ctx->nplugins++] = p;
	*out = p;
	return CKPTIO_OK;
}

/* Try one file, checked and found at real.  Returns CKPTIO_ENOTFOUND (with
 * why in note) to go on searching, CKPTIO_OK when loaded, or an error to
 * stop.  Messages name path, where the search found it. */
static ckptio_status try_file(ckptio_ctx *ctx, const char *path,
			      const char *real, const char *name,
			      ckptio_plugin_kind kind, void **dl_out,
			      const ckptio_plugin **desc_out, char *note,
			      size_t notelen)
{
	char err[512];
	ckptio_plugin_entry_fn entry;
	const ckptio_plugin *desc;
	void *dl;

	dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!dl)
		return ckptio__error(ctx, CKPTIO_EPLUGIN, "cannot load %s: %s",
				     path, dlerror());
	*(void **)&entry = dlsym(dl, CKPTIO_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		snprintf(note, notelen, "%s is not a ckptio plugin (no %s)",
			 path, CKPTIO_PLUGIN_ENTRY_SYMBOL);
		dlclose(dl);
		return CKPTIO_ENOTFOUND;
	}
	desc = entry();
	if (ckptio__plugin_validate(desc, name, err, sizeof(err)) != CKPTIO_OK) {
		dlclose(dl);
		return ckptio__error(ctx, CKPTIO_EPLUGIN, "%s: %s", path, err);
	}
	if (kind != CKPTIO__PLUGIN_ANY && desc->kind != kind) {
		ckptio__error(ctx, CKPTIO_EPLUGIN,
			      "%s is a %s plugin, not a %s plugin", path,
			      kind_name(desc->kind), kind_name(kind));
		dlclose(dl); /* desc lives in the plugin: not used after this */
		return CKPTIO_EPLUGIN;
	}
	/* Accepted: never unmap it (RTLD_NODELETE, set on the loaded object
	 * by a second dlopen).  The libraries a plugin pulls in (libcurl,
	 * libxml2, OpenSSL) leave pthread-key destructors, TLS and atexit
	 * handlers behind; a later thread exit or exit() would run code that
	 * dlclose had unmapped.  Rejected files above are still unloaded. */
	{
		void *pin = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD |
					 RTLD_NODELETE);

		if (pin)
			dlclose(pin);
	}
	*dl_out = dl;
	*desc_out = desc;
	return CKPTIO_OK;
}

static ckptio_status not_found(ckptio_ctx *ctx, const char *name,
			       ckptio_plugin_kind kind, char **dirs,
			       size_t ndirs, const char *note)
{
	char list[CKPTIO__ERRMSG / 2];
	size_t len = 0;

	list[0] = '\0';
	for (size_t i = 0; i < ndirs && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
					"%s%s", i ? ", " : "", dirs[i]);
	return ckptio__error(ctx, CKPTIO_EPLUGIN,
			     "%s plugin '%s' not found (searched %s.so in: %s)%s%s",
			     kind_name(kind), name, name, list,
			     *note ? "; " : "", note);
}

/* ckptio__plugin_get; kind may be CKPTIO__PLUGIN_ANY, and with quiet a
 * plugin found nowhere is CKPTIO_ENOTFOUND with nothing recorded. */
static ckptio_status find_plugin(ckptio_ctx *ctx, const char *name,
				 ckptio_plugin_kind kind, int quiet,
				 const ckptio__plugin **out)
{
	char note[512] = "", **dirs;
	const ckptio_plugin *desc = NULL;
	ckptio_status st = CKPTIO_ENOTFOUND;
	size_t ndirs;
	void *dl = NULL;

	for (size_t i = 0; i < ctx->nplugins; i++)
		if (strcmp(ctx->plugins[i]->desc->name, name) == 0 &&
		    (kind == CKPTIO__PLUGIN_ANY ||
		     ctx->plugins[i]->desc->kind == kind)) {
			*out = ctx->plugins[i];
			return CKPTIO_OK;
		}
	if (kind == CKPTIO_PLUGIN_LAYOUT &&
	    strcmp(name, ckptio__native_layout_plugin.name) == 0)
		return remember(ctx, &ckptio__native_layout_plugin, NULL,
				"(built-in)", out);
	if (!name_valid(name))
		return ckptio__error(ctx, CKPTIO_EPLUGIN,
				     "invalid plugin name '%s' (expected "
				     "lowercase letters, digits and '_')",
				     name);
	st = ckptio__plugin_dirs(ctx, &dirs, &ndirs);
	if (st != CKPTIO_OK)
		return st;
	st = CKPTIO_ENOTFOUND;
	for (size_t i = 0; i < ndirs && st == CKPTIO_ENOTFOUND; i++) {
		char *file = ckptio__asprintf("%s.so", name), *real = NULL;
		char *path = ckptio__asprintf("%s/%s.so", dirs[i], name);

		if (!file || !path)
			st = ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
		else
			st = ckptio__plugin_trust(ctx, dirs[i], file, geteuid(),
						  &real);
		if (st == CKPTIO_OK)
			st = try_file(ctx, path, real, name, kind, &dl, &desc,
				      note, sizeof(note));
		if (st == CKPTIO_OK)
			st = remember(ctx, desc, dl, path, out);
		free(real);
		free(file);
		free(path);
	}
	if (st == CKPTIO_ENOTFOUND && !quiet)
		st = not_found(ctx, name, kind, dirs, ndirs, note);
	ckptio__strv_free(dirs, ndirs);
	return st;
}

ckptio_status ckptio__plugin_get(ckptio_ctx *ctx, const char *name,
				 ckptio_plugin_kind kind,
				 const ckptio__plugin **out)
{
	return find_plugin(ctx, name, kind, 0, out);
}

/* ------------------------------------------------------------------------ */
/* URI schemes                                                              */

/* A scheme and the store plugin serving it; the string is the plugin's
 * own (its descriptor is never unmapped). */
typedef struct scheme_entry {
	const char *scheme;
	const ckptio__plugin *p;
} scheme_entry;

/* Per context: the answers given (cached), and what one scan of the search
 * path found: for each scheme declared, the first store plugin declaring
 * it.  A handful of entries (one per scheme a plugin declares). */
struct ckptio__schemes {
	scheme_entry *answers, *served;
	size_t nanswers, nserved;
	int scanned;
	char skipped[512]; /* files the scan could not load, "a, b" (cut) */
};

void ckptio__schemes_free(ckptio__schemes *sc)
{
	if (!sc)
		return;
	free(sc->answers);
	free(sc->served);
	free(sc);
}

static const ckptio__plugin *scheme_find(const scheme_entry *v, size_t n,
					 const char *scheme)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].scheme, scheme) == 0)
			return v[i].p;
	return NULL;
}

/* The plugin's own copy of scheme when it is a store declaring it. */
static const char *declared(const ckptio_plugin *d, const char *scheme)
{
	if (d->kind != CKPTIO_PLUGIN_STORE)
		return NULL;
	for (const char *const *s = d->schemes; s && *s; s++)
		if (strcmp(*s, scheme) == 0)
			return *s;
	return NULL;
}

static int scheme_push(scheme_entry **v, size_t *n, const char *scheme,
		       const ckptio__plugin *p)
{
	scheme_entry *nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -1;
	nv[*n] = (scheme_entry){scheme, p};
	*v = nv;
	(*n)++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* NAME of every NAME.so of dir with a valid plugin name, sorted (the order
 * in which a scan meets them does not depend on the file system's). */
static ckptio_status dir_names(ckptio_ctx *ctx, const char *dir, char ***out,
			       size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	int oom = 0;

	*n = 0;
	while (d && !oom && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char name[72];

		if (len < 4 || len - 3 >= sizeof(name) ||
		    strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		memcpy(name, de->d_name, len - 3);
		name[len - 3] = '\0';
		if (name_valid(name))
			oom = strv_push(&v, n, name, len - 3) != 0;
	}
	if (d)
		closedir(d);
	if (oom) {
		ckptio__strv_free(v, *n);
		*n = 0;
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_name);
	*out = v;
	return CKPTIO_OK;
}

static void note_skipped(ckptio__schemes *sc, const char *dir,
			 const char *name)
{
	size_t used = strlen(sc->skipped);

	if (used + 1 < sizeof(sc->skipped))
		snprintf(sc->skipped + used, sizeof(sc->skipped) - used,
			 "%s%s/%s.so", used ? ", " : "", dir, name);
}

/* Load plugin name (the first name.so of the search path, as for
 * `store = name`) and record the schemes it serves that no plugin met
 * before serves.  A file that cannot be loaded is reported and skipped, as
 * `ckptio plugins` does. */
static ckptio_status scan_one(ckptio_ctx *ctx, ckptio__schemes *sc,
			      const char *dir, const char *name)
{
	const ckptio__plugin *p, *first;
	ckptio_status st = find_plugin(ctx, name, CKPTIO__PLUGIN_ANY, 1, &p);

	if (st == CKPTIO_ENOTFOUND) {
		ckptio__log(ctx, CKPTIO_LOG_DEBUG,
			    "%s/%s.so: not a ckptio plugin", dir, name);
		return CKPTIO_OK;
	}
	if (st == CKPTIO_ENOMEM)
		return st;
	if (st != CKPTIO_OK) {
		ckptio__log(ctx, CKPTIO_LOG_WARN,
			    "%s (skipped while looking for URI schemes)",
			    ctx->errmsg);
		note_skipped(sc, dir, name);
		return CKPTIO_OK;
	}
	for (const char *const *s = p->desc->kind == CKPTIO_PLUGIN_STORE
					    ? p->desc->schemes : NULL;
	     s && *s; s++) {
		if (!(first = scheme_find(sc->served, sc->nserved, *s))) {
			if (scheme_push(&sc->served, &sc->nserved, *s, p))
				return CKPTIO_ENOMEM;
			ckptio__log(ctx, CKPTIO_LOG_DEBUG,
				    "URI scheme '%s': store plugin '%s' (%s)",
				    *s, p->desc->name, p->path);
		} else if (first != p) {
			ckptio__log(ctx, CKPTIO_LOG_DEBUG,
				    "URI scheme '%s': served by '%s' (%s), "
				    "which comes first on the search path; "
				    "'%s' (%s) declares it too and is not "
				    "used for it",
				    *s, first->desc->name, first->path,
				    p->desc->name, p->path);
		}
	}
	return CKPTIO_OK;
}

/* Once per context: every plugin of the search path, directories in
 * order and files by name within one, a NAME met twice being the first
 * one's (what `store = NAME` loads). */
static ckptio_status scan_schemes(ckptio_ctx *ctx, ckptio__schemes *sc)
{
	char **dirs, ***names;
	size_t ndirs, *nnames;
	ckptio__strset seen = {0};
	ckptio_status st;
	int added;

	if (sc->scanned)
		return CKPTIO_OK;
	st = ckptio__plugin_dirs(ctx, &dirs, &ndirs);
	if (st != CKPTIO_OK)
		return st;
	names = calloc(ndirs, sizeof(*names));
	nnames = calloc(ndirs, sizeof(*nnames));
	if (!names || !nnames)
		st = ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < ndirs && st == CKPTIO_OK; i++) {
		st = dir_names(ctx, dirs[i], &names[i], &nnames[i]);
		for (size_t j = 0; st == CKPTIO_OK && j < nnames[i]; j++) {
			added = ckptio__strset_add(&seen, names[i][j]);
			if (added < 0)
				st = CKPTIO_ENOMEM;
			else if (added)
				st = scan_one(ctx, sc, dirs[i], names[i][j]);
		}
	}
	if (st == CKPTIO_ENOMEM)
		ckptio__error(ctx, st, "out of memory");
	sc->scanned = st == CKPTIO_OK;
	ckptio__strset_free(&seen);
	for (size_t i = 0; names && nnames && i < ndirs; i++)
		ckptio__strv_free(names[i], nnames[i]);
	free(names);
	free(nnames);
	ckptio__strv_free(dirs, ndirs);
	return st;
}

/* "a, b, c" of the sorted schemes served, into buf. */
static void served_list(const ckptio__schemes *sc, char *buf, size_t len)
{
	const char **v = malloc((sc->nserved ? sc->nserved : 1) * sizeof(*v));
	size_t used = 0;

	snprintf(buf, len, "%s", sc->nserved ? "" : "none");
	if (!v)
		return;
	for (size_t i = 0; i < sc->nserved; i++)
		v[i] = sc->served[i].scheme;
	qsort(v, sc->nserved, sizeof(*v), cmp_name);
	for (size_t i = 0; i < sc->nserved && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i ? ", " : "", v[i]);
	free(v);
}

static ckptio_status unknown_scheme(ckptio_ctx *ctx, ckptio__schemes *sc,
				    const char *location, const char *scheme,
				    int named)
{
	char dirs_text[CKPTIO__ERRMSG / 4], served[CKPTIO__ERRMSG / 4];
	char **dirs;
	size_t ndirs, used = 0;

	dirs_text[0] = '\0';
	if (ckptio__plugin_dirs(ctx, &dirs, &ndirs) != CKPTIO_OK)
		return CKPTIO_EPLUGIN;
	for (size_t i = 0; i < ndirs && used < sizeof(dirs_text); i++)
		used += (size_t)snprintf(dirs_text + used,
					 sizeof(dirs_text) - used, "%s%s",
					 i ? ", " : "", dirs[i]);
	ckptio__strv_free(dirs, ndirs);
	served_list(sc, served, sizeof(served));
	return ckptio__error(ctx, CKPTIO_EUNSUPPORTED,
			     "%s: unknown URI scheme '%s': no plugin on the "
			     "search path serves it (%s%s%ssearched: %s; "
			     "schemes served: %s%s%s%s)",
			     location, scheme, named ? scheme : "",
			     named ? ".so does not declare it" : "",
			     named ? "; " : "", dirs_text, served,
			     *sc->skipped ? "; not loaded: " : "",
			     sc->skipped,
			     *sc->skipped ? ", see the warnings" : "");
}

ckptio_status ckptio__plugin_for_scheme(ckptio_ctx *ctx, const char *scheme,
					const char *location,
					const ckptio__plugin **out)
{
	char saved[CKPTIO__ERRMSG];
	ckptio__schemes *sc = ctx->schemes;
	const ckptio__plugin *p = NULL;
	const char *own;
	ckptio_status st;
	int named = 0;

	if (!sc && !(sc = ctx->schemes = calloc(1, sizeof(*sc))))
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	if ((*out = scheme_find(sc->answers, sc->nanswers, scheme)))
		return CKPTIO_OK;
	/* The plugin named like the scheme: s3.so for s3://. */
	if (name_valid(scheme)) {
		st = find_plugin(ctx, scheme, CKPTIO_PLUGIN_STORE, 1, &p);
		if (st != CKPTIO_OK && st != CKPTIO_ENOTFOUND)
			return st;
		named = st == CKPTIO_OK;
		if (named && !declared(p->desc, scheme)) {
			ckptio__log(ctx, CKPTIO_LOG_DEBUG,
				    "URI scheme '%s': %s does not declare it; "
				    "looking for a plugin that does",
				    scheme, p->path);
			p = NULL;
		}
	}
	if (!p) {
		/* The scan's skipped files are warnings, not the error. */
		memcpy(saved, ctx->errmsg, sizeof(saved));
		st = scan_schemes(ctx, sc);
		if (st != CKPTIO_OK)
			return st;
		memcpy(ctx->errmsg, saved, sizeof(saved));
		p = scheme_find(sc->served, sc->nserved, scheme);
		if (!p)
			return unknown_scheme(ctx, sc, location, scheme, named);
	}
	own = declared(p->desc, scheme);
	if (scheme_push(&sc->answers, &sc->nanswers, own, p) != 0)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	*out = p;
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Enumeration for `ckptio plugins`                                         */

static int report(ckptio_plugin_fn fn, void *user, const ckptio__plugin *p)
{
	ckptio_plugin_info info = {
		.struct_size = sizeof(info),
		.name = p->desc->name,
		.kind = kind_name(p->desc->kind),
		.path = p->path,
		.description = p->desc->description ? p->desc->description : "",
		.abi_version = p->desc->abi_version,
		.caps = p->desc->kind == CKPTIO_PLUGIN_STORE
				? p->desc->store->caps : 0,
	};

	return fn(user, &info);
}

/* Load every NAME.so of dir whose NAME is not taken yet. */
static int scan_dir(ckptio_ctx *ctx, const char *dir, ckptio_plugin_fn fn,
		    void *user)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int stop = 0;

	while (d && !stop && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		const ckptio__plugin *p;
		char name[72];
		int seen = 0;

		if (len < 4 || len - 3 >= sizeof(name) ||
		    strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		memcpy(name, de->d_name, len - 3);
		name[len - 3] = '\0';
		for (size_t i = 0; i < ctx->nplugins; i++)
			seen |= strcmp(ctx->plugins[i]->desc->name, name) == 0;
		if (seen)
			continue;
		if (ckptio__plugin_get(ctx, name, CKPTIO_PLUGIN_STORE, &p) ==
			    CKPTIO_OK ||
		    ckptio__plugin_get(ctx, name, CKPTIO_PLUGIN_LAYOUT, &p) ==
			    CKPTIO_OK)
			stop = report(fn, user, p);
		else
			ckptio__log(ctx, CKPTIO_LOG_WARN, "%s/%s: %s", dir,
				    de->d_name, ctx->errmsg);
	}
	if (d)
		closedir(d);
	return stop;
}

ckptio_status ckptio_plugins(ckptio_ctx *ctx, ckptio_plugin_fn fn, void *user)
{
	const ckptio__plugin *native;
	ckptio_status st;
	char **dirs;
	size_t ndirs;
	int stop;

	if (!ctx || !fn)
		return ckptio__null_arg(ctx, __func__, "fn");
	if (ckptio__plugin_get(ctx, "native", CKPTIO_PLUGIN_LAYOUT, &native))
		return CKPTIO_ENOMEM;
	stop = report(fn, user, native);
	st = ckptio__plugin_dirs(ctx, &dirs, &ndirs);
	if (st != CKPTIO_OK)
		return st;
	for (size_t i = 0; i < ndirs && !stop; i++)
		stop = scan_dir(ctx, dirs[i], fn, user);
	ckptio__strv_free(dirs, ndirs);
	return CKPTIO_OK;
}

uint64_t ckptio__store_caps(ckptio_store *st)
{
	const ckptio_store_ops *ops = st->ops;

	if (ops->struct_size < END_OF(struct ckptio_store_ops, instance_caps) ||
	    !ops->instance_caps)
		return ops->caps;
	return ops->instance_caps(st) & ops->caps;
}

ckptio_status ckptio__store_remove_many(ckptio_store *st,
					const char *const *keys, size_t n)
{
	const ckptio_store_ops *ops = st->ops;
	ckptio_status rc = CKPTIO_OK;

	if (n == 0)
		return CKPTIO_OK;
	if (!(ckptio__store_caps(st) & CKPTIO_STORE_CAP_DELETE))
		return st->host->error(st->hc, CKPTIO_EUNSUPPORTED,
				       "cannot remove %zu objects (%s among "
				       "them): the store cannot delete "
				       "objects",
				       n, keys[0]);
	if (ops->struct_size >= END_OF(struct ckptio_store_ops, remove_many) &&
	    ops->remove_many)
		return ops->remove_many(st, keys, n);
	for (size_t i = 0; i < n; i++) {
		ckptio_status r = ops->remove(st, keys[i]);

		if (r != CKPTIO_OK && r != CKPTIO_ENOTFOUND && rc == CKPTIO_OK)
			rc = r;
	}
	return rc;
}

ckptio_status ckptio__store_read_crc(ckptio_store *st,
				     const ckptio_range *ranges, size_t n,
				     uint32_t *crcs)
{
	const ckptio_store_ops *ops = st->ops;
	ckptio_status rc;

	if (ops->struct_size >= END_OF(struct ckptio_store_ops, read_crc) &&
	    ops->read_crc)
		return ops->read_crc(st, ranges, n, crcs);
	rc = ops->read(st, ranges, n);
	for (size_t i = 0; rc == CKPTIO_OK && i < n; i++)
		crcs[i] = ckptio__crc32c(0, ranges[i].buf,
					 (size_t)ranges[i].length);
	return rc;
}

int ckptio__store_put_target(ckptio_store *st, const char *key, char *target,
			     size_t size)
{
	const ckptio_store_ops *ops = st->ops;

	if (ops->struct_size < END_OF(struct ckptio_store_ops, put_target) ||
	    !ops->put_target)
		return 0;
	return ops->put_target(st, key, target, size) == 1;
}

int ckptio__layout_owns(const struct ckptio_layout_ops *lo, const char *name)
{
	if (lo->struct_size < END_OF(struct ckptio_layout_ops, owns_object) ||
	    !lo->owns_object)
		return 0;
	return lo->owns_object(name) == 1;
}
