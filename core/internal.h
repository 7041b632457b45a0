/*
 * internal.h - declarations shared by the core's units.  Never installed.
 * Names: ckptio__* for functions and types shared between core units.
 */
#ifndef CKPTIO_INTERNAL_H
#define CKPTIO_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "ckptio/ckptio.h"
#include "ckptio/plugin.h"

#define CKPTIO__ERRMSG 2048

#if defined(__GNUC__)
#define CKPTIO__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CKPTIO__PRINTF(f, a)
#endif

/* ------------------------------------------------------------------------ */
/* util.c                                                                   */

/* Thread-local message for failures before a context exists. */
ckptio_status ckptio__set_last_error(ckptio_status st, const char *fmt, ...)
	CKPTIO__PRINTF(2, 3);
void ckptio__clear_last_error(void);

/* malloc-family helpers that return NULL on failure like their models. */
char *ckptio__strdup(const char *s);
char *ckptio__asprintf(const char *fmt, ...) CKPTIO__PRINTF(1, 2);

/* Join a checkpoint id and a name: "id/name", or "name" when id is "". */
char *ckptio__join(const char *id, const char *name);

/* A store key is valid: non-empty, relative, no "", "." or ".." component,
 * no NUL (by construction), at most 1024 bytes. */
int ckptio__key_valid(const char *key);

/* Monotonic time in seconds. */
double ckptio__now(void);

/* ------------------------------------------------------------------------ */
/* crc32c.c                                                                 */

uint32_t ckptio__crc32c(uint32_t crc, const void *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* config.c - the INI configuration (DESIGN.md section 6).                  */

typedef struct ckptio__opt {
	char *key;
	char *value; /* after ${ENV} expansion; NULL when a variable was unset */
	char *unset_var; /* name of the unset variable when value is NULL */
	int line;
} ckptio__opt;

typedef enum ckptio__section_kind {
	CKPTIO__SEC_MAIN = 1,    /* [ckptio] */
	CKPTIO__SEC_BACKEND = 2, /* [backend "NAME"] */
	CKPTIO__SEC_STORE = 3    /* [store "PLUGIN"]: defaults for URIs */
} ckptio__section_kind;

typedef struct ckptio__section {
	ckptio__section_kind kind;
	char *name;   /* backend or store name; "ckptio" for the main one */
	const char *file; /* the config file's path (owned by the config) */
	int line;     /* line of the section header */
	size_t nopts;
	ckptio__opt *opts;
} ckptio__section;

typedef struct ckptio__config {
	char *path;   /* NULL when no file was found */
	size_t nsections;
	ckptio__section *sections;
} ckptio__config;

/* Load path, or search ($CKPTIO_CONFIG, ~/.config/ckptio/ckptio.conf,
 * CKPTIO_SYSCONFDIR/ckptio/ckptio.conf) when path is NULL.  Nothing found
 * while searching gives an empty config.  Errors (ECONFIG) go to err as
 * "file:line: key: problem".  Syntax is checked here: sections, duplicate
 * keys and sections, keys of [ckptio] (default, plugin_path, log_level,
 * threads), core keys of backends (store, layout, root, threads) and
 * their values; plugin-specific keys are checked when the backend's
 * plugin is loaded (ckptio__config_check_plugin). */
ckptio_status ckptio__config_load(const char *path, ckptio__config **out,
				  char *err, size_t errlen);
void ckptio__config_free(ckptio__config *cfg);

/* Lookup helpers; NULL when absent. */
const ckptio__section *ckptio__config_main(const ckptio__config *cfg);
const ckptio__section *ckptio__config_backend(const ckptio__config *cfg,
					      const char *name);
const ckptio__section *ckptio__config_store(const ckptio__config *cfg,
					    const char *plugin);
const ckptio__opt *ckptio__section_get(const ckptio__section *sec,
				       const char *key);

/* Keys understood by the core in a backend section, NULL-terminated. */
extern const char *const ckptio__backend_core_keys[];

/* Every key of sec that is neither a core backend key nor in the
 * plugin's options is an error "file:line: key: unknown option for
 * store 'posix' (known: a, b, c)". */
ckptio_status ckptio__config_check_plugin(const ckptio__section *sec,
					  const ckptio_plugin *plugin,
					  char *err, size_t errlen);

/* Value parsers; 0 on success, -1 on a bad value. */
int ckptio__parse_size(const char *s, uint64_t *out); /* 64MiB, 1.5GB, 4k */
int ckptio__parse_uint(const char *s, uint64_t *out);
int ckptio__parse_bool(const char *s, int *out); /* true/false/yes/no/on/off/1/0 */

/* A key that holds a secret: named so by the plugin, or containing
 * "secret", "password", "token" or "key_id"... (see config.c). */
int ckptio__is_secret_key(const char *key, const ckptio_plugin *plugin);

/* INI text of the resolved config, secrets "<redacted>"; malloc'd. */
char *ckptio__config_dump(const ckptio__config *cfg);

/* ------------------------------------------------------------------------ */
/* Context and host services (ctx.c, host.c).                               */

typedef struct ckptio__plugin {
	const ckptio_plugin *desc;
	void *dl;   /* dlopen handle, NULL for built-ins */
	char *path; /* file, or "(built-in)" */
} ckptio__plugin;

struct ckptio_ctx {
	ckptio__config *cfg;
	char errmsg[CKPTIO__ERRMSG];
	ckptio_log_level log_level;
	ckptio_log_fn log_fn;
	void *log_user;
	pthread_mutex_t log_mu;
	size_t nplugins;
	ckptio__plugin **plugins; /* loaded so far; entries never move */
};

/* Per-operation context handed to plugins as ckptio_host_ctx. */
struct ckptio_host_ctx {
	ckptio_ctx *ctx;
	const ckptio__section *section;  /* backend options, or NULL */
	const ckptio__section *defaults; /* [store "x"] section, or NULL */
	pthread_mutex_t mu;
	ckptio_status status;
	char msg[CKPTIO__ERRMSG];
};

extern const ckptio_host ckptio__host;

void ckptio__hc_init(ckptio_host_ctx *hc, ckptio_ctx *ctx,
		     const ckptio__section *section,
		     const ckptio__section *defaults);
void ckptio__hc_destroy(ckptio_host_ctx *hc);
/* Record an error on hc (first wins) and return st. */
ckptio_status ckptio__hc_error(ckptio_host_ctx *hc, ckptio_status st,
			       const char *fmt, ...) CKPTIO__PRINTF(3, 4);
ckptio_status ckptio__hc_verror(ckptio_host_ctx *hc, ckptio_status st,
				const char *fmt, va_list ap)
	CKPTIO__PRINTF(3, 0);
/* Put "prefix: " in front of hc's recorded error unless it starts so
 * already (adds context a plugin could not know: the item, the file). */
void ckptio__hc_prefix(ckptio_host_ctx *hc, const char *prefix);
/* Copy hc's recorded error (or st's strerror) into ctx->errmsg; return st. */
ckptio_status ckptio__hc_finish(ckptio_host_ctx *hc, ckptio_status st);

/* Set ctx->errmsg and return st. */
ckptio_status ckptio__error(ckptio_ctx *ctx, ckptio_status st,
			    const char *fmt, ...) CKPTIO__PRINTF(3, 4);
void ckptio__log(ckptio_ctx *ctx, ckptio_log_level lvl, const char *fmt, ...)
	CKPTIO__PRINTF(3, 4);
void ckptio__vlog(ckptio_ctx *ctx, ckptio_log_level lvl, const char *fmt,
		  va_list ap) CKPTIO__PRINTF(3, 0);

/* ------------------------------------------------------------------------ */
/* loader.c                                                                 */

/* Find (load once per ctx) plugin `name` of `kind`.  Built-ins (the native
 * layout) are found first.  On failure records on ctx, for "not found",
 * every directory searched. */
ckptio_status ckptio__plugin_get(ckptio_ctx *ctx, const char *name,
				 ckptio_plugin_kind kind,
				 const ckptio__plugin **out);
/* Check a descriptor: versions, sizes, name, required methods.  err gets
 * the reason.  Used by the loader and by tests. */
ckptio_status ckptio__plugin_validate(const ckptio_plugin *p,
				      const char *expect_name, char *err,
				      size_t errlen);
/* Search path directories in order, for messages and `ckptio plugins`. */
size_t ckptio__plugin_dirs(ckptio_ctx *ctx, char ***out);
void ckptio__strv_free(char **v, size_t n);

extern const ckptio_plugin ckptio__native_layout_plugin;

/* Delete keys[0..n) with the store's remove_many when it has one (ABI 1.1),
 * else with remove per key; missing keys are not errors. */
ckptio_status ckptio__store_remove_many(ckptio_store *st,
					const char *const *keys, size_t n);

/* ------------------------------------------------------------------------ */
/* location.c - resolve a location string to a store + checkpoint id.       */

typedef struct ckptio__loc {
	const ckptio__plugin *store_plugin;
	const ckptio__plugin *layout_plugin;
	const ckptio__section *section;  /* backend, or NULL for a URI */
	const ckptio__section *defaults; /* [store "x"] for a URI */
	char *root;  /* passed to the store's open */
	char *id;    /* checkpoint id under root ("" allowed) */
	unsigned threads;
} ckptio__loc;

ckptio_status ckptio__loc_resolve(ckptio_ctx *ctx, const char *location,
				  const char *layout_override, ckptio__loc *out);
void ckptio__loc_free(ckptio__loc *loc);

/* ------------------------------------------------------------------------ */
/* metadata.c                                                               */

#define CKPTIO__MD_VERSION 1
#define CKPTIO__MD_KEY ".metadata.json"
#define CKPTIO__MD_MAX (256u << 20) /* refuse larger metadata objects */

/* Serialize to JSON (malloc'd, *len set).  NULL on ENOMEM. */
char *ckptio__md_to_json(const ckptio_metadata *md, size_t *len);
/* Parse and validate; errors recorded on hc naming `what` (the key). */
ckptio_status ckptio__md_from_json(ckptio_host_ctx *hc, const char *what,
				   const char *buf, size_t len,
				   ckptio_metadata **out);
/* Finish building: sort items by name, compute nbytes, check chunks. */
ckptio_status ckptio__md_seal(ckptio_host_ctx *hc, const char *what,
			      ckptio_metadata *md);
size_t ckptio__md_find(const ckptio_metadata *md, const char *name);
/* The host table's metadata builders (plugin.h: md_*). */
ckptio_status ckptio__md_new(ckptio_host_ctx *hc, const char *layout,
			     ckptio_metadata **out);
ckptio_status ckptio__md_add_item(ckptio_host_ctx *hc, ckptio_metadata *md,
				  const char *name, ckptio_item_kind kind,
				  ckptio_dtype dtype, unsigned ndim,
				  const uint64_t *shape, size_t *index);
ckptio_status ckptio__md_add_chunk(ckptio_host_ctx *hc, ckptio_metadata *md,
				   size_t item, const uint64_t *offsets,
				   const uint64_t *shape, const char *object,
				   uint64_t offset, uint64_t length,
				   int has_crc, uint32_t crc32c);
ckptio_status ckptio__md_set_attr(ckptio_host_ctx *hc, ckptio_metadata *md,
				  const char *key, const char *value);
void ckptio__md_free(ckptio_metadata *md);

/* Object keys in metadata must be plain relative keys. */

/* coord.c: the coordinator used when opts->coord is NULL. */
extern const ckptio_coord ckptio__solo_coord;

/* ------------------------------------------------------------------------ */
/* sd.c - state dicts.                                                      */

typedef struct ckptio__sd_item {
	ckptio_plan_item pi;  /* name/shape arrays owned here */
	void *wdata;          /* writable pointer for loads */
} ckptio__sd_item;

struct ckptio_sd {
	size_t n, cap;
	ckptio__sd_item *items;
	/* Names to indices (open addressing; slot = index + 1, 0 = empty;
	 * entries may be stale and are checked against items).  nslots 0:
	 * none yet, or a failed allocation: names are then scanned. */
	size_t *slots;
	size_t nslots, nused;
};

/* ------------------------------------------------------------------------ */
/* checkpoint.c - an opened checkpoint for reading (load, verify, copy...). */

typedef struct ckptio__rd {
	ckptio__loc loc;
	ckptio_host_ctx hc;
	ckptio_store *store;
	ckptio_reader *reader;
	ckptio_metadata *md;
	int hc_live;
} ckptio__rd;

/* Resolve, open the store read-only, set up the layout's reader and read
 * the metadata.  On failure ctx->errmsg is set and rd is released. */
ckptio_status ckptio__rd_open(ckptio_ctx *ctx, const char *location,
			      ckptio__rd *rd);
void ckptio__rd_close(ckptio__rd *rd);
/* Open the location's store (create: for writing). */
ckptio_status ckptio__store_open(ckptio_ctx *ctx, ckptio__loc *loc,
				 ckptio_host_ctx *hc, int create,
				 ckptio_store **out);

/* Progress: serialised, throttled, and the carrier of cancellation. */
typedef struct ckptio__progress {
	pthread_mutex_t mu;
	ckptio_progress_fn fn;
	void *user;
	uint64_t done, total, last;
	int cancel;
} ckptio__progress;
void ckptio__progress_init(ckptio__progress *p, const ckptio_opts *o,
			   uint64_t total);
/* Add bytes done; returns nonzero when the caller asked to cancel. */
int ckptio__progress_add(void *p, uint64_t bytes);

/* Run fn(arg, i) for i in [0, n) on up to `threads` threads; returns the
 * first non-OK status (others keep running to completion). */
ckptio_status ckptio__parallel(unsigned threads, size_t n,
			       ckptio_status (*fn)(void *arg, size_t i),
			       void *arg);

/* Copy the overlap of two boxes of one tensor between dense row-major
 * buffers (src box soff/sshape, dst box doff/dshape). */
void ckptio__copy_overlap(unsigned ndim, size_t esz, const uint64_t *soff,
			  const uint64_t *sshape, const void *src,
			  const uint64_t *doff, const uint64_t *dshape,
			  void *dst);
int ckptio__boxes_overlap(unsigned ndim, const uint64_t *aoff,
			  const uint64_t *ashape, const uint64_t *boff,
			  const uint64_t *bshape);

#endif /* CKPTIO_INTERNAL_H */
