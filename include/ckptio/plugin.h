/*
 * plugin.h - the two plugin ABIs of ckptio: stores (transports) and layouts
 * (StorageWriter / StorageReader).  For plugin authors only; applications
 * include <ckptio/ckptio.h>.
 *
 * A plugin is a shared object NAME.so that exports exactly one symbol,
 *
 *     const ckptio_plugin *ckptio_plugin_entry(void);
 *
 * returning a descriptor with static storage duration.  The core loads it
 * with dlopen(RTLD_NOW | RTLD_LOCAL), checks abi_version, struct_size, the
 * name (it must equal NAME) and the required methods, and rejects it with a
 * message saying which check failed.  A plugin never links against
 * libckptio: everything it needs from the core comes through the host table
 * (ckptio_host) handed to its methods.
 *
 * Compatibility (docs/ABI.md): structs only grow at the end; every struct a
 * plugin fills starts with struct_size, and the core treats fields past
 * struct_size as absent (NULL / 0).  The major ABI version changes only
 * when an existing field changes meaning; the core refuses other majors.
 *
 * Threading: unless a method says otherwise, the core calls a store's
 * methods from any thread, concurrently for different puts and reads of
 * one store; a ckptio_put is used by one thread at a time.  A layout
 * writer is used by one thread at a time; so is a reader, except that its
 * read_data may be called from several threads at once (ABI 1.3: loads
 * and verifies read in parallel batches).  Parallel work inside a plugin
 * goes through host->parallel_for, not threads of its own.
 *
 * Errors: methods return ckptio_status.  Before returning an error a method
 * calls host->error(hctx, status, fmt, ...) to record the detail (which key,
 * what errno, which HTTP status); the first recorded error of an operation
 * is the one the user sees.
 */
#ifndef CKPTIO_PLUGIN_H
#define CKPTIO_PLUGIN_H

#include <ckptio/ckptio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* major << 16 | minor.  Minor bumps add fields at the end of structs. */
#define CKPTIO_ABI_MAJOR 1
#define CKPTIO_ABI_MINOR 7
#define CKPTIO_ABI_VERSION ((CKPTIO_ABI_MAJOR << 16) | CKPTIO_ABI_MINOR)

#if defined(__GNUC__)
#define CKPTIO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CKPTIO_EXPORT __attribute__((visibility("default")))
#else
#define CKPTIO_PRINTF(f, a)
#define CKPTIO_EXPORT
#endif

typedef struct ckptio_host ckptio_host;
/* Opaque: the core's per-operation context (error slot, config section,
 * logging).  Passed back to every host call. */
typedef struct ckptio_host_ctx ckptio_host_ctx;
typedef struct ckptio_store ckptio_store;
typedef struct ckptio_metadata ckptio_metadata;
typedef struct ckptio_plan ckptio_plan;
typedef struct ckptio_store_ops ckptio_store_ops;
typedef struct ckptio_range ckptio_range;
typedef struct ckptio_layout_ops ckptio_layout_ops;

/* ======================================================================== */
/* Host services: the core's table handed to plugins.                       */

struct ckptio_host {
	uint32_t abi_version; /* CKPTIO_ABI_VERSION of the core */
	uint32_t struct_size; /* sizeof(ckptio_host) of the core */

	/* Log a line (no trailing newline needed).  Never pass secrets. */
	void (*log)(ckptio_host_ctx *hc, ckptio_log_level level,
		    const char *fmt, ...) CKPTIO_PRINTF(3, 4);

	/* Record the detail of a failure and return status, so a method can
	 * `return host->error(hc, CKPTIO_EIO, "%s: write: %s", key, ...)`.
	 * Thread safe; the first error recorded for an operation wins. */
	ckptio_status (*error)(ckptio_host_ctx *hc, ckptio_status status,
			       const char *fmt, ...) CKPTIO_PRINTF(3, 4);

	/* Option `key` of the backend this store/layout serves (after ${ENV}
	 * expansion), or NULL when not set.  Only keys named in the plugin's
	 * `options` list are accepted by the config parser.  The string lives
	 * as long as the store or writer/reader. */
	const char *(*config_get)(ckptio_host_ctx *hc, const char *key);

	/* Typed lookups: on a missing key *out = def and CKPTIO_OK; on a bad
	 * value CKPTIO_ECONFIG with "file:line: key: ..." recorded.
	 * Sizes accept suffixes (k, KiB, MB, MiB, GiB, ...). */
	ckptio_status (*config_size)(ckptio_host_ctx *hc, const char *key,
				     uint64_t def, uint64_t *out);
	ckptio_status (*config_uint)(ckptio_host_ctx *hc, const char *key,
				     uint64_t def, uint64_t min, uint64_t max,
				     uint64_t *out);
	ckptio_status (*config_bool)(ckptio_host_ctx *hc, const char *key,
				     int def, int *out);
	/* One of the NULL-terminated words in `choices`; *out is its index. */
	ckptio_status (*config_enum)(ckptio_host_ctx *hc, const char *key,
				     const char *const *choices, unsigned def,
				     unsigned *out);

	/* CRC32C (Castagnoli), hardware-accelerated where available.  Start
	 * with crc = 0; feed the result back to continue a stream. */
	uint32_t (*crc32c)(uint32_t crc, const void *buf, size_t len);

	/* Metadata building, for layout readers (read_metadata) that translate
	 * a foreign format.  md_add_item stores the new item's index in
	 * *index.  Everything is validated (name, dtype, shape, chunks in
	 * bounds, object keys) with the error recorded on hc and returned as
	 * CKPTIO_ECORRUPT / CKPTIO_EINVAL.  The metadata is freed with md_free
	 * (or by the core when returned from read_metadata). */
	ckptio_status (*md_new)(ckptio_host_ctx *hc, const char *layout,
				ckptio_metadata **out);
	ckptio_status (*md_add_item)(ckptio_host_ctx *hc, ckptio_metadata *md,
				     const char *name, ckptio_item_kind kind,
				     ckptio_dtype dtype, unsigned ndim,
				     const uint64_t *shape, size_t *index);
	/* offsets/shape: ndim entries (ignored for bytes items). */
	ckptio_status (*md_add_chunk)(ckptio_host_ctx *hc, ckptio_metadata *md,
				      size_t item, const uint64_t *offsets,
				      const uint64_t *shape, const char *object,
				      uint64_t offset, uint64_t length,
				      int has_crc, uint32_t crc32c);
	ckptio_status (*md_set_attr)(ckptio_host_ctx *hc, ckptio_metadata *md,
				     const char *key, const char *value);
	void (*md_free)(ckptio_metadata *md);

	/* Members below are ABI 1.3: check struct_size before using them
	 * (offsetof(ckptio_host, member) < host->struct_size). */

	/* Run fn(arg, i) for every i in [0, n) on the operation's worker
	 * threads -- the backend's `threads` in all, the caller included --
	 * and return the first failure (indices not yet started are then
	 * skipped).  Layouts and stores use it instead of threads of their
	 * own, so that a save or load does `threads` I/Os at once, not that
	 * many at each layer.  Loops nest: fn may call parallel_for (the
	 * caller runs the inner loop itself when every worker is busy).  fn
	 * runs on any thread; it must not block on another index of the same
	 * loop.  Thread safe. */
	ckptio_status (*parallel_for)(ckptio_host_ctx *hc, size_t n,
				      ckptio_status (*fn)(void *arg, size_t i),
				      void *arg);

	/* The native metadata format (JSON), for layouts that keep their
	 * metadata as ckptio does: md_to_json returns a malloc'd text and
	 * its length, NULL when out of memory; md_from_json parses and seals,
	 * recording errors on hc naming `what` (the key). */
	char *(*md_to_json)(const ckptio_metadata *md, size_t *len);
	ckptio_status (*md_from_json)(ckptio_host_ctx *hc, const char *what,
				      const char *buf, size_t len,
				      ckptio_metadata **out);

	/* Delete n keys of st in as few requests as the store can (its
	 * remove_many, else remove per key); missing keys are not errors. */
	ckptio_status (*remove_many)(ckptio_store *st, const char *const *keys,
				     size_t n);

	/* Members below are ABI 1.4. */

	/* The core's planner, for layout writers: spread this rank's plan
	 * over the objects it writes in parallel ("bins"), balancing their
	 * bytes (largest item first into the lightest bin).  *nbins receives
	 * the number of bins: max_bins (0: the operation's `threads`), or
	 * one per item when there are fewer; 0 for an empty plan.
	 * bin_of (plan->nitems entries, the caller's) receives each item's
	 * bin.  The result depends only on the item sizes and max_bins.
	 * O(n log n) in items.  A layout writes a bin's items in plan order,
	 * so that reads of them go forward.  Reads plan, writes only *nbins
	 * and bin_of, keeps nothing; thread safe.  Errors, recorded on hc:
	 * CKPTIO_EINVAL for a NULL plan, nbins, or items/bin_of with items,
	 * CKPTIO_ENOMEM. */
	ckptio_status (*plan_bins)(ckptio_host_ctx *hc, const ckptio_plan *plan,
				   unsigned max_bins, unsigned *nbins,
				   uint32_t *bin_of);

	/* Members below are ABI 1.7. */

	/* The CRC32C of A followed by B from crc1 = CRC(A), crc2 = CRC(B) and
	 * B's length: for stores that checksum the pieces of one range on
	 * several threads (read_crc).  O(log len2). */
	uint32_t (*crc32c_combine)(uint32_t crc1, uint32_t crc2, uint64_t len2);
	/* For layouts' read_data_crc: the store's read_crc, else its read and
	 * then the CRC32C of each range's buffer.  crcs has n entries, the
	 * caller's; on failure their values are undefined and the error is
	 * recorded on the store's hc, as read does.  Thread safe as the
	 * store's read is. */
	ckptio_status (*store_read_crc)(ckptio_store *st,
					const ckptio_range *ranges, size_t n,
					uint32_t *crcs);
};

/* ======================================================================== */
/* Store ABI: objects named by keys under a root.                           */

/* What a store can do.  A plugin's `caps` (below) are the most any store
 * it opens can do; one opened store may have fewer (instance_caps). */
#define CKPTIO_STORE_CAP_WRITE (1ull << 0)     /* put_* */
#define CKPTIO_STORE_CAP_READ (1ull << 1)      /* read */
#define CKPTIO_STORE_CAP_RANGE (1ull << 2)     /* read at any offset */
#define CKPTIO_STORE_CAP_LIST (1ull << 3)      /* list */
#define CKPTIO_STORE_CAP_DELETE (1ull << 4)    /* remove */
#define CKPTIO_STORE_CAP_ATOMIC_PUT (1ull << 5) /* a put is all-or-nothing */
#define CKPTIO_STORE_CAP_IF_ABSENT (1ull << 6) /* CKPTIO_PUT_IF_ABSENT */
#define CKPTIO_STORE_CAP_COPY (1ull << 7)      /* server-side copy */

/* Base of every store object: the plugin's own struct embeds it first and
 * open() fills it from its arguments. */
struct ckptio_store {
	const struct ckptio_store_ops *ops;
	const ckptio_host *host;
	ckptio_host_ctx *hc;
};

/* A put in progress; plugin-defined. */
typedef struct ckptio_put ckptio_put;

/* One byte range of one object, read into buf (length bytes). */
struct ckptio_range {
	const char *key;
	uint64_t offset;
	uint64_t length;
	void *buf;
};

typedef struct ckptio_stat {
	uint64_t size;
	int64_t mtime; /* seconds since the epoch, 0 when unknown */
} ckptio_stat;

/* Return nonzero to stop listing early (list then returns CKPTIO_OK). */
typedef int (*ckptio_key_fn)(void *user, const char *key,
			     const ckptio_stat *st);

enum {
	/* The commit fails with CKPTIO_EEXIST when the key already exists,
	 * atomically with respect to other writers (stores with
	 * CKPTIO_STORE_CAP_IF_ABSENT). */
	CKPTIO_PUT_IF_ABSENT = 1u << 0,
	/* (ABI 1.1) Every buffer passed to put_write stays valid and unchanged
	 * until put_commit or put_abort returns, so the store may keep
	 * references and send from it later instead of copying (the S3 store
	 * uploads parts straight from tensor memory).  Stores that do not
	 * know a flag ignore it. */
	CKPTIO_PUT_STABLE = 1u << 1
};

/* Keys: '/'-separated, relative to the root, never empty, never starting
 * with '/', no "." or ".." component and no empty component.  The core
 * only passes keys it built itself; stores still reject others with
 * CKPTIO_EINVAL. */
struct ckptio_store_ops {
	uint32_t struct_size; /* sizeof(struct ckptio_store_ops) */
	uint64_t caps;        /* CKPTIO_STORE_CAP_*: at most (instance_caps) */

	/* Open the store at root: for file:// locations and plain paths a
	 * directory (no scheme); for other schemes the URI itself
	 * ("s3://bucket/prefix", "https://host/base"); for a configured
	 * backend the value of its `root` option ("" when not set).
	 * create: the caller will write, so the root may be created.  The
	 * plugin allocates its object, fills the ckptio_store base with ops,
	 * host and hc (which stay valid until close) and sets *out.
	 * Required. */
	ckptio_status (*open)(const ckptio_host *host, ckptio_host_ctx *hc,
			      const char *root, int create, ckptio_store **out);
	/* Free the store.  Every put must be committed or aborted. Required. */
	void (*close)(ckptio_store *st);

	/* Streaming put.  The object becomes visible under key only at commit
	 * (stores with CAP_ATOMIC_PUT) and never half-written.  size_hint is
	 * the total length when known, else UINT64_MAX.  Required with
	 * CAP_WRITE. */
	ckptio_status (*put_open)(ckptio_store *st, const char *key,
				  uint64_t size_hint, unsigned flags,
				  ckptio_put **out);
	/* Append len bytes.  buf is borrowed for the call only; the store may
	 * split the write across its own threads. */
	ckptio_status (*put_write)(ckptio_put *p, const void *buf, size_t len);
	/* Make the object durable (per the store's fsync policy) and visible.
	 * Frees p whatever the result.  On failure nothing is visible, except
	 * with CKPTIO_EINDOUBT: the object may be (or is) visible under key
	 * but may not survive a crash (POSIX: renamed, then the fsync of its
	 * directory failed).  Never retry a failed fsync and call it
	 * success: Linux reports a write-back error once. */
	ckptio_status (*put_commit)(ckptio_put *p);
	/* Discard everything written; frees p.  Never fails. */
	void (*put_abort)(ckptio_put *p);

	/* Scatter read: fill every range, in parallel as the store sees fit.
	 * A range past the end of its object is an error (CKPTIO_ECORRUPT
	 * naming key, size and range); a missing object is CKPTIO_ENOTFOUND.
	 * Required with CAP_READ. */
	ckptio_status (*read)(ckptio_store *st, const ckptio_range *ranges,
			      size_t n);

	/* Size of an object; CKPTIO_ENOTFOUND when absent (without recording an
	 * error).  Required. */
	ckptio_status (*stat)(ckptio_store *st, const char *key,
			      ckptio_stat *out);

	/* Every committed object whose key starts with prefix ("" = all), in
	 * any order, including objects in sub-"directories".  Objects of puts
	 * in progress or abandoned may be listed.  Required with CAP_LIST. */
	ckptio_status (*list)(ckptio_store *st, const char *prefix,
			      ckptio_key_fn fn, void *user);

	/* Delete an object; CKPTIO_ENOTFOUND when absent.  Required with
	 * CAP_DELETE. */
	ckptio_status (*remove)(ckptio_store *st, const char *key);

	/* (ABI 1.1, optional: NULL or beyond struct_size means the core calls
	 * remove for each key.)  Delete n objects in as few requests as the
	 * store can (S3: up to 1000 per DeleteObjects).  Keys that do not
	 * exist are not errors.  On a failure the recorded error names a key
	 * that could not be deleted; others may be gone.  Requires
	 * CAP_DELETE. */
	ckptio_status (*remove_many)(ckptio_store *st, const char *const *keys,
				     size_t n);

	/* (ABI 1.2, optional: NULL or beyond struct_size means list() shows
	 * no leftovers under names of their own.)  For a key that list()
	 * reported: when it is the leftover of an unfinished put (a
	 * temporary file) rather than a committed object, write the key that
	 * put was for into target (size bytes, NUL-terminated) and return 1;
	 * else return 0.  Removing key removes the leftover only.  Stores
	 * whose leftovers are listed under the target key itself (S3
	 * multipart uploads, which remove() aborts) need not implement it.
	 * Used by rm and gc to recognise debris; must be a pure function of
	 * the key. */
	int (*put_target)(ckptio_store *st, const char *key, char *target,
			  size_t size);

	/* (ABI 1.3, optional: NULL or beyond struct_size means every store
	 * the plugin opens has the static `caps`.)  The CKPTIO_STORE_CAP_*
	 * of this opened store, when its configuration takes some away: the
	 * S3 store with conditional_put = false has no
	 * CKPTIO_STORE_CAP_IF_ABSENT.  Bits not in the static `caps` are
	 * ignored (the loader checked the methods against those).  Must be
	 * cheap and give the same value for the store's whole life.  The
	 * core reads it after open and never relies on a capability the
	 * store lacks: it passes CKPTIO_PUT_IF_ABSENT only to stores with
	 * CAP_IF_ABSENT, and refuses to write, read, list or delete through
	 * a store without the matching bit.  A layout that uses a capability
	 * checks it the same way (struct_size, then the method). */
	uint64_t (*instance_caps)(ckptio_store *st);

	/* (ABI 1.7, optional: NULL or beyond struct_size means the core
	 * checksums what read returned.)  read, and also crcs[i] = the
	 * CRC32C of range i's bytes, computed while they pass through the
	 * CPU cache rather than in a second pass over the caller's memory
	 * (a load's checksum from memory costs as much as the read from the
	 * page cache).  The core compares them with the metadata's.  crcs:
	 * n entries, the caller's; undefined when it fails (errors as read).
	 * Called from several threads at once, as read is. */
	ckptio_status (*read_crc)(ckptio_store *st, const ckptio_range *ranges,
				  size_t n, uint32_t *crcs);
};

/* ======================================================================== */
/* Layout ABI: StorageWriter / StorageReader.                               */

/* One item (or this rank's chunk of it) as the planner hands it to a
 * layout.  data is NULL on the coordinator's view of other ranks' plans;
 * when read is set instead of data, fetch bytes through it. */
typedef struct ckptio_plan_item {
	const char *name;
	ckptio_item_kind kind;
	ckptio_dtype dtype;
	unsigned ndim;
	const uint64_t *global_shape; /* ndim */
	const uint64_t *offsets;      /* ndim: chunk start */
	const uint64_t *shape;        /* ndim: chunk extents */
	uint64_t nbytes;              /* bytes of the chunk */
	const void *data;             /* the chunk, or NULL */
	ckptio_read_fn read;          /* pull source when data is NULL */
	void *read_user;
	/* (ABI 1.5: read only when host->abi_version is 1.5 or later.)
	 * has_crc: crc32c is the CRC32C of the chunk's nbytes, known before
	 * they are read (ckptio_copy of a checksummed source), for layouts
	 * that record checksums ahead of the data.  A layout that uses it
	 * still checks the bytes it writes against it. */
	int has_crc;
	uint32_t crc32c;
} ckptio_plan_item;

/* A rank's save plan. `storage` is the layout's annotation: a malloc'd
 * string (or NULL) that prepare_local_plan / prepare_global_plan may set
 * (free the old one first); it travels with the plan to the coordinator and
 * back, and the core frees it. */
struct ckptio_plan {
	int rank;
	size_t nitems;
	const ckptio_plan_item *items;
	char *storage;
};

/* Where write_data put one plan item: object key relative to the
 * checkpoint, byte offset and length in it, and its CRC32C.  `object` is a
 * malloc'd string; the core frees it. */
typedef struct ckptio_write_result {
	char *object;
	uint64_t offset;
	uint64_t length;
	uint32_t crc32c;
} ckptio_write_result;

/* Metadata attribute (md_set_attr) naming the checksum of the chunks:
 * "crc32c" (the default, when absent) or "none".  A layout reader whose
 * format keeps no checksums sets "none" and adds its chunks with has_crc =
 * 0; any other value is refused with CKPTIO_EUNSUPPORTED. */
#define CKPTIO_MD_ATTR_CHECKSUM "ckptio.checksum"

/* Metadata of a whole checkpoint, read-only for layouts. */
typedef struct ckptio_chunk_meta {
	const uint64_t *offsets; /* ndim */
	const uint64_t *shape;   /* ndim */
	const char *object;      /* key relative to the checkpoint */
	uint64_t offset;
	uint64_t length;
	/* has_crc: crc32c is the CRC32C of the chunk's `length` bytes (0 for
	 * an empty chunk).  Every chunk has one unless the metadata's
	 * CKPTIO_MD_ATTR_CHECKSUM is "none": the core refuses to open a
	 * checkpoint with a chunk without one (CKPTIO_ECORRUPT), or with an
	 * empty chunk whose crc32c is not 0.  Chunks without a checksum are
	 * loaded and copied on trust; ckptio_verify reads them in full but
	 * fails with CKPTIO_EUNSUPPORTED, as it cannot vouch for them. */
	int has_crc;
	uint32_t crc32c;
} ckptio_chunk_meta;

typedef struct ckptio_item_meta {
	const char *name;
	ckptio_item_kind kind;
	ckptio_dtype dtype;
	unsigned ndim;
	const uint64_t *shape;
	uint64_t nbytes;
	size_t nchunks;
	const ckptio_chunk_meta *chunks;
} ckptio_item_meta;

struct ckptio_metadata {
	uint32_t version;      /* metadata format version */
	const char *layout;    /* "native", "safetensors" */
	int world;             /* ranks at save time */
	size_t nitems;
	const ckptio_item_meta *items; /* sorted by name */
	size_t nattrs;
	const char *const *attr_keys;   /* free-form string attributes */
	const char *const *attr_values;
};

typedef struct ckptio_writer ckptio_writer; /* layout-defined */
typedef struct ckptio_reader ckptio_reader; /* layout-defined */

/* Checkpoint ids are keys (see above) or "" for the store's root; a
 * layout forms its object keys as id + "/" + name. */
struct ckptio_layout_ops {
	uint32_t struct_size; /* sizeof(struct ckptio_layout_ops) */

	/* Keys (relative to the checkpoint) whose existence makes a
	 * checkpoint complete; NULL-terminated; the first is written last. */
	const char *const *commit_keys;

	/* --- StorageWriter (all required) --- */
	/* threads: how many objects this rank may write in parallel. */
	ckptio_status (*writer_setup)(const ckptio_host *host,
				      ckptio_host_ctx *hc, ckptio_store *store,
				      const char *checkpoint_id, int rank,
				      int world, int is_coordinator,
				      unsigned threads, ckptio_writer **out);
	/* Annotate this rank's plan (e.g. choose object names). */
	ckptio_status (*prepare_local_plan)(ckptio_writer *w, ckptio_plan *plan);
	/* Coordinator only: see every rank's plan (items without data), may
	 * rewrite each plan's storage, and rejects what the layout cannot
	 * express with CKPTIO_EUNSUPPORTED. */
	ckptio_status (*prepare_global_plan)(ckptio_writer *w, ckptio_plan *plans,
					     int nplans);
	/* Write the plan's items; results[i] describes plan->items[i].  Must
	 * call progress(pu, bytes) as data is written (it returns nonzero to
	 * cancel: stop and return CKPTIO_ECANCELED). */
	ckptio_status (*write_data)(ckptio_writer *w, const ckptio_plan *plan,
				    ckptio_write_result *results,
				    int (*progress)(void *pu, uint64_t bytes),
				    void *pu);
	/* Coordinator only, after every rank's write_data succeeded: commit the
	 * checkpoint (write the commit keys last).  overwrite: replace an
	 * existing checkpoint atomically instead of failing CKPTIO_EEXIST;
	 * the layout removes nothing of the replaced checkpoint (the core
	 * removes, after the commit, the objects the replaced metadata named
	 * and the new one does not).
	 * Returns CKPTIO_OK when committed; CKPTIO_EINDOUBT when the commit
	 * may have taken effect or may not be durable (every rank then keeps
	 * its data: abort is not called); any other status only when the
	 * commit keys certainly do not name this save's data (e.g. a
	 * commit whose answer was lost is read back before failing). */
	ckptio_status (*finish)(ckptio_writer *w, const ckptio_metadata *md,
				int overwrite);
	/* Remove what this writer wrote, after a failure (never after finish
	 * returned OK or CKPTIO_EINDOUBT).  Never fails; never removes objects
	 * this writer did not write. */
	void (*abort)(ckptio_writer *w);
	void (*writer_free)(ckptio_writer *w);

	/* --- StorageReader (all required) --- */
	ckptio_status (*reader_setup)(const ckptio_host *host,
				      ckptio_host_ctx *hc, ckptio_store *store,
				      const char *checkpoint_id,
				      ckptio_reader **out);
	/* Build the metadata with host->md_*; the core frees it.  A missing
	 * checkpoint is CKPTIO_ENOTFOUND, a malformed one CKPTIO_ECORRUPT. */
	ckptio_status (*read_metadata)(ckptio_reader *r, ckptio_metadata **out);
	/* Read ranges of chunk objects (keys relative to the checkpoint, as in
	 * the metadata) into their buffers.  The core hands over many ranges
	 * at once (sorted by object and offset), so a layout should pass them
	 * to its store in one call where it can.  May be called from several
	 * threads at once.  (ABI 1.6) It must need nothing that read_metadata
	 * keeps: in a load with a coordinator, rank 0 reads the metadata and
	 * the other ranks' readers get only reader_setup and read_data, with
	 * ranges from rank 0's metadata.  A layout built for an older ABI gets
	 * read_metadata on every rank. */
	ckptio_status (*read_data)(ckptio_reader *r, const ckptio_range *ranges,
				   size_t n);
	void (*reader_free)(ckptio_reader *r);

	/* (ABI 1.2, optional: NULL or beyond struct_size means rm removes
	 * only the commit keys and what the metadata names, and gc finds
	 * nothing.)  1 when name, relative to a checkpoint and without '/',
	 * has the form of an object this layout writes (its data objects and
	 * commit keys), 0 otherwise.  rm and gc never touch an object for
	 * which this says 0 unless the metadata names it, so the form must
	 * be specific enough that a user's own files never match (the
	 * native layout: "__R_N.TOKEN.ckd" with digits and hex). */
	int (*owns_object)(const char *name);

	/* (ABI 1.7, optional: NULL or beyond struct_size means the core calls
	 * read_data and checksums the buffers itself.)  read_data, and also
	 * crcs[i] = the CRC32C of range i's bytes: a layout whose store has
	 * read_crc passes the ranges on to it.  Same rules as read_data. */
	ckptio_status (*read_data_crc)(ckptio_reader *r,
				       const ckptio_range *ranges, size_t n,
				       uint32_t *crcs);
};

/* ======================================================================== */
/* The descriptor returned by ckptio_plugin_entry().                        */

typedef enum ckptio_plugin_kind {
	CKPTIO_PLUGIN_STORE = 1,
	CKPTIO_PLUGIN_LAYOUT = 2
} ckptio_plugin_kind;

typedef struct ckptio_plugin {
	uint32_t abi_version;   /* CKPTIO_ABI_VERSION the plugin was built for */
	uint32_t struct_size;   /* sizeof(ckptio_plugin) */
	ckptio_plugin_kind kind;
	const char *name;       /* must equal the file name without ".so" */
	const char *description;
	/* Backend option names this plugin reads with config_get, NULL-
	 * terminated (NULL: none).  Other keys in a backend using it are
	 * configuration errors. */
	const char *const *options;
	/* Stores: URI schemes served ("file", "s3"), NULL-terminated (NULL:
	 * none).  A URI SCHEME://... goes to the plugin named SCHEME when it
	 * lists SCHEME here, else to the first store plugin of the search
	 * path that lists it (docs/configuration.md, "Which store plugin
	 * serves a URI"); "file" is always the posix plugin's, as plain
	 * paths are. */
	const char *const *schemes;
	/* Option names whose values are secrets (never logged or printed). */
	const char *const *secret_options;
	const struct ckptio_store_ops *store;   /* kind == STORE */
	const struct ckptio_layout_ops *layout; /* kind == LAYOUT */
} ckptio_plugin;

typedef const ckptio_plugin *(*ckptio_plugin_entry_fn)(void);

/* What every plugin defines (and nothing else exported).  The core never
 * calls it by name: it looks the symbol up in each plugin it opens. */
CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void);

#define CKPTIO_PLUGIN_ENTRY_SYMBOL "ckptio_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* CKPTIO_PLUGIN_H */
