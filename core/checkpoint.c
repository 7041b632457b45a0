/*
 * checkpoint.c - what saving, loading and the other operations on whole
 * checkpoints share: copying between boxes of a tensor, progress and
 * cancellation, opening a store and a checkpoint for
 * reading (with the metadata checks every reader relies on), and the one
 * checksum rule.  The save protocol is in save.c, the load in load.c.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

int ckptio__boxes_overlap(unsigned ndim, const uint64_t *aoff,
			  const uint64_t *ashape, const uint64_t *boff,
			  const uint64_t *bshape)
{
	for (unsigned d = 0; d < ndim; d++)
		if (aoff[d] >= boff[d] + bshape[d] ||
		    boff[d] >= aoff[d] + ashape[d] || !ashape[d] || !bshape[d])
			return 0;
	return 1;
}

void ckptio__copy_overlap(unsigned ndim, size_t esz, const uint64_t *soff,
			  const uint64_t *sshape, const void *src,
			  const uint64_t *doff, const uint64_t *dshape,
			  void *dst)
{
	uint64_t lo[CKPTIO_MAX_NDIM], hi[CKPTIO_MAX_NDIM], idx[CKPTIO_MAX_NDIM];
	uint64_t sstride[CKPTIO_MAX_NDIM], dstride[CKPTIO_MAX_NDIM];
	unsigned last;
	size_t run;

	if (ndim == 0) {
		memcpy(dst, src, esz);
		return;
	}
	for (unsigned d = ndim; d-- > 0;) {
		sstride[d] = d + 1 < ndim ? sstride[d + 1] * sshape[d + 1] : esz;
		dstride[d] = d + 1 < ndim ? dstride[d + 1] * dshape[d + 1] : esz;
		lo[d] = soff[d] > doff[d] ? soff[d] : doff[d];
		hi[d] = soff[d] + sshape[d] < doff[d] + dshape[d]
				? soff[d] + sshape[d] : doff[d] + dshape[d];
		if (lo[d] >= hi[d])
			return;
		idx[d] = lo[d];
	}
	/* Merge trailing dimensions that both boxes hold whole: one memcpy. */
	last = ndim - 1;
	run = (size_t)(hi[last] - lo[last]) * esz;
	while (last > 0 && lo[last] == soff[last] && lo[last] == doff[last] &&
	       hi[last] - lo[last] == sshape[last] &&
	       sshape[last] == dshape[last]) {
		last--;
		run *= (size_t)(hi[last] - lo[last]);
	}
	for (;;) {
		uint64_t so = 0, dof = 0;

		for (unsigned d = 0; d <= last; d++) {
			so += (idx[d] - soff[d]) * sstride[d];
			dof += (idx[d] - doff[d]) * dstride[d];
		}
		memcpy((char *)dst + dof, (const char *)src + so, run);
		/* Advance the odometer over dimensions 0..last-1. */
		unsigned d = last;
		for (;;) {
			if (d == 0)
				return;
			d--;
			if (++idx[d] < hi[d])
				break;
			idx[d] = lo[d];
		}
	}
}

void ckptio__progress_init(ckptio__progress *p, const ckptio_opts *o,
			   uint64_t total)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	p->fn = o ? o->progress : NULL;
	p->user = o ? o->progress_user : NULL;
	p->total = total;
}

int ckptio__progress_add(void *pu, uint64_t bytes)
{
	ckptio__progress *p = pu;
	uint64_t step;
	int cancel;

	pthread_mutex_lock(&p->mu);
	p->done += bytes;
	step = p->total / 100 < (64u << 20) ? p->total / 100 : (64u << 20);
	if (p->fn && !p->cancel &&
	    (p->done - p->last >= step || p->done >= p->total)) {
		p->last = p->done;
		__atomic_store_n(&p->cancel,
				 p->fn(p->user, p->done, p->total) != 0,
				 __ATOMIC_RELAXED);
	}
	cancel = p->cancel;
	pthread_mutex_unlock(&p->mu);
	return cancel;
}

ckptio_status ckptio__store_open(ckptio_ctx *ctx, ckptio__loc *loc,
				 ckptio_host_ctx *hc, int create,
				 ckptio_store **out)
{
	const struct ckptio_store_ops *ops = loc->store_plugin->desc->store;
	ckptio_status st;

	*out = NULL;
	if (create && !(ops->caps & CKPTIO_STORE_CAP_WRITE))
		return ckptio__error(ctx, CKPTIO_EUNSUPPORTED,
				     "store '%s' is read-only",
				     loc->store_plugin->desc->name);
	st = ops->open(&ckptio__host, hc, loc->root, create, out);
	if (st == CKPTIO_OK && create &&
	    ckptio__store_require(hc, loc, *out, CKPTIO_STORE_CAP_WRITE)) {
		(*out)->ops->close(*out); /* read-only as configured */
		st = CKPTIO_EUNSUPPORTED;
	}
	if (st != CKPTIO_OK) {
		*out = NULL;
		return ckptio__hc_finish(hc, st);
	}
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Opening for reading                                                      */

/* Layout detection: a location whose layout was not named is read with
 * the native layout when its commit key is there, else with the first
 * other layout plugin of the search path one of whose commit keys is
 * (a safetensors model: model.safetensors.index.json or
 * model.safetensors).  Only a location without a native checkpoint pays
 * for the scan. */
typedef struct layouts {
	char **names;
	size_t n;
	int oom;
} layouts;

static int collect_layout(void *user, const ckptio_plugin_info *info)
{
	layouts *l = user;
	char **v;

	if (strcmp(info->kind, "layout") != 0 ||
	    strcmp(info->name, "native") == 0)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], info->name) == 0)
			return 0;
	v = realloc(l->names, (l->n + 1) * sizeof(*v));
	if (!v || !(v[l->n] = strdup(info->name))) {
		if (v)
			l->names = v;
		l->oom = 1;
		return 1;
	}
	l->names = v;
	l->n++;
	return 0;
}

/* 1 when a commit key of lo exists under id in st; 0 when none does; -1
 * when one is there but the store refused it (a link, a FIFO, no
 * permission: the store recorded why). */
static int has_commit_key(const struct ckptio_layout_ops *lo, ckptio_store *st,
			  const char *id)
{
	int rc = 0;

	for (const char *const *c = lo->commit_keys; *c; c++) {
		char *key = ckptio__join(id, *c);
		ckptio_stat sb;
		ckptio_status s = key ? st->ops->stat(st, key, &sb) : CKPTIO_ENOMEM;

		free(key);
		if (s == CKPTIO_OK)
			return 1;
		if (s != CKPTIO_ENOTFOUND && s != CKPTIO_ENOMEM)
			rc = -1;
	}
	return rc;
}

size_t ckptio__other_layouts(ckptio_ctx *ctx, const ckptio__plugin **out,
			     size_t max)
{
	layouts l = {0};
	size_t n = 0;

	/* Layouts loaded already (the scan reports only new ones), then
	 * the search path; plugins that fail to load are logged by the scan,
	 * not errors. */
	for (size_t i = 0; i < ctx->nplugins && !l.oom; i++)
		if (ctx->plugins[i]->desc->kind == CKPTIO_PLUGIN_LAYOUT)
			collect_layout(&l, &(ckptio_plugin_info){
						   .name = ctx->plugins[i]->desc->name,
						   .kind = "layout"});
	if (!l.oom && ckptio_plugins(ctx, collect_layout, &l) == CKPTIO_OK)
		for (size_t i = 0; i < l.n && n < max; i++)
			if (ckptio__plugin_get(ctx, l.names[i],
					       CKPTIO_PLUGIN_LAYOUT,
					       &out[n]) == CKPTIO_OK)
				n++;
	ctx->errmsg[0] = '\0';
	ckptio__strv_free(l.names, l.n);
	return n;
}

/* The layout whose commit key is there.  When none is, but one layout's
 * commit key is there and refused (model.safetensors a FIFO), that
 * layout's reader runs and says so, rather than "no checkpoint". */
static void detect_layout(ckptio_ctx *ctx, ckptio__rd *rd)
{
	const ckptio__plugin *others[CKPTIO__MAX_LAYOUTS], *refused = NULL;
	size_t n;
	int h;

	if (rd->loc.layout_explicit)
		return;
	h = has_commit_key(rd->loc.layout_plugin->desc->layout, rd->store,
			   rd->loc.id);
	if (h == 1)
		return;
	if (h < 0)
		refused = rd->loc.layout_plugin;
	n = ckptio__other_layouts(ctx, others, CKPTIO__MAX_LAYOUTS);
	for (size_t i = 0; i < n; i++) {
		if (others[i] == rd->loc.layout_plugin)
			continue;
		h = has_commit_key(others[i]->desc->layout, rd->store,
				   rd->loc.id);
		if (h == 1) {
			ckptio__log(ctx, CKPTIO_LOG_DEBUG,
				    "%s: layout '%s' (detected)", rd->loc.id,
				    others[i]->desc->name);
			rd->loc.layout_plugin = others[i];
			return;
		}
		if (h < 0 && !refused)
			refused = others[i];
	}
	if (refused)
		rd->loc.layout_plugin = refused;
}

ckptio_status ckptio__rd_open(ckptio_ctx *ctx, const char *location,
			      unsigned threads, ckptio__rd *rd)
{
	const struct ckptio_layout_ops *lo;
	ckptio_status st;

	memset(rd, 0, sizeof(*rd));
	st = ckptio__loc_resolve(ctx, location, NULL, &rd->loc);
	if (st != CKPTIO_OK)
		return st;
	ckptio__hc_init(&rd->hc, ctx, rd->loc.section, rd->loc.defaults);
	rd->hc.threads = threads ? threads : rd->loc.threads;
	rd->hc_live = 1;
	st = ckptio__store_open(ctx, &rd->loc, &rd->hc, 0, &rd->store);
	if (st == CKPTIO_OK)
		st = ckptio__store_require(&rd->hc, &rd->loc, rd->store,
					   CKPTIO_STORE_CAP_READ);
	if (st == CKPTIO_OK)
		detect_layout(ctx, rd);
	lo = rd->loc.layout_plugin->desc->layout;
	if (st == CKPTIO_OK)
		st = lo->reader_setup(&ckptio__host, &rd->hc, rd->store,
				      rd->loc.id, &rd->reader);
	if (st == CKPTIO_OK)
		st = lo->read_metadata(rd->reader, &rd->md);
	/* Whatever a layout built goes through the same checks (sorted
	 * names for lookups, chunks tiling each tensor): a no-op for
	 * metadata the core parsed and sealed itself. */
	if (st == CKPTIO_OK && !rd->md)
		st = ckptio__hc_error(&rd->hc, CKPTIO_EPLUGIN,
				      "layout '%s' returned no metadata",
				      rd->loc.layout_plugin->desc->name);
	if (st == CKPTIO_OK)
		st = ckptio__md_seal(&rd->hc, location, rd->md);
	if (st == CKPTIO_OK) {
		/* Named after the key that commits it: the metadata. */
		char *what = ckptio__join(rd->loc.id, lo->commit_keys[0]);

		st = what ? ckptio__md_check_sums(&rd->hc, what, rd->md)
			  : ckptio__hc_error(&rd->hc, CKPTIO_ENOMEM,
					     "out of memory");
		free(what);
	}
	if (st != CKPTIO_OK) {
		ckptio__hc_finish(&rd->hc, st);
		ckptio__rd_close(rd);
	}
	return st;
}

/* What rank 0 broadcasts in a collective open: "S LAYOUT\n" and the
 * metadata's JSON, or "S\n" and rank 0's message (S its status). */
static char *coll_answer(ckptio_ctx *ctx, ckptio__rd *rd, ckptio_status st,
			 size_t *len)
{
	char *md = NULL, *out;
	size_t mlen = 0;

	if (st == CKPTIO_OK && !(md = ckptio__md_to_json(rd->md, &mlen)))
		st = CKPTIO_ENOMEM;
	if (st == CKPTIO_OK)
		out = ckptio__asprintf("%d %s\n%.*s", (int)st,
				       rd->loc.layout_plugin->desc->name,
				       (int)mlen, md);
	else
		out = ckptio__asprintf("%d\n%s", (int)st,
				       st == CKPTIO_ENOMEM && !ctx->errmsg[0]
					       ? "out of memory"
					       : ctx->errmsg);
	free(md);
	*len = out ? strlen(out) : 0;
	return out;
}

/* A rank other than 0: the store and the layout's reader, with the
 * metadata rank 0 read (answer: coll_answer's text). */
static ckptio_status coll_adopt(ckptio_ctx *ctx, const char *location,
				unsigned threads, const char *answer,
				size_t alen, ckptio__rd *rd)
{
	const char *nl = memchr(answer, '\n', alen);
	char head[96], layout[65] = ""; /* plugin names: 1 to 64 bytes */
	int st0 = CKPTIO_ECOORD, n = 0;
	const ckptio__plugin *lp;
	ckptio_status st;

	memset(rd, 0, sizeof(*rd));
	/* The first line, as a string (the bytes have no NUL). */
	if (nl && (size_t)(nl - answer) < sizeof(head)) {
		memcpy(head, answer, (size_t)(nl - answer));
		head[nl - answer] = '\0';
	}
	if (!nl || (size_t)(nl - answer) >= sizeof(head) ||
	    sscanf(head, "%d%n", &st0, &n) != 1)
		return ckptio__error(ctx, CKPTIO_ECOORD, "%s: rank 0 sent no "
				     "metadata", location);
	if (st0 != CKPTIO_OK)
		return ckptio__error(ctx, (ckptio_status)st0, "rank 0: %.*s",
				     (int)(alen - (size_t)(nl + 1 - answer)),
				     nl + 1);
	if (sscanf(head + n, " %64s", layout) != 1)
		return ckptio__error(ctx, CKPTIO_ECOORD, "%s: rank 0 sent no "
				     "layout", location);
	st = ckptio__loc_resolve(ctx, location, NULL, &rd->loc);
	if (st != CKPTIO_OK)
		return st;
	ckptio__hc_init(&rd->hc, ctx, rd->loc.section, rd->loc.defaults);
	rd->hc.threads = threads ? threads : rd->loc.threads;
	rd->hc_live = 1;
	st = ckptio__plugin_get(ctx, layout, CKPTIO_PLUGIN_LAYOUT, &lp);
	if (st == CKPTIO_OK)
		rd->loc.layout_plugin = lp;
	if (st == CKPTIO_OK)
		st = ckptio__store_open(ctx, &rd->loc, &rd->hc, 0, &rd->store);
	if (st == CKPTIO_OK)
		st = ckptio__store_require(&rd->hc, &rd->loc, rd->store,
					   CKPTIO_STORE_CAP_READ);
	if (st == CKPTIO_OK)
		st = lp->desc->layout->reader_setup(&ckptio__host, &rd->hc,
						    rd->store, rd->loc.id,
						    &rd->reader);
	if (st == CKPTIO_OK)
		st = ckptio__md_from_json(&rd->hc, location, nl + 1,
					  alen - (size_t)(nl + 1 - answer),
					  &rd->md);
	if (st == CKPTIO_OK)
		st = ckptio__md_seal(&rd->hc, location, rd->md);
	if (st != CKPTIO_OK) {
		ckptio__hc_finish(&rd->hc, st);
		ckptio__rd_close(rd);
	}
	return st;
}

/* Whether every rank may take rank 0's metadata for this location: its
 * layout reads data from the metadata alone (ABI 1.6). */
static int coll_layout_ok(const ckptio__plugin *p)
{
	return p && (p->desc->abi_version & 0xffff) >= 6;
}

ckptio_status ckptio__rd_open_coll(ckptio_ctx *ctx, const char *location,
				   unsigned threads, const ckptio_coord *co,
				   ckptio__rd *rd)
{
	ckptio_status st = CKPTIO_OK;
	void *buf = NULL;
	size_t len = 0;
	char why[512];

	if (!co || co->world <= 1)
		return ckptio__rd_open(ctx, location, threads, rd);
	if (co->rank == 0) {
		char *ans;

		st = ckptio__rd_open(ctx, location, threads, rd);
		/* A layout that needs its own read_metadata on every rank:
		 * the others are told to read it themselves (status -1). */
		if (st == CKPTIO_OK && !coll_layout_ok(rd->loc.layout_plugin))
			ans = ckptio__asprintf("-1\n");
		else
			ans = coll_answer(ctx, rd, st, &len);
		buf = ans ? ans : (void *)"13\nrank 0 ran out of memory";
		len = strlen(buf);
		if (co->broadcast(co->self, &buf, &len) != CKPTIO_OK &&
		    st == CKPTIO_OK) {
			ckptio__rd_close(rd);
			st = ckptio__error(ctx, CKPTIO_ECOORD, "%s: the "
					   "coordinator failed to broadcast the "
					   "metadata%s", location,
					   ckptio__coord_why(co, why,
							     sizeof(why)));
		}
		free(ans);
		return st;
	}
	if (co->broadcast(co->self, &buf, &len) != CKPTIO_OK)
		return ckptio__error(ctx, CKPTIO_ECOORD, "%s: the coordinator "
				     "failed to broadcast the metadata%s",
				     location,
				     ckptio__coord_why(co, why, sizeof(why)));
	if (len >= 2 && memcmp(buf, "-1", 2) == 0)
		st = ckptio__rd_open(ctx, location, threads, rd);
	else
		st = coll_adopt(ctx, location, threads, buf, len, rd);
	free(buf);
	return st;
}

void ckptio__rd_close(ckptio__rd *rd)
{
	const struct ckptio_layout_ops *lo =
		rd->loc.layout_plugin ? rd->loc.layout_plugin->desc->layout : NULL;

	ckptio__md_free(rd->md);
	if (rd->reader)
		lo->reader_free(rd->reader);
	if (rd->store)
		rd->store->ops->close(rd->store);
	if (rd->hc_live)
		ckptio__hc_destroy(&rd->hc);
	ckptio__loc_free(&rd->loc);
	memset(rd, 0, sizeof(*rd));
}

/* ------------------------------------------------------------------------ */
/* Checksums                                                                */

/* The metadata's CKPTIO_MD_ATTR_CHECKSUM, or NULL: CRC32C. */
static const char *md_checksum(const ckptio_metadata *md)
{
	for (size_t i = 0; i < md->nattrs; i++)
		if (strcmp(md->attr_keys[i], CKPTIO_MD_ATTR_CHECKSUM) == 0)
			return md->attr_values[i];
	return NULL;
}

static int md_checksummed(const ckptio_metadata *md)
{
	const char *sum = md_checksum(md);

	return !sum || strcmp(sum, "none") != 0;
}

/* The native layout writes a CRC32C for every chunk, so a chunk without
 * one was stripped (to slip altered data past the check) or written by
 * another tool; a layout that keeps no checksums says so, and is then read
 * on trust.  An empty chunk's CRC32C is that of no bytes: 0. */
ckptio_status ckptio__md_check_sums(ckptio_host_ctx *hc, const char *what,
				    const ckptio_metadata *md)
{
	const char *sum = md_checksum(md);
	int checksummed = md_checksummed(md);

	if (sum && checksummed && strcmp(sum, "crc32c") != 0)
		return ckptio__hc_error(hc, CKPTIO_EUNSUPPORTED,
					"%s: checksum '%.64s' (attribute %s) is "
					"not one this ckptio knows (crc32c, "
					"none)",
					what, sum, CKPTIO_MD_ATTR_CHECKSUM);
	for (size_t i = 0; i < md->nitems; i++) {
		const ckptio_item_meta *im = &md->items[i];

		for (size_t c = 0; c < im->nchunks; c++) {
			const ckptio_chunk_meta *cm = &im->chunks[c];

			if (!cm->has_crc && checksummed)
				return ckptio__hc_error(
					hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s', chunk %zu (object "
					"'%s', bytes %llu..%llu) has no crc32c: "
					"every chunk of this layout has one, so "
					"the metadata was altered or written by "
					"another tool",
					what, im->name, c, cm->object,
					(unsigned long long)cm->offset,
					(unsigned long long)(cm->offset +
							     cm->length));
			if (cm->has_crc && cm->length == 0 && cm->crc32c != 0)
				return ckptio__hc_error(
					hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s', chunk %zu (object "
					"'%s') is empty, so its CRC32C must be "
					"00000000, not %08x",
					what, im->name, c, cm->object,
					cm->crc32c);
		}
	}
	return CKPTIO_OK;
}

ckptio_status ckptio__chunk_crc(ckptio_host_ctx *hc,
				const ckptio_item_meta *im,
				const ckptio_chunk_meta *cm, uint32_t crc)
{
	if (!cm->has_crc || crc == cm->crc32c)
		return CKPTIO_OK;
	return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
				"item '%.200s': data in object '%s' (bytes "
				"%llu..%llu) fails its CRC32C check (stored "
				"%08x, read %08x)",
				im->name, cm->object,
				(unsigned long long)cm->offset,
				(unsigned long long)(cm->offset + cm->length),
				cm->crc32c, crc);
}
