/*
 * ops.c - operations on whole checkpoints: open (inspect), list, verify,
 * remove / gc and copy (convert).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Bounded memory per verifying thread, and what it has in flight: threads
 * x VERIFY_PIECE, as a load's batches (core/load.c).  With 16 MiB a verify
 * over HTTP with 20 ms each way kept 4 GETs in flight and ran at a third
 * of a load's speed (0.29 against 0.86 GB/s, bench/http.sh). */
#define VERIFY_PIECE (64u << 20)

/* ------------------------------------------------------------------------ */
/* Inspecting                                                               */

struct ckptio_ckpt {
	ckptio__rd rd;
	uint64_t nbytes;
};

ckptio_status ckptio_open(ckptio_ctx *ctx, const char *location,
			  ckptio_ckpt **out)
{
	ckptio_ckpt *ck;
	ckptio_status st;

	if (out)
		*out = NULL;
	if (!ctx || !location || !out)
		return ckptio__null_arg(ctx, __func__,
					!location ? "location" : "out");
	ck = calloc(1, sizeof(*ck));
	if (!ck)
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	ctx->errmsg[0] = '\0';
	st = ckptio__rd_open(ctx, location, 0, &ck->rd);
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
	return ck ? ck->rd.md->nitems : 0;
}

ckptio_status ckptio_ckpt_item(const ckptio_ckpt *ck, size_t i,
			       ckptio_item_info *info)
{
	const ckptio_item_meta *it;
	ckptio_item_info v;
	size_t n;

	if (!ck || !info)
		return ckptio__set_last_error(CKPTIO_EINVAL, "%s: %s is NULL",
					      __func__, !ck ? "ck" : "info");
	if (info->struct_size < CKPTIO__END_OF(ckptio_item_info, name))
		return ckptio__set_last_error(
			CKPTIO_EINVAL,
			"%s: info->struct_size is %u, smaller than any "
			"ckptio_item_info (at least %zu bytes); set it to "
			"sizeof(ckptio_item_info)",
			__func__, (unsigned)info->struct_size,
			CKPTIO__END_OF(ckptio_item_info, name));
	if (i >= ck->rd.md->nitems)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "%s: item %zu is out of range "
					      "(the checkpoint has %zu items)",
					      __func__, i, ck->rd.md->nitems);
	n = info->struct_size < sizeof(v) ? info->struct_size : sizeof(v);
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
		.object = it->nchunks ? it->chunks[0].object : NULL,
	};
	memcpy(info, &v, n); /* a caller built for a smaller struct gets less */
	return CKPTIO_OK;
}

size_t ckptio_ckpt_find(const ckptio_ckpt *ck, const char *name)
{
	if (!ck || !name)
		return (size_t)-1;
	return ckptio__md_find(ck->rd.md, name);
}

const char *ckptio_ckpt_layout(const ckptio_ckpt *ck)
{
	return ck ? ck->rd.md->layout : NULL;
}

int ckptio_ckpt_world(const ckptio_ckpt *ck)
{
	return ck ? ck->rd.md->world : 0;
}

uint64_t ckptio_ckpt_nbytes(const ckptio_ckpt *ck)
{
	return ck ? ck->nbytes : 0;
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

/* The commit keys that make a checkpoint, NULL-terminated into v (n
 * slots): the location's layout's, and, unless the layout was named, every
 * other layout plugin's (a safetensors model under a root is listed). */
static ckptio_status list_commit_keys(ckptio_ctx *ctx, const ckptio__loc *loc,
				      const char **v, size_t n)
{
	const ckptio__plugin *p[CKPTIO__MAX_LAYOUTS];
	size_t np = 0, k = 0;

	for (const char *const *c = loc->layout_plugin->desc->layout->commit_keys;
	     *c && k + 1 < n; c++)
		v[k++] = *c;
	if (!loc->layout_explicit)
		np = ckptio__other_layouts(ctx, p, CKPTIO__MAX_LAYOUTS);
	for (size_t i = 0; i < np; i++) {
		const struct ckptio_layout_ops *lo = p[i]->desc->layout;

		if (lo == loc->layout_plugin->desc->layout)
			continue;
		for (const char *const *c = lo->commit_keys; *c && k + 1 < n;
		     c++)
			v[k++] = *c;
	}
	v[k] = NULL;
	return CKPTIO_OK;
}

ckptio_status ckptio_list(ckptio_ctx *ctx, const char *location,
			  ckptio_list_fn fn, void *user)
{
	ckptio__loc loc;
	ckptio_host_ctx hc;
	ckptio_store *store = NULL;
	idlist l = {0};
	char *prefix = NULL;
	const char *commit[64];
	ckptio_status st;

	if (!ctx || !location || !fn)
		return ckptio__null_arg(ctx, __func__,
					!location ? "location" : "fn");
	ctx->errmsg[0] = '\0';
	st = ckptio__loc_resolve(ctx, location, NULL, &loc);
	if (st != CKPTIO_OK)
		return st;
	ckptio__hc_init(&hc, ctx, loc.section, loc.defaults);
	st = ckptio__store_open(ctx, &loc, &hc, 0, &store);
	if (st == CKPTIO_OK &&
	    ckptio__store_require(&hc, &loc, store, CKPTIO_STORE_CAP_LIST))
		st = ckptio__hc_finish(&hc, CKPTIO_EUNSUPPORTED);
	if (st == CKPTIO_OK) {
		prefix = *loc.id ? ckptio__asprintf("%s/", loc.id) : strdup("");
		l.prefix = prefix;
		l.plen = prefix ? strlen(prefix) : 0;
		st = list_commit_keys(ctx, &loc, commit, sizeof(commit) /
						    sizeof(commit[0]));
		l.commit = commit;
		st = st != CKPTIO_OK ? st : prefix ? store->ops->list(store, prefix, collect_id, &l)
			    : CKPTIO_ENOMEM;
		if (l.oom)
			st = CKPTIO_ENOMEM;
		st = ckptio__hc_finish(&hc, st);
	}
	if (st == CKPTIO_OK && l.n) {
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
		for (size_t i = 0; i < l.n; i++)
			if ((i == 0 || strcmp(l.v[i], l.v[i - 1]) != 0) &&
			    fn(user, l.v[i]))
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

/* Chunks sorted by object and offset, grouped: a chunk larger than
 * VERIFY_PIECE alone, read in pieces; smaller neighbours together, up to
 * VERIFY_PIECE bytes or VERIFY_RANGES chunks, in one read_data call (the
 * store coalesces or reads them from one open object).  Memory: one batch
 * buffer per worker thread. */
#define VERIFY_RANGES 4096u

typedef struct vbatch {
	size_t first, n;
	uint64_t bytes;
} vbatch;

typedef struct verifier {
	ckptio__rd *rd;
	vchunk *chunks;
	vbatch *batches;
	ckptio__progress prog;
	/* Buffers of VERIFY_PIECE bytes, reused: one fresh allocation per
	 * batch is a fresh mapping each time, and the first touch of its
	 * pages quadrupled the CPU time of a verify. */
	pthread_mutex_t mu;
	unsigned char **spare;
	size_t nspare;
} verifier;

static unsigned char *buf_get(verifier *v)
{
	unsigned char *b = NULL;

	pthread_mutex_lock(&v->mu);
	if (v->nspare)
		b = v->spare[--v->nspare];
	pthread_mutex_unlock(&v->mu);
	return b ? b : malloc(VERIFY_PIECE);
}

/* Kept for the next batch; spare has room for one buffer per batch. */
static void buf_put(verifier *v, unsigned char *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&v->mu);
	v->spare[v->nspare++] = b;
	pthread_mutex_unlock(&v->mu);
}

static int by_object(const void *a, const void *b)
{
	const vchunk *x = a, *y = b;
	int c = strcmp(x->cm->object, y->cm->object);

	if (c)
		return c;
	return x->cm->offset < y->cm->offset ? -1
					       : x->cm->offset > y->cm->offset;
}

/* Read one saved chunk in pieces, CRC it, compare. */
static ckptio_status verify_chunk(verifier *v, size_t i)
{
	const vchunk *c = &v->chunks[i];
	const struct ckptio_layout_ops *lo =
		v->rd->loc.layout_plugin->desc->layout;
	size_t piece = c->cm->length < VERIFY_PIECE ? (size_t)c->cm->length
						    : VERIFY_PIECE;
	unsigned char *buf = buf_get(v);
	uint32_t *one = ckptio__read_crcs(lo, 1); /* NULL: the layout has none */
	uint64_t off = 0;
	uint32_t crc = 0;
	ckptio_status st = CKPTIO_OK;

	if (!buf) {
		free(one);
		return ckptio__hc_error(&v->rd->hc, CKPTIO_ENOMEM,
					"out of memory");
	}
	while (st == CKPTIO_OK && off < c->cm->length) {
		uint64_t n = c->cm->length - off < piece ? c->cm->length - off
							 : piece;
		ckptio_range rg = {c->cm->object, c->cm->offset + off, n, buf};

		/* Checksummed on the way where the layout can (ABI 1.7). */
		st = one ? lo->read_data_crc(v->rd->reader, &rg, 1, one)
			 : lo->read_data(v->rd->reader, &rg, 1);
		if (st == CKPTIO_OK)
			crc = one ? ckptio__crc32c_combine(crc, one[0], n)
				  : ckptio__crc32c(crc, buf, n);
		if (st != CKPTIO_OK)
			break;
		off += n;
		if (ckptio__progress_add(&v->prog, n))
			st = ckptio__hc_error(&v->rd->hc, CKPTIO_ECANCELED,
					      "verify cancelled");
	}
	buf_put(v, buf);
	free(one);
	if (st == CKPTIO_OK)
		st = ckptio__chunk_crc(&v->rd->hc, c->im, c->cm, crc);
	else if (st != CKPTIO_ECANCELED)
		ckptio__hc_item_context(&v->rd->hc, c->im->name, c->cm->object);
	return st;
}

/* A batch of small chunks: one read into one buffer, then each CRC. */
static ckptio_status verify_batch(void *arg, size_t k)
{
	verifier *v = arg;
	const vbatch *b = &v->batches[k];
	const struct ckptio_layout_ops *lo =
		v->rd->loc.layout_plugin->desc->layout;
	unsigned char *buf;
	ckptio_range *rgs;
	uint32_t *crcs;
	uint64_t off = 0;
	ckptio_status st;

	if (b->n == 1 && v->chunks[b->first].cm->length > VERIFY_PIECE)
		return verify_chunk(v, b->first);
	if (__atomic_load_n(&v->prog.cancel, __ATOMIC_RELAXED))
		return CKPTIO_ECANCELED;
	buf = buf_get(v);
	rgs = malloc(b->n * sizeof(*rgs));
	if (!buf || !rgs) {
		buf_put(v, buf);
		free(rgs);
		return ckptio__hc_error(&v->rd->hc, CKPTIO_ENOMEM,
					"out of memory");
	}
	for (size_t i = 0; i < b->n; i++) {
		const ckptio_chunk_meta *cm = v->chunks[b->first + i].cm;

		rgs[i] = (ckptio_range){cm->object, cm->offset, cm->length,
					buf + off};
		off += cm->length;
	}
	crcs = ckptio__read_crcs(lo, b->n);
	if (crcs)
		st = lo->read_data_crc(v->rd->reader, rgs, b->n, crcs);
	else
		st = lo->read_data(v->rd->reader, rgs, b->n);
	for (size_t i = 0; st != CKPTIO_OK && i < b->n; i++)
		ckptio__hc_item_context(&v->rd->hc,
					v->chunks[b->first + i].im->name,
					v->chunks[b->first + i].cm->object);
	for (size_t i = 0; st == CKPTIO_OK && i < b->n; i++) {
		const vchunk *c = &v->chunks[b->first + i];

		st = ckptio__chunk_crc(&v->rd->hc, c->im, c->cm,
				       crcs ? crcs[i]
					    : ckptio__crc32c(0, rgs[i].buf,
							     c->cm->length));
	}
	free(crcs);
	free(rgs);
	buf_put(v, buf);
	if (st == CKPTIO_OK && ckptio__progress_add(&v->prog, b->bytes))
		st = ckptio__hc_error(&v->rd->hc, CKPTIO_ECANCELED,
				      "verify cancelled");
	return st;
}

/* Group the sorted chunks into batches; the count. */
static size_t verify_batches(verifier *v, size_t n)
{
	size_t nb = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t len = v->chunks[i].cm->length;
		vbatch *last = nb ? &v->batches[nb - 1] : NULL;

		if (!last || len > VERIFY_PIECE || last->n == VERIFY_RANGES ||
		    last->bytes + len > VERIFY_PIECE ||
		    v->chunks[last->first].cm->length > VERIFY_PIECE)
			v->batches[nb++] = (vbatch){i, 0, 0};
		v->batches[nb - 1].n++;
		v->batches[nb - 1].bytes += len;
	}
	return nb;
}

ckptio_status ckptio_verify(ckptio_ctx *ctx, const char *location,
			    const ckptio_opts *opts)
{
	ckptio__rd rd;
	verifier v = {.rd = &rd, .mu = PTHREAD_MUTEX_INITIALIZER};
	size_t n = 0, k = 0, unsummed = 0;
	uint64_t total = 0;
	ckptio_status st;
	ckptio_opts o;

	if (!ctx || !location)
		return ckptio__null_arg(ctx, __func__, "location");
	st = ckptio__opts_get(ctx, __func__, opts, &o);
	if (st != CKPTIO_OK)
		return st;
	opts = &o;
	ctx->errmsg[0] = '\0';
	st = ckptio__rd_open(ctx, location, opts->threads, &rd);
	if (st != CKPTIO_OK)
		return st;
	for (size_t i = 0; i < rd.md->nitems; i++)
		n += rd.md->items[i].nchunks;
	v.chunks = malloc((n ? n : 1) * sizeof(*v.chunks));
	v.batches = malloc((n ? n : 1) * sizeof(*v.batches));
	v.spare = malloc((n ? n : 1) * sizeof(*v.spare));
	if (!v.chunks || !v.batches || !v.spare) {
		free(v.chunks);
		free(v.batches);
		free(v.spare);
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
	qsort(v.chunks, n, sizeof(*v.chunks), by_object);
	st = ckptio__pool_for(ckptio__hc_pool(&rd.hc), verify_batches(&v, n),
			      verify_batch, &v);
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
	pthread_mutex_destroy(&v.mu);
	for (size_t i = 0; i < v.nspare; i++)
		free(v.spare[i]);
	free(v.spare);
	free(v.chunks);
	free(v.batches);
	ckptio__rd_close(&rd);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Remove and gc                                                            */
/*                                                                          */
/* Only objects directly under the checkpoint are looked at, and each is    */
/* classified; what is not the layout's is never removed (ckptio.h,         */
/* docs/design-notes.md "What rm and gc may delete").                      */

typedef enum objkind {
	OBJ_FOREIGN, /* not the layout's: never touched */
	OBJ_COMMIT,  /* a commit key */
	OBJ_NAMED,   /* named by the committed metadata */
	OBJ_DEBRIS   /* the layout's form, not named; or a leftover put */
} objkind;

typedef struct rmobj {
	char *key;
	uint64_t size;
	int64_t mtime;
	objkind kind;
} rmobj;

typedef struct rmscan {
	ckptio_store *store;
	const struct ckptio_layout_ops *lo;
	ckptio__strset named; /* object names of the metadata */
	const char *prefix;
	size_t plen;
	rmobj *v;
	size_t n, cap;
	int oom;
	/* No checkpoint here and no layout named: the debris of a failed
	 * save with any layout (safetensors shards) is recognised too. */
	const struct ckptio_layout_ops *others[CKPTIO__MAX_LAYOUTS];
	size_t nothers;
} rmscan;

static int is_commit_key(const struct ckptio_layout_ops *lo, const char *name)
{
	for (const char *const *c = lo->commit_keys; *c; c++)
		if (strcmp(*c, name) == 0)
			return 1;
	return 0;
}

static objkind classify(rmscan *sc, const char *key)
{
	const char *name = key + sc->plen;
	char target[2048];

	/* A leftover of an unfinished put of one of the layout's objects
	 * (a temporary file beside it) is debris, whatever the target. */
	if (ckptio__store_put_target(sc->store, key, target, sizeof(target))) {
		const char *tname = target + sc->plen;

		int ours = 0;

		if (strncmp(target, sc->prefix, sc->plen) == 0 &&
		    !strchr(tname, '/')) {
			ours = is_commit_key(sc->lo, tname) ||
			       ckptio__layout_owns(sc->lo, tname);
			for (size_t i = 0; !ours && i < sc->nothers; i++)
				ours = is_commit_key(sc->others[i], tname) ||
				       ckptio__layout_owns(sc->others[i], tname);
		}
		return ours ? OBJ_DEBRIS : OBJ_FOREIGN;
	}
	if (is_commit_key(sc->lo, name))
		return OBJ_COMMIT;
	if (ckptio__strset_has(&sc->named, name))
		return OBJ_NAMED;
	if (ckptio__layout_owns(sc->lo, name))
		return OBJ_DEBRIS;
	/* Another layout's data objects, not its commit keys: where that
	 * layout's commit key is, the location is a (broken) checkpoint of
	 * it, and a file of that name may be the user's. */
	for (size_t i = 0; i < sc->nothers; i++)
		if (!is_commit_key(sc->others[i], name) &&
		    ckptio__layout_owns(sc->others[i], name))
			return OBJ_DEBRIS;
	return OBJ_FOREIGN;
}

static int scan_key(void *user, const char *key, const ckptio_stat *sb)
{
	rmscan *sc = user;
	rmobj *o;

	/* Nested checkpoints and subdirectories are not this one's. */
	if (strncmp(key, sc->prefix, sc->plen) != 0 || !key[sc->plen] ||
	    strchr(key + sc->plen, '/'))
		return 0;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 32;
		rmobj *v = realloc(sc->v, cap * sizeof(*v));

		if (!v) {
			sc->oom = 1;
			return 1;
		}
		sc->v = v;
		sc->cap = cap;
	}
	o = &sc->v[sc->n];
	if (!(o->key = strdup(key))) {
		sc->oom = 1;
		return 1;
	}
	o->size = sb ? sb->size : 0;
	o->mtime = sb ? sb->mtime : 0;
	o->kind = classify(sc, key);
	sc->n++;
	return 0;
}

static void scan_free(rmscan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->v[i].key);
	free(sc->v);
	ckptio__strset_free(&sc->named);
	free((void *)sc->prefix);
	memset(sc, 0, sizeof(*sc));
}

/* List the objects directly under rd's checkpoint and classify them
 * against md (NULL: no readable metadata). */
static ckptio_status scan(ckptio__rd *rd, const ckptio_metadata *md,
			  rmscan *sc)
{
	ckptio_status st = CKPTIO_OK;

	memset(sc, 0, sizeof(*sc));
	sc->store = rd->store;
	sc->lo = rd->loc.layout_plugin->desc->layout;
	if (!md && !rd->loc.layout_explicit) {
		const ckptio__plugin *p[CKPTIO__MAX_LAYOUTS];
		size_t n = ckptio__other_layouts(rd->hc.ctx, p,
						 CKPTIO__MAX_LAYOUTS);

		for (size_t i = 0; i < n; i++)
			if (p[i]->desc->layout != sc->lo)
				sc->others[sc->nothers++] = p[i]->desc->layout;
	}
	for (size_t i = 0; md && i < md->nitems && !sc->oom; i++)
		for (size_t c = 0; c < md->items[i].nchunks && !sc->oom; c++)
			sc->oom = ckptio__strset_add(&sc->named,
						     md->items[i].chunks[c].object) < 0;
	sc->prefix = *rd->loc.id ? ckptio__asprintf("%s/", rd->loc.id)
				 : strdup("");
	if (!sc->prefix || sc->oom)
		return ckptio__hc_error(&rd->hc, CKPTIO_ENOMEM, "out of memory");
	sc->plen = strlen(sc->prefix);
	st = rd->store->ops->list(rd->store, sc->prefix, scan_key, sc);
	/* A listing may hide names (nginx's listings leave out every name
	 * that starts with '.', as .metadata.json does): a commit key that
	 * was read but not listed is looked up, so that rm never leaves a
	 * commit key naming removed objects. */
	for (const char *const *c = sc->lo->commit_keys;
	     md && st == CKPTIO_OK && !sc->oom && *c; c++) {
		int seen = 0;
		char *key;
		ckptio_stat sb;

		for (size_t i = 0; i < sc->n && !seen; i++)
			seen = sc->v[i].kind == OBJ_COMMIT &&
			       strcmp(sc->v[i].key + sc->plen, *c) == 0;
		if (seen)
			continue;
		if (!(key = ckptio__asprintf("%s%s", sc->prefix, *c))) {
			sc->oom = 1;
			break;
		}
		if (rd->store->ops->stat(rd->store, key, &sb) == CKPTIO_OK)
			scan_key(sc, key, &sb);
		free(key);
	}
	if (st == CKPTIO_OK && sc->oom)
		st = ckptio__hc_error(&rd->hc, CKPTIO_ENOMEM, "out of memory");
	return st;
}

/* Debris modified within min_age seconds (or of unknown age) may belong
 * to a save in flight. */
static int too_young(const rmobj *o, uint64_t min_age, int64_t now)
{
	return min_age > 0 &&
	       (o->mtime <= 0 || now - o->mtime < (int64_t)min_age);
}

/* Decide what goes (kind[i] set to remove or not) and count it. */
static void tally(rmscan *sc, int gc, int named_go, uint64_t min_age,
		  unsigned char *go, ckptio_rm_report *r)
{
	int64_t now = (int64_t)time(NULL);

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < sc->n; i++) {
		const rmobj *o = &sc->v[i];

		go[i] = 0;
		switch (o->kind) {
		case OBJ_FOREIGN:
			r->foreign++;
			break;
		case OBJ_COMMIT:
		case OBJ_NAMED:
			go[i] = !gc && (o->kind == OBJ_COMMIT || named_go);
			break;
		case OBJ_DEBRIS:
			if (too_young(o, min_age, now)) {
				r->kept_young++;
				r->kept_young_bytes += o->size;
			} else {
				go[i] = 1;
				r->debris++;
				r->debris_bytes += o->size;
			}
			break;
		}
		if (go[i]) {
			r->removed++;
			r->removed_bytes += o->size;
		}
	}
}

/* Commit keys first, one by one, so the checkpoint stops existing at
 * once; then the rest in batches (the store's remove_many). */
static ckptio_status remove_marked(rmscan *sc, const unsigned char *go)
{
	const char **keys = malloc((sc->n ? sc->n : 1) * sizeof(*keys));
	size_t n = 0;
	ckptio_status st = CKPTIO_OK;

	if (!keys)
		return CKPTIO_ENOMEM;
	for (size_t i = 0; i < sc->n && st == CKPTIO_OK; i++)
		if (go[i] && sc->v[i].kind == OBJ_COMMIT) {
			st = sc->store->ops->remove(sc->store, sc->v[i].key);
			if (st == CKPTIO_ENOTFOUND)
				st = CKPTIO_OK;
		}
	for (size_t i = 0; i < sc->n; i++)
		if (go[i] && sc->v[i].kind != OBJ_COMMIT)
			keys[n++] = sc->v[i].key;
	if (st == CKPTIO_OK)
		st = ckptio__store_remove_many(sc->store, keys, n);
	free(keys);
	return st;
}

static void copy_report(ckptio_rm_report *out, const ckptio_rm_report *r)
{
	size_t n;

	if (!out || out->struct_size < sizeof(uint32_t))
		return;
	n = out->struct_size < sizeof(*r) ? out->struct_size : sizeof(*r);
	memcpy((char *)out + sizeof(uint32_t), (const char *)r + sizeof(uint32_t),
	       n - sizeof(uint32_t));
}

/* Open the location for removal: with its metadata when it has one
 * (*mst = OK), else just its store (*mst = ENOTFOUND or ECORRUPT, and
 * *why = the reader's message). */
static ckptio_status rm_open(ckptio_ctx *ctx, const char *location,
			     ckptio__rd *rd, ckptio_status *mst, char *why,
			     size_t whylen)
{
	ckptio_status st;

	*mst = ckptio__rd_open(ctx, location, 0, rd);
	if (*mst == CKPTIO_OK)
		return CKPTIO_OK;
	if (*mst != CKPTIO_ENOTFOUND && *mst != CKPTIO_ECORRUPT)
		return *mst;
	snprintf(why, whylen, "%s", ctx->errmsg);
	st = ckptio__loc_resolve(ctx, location, NULL, &rd->loc);
	if (st != CKPTIO_OK)
		return st;
	ckptio__hc_init(&rd->hc, ctx, rd->loc.section, rd->loc.defaults);
	rd->hc_live = 1;
	st = ckptio__store_open(ctx, &rd->loc, &rd->hc, 0, &rd->store);
	if (st != CKPTIO_OK) {
		ckptio__rd_close(rd);
		return st;
	}
	/* What failed to read may be another layout's commit key found by
	 * detection (a model.safetensors that is not one): without this
	 * layout's own commit key there is no checkpoint here to remove,
	 * and the file is not ckptio's. */
	if (!rd->loc.layout_explicit && *mst == CKPTIO_ECORRUPT) {
		const char *const *c = rd->loc.layout_plugin->desc->layout->commit_keys;
		int found = 0;

		for (; *c && !found; c++) {
			char *key = ckptio__join(rd->loc.id, *c);
			ckptio_stat sb;

			found = !key || rd->store->ops->stat(rd->store, key, &sb) !=
						CKPTIO_ENOTFOUND;
			free(key);
		}
		if (!found)
			*mst = CKPTIO_ENOTFOUND;
	}
	return CKPTIO_OK;
}

ckptio_status ckptio_remove_ex(ckptio_ctx *ctx, const char *location,
			       const ckptio_rm_opts *opts)
{
	ckptio_rm_opts o = CKPTIO_RM_OPTS_INIT;
	ckptio_rm_report rep;
	ckptio__rd rd;
	rmscan sc;
	unsigned char *go = NULL;
	char why[CKPTIO__ERRMSG] = "";
	const char *commit;
	ckptio_status st, mst;
	int gc, dry;

	if (!ctx || !location)
		return ckptio__null_arg(ctx, __func__, "location");
	ctx->errmsg[0] = '\0';
	if (opts && opts->struct_size < CKPTIO__END_OF(ckptio_rm_opts, flags))
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s: opts->struct_size is %u, smaller "
				     "than any ckptio_rm_opts; initialise opts "
				     "with CKPTIO_RM_OPTS_INIT",
				     __func__, (unsigned)opts->struct_size);
	if (opts)
		memcpy(&o, opts, opts->struct_size < sizeof(o) ? opts->struct_size
							      : sizeof(o));
	if (ckptio__flags_check(ctx, __func__, o.flags,
				CKPTIO_RM_GC_ONLY | CKPTIO_RM_DRY_RUN,
				"CKPTIO_RM_*") != CKPTIO_OK)
		return CKPTIO_EINVAL;
	gc = (o.flags & CKPTIO_RM_GC_ONLY) != 0;
	dry = (o.flags & CKPTIO_RM_DRY_RUN) != 0;
	st = rm_open(ctx, location, &rd, &mst, why, sizeof(why));
	if (st != CKPTIO_OK)
		return st;
	commit = rd.loc.layout_plugin->desc->layout->commit_keys[0];
	if (!*rd.loc.id && mst != CKPTIO_OK && !gc) {
		ckptio__rd_close(&rd);
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s is a store root, not a checkpoint; "
				     "refusing to remove anything in it",
				     location);
	}
	if (gc && mst == CKPTIO_ECORRUPT) {
		ckptio__rd_close(&rd);
		return ckptio__error(ctx, CKPTIO_ECORRUPT,
				     "%s: gc cannot tell which objects the "
				     "metadata names, because it is unreadable "
				     "(%s); removing the whole checkpoint "
				     "(`ckptio rm`) is still possible",
				     location, why);
	}
	if (ckptio__store_require(&rd.hc, &rd.loc, rd.store,
				  CKPTIO_STORE_CAP_LIST |
					  (dry ? 0 : CKPTIO_STORE_CAP_DELETE))) {
		st = ckptio__hc_finish(&rd.hc, CKPTIO_EUNSUPPORTED);
		ckptio__rd_close(&rd);
		return st;
	}
	st = scan(&rd, rd.md, &sc);
	if (st == CKPTIO_OK && !(go = malloc(sc.n ? sc.n : 1)))
		st = ckptio__hc_error(&rd.hc, CKPTIO_ENOMEM, "out of memory");
	if (st == CKPTIO_OK)
		tally(&sc, gc, mst == CKPTIO_OK, o.min_age, go, &rep);
	if (st == CKPTIO_OK && !gc && mst == CKPTIO_ENOTFOUND) {
		/* No checkpoint: rm refuses; say what gc would find. */
		st = ckptio__error(ctx, CKPTIO_ENOTFOUND,
				   "%s: no checkpoint here (no %s); "
				   "%llu objects of failed saves (%llu bytes) "
				   "can be removed with CKPTIO_RM_GC_ONLY "
				   "(`ckptio rm --gc`); %llu other objects "
				   "are not ckptio's and are never removed",
				   location, commit,
				   (unsigned long long)(rep.debris +
							rep.kept_young),
				   (unsigned long long)(rep.debris_bytes +
							rep.kept_young_bytes),
				   (unsigned long long)rep.foreign);
		goto out;
	}
	if (st == CKPTIO_OK && !dry)
		st = remove_marked(&sc, go);
	if (st == CKPTIO_ENOMEM && rd.hc.status == CKPTIO_OK)
		st = ckptio__error(ctx, st, "out of memory");
	else
		st = ckptio__hc_finish(&rd.hc, st);
	if (st == CKPTIO_OK) {
		copy_report(o.report, &rep);
		ckptio__log(ctx, CKPTIO_LOG_INFO,
			    "%s: %s %llu objects (%llu of failed saves), kept "
			    "%llu younger than %llu s and %llu not ckptio's",
			    location, dry ? "would remove" : "removed",
			    (unsigned long long)rep.removed,
			    (unsigned long long)rep.debris,
			    (unsigned long long)rep.kept_young,
			    (unsigned long long)o.min_age,
			    (unsigned long long)rep.foreign);
	}
out:
	free(go);
	scan_free(&sc);
	ckptio__rd_close(&rd);
	return st;
}

ckptio_status ckptio_remove(ckptio_ctx *ctx, const char *location,
			    unsigned flags)
{
	ckptio_rm_opts o = CKPTIO_RM_OPTS_INIT;

	if (!ctx || !location)
		return ckptio__null_arg(ctx, __func__, "location");
	o.flags = flags;
	return ckptio_remove_ex(ctx, location, &o);
}

ckptio_status ckptio_ckpt_debris(ckptio_ckpt *ck, uint64_t min_age,
				 ckptio_rm_report *report)
{
	ckptio_rm_report rep;
	unsigned char *go = NULL;
	rmscan sc;
	ckptio_status st;

	if (!ck)
		return ckptio__set_last_error(CKPTIO_EINVAL, "%s: ck is NULL",
					      __func__);
	if (!report)
		return ckptio__null_arg(ck->rd.hc.ctx, __func__, "report");
	if (ckptio__store_require(&ck->rd.hc, &ck->rd.loc, ck->rd.store,
				  CKPTIO_STORE_CAP_LIST))
		return ckptio__hc_finish(&ck->rd.hc, CKPTIO_EUNSUPPORTED);
	st = scan(&ck->rd, ck->rd.md, &sc);
	if (st == CKPTIO_OK && !(go = malloc(sc.n ? sc.n : 1)))
		st = ckptio__hc_error(&ck->rd.hc, CKPTIO_ENOMEM, "out of memory");
	if (st == CKPTIO_OK) {
		tally(&sc, 1, 0, min_age, go, &rep);
		copy_report(report, &rep);
	}
	free(go);
	scan_free(&sc);
	return ckptio__hc_finish(&ck->rd.hc, st);
}

/* ------------------------------------------------------------------------ */
/* Copy / convert                                                           */

/* Source of one item: streamed straight from its single saved chunk, or,
 * for an item saved in several chunks, assembled once in memory (bounded by
 * that item's size) and served from there.
 *
 * Small single-chunk items (up to COPY_SMALL) are read in batches of
 * neighbours in the source (up to COPY_BATCH bytes), one read_data call
 * each, as a load does: a checkpoint of 20,000 small tensors in a bucket
 * is then a few hundred requests, not 20,000.  The items are handed to the
 * save in the source's order, so the writer's threads, which keep that
 * order, pull neighbours at about the same time; a batch is freed when
 * its last item is served, and at most COPY_CACHE unfinished batches are
 * kept (a batch evicted early is read again if need be: memory stays
 * bounded whatever the order). */
#define COPY_SMALL (4u << 20)
#define COPY_BATCH (16u << 20)
#define COPY_CACHE 16

typedef struct cbatch {
	size_t first, n;   /* copier.order[first, first + n) */
	uint64_t bytes;
	unsigned char *buf; /* loaded, or NULL */
	uint32_t *crcs;    /* with buf: each item's CRC32C as read, or NULL */
	size_t left;       /* items of it not yet served */
	int users, loading;
} cbatch;

typedef struct copier {
	ckptio__rd *rd;
	struct csrc **order; /* the sources in the source's byte order */
	cbatch *batches;
	size_t nbatches, cached;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} copier;

typedef struct csrc {
	copier *cp;
	const ckptio_item_meta *im;
	unsigned char *whole;
	uint32_t crc;
	size_t batch;  /* (size_t)-1: not batched */
	size_t pos;    /* its place in the batch */
	uint64_t at;   /* its bytes' offset in the batch buffer */
} csrc;

/* Read one range of an item's chunk into buf, checksummed on the way
 * where the layout can (ABI 1.7): *crc receives the CRC32C of its bytes. */
static ckptio_status read_summed(ckptio__rd *rd, const ckptio_range *rg,
				 uint32_t *crc)
{
	const struct ckptio_layout_ops *lo = rd->loc.layout_plugin->desc->layout;
	ckptio_status st;

	if (ckptio__has_read_crc(lo))
		return lo->read_data_crc(rd->reader, rg, 1, crc);
	st = lo->read_data(rd->reader, rg, 1);
	if (st == CKPTIO_OK)
		*crc = ckptio__crc32c(0, rg->buf, rg->length);
	return st;
}

static ckptio_status assemble(csrc *c)
{
	ckptio__rd *rd = c->cp->rd;
	ckptio_status st = CKPTIO_OK;

	c->whole = malloc(c->im->nbytes ? c->im->nbytes : 1);
	if (!c->whole)
		return ckptio__hc_error(&rd->hc, CKPTIO_ENOMEM,
					"item '%.200s': out of memory "
					"assembling %llu bytes",
					c->im->name,
					(unsigned long long)c->im->nbytes);
	for (size_t k = 0; st == CKPTIO_OK && k < c->im->nchunks; k++) {
		const ckptio_chunk_meta *cm = &c->im->chunks[k];
		void *tmp = malloc(cm->length ? cm->length : 1);
		ckptio_range rg = {cm->object, cm->offset, cm->length, tmp};
		uint64_t zero[CKPTIO_MAX_NDIM] = {0};
		uint32_t crc = 0;

		st = tmp ? read_summed(rd, &rg, &crc) : CKPTIO_ENOMEM;
		if (st == CKPTIO_OK)
			st = ckptio__chunk_crc(&rd->hc, c->im, cm, crc);
		else if (tmp)
			ckptio__hc_item_context(&rd->hc, c->im->name,
						cm->object);
		/* The metadata keeps the chunks of a sub-byte tensor
		 * byte-aligned: the copy cannot fail for a checkpoint that
		 * loaded. */
		if (st == CKPTIO_OK &&
		    ckptio__copy_box(c->im->dtype, c->im->ndim, cm->offsets,
				     cm->shape, tmp, zero, c->im->shape,
				     c->whole) != 0)
			st = ckptio__hc_error(&rd->hc, CKPTIO_ECORRUPT,
					      "item '%.200s': a chunk of %s "
					      "is not byte-aligned",
					      c->im->name,
					      ckptio_dtype_name(c->im->dtype));
		free(tmp);
	}
	return st;
}

/* Read batch b into a buffer (without the lock), with each item's CRC32C
 * as read where the layout computes it (*out_crcs, else NULL). */
static ckptio_status batch_read(copier *cp, cbatch *b, unsigned char **out,
				uint32_t **out_crcs)
{
	ckptio__rd *rd = cp->rd;
	const struct ckptio_layout_ops *lo = rd->loc.layout_plugin->desc->layout;
	unsigned char *buf = malloc(b->bytes ? b->bytes : 1);
	ckptio_range *rgs = malloc(b->n * sizeof(*rgs));
	ckptio_status st;

	if (!buf || !rgs) {
		free(buf);
		free(rgs);
		return ckptio__hc_error(&rd->hc, CKPTIO_ENOMEM,
					"out of memory");
	}
	for (size_t i = 0; i < b->n; i++) {
		const csrc *c = cp->order[b->first + i];
		const ckptio_chunk_meta *cm = &c->im->chunks[0];

		rgs[i] = (ckptio_range){cm->object, cm->offset, cm->length,
					buf + c->at};
	}
	*out_crcs = ckptio__read_crcs(lo, b->n);
	st = *out_crcs ? lo->read_data_crc(rd->reader, rgs, b->n, *out_crcs)
		       : lo->read_data(rd->reader, rgs, b->n);
	for (size_t i = 0; st != CKPTIO_OK && i < b->n; i++)
		ckptio__hc_item_context(&rd->hc, cp->order[b->first + i]->im->name,
					rgs[i].key);
	free(rgs);
	if (st != CKPTIO_OK) {
		free(buf);
		free(*out_crcs);
		*out_crcs = NULL;
		return st;
	}
	*out = buf;
	return CKPTIO_OK;
}

/* A small item from its batch: loaded once (by whichever thread asks
 * first), served, its CRC checked, freed after its last item. */
static ckptio_status copy_batched(csrc *c, void *dst, size_t len)
{
	copier *cp = c->cp;
	cbatch *b = &cp->batches[c->batch];
	const ckptio_chunk_meta *cm = &c->im->chunks[0];
	ckptio_status st = CKPTIO_OK;
	uint32_t *crcs = NULL;

	pthread_mutex_lock(&cp->mu);
	while (b->loading)
		pthread_cond_wait(&cp->cv, &cp->mu);
	if (!b->buf) {
		unsigned char *buf = NULL;

		/* Too many batches half served: drop an idle one (it is
		 * read again if its other items are asked for). */
		for (size_t i = 0; cp->cached >= COPY_CACHE && i < cp->nbatches;
		     i++)
			if (cp->batches[i].buf && !cp->batches[i].users &&
			    &cp->batches[i] != b) {
				free(cp->batches[i].buf);
				free(cp->batches[i].crcs);
				cp->batches[i].buf = NULL;
				cp->batches[i].crcs = NULL;
				cp->cached--;
			}
		b->loading = 1;
		pthread_mutex_unlock(&cp->mu);
		st = batch_read(cp, b, &buf, &crcs);
		pthread_mutex_lock(&cp->mu);
		b->loading = 0;
		b->buf = buf;
		b->crcs = crcs;
		cp->cached += buf != NULL;
		pthread_cond_broadcast(&cp->cv);
	}
	if (st == CKPTIO_OK) {
		b->users++;
		pthread_mutex_unlock(&cp->mu);
		memcpy(dst, b->buf + c->at, len);
		st = ckptio__chunk_crc(&cp->rd->hc, c->im, cm,
				       b->crcs ? b->crcs[c->pos]
					       : ckptio__crc32c(0, dst, len));
		pthread_mutex_lock(&cp->mu);
		b->users--;
		if (--b->left == 0 && !b->users) {
			free(b->buf);
			free(b->crcs);
			b->buf = NULL;
			b->crcs = NULL;
			cp->cached--;
		}
	}
	pthread_mutex_unlock(&cp->mu);
	return st;
}

static ckptio_status copy_read(void *user, uint64_t offset, void *buf,
			       size_t len)
{
	csrc *c = user;
	ckptio__rd *rd = c->cp->rd;
	const ckptio_chunk_meta *cm = &c->im->chunks[0];
	ckptio_range rg = {cm->object, cm->offset + offset, len, buf};
	ckptio_status st;
	uint32_t crc = 0;

	if (c->batch != (size_t)-1 && offset == 0 && len == cm->length)
		return copy_batched(c, buf, len);
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
	st = read_summed(rd, &rg, &crc);
	if (st != CKPTIO_OK) {
		ckptio__hc_item_context(&rd->hc, c->im->name, cm->object);
		return st;
	}
	c->crc = offset ? ckptio__crc32c_combine(c->crc, crc, len) : crc;
	if (offset + len == cm->length)
		return ckptio__chunk_crc(&rd->hc, c->im, cm, c->crc);
	return CKPTIO_OK;
}

/* Sources in the source's byte order: object, then offset of their
 * first chunk. */
static int by_source_place(const void *a, const void *b)
{
	const csrc *x = *(const csrc *const *)a, *y = *(const csrc *const *)b;
	const ckptio_chunk_meta *p = &x->im->chunks[0], *q = &y->im->chunks[0];
	int c = strcmp(p->object, q->object);

	if (c)
		return c;
	return p->offset < q->offset ? -1 : p->offset > q->offset;
}

/* Order the sources and group the small single-chunk ones into batches
 * of neighbours. */
static ckptio_status copier_plan(copier *cp, csrc *srcs, size_t n)
{
	cp->order = malloc((n ? n : 1) * sizeof(*cp->order));
	cp->batches = malloc((n ? n : 1) * sizeof(*cp->batches));
	if (!cp->order || !cp->batches)
		return CKPTIO_ENOMEM;
	for (size_t i = 0; i < n; i++)
		cp->order[i] = &srcs[i];
	qsort(cp->order, n, sizeof(*cp->order), by_source_place);
	for (size_t i = 0; i < n; i++) {
		csrc *c = cp->order[i];
		uint64_t len = c->im->chunks[0].length;
		cbatch *last = cp->nbatches ? &cp->batches[cp->nbatches - 1]
					    : NULL;

		c->batch = (size_t)-1;
		/* (An empty item is never pulled: no batch would free.) */
		if (c->im->nchunks != 1 || len > COPY_SMALL || len == 0)
			continue;
		if (!last || last->first + last->n != i ||
		    last->bytes + len > COPY_BATCH) {
			cp->batches[cp->nbatches++] = (cbatch){.first = i};
			last = &cp->batches[cp->nbatches - 1];
		}
		c->batch = cp->nbatches - 1;
		c->at = last->bytes;
		c->pos = last->n;
		last->n++;
		last->left++;
		last->bytes += len;
	}
	return CKPTIO_OK;
}

static int by_first_row(const void *a, const void *b)
{
	const ckptio_chunk_meta *x = *(const ckptio_chunk_meta *const *)a,
				*y = *(const ckptio_chunk_meta *const *)b;

	return x->offsets[0] < y->offsets[0] ? -1 : x->offsets[0] > y->offsets[0];
}

/* The CRC32C of a whole item from its chunks' own, where the item's bytes
 * are its chunks back to back: one chunk, or chunks split along the first
 * dimension only (rows, as ranks shard a tensor), combined in row order.
 * 0 when it cannot be known without reading (column splits, a chunk
 * without a checksum). */
static int whole_crc(const ckptio_item_meta *im, uint32_t *out)
{
	const ckptio_chunk_meta **by_row;
	uint32_t crc = 0;
	uint64_t next = 0;
	size_t n = im->nchunks;

	for (size_t c = 0; c < n; c++) {
		if (!im->chunks[c].has_crc)
			return 0;
		for (unsigned d = 1; d < im->ndim; d++)
			if (im->chunks[c].offsets[d] != 0 ||
			    im->chunks[c].shape[d] != im->shape[d])
				return 0;
	}
	if (n == 1 && im->chunks[0].length == im->nbytes) {
		*out = im->chunks[0].crc32c;
		return 1;
	}
	if (n == 0 || im->ndim == 0 || !(by_row = malloc(n * sizeof(*by_row))))
		return 0;
	/* The chunks tile the tensor (the metadata's seal checked it): in
	 * order of their first row, each starts where the last ended. */
	for (size_t c = 0; c < n; c++)
		by_row[c] = &im->chunks[c];
	qsort(by_row, n, sizeof(*by_row), by_first_row);
	for (size_t c = 0; c < n && next != UINT64_MAX; c++) {
		if (by_row[c]->offsets[0] != next)
			next = UINT64_MAX;
		else {
			crc = ckptio__crc32c_combine(crc, by_row[c]->crc32c,
						     by_row[c]->length);
			next += by_row[c]->shape[0];
		}
	}
	free(by_row);
	if (next != im->shape[0])
		return 0;
	*out = crc;
	return 1;
}

ckptio_status ckptio_copy(ckptio_ctx *ctx, const char *src, const char *dst,
			  const ckptio_opts *opts)
{
	ckptio__rd rd;
	copier cp = {0};
	ckptio_sd *sd = NULL;
	csrc *srcs = NULL;
	ckptio_status st;
	ckptio_opts o;

	if (!ctx || !src || !dst)
		return ckptio__null_arg(ctx, __func__, !src ? "src" : "dst");
	st = ckptio__opts_get(ctx, __func__, opts, &o);
	if (st == CKPTIO_OK)
		st = ckptio__flags_check(ctx, __func__, o.flags,
					 CKPTIO__SAVE_FLAGS, "CKPTIO_SAVE_*");
	if (st != CKPTIO_OK)
		return st;
	opts = &o;
	ctx->errmsg[0] = '\0';
	st = ckptio__rd_open(ctx, src, opts->threads, &rd);
	if (st != CKPTIO_OK)
		return st;
	cp.rd = &rd;
	pthread_mutex_init(&cp.mu, NULL);
	pthread_cond_init(&cp.cv, NULL);
	st = ckptio_sd_new(&sd);
	if (st == CKPTIO_OK &&
	    !(srcs = calloc(rd.md->nitems ? rd.md->nitems : 1, sizeof(*srcs))))
		st = CKPTIO_ENOMEM;
	for (size_t i = 0; st == CKPTIO_OK && i < rd.md->nitems; i++)
		srcs[i] = (csrc){.cp = &cp, .im = &rd.md->items[i]};
	if (st == CKPTIO_OK)
		st = copier_plan(&cp, srcs, rd.md->nitems);
	if (st == CKPTIO_ENOMEM)
		ckptio__error(ctx, st, "out of memory");
	/* In the source's order: see "Source of one item" above. */
	for (size_t i = 0; st == CKPTIO_OK && i < rd.md->nitems; i++) {
		const ckptio_item_meta *im = cp.order[i]->im;
		csrc *c = cp.order[i];

		st = im->kind == CKPTIO_ITEM_BYTES
			     ? ckptio_sd_add_bytes_fn(sd, im->name, im->nbytes,
						      copy_read, c)
			     : ckptio_sd_add_tensor_fn(sd, im->name, im->dtype,
						       im->ndim, im->shape, NULL,
						       NULL, copy_read, c);
		if (st != CKPTIO_OK)
			ckptio__error(ctx, st, "%s", ckptio_last_error());
		/* The item's CRC32C known before its bytes (ABI 1.5), for
		 * layouts that write checksums ahead of the data
		 * (safetensors). */
		else
			sd->items[sd->n - 1].pi.has_crc = whole_crc(
				im, &sd->items[sd->n - 1].pi.crc32c);
	}
	if (st == CKPTIO_OK)
		st = ckptio_save(ctx, dst, sd, opts);
	/* A source failure is recorded on the source's context. */
	if (st != CKPTIO_OK && rd.hc.status != CKPTIO_OK)
		ckptio__error(ctx, st, "%s: %s", src, rd.hc.msg);
	for (size_t i = 0; srcs && i < rd.md->nitems; i++)
		free(srcs[i].whole);
	for (size_t i = 0; i < cp.nbatches; i++) {
		free(cp.batches[i].buf);
		free(cp.batches[i].crcs);
	}
	free(cp.batches);
	free(cp.order);
	free(srcs);
	pthread_cond_destroy(&cp.cv);
	pthread_mutex_destroy(&cp.mu);
	ckptio_sd_free(sd);
	ckptio__rd_close(&rd);
	return st;
}
