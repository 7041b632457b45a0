/*
 * native.c - the native layout (StorageWriter / StorageReader), built into
 * the core but reached only through the layout ABI, like any plugin.
 *
 * Objects of checkpoint ID (DESIGN.md section 3):
 *   ID/__<rank>_<n>.<token>.ckd   data: chunks back to back, one object per
 *                                 writer thread of each rank
 *   ID/.metadata.json             written last; its presence makes the
 *                                 checkpoint exist
 * <token> is random per save, so an overwriting save never touches the
 * objects the previous metadata points to: the old checkpoint stays
 * readable until the new metadata replaces it; then the core removes the
 * objects the replaced metadata named (docs/design-notes.md section 1).
 *
 * Built into the core, it still uses only <ckptio/plugin.h> and the host
 * table, as a plugin outside the core would: it is the reference layout
 * for plugin authors.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ckptio/plugin.h"

#define MD_KEY ".metadata.json"
#define MD_MAX (256u << 20) /* refuse larger metadata objects */

#define DATA_SUFFIX ".ckd"
/* Memory is written in slices so progress and cancel stay responsive. */
#define WRITE_SLICE (64u << 20)
/* Pull sources are fetched into a staging buffer of this size. */
#define PULL_BUF (8u << 20)
/* Large chunks start at multiples of CHUNK_ALIGN in their object, so that
 * a store writing with O_DIRECT sends them from the caller's memory
 * without copying, and readers may map them; the gap costs under 4 KiB,
 * under 1% of such a chunk.  Smaller chunks are packed at SMALL_ALIGN (an
 * element of every dtype stays aligned): for them the copy through a
 * staging buffer is cheap, and 4 KiB of padding would double a small
 * tensor's size on disk. */
#define CHUNK_ALIGN 4096u
#define ALIGN_FROM (512u << 10)
#define SMALL_ALIGN 16u

static uint64_t align_of(uint64_t nbytes)
{
	return nbytes >= ALIGN_FROM ? CHUNK_ALIGN : SMALL_ALIGN;
}

/* A chunk with the most padding it can need. */
static uint64_t padded(uint64_t nbytes)
{
	return nbytes + align_of(nbytes) - 1;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* An object's key: the checkpoint id, "/", the name ("" id: the name). */
static char *join(const char *id, const char *name)
{
	return *id ? fmt("%s/%s", id, name) : strdup(name);
}

typedef struct native_writer {
	const ckptio_host *host;
	ckptio_host_ctx *hc;
	ckptio_store *store;
	char *id;
	int rank;
	unsigned threads;
	pthread_mutex_t mu;
	char **written; /* committed data objects, removed by abort */
	size_t nwritten;
} native_writer;

typedef struct native_reader {
	const ckptio_host *host;
	ckptio_host_ctx *hc;
	ckptio_store *store;
	char *id;
} native_reader;

static const char *const native_commit_keys[] = {MD_KEY, NULL};

/* Tokens are lowercase hex (nw_global_plan); at most 32 digits. */
static int token_valid(const char *t)
{
	size_t n = t ? strspn(t, "0123456789abcdef") : 0;

	return n > 0 && n <= 32 && t[n] == '\0';
}

/* "__<rank>_<n>.<token>.ckd" with decimal rank and n, or the metadata:
 * specific enough that no user file is mistaken for ours. */
static int nw_owns(const char *name)
{
	const char *p = name, *dot;
	char tok[40];
	size_t n;

	if (strcmp(name, MD_KEY) == 0)
		return 1;
	if (strncmp(p, "__", 2) != 0)
		return 0;
	p += 2;
	if (!(n = strspn(p, "0123456789")) || n > 10 || p[n] != '_')
		return 0;
	p += n + 1;
	if (!(n = strspn(p, "0123456789")) || n > 20 || p[n] != '.')
		return 0;
	p += n + 1;
	dot = strchr(p, '.');
	if (!dot || (size_t)(dot - p) >= sizeof(tok) ||
	    strcmp(dot, DATA_SUFFIX) != 0)
		return 0;
	memcpy(tok, p, (size_t)(dot - p));
	tok[dot - p] = '\0';
	return token_valid(tok);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */

static ckptio_status nw_setup(const ckptio_host *host, ckptio_host_ctx *hc,
			      ckptio_store *store, const char *checkpoint_id,
			      int rank, int world, int is_coordinator,
			      unsigned threads, ckptio_writer **out)
{
	native_writer *w = calloc(1, sizeof(*w));

	(void)world;
	(void)is_coordinator;
	if (!w || !(w->id = strdup(checkpoint_id))) {
		free(w);
		return host->error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	w->host = host;
	w->hc = hc;
	w->store = store;
	w->rank = rank;
	w->threads = threads ? threads : 1;
	pthread_mutex_init(&w->mu, NULL);
	*out = (ckptio_writer *)w;
	return CKPTIO_OK;
}

static ckptio_status nw_local_plan(ckptio_writer *wr, ckptio_plan *plan)
{
	(void)wr;
	(void)plan;
	return CKPTIO_OK;
}

/* One random token for the whole save, chosen by the coordinator. */
static ckptio_status nw_global_plan(ckptio_writer *wr, ckptio_plan *plans,
				    int nplans)
{
	native_writer *w = (native_writer *)wr;
	unsigned char rnd[6];
	char token[16];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return w->host->error(w->hc, CKPTIO_EIO,
				      "getrandom failed for the save token");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	for (int r = 0; r < nplans; r++) {
		free(plans[r].storage);
		plans[r].storage = strdup(token);
		if (!plans[r].storage)
			return w->host->error(w->hc, CKPTIO_ENOMEM,
					      "out of memory");
	}
	return CKPTIO_OK;
}

/* One writer thread: writes its bin of items into one object. */
typedef struct bin {
	native_writer *w;
	const ckptio_plan *plan;
	ckptio_write_result *results;
	size_t *idx; /* plan item indices */
	size_t n;
	uint64_t bytes;
	char *key;    /* ID/__r_n.token.ckd */
	char *object; /* __r_n.token.ckd */
	int (*progress)(void *pu, uint64_t bytes);
	void *pu;
} bin;

static ckptio_status write_mem(bin *b, ckptio_put *p, const ckptio_plan_item *it,
			       uint32_t *crc)
{
	const ckptio_store_ops *ops = b->w->store->ops;
	const unsigned char *d = it->data;
	uint64_t left = it->nbytes;
	ckptio_status st;

	while (left > 0) {
		size_t n = left > WRITE_SLICE ? WRITE_SLICE : (size_t)left;

		*crc = b->w->host->crc32c(*crc, d, n);
		st = ops->put_write(p, d, n);
		if (st != CKPTIO_OK)
			return st;
		if (b->progress(b->pu, n))
			return b->w->host->error(b->w->hc, CKPTIO_ECANCELED,
						 "save cancelled");
		d += n;
		left -= n;
	}
	return CKPTIO_OK;
}

static ckptio_status write_pull(bin *b, ckptio_put *p,
				const ckptio_plan_item *it, uint32_t *crc,
				unsigned char *buf)
{
	const ckptio_store_ops *ops = b->w->store->ops;
	uint64_t off = 0;
	ckptio_status st;

	while (off < it->nbytes) {
		size_t n = it->nbytes - off > PULL_BUF ? PULL_BUF
						       : (size_t)(it->nbytes - off);

		st = it->read(it->read_user, off, buf, n);
		if (st != CKPTIO_OK)
			return b->w->host->error(b->w->hc, st,
						 "item '%.200s': reading the "
						 "source failed",
						 it->name);
		*crc = b->w->host->crc32c(*crc, buf, n);
		st = ops->put_write(p, buf, n);
		if (st != CKPTIO_OK)
			return st;
		if (b->progress(b->pu, n))
			return b->w->host->error(b->w->hc, CKPTIO_ECANCELED,
						 "save cancelled");
		off += n;
	}
	return CKPTIO_OK;
}

static ckptio_status write_bin(bin *b)
{
	const ckptio_store_ops *ops = b->w->store->ops;
	unsigned char *buf = NULL;
	ckptio_put *p;
	uint64_t off = 0;
	unsigned flags = CKPTIO_PUT_STABLE;
	ckptio_status st;

	/* Memory items stay put until the save returns; pulled items pass
	 * through buf, which is reused. */
	for (size_t i = 0; i < b->n; i++)
		if (!b->plan->items[b->idx[i]].data &&
		    b->plan->items[b->idx[i]].nbytes)
			flags = 0;
	st = ops->put_open(b->w->store, b->key, b->bytes, flags, &p);
	if (st != CKPTIO_OK)
		return st;
	for (size_t i = 0; i < b->n && st == CKPTIO_OK; i++) {
		static const unsigned char zeros[CHUNK_ALIGN];
		const ckptio_plan_item *it = &b->plan->items[b->idx[i]];
		ckptio_write_result *r = &b->results[b->idx[i]];
		uint64_t a = align_of(it->nbytes);
		size_t pad = (size_t)((a - off % a) % a);
		uint32_t crc = 0;

		if (pad && (st = ops->put_write(p, zeros, pad)) != CKPTIO_OK)
			break;
		off += pad;

		if (!it->data && it->nbytes && !buf && !(buf = malloc(PULL_BUF)))
			st = b->w->host->error(b->w->hc, CKPTIO_ENOMEM,
					       "out of memory");
		else if (it->data || !it->nbytes)
			st = write_mem(b, p, it, &crc);
		else
			st = write_pull(b, p, it, &crc, buf);
		r->object = strdup(b->object);
		r->offset = off;
		r->length = it->nbytes;
		r->crc32c = crc;
		if (!r->object && st == CKPTIO_OK)
			st = b->w->host->error(b->w->hc, CKPTIO_ENOMEM,
					       "out of memory");
		off += it->nbytes;
	}
	free(buf);
	if (st != CKPTIO_OK) {
		ops->put_abort(p);
		return st;
	}
	st = ops->put_commit(p);
	/* In doubt, the object may be visible: track it so that abort removes
	 * it, and fail (the checkpoint is not committed yet, and data that
	 * may not be durable must not be committed). */
	if (st == CKPTIO_OK || st == CKPTIO_EINDOUBT) {
		native_writer *w = b->w;
		char **v;

		pthread_mutex_lock(&w->mu);
		v = realloc(w->written, (w->nwritten + 1) * sizeof(*v));
		if (v) {
			w->written = v;
			v[w->nwritten++] = b->key;
			b->key = NULL;
		}
		pthread_mutex_unlock(&w->mu);
		if (!v) /* cannot track it for abort: remove it now */
			w->host->remove_many(w->store,
					     (const char *const *)&b->key, 1);
		if (!v)
			st = w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
		if (st == CKPTIO_EINDOUBT)
			st = CKPTIO_EIO;
	}
	return st;
}

static ckptio_status bin_task(void *arg, size_t i)
{
	return write_bin(&((bin *)arg)[i]);
}

/* host->parallel_for where the core has it (ABI 1.3), else in turn. */
static ckptio_status par_for(native_writer *w, size_t n,
			     ckptio_status (*fn)(void *arg, size_t i),
			     void *arg)
{
	ckptio_status st = CKPTIO_OK;

	if (w->host->struct_size > offsetof(ckptio_host, parallel_for) &&
	    w->host->parallel_for)
		return w->host->parallel_for(w->hc, n, fn, arg);
	for (size_t i = 0; i < n && st == CKPTIO_OK; i++)
		st = fn(arg, i);
	return st;
}

/* The core's planner (host->plan_bins, ABI 1.4) decides which items go
 * into which object; a core without it gets everything in one. */
static ckptio_status assign_bins(native_writer *w, const ckptio_plan *plan,
				 unsigned *nbins, uint32_t *bin_of)
{
	const ckptio_host *h = w->host;

	if (h->struct_size > offsetof(ckptio_host, plan_bins) && h->plan_bins)
		return h->plan_bins(w->hc, plan, w->threads, nbins, bin_of);
	*nbins = plan->nitems ? 1 : 0;
	for (size_t i = 0; i < plan->nitems; i++)
		bin_of[i] = 0;
	return CKPTIO_OK;
}

static ckptio_status plan_bins(native_writer *w, const ckptio_plan *plan,
			       bin **out, unsigned *out_n)
{
	uint32_t *bin_of = malloc((plan->nitems ? plan->nitems : 1) *
				  sizeof(*bin_of));
	ckptio_status st = CKPTIO_OK;
	unsigned nbins = 0;
	bin *bins = NULL;

	/* Without the save's token, objects could collide with those of
	 * another save (nw_global_plan always sets it). */
	if (!token_valid(plan->storage))
		st = w->host->error(w->hc, CKPTIO_ECOORD,
				    "rank %d: the plan has no valid save token",
				    w->rank);
	else if (!bin_of)
		st = w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
	if (st == CKPTIO_OK)
		st = assign_bins(w, plan, &nbins, bin_of);
	if (st == CKPTIO_OK && !(bins = calloc(nbins ? nbins : 1, sizeof(*bins))))
		st = w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
	*out = bins;
	*out_n = bins ? nbins : 0;
	/* Sizes first, then the items of each bin in plan order (reads of
	 * an object then go forward). */
	for (size_t i = 0; st == CKPTIO_OK && i < plan->nitems; i++) {
		bin *b = &bins[bin_of[i]];

		b->n++;
		/* With its alignment gap: the size hint of the object. */
		b->bytes += padded(plan->items[i].nbytes);
	}
	for (unsigned i = 0; st == CKPTIO_OK && i < nbins; i++) {
		bins[i].idx = malloc((bins[i].n ? bins[i].n : 1) *
				     sizeof(size_t));
		bins[i].n = 0;
		bins[i].object = fmt("__%d_%u.%s" DATA_SUFFIX, w->rank, i,
				     plan->storage);
		bins[i].key = bins[i].object ? join(w->id, bins[i].object)
					     : NULL;
		if (!bins[i].idx || !bins[i].key)
			st = w->host->error(w->hc, CKPTIO_ENOMEM,
					    "out of memory");
	}
	for (size_t i = 0; st == CKPTIO_OK && i < plan->nitems; i++) {
		bin *b = &bins[bin_of[i]];

		b->idx[b->n++] = i;
	}
	free(bin_of);
	return st;
}

static ckptio_status nw_write_data(ckptio_writer *wr, const ckptio_plan *plan,
				   ckptio_write_result *results,
				   int (*progress)(void *pu, uint64_t bytes),
				   void *pu)
{
	native_writer *w = (native_writer *)wr;
	unsigned nbins = 0;
	bin *bins = NULL;
	ckptio_status st;

	st = plan_bins(w, plan, &bins, &nbins);
	for (unsigned i = 0; st == CKPTIO_OK && i < nbins; i++) {
		bins[i].w = w;
		bins[i].plan = plan;
		bins[i].results = results;
		bins[i].progress = progress;
		bins[i].pu = pu;
	}
	/* The bins on the operation's worker threads (one at a time on a
	 * core whose host table predates the pool). */
	if (st == CKPTIO_OK)
		st = par_for(w, nbins, bin_task, bins);
	for (unsigned i = 0; i < nbins; i++) {
		free(bins[i].idx);
		free(bins[i].key);
		free(bins[i].object);
	}
	free(bins);
	return st;
}

/* The whole object key into a malloc'd buffer, if it is at most max
 * bytes.  ENOTFOUND without recording an error when absent.
 * A concurrent overwrite may replace the object between the stat and the
 * read: then the read sees a prefix of a longer object, or fails past the
 * end of a shorter one.  Both show as a size that changed; read again
 * (a store reads an object under one open, so a read of the right size
 * is one object's bytes). */
static ckptio_status read_object(const ckptio_host *host, ckptio_host_ctx *hc,
				 ckptio_store *store, const char *key,
				 uint64_t max, char **out, size_t *len)
{
	ckptio_stat sb, again;
	ckptio_range rg;
	ckptio_status st;

	*out = NULL;
	for (int attempt = 0;; attempt++) {
		st = store->ops->stat(store, key, &sb);
		if (st != CKPTIO_OK)
			return st;
		if (sb.size > max)
			return host->error(hc, CKPTIO_ECORRUPT,
					   "%s: %llu bytes, larger than the "
					   "%llu-byte limit for metadata",
					   key, (unsigned long long)sb.size,
					   (unsigned long long)max);
		if (!(*out = malloc(sb.size ? sb.size : 1)))
			return host->error(hc, CKPTIO_ENOMEM, "out of memory");
		rg = (ckptio_range){.key = key, .offset = 0,
				    .length = sb.size, .buf = *out};
		st = sb.size ? store->ops->read(store, &rg, 1) : CKPTIO_OK;
		if ((st == CKPTIO_OK || st == CKPTIO_ECORRUPT) && attempt < 5 &&
		    store->ops->stat(store, key, &again) == CKPTIO_OK &&
		    again.size != sb.size) {
			free(*out);
			*out = NULL;
			continue;
		}
		break;
	}
	if (st != CKPTIO_OK) {
		free(*out);
		*out = NULL;
		return st;
	}
	*len = (size_t)sb.size;
	return CKPTIO_OK;
}

/* After a failed metadata put: is our metadata there anyway (the store
 * committed it and the answer was lost)?  1 yes, 0 no, -1 cannot tell. */
static int committed_anyway(native_writer *w, const char *key,
			    const char *json, size_t len)
{
	char *buf;
	size_t got = 0;
	ckptio_status st = read_object(w->host, w->hc, w->store, key,
				       (uint64_t)len, &buf, &got);
	int ours;

	if (st == CKPTIO_ENOTFOUND)
		return 0;
	if (st == CKPTIO_ECORRUPT) /* larger than ours: not ours */
		return 0;
	if (st != CKPTIO_OK)
		return -1;
	ours = got == len && memcmp(buf, json, len) == 0;
	free(buf);
	return ours;
}

/* The opened store's caps: its instance_caps (ABI 1.3) where it has one,
 * within the plugin's static caps. */
static uint64_t store_caps(ckptio_store *st)
{
	const ckptio_store_ops *ops = st->ops;

	if (ops->struct_size >= offsetof(ckptio_store_ops, instance_caps) +
					sizeof(ops->instance_caps) &&
	    ops->instance_caps)
		return ops->caps & ops->instance_caps(st);
	return ops->caps;
}

static ckptio_status still_absent(native_writer *w, const char *key)
{
	ckptio_stat sb;
	ckptio_status st = w->store->ops->stat(w->store, key, &sb);

	if (st == CKPTIO_OK)
		return w->host->error(w->hc, CKPTIO_EEXIST,
				      "%s already exists (another save "
				      "committed first, or use overwrite)",
				      key);
	return st == CKPTIO_ENOTFOUND ? CKPTIO_OK : st;
}

/* The metadata put is the commit.  Once it may be visible, nothing it
 * names is removed: a failure is either certain (nothing visible, abort
 * may clean up), or in doubt (CKPTIO_EINDOUBT: every rank keeps its
 * data). */
static ckptio_status nw_finish(ckptio_writer *wr, const ckptio_metadata *md,
			       int overwrite)
{
	native_writer *w = (native_writer *)wr;
	const ckptio_store_ops *ops = w->store->ops;
	char *key = join(w->id, MD_KEY);
	size_t len = 0;
	char *json = w->host->md_to_json(md, &len);
	ckptio_put *p = NULL;
	ckptio_status st;
	int ours, if_absent = 0;

	if (!key || !json) {
		st = w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
		goto out;
	}
	/* Readers refuse larger metadata: never commit what cannot load. */
	if (len > MD_MAX) {
		st = w->host->error(w->hc, CKPTIO_EUNSUPPORTED,
				    "%s: the metadata would be %zu bytes, over "
				    "the %u-byte limit readers accept; save "
				    "fewer items per checkpoint",
				    key, len, MD_MAX);
		goto out;
	}
	/* Without CAP_IF_ABSENT the put cannot refuse: look just before it
	 * (the core warned of the race that remains). */
	if_absent = !overwrite && (store_caps(w->store) &
				   CKPTIO_STORE_CAP_IF_ABSENT);
	if (!overwrite && !if_absent &&
	    (st = still_absent(w, key)) != CKPTIO_OK)
		goto out;
	st = ops->put_open(w->store, key, len,
			   if_absent ? CKPTIO_PUT_IF_ABSENT : 0, &p);
	if (st == CKPTIO_OK)
		st = ops->put_write(p, json, len);
	if (st == CKPTIO_OK)
		st = ops->put_commit(p);
	else if (p)
		ops->put_abort(p);
	if (st == CKPTIO_OK || st == CKPTIO_EINDOUBT)
		goto out;
	ours = committed_anyway(w, key, json, len);
	if (ours == 1) {
		w->host->log(w->hc, CKPTIO_LOG_WARN,
			     "%s: the commit reported a failure, but the "
			     "metadata in place is this save's: committed",
			     key);
		st = CKPTIO_OK;
	} else if (ours < 0) {
		st = w->host->error(w->hc, CKPTIO_EINDOUBT,
				    "%s: the commit failed and reading the "
				    "key back failed too",
				    key);
		st = CKPTIO_EINDOUBT;
	} else if (st == CKPTIO_EEXIST) {
		w->host->error(w->hc, st,
			       "%s already exists (another save committed "
			       "first, or use overwrite)",
			       key);
	}
out:
	free(key);
	free(json);
	return st;
}

static void nw_abort(ckptio_writer *wr)
{
	native_writer *w = (native_writer *)wr;

	w->host->remove_many(w->store, (const char *const *)w->written,
				  w->nwritten);
	for (size_t i = 0; i < w->nwritten; i++)
		free(w->written[i]);
	w->nwritten = 0;
}

static void nw_free(ckptio_writer *wr)
{
	native_writer *w = (native_writer *)wr;

	if (!w)
		return;
	for (size_t i = 0; i < w->nwritten; i++)
		free(w->written[i]);
	free(w->written);
	free(w->id);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */

static ckptio_status nr_setup(const ckptio_host *host, ckptio_host_ctx *hc,
			      ckptio_store *store, const char *checkpoint_id,
			      ckptio_reader **out)
{
	native_reader *r = calloc(1, sizeof(*r));

	if (!r || !(r->id = strdup(checkpoint_id))) {
		free(r);
		return host->error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	r->host = host;
	r->hc = hc;
	r->store = store;
	*out = (ckptio_reader *)r;
	return CKPTIO_OK;
}

static ckptio_status nr_read_metadata(ckptio_reader *rd, ckptio_metadata **out)
{
	native_reader *r = (native_reader *)rd;
	char *key = join(r->id, MD_KEY), *buf = NULL;
	size_t len = 0;
	ckptio_status st;

	*out = NULL;
	if (!key)
		return r->host->error(r->hc, CKPTIO_ENOMEM, "out of memory");
	st = read_object(r->host, r->hc, r->store, key, MD_MAX, &buf,
			 &len);
	if (st == CKPTIO_ENOTFOUND)
		st = r->host->error(r->hc, st,
				    "no checkpoint: %s does not exist", key);
	else if (st == CKPTIO_OK && len == 0)
		st = r->host->error(r->hc, CKPTIO_ECORRUPT,
				    "%s: empty metadata object", key);
	if (st == CKPTIO_OK)
		st = r->host->md_from_json(r->hc, key, buf, len, out);
	free(buf);
	free(key);
	return st;
}

/* The store's read; with crcs, the CRC32C of every range too. */
static ckptio_status store_read(native_reader *r, const ckptio_range *ranges,
				size_t n, uint32_t *crcs)
{
	return crcs ? r->host->store_read_crc(r->store, ranges, n, crcs)
		    : r->store->ops->read(r->store, ranges, n);
}

static ckptio_status nr_read(ckptio_reader *rd, const ckptio_range *ranges,
			     size_t n, uint32_t *crcs)
{
	native_reader *r = (native_reader *)rd;
	ckptio_range *full;
	ckptio_status st = CKPTIO_OK;
	size_t i;

	if (!*r->id)
		return store_read(r, ranges, n, crcs);
	full = calloc(n ? n : 1, sizeof(*full));
	if (!full)
		return r->host->error(r->hc, CKPTIO_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		full[i] = ranges[i];
		full[i].key = join(r->id, ranges[i].key);
		if (!full[i].key) {
			st = r->host->error(r->hc, CKPTIO_ENOMEM, "out of memory");
			break;
		}
	}
	if (st == CKPTIO_OK)
		st = store_read(r, full, n, crcs);
	for (size_t j = 0; j < i; j++)
		free((void *)full[j].key);
	free(full);
	return st;
}

static ckptio_status nr_read_data(ckptio_reader *rd, const ckptio_range *ranges,
				  size_t n)
{
	return nr_read(rd, ranges, n, NULL);
}

static ckptio_status nr_read_data_crc(ckptio_reader *rd,
				      const ckptio_range *ranges, size_t n,
				      uint32_t *crcs)
{
	return nr_read(rd, ranges, n, crcs);
}

static void nr_free(ckptio_reader *rd)
{
	native_reader *r = (native_reader *)rd;

	if (r)
		free(r->id);
	free(r);
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

static const struct ckptio_layout_ops native_ops = {
	.struct_size = sizeof(struct ckptio_layout_ops),
	.commit_keys = native_commit_keys,
	.writer_setup = nw_setup,
	.prepare_local_plan = nw_local_plan,
	.prepare_global_plan = nw_global_plan,
	.write_data = nw_write_data,
	.finish = nw_finish,
	.abort = nw_abort,
	.writer_free = nw_free,
	.reader_setup = nr_setup,
	.read_metadata = nr_read_metadata,
	.read_data = nr_read_data,
	.reader_free = nr_free,
	.owns_object = nw_owns,
	.read_data_crc = nr_read_data_crc,
};

/* Found by the core's loader before any plugin file (core/loader.c). */
extern const ckptio_plugin ckptio__native_layout_plugin;
const ckptio_plugin ckptio__native_layout_plugin = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_LAYOUT,
	.name = "native",
	.description = "ckptio's own layout: data objects per rank and thread, "
		       "JSON metadata committed last, CRC32C per chunk",
	.layout = &native_ops,
};
