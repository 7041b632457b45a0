/*
 * ops.c - operations on whole checkpoints: open (inspect), list, verify,
 * remove / gc and copy (convert).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VERIFY_PIECE (16u << 20) /* bounded memory per verifying thread */

/* ------------------------------------------------------------------------ */
/* Inspecting                                                               */

struct ckptio_ckpt {
	ckptio__rd rd;
	uint64_t nbytes;
};

ckptio_status ckptio_open(ckptio_ctx *ctx, const char *location,
			  ckptio_ckpt **out)
{
	ckptio_ckpt *ck = calloc(1, sizeof(*ck));
	ckptio_status st;

	*out = NULL;
	if (!ck)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	ctx->errmsg[0] = '\0';
	st = ckptio__rd_open(ctx, location, &ck->rd);
	if (st != CKPTIO_OK) {
		free(ck);
		return st;
	}
	for (size_t i = 0; i < ck->rd.md->nitems; i++)
		ck->nbytes += ck->rd.md->items[i].nbytes;
	*out = ck;
	return CKPTIO_OK;
}

void ckptio_ckpt_close(ckptio_ckpt *ck)
{
	if (!ck)
		return;
	ckptio__rd_close(&ck->rd);
	free(ck);
}

size_t ckptio_ckpt_count(const ckptio_ckpt *ck)
{
	return ck->rd.md->nitems;
}

ckptio_status ckptio_ckpt_item(const ckptio_ckpt *ck, size_t i,
			       ckptio_item_info *info)
{
	const ckptio_item_meta *it;
	ckptio_item_info v;
	size_t n = info->struct_size < sizeof(v) ? info->struct_size : sizeof(v);

	if (i >= ck->rd.md->nitems)
		return CKPTIO_EINVAL;
	it = &ck->rd.md->items[i];
	v = (ckptio_item_info){
		.struct_size = (uint32_t)n,
		.name = it->name,
		.kind = it->kind,
		.dtype = it->dtype,
		.ndim = it->ndim,
		.shape = it->shape,
		.nbytes = it->nbytes,
		.nchunks = it->nchunks,
	};
	memcpy(info, &v, n); /* a caller built for a smaller struct gets less */
	return CKPTIO_OK;
}

size_t ckptio_ckpt_find(const ckptio_ckpt *ck, const char *name)
{
	return ckptio__md_find(ck->rd.md, name);
}

const char *ckptio_ckpt_layout(const ckptio_ckpt *ck)
{
	return ck->rd.md->layout;
}

int ckptio_ckpt_world(const ckptio_ckpt *ck)
{
	return ck->rd.md->world;
}

uint64_t ckptio_ckpt_nbytes(const ckptio_ckpt *ck)
{
	return ck->nbytes;
}

/* ------------------------------------------------------------------------ */
/* Listing                                                                  */

typedef struct idlist {
	char **v;
	size_t n, cap;
	const char *prefix;
	size_t plen;
	const char *const *commit;
	int oom;
} idlist;

/* A key "P/<id>/<commit key>" names checkpoint <id>. */
static int collect_id(void *user, const char *key, const ckptio_stat *sb)
{
	idlist *l = user;
	const char *rest = key + l->plen;

	(void)sb;
	for (const char *const *c = l->commit; *c; c++) {
		size_t rl = strlen(rest), cl = strlen(*c);
		char *id;

		if (rl < cl || strcmp(rest + rl - cl, *c) != 0 ||
		    (rl > cl && rest[rl - cl - 1] != '/'))
			continue;
		id = strndup(rest, rl > cl ? rl - cl - 1 : 0);
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			char **v = realloc(l->v, cap * sizeof(*v));

			if (!v) {
				free(id);
				l->oom = 1;
				return 1;
			}
			l->v = v;
			l->cap = cap;
		}
		if (!id) {
			l->oom = 1;
			return 1;
		}
		l->v[l->n++] = id;
		break;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

ckptio_status ckptio_list(ckptio_ctx *ctx, const char *location,
			  ckptio_list_fn fn, void *user)
{
	ckptio__loc loc;
	ckptio_host_ctx hc;
	ckptio_store *store = NULL;
	idlist l = {0};
	char *prefix = NULL;
	ckptio_status st;

	ctx->errmsg[0] = '\0';
	st = ckptio__loc_resolve(ctx, location, NULL, &loc);
	if (st != CKPTIO_OK)
		return st;
	ckptio__hc_init(&hc, ctx, loc.section, loc.defaults);
	if (!(loc.store_plugin->desc->store->caps & CKPTIO_STORE_CAP_LIST))
		st = ckptio__error(ctx, CKPTIO_EUNSUPPORTED,
				   "store '%s' cannot list objects",
				   loc.store_plugin->desc->name);
	if (st == CKPTIO_OK)
		st = ckptio__store_open(ctx, &loc, &hc, 0, &store);
	if (st == CKPTIO_OK) {
		prefix = *loc.id ? ckptio__asprintf("%s/", loc.id) : strdup("");
		l.prefix = prefix;
		l.plen = prefix ? strlen(prefix) : 0;
		l.commit = loc.layout_plugin->desc->layout->commit_keys;
		st = prefix ? store->ops->list(store, prefix, collect_id, &l)
			    : CKPTIO_ENOMEM;
		if (l.oom)
			st = CKPTIO_ENOMEM;
		st = ckptio__hc_finish(&hc, st);
	}
	if (st == CKPTIO_OK && l.n) {
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
		for (size_t i = 0; i < l.n; i++)
			if (fn(user, l.v[i]))
				break;
	}
	ckptio__strv_free(l.v, l.n);
	free(prefix);
	if (store)
		store->ops->close(store);
	ckptio__hc_destroy(&hc);
	ckptio__loc_free(&loc);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Verify                                                                   */

typedef struct vchunk {
	const ckptio_item_meta *im;
	const ckptio_chunk_meta *cm;
} vchunk;

typedef struct verifier {
	ckptio__rd *rd;
	vchunk *chunks;
	ckptio__progress prog;
} verifier;

/* Read one saved chunk in pieces, CRC it, compare. */
static ckptio_status verify_chunk(void *arg, size_t i)
{
	verifier *v = arg;
	const vchunk *c = &v->chunks[i];
	const struct ckptio_layout_ops *lo =
		v->rd->loc.layout_plugin->desc->layout;
	size_t piece = c->cm->length < VERIFY_PIECE ? (size_t)c->cm->length
						    : VERIFY_PIECE;
	unsigned char *buf = malloc(piece ? piece : 1);
	uint64_t off = 0;
	uint32_t crc = 0;
	ckptio_status st = CKPTIO_OK;

	if (!buf)
		return ckptio__hc_error(&v->rd->hc, CKPTIO_ENOMEM,
					"out of memory");
	while (st == CKPTIO_OK && off < c->cm->length) {
		uint64_t n = c->cm->length - off < piece ? c->cm->length - off
							 : piece;
		ckptio_range rg = {c->cm->object, c->cm->offset + off, n, buf};

		st = lo->read_data(v->rd->reader, &rg, 1);
		if (st != CKPTIO_OK)
			break;
		crc = ckptio__crc32c(crc, buf, n);
		off += n;
		if (ckptio__progress_add(&v->prog, n))
			st = ckptio__hc_error(&v->rd->hc, CKPTIO_ECANCELED,
					      "verify cancelled");
	}
	free(buf);
	if (st == CKPTIO_OK)
		st = ckptio__chunk_crc(&v->rd->hc, c->im, c->cm, crc);
	else if (st != CKPTIO_ECANCELED)
		ckptio__hc_item_context(&v->rd->hc, c->im->name, c->cm->object);
	return st;
}

ckptio_status ckptio_verify(ckptio_ctx *ctx, const char *location,
			    const ckptio_opts *opts)
{
	ckptio__rd rd;
	verifier v = {.rd = &rd};
	size_t n = 0, k = 0, unsummed = 0;
	uint64_t total = 0;
	ckptio_status st;

	ctx->errmsg[0] = '\0';
	st = ckptio__rd_open(ctx, location, &rd);
	if (st != CKPTIO_OK)
		return st;
	for (size_t i = 0; i < rd.md->nitems; i++)
		n += rd.md->items[i].nchunks;
	v.chunks = malloc((n ? n : 1) * sizeof(*v.chunks));
	if (!v.chunks) {
		ckptio__rd_close(&rd);
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < rd.md->nitems; i++)
		for (size_t c = 0; c < rd.md->items[i].nchunks; c++) {
			v.chunks[k++] = (vchunk){&rd.md->items[i],
						 &rd.md->items[i].chunks[c]};
			total += rd.md->items[i].chunks[c].length;
			unsummed += !rd.md->items[i].chunks[c].has_crc;
		}
	ckptio__progress_init(&v.prog, opts, total);
	st = ckptio__parallel(opts && opts->threads ? opts->threads
						    : rd.loc.threads,
			      n, verify_chunk, &v);
	if (st == CKPTIO_OK && total == 0)
		ckptio__progress_add(&v.prog, 0);
	st = ckptio__hc_finish(&rd.hc, st);
	/* Every chunk was read in full; without a checksum that is all that
	 * can be said, and "verified" would claim more. */
	if (st == CKPTIO_OK && unsummed)
		st = ckptio__error(ctx, CKPTIO_EUNSUPPORTED,
				   "%s: %zu of %zu chunks have no checksum "
				   "(layout '%s' keeps none): they were read in "
				   "full, but their content cannot be verified",
				   location, unsummed, n, rd.md->layout);
	pthread_mutex_destroy(&v.prog.mu);
	free(v.chunks);
	ckptio__rd_close(&rd);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Remove and gc                                                            */

typedef struct rmctx {
	char **keys;
	size_t n, cap;
	size_t plen;
	int oom;
} rmctx;

/* Objects directly in the checkpoint (not in nested checkpoints). */
static int collect_key(void *user, const char *key, const ckptio_stat *sb)
{
	rmctx *r = user;

	(void)sb;
	if (strchr(key + r->plen, '/'))
		return 0;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		char **v = realloc(r->keys, cap * sizeof(*v));

		if (!v) {
			r->oom = 1;
			return 1;
		}
		r->keys = v;
		r->cap = cap;
	}
	if (!(r->keys[r->n] = strdup(key))) {
		r->oom = 1;
		return 1;
	}
	r->n++;
	return 0;
}

static int referenced(const ckptio_metadata *md, const char *const *commit,
		      const char *name)
{
	for (; *commit; commit++)
		if (strcmp(*commit, name) == 0)
			return 1;
	for (size_t i = 0; md && i < md->nitems; i++)
		for (size_t c = 0; c < md->items[i].nchunks; c++)
			if (strcmp(md->items[i].chunks[c].object, name) == 0)
				return 1;
	return 0;
}

ckptio_status ckptio_remove(ckptio_ctx *ctx, const char *location,
			    unsigned flags)
{
	ckptio__rd rd;
	ckptio_store *store = NULL;
	const char *const *commit;
	rmctx r = {0};
	char *prefix = NULL;
	ckptio_status st, mst;
	int gc = (flags & CKPTIO_RM_GC_ONLY) != 0, removed = 0;

	ctx->errmsg[0] = '\0';
	mst = ckptio__rd_open(ctx, location, &rd);
	if (mst != CKPTIO_OK && mst != CKPTIO_ENOTFOUND && mst != CKPTIO_ECORRUPT)
		return mst;
	if (mst == CKPTIO_OK) {
		store = rd.store;
	} else {
		/* No (valid) metadata: still clear the debris. */
		st = ckptio__loc_resolve(ctx, location, NULL, &rd.loc);
		if (st != CKPTIO_OK)
			return st;
		ckptio__hc_init(&rd.hc, ctx, rd.loc.section, rd.loc.defaults);
		rd.hc_live = 1;
		st = ckptio__store_open(ctx, &rd.loc, &rd.hc, 0, &rd.store);
		if (st != CKPTIO_OK) {
			ckptio__rd_close(&rd);
			return st;
		}
		store = rd.store;
	}
	if (!*rd.loc.id && mst != CKPTIO_OK) {
		ckptio__rd_close(&rd);
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s is a store root, not a checkpoint; "
				     "refusing to remove everything in it",
				     location);
	}
	if (gc && mst != CKPTIO_OK) {
		ckptio__rd_close(&rd);
		return ckptio__error(ctx, CKPTIO_ENOTFOUND,
				     "%s: no committed checkpoint to gc "
				     "around (use rm to remove the debris)",
				     location);
	}
	if (!(store->ops->caps & CKPTIO_STORE_CAP_DELETE) ||
	    !(store->ops->caps & CKPTIO_STORE_CAP_LIST)) {
		ckptio__rd_close(&rd);
		return ckptio__error(ctx, CKPTIO_EUNSUPPORTED,
				     "store '%s' cannot list and delete",
				     rd.loc.store_plugin->desc->name);
	}
	commit = rd.loc.layout_plugin->desc->layout->commit_keys;
	prefix = *rd.loc.id ? ckptio__asprintf("%s/", rd.loc.id) : strdup("");
	r.plen = prefix ? strlen(prefix) : 0;
	st = prefix ? store->ops->list(store, prefix, collect_key, &r)
		    : CKPTIO_ENOMEM;
	if (r.oom)
		st = CKPTIO_ENOMEM;
	/* Commit keys go first, one by one, so the checkpoint stops existing
	 * at once; then the rest in batches (the store's remove_many). */
	for (size_t i = 0; st == CKPTIO_OK && i < r.n; i++) {
		const char *name = r.keys[i] + r.plen;

		if (!referenced(NULL, commit, name) ||
		    (gc && referenced(rd.md, commit, name)))
			continue;
		st = store->ops->remove(store, r.keys[i]);
		if (st == CKPTIO_ENOTFOUND)
			st = CKPTIO_OK;
		removed++;
		r.keys[i][0] = '\0';
	}
	if (st == CKPTIO_OK) {
		size_t n = 0;

		/* Compact the keys still to go to the front. */
		for (size_t i = 0; i < r.n; i++) {
			const char *name = r.keys[i] + r.plen;
			char *k = r.keys[i];

			if (!k[0] || referenced(NULL, commit, name) ||
			    (gc && referenced(rd.md, commit, name)))
				continue;
			r.keys[i] = r.keys[n];
			r.keys[n++] = k;
		}
		st = ckptio__store_remove_many(store,
					       (const char *const *)r.keys, n);
		removed += (int)n;
	}
	if (st == CKPTIO_OK && !gc && removed == 0)
		st = ckptio__error(ctx, CKPTIO_ENOTFOUND,
				   "%s: no checkpoint and nothing to remove",
				   location);
	else
		st = ckptio__hc_finish(&rd.hc, st);
	ckptio__log(ctx, CKPTIO_LOG_INFO, "%s: removed %d objects", location,
		    removed);
	ckptio__strv_free(r.keys, r.n);
	free(prefix);
	ckptio__rd_close(&rd);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Copy / convert                                                           */

/* Source of one item: streamed straight from its single saved chunk, or,
 * for an item saved in several chunks, assembled once in memory (bounded by
 * that item's size) and served from there. */
typedef struct csrc {
	ckptio__rd *rd;
	const ckptio_item_meta *im;
	unsigned char *whole;
	uint32_t crc;
} csrc;

static ckptio_status assemble(csrc *c)
{
	const struct ckptio_layout_ops *lo = c->rd->loc.layout_plugin->desc->layout;
	size_t esz = ckptio_dtype_size(c->im->dtype);
	ckptio_status st = CKPTIO_OK;

	c->whole = malloc(c->im->nbytes ? c->im->nbytes : 1);
	if (!c->whole)
		return ckptio__hc_error(&c->rd->hc, CKPTIO_ENOMEM,
					"item '%.200s': out of memory "
					"assembling %llu bytes",
					c->im->name,
					(unsigned long long)c->im->nbytes);
	for (size_t k = 0; st == CKPTIO_OK && k < c->im->nchunks; k++) {
		const ckptio_chunk_meta *cm = &c->im->chunks[k];
		void *tmp = malloc(cm->length ? cm->length : 1);
		ckptio_range rg = {cm->object, cm->offset, cm->length, tmp};
		uint64_t zero[CKPTIO_MAX_NDIM] = {0};

		st = tmp ? lo->read_data(c->rd->reader, &rg, 1) : CKPTIO_ENOMEM;
		if (st == CKPTIO_OK)
			st = ckptio__chunk_crc(&c->rd->hc, c->im, cm,
					       ckptio__crc32c(0, tmp,
							      cm->length));
		else if (tmp)
			ckptio__hc_item_context(&c->rd->hc, c->im->name,
						cm->object);
		if (st == CKPTIO_OK)
			ckptio__copy_overlap(c->im->ndim, esz, cm->offsets,
					     cm->shape, tmp, zero, c->im->shape,
					     c->whole);
		free(tmp);
	}
	return st;
}

static ckptio_status copy_read(void *user, uint64_t offset, void *buf,
			       size_t len)
{
	csrc *c = user;
	const ckptio_chunk_meta *cm = &c->im->chunks[0];
	ckptio_range rg = {cm->object, cm->offset + offset, len, buf};
	ckptio_status st;

	if (c->im->nchunks > 1) {
		if (!c->whole && (st = assemble(c)) != CKPTIO_OK)
			return st;
		memcpy(buf, c->whole + offset, len);
		if (offset + len == c->im->nbytes) {
			free(c->whole);
			c->whole = NULL;
		}
		return CKPTIO_OK;
	}
	st = c->rd->loc.layout_plugin->desc->layout->read_data(c->rd->reader,
							      &rg, 1);
	if (st != CKPTIO_OK) {
		ckptio__hc_item_context(&c->rd->hc, c->im->name, cm->object);
		return st;
	}
	c->crc = ckptio__crc32c(offset ? c->crc : 0, buf, len);
	if (offset + len == cm->length)
		return ckptio__chunk_crc(&c->rd->hc, c->im, cm, c->crc);
	return CKPTIO_OK;
}

ckptio_status ckptio_copy(ckptio_ctx *ctx, const char *src, const char *dst,
			  const ckptio_opts *opts)
{
	ckptio__rd rd;
	ckptio_sd *sd = NULL;
	csrc *srcs = NULL;
	ckptio_status st;

	ctx->errmsg[0] = '\0';
	st = ckptio__rd_open(ctx, src, &rd);
	if (st != CKPTIO_OK)
		return st;
	st = ckptio_sd_new(&sd);
	if (st == CKPTIO_OK &&
	    !(srcs = calloc(rd.md->nitems ? rd.md->nitems : 1, sizeof(*srcs))))
		st = CKPTIO_ENOMEM;
	for (size_t i = 0; st == CKPTIO_OK && i < rd.md->nitems; i++) {
		const ckptio_item_meta *im = &rd.md->items[i];

		srcs[i] = (csrc){.rd = &rd, .im = im};
		st = im->kind == CKPTIO_ITEM_BYTES
			     ? ckptio_sd_add_bytes_fn(sd, im->name, im->nbytes,
						      copy_read, &srcs[i])
			     : ckptio_sd_add_tensor_fn(sd, im->name, im->dtype,
						       im->ndim, im->shape, NULL,
						       NULL, copy_read,
						       &srcs[i]);
		if (st != CKPTIO_OK)
			ckptio__error(ctx, st, "%s", ckptio_last_error());
	}
	if (st == CKPTIO_OK)
		st = ckptio_save(ctx, dst, sd, opts);
	/* A source failure is recorded on the source's context. */
	if (st != CKPTIO_OK && rd.hc.status != CKPTIO_OK)
		ckptio__error(ctx, st, "%s: %s", src, rd.hc.msg);
	for (size_t i = 0; srcs && i < rd.md->nitems; i++)
		free(srcs[i].whole);
	free(srcs);
	ckptio_sd_free(sd);
	ckptio__rd_close(&rd);
	return st;
}
