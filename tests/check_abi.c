/*
 * check_abi.c - pins the ABI that applications and plugins are built
 * against (docs/ABI.md): sizes, offsets and member sizes of every struct
 * of plugin.h and of the caller-filled structs of ckptio.h on x86_64 LP64,
 * the values of the append-only enums, flags and capability bits, the ABI
 * version, the prototypes of the public functions, and the symbols that
 * libckptio.so exports.
 *
 * A failure here means a change breaks built applications or plugins.  If
 * the change is intended, it is a new major ABI version (or SONAME): bump
 * it, update docs/ABI.md and only then the pinned values below.  Adding a
 * field at the end of a struct (a minor bump) changes only its SIZE line;
 * the FIELD lines of existing members must never change.
 */
#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Invariants that hold on every platform (checked at compile time)         */

#define MEMBER_SIZE(T, f) sizeof(((T *)0)->f)
#define STARTS_WITH_VERSION(T)                                               \
	_Static_assert(offsetof(T, abi_version) == 0 &&                      \
			       MEMBER_SIZE(T, abi_version) == 4 &&           \
			       offsetof(T, struct_size) == 4 &&              \
			       MEMBER_SIZE(T, struct_size) == 4,             \
		       #T " must start with uint32_t abi_version, struct_size")
#define STARTS_WITH_SIZE(T)                                                  \
	_Static_assert(offsetof(T, struct_size) == 0 &&                      \
			       MEMBER_SIZE(T, struct_size) == 4,             \
		       #T " must start with uint32_t struct_size")

/* What a plugin returns and what the core hands to plugins. */
STARTS_WITH_VERSION(ckptio_plugin);
STARTS_WITH_VERSION(ckptio_host);
/* Method tables a plugin fills. */
STARTS_WITH_SIZE(ckptio_store_ops);
STARTS_WITH_SIZE(ckptio_layout_ops);
/* Structs an application fills. */
STARTS_WITH_SIZE(ckptio_opts);
STARTS_WITH_SIZE(ckptio_coord);
STARTS_WITH_SIZE(ckptio_item_info);
STARTS_WITH_SIZE(ckptio_plugin_info);
/* Plugin objects embed the base first, so the core may cast. */
_Static_assert(offsetof(ckptio_store, ops) == 0, "ckptio_store.ops first");
/* Enums are stored in ABI structs: they must stay int-sized. */
_Static_assert(sizeof(ckptio_status) == sizeof(int), "ckptio_status size");
_Static_assert(sizeof(ckptio_dtype) == sizeof(int), "ckptio_dtype size");
_Static_assert(sizeof(ckptio_item_kind) == sizeof(int), "item kind size");
_Static_assert(sizeof(ckptio_plugin_kind) == sizeof(int), "plugin kind size");
_Static_assert(sizeof(ckptio_log_level) == sizeof(int), "log level size");

/* ------------------------------------------------------------------------ */
/* The public functions: prototypes pinned at compile time, names checked   */
/* against the exports of libckptio.so.                                     */

#define API_FUNCTIONS(X)                                                      \
	X(const char *, ckptio_strerror, (ckptio_status))                    \
	X(const char *, ckptio_last_error, (void))                           \
	X(const char *, ckptio_version, (void))                              \
	X(ckptio_status, ckptio_parse_size, (const char *, uint64_t *))      \
	X(size_t, ckptio_dtype_size, (ckptio_dtype))                         \
	X(unsigned, ckptio_dtype_bits, (ckptio_dtype))                       \
	X(const char *, ckptio_dtype_name, (ckptio_dtype))                   \
	X(ckptio_dtype, ckptio_dtype_from_name, (const char *))              \
	X(ckptio_status, ckptio_ctx_new, (ckptio_ctx **, const char *))      \
	X(void *, ckptio_alloc, (size_t))                                    \
	X(void, ckptio_free, (void *))                                       \
	X(void, ckptio_ctx_free, (ckptio_ctx *))                             \
	X(const char *, ckptio_errmsg, (const ckptio_ctx *))                 \
	X(void, ckptio_set_log,                                              \
	  (ckptio_ctx *, ckptio_log_level, ckptio_log_fn, void *))           \
	X(ckptio_log_level, ckptio_log_level_get, (const ckptio_ctx *))      \
	X(const char *, ckptio_config_path, (const ckptio_ctx *))            \
	X(ckptio_status, ckptio_config_dump, (ckptio_ctx *, char **))        \
	X(ckptio_status, ckptio_sd_new, (ckptio_sd **))                      \
	X(void, ckptio_sd_free, (ckptio_sd *))                               \
	X(size_t, ckptio_sd_count, (const ckptio_sd *))                      \
	X(ckptio_status, ckptio_sd_add_tensor,                               \
	  (ckptio_sd *, const char *, ckptio_dtype, unsigned,                \
	   const uint64_t *, const uint64_t *, const uint64_t *, void *))    \
	X(ckptio_status, ckptio_sd_add_bytes,                                \
	  (ckptio_sd *, const char *, void *, size_t))                       \
	X(ckptio_status, ckptio_sd_add_tensor_fn,                            \
	  (ckptio_sd *, const char *, ckptio_dtype, unsigned,                \
	   const uint64_t *, const uint64_t *, const uint64_t *,             \
	   ckptio_read_fn, void *))                                          \
	X(ckptio_status, ckptio_sd_add_bytes_fn,                             \
	  (ckptio_sd *, const char *, uint64_t, ckptio_read_fn, void *))     \
	X(ckptio_status, ckptio_coord_threads_new,                           \
	  (ckptio_coord_group **, int))                                      \
	X(ckptio_status, ckptio_coord_threads_get,                           \
	  (ckptio_coord_group *, int, ckptio_coord *))                       \
	X(void, ckptio_coord_threads_free, (ckptio_coord_group *))           \
	X(ckptio_status, ckptio_save,                                        \
	  (ckptio_ctx *, const char *, const ckptio_sd *,                    \
	   const ckptio_opts *))                                             \
	X(ckptio_status, ckptio_async_save,                                  \
	  (ckptio_ctx *, const char *, const ckptio_sd *,                    \
	   const ckptio_opts *, ckptio_future **))                           \
	X(int, ckptio_future_poll, (ckptio_future *))                        \
	X(ckptio_status, ckptio_future_wait, (ckptio_future *))              \
	X(const char *, ckptio_future_errmsg, (const ckptio_future *))       \
	X(void, ckptio_future_free, (ckptio_future *))                       \
	X(ckptio_status, ckptio_load,                                        \
	  (ckptio_ctx *, const char *, ckptio_sd *, const ckptio_opts *))    \
	X(ckptio_status, ckptio_open,                                        \
	  (ckptio_ctx *, const char *, ckptio_ckpt **))                      \
	X(void, ckptio_ckpt_close, (ckptio_ckpt *))                          \
	X(size_t, ckptio_ckpt_count, (const ckptio_ckpt *))                  \
	X(ckptio_status, ckptio_ckpt_item,                                   \
	  (const ckptio_ckpt *, size_t, ckptio_item_info *))                 \
	X(size_t, ckptio_ckpt_find, (const ckptio_ckpt *, const char *))     \
	X(const char *, ckptio_ckpt_layout, (const ckptio_ckpt *))           \
	X(int, ckptio_ckpt_world, (const ckptio_ckpt *))                     \
	X(uint64_t, ckptio_ckpt_nbytes, (const ckptio_ckpt *))               \
	X(ckptio_status, ckptio_list,                                        \
	  (ckptio_ctx *, const char *, ckptio_list_fn, void *))              \
	X(ckptio_status, ckptio_verify,                                      \
	  (ckptio_ctx *, const char *, const ckptio_opts *))                 \
	X(ckptio_status, ckptio_remove,                                      \
	  (ckptio_ctx *, const char *, unsigned))                            \
	X(ckptio_status, ckptio_remove_ex,                                   \
	  (ckptio_ctx *, const char *, const ckptio_rm_opts *))              \
	X(ckptio_status, ckptio_ckpt_debris,                                 \
	  (ckptio_ckpt *, uint64_t, ckptio_rm_report *))                     \
	X(ckptio_status, ckptio_copy,                                        \
	  (ckptio_ctx *, const char *, const char *, const ckptio_opts *))   \
	X(ckptio_status, ckptio_plugins,                                     \
	  (ckptio_ctx *, ckptio_plugin_fn, void *))

#define PIN_PROTOTYPE(ret, name, args)                                       \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&name),       \
						    ret(*) args),            \
		       "prototype of " #name " changed");
API_FUNCTIONS(PIN_PROTOTYPE)

#define API_NAME(ret, name, args) #name,
static const char *const api_names[] = {API_FUNCTIONS(API_NAME)};
#define NAPI (sizeof(api_names) / sizeof(api_names[0]))

/* ------------------------------------------------------------------------ */
/* Layouts on x86_64 LP64                                                   */

typedef struct pin {
	const char *what;
	size_t got, want;
	size_t got_size, want_size; /* member size; 0 for a SIZE line */
} pin;

#define SIZE(T, n) {"sizeof(" #T ")", sizeof(T), n, 0, 0}
#define FIELD(T, f, off, size)                                               \
	{#T "." #f, offsetof(T, f), off, MEMBER_SIZE(T, f), size}

#if defined(__x86_64__) && defined(__LP64__)
#define PINNED_LAYOUTS 1
/* Generated once from the headers of ABI 1.0; edit only as the header
 * comment says. */
static const pin layouts[] = {
	SIZE(ckptio_coord, 56),
	FIELD(ckptio_coord, struct_size, 0, 4),
	FIELD(ckptio_coord, rank, 4, 4),
	FIELD(ckptio_coord, world, 8, 4),
	FIELD(ckptio_coord, self, 16, 8),
	FIELD(ckptio_coord, gather, 24, 8),
	FIELD(ckptio_coord, broadcast, 32, 8),
	FIELD(ckptio_coord, barrier, 40, 8),
	FIELD(ckptio_coord, errmsg, 48, 8), /* after 0.1.0 */
	SIZE(ckptio_opts, 48),
	FIELD(ckptio_opts, struct_size, 0, 4),
	FIELD(ckptio_opts, flags, 4, 4),
	FIELD(ckptio_opts, coord, 8, 8),
	FIELD(ckptio_opts, progress, 16, 8),
	FIELD(ckptio_opts, progress_user, 24, 8),
	FIELD(ckptio_opts, threads, 32, 4),
	FIELD(ckptio_opts, layout, 40, 8),
	SIZE(ckptio_rm_opts, 24),
	FIELD(ckptio_rm_opts, struct_size, 0, 4),
	FIELD(ckptio_rm_opts, flags, 4, 4),
	FIELD(ckptio_rm_opts, min_age, 8, 8),
	FIELD(ckptio_rm_opts, report, 16, 8),
	SIZE(ckptio_rm_report, 64),
	FIELD(ckptio_rm_report, struct_size, 0, 4),
	FIELD(ckptio_rm_report, removed, 8, 8),
	FIELD(ckptio_rm_report, removed_bytes, 16, 8),
	FIELD(ckptio_rm_report, debris, 24, 8),
	FIELD(ckptio_rm_report, debris_bytes, 32, 8),
	FIELD(ckptio_rm_report, kept_young, 40, 8),
	FIELD(ckptio_rm_report, kept_young_bytes, 48, 8),
	FIELD(ckptio_rm_report, foreign, 56, 8),
	SIZE(ckptio_item_info, 64),
	FIELD(ckptio_item_info, struct_size, 0, 4),
	FIELD(ckptio_item_info, name, 8, 8),
	FIELD(ckptio_item_info, kind, 16, 4),
	FIELD(ckptio_item_info, dtype, 20, 4),
	FIELD(ckptio_item_info, ndim, 24, 4),
	FIELD(ckptio_item_info, shape, 32, 8),
	FIELD(ckptio_item_info, nbytes, 40, 8),
	FIELD(ckptio_item_info, nchunks, 48, 8),
	SIZE(ckptio_plugin_info, 56),
	FIELD(ckptio_plugin_info, struct_size, 0, 4),
	FIELD(ckptio_plugin_info, name, 8, 8),
	FIELD(ckptio_plugin_info, kind, 16, 8),
	FIELD(ckptio_plugin_info, path, 24, 8),
	FIELD(ckptio_plugin_info, description, 32, 8),
	FIELD(ckptio_plugin_info, abi_version, 40, 4),
	FIELD(ckptio_plugin_info, caps, 48, 8),
	SIZE(ckptio_host, 168),
	FIELD(ckptio_host, abi_version, 0, 4),
	FIELD(ckptio_host, struct_size, 4, 4),
	FIELD(ckptio_host, log, 8, 8),
	FIELD(ckptio_host, error, 16, 8),
	FIELD(ckptio_host, config_get, 24, 8),
	FIELD(ckptio_host, config_size, 32, 8),
	FIELD(ckptio_host, config_uint, 40, 8),
	FIELD(ckptio_host, config_bool, 48, 8),
	FIELD(ckptio_host, config_enum, 56, 8),
	FIELD(ckptio_host, crc32c, 64, 8),
	FIELD(ckptio_host, md_new, 72, 8),
	FIELD(ckptio_host, md_add_item, 80, 8),
	FIELD(ckptio_host, md_add_chunk, 88, 8),
	FIELD(ckptio_host, md_set_attr, 96, 8),
	FIELD(ckptio_host, md_free, 104, 8),
	FIELD(ckptio_host, parallel_for, 112, 8), /* ABI 1.3 */
	FIELD(ckptio_host, md_to_json, 120, 8),
	FIELD(ckptio_host, md_from_json, 128, 8),
	FIELD(ckptio_host, remove_many, 136, 8),
	FIELD(ckptio_host, plan_bins, 144, 8), /* ABI 1.4 */
	FIELD(ckptio_host, crc32c_combine, 152, 8), /* ABI 1.7 */
	FIELD(ckptio_host, store_read_crc, 160, 8), /* ABI 1.7 */
	SIZE(ckptio_store, 24),
	FIELD(ckptio_store, ops, 0, 8),
	FIELD(ckptio_store, host, 8, 8),
	FIELD(ckptio_store, hc, 16, 8),
	SIZE(ckptio_range, 32),
	FIELD(ckptio_range, key, 0, 8),
	FIELD(ckptio_range, offset, 8, 8),
	FIELD(ckptio_range, length, 16, 8),
	FIELD(ckptio_range, buf, 24, 8),
	SIZE(ckptio_stat, 16),
	FIELD(ckptio_stat, size, 0, 8),
	FIELD(ckptio_stat, mtime, 8, 8),
	SIZE(ckptio_store_ops, 128),
	FIELD(ckptio_store_ops, struct_size, 0, 4),
	FIELD(ckptio_store_ops, caps, 8, 8),
	FIELD(ckptio_store_ops, open, 16, 8),
	FIELD(ckptio_store_ops, close, 24, 8),
	FIELD(ckptio_store_ops, put_open, 32, 8),
	FIELD(ckptio_store_ops, put_write, 40, 8),
	FIELD(ckptio_store_ops, put_commit, 48, 8),
	FIELD(ckptio_store_ops, put_abort, 56, 8),
	FIELD(ckptio_store_ops, read, 64, 8),
	FIELD(ckptio_store_ops, stat, 72, 8),
	FIELD(ckptio_store_ops, list, 80, 8),
	FIELD(ckptio_store_ops, remove, 88, 8),
	FIELD(ckptio_store_ops, remove_many, 96, 8),
	FIELD(ckptio_store_ops, put_target, 104, 8), /* ABI 1.2 */
	FIELD(ckptio_store_ops, instance_caps, 112, 8), /* ABI 1.3 */
	FIELD(ckptio_store_ops, read_crc, 120, 8), /* ABI 1.7 */
	SIZE(ckptio_plan_item, 88),
	FIELD(ckptio_plan_item, name, 0, 8),
	FIELD(ckptio_plan_item, kind, 8, 4),
	FIELD(ckptio_plan_item, dtype, 12, 4),
	FIELD(ckptio_plan_item, ndim, 16, 4),
	FIELD(ckptio_plan_item, global_shape, 24, 8),
	FIELD(ckptio_plan_item, offsets, 32, 8),
	FIELD(ckptio_plan_item, shape, 40, 8),
	FIELD(ckptio_plan_item, nbytes, 48, 8),
	FIELD(ckptio_plan_item, data, 56, 8),
	FIELD(ckptio_plan_item, read, 64, 8),
	FIELD(ckptio_plan_item, read_user, 72, 8),
	FIELD(ckptio_plan_item, has_crc, 80, 4), /* ABI 1.5 */
	FIELD(ckptio_plan_item, crc32c, 84, 4),
	SIZE(ckptio_plan, 32),
	FIELD(ckptio_plan, rank, 0, 4),
	FIELD(ckptio_plan, nitems, 8, 8),
	FIELD(ckptio_plan, items, 16, 8),
	FIELD(ckptio_plan, storage, 24, 8),
	SIZE(ckptio_write_result, 32),
	FIELD(ckptio_write_result, object, 0, 8),
	FIELD(ckptio_write_result, offset, 8, 8),
	FIELD(ckptio_write_result, length, 16, 8),
	FIELD(ckptio_write_result, crc32c, 24, 4),
	SIZE(ckptio_chunk_meta, 48),
	FIELD(ckptio_chunk_meta, offsets, 0, 8),
	FIELD(ckptio_chunk_meta, shape, 8, 8),
	FIELD(ckptio_chunk_meta, object, 16, 8),
	FIELD(ckptio_chunk_meta, offset, 24, 8),
	FIELD(ckptio_chunk_meta, length, 32, 8),
	FIELD(ckptio_chunk_meta, has_crc, 40, 4),
	FIELD(ckptio_chunk_meta, crc32c, 44, 4),
	SIZE(ckptio_item_meta, 56),
	FIELD(ckptio_item_meta, name, 0, 8),
	FIELD(ckptio_item_meta, kind, 8, 4),
	FIELD(ckptio_item_meta, dtype, 12, 4),
	FIELD(ckptio_item_meta, ndim, 16, 4),
	FIELD(ckptio_item_meta, shape, 24, 8),
	FIELD(ckptio_item_meta, nbytes, 32, 8),
	FIELD(ckptio_item_meta, nchunks, 40, 8),
	FIELD(ckptio_item_meta, chunks, 48, 8),
	SIZE(ckptio_metadata, 64),
	FIELD(ckptio_metadata, version, 0, 4),
	FIELD(ckptio_metadata, layout, 8, 8),
	FIELD(ckptio_metadata, world, 16, 4),
	FIELD(ckptio_metadata, nitems, 24, 8),
	FIELD(ckptio_metadata, items, 32, 8),
	FIELD(ckptio_metadata, nattrs, 40, 8),
	FIELD(ckptio_metadata, attr_keys, 48, 8),
	FIELD(ckptio_metadata, attr_values, 56, 8),
	SIZE(ckptio_layout_ops, 120),
	FIELD(ckptio_layout_ops, struct_size, 0, 4),
	FIELD(ckptio_layout_ops, commit_keys, 8, 8),
	FIELD(ckptio_layout_ops, writer_setup, 16, 8),
	FIELD(ckptio_layout_ops, prepare_local_plan, 24, 8),
	FIELD(ckptio_layout_ops, prepare_global_plan, 32, 8),
	FIELD(ckptio_layout_ops, write_data, 40, 8),
	FIELD(ckptio_layout_ops, finish, 48, 8),
	FIELD(ckptio_layout_ops, abort, 56, 8),
	FIELD(ckptio_layout_ops, writer_free, 64, 8),
	FIELD(ckptio_layout_ops, reader_setup, 72, 8),
	FIELD(ckptio_layout_ops, read_metadata, 80, 8),
	FIELD(ckptio_layout_ops, read_data, 88, 8),
	FIELD(ckptio_layout_ops, reader_free, 96, 8),
	FIELD(ckptio_layout_ops, owns_object, 104, 8), /* ABI 1.2 */
	FIELD(ckptio_layout_ops, read_data_crc, 112, 8), /* ABI 1.7 */
	SIZE(ckptio_plugin, 72),
	FIELD(ckptio_plugin, abi_version, 0, 4),
	FIELD(ckptio_plugin, struct_size, 4, 4),
	FIELD(ckptio_plugin, kind, 8, 4),
	FIELD(ckptio_plugin, name, 16, 8),
	FIELD(ckptio_plugin, description, 24, 8),
	FIELD(ckptio_plugin, options, 32, 8),
	FIELD(ckptio_plugin, schemes, 40, 8),
	FIELD(ckptio_plugin, secret_options, 48, 8),
	FIELD(ckptio_plugin, store, 56, 8),
	FIELD(ckptio_plugin, layout, 64, 8),
};
#else
#define PINNED_LAYOUTS 0
#endif

START_TEST(test_layouts)
{
#if PINNED_LAYOUTS
	char report[8192] = "";
	size_t len = 0, bad = 0;

	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const pin *p = &layouts[i];

		if (p->got == p->want && p->got_size == p->want_size)
			continue;
		bad++;
		if (len >= sizeof(report))
			continue;
		if (p->want_size)
			len += (size_t)snprintf(report + len,
						sizeof(report) - len,
						"\n  %s: offset %zu size %zu, "
						"pinned offset %zu size %zu",
						p->what, p->got, p->got_size,
						p->want, p->want_size);
		else
			len += (size_t)snprintf(report + len,
						sizeof(report) - len,
						"\n  %s is %zu, pinned %zu",
						p->what, p->got, p->want);
	}
	ck_assert_msg(bad == 0, "%zu ABI layout change(s):%s", bad, report);
#endif
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Enums, flags, capabilities, limits: append-only values                   */

typedef struct value {
	const char *what;
	long long got, want;
} value;

#define V(name, n) {#name, (long long)(name), n}

static const value values[] = {
	V(CKPTIO_OK, 0), V(CKPTIO_EINVAL, 1), V(CKPTIO_ENOMEM, 2),
	V(CKPTIO_EIO, 3), V(CKPTIO_ENOTFOUND, 4), V(CKPTIO_EEXIST, 5),
	V(CKPTIO_ECORRUPT, 6), V(CKPTIO_ECONFIG, 7), V(CKPTIO_EPLUGIN, 8),
	V(CKPTIO_EUNSUPPORTED, 9), V(CKPTIO_EAUTH, 10), V(CKPTIO_ENET, 11),
	V(CKPTIO_ECANCELED, 12), V(CKPTIO_ECOORD, 13), V(CKPTIO_ENOSPC, 14),
	V(CKPTIO_EINDOUBT, 15),

	V(CKPTIO_DTYPE_INVALID, 0), V(CKPTIO_F64, 1), V(CKPTIO_F32, 2),
	V(CKPTIO_F16, 3), V(CKPTIO_BF16, 4), V(CKPTIO_I64, 5),
	V(CKPTIO_I32, 6), V(CKPTIO_I16, 7), V(CKPTIO_I8, 8), V(CKPTIO_U8, 9),
	V(CKPTIO_BOOL, 10), V(CKPTIO_F8_E4M3, 11), V(CKPTIO_F8_E5M2, 12),
	V(CKPTIO_U16, 13), V(CKPTIO_U32, 14), V(CKPTIO_U64, 15),
	V(CKPTIO_F8_E8M0, 16), V(CKPTIO_F8_E4M3FNUZ, 17),
	V(CKPTIO_F8_E5M2FNUZ, 18), V(CKPTIO_C64, 19), V(CKPTIO_F4, 20),
	V(CKPTIO_F6_E2M3, 21), V(CKPTIO_F6_E3M2, 22),

	V(CKPTIO_LOG_ERROR, 0), V(CKPTIO_LOG_WARN, 1), V(CKPTIO_LOG_INFO, 2),
	V(CKPTIO_LOG_DEBUG, 3),
	V(CKPTIO_ITEM_TENSOR, 1), V(CKPTIO_ITEM_BYTES, 2),
	V(CKPTIO_PLUGIN_STORE, 1), V(CKPTIO_PLUGIN_LAYOUT, 2),

	V(CKPTIO_SAVE_OVERWRITE, 1), V(CKPTIO_SAVE_STAGE, 2),
	V(CKPTIO_LOAD_NO_VERIFY, 1), V(CKPTIO_LOAD_PARTIAL, 2),
	V(CKPTIO_RM_GC_ONLY, 1), V(CKPTIO_RM_DRY_RUN, 2), V(CKPTIO_PUT_IF_ABSENT, 1),
	V(CKPTIO_PUT_STABLE, 2),

	V(CKPTIO_STORE_CAP_WRITE, 1), V(CKPTIO_STORE_CAP_READ, 2),
	V(CKPTIO_STORE_CAP_RANGE, 4), V(CKPTIO_STORE_CAP_LIST, 8),
	V(CKPTIO_STORE_CAP_DELETE, 16), V(CKPTIO_STORE_CAP_ATOMIC_PUT, 32),
	V(CKPTIO_STORE_CAP_IF_ABSENT, 64), V(CKPTIO_STORE_CAP_COPY, 128),

	V(CKPTIO_MAX_NAME, 4096), V(CKPTIO_MAX_NDIM, 32),

	V(CKPTIO_ABI_MAJOR, 1), V(CKPTIO_ABI_MINOR, 7),
	V(CKPTIO_ABI_VERSION, 0x10007),
};

START_TEST(test_values)
{
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		ck_assert_msg(values[i].got == values[i].want,
			      "%s is %lld, pinned %lld", values[i].what,
			      values[i].got, values[i].want);
	/* Every status has its own text; the last known one too. */
	for (int s = CKPTIO_OK; s <= CKPTIO_EINDOUBT; s++)
		ck_assert_ptr_nonnull(ckptio_strerror((ckptio_status)s));
	ck_assert_ptr_nonnull(ckptio_strerror((ckptio_status)1000));
}
END_TEST

START_TEST(test_versions)
{
	char want[32];
	ckptio_opts opts = CKPTIO_OPTS_INIT;

	ck_assert_str_eq(CKPTIO_PLUGIN_ENTRY_SYMBOL, "ckptio_plugin_entry");
	snprintf(want, sizeof(want), "%d.%d.%d", CKPTIO_VERSION_MAJOR,
		 CKPTIO_VERSION_MINOR, CKPTIO_VERSION_PATCH);
	ck_assert_str_eq(ckptio_version(), want);
	ck_assert_uint_eq(opts.struct_size, sizeof(ckptio_opts));
	ck_assert_uint_eq(opts.flags, 0);
	ck_assert_ptr_null(opts.coord);
	ck_assert_ptr_null(opts.layout);
}
END_TEST

/* The core's own tables follow the rules it imposes on plugins. */
START_TEST(test_core_tables)
{
	const ckptio_plugin *native = &ckptio__native_layout_plugin;

	ck_assert_uint_eq(ckptio__host.abi_version, CKPTIO_ABI_VERSION);
	ck_assert_uint_eq(ckptio__host.struct_size, sizeof(ckptio_host));
	ck_assert_uint_eq(native->abi_version, CKPTIO_ABI_VERSION);
	ck_assert_uint_eq(native->struct_size, sizeof(ckptio_plugin));
	ck_assert_uint_eq(native->layout->struct_size,
			  sizeof(ckptio_layout_ops));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Exports of libckptio.so                                                  */

/* The shared library next to the CLI that `make check` points at. */
static char *shared_lib_path(void)
{
	const char *bin = getenv("CKPTIO_BIN");
	char *copy, *path;
	size_t len;

	ck_assert_msg(bin && *bin, "CKPTIO_BIN is not set (run `make check`)");
	copy = strdup(bin);
	ck_assert_ptr_nonnull(copy);
	len = strlen(copy) + sizeof("/.libs/libckptio.so");
	path = malloc(len);
	ck_assert_ptr_nonnull(path);
	snprintf(path, len, "%s/.libs/libckptio.so", dirname(copy));
	free(copy);
	return path;
}

/* Index of name in api_names, or -1. */
static int api_index(const char *name)
{
	for (size_t i = 0; i < NAPI; i++)
		if (strcmp(name, api_names[i]) == 0)
			return (int)i;
	return -1;
}

typedef struct elf_view {
	const unsigned char *base;
	size_t size;
} elf_view;

static int in_file(const elf_view *e, uint64_t off, uint64_t len)
{
	return off <= e->size && len <= e->size - off;
}

/* Check every defined global symbol of the ELF64 file's .dynsym: each
 * must be an API function; mark the ones seen. */
static void check_dynsym(const elf_view *e, const char *path,
			 unsigned char *seen)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)e->base;
	const Elf64_Shdr *sh;

	ck_assert_msg(in_file(e, 0, sizeof(*eh)) &&
			      memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
			      eh->e_ident[EI_CLASS] == ELFCLASS64,
		      "%s is not an ELF64 file", path);
	ck_assert(in_file(e, eh->e_shoff,
			  (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)));
	sh = (const Elf64_Shdr *)(e->base + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const Elf64_Shdr *strs;
		const Elf64_Sym *syms;
		size_t n;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		ck_assert(sh[i].sh_link < eh->e_shnum);
		strs = &sh[sh[i].sh_link];
		ck_assert(in_file(e, sh[i].sh_offset, sh[i].sh_size) &&
			  in_file(e, strs->sh_offset, strs->sh_size));
		syms = (const Elf64_Sym *)(e->base + sh[i].sh_offset);
		n = sh[i].sh_size / sizeof(Elf64_Sym);
		for (size_t k = 0; k < n; k++) {
			const char *name;
			int bind = ELF64_ST_BIND(syms[k].st_info), idx;

			/* Imports, locals, and the version node (ABS). */
			if (syms[k].st_shndx == SHN_UNDEF ||
			    syms[k].st_shndx == SHN_ABS ||
			    (bind != STB_GLOBAL && bind != STB_WEAK))
				continue;
			ck_assert(syms[k].st_name < strs->sh_size);
			name = (const char *)e->base + strs->sh_offset +
			       syms[k].st_name;
			idx = api_index(name);
			ck_assert_msg(idx >= 0,
				      "%s exports '%s', which is not a "
				      "function of ckptio.h",
				      path, name);
			seen[idx] = 1;
		}
	}
}

START_TEST(test_exports)
{
	char *path = shared_lib_path();
	unsigned char seen[NAPI] = {0};
	struct stat sb;
	elf_view e;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *map;

	ck_assert_msg(fd >= 0, "cannot open %s", path);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	e.base = map;
	e.size = (size_t)sb.st_size;
	/* Nothing but the API is exported, and all of it is. */
	check_dynsym(&e, path, seen);
	for (size_t i = 0; i < NAPI; i++)
		ck_assert_msg(seen[i], "%s does not export %s", path,
			      api_names[i]);
	munmap(map, (size_t)sb.st_size);
	close(fd);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = tcase_create("abi");

	if (!PINNED_LAYOUTS)
		fprintf(stderr, "check_abi: struct layouts are pinned for "
				"x86_64 LP64 only; not checked here\n");
	tcase_add_test(tc, test_layouts);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_core_tables);
	tcase_add_test(tc, test_exports);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
