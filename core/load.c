/*
 * load.c - ckptio_load: each requested chunk read straight into the
 * caller's buffer where a saved chunk is exactly it, or assembled from the
 * saved chunks it overlaps (resharding), every chunk CRC32C-checked.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Load                                                                     */

#define RESHARD_BATCH (256u << 20) /* temp bytes in flight while resharding */

typedef struct want {
	const ckptio_item_meta *im; /* saved item */
	const ckptio_chunk_meta *cm; /* saved chunk */
	ckptio_range rg;
	const ckptio_plan_item *dst; /* requested chunk (resharding) */
} want;

typedef struct loader {
	ckptio_ctx *ctx;
	ckptio__rd rd;
	int verify;
	want *direct;
	size_t ndirect, cdirect;
	want *reshard; /* one per (saved chunk, requested chunk) pair */
	size_t nreshard, creshard;
	struct batch *batches; /* of direct, for load_direct */
	ckptio__progress prog;
} loader;

static ckptio_status push_want(loader *l, want **v, size_t *n, size_t *cap,
			       want w)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		want *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return ckptio__error(l->ctx, CKPTIO_ENOMEM, "out of memory");
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = w;
	return CKPTIO_OK;
}

static ckptio_status check_crc(loader *l, const want *w, const void *buf)
{
	if (!l->verify || !w->cm->has_crc)
		return CKPTIO_OK;
	return ckptio__chunk_crc(&l->rd.hc, w->im, w->cm,
				 ckptio__crc32c(0, buf, w->cm->length));
}

/* Match one requested item against the saved one: direct reads where a
 * saved chunk is exactly the requested box, resharding otherwise. */
static ckptio_status plan_item(loader *l, const ckptio__sd_item *si)
{
	const ckptio_plan_item *pi = &si->pi;
	size_t idx = ckptio__md_find(l->rd.md, pi->name);
	const ckptio_item_meta *im;
	uint64_t covered = 0, want_elems = 1;
	ckptio_status st = CKPTIO_OK;

	if (idx == (size_t)-1)
		return ckptio__error(l->ctx, CKPTIO_ENOTFOUND,
				     "item '%.200s' is not in the checkpoint",
				     pi->name);
	im = &l->rd.md->items[idx];
	if (im->kind != pi->kind ||
	    (pi->kind == CKPTIO_ITEM_TENSOR &&
	     (im->dtype != pi->dtype || im->ndim != pi->ndim ||
	      (pi->ndim && memcmp(im->shape, pi->global_shape,
				  pi->ndim * sizeof(uint64_t))))))
		return ckptio__error(l->ctx, CKPTIO_EINVAL,
				     "item '%.200s': the checkpoint has a %s "
				     "%s of another type or global shape",
				     pi->name,
				     im->kind == CKPTIO_ITEM_TENSOR
					     ? ckptio_dtype_name(im->dtype) : "",
				     im->kind == CKPTIO_ITEM_TENSOR ? "tensor"
								    : "bytes item");
	if (pi->kind == CKPTIO_ITEM_BYTES) {
		if (im->nbytes != pi->nbytes)
			return ckptio__error(l->ctx, CKPTIO_EINVAL,
					     "item '%.200s': saved with %llu "
					     "bytes, the buffer has %llu",
					     pi->name,
					     (unsigned long long)im->nbytes,
					     (unsigned long long)pi->nbytes);
		return push_want(l, &l->direct, &l->ndirect, &l->cdirect,
				 (want){im, &im->chunks[0],
					{im->chunks[0].object,
					 im->chunks[0].offset,
					 im->chunks[0].length, si->wdata},
					pi});
	}
	for (unsigned d = 0; d < pi->ndim; d++)
		want_elems *= pi->shape[d];
	for (size_t c = 0; c < im->nchunks && st == CKPTIO_OK; c++) {
		const ckptio_chunk_meta *cm = &im->chunks[c];
		uint64_t ov = 1;

		if (!ckptio__boxes_overlap(pi->ndim, cm->offsets, cm->shape,
					   pi->offsets, pi->shape) &&
		    pi->ndim > 0)
			continue;
		for (unsigned d = 0; d < pi->ndim; d++) {
			uint64_t lo = cm->offsets[d] > pi->offsets[d]
					      ? cm->offsets[d] : pi->offsets[d];
			uint64_t a = cm->offsets[d] + cm->shape[d];
			uint64_t b = pi->offsets[d] + pi->shape[d];

			ov *= (a < b ? a : b) - lo;
		}
		covered += ov;
		if (memcmp(cm->offsets, pi->offsets, pi->ndim * 8) == 0 &&
		    memcmp(cm->shape, pi->shape, pi->ndim * 8) == 0)
			st = push_want(l, &l->direct, &l->ndirect, &l->cdirect,
				       (want){im, cm,
					      {cm->object, cm->offset,
					       cm->length, si->wdata},
					      pi});
		else if (ckptio_dtype_bits(im->dtype) % 8 != 0)
			st = ckptio__error(l->ctx, CKPTIO_EUNSUPPORTED,
					   "item '%.200s': %s has %u-bit "
					   "elements, which load only in the "
					   "chunks they were saved in: the "
					   "requested chunk is not one of them "
					   "(resharding a sub-byte tensor is "
					   "not supported)",
					   pi->name, ckptio_dtype_name(im->dtype),
					   ckptio_dtype_bits(im->dtype));
		else
			st = push_want(l, &l->reshard, &l->nreshard,
				       &l->creshard,
				       (want){im, cm,
					      {cm->object, cm->offset,
					       cm->length, NULL},
					      pi});
	}
	if (st == CKPTIO_OK && covered != want_elems && pi->nbytes)
		return ckptio__error(l->ctx, CKPTIO_ECORRUPT,
				     "item '%.200s': saved chunks cover %llu "
				     "of the %llu elements asked for",
				     pi->name, (unsigned long long)covered,
				     (unsigned long long)want_elems);
	return st;
}

/* Direct reads go to the layout in batches of chunks that lie together
 * (sorted by object and offset), up to BATCH_BYTES or BATCH_RANGES each,
 * on the operation's worker threads: a store sees many ranges at once and
 * can coalesce neighbours and keep its own requests in flight (S3), or
 * read a run of small chunks from one open file (posix), instead of one
 * call per chunk.  Each batch's CRCs are checked right after its read.
 * BATCH_BYTES sets the bytes in flight, threads x BATCH_BYTES, and a
 * thread's batch ends with its slowest request: with the default 4
 * threads, 256 MiB batches are 64 GETs of 16 MiB queued for the network
 * stores' 16 connections, which then never wait for a batch to end.  64
 * MiB (16 GETs, one per connection) left connections idle at each batch's
 * tail: a 1 GiB load through 20 ms each way (bench/http.sh --delay 20)
 * took 1.24-1.3 s against 1.07-1.19 s with 256 MiB (2026-12-03; 16 MiB
 * batches had kept only 4 to 8 GETs in flight).  The loads write straight
 * into the caller's buffers: a batch's size costs no memory.  The posix
 * store fans a batch out on the same pool, so fewer, larger batches cost
 * it nothing (a warm 1 GiB load 0.13-0.17 s either way). */
#define BATCH_BYTES (256u << 20)
#define BATCH_RANGES 4096u

typedef struct batch {
	size_t first, n; /* l->direct[first, first + n) */
} batch;

static int by_place(const void *a, const void *b)
{
	const want *x = a, *y = b;
	int c = strcmp(x->rg.key, y->rg.key);

	if (c)
		return c;
	return x->rg.offset < y->rg.offset ? -1 : x->rg.offset > y->rg.offset;
}

static ckptio_status load_batch(void *arg, size_t k)
{
	loader *l = arg;
	const struct ckptio_layout_ops *lo = l->rd.loc.layout_plugin->desc->layout;
	const batch *b = &l->batches[k];
	ckptio_range *rgs = malloc(b->n * sizeof(*rgs));
	uint32_t *crcs;
	uint64_t bytes = 0;
	ckptio_status st = CKPTIO_OK;

	/* Written under the progress lock; a stale read only delays. */
	if (__atomic_load_n(&l->prog.cancel, __ATOMIC_RELAXED)) {
		free(rgs);
		return CKPTIO_ECANCELED;
	}
	if (!rgs)
		return ckptio__hc_error(&l->rd.hc, CKPTIO_ENOMEM,
					"out of memory");
	for (size_t i = 0; i < b->n; i++)
		rgs[i] = l->direct[b->first + i].rg;
	/* Checksums computed by the layout and store as the bytes pass
	 * through the CPU cache, where they can (ABI 1.7): a second pass
	 * over the caller's memory costs as much as the read itself. */
	crcs = l->verify ? ckptio__read_crcs(lo, b->n) : NULL;
	if (crcs)
		st = lo->read_data_crc(l->rd.reader, rgs, b->n, crcs);
	else
		st = lo->read_data(l->rd.reader, rgs, b->n);
	free(rgs);
	/* A store's error names the object; add an item stored there. */
	for (size_t i = 0; st != CKPTIO_OK && i < b->n; i++)
		ckptio__hc_item_context(&l->rd.hc, l->direct[b->first + i].im->name,
					l->direct[b->first + i].cm->object);
	for (size_t i = 0; st == CKPTIO_OK && i < b->n; i++) {
		const want *w = &l->direct[b->first + i];

		if (crcs && w->cm->has_crc)
			st = ckptio__chunk_crc(&l->rd.hc, w->im, w->cm,
					       crcs[i]);
		else
			st = check_crc(l, w, w->rg.buf);
		bytes += w->rg.length;
	}
	free(crcs);
	if (st == CKPTIO_OK && ckptio__progress_add(&l->prog, bytes))
		st = ckptio__hc_error(&l->rd.hc, CKPTIO_ECANCELED,
				      "load cancelled");
	return st;
}

/* Chunks that match the requested boxes exactly: straight into the
 * caller's buffers, batch by batch. */
static ckptio_status load_direct(loader *l)
{
	size_t nb = 0;
	uint64_t bytes = 0;

	if (l->ndirect == 0)
		return CKPTIO_OK;
	qsort(l->direct, l->ndirect, sizeof(*l->direct), by_place);
	l->batches = malloc(l->ndirect * sizeof(*l->batches));
	if (!l->batches)
		return ckptio__error(l->ctx, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < l->ndirect; i++) {
		uint64_t len = l->direct[i].rg.length;

		if (nb == 0 || l->batches[nb - 1].n == BATCH_RANGES ||
		    bytes + len > BATCH_BYTES) {
			l->batches[nb++] = (batch){i, 0};
			bytes = 0;
		}
		l->batches[nb - 1].n++;
		bytes += len;
	}
	return ckptio__pool_for(ckptio__hc_pool(&l->rd.hc), nb, load_batch, l);
}

static int by_chunk(const void *a, const void *b)
{
	const want *x = a, *y = b;

	return x->cm < y->cm ? -1 : x->cm > y->cm;
}

/* Saved chunks that straddle requested boxes: read each once into a
 * temporary buffer (bounded by RESHARD_BATCH, or one chunk), verify,
 * copy the overlaps. */
static ckptio_status load_reshard(loader *l)
{
	const struct ckptio_layout_ops *lo = l->rd.loc.layout_plugin->desc->layout;
	ckptio_status st = CKPTIO_OK;
	size_t i = 0;

	if (l->nreshard)
		qsort(l->reshard, l->nreshard, sizeof(*l->reshard), by_chunk);
	while (st == CKPTIO_OK && i < l->nreshard) {
		ckptio_range rgs[64];
		size_t nrg = 0, j = i;
		uint64_t bytes = 0;

		/* Pick distinct chunks while within budget. */
		while (j < l->nreshard && nrg < 64) {
			if (j == i || l->reshard[j].cm != l->reshard[j - 1].cm) {
				if (nrg > 0 &&
				    bytes + l->reshard[j].cm->length > RESHARD_BATCH)
					break;
				rgs[nrg] = l->reshard[j].rg;
				rgs[nrg].buf = malloc(l->reshard[j].cm->length
							      ? l->reshard[j].cm->length
							      : 1);
				if (!rgs[nrg].buf) {
					st = ckptio__error(l->ctx, CKPTIO_ENOMEM,
							   "out of memory");
					break;
				}
				bytes += l->reshard[j].cm->length;
				nrg++;
			}
			l->reshard[j].rg.buf = rgs[nrg - 1].buf;
			j++;
		}
		if (st == CKPTIO_OK)
			st = lo->read_data(l->rd.reader, rgs, nrg);
		/* The item of the chunk whose object the error names. */
		for (size_t k = i; st != CKPTIO_OK && nrg > 0 && k < j; k++)
			ckptio__hc_item_context(&l->rd.hc,
						l->reshard[k].im->name,
						l->reshard[k].cm->object);
		for (size_t k = i; st == CKPTIO_OK && k < j; k++) {
			const want *w = &l->reshard[k];

			if (k == i || w->cm != l->reshard[k - 1].cm)
				st = check_crc(l, w, w->rg.buf);
			/* (plan_item keeps sub-byte tensors out of here.) */
			if (st == CKPTIO_OK &&
			    ckptio__copy_box(w->im->dtype, w->im->ndim,
					     w->cm->offsets, w->cm->shape,
					     w->rg.buf, w->dst->offsets,
					     w->dst->shape,
					     (void *)w->dst->data) != 0)
				st = ckptio__error(l->ctx, CKPTIO_EUNSUPPORTED,
						   "item '%.200s': cannot "
						   "copy %s elements between "
						   "these chunks",
						   w->im->name,
						   ckptio_dtype_name(
							   w->im->dtype));
		}
		for (size_t k = 0; k < nrg; k++)
			free(rgs[k].buf);
		if (st == CKPTIO_OK && ckptio__progress_add(&l->prog, bytes))
			st = ckptio__hc_error(&l->rd.hc, CKPTIO_ECANCELED,
					      "load cancelled");
		i = j;
	}
	return st;
}

ckptio_status ckptio_load(ckptio_ctx *ctx, const char *location,
			  ckptio_sd *sd, const ckptio_opts *opts)
{
	loader l = {.ctx = ctx};
	uint64_t total = 0;
	ckptio_status st;
	ckptio_opts o;

	if (!ctx || !location || !sd)
		return ckptio__null_arg(ctx, __func__,
					!location ? "location" : "sd");
	st = ckptio__opts_get(ctx, __func__, opts, &o);
	if (st == CKPTIO_OK)
		st = ckptio__flags_check(ctx, __func__, o.flags,
					 CKPTIO__LOAD_FLAGS, "CKPTIO_LOAD_*");
	if (st != CKPTIO_OK)
		return st;
	if (st == CKPTIO_OK)
		st = ckptio__coord_check(ctx, __func__, o.coord);
	if (st != CKPTIO_OK)
		return st;
	opts = &o;
	ctx->errmsg[0] = '\0';
	l.verify = !(opts && (opts->flags & CKPTIO_LOAD_NO_VERIFY));
	/* With a coordinator, rank 0 alone reads the metadata. */
	st = ckptio__rd_open_coll(ctx, location, opts->threads, opts->coord,
				  &l.rd);
	if (st != CKPTIO_OK)
		return st;
	for (size_t i = 0; st == CKPTIO_OK && i < sd->n; i++) {
		if (sd->items[i].pi.read || (!sd->items[i].wdata &&
					     sd->items[i].pi.nbytes)) {
			st = ckptio__error(ctx, CKPTIO_EINVAL,
					   "item '%.200s' has no buffer to load "
					   "into",
					   sd->items[i].pi.name);
			break;
		}
		sd->items[i].pi.data = sd->items[i].wdata;
		st = plan_item(&l, &sd->items[i]);
		if (st == CKPTIO_ENOTFOUND && opts &&
		    (opts->flags & CKPTIO_LOAD_PARTIAL))
			st = CKPTIO_OK;
		total += sd->items[i].pi.nbytes;
	}
	ckptio__progress_init(&l.prog, opts, total);
	if (st == CKPTIO_OK)
		st = load_direct(&l);
	if (st == CKPTIO_OK)
		st = load_reshard(&l);
	if (st != CKPTIO_OK && l.rd.hc.status != CKPTIO_OK)
		ckptio__hc_finish(&l.rd.hc, st);
	pthread_mutex_destroy(&l.prog.mu);
	free(l.direct);
	free(l.batches);
	free(l.reshard);
	ckptio__rd_close(&l.rd);
	return st;
}
