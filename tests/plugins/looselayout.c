/*
 * looselayout.c - a layout plugin whose reader hands the core metadata in
 * an order and shape the core must check itself, for the loader suite
 * (tests/check_loader.c): items out of name order, and, with
 * $CKPTIO_LOOSE_OVERLAP set, two chunks of one tensor that overlap while
 * their sizes add up to the tensor's.  The core seals whatever a layout
 * returns, so lookups by name work and the overlap is refused.
 *
 * It only reads: the writer methods fail with CKPTIO_EUNSUPPORTED, and
 * read_data fills every range with its offset's low byte.  Its chunks
 * carry no checksum (CKPTIO_MD_ATTR_CHECKSUM "none").  Like any plugin
 * it uses only the host table.
 */
#include <stdlib.h>
#include <string.h>

#include <ckptio/plugin.h>

/* ------------------------------------------------------------------------ */
/* Private state                                                            */

typedef struct loose_reader {
	const ckptio_host *host;
	ckptio_host_ctx *hc;
} loose_reader;

static const char *const loose_commit_keys[] = {"loose.json", NULL};

/* ------------------------------------------------------------------------ */
/* Writer: not supported                                                    */

static ckptio_status lw_setup(const ckptio_host *host, ckptio_host_ctx *hc,
			      ckptio_store *store, const char *id, int rank,
			      int world, int is_coordinator, unsigned threads,
			      ckptio_writer **out)
{
	(void)store;
	(void)id;
	(void)rank;
	(void)world;
	(void)is_coordinator;
	(void)threads;
	*out = NULL;
	return host->error(hc, CKPTIO_EUNSUPPORTED, "looselayout only reads");
}

static ckptio_status lw_local(ckptio_writer *w, ckptio_plan *plan)
{
	(void)w;
	(void)plan;
	return CKPTIO_EUNSUPPORTED;
}

static ckptio_status lw_global(ckptio_writer *w, ckptio_plan *plans, int n)
{
	(void)w;
	(void)plans;
	(void)n;
	return CKPTIO_EUNSUPPORTED;
}

static ckptio_status lw_write(ckptio_writer *w, const ckptio_plan *plan,
			      ckptio_write_result *res,
			      int (*progress)(void *pu, uint64_t bytes), void *pu)
{
	(void)w;
	(void)plan;
	(void)res;
	(void)progress;
	(void)pu;
	return CKPTIO_EUNSUPPORTED;
}

static ckptio_status lw_finish(ckptio_writer *w, const ckptio_metadata *md,
			       int overwrite)
{
	(void)w;
	(void)md;
	(void)overwrite;
	return CKPTIO_EUNSUPPORTED;
}

static void lw_abort(ckptio_writer *w)
{
	(void)w;
}

static void lw_free(ckptio_writer *w)
{
	(void)w;
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */

static ckptio_status lr_setup(const ckptio_host *host, ckptio_host_ctx *hc,
			      ckptio_store *store, const char *id,
			      ckptio_reader **out)
{
	loose_reader *r = calloc(1, sizeof(*r));

	(void)store;
	(void)id;
	if (!r)
		return host->error(hc, CKPTIO_ENOMEM, "out of memory");
	r->host = host;
	r->hc = hc;
	*out = (ckptio_reader *)r;
	return CKPTIO_OK;
}

/* "zeta" then "alpha" (out of order); alpha: U8 [8] in two chunks, [0,4)
 * and [4,8) -- or, overlapping, [0,4) and [2,6). */
static ckptio_status lr_metadata(ckptio_reader *rd, ckptio_metadata **out)
{
	loose_reader *r = (loose_reader *)rd;
	const ckptio_host *h = r->host;
	const uint64_t shape[1] = {8}, half[1] = {4}, o0[1] = {0};
	const uint64_t o1[1] = {getenv("CKPTIO_LOOSE_OVERLAP") ? 2u : 4u};
	ckptio_metadata *md;
	size_t zeta, alpha;
	ckptio_status st;

	st = h->md_new(r->hc, "looselayout", &md);
	if (st != CKPTIO_OK)
		return st;
	/* Its chunks carry no CRC32C, and it says so. */
	if ((st = h->md_set_attr(r->hc, md, CKPTIO_MD_ATTR_CHECKSUM, "none")) ||
	    (st = h->md_add_item(r->hc, md, "zeta", CKPTIO_ITEM_BYTES,
				 CKPTIO_DTYPE_INVALID, 0, NULL, &zeta)) ||
	    (st = h->md_add_chunk(r->hc, md, zeta, NULL, NULL, "data", 0, 3, 0,
				  0)) ||
	    (st = h->md_add_item(r->hc, md, "alpha", CKPTIO_ITEM_TENSOR,
				 CKPTIO_U8, 1, shape, &alpha)) ||
	    (st = h->md_add_chunk(r->hc, md, alpha, o0, half, "data", 8, 4, 0,
				  0)) ||
	    (st = h->md_add_chunk(r->hc, md, alpha, o1, half, "data", 16, 4, 0,
				  0))) {
		h->md_free(md);
		return st;
	}
	*out = md;
	return CKPTIO_OK;
}

static ckptio_status lr_data(ckptio_reader *rd, const ckptio_range *ranges,
			     size_t n)
{
	(void)rd;
	for (size_t i = 0; i < n; i++)
		for (uint64_t k = 0; k < ranges[i].length; k++)
			((unsigned char *)ranges[i].buf)[k] =
				(unsigned char)(ranges[i].offset + k);
	return CKPTIO_OK;
}

static void lr_free(ckptio_reader *rd)
{
	free(rd);
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

static const struct ckptio_layout_ops loose_ops = {
	.struct_size = sizeof(struct ckptio_layout_ops),
	.commit_keys = loose_commit_keys,
	.writer_setup = lw_setup,
	.prepare_local_plan = lw_local,
	.prepare_global_plan = lw_global,
	.write_data = lw_write,
	.finish = lw_finish,
	.abort = lw_abort,
	.writer_free = lw_free,
	.reader_setup = lr_setup,
	.read_metadata = lr_metadata,
	.read_data = lr_data,
	.reader_free = lr_free,
};

static const ckptio_plugin loose_plugin = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_LAYOUT,
	.name = "looselayout",
	.description = "test layout: metadata out of order, or overlapping",
	.layout = &loose_ops,
};

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void)
{
	return &loose_plugin;
}
