/*
 * internal.h - declarations shared by the core's units.  Never installed.
 * Names: ckptio__* for functions and types shared between core units.
 */
#ifndef CKPTIO_INTERNAL_H
#define CKPTIO_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

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

/* A set of strings (borrowed pointers), hashed: membership in O(1). */
typedef struct ckptio__strset {
	const char **slots;
	size_t nslots, n;
} ckptio__strset;
/* 1 when added, 0 when already present, -1 out of memory. */
int ckptio__strset_add(ckptio__strset *set, const char *s);
int ckptio__strset_has(const ckptio__strset *set, const char *s);
void ckptio__strset_free(ckptio__strset *set);

/* s is one of the strings of the NULL-terminated list (NULL: none). */
int ckptio__in_list(const char *const *list, const char *s);

/* Length of the longest prefix of s[0..len) that is well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF); len
 * when all of it is. */
size_t ckptio__utf8_prefix(const char *s, size_t len);
/* A 64-bit key and what it sorts (an index, usually). */
typedef struct ckptio__keyed {
	uint64_t key;
	size_t idx;
} ckptio__keyed;
/* v by key ascending, equal keys in their order (stable): a radix sort a
 * byte at a time, skipping the bytes in which no two keys differ, so
 * linear in n (keys all equal: no pass).  -1: out of memory. */
int ckptio__sort_keyed(ckptio__keyed *v, size_t n);
/* Replace every byte of s that is not part of well-formed UTF-8 with '?',
 * in place, so the text can travel in JSON (error messages quote names
 * cut at a byte limit, which may split a character). */
void ckptio__utf8_scrub(char *s);

/* dtypes.  Every byte count computed from elements goes through these, so
 * that the sub-byte dtypes (F4, F6_*) follow one rule everywhere: a tensor,
 * and each of its chunks, holds whole bytes; a chunk other than the whole
 * tensor starts and ends every row on a byte boundary (its offset and
 * extent in the last dimension, times the bits, are multiples of 8), so
 * that its rows are byte ranges of the tensor's rows.  `why` receives the
 * reason of a failure (without the item's name, for the caller to add),
 * cut to whylen bytes. */
#define CKPTIO__WHY 256
/* Bytes of nelems elements in *out; -1 for an unknown dtype, a count of
 * bits that is not whole bytes, or more than 2^64 - 1 bytes. */
int ckptio__dtype_bytes(ckptio_dtype dtype, uint64_t nelems, uint64_t *out,
			char *why, size_t whylen);
/* The chunk (offsets/shape in a tensor of global_shape) of a sub-byte
 * dtype is the whole tensor, empty, or byte-aligned in its last dimension:
 * 0, else -1.  Always 0 for the other dtypes.  Does not check that the
 * chunk holds whole bytes (ckptio__dtype_bytes does). */
int ckptio__chunk_bytes_aligned(ckptio_dtype dtype, unsigned ndim,
				const uint64_t *global_shape,
				const uint64_t *offsets, const uint64_t *shape,
				char *why, size_t whylen);
/* ckptio__copy_overlap for elements of dtype.  A sub-byte dtype is copied
 * in bytes along the last dimension, which needs both boxes byte-aligned
 * there; -1 when they are not (nothing copied) or the dtype is unknown. */
int ckptio__copy_box(ckptio_dtype dtype, unsigned ndim, const uint64_t *soff,
		     const uint64_t *sshape, const void *src,
		     const uint64_t *doff, const uint64_t *dshape, void *dst);

/* ------------------------------------------------------------------------ */
/* args.c - checks at the entry of public functions.                        */

/* Bytes up to the end of member m: a caller's struct_size must reach it
 * for the member to be read. */
#define CKPTIO__END_OF(type, m) (offsetof(type, m) + sizeof(((type *)0)->m))

#define CKPTIO__SAVE_FLAGS (CKPTIO_SAVE_OVERWRITE | CKPTIO_SAVE_STAGE)
#define CKPTIO__LOAD_FLAGS (CKPTIO_LOAD_NO_VERIFY | CKPTIO_LOAD_PARTIAL)

/* A NULL argument: "fn: arg is NULL" in ctx->errmsg, or "fn: ctx is NULL"
 * in ckptio_last_error() when ctx is NULL.  Returns CKPTIO_EINVAL. */
ckptio_status ckptio__null_arg(ckptio_ctx *ctx, const char *fn,
			       const char *arg);
/* The caller's opts (NULL: defaults) as a full-size struct: the members
 * its struct_size covers whole, CKPTIO_OPTS_INIT's values for the rest,
 * nothing read past struct_size.  A struct_size short of `flags` is
 * CKPTIO_EINVAL on ctx. */
ckptio_status ckptio__opts_get(ckptio_ctx *ctx, const char *fn,
			       const ckptio_opts *in, ckptio_opts *out);
/* Bits of flags outside known are CKPTIO_EINVAL on ctx; family names the
 * flags for the message ("CKPTIO_SAVE_*"). */
ckptio_status ckptio__flags_check(ckptio_ctx *ctx, const char *fn,
				  uint32_t flags, uint32_t known,
				  const char *family);
/* A coordinator (NULL: none, fine) that save can use: struct_size, world
 * >= 1, 0 <= rank < world, the three methods.  CKPTIO_EINVAL on ctx. */
ckptio_status ckptio__coord_check(ckptio_ctx *ctx, const char *fn,
				  const ckptio_coord *co);
/* What the coordinator says of its last failure (its optional errmsg
 * method), as ": words" to append to a message, or "".  Kept in buf. */
const char *ckptio__coord_why(const ckptio_coord *co, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* crc32c.c                                                                 */

uint32_t ckptio__crc32c(uint32_t crc, const void *buf, size_t len);
/* The CRC32C of A then B, from crc(A), crc(B) and the length of B. */
uint32_t ckptio__crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);
/* An array for n checksums when the layout has read_data_crc (ABI 1.7),
 * else (or out of memory: the caller then checksums itself) NULL. */
uint32_t *ckptio__read_crcs(const struct ckptio_layout_ops *lo, size_t n);
/* Does the layout have read_data_crc (ABI 1.7)? */
int ckptio__has_read_crc(const struct ckptio_layout_ops *lo);

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

/* What the dump knows of the plugins one section names, so that it can
 * redact the options they declare secret. */
typedef struct ckptio__dump_info {
	/* The section's store and layout plugins (one for a [store "x"]
	 * section), NULL where none. */
	const ckptio_plugin *plugins[2];
	/* A plugin of the section could not be loaded: its name, or "" when
	 * the section does not even say which (an unset ${VAR}).  Every value
	 * but those of the core keys is then redacted. */
	const char *unloaded;
} ckptio__dump_info;

/* INI text of the resolved config (malloc'd).  Redacted: keys whose name
 * says secret, keys a plugin of the section declares in secret_options,
 * and, failing safe, keys that no plugin of the section declares at all
 * and every plugin option of a section whose plugins are not all known.
 * info has cfg->nsections entries; NULL means nothing is known. */
char *ckptio__config_dump(const ckptio__config *cfg,
			  const ckptio__dump_info *info);

/* ------------------------------------------------------------------------ */
/* Context and host services (ctx.c, host.c).                               */

typedef struct ckptio__plugin {
	const ckptio_plugin *desc;
	void *dl;   /* dlopen handle, NULL for built-ins */
	char *path; /* file, or "(built-in)" */
} ckptio__plugin;

/* Which store plugin serves which URI scheme, as found so far (loader.c). */
typedef struct ckptio__schemes ckptio__schemes;

struct ckptio_ctx {
	ckptio__config *cfg;
	char errmsg[CKPTIO__ERRMSG];
	ckptio_log_level log_level;
	ckptio_log_fn log_fn;
	void *log_user;
	pthread_mutex_t log_mu;
	size_t nplugins;
	ckptio__plugin **plugins; /* loaded so far; entries never move */
	ckptio__schemes *schemes; /* NULL until a URI is first resolved */
};

/* ------------------------------------------------------------------------ */
/* pool.c - the operation's worker threads (host->parallel_for).            */

#define CKPTIO__POOL_MAX 255 /* workers; the backend's threads is 1..256 */
typedef struct ckptio__pool ckptio__pool;
/* A pool for threads threads in all: the caller of each loop and
 * threads - 1 workers, started on the first loop.  NULL when out of
 * memory (loops then run on their caller). */
ckptio__pool *ckptio__pool_new(unsigned threads);
/* fn(arg, i) for i in [0, n); the first failure; the caller takes part,
 * loops nest.  p may be NULL: everything runs on the caller. */
ckptio_status ckptio__pool_for(ckptio__pool *p, size_t n,
			       ckptio_status (*fn)(void *arg, size_t i),
			       void *arg);
void ckptio__pool_free(ckptio__pool *p);

/* ------------------------------------------------------------------------ */
/* planner.c - who writes what (host->plan_bins; replicas across ranks).   */

/* How many bins a plan of nitems items gets: one per item, at most
 * max_bins (0 counts as 1). */
unsigned ckptio__plan_nbins(size_t nitems, unsigned max_bins);
/* Spread the plan's items over *nbins bins (ckptio__plan_nbins), largest
 * first into the lightest; bin_of[i] receives item i's bin.  O(n log n). */
ckptio_status ckptio__plan_bins(const ckptio_plan *plan, unsigned max_bins,
				unsigned *nbins, uint32_t *bin_of);
/* A chunk held by several ranks (ranks ascending, nranks >= 1). */
typedef struct ckptio__replica {
	uint64_t bytes;
	const int *ranks;
	size_t nranks;
} ckptio__replica;
/* writer[i] receives the rank that writes reps[i]: the least loaded of
 * its holders, largest chunk first, ties to the lowest rank; base[r]
 * (or NULL: 0) is what rank r writes anyway. */
ckptio_status ckptio__plan_replicas(const ckptio__replica *reps, size_t n,
				    const uint64_t *base, int world,
				    int *writer);

/* Per-operation context handed to plugins as ckptio_host_ctx. */
struct ckptio_host_ctx {
	ckptio_ctx *ctx;
	const ckptio__section *section;  /* backend options, or NULL */
	const ckptio__section *defaults; /* [store "x"] section, or NULL */
	pthread_mutex_t mu;
	ckptio_status status;
	char msg[CKPTIO__ERRMSG];
	int item_named; /* ckptio__hc_item_context prefixed msg */
	unsigned threads; /* the operation's, for its pool (0, 1: none) */
	ckptio__pool *pool; /* made on the first parallel_for, under mu */
};

/* The operation's pool (made on first use), or NULL for one thread. */
ckptio__pool *ckptio__hc_pool(ckptio_host_ctx *hc);

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
/* A side step whose errors must not become the operation's (reading the
 * metadata a save replaces): save hc's error state before it and put it
 * back after. */
typedef struct ckptio__hc_state {
	ckptio_status status;
	char msg[CKPTIO__ERRMSG];
	int item_named;
} ckptio__hc_state;
void ckptio__hc_save(ckptio_host_ctx *hc, ckptio__hc_state *sv);
void ckptio__hc_restore(ckptio_host_ctx *hc, const ckptio__hc_state *sv);
/* After a read of a chunk of `item` in `object` failed: put "item 'ITEM': "
 * in front of hc's recorded error, but only once per operation and only
 * when that error is about object (a store's message names the key it
 * failed on, which ends in the object's name).  Chunks failing at once on
 * several threads (or in the store's own workers, whose error is recorded
 * first) thus never each add their item to the one message: it names at
 * most one item, and one stored in the object it is about. */
void ckptio__hc_item_context(ckptio_host_ctx *hc, const char *item,
			     const char *object);
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
/* A kind for the loader's own lookups: a plugin of either kind. */
#define CKPTIO__PLUGIN_ANY ((ckptio_plugin_kind)0)
/* The store plugin serving URI scheme (docs/configuration.md, "Which
 * store plugin serves a URI"): plugin SCHEME when it declares SCHEME in
 * its `schemes`, else the first store plugin of the search path
 * (directories in order, files by name) that does.  Answers are kept per ctx.  A scheme nobody serves is
 * CKPTIO_EUNSUPPORTED, recorded on ctx with location in front, listing the
 * directories searched and the schemes served.  Files the search could
 * not load are warnings. */
ckptio_status ckptio__plugin_for_scheme(ckptio_ctx *ctx, const char *scheme,
					const char *location,
					const ckptio__plugin **out);
void ckptio__schemes_free(ckptio__schemes *sc);
/* Check a descriptor: versions, sizes, name, required methods.  err gets
 * the reason.  Used by the loader and by tests. */
ckptio_status ckptio__plugin_validate(const ckptio_plugin *p,
				      const char *expect_name, char *err,
				      size_t errlen);
/* Search path directories in order, for messages and `ckptio plugins`:
 * $CKPTIO_PLUGIN_PATH, plugin_path, CKPTIO_PLUGIN_DIR.  A relative entry
 * is an error (CKPTIO_EPLUGIN, recorded on ctx). */
ckptio_status ckptio__plugin_dirs(ckptio_ctx *ctx, char ***out, size_t *n);
/* Whether dir/file may be loaded by user euid (docs/ABI.md section 7):
 * CKPTIO_ENOTFOUND when there is no such file, CKPTIO_OK with *real the
 * file's canonical path (malloc'd; what dlopen gets), or an error recorded
 * on ctx naming the file and the rule it breaks.  The loader passes
 * geteuid(); tests pass another user. */
ckptio_status ckptio__plugin_trust(ckptio_ctx *ctx, const char *dir,
				   const char *file, uid_t euid, char **real);
void ckptio__strv_free(char **v, size_t n);

extern const ckptio_plugin ckptio__native_layout_plugin;

/* Delete keys[0..n) with the store's remove_many when it has one (ABI 1.1),
 * else with remove per key; missing keys are not errors. */
/* The store's read_crc (ABI 1.7), else its read and a checksum pass. */
ckptio_status ckptio__store_read_crc(ckptio_store *st,
				     const ckptio_range *ranges, size_t n,
				     uint32_t *crcs);
ckptio_status ckptio__store_remove_many(ckptio_store *st,
					const char *const *keys, size_t n);
/* The store's put_target (ABI 1.2) when it has one: 1 and target set when
 * key is the leftover of an unfinished put; 0 otherwise. */
int ckptio__store_put_target(ckptio_store *st, const char *key, char *target,
			     size_t size);
/* What an opened store can do: its instance_caps (ABI 1.3) within the
 * plugin's static caps, or the static caps. */
uint64_t ckptio__store_caps(ckptio_store *st);
/* The layout's owns_object (ABI 1.2) when it has one; 0 otherwise. */
int ckptio__layout_owns(const struct ckptio_layout_ops *lo, const char *name);

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
	/* The layout was named (override or the backend's `layout`); when
	 * not, a read detects it (ckptio__rd_open). */
	int layout_explicit;
} ckptio__loc;

ckptio_status ckptio__loc_resolve(ckptio_ctx *ctx, const char *location,
				  const char *layout_override, ckptio__loc *out);
/* The layout plugins other than native, loaded from the search path (at
 * most max, in search-path order) into out; their number.  For layout
 * detection (checkpoint.c) and for rm's view of debris (ops.c). */
#define CKPTIO__MAX_LAYOUTS 16
size_t ckptio__other_layouts(ckptio_ctx *ctx, const ckptio__plugin **out,
			     size_t max);
void ckptio__loc_free(ckptio__loc *loc);
/* CKPTIO_OK when the store opened for loc has every CKPTIO_STORE_CAP_* of
 * need (ckptio__store_caps), else CKPTIO_EUNSUPPORTED recorded on hc,
 * naming the store, what it cannot do and what it can. */
ckptio_status ckptio__store_require(ckptio_host_ctx *hc,
				    const ckptio__loc *loc, ckptio_store *st,
				    uint64_t need);

/* ------------------------------------------------------------------------ */
/* metadata.c                                                               */

#define CKPTIO__MD_VERSION 2
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
/* The save path builds its metadata once, from the plans, with placeholder
 * locations, and seals it (the tiling checks); after the writes it sets
 * where chunk `chunk` of item `item` went (the object name is interned,
 * checked like md_add_chunk's; length must be the chunk's). */
ckptio_status ckptio__md_set_location(ckptio_host_ctx *hc, ckptio_metadata *md,
				      size_t item, size_t chunk,
				      const char *object, uint64_t offset,
				      uint64_t length, uint32_t crc32c);
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
 * the metadata; the operation runs on threads threads (0: the backend's).
 * On failure ctx->errmsg is set and rd is released. */
ckptio_status ckptio__rd_open(ckptio_ctx *ctx, const char *location,
			      unsigned threads, ckptio__rd *rd);
void ckptio__rd_close(ckptio__rd *rd);
/* The same for every rank of co (NULL or world 1: rd_open): rank 0 opens
 * and reads the metadata, and broadcasts it (or its failure); the others
 * open the store and the layout's reader and take it, reading nothing
 * (layouts of ABI 1.6 and later; with an older one each rank reads the
 * metadata itself).  Collective: every rank calls it. */
ckptio_status ckptio__rd_open_coll(ckptio_ctx *ctx, const char *location,
				   unsigned threads, const ckptio_coord *co,
				   ckptio__rd *rd);

/* Checksums, one rule for every reader (load, resharding, verify, copy).
 * Every chunk carries a CRC32C unless the metadata's attribute
 * CKPTIO_MD_ATTR_CHECKSUM is "none"; an empty chunk's is 0.  md_check_sums
 * enforces that when a checkpoint is opened (what: the metadata's key, for
 * the message); chunk_crc compares the CRC32C of a chunk's bytes as read
 * with the stored one (no stored one: nothing to compare). */
ckptio_status ckptio__md_check_sums(ckptio_host_ctx *hc, const char *what,
				    const ckptio_metadata *md);
ckptio_status ckptio__chunk_crc(ckptio_host_ctx *hc,
				const ckptio_item_meta *im,
				const ckptio_chunk_meta *cm, uint32_t crc);
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
