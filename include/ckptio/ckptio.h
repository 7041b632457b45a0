/*
 * ckptio.h - save and load ML / HPC checkpoints to local disks, object stores
 * and HTTP servers.
 *
 * This is the only header an application needs.  Every handle is opaque.
 * Plugin authors include <ckptio/plugin.h> instead.
 *
 * Conventions used by every function below:
 *  - Functions return a ckptio_status; CKPTIO_OK (0) means success.  On
 *    failure, ckptio_errmsg(ctx) (or ckptio_future_errmsg() for async saves)
 *    returns a sentence naming what failed: the file or key, the item, the
 *    config line.  Before a context exists (ckptio_ctx_new failing),
 *    ckptio_last_error() returns the message for the calling thread.
 *  - Pointers passed in are borrowed for the duration of the call unless the
 *    comment says otherwise.  Pointers returned are owned by the object they
 *    came from and stay valid until that object is freed.
 *  - NULL: every pointer argument must be non-NULL unless its comment says
 *    what NULL means (the *_free functions and ckptio_ckpt_close take NULL,
 *    as free() does; NULL opts are the defaults).  A NULL that is not
 *    allowed, out parameters included, is CKPTIO_EINVAL with "<function>:
 *    <argument> is NULL" in ckptio_errmsg(ctx), or in ckptio_last_error()
 *    when ctx itself is NULL or the function takes no context; it never
 *    crashes.  On failure an out parameter is set to NULL.  Functions that
 *    return something other than a status return, for a NULL handle, the
 *    value their comment names (0, NULL, "" or -1).  Counts and indices out
 *    of range are CKPTIO_EINVAL too, with a message.
 *  - Thread safety: a ckptio_ctx, a ckptio_sd and a ckptio_ckpt may be used by
 *    one thread at a time.  Different contexts are independent, so a process
 *    running several ranks as threads gives each rank its own context.
 *    ckptio_strerror() and ckptio_dtype_*() are thread safe.
 *
 * ABI: see docs/ABI.md.  Structs that callers fill start with struct_size so
 * they can grow at the end; initialise them with the *_INIT macros.
 */
#ifndef CKPTIO_CKPTIO_H
#define CKPTIO_CKPTIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPTIO_VERSION_MAJOR 0
#define CKPTIO_VERSION_MINOR 1
#define CKPTIO_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Status codes.  Append-only: values never change meaning.                 */

typedef enum ckptio_status {
	CKPTIO_OK = 0,
	CKPTIO_EINVAL = 1,       /* bad argument or bad item (name, shape, size) */
	CKPTIO_ENOMEM = 2,       /* out of memory */
	CKPTIO_EIO = 3,          /* I/O error reading or writing an object */
	CKPTIO_ENOTFOUND = 4,    /* checkpoint, object, item or backend missing */
	CKPTIO_EEXIST = 5,       /* checkpoint exists and overwrite not asked */
	CKPTIO_ECORRUPT = 6,     /* checksum mismatch, malformed metadata/data */
	CKPTIO_ECONFIG = 7,      /* configuration file or option invalid */
	CKPTIO_EPLUGIN = 8,      /* plugin missing, not loadable or invalid */
	CKPTIO_EUNSUPPORTED = 9, /* the store or layout cannot do this */
	CKPTIO_EAUTH = 10,       /* authentication / permission denied */
	CKPTIO_ENET = 11,        /* network failure after retries */
	CKPTIO_ECANCELED = 12,   /* cancelled by the caller */
	CKPTIO_ECOORD = 13,      /* another rank failed or the coordinator did */
	CKPTIO_ENOSPC = 14,      /* no space left on the device / quota */
	/* A save's commit may have taken effect, or took effect but may not
	 * survive a crash (an fsync failed after the rename, the answer to
	 * the commit was lost and reading it back failed).  Nothing the
	 * checkpoint may name was removed; the message says which case it
	 * is.  Check the location (ckptio verify) or save again. */
	CKPTIO_EINDOUBT = 15
} ckptio_status;

/* Static English text for a status code; never NULL. */
const char *ckptio_strerror(ckptio_status status);

/* Detail message of the last failed call on this thread that had no
 * context to hold it: ckptio_ctx_new, the ckptio_sd_*, ckptio_coord_*,
 * ckptio_ckpt_* and ckptio_future_* functions, and any call made with a
 * NULL ctx.  Never NULL; "" when none. */
const char *ckptio_last_error(void);

/* "0.1.0" */
const char *ckptio_version(void);

/* A size as the configuration and the ckptio command read it: a decimal
 * number, optionally with a fraction, then a unit: none or B (bytes), k K
 * KiB M MiB G GiB T TiB (powers of 1024), KB MB GB TB (powers of 1000);
 * case-insensitive, spaces allowed before the unit.  Fractions are exact
 * and round down to whole bytes ("1.5KiB" is 1536).  CKPTIO_EINVAL for
 * anything else or a value past 2^64 - 1 (*out unchanged). */
ckptio_status ckptio_parse_size(const char *s, uint64_t *out);

/* ------------------------------------------------------------------------ */
/* Data types.  Append-only.  Names are the safetensors spellings.          */

typedef enum ckptio_dtype {
	CKPTIO_DTYPE_INVALID = 0,
	CKPTIO_F64 = 1,
	CKPTIO_F32 = 2,
	CKPTIO_F16 = 3,
	CKPTIO_BF16 = 4,
	CKPTIO_I64 = 5,
	CKPTIO_I32 = 6,
	CKPTIO_I16 = 7,
	CKPTIO_I8 = 8,
	CKPTIO_U8 = 9,
	CKPTIO_BOOL = 10,
	CKPTIO_F8_E4M3 = 11,
	CKPTIO_F8_E5M2 = 12,
	CKPTIO_U16 = 13,
	CKPTIO_U32 = 14,
	CKPTIO_U64 = 15,
	/* The rest of the safetensors specification's dtypes (issue 9). */
	CKPTIO_F8_E8M0 = 16,
	CKPTIO_F8_E4M3FNUZ = 17,
	CKPTIO_F8_E5M2FNUZ = 18,
	CKPTIO_C64 = 19,     /* complex64: two F32, real then imaginary */
	CKPTIO_F4 = 20,      /* 4 bits per element (E2M1), two per byte */
	CKPTIO_F6_E2M3 = 21, /* 6 bits per element, four per three bytes */
	CKPTIO_F6_E3M2 = 22
} ckptio_dtype;

/* Bytes per element; 0 for an unknown dtype and for the sub-byte dtypes
 * (F4, F6_E2M3, F6_E3M2), whose size is given by ckptio_dtype_bits. */
size_t ckptio_dtype_size(ckptio_dtype dtype);
/* Bits per element (4, 6, 8, ..., 128); 0 for an unknown dtype.  A tensor
 * of a sub-byte dtype must hold a whole number of bytes (elements x bits
 * divisible by 8), in every chunk. */
unsigned ckptio_dtype_bits(ckptio_dtype dtype);
/* "F32", "BF16", ...; NULL for an unknown dtype. */
const char *ckptio_dtype_name(ckptio_dtype dtype);
/* Inverse of ckptio_dtype_name; CKPTIO_DTYPE_INVALID when unknown or
 * NULL. */
ckptio_dtype ckptio_dtype_from_name(const char *name);

/* Limits that apply to every checkpoint. */
#define CKPTIO_MAX_NAME 4096 /* bytes in an item name, without the NUL */
#define CKPTIO_MAX_NDIM 32   /* dimensions of a tensor */

/* ------------------------------------------------------------------------ */
/* Context: configuration, loaded plugins, error detail.                    */

typedef struct ckptio_ctx ckptio_ctx;

typedef enum ckptio_log_level {
	CKPTIO_LOG_ERROR = 0,
	CKPTIO_LOG_WARN = 1,
	CKPTIO_LOG_INFO = 2,
	CKPTIO_LOG_DEBUG = 3
} ckptio_log_level;

/* Called for each log line at or below the context's level.  May be called
 * from ckptio's worker threads, never concurrently for one context.  The
 * message has no trailing newline and is valid only during the call. */
typedef void (*ckptio_log_fn)(void *user, ckptio_log_level level,
			      const char *msg);

/* Create a context.  config_path: an INI file to read, or NULL to search
 * $CKPTIO_CONFIG, ~/.config/ckptio/ckptio.conf and
 * $(sysconfdir)/ckptio/ckptio.conf (a missing file is not an error when
 * searched, an error when named).  On failure *out is NULL and
 * ckptio_last_error() has the detail (file:line: key: problem). */
ckptio_status ckptio_ctx_new(ckptio_ctx **out, const char *config_path);

/* Free a context and release its plugins.  NULL is allowed.  Plugins stay
 * mapped until the process exits (libraries they use keep thread-local
 * state and exit handlers); loading one again is free. */
void ckptio_ctx_free(ckptio_ctx *ctx);

/* Detail of the last failed call on ctx; "" when none.  Valid until the
 * next call on ctx.  NULL ctx: ckptio_last_error(). */
const char *ckptio_errmsg(const ckptio_ctx *ctx);

/* Route log lines to fn (NULL: stderr for ERROR/WARN, the default).
 * NULL ctx: nothing happens (ckptio_last_error() says so). */
void ckptio_set_log(ckptio_ctx *ctx, ckptio_log_level level, ckptio_log_fn fn,
		    void *user);

/* The level in effect: the configuration's `log_level` (warn when not
 * set) until ckptio_set_log changes it.  NULL ctx: CKPTIO_LOG_WARN. */
ckptio_log_level ckptio_log_level_get(const ckptio_ctx *ctx);

/* Path of the configuration file in use, or NULL when none was found
 * (or ctx is NULL). */
const char *ckptio_config_path(const ckptio_ctx *ctx);

/* Write the resolved configuration (every section and key after ${ENV}
 * expansion, secrets shown as "<redacted>") as INI text to a malloc'd
 * string in *out; the caller frees it.  It loads the plugins the
 * configuration names to learn which of their options are secret
 * (secret_options); the values of a plugin that cannot be loaded, and of
 * keys no plugin of their section declares, are redacted too. */
ckptio_status ckptio_config_dump(ckptio_ctx *ctx, char **out);

/* ------------------------------------------------------------------------ */
/* State dicts: what to save, or where to load.                             */

typedef struct ckptio_sd ckptio_sd;

/* Errors of the ckptio_sd_* functions are in ckptio_last_error(). */
ckptio_status ckptio_sd_new(ckptio_sd **out);
void ckptio_sd_free(ckptio_sd *sd);
/* Items in sd; 0 for NULL. */
size_t ckptio_sd_count(const ckptio_sd *sd);

/* Add a tensor, or this process's chunk of one.
 *   name         1..CKPTIO_MAX_NAME bytes of well-formed UTF-8 (the
 *                metadata is JSON and safetensors headers are too), unique
 *                within sd.  Names never become file names.
 *   global_shape ndim extents of the whole tensor (ndim may be 0: a scalar,
 *                and global_shape NULL; ndim <= CKPTIO_MAX_NDIM).
 *   offsets      where this chunk starts in the global tensor, or NULL for
 *                all zeros.
 *   shape        extents of this chunk, or NULL for the global shape.
 *   data         the chunk, dense row-major.  For a save it is read (see
 *                ckptio_async_save for how long); for a load it is written.
 *                Borrowed: it must outlive every save/load using sd.
 *                NULL only for an empty chunk.
 * A tensor of a sub-byte dtype (F4, F6_*) must hold whole bytes, and so
 * must this chunk; a chunk other than the whole tensor must also start and
 * end on a byte in the last dimension (offsets[ndim-1] and shape[ndim-1]
 * times the bits are multiples of 8), so that its rows are byte ranges of
 * the tensor's (docs/metadata.md).
 * The arrays are copied.  Returns CKPTIO_EINVAL, with the reason in
 * ckptio_last_error(), for a duplicate, empty, too long or not UTF-8
 * name, an unknown dtype, a chunk out of bounds, a tensor of more than
 * 2^64 - 1 bytes, or a sub-byte tensor or chunk breaking the rules above
 * ("item 'w': 3 elements of F4 are 12 bits, not whole bytes");
 * CKPTIO_ENOMEM when out of memory. */
ckptio_status ckptio_sd_add_tensor(ckptio_sd *sd, const char *name,
				   ckptio_dtype dtype, unsigned ndim,
				   const uint64_t *global_shape,
				   const uint64_t *offsets,
				   const uint64_t *shape, void *data);

/* Add an opaque blob of len bytes (optimizer step, RNG state, JSON...).
 * For a load, len must equal the saved length (see ckptio_ckpt_item).
 * data may be NULL only when len is 0. */
ckptio_status ckptio_sd_add_bytes(ckptio_sd *sd, const char *name, void *data,
				  size_t len);

/* Pull-style tensor for streaming sources: instead of memory, ckptio calls
 * read(user, offset, buf, len) to fetch len bytes of the chunk starting at
 * byte offset (row-major), in increasing offset order, from any thread but
 * never concurrently for one item.  Return CKPTIO_OK or an error that
 * aborts the save.  Used by ckptio_copy; available to applications that
 * produce data on the fly.  Save only.  read must not be NULL; user may
 * be anything. */
typedef ckptio_status (*ckptio_read_fn)(void *user, uint64_t offset,
					void *buf, size_t len);
ckptio_status ckptio_sd_add_tensor_fn(ckptio_sd *sd, const char *name,
				      ckptio_dtype dtype, unsigned ndim,
				      const uint64_t *global_shape,
				      const uint64_t *offsets,
				      const uint64_t *shape,
				      ckptio_read_fn read, void *user);
ckptio_status ckptio_sd_add_bytes_fn(ckptio_sd *sd, const char *name,
				     uint64_t len, ckptio_read_fn read,
				     void *user);

/* ------------------------------------------------------------------------ */
/* Coordination of several ranks (processes or threads).                    */

/* Memory that crosses the API the other way: buffers a coordinator hands
 * to ckptio (below) and that ckptio frees, and strings ckptio hands out
 * for the caller to free (ckptio_config_dump).  ckptio_alloc(0) returns a
 * valid pointer; NULL means out of memory.  Bindings in other languages
 * use these rather than assuming the C library's malloc (in C they are
 * malloc and free). */
void *ckptio_alloc(size_t len);
void ckptio_free(void *p);

/* A coordinator is a table the caller fills; ckptio calls it from the
 * thread that called save/load.  Every rank calls the same sequence.
 * Buffers returned through out parameters are allocated with ckptio_alloc
 * (or malloc); ckptio frees them.
 *   gather:    every rank passes (buf, len); on rank 0, *out_bufs and
 *              *out_lens receive world entries (index = rank); other ranks get NULL.
 *   broadcast: rank 0 passes *buf and *len; on the others *buf receives a
 *              copy (ckptio_alloc'd) and *len its size.
 *   barrier:   optional, may be NULL (and struct_size may end before
 *              it): ckptio does not call it.  The threads coordinator
 *              fills it, for callers that want one.
 *   errmsg:    optional, may be NULL (and struct_size may end before it):
 *              after gather or broadcast failed, ckptio calls it once to
 *              put the coordinator's own words in its message ("the
 *              coordinator's gather failed: MPI_Gatherv: ...").  The
 *              string is copied at once; it may be NULL.
 * Any failure makes the operation fail with CKPTIO_ECOORD on every rank
 * that sees it; the implementation must not deadlock the others (an
 * MPI job typically aborts). */
typedef struct ckptio_coord {
	uint32_t struct_size; /* sizeof(ckptio_coord) */
	int rank;
	int world;
	void *self;
	ckptio_status (*gather)(void *self, const void *buf, size_t len,
				void ***out_bufs, size_t **out_lens);
	ckptio_status (*broadcast)(void *self, void **buf, size_t *len);
	ckptio_status (*barrier)(void *self);
	/* Added after 0.1.0: read when struct_size covers it. */
	const char *(*errmsg)(void *self);
} ckptio_coord;

/* An in-process coordinator for `world` ranks running as threads of this
 * process.  ckptio_coord_threads_get(group, rank) fills *coord for one rank;
 * hand each to its thread.  The group must outlive every use.
 * ckptio_coord_threads_new: world >= 1, else CKPTIO_EINVAL.
 * ckptio_coord_threads_get: rank must be in 0..world-1; otherwise (or for
 * a NULL group) it returns CKPTIO_EINVAL and zeroes *coord, which a save
 * then refuses.  It returned void in 0.1.0 (docs/ABI.md).  Errors are
 * in ckptio_last_error(). */
typedef struct ckptio_coord_group ckptio_coord_group;
ckptio_status ckptio_coord_threads_new(ckptio_coord_group **out, int world);
ckptio_status ckptio_coord_threads_get(ckptio_coord_group *group, int rank,
				       ckptio_coord *coord);
void ckptio_coord_threads_free(ckptio_coord_group *group);

/* ------------------------------------------------------------------------ */
/* Save and load.                                                           */

/* Progress: done and total are payload bytes of this rank.  Called from
 * worker threads, serialised, at most every ~1% or 64 MiB and once at the
 * end.  Return nonzero to cancel (the call then fails with
 * CKPTIO_ECANCELED and, for a save, leaves no checkpoint). */
typedef int (*ckptio_progress_fn)(void *user, uint64_t done, uint64_t total);

enum {
	CKPTIO_SAVE_OVERWRITE = 1u << 0, /* replace an existing checkpoint */
	CKPTIO_SAVE_STAGE = 1u << 1      /* async_save copies data first */
};

enum {
	CKPTIO_LOAD_NO_VERIFY = 1u << 0, /* skip CRC32C checks (not advised) */
	CKPTIO_LOAD_PARTIAL = 1u << 1    /* items absent from the checkpoint
					    are left untouched, not errors */
};

/* Options of save, async_save, load, verify and copy; NULL opts are the
 * defaults.  struct_size: sizeof(ckptio_opts) of the caller's header.
 * Members past struct_size are not read (they take the defaults below), so
 * a program built against an older, shorter struct keeps working; a
 * struct_size that does not reach the end of `flags` (0, 4) is a caller
 * that forgot CKPTIO_OPTS_INIT: CKPTIO_EINVAL.  flags bits other than the
 * call's own family (CKPTIO_SAVE_* for save, async_save and copy,
 * CKPTIO_LOAD_* for load) are CKPTIO_EINVAL, never silently ignored;
 * verify ignores flags. */
typedef struct ckptio_opts {
	uint32_t struct_size;         /* sizeof(ckptio_opts) */
	uint32_t flags;               /* CKPTIO_SAVE_* or CKPTIO_LOAD_* */
	const ckptio_coord *coord;    /* NULL: a single process */
	ckptio_progress_fn progress;  /* may be NULL */
	void *progress_user;
	unsigned threads;             /* 0: the backend's `threads` option */
	const char *layout;           /* NULL: backend's (native by default) */
} ckptio_opts;

#define CKPTIO_OPTS_INIT {sizeof(ckptio_opts), 0, NULL, NULL, NULL, 0, NULL}

/* Save sd to location.  A location is a path (/data/ck/step-1), a URI
 * (file:///data/ck/step-1) or NAME:path for a configured backend.  The
 * checkpoint becomes visible atomically when its metadata is committed;
 * a failed or interrupted save leaves no checkpoint and never damages an
 * existing one.  With several ranks, every rank calls save with its own sd
 * and the same location; rank 0 commits.  Buffers are only read, and may be
 * reused when the call returns.
 * Argument errors: a NULL ctx, unreadable opts (struct_size) or a bad
 * opts->coord (struct_size, world < 1, rank outside 0..world-1, a NULL
 * method) fail at once on the calling rank only (it cannot reach the
 * others).  A NULL location or sd and unknown flags fail the save on every
 * rank, naming the rank, as any other local failure does. */
ckptio_status ckptio_save(ckptio_ctx *ctx, const char *location,
			  const ckptio_sd *sd, const ckptio_opts *opts);

/* Asynchronous save on a background thread.  Without CKPTIO_SAVE_STAGE the
 * tensors' memory must stay unchanged, and sd and ctx must not be used or
 * freed, until ckptio_future_wait() returns.  With CKPTIO_SAVE_STAGE every
 * item is copied before this call returns (costing its size in memory), so
 * the caller may modify its buffers and free sd right away; ctx must still
 * live until the wait.  opts->coord must stay valid until the wait.
 * out must not be NULL; the arguments are checked as for ckptio_save: a
 * NULL location or sd is reported by ckptio_future_wait(). */
typedef struct ckptio_future ckptio_future;
ckptio_status ckptio_async_save(ckptio_ctx *ctx, const char *location,
				const ckptio_sd *sd, const ckptio_opts *opts,
				ckptio_future **out);
/* 1 when finished, 0 while running; -1 for NULL. */
int ckptio_future_poll(ckptio_future *f);
/* Wait and return the save's status; may be called more than once, and
 * from several threads at once (each gets the status once the save's
 * thread is gone).  NULL: CKPTIO_EINVAL. */
ckptio_status ckptio_future_wait(ckptio_future *f);
/* Detail message of a failed async save ("" otherwise, and while it
 * runs); NULL f: ckptio_last_error(). */
const char *ckptio_future_errmsg(const ckptio_future *f);
/* Wait (if needed) and free; NULL is allowed.  Call it once, when no
 * other thread waits on or polls f: a future cannot guard its own free. */
void ckptio_future_free(ckptio_future *f);

/* Load the items of sd from location into their buffers.  A tensor chunk
 * may cover any region of the saved tensor: the data is assembled from
 * every saved chunk it overlaps (resharding).  dtype and global shape must
 * match the saved ones.  A tensor of a sub-byte dtype (F4, F6_*) loads
 * only in the chunks it was saved in: a requested chunk that is not
 * exactly one of them is CKPTIO_EUNSUPPORTED, naming the item.  Every
 * chunk read is CRC32C-checked unless CKPTIO_LOAD_NO_VERIFY.  Without a
 * coordinator each process reads the metadata and its own chunks.  With
 * opts->coord (world > 1) the open is collective: every rank must call
 * ckptio_load; rank 0 alone reads the metadata and broadcasts it (one read
 * of it for the whole job), then each rank reads only the chunks its own
 * sd needs, and returns on its own (a failure to read the metadata fails
 * every rank with rank 0's message).  Argument errors (a NULL ctx,
 * location or sd, unreadable opts, unknown flags, a bad opts->coord) fail
 * at once on the calling rank only, before any collective: pass every rank
 * the same opts.
 * Memory: data goes straight into the buffers where a requested chunk is
 * exactly a saved one; otherwise saved chunks are staged in temporary
 * buffers of at most 256 MiB at a time (or one saved chunk, if larger).
 * opts may be NULL (verify, all items required). */
ckptio_status ckptio_load(ckptio_ctx *ctx, const char *location,
			  ckptio_sd *sd, const ckptio_opts *opts);

/* ------------------------------------------------------------------------ */
/* Inspecting checkpoints.                                                  */

typedef struct ckptio_ckpt ckptio_ckpt;

typedef enum ckptio_item_kind {
	CKPTIO_ITEM_TENSOR = 1,
	CKPTIO_ITEM_BYTES = 2
} ckptio_item_kind;

typedef struct ckptio_item_info {
	uint32_t struct_size;       /* sizeof(ckptio_item_info), set by caller */
	const char *name;
	ckptio_item_kind kind;
	ckptio_dtype dtype;         /* tensors */
	unsigned ndim;              /* tensors */
	const uint64_t *shape;      /* ndim global extents */
	uint64_t nbytes;            /* whole item */
	size_t nchunks;             /* saved chunks */
	/* The object holding the first chunk, relative to the checkpoint
	 * (a safetensors shard, a native data object); NULL without chunks.
	 * Added after 0.1.0: present when struct_size covers it. */
	const char *object;
} ckptio_item_info;

/* Open a checkpoint's metadata (it must be complete).  The ckptio_ckpt_*
 * functions take no context: their errors are in ckptio_last_error(). */
ckptio_status ckptio_open(ckptio_ctx *ctx, const char *location,
			  ckptio_ckpt **out);
void ckptio_ckpt_close(ckptio_ckpt *ck);
/* Items in the checkpoint; 0 for NULL. */
size_t ckptio_ckpt_count(const ckptio_ckpt *ck);
/* Fill *info for item i (0 <= i < count); pointers live as long as ck.
 * The caller sets info->struct_size; no more than that is written.  An i
 * out of range, or a struct_size that does not reach `name`, is
 * CKPTIO_EINVAL. */
ckptio_status ckptio_ckpt_item(const ckptio_ckpt *ck, size_t i,
			       ckptio_item_info *info);
/* Index of the item called name, or (size_t)-1 (also for NULLs). */
size_t ckptio_ckpt_find(const ckptio_ckpt *ck, const char *name);
/* Layout name ("native"), world size at save time, and total payload;
 * for NULL: NULL, 0 and 0. */
const char *ckptio_ckpt_layout(const ckptio_ckpt *ck);
int ckptio_ckpt_world(const ckptio_ckpt *ck);
uint64_t ckptio_ckpt_nbytes(const ckptio_ckpt *ck);

/* Checkpoints under a location (a directory, bucket prefix or backend
 * root): fn is called with each checkpoint id (relative to location) that
 * has committed metadata, in sorted order.  Returning nonzero stops.
 * fn must not be NULL. */
typedef int (*ckptio_list_fn)(void *user, const char *checkpoint_id);
ckptio_status ckptio_list(ckptio_ctx *ctx, const char *location,
			  ckptio_list_fn fn, void *user);

/* Read every chunk of the checkpoint and check its CRC32C and length,
 * without keeping data (bounded memory).  On mismatch returns
 * CKPTIO_ECORRUPT naming the item and the object.  When chunks have no
 * checksum (a layout that keeps none: CKPTIO_MD_ATTR_CHECKSUM in plugin.h),
 * every chunk is still read, then CKPTIO_EUNSUPPORTED is returned: their
 * content could not be checked.  opts may be NULL; only its progress and
 * threads are used. */
ckptio_status ckptio_verify(ckptio_ctx *ctx, const char *location,
			    const ckptio_opts *opts);

/* Removing checkpoints and the debris of failed saves.
 *
 * What may be removed (docs/design-notes.md, "What rm and gc may delete"):
 * only objects directly under the checkpoint (never in nested
 * checkpoints or subdirectories) that are
 *   - its commit keys (".metadata.json" for the native layout),
 *   - objects its committed metadata names, or
 *   - debris: objects named as the layout names its own objects
 *     ("__R_N.TOKEN.ckd") that the metadata does not name, and the
 *     store's leftovers of unfinished puts of such objects (temporary
 *     files, multipart uploads).
 * Anything else under the location is the user's and is never touched.
 *
 * CKPTIO_RM_GC_ONLY: remove the debris only; the checkpoint stays.  Works
 *   without metadata too (the debris of a first save that never
 *   committed).  A location whose metadata is corrupt is refused: what it
 *   names cannot be known.
 * CKPTIO_RM_DRY_RUN: remove nothing; fill the report with what would go.
 * Without CKPTIO_RM_GC_ONLY the checkpoint must exist (its metadata, even
 * if corrupt); a location without metadata is CKPTIO_ENOTFOUND, with the
 * debris found named in the message. */
enum {
	CKPTIO_RM_GC_ONLY = 1u << 0,
	CKPTIO_RM_DRY_RUN = 1u << 1
};

/* What a removal found and did.  Sizes are bytes as listed by the store
 * (0 where it cannot tell, e.g. unfinished S3 uploads). */
typedef struct ckptio_rm_report {
	uint32_t struct_size;     /* sizeof(ckptio_rm_report), set by caller */
	uint64_t removed;         /* objects removed (dry run: to remove) */
	uint64_t removed_bytes;
	uint64_t debris;          /* of which debris of failed saves */
	uint64_t debris_bytes;
	uint64_t kept_young;      /* debris younger than min_age, kept */
	uint64_t kept_young_bytes;
	uint64_t foreign;         /* other objects: not the layout's, kept */
} ckptio_rm_report;

typedef struct ckptio_rm_opts {
	uint32_t struct_size;     /* sizeof(ckptio_rm_opts) */
	uint32_t flags;           /* CKPTIO_RM_* */
	/* Debris modified less than min_age seconds ago is kept: it may
	 * belong to a save still in flight (0: remove debris of any age).
	 * Objects whose age the store cannot tell count as young when
	 * min_age > 0. */
	uint64_t min_age;
	ckptio_rm_report *report; /* filled when not NULL */
} ckptio_rm_opts;

#define CKPTIO_RM_OPTS_INIT {sizeof(ckptio_rm_opts), 0, 0, NULL}

/* Remove the checkpoint at location (its commit keys first, so it stops
 * being visible at once, then what its metadata names, then its debris),
 * or with CKPTIO_RM_GC_ONLY its debris only.  opts NULL: defaults. */
ckptio_status ckptio_remove_ex(ckptio_ctx *ctx, const char *location,
			       const ckptio_rm_opts *opts);

/* ckptio_remove_ex with flags and no minimum age. */
ckptio_status ckptio_remove(ckptio_ctx *ctx, const char *location,
			    unsigned flags);

/* The debris of failed saves beside an open checkpoint (what
 * CKPTIO_RM_GC_ONLY would remove with this min_age), without removing
 * anything.  For `ckptio ls`. */
ckptio_status ckptio_ckpt_debris(ckptio_ckpt *ck, uint64_t min_age,
				 ckptio_rm_report *report);

/* Copy or convert a checkpoint, streaming item by item with bounded memory.
 * opts->layout picks the destination layout (NULL: the destination
 * backend's); CKPTIO_SAVE_OVERWRITE applies to dst.  opts may be NULL. */
ckptio_status ckptio_copy(ckptio_ctx *ctx, const char *src, const char *dst,
			  const ckptio_opts *opts);

/* ------------------------------------------------------------------------ */
/* Plugins.                                                                 */

typedef struct ckptio_plugin_info {
	uint32_t struct_size;   /* sizeof(ckptio_plugin_info), set by caller */
	const char *name;       /* "posix" */
	const char *kind;       /* "store" or "layout" */
	const char *path;       /* file it was loaded from, or "(built-in)" */
	const char *description;
	uint32_t abi_version;
	uint64_t caps;          /* stores: CKPTIO_STORE_CAP_* of plugin.h */
} ckptio_plugin_info;

/* Find every plugin on the search path and call fn for each that loads;
 * files that fail to load are reported through the log (WARN).  fn must
 * not be NULL. */
typedef int (*ckptio_plugin_fn)(void *user, const ckptio_plugin_info *info);
ckptio_status ckptio_plugins(ckptio_ctx *ctx, ckptio_plugin_fn fn, void *user);

#ifdef __cplusplus
}
#endif

#endif /* CKPTIO_CKPTIO_H */
