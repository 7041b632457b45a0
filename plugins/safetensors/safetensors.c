/*
 * safetensors.c - the Hugging Face safetensors layout (StorageWriter /
 * StorageReader), a plugin that uses only <ckptio/plugin.h> and the host
 * table, over any store (docs/safetensors.md).
 *
 * A model is either one file, ID/model.safetensors, or shards plus an
 * index, ID/model.safetensors.index.json ({"metadata": {"total_size": N},
 * "weight_map": {tensor: file}}).  A file is an 8-byte little-endian
 * header length N, N bytes of JSON ({name: {"dtype", "shape",
 * "data_offsets": [begin, end]}, "__metadata__": {string: string}}) padded
 * with spaces so that the data starts 8-byte aligned, then the tensors
 * back to back.
 *
 * Writing.  The commit key is the index, or the single file itself:
 *   - one file (one rank, at most shard_size bytes): write_data streams it
 *     into a put that stays open, and finish commits that put (put-if-
 *     absent unless overwriting), so the file appears complete or not at
 *     all, and a failed save never replaced the previous one;
 *   - shards: write_data commits each shard under a name unique to this
 *     save (model-00001-of-00003-<token>.safetensors; with several ranks
 *     model-r00002-00001-<token>.safetensors), and finish writes the index
 *     last, so shards never overwrite a file another save or the previous
 *     model uses.
 * ckptio records what the format lacks in __metadata__ (other readers
 * ignore it): "ckptio.crc32c", the CRC32C of every tensor in data order
 * (8 hex digits each, "--------" where unknown), and "ckptio.bytes", a JSON
 * array of the names of bytes items, stored as 1-D U8 tensors.  The header
 * is written before the data, so CRC32Cs are computed in a first pass over
 * memory items, and taken from the source for copies (ABI 1.5 plan items
 * with has_crc, checked as the bytes stream); other pulled items have
 * none.
 *
 * Reading is strict, as the reference implementation is: header length at
 * most 100,000,000, a JSON object without duplicate names, known dtypes,
 * dtype x shape = byte length, tensors contiguous from offset 0 to the end
 * of the file (stheader.c, which parses a header from the bytes this file
 * reads), index and files agreeing on every tensor.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ckptio/plugin.h"
#include "stheader.h"

#define SINGLE_KEY "model.safetensors"
#define INDEX_KEY "model.safetensors.index.json"
#define INDEX_MAX (256u << 20)
#define FIRST_READ (64u << 10) /* header bytes read in the first request */
#define WRITE_SLICE (64u << 20)
#define PULL_BUF (8u << 20)
#define DEFAULT_SHARD 5000000000ull /* 5 GB, as the Hugging Face hub */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

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

static char *join(const char *id, const char *name)
{
	return *id ? fmt("%s/%s", id, name) : strdup(name);
}

/* The opened store's caps (instance_caps, ABI 1.3, within the static). */
static uint64_t store_caps(ckptio_store *st)
{
	const ckptio_store_ops *ops = st->ops;

	if (ops->struct_size >= offsetof(ckptio_store_ops, instance_caps) +
					sizeof(ops->instance_caps) &&
	    ops->instance_caps)
		return ops->caps & ops->instance_caps(st);
	return ops->caps;
}

static ckptio_status par_for(const ckptio_host *h, ckptio_host_ctx *hc,
			     size_t n, ckptio_status (*fn)(void *, size_t),
			     void *arg)
{
	ckptio_status st = CKPTIO_OK;

	if (h->struct_size > offsetof(ckptio_host, parallel_for) &&
	    h->parallel_for)
		return h->parallel_for(hc, n, fn, arg);
	for (size_t i = 0; i < n && st == CKPTIO_OK; i++)
		st = fn(arg, i);
	return st;
}

static int is_hex8(const char *p)
{
	return strspn(p, "0123456789abcdef") >= 8;
}

/* Names this layout writes: the commit keys and token-named shards,
 * "model-NNNNN-of-NNNNN-T.safetensors" or "model-rNNNNN-NNNNN-T.safetensors"
 * with five or more digits and an 8-digit hex token: a user's own file
 * (model-00001-of-00002.safetensors from the hub) never matches. */
static int st_owns(const char *name)
{
	const char *p = name;
	size_t n;

	if (strcmp(name, SINGLE_KEY) == 0 || strcmp(name, INDEX_KEY) == 0)
		return 1;
	if (strncmp(p, "model-", 6) != 0)
		return 0;
	p += 6;
	if (*p == 'r') {
		p++;
		if ((n = strspn(p, "0123456789")) < 5 || p[n] != '-')
			return 0;
		p += n + 1;
		if ((n = strspn(p, "0123456789")) < 5 || p[n] != '-')
			return 0;
	} else {
		if ((n = strspn(p, "0123456789")) < 5 || strncmp(p + n, "-of-", 4))
			return 0;
		p += n + 4;
		if ((n = strspn(p, "0123456789")) < 5 || p[n] != '-')
			return 0;
	}
	p += n + 1;
	return is_hex8(p) && strcmp(p + 8, ".safetensors") == 0;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */

typedef struct shard {
	struct st_writer *w;
	const ckptio_plan *plan;
	ckptio_write_result *results;
	size_t first, n; /* plan items [first, first + n) */
	char *object;    /* file name */
	char *key;       /* ID/object */
	int (*progress)(void *pu, uint64_t bytes);
	void *pu;
	uint32_t *crc;   /* per item of the shard; crc_known */
	unsigned char *crc_known;
} shard;

typedef struct st_writer {
	const ckptio_host *host;
	ckptio_host_ctx *hc;
	ckptio_store *store;
	char *id;
	int rank, world;
	uint64_t shard_size;
	pthread_mutex_t mu;
	char **written; /* committed shard keys, removed by abort */
	size_t nwritten;
	ckptio_put *pending; /* the single file, committed by finish */
	char *pending_key;
	int pending_if_absent;
	int single;
} st_writer;

static ckptio_status sw_setup(const ckptio_host *host, ckptio_host_ctx *hc,
			      ckptio_store *store, const char *checkpoint_id,
			      int rank, int world, int is_coordinator,
			      unsigned threads, ckptio_writer **out)
{
	st_writer *w = calloc(1, sizeof(*w));
	ckptio_status st;

	(void)is_coordinator;
	(void)threads;
	if (!w || !(w->id = strdup(checkpoint_id))) {
		free(w);
		return host->error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	w->host = host;
	w->hc = hc;
	w->store = store;
	w->rank = rank;
	w->world = world;
	pthread_mutex_init(&w->mu, NULL);
	st = host->config_size(hc, "shard_size", DEFAULT_SHARD, &w->shard_size);
	if (st == CKPTIO_OK && w->shard_size < 4096)
		st = host->error(hc, CKPTIO_ECONFIG,
				 "safetensors: shard_size must be at least "
				 "4KiB");
	if (st != CKPTIO_OK) {
		pthread_mutex_destroy(&w->mu);
		free(w->id);
		free(w);
		return st;
	}
	*out = (ckptio_writer *)w;
	return CKPTIO_OK;
}

/* What the format cannot hold is refused before anything is written. */
static ckptio_status check_item(st_writer *w, const ckptio_plan_item *it)
{
	if (strcmp(it->name, "__metadata__") == 0)
		return w->host->error(w->hc, CKPTIO_EUNSUPPORTED,
				      "item '__metadata__': the name is "
				      "reserved by the safetensors format");
	if (it->kind == CKPTIO_ITEM_BYTES)
		return CKPTIO_OK;
	if (stheader_dtype_index(it->dtype) < 0)
		return w->host->error(w->hc, CKPTIO_EUNSUPPORTED,
				      "item '%.200s': dtype %d has no "
				      "safetensors name",
				      it->name, (int)it->dtype);
	for (unsigned d = 0; d < it->ndim; d++)
		if (it->offsets[d] != 0 ||
		    it->shape[d] != it->global_shape[d])
			return w->host->error(
				w->hc, CKPTIO_EUNSUPPORTED,
				"item '%.200s': rank %d saves a part of it "
				"(dimension %u: %llu of %llu from %llu), but a "
				"safetensors file holds whole tensors; save it "
				"whole from one rank, or use the native layout",
				it->name, w->rank, d,
				(unsigned long long)it->shape[d],
				(unsigned long long)it->global_shape[d],
				(unsigned long long)it->offsets[d]);
	return CKPTIO_OK;
}

static ckptio_status sw_local_plan(ckptio_writer *wr, ckptio_plan *plan)
{
	st_writer *w = (st_writer *)wr;
	ckptio_status st = CKPTIO_OK;

	for (size_t i = 0; st == CKPTIO_OK && i < plan->nitems; i++)
		st = check_item(w, &plan->items[i]);
	return st;
}

/* One token for the save; one file when a single rank saves at most
 * shard_size bytes.  storage: "<token>" or "<token> single". */
static ckptio_status sw_global_plan(ckptio_writer *wr, ckptio_plan *plans,
				    int nplans)
{
	st_writer *w = (st_writer *)wr;
	unsigned char rnd[4];
	uint64_t total = 0;
	char storage[32];

	for (int r = 0; r < nplans; r++)
		for (size_t i = 0; i < plans[r].nitems; i++) {
			ckptio_status st = check_item(w, &plans[r].items[i]);

			if (st != CKPTIO_OK)
				return st;
			total += plans[r].items[i].nbytes;
		}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return w->host->error(w->hc, CKPTIO_EIO,
				      "getrandom failed for the save token");
	snprintf(storage, sizeof(storage), "%02x%02x%02x%02x%s", rnd[0], rnd[1],
		 rnd[2], rnd[3],
		 nplans == 1 && total <= w->shard_size ? " single" : "");
	for (int r = 0; r < nplans; r++) {
		free(plans[r].storage);
		if (!(plans[r].storage = strdup(storage)))
			return w->host->error(w->hc, CKPTIO_ENOMEM,
					      "out of memory");
	}
	return CKPTIO_OK;
}

static ckptio_status crc_task(void *arg, size_t i)
{
	shard *s = arg;
	const ckptio_plan_item *it = &s->plan->items[s->first + i];

	if (it->data || it->nbytes == 0) {
		s->crc[i] = it->nbytes ? s->w->host->crc32c(0, it->data,
							    (size_t)it->nbytes)
				       : 0;
		s->crc_known[i] = 1;
	} else if ((s->w->host->abi_version & 0xffff) >= 5 && it->has_crc) {
		/* Known ahead (ABI 1.5); checked as the bytes stream. */
		s->crc[i] = it->crc32c;
		s->crc_known[i] = 1;
	}
	return CKPTIO_OK;
}

/* The header of shard s: JSON padded with spaces to a multiple of 8. */
static char *build_header(shard *s, size_t *len)
{
	json_t *root = json_object(), *meta = json_object(), *bytes = NULL;
	char *crcs = malloc(s->n * 8 + 1), *text = NULL, *out = NULL;
	uint64_t off = 0;
	int bad = !root || !meta || !crcs;

	bad = bad || json_object_set_new(root, "__metadata__", meta);
	if (!bad) {
		bad = json_object_set_new(meta, "format", json_string("pt"));
		crcs[0] = '\0';
	}
	for (size_t i = 0; !bad && i < s->n; i++) {
		const ckptio_plan_item *it = &s->plan->items[s->first + i];
		json_t *t = json_object(), *shape = json_array(), *offs;
		int di = stheader_dtype_index(it->kind == CKPTIO_ITEM_BYTES
						      ? CKPTIO_U8 : it->dtype);

		bad = !t || !shape || json_object_set_new(root, it->name, t) ||
		      json_object_set_new(t, "dtype",
					  json_string(stheader_dtypes[di].name)) ||
		      json_object_set_new(t, "shape", shape);
		if (!bad && it->kind == CKPTIO_ITEM_BYTES) {
			bad = json_array_append_new(
				shape, json_integer((json_int_t)it->nbytes));
			if (!bad && !bytes)
				bad = !(bytes = json_array());
			if (!bad)
				bad = json_array_append_new(bytes,
							    json_string(it->name));
		}
		for (unsigned d = 0; !bad && it->kind != CKPTIO_ITEM_BYTES &&
				     d < it->ndim;
		     d++)
			bad = json_array_append_new(
				shape, json_integer((json_int_t)it->shape[d]));
		offs = bad ? NULL : json_array();
		bad = bad || !offs || json_object_set_new(t, "data_offsets", offs) ||
		      json_array_append_new(offs, json_integer((json_int_t)off)) ||
		      json_array_append_new(
			      offs, json_integer((json_int_t)(off + it->nbytes)));
		off += it->nbytes;
		if (!bad) {
			if (s->crc_known[i])
				snprintf(crcs + 8 * i, 9, "%08x", s->crc[i]);
			else
				memcpy(crcs + 8 * i, "--------", 9);
		}
	}
	if (!bad)
		bad = json_object_set_new(meta, STHEADER_META_CRC,
					  json_string(crcs));
	if (!bad && bytes) {
		char *list = json_dumps(bytes, JSON_COMPACT);

		bad = !list || json_object_set_new(meta, STHEADER_META_BYTES,
						   json_string(list));
		free(list);
	}
	if (!bad)
		text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER |
						JSON_ENSURE_ASCII);
	if (text) {
		size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;

		if ((out = malloc(padded))) {
			memcpy(out, text, n);
			memset(out + n, ' ', padded - n);
			*len = padded;
		}
	}
	free(text);
	free(crcs);
	json_decref(bytes);
	json_decref(root);
	return out;
}

static ckptio_status write_item(shard *s, ckptio_put *p,
				const ckptio_plan_item *it, uint32_t *crc,
				unsigned char **buf)
{
	const ckptio_host *h = s->w->host;
	const ckptio_store_ops *ops = s->w->store->ops;
	uint64_t off = 0;
	ckptio_status st;

	while (off < it->nbytes) {
		size_t n;
		const void *src;

		if (it->data) {
			n = it->nbytes - off > WRITE_SLICE
				    ? WRITE_SLICE : (size_t)(it->nbytes - off);
			src = (const unsigned char *)it->data + off;
		} else {
			n = it->nbytes - off > PULL_BUF
				    ? PULL_BUF : (size_t)(it->nbytes - off);
			if (!*buf && !(*buf = malloc(PULL_BUF)))
				return h->error(s->w->hc, CKPTIO_ENOMEM,
						"out of memory");
			st = it->read(it->read_user, off, *buf, n);
			if (st != CKPTIO_OK)
				return h->error(s->w->hc, st,
						"item '%.200s': reading the "
						"source failed",
						it->name);
			*crc = h->crc32c(*crc, *buf, n);
			src = *buf;
		}
		st = ops->put_write(p, src, n);
		if (st != CKPTIO_OK)
			return st;
		if (s->progress(s->pu, n))
			return h->error(s->w->hc, CKPTIO_ECANCELED,
					"save cancelled");
		off += n;
	}
	return CKPTIO_OK;
}

static ckptio_status exists(st_writer *w, const char *name, int *yes);

static ckptio_status track(st_writer *w, char **key)
{
	char **v;

	pthread_mutex_lock(&w->mu);
	v = realloc(w->written, (w->nwritten + 1) * sizeof(*v));
	if (v) {
		w->written = v;
		v[w->nwritten++] = *key;
		*key = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	if (v)
		return CKPTIO_OK;
	/* Cannot track it for abort: remove it now. */
	w->host->remove_many(w->store, (const char *const *)key, 1);
	return w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
}

static ckptio_status write_shard(shard *s)
{
	st_writer *w = s->w;
	const ckptio_host *h = w->host;
	const ckptio_store_ops *ops = w->store->ops;
	unsigned char le[8], *buf = NULL;
	uint64_t data = 0, off = 0;
	size_t hlen = 0;
	char *header;
	unsigned flags = CKPTIO_PUT_STABLE;
	ckptio_put *p = NULL;
	ckptio_status st;

	s->crc = calloc(s->n ? s->n : 1, sizeof(*s->crc));
	s->crc_known = calloc(s->n ? s->n : 1, 1);
	if (!s->crc || !s->crc_known)
		return h->error(w->hc, CKPTIO_ENOMEM, "out of memory");
	/* The CRC32Cs go in the header, before the data: a first pass over
	 * the items in memory, in parallel. */
	st = par_for(h, w->hc, s->n, crc_task, s);
	if (st != CKPTIO_OK)
		return st;
	if (!(header = build_header(s, &hlen)))
		return h->error(w->hc, CKPTIO_ENOMEM, "out of memory");
	if (hlen > STHEADER_MAX) {
		free(header);
		return h->error(w->hc, CKPTIO_EUNSUPPORTED,
				"%s: the header would be %zu bytes, over the "
				"%u-byte limit of safetensors readers; lower "
				"shard_size or save fewer tensors per file",
				s->object, hlen, STHEADER_MAX);
	}
	for (size_t i = 0; i < s->n; i++) {
		data += s->plan->items[s->first + i].nbytes;
		if (!s->plan->items[s->first + i].data &&
		    s->plan->items[s->first + i].nbytes)
			flags = 0;
	}
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	if (w->single) {
		/* See finish_single. */
		int there = 0;

		st = exists(w, SINGLE_KEY, &there);
		if (st != CKPTIO_OK) {
			free(header);
			return st;
		}
		w->pending_if_absent = !there && (store_caps(w->store) &
						  CKPTIO_STORE_CAP_IF_ABSENT);
		if (w->pending_if_absent)
			flags |= CKPTIO_PUT_IF_ABSENT;
	}
	st = ops->put_open(w->store, s->key, 8 + hlen + data, flags, &p);
	if (st == CKPTIO_OK)
		st = ops->put_write(p, le, 8);
	if (st == CKPTIO_OK)
		st = ops->put_write(p, header, hlen);
	free(header);
	for (size_t i = 0; st == CKPTIO_OK && i < s->n; i++) {
		const ckptio_plan_item *it = &s->plan->items[s->first + i];
		ckptio_write_result *r = &s->results[s->first + i];
		uint32_t crc = 0;

		st = write_item(s, p, it, &crc, &buf);
		/* A pulled item whose CRC32C the header already claims. */
		if (st == CKPTIO_OK && !it->data && it->nbytes &&
		    s->crc_known[i] && crc != s->crc[i])
			st = h->error(w->hc, CKPTIO_ECORRUPT,
				      "item '%.200s': the source's bytes have "
				      "CRC32C %08x, not the %08x it claimed",
				      it->name, crc, s->crc[i]);
		r->object = strdup(s->object);
		r->offset = 8 + hlen + off;
		r->length = it->nbytes;
		r->crc32c = s->crc_known[i] ? s->crc[i] : crc;
		if (!r->object && st == CKPTIO_OK)
			st = h->error(w->hc, CKPTIO_ENOMEM, "out of memory");
		off += it->nbytes;
	}
	free(buf);
	if (st != CKPTIO_OK) {
		if (p)
			ops->put_abort(p);
		return st;
	}
	if (w->single) {
		/* Committed by finish: the file is the commit. */
		w->pending = p;
		w->pending_key = s->key;
		s->key = NULL;
		return CKPTIO_OK;
	}
	st = ops->put_commit(p);
	/* In doubt the shard may be visible: track it so abort removes it,
	 * and fail (nothing commits data that may not be durable). */
	if (st == CKPTIO_OK || st == CKPTIO_EINDOUBT) {
		ckptio_status t = track(w, &s->key);

		if (t != CKPTIO_OK)
			st = t;
		else if (st == CKPTIO_EINDOUBT)
			st = CKPTIO_EIO;
	}
	return st;
}

static ckptio_status shard_task(void *arg, size_t i)
{
	return write_shard(&((shard *)arg)[i]);
}

static ckptio_status sw_write_data(ckptio_writer *wr, const ckptio_plan *plan,
				   ckptio_write_result *results,
				   int (*progress)(void *pu, uint64_t bytes),
				   void *pu)
{
	st_writer *w = (st_writer *)wr;
	const char *token = plan->storage;
	shard *sh = NULL;
	size_t nsh = 0;
	uint64_t bytes = 0;
	ckptio_status st = CKPTIO_OK;

	if (!token || strlen(token) < 8 || !is_hex8(token) ||
	    (token[8] && strcmp(token + 8, " single") != 0))
		return w->host->error(w->hc, CKPTIO_ECOORD,
				      "rank %d: the plan has no valid save "
				      "token",
				      w->rank);
	w->single = strcmp(token + 8, " single") == 0;
	if (plan->nitems == 0 && !w->single)
		return CKPTIO_OK;
	if (!(sh = calloc(plan->nitems ? plan->nitems : 1, sizeof(*sh))))
		return w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
	/* Shards in plan order, each up to shard_size bytes (an item larger
	 * than that gets a shard of its own). */
	for (size_t i = 0; i < plan->nitems; i++) {
		uint64_t nb = plan->items[i].nbytes;

		if (nsh == 0 || (!w->single && bytes + nb > w->shard_size &&
				 sh[nsh - 1].n > 0)) {
			sh[nsh++].first = i;
			bytes = 0;
		}
		sh[nsh - 1].n++;
		bytes += nb;
	}
	if (nsh == 0) /* a single file of no tensors */
		nsh = 1;
	for (size_t i = 0; st == CKPTIO_OK && i < nsh; i++) {
		sh[i].w = w;
		sh[i].plan = plan;
		sh[i].results = results;
		sh[i].progress = progress;
		sh[i].pu = pu;
		if (w->single)
			sh[i].object = strdup(SINGLE_KEY);
		else if (w->world == 1)
			sh[i].object = fmt("model-%05zu-of-%05zu-%.8s.safetensors",
					   i + 1, nsh, token);
		else
			sh[i].object = fmt("model-r%05d-%05zu-%.8s.safetensors",
					   w->rank, i + 1, token);
		sh[i].key = sh[i].object ? join(w->id, sh[i].object) : NULL;
		if (!sh[i].key)
			st = w->host->error(w->hc, CKPTIO_ENOMEM,
					    "out of memory");
	}
	if (st == CKPTIO_OK)
		st = par_for(w->host, w->hc, nsh, shard_task, sh);
	for (size_t i = 0; i < nsh; i++) {
		free(sh[i].object);
		free(sh[i].key);
		free(sh[i].crc);
		free(sh[i].crc_known);
	}
	free(sh);
	return st;
}

/* The whole object key, at most max bytes, into a malloc'd buffer;
 * ENOTFOUND (nothing recorded) when absent. */
static ckptio_status read_whole(const ckptio_host *h, ckptio_host_ctx *hc,
				ckptio_store *store, const char *key,
				uint64_t max, const char *what, char **out,
				size_t *len)
{
	ckptio_stat sb, again;
	ckptio_range rg;
	ckptio_status st;

	*out = NULL;
	/* A concurrent overwrite (another save committing its index) may
	 * replace the object between the stat and the read: the read then
	 * sees a prefix of a longer object or runs past the end of a shorter
	 * one.  Both show as a size that changed: read again, as the native
	 * layout does for its metadata. */
	for (int attempt = 0;; attempt++) {
		st = store->ops->stat(store, key, &sb);
		if (st != CKPTIO_OK)
			return st;
		if (sb.size > max)
			return h->error(hc, CKPTIO_ECORRUPT,
					"%s: %llu bytes, larger than the "
					"%llu-byte limit for %s",
					key, (unsigned long long)sb.size,
					(unsigned long long)max, what);
		if (!(*out = malloc(sb.size ? sb.size : 1)))
			return h->error(hc, CKPTIO_ENOMEM, "out of memory");
		rg = (ckptio_range){key, 0, sb.size, *out};
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

static ckptio_status exists(st_writer *w, const char *name, int *yes)
{
	char *key = join(w->id, name);
	ckptio_stat sb;
	ckptio_status st;

	if (!key)
		return w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
	st = w->store->ops->stat(w->store, key, &sb);
	free(key);
	*yes = st == CKPTIO_OK;
	return st == CKPTIO_ENOTFOUND ? CKPTIO_OK : st;
}

static ckptio_status refuse_existing(st_writer *w, const char *name)
{
	int yes = 0;
	ckptio_status st = exists(w, name, &yes);

	if (st == CKPTIO_OK && yes)
		st = w->host->error(w->hc, CKPTIO_EEXIST,
				    "%s%s%s already exists (another save "
				    "committed first, or use overwrite)",
				    w->id, *w->id ? "/" : "", name);
	return st;
}

static char *index_json(const ckptio_metadata *md, size_t *len)
{
	json_t *root = json_object(), *meta = json_object(),
	       *map = json_object();
	uint64_t total = 0;
	char *text = NULL;
	int bad = !root || !meta || !map ||
		  json_object_set_new(root, "metadata", meta) ||
		  json_object_set_new(root, "weight_map", map);

	for (size_t i = 0; !bad && i < md->nitems; i++) {
		const ckptio_item_meta *im = &md->items[i];

		total += im->nbytes;
		bad = im->nchunks != 1 ||
		      json_object_set_new(map, im->name,
					  json_string(im->chunks[0].object));
	}
	if (!bad)
		bad = json_object_set_new(meta, "total_size",
					  json_integer((json_int_t)total));
	if (!bad)
		text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text)
		*len = strlen(text);
	return text;
}

/* Did our index land although the put reported a failure?  1 yes, 0 no,
 * -1 cannot tell. */
static int committed_anyway(st_writer *w, const char *key, const char *json,
			    size_t len)
{
	char *buf;
	size_t got = 0;
	ckptio_status st = read_whole(w->host, w->hc, w->store, key, len,
				      "the index", &buf, &got);
	int ours;

	if (st == CKPTIO_ENOTFOUND || st == CKPTIO_ECORRUPT)
		return 0;
	if (st != CKPTIO_OK)
		return -1;
	ours = got == len && memcmp(buf, json, len) == 0;
	free(buf);
	return ours;
}

/* The single file: its put, opened by write_data, is the commit.  It was
 * opened put-if-absent when no model.safetensors existed then (a save
 * that started after this one and committed first makes it fail); when
 * one did, the core had found no checkpoint unless overwriting. */
static ckptio_status finish_single(st_writer *w, int overwrite)
{
	const ckptio_store_ops *ops = w->store->ops;
	ckptio_put *p = w->pending;
	ckptio_status st = CKPTIO_OK;
	int stale = 0;

	w->pending = NULL;
	/* A sharded model there is a checkpoint too. */
	if (!overwrite)
		st = refuse_existing(w, INDEX_KEY);
	if (st == CKPTIO_OK && !overwrite && !w->pending_if_absent)
		st = refuse_existing(w, SINGLE_KEY);
	if (st != CKPTIO_OK) {
		ops->put_abort(p);
		return st;
	}
	st = ops->put_commit(p);
	if (st == CKPTIO_EEXIST)
		return w->host->error(w->hc, st,
				      "%s already exists (another save "
				      "committed first, or use overwrite)",
				      w->pending_key);
	if (st == CKPTIO_OK && overwrite &&
	    exists(w, INDEX_KEY, &stale) == CKPTIO_OK && stale) {
		/* The replaced model was sharded: readers would still prefer
		 * its index.  Its shards go with it (the core removes what
		 * the replaced metadata named and this one does not). */
		char *key = join(w->id, INDEX_KEY);

		if (key)
			w->host->remove_many(w->store,
					     (const char *const *)&key, 1);
		free(key);
	}
	return st;
}

static ckptio_status sw_finish(ckptio_writer *wr, const ckptio_metadata *md,
			       int overwrite)
{
	st_writer *w = (st_writer *)wr;
	const ckptio_store_ops *ops = w->store->ops;
	char *key = NULL, *json = NULL;
	size_t len = 0;
	ckptio_put *p = NULL;
	ckptio_status st;
	int ours, if_absent;

	if (w->single && w->pending)
		return finish_single(w, overwrite);
	if (w->single)
		return w->host->error(w->hc, CKPTIO_ECOORD,
				      "safetensors: nothing to commit: the "
				      "single file was not written");
	key = join(w->id, INDEX_KEY);
	json = index_json(md, &len);
	if (!key || !json) {
		st = w->host->error(w->hc, CKPTIO_ENOMEM, "out of memory");
		goto out;
	}
	if_absent = !overwrite && (store_caps(w->store) &
				   CKPTIO_STORE_CAP_IF_ABSENT);
	/* A single-file model there is a checkpoint too. */
	st = overwrite ? CKPTIO_OK : refuse_existing(w, SINGLE_KEY);
	if (st == CKPTIO_OK && !overwrite && !if_absent)
		st = refuse_existing(w, INDEX_KEY);
	if (st != CKPTIO_OK)
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
			     "%s: the commit reported a failure, but the index "
			     "in place is this save's: committed",
			     key);
		st = CKPTIO_OK;
	} else if (ours < 0) {
		st = w->host->error(w->hc, CKPTIO_EINDOUBT,
				    "%s: the commit failed and reading the key "
				    "back failed too",
				    key);
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

static void sw_abort(ckptio_writer *wr)
{
	st_writer *w = (st_writer *)wr;

	if (w->pending)
		w->store->ops->put_abort(w->pending);
	w->pending = NULL;
	w->host->remove_many(w->store, (const char *const *)w->written,
			     w->nwritten);
	for (size_t i = 0; i < w->nwritten; i++)
		free(w->written[i]);
	w->nwritten = 0;
}

static void sw_free(ckptio_writer *wr)
{
	st_writer *w = (st_writer *)wr;

	if (!w)
		return;
	if (w->pending) /* never committed: it must not appear */
		w->store->ops->put_abort(w->pending);
	for (size_t i = 0; i < w->nwritten; i++)
		free(w->written[i]);
	free(w->written);
	free(w->pending_key);
	free(w->id);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */

typedef struct stfile {
	char *name; /* object name, relative to the checkpoint */
	char *key;
	stheader h;
	int missing; /* named, but not there (nothing recorded yet) */
} stfile;

typedef struct st_reader {
	const ckptio_host *host;
	ckptio_host_ctx *hc;
	ckptio_store *store;
	char *id;
	stfile *files;
	size_t nfiles;
} st_reader;

static ckptio_status sr_setup(const ckptio_host *host, ckptio_host_ctx *hc,
			      ckptio_store *store, const char *checkpoint_id,
			      ckptio_reader **out)
{
	st_reader *r = calloc(1, sizeof(*r));

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

static void files_free(st_reader *r)
{
	for (size_t i = 0; i < r->nfiles; i++) {
		free(r->files[i].name);
		free(r->files[i].key);
		stheader_free(&r->files[i].h);
	}
	free(r->files);
	r->files = NULL;
	r->nfiles = 0;
}

#define BAD(...) r->host->error(r->hc, CKPTIO_ECORRUPT, __VA_ARGS__)

/* stheader's errors, recorded for the operation. */
static void header_error(void *user, ckptio_status st, const char *msg)
{
	st_reader *r = user;

	r->host->error(r->hc, st, "%s", msg);
}

/* Read and check the header of file f (whose size is `size`): the first
 * 64 KiB, then the rest of a longer header. */
static ckptio_status read_header(st_reader *r, stfile *f, uint64_t size)
{
	uint64_t span, first = size < FIRST_READ ? size : FIRST_READ;
	unsigned char *buf = NULL, *b2;
	ckptio_range rg = {f->key, 0, first, NULL};
	ckptio_status st = CKPTIO_OK;

	if (size >= 8) {
		if (!(buf = malloc(first)))
			return r->host->error(r->hc, CKPTIO_ENOMEM,
					      "out of memory");
		rg.buf = buf;
		st = r->store->ops->read(r->store, &rg, 1);
	}
	if (st == CKPTIO_OK)
		st = stheader_span(buf, buf ? first : 0, size, f->key,
				   header_error, r, &span);
	if (st == CKPTIO_OK && span > first) {
		if (!(b2 = realloc(buf, span))) {
			free(buf);
			return r->host->error(r->hc, CKPTIO_ENOMEM,
					      "out of memory");
		}
		buf = b2;
		rg = (ckptio_range){f->key, first, span - first, buf + first};
		st = r->store->ops->read(r->store, &rg, 1);
		first = span;
	}
	if (st == CKPTIO_OK)
		st = stheader_parse(buf, first, size, f->key, header_error, r,
				    &f->h);
	free(buf);
	return st;
}

static ckptio_status header_task(void *arg, size_t i)
{
	st_reader *r = arg;
	stfile *f = &r->files[i];
	ckptio_stat sb;
	ckptio_status st = r->store->ops->stat(r->store, f->key, &sb);

	if (st == CKPTIO_ENOTFOUND) { /* sr_read_metadata says why */
		f->missing = 1;
		return st;
	}
	if (st != CKPTIO_OK)
		return st;
	st = read_header(r, f, sb.size);
	if (st == CKPTIO_ENOTFOUND) /* gone since the stat */
		f->missing = 1;
	return st;
}

/* The index: file names in order of first appearance, the weight map
 * kept to check every file's tensors against. */
static ckptio_status parse_index(st_reader *r, const char *key,
				 const char *buf, size_t len, json_t **map_out)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr),
	       *map = NULL, *seen = json_object(), *v;
	const char *name;
	ckptio_status st = CKPTIO_OK;

	*map_out = NULL;
	if (!root)
		st = BAD("%s: not valid JSON: %s (line %d)", key, jerr.text,
			 jerr.line);
	else if (!json_is_object(root) ||
		 !json_is_object(map = json_object_get(root, "weight_map")))
		st = BAD("%s: no \"weight_map\" object", key);
	if (st == CKPTIO_OK &&
	    !(r->files = calloc(json_object_size(map) ? json_object_size(map)
						      : 1,
				sizeof(*r->files))))
		st = r->host->error(r->hc, CKPTIO_ENOMEM, "out of memory");
	if (st == CKPTIO_OK && !seen)
		st = r->host->error(r->hc, CKPTIO_ENOMEM, "out of memory");
	if (st == CKPTIO_OK) {
		json_object_foreach(map, name, v) {
			const char *file = json_string_value(v);
			stfile *f;

			if (!file || !*file || strchr(file, '/') ||
			    strcmp(file, ".") == 0 || strcmp(file, "..") == 0) {
				st = BAD("%s: weight_map: tensor '%.200s' maps "
					 "to %s, not a file name beside the "
					 "index",
					 key, name, file ? "a bad name" : "a "
					 "non-string");
				break;
			}
			if (json_object_get(seen, file))
				continue;
			f = &r->files[r->nfiles];
			f->name = strdup(file);
			f->key = join(r->id, file);
			if (!f->name || !f->key ||
			    json_object_set_new(seen, file, json_true())) {
				free(f->name);
				free(f->key);
				st = r->host->error(r->hc, CKPTIO_ENOMEM,
						    "out of memory");
				break;
			}
			r->nfiles++;
		}
	}
	json_decref(seen);
	if (st == CKPTIO_OK)
		*map_out = json_incref(map);
	json_decref(root);
	return st;
}

/* A file the index (or the single-file layout) named is missing: was the
 * model replaced meanwhile (the index is not what was read: gone, or other
 * bytes)?  1 yes (read it all again), 0 no. */
static int replaced(st_reader *r, const char *ikey, const char *buf,
		    size_t len)
{
	char *now = NULL;
	size_t nlen = 0;
	ckptio_status st = read_whole(r->host, r->hc, r->store, ikey,
				      INDEX_MAX, "an index", &now, &nlen);
	int changed = st != (buf ? CKPTIO_OK : CKPTIO_ENOTFOUND) ||
		      (buf && (nlen != len || memcmp(now, buf, len) != 0));

	free(now);
	return changed;
}

/* One reading of the index (or the single file) and every file's header.
 * *again: a file was missing because an overwrite replaced the model
 * while it was read (nothing recorded; read it all again). */
static ckptio_status read_metadata_once(st_reader *r, ckptio_metadata **out,
					int *again)
{
	const ckptio_host *h = r->host;
	char *ikey = join(r->id, INDEX_KEY), *buf = NULL;
	json_t *map = NULL;
	ckptio_metadata *md = NULL;
	size_t len = 0, total = 0;
	int all_crc = 1;
	ckptio_status st;

	*out = NULL;
	*again = 0;
	files_free(r);
	if (!ikey)
		return h->error(r->hc, CKPTIO_ENOMEM, "out of memory");
	st = read_whole(h, r->hc, r->store, ikey, INDEX_MAX, "an index", &buf,
			&len);
	if (st == CKPTIO_OK)
		st = parse_index(r, ikey, buf, len, &map);
	if (st == CKPTIO_ENOTFOUND) {
		ckptio_stat sb;
		char *skey = join(r->id, SINGLE_KEY);

		st = skey ? r->store->ops->stat(r->store, skey, &sb)
			  : CKPTIO_ENOMEM;
		if (st == CKPTIO_ENOTFOUND)
			st = h->error(r->hc, st,
				      "no safetensors model: neither %s nor "
				      "%s exists",
				      ikey, skey);
		else if (st == CKPTIO_OK &&
			 (!(r->files = calloc(1, sizeof(*r->files))) ||
			  !(r->files[0].name = strdup(SINGLE_KEY))))
			st = h->error(r->hc, CKPTIO_ENOMEM, "out of memory");
		if (st == CKPTIO_OK) {
			r->files[0].key = skey;
			skey = NULL;
			r->nfiles = 1;
		}
		free(skey);
	}
	if (st == CKPTIO_OK)
		st = par_for(h, r->hc, r->nfiles, header_task, r);
	if (st == CKPTIO_ENOTFOUND) {
		/* A file named is not there: replaced under us, or missing
		 * from the model for good (corrupt). */
		size_t i = 0;

		while (i < r->nfiles && !r->files[i].missing)
			i++;
		if (i < r->nfiles && replaced(r, ikey, buf, len))
			*again = 1;
		else if (i < r->nfiles && map)
			st = h->error(r->hc, CKPTIO_ECORRUPT,
				      "%s: missing (the index names it)",
				      r->files[i].key);
		else if (i < r->nfiles)
			st = h->error(r->hc, CKPTIO_ENOTFOUND,
				      "%s: removed while it was being read",
				      r->files[i].key);
	}
	free(buf);
	free(ikey);
	/* Index and files agree on every tensor. */
	for (size_t i = 0; st == CKPTIO_OK && map && i < r->nfiles; i++)
		for (size_t k = 0; st == CKPTIO_OK && k < r->files[i].h.n; k++) {
			const char *want = json_string_value(
				json_object_get(map, r->files[i].h.t[k].name));

			if (!want || strcmp(want, r->files[i].name) != 0)
				st = BAD("%s: tensor '%.200s' %s%s", r->files[i].key,
					 r->files[i].h.t[k].name,
					 want ? "is mapped by the index to "
					      : "is not in the index",
					 want ? want : "");
			total++;
		}
	if (st == CKPTIO_OK && map && total != json_object_size(map)) {
		const char *name;
		json_t *v;

		/* Some tensor of the map is in no file: find which, through a
		 * set of the tensors found (this error path only). */
		json_t *found = json_object();

		for (size_t i = 0; found && i < r->nfiles; i++)
			for (size_t k = 0; k < r->files[i].h.n; k++)
				json_object_set_new_nocheck(
					found, r->files[i].h.t[k].name,
					json_true());
		if (!found)
			st = h->error(r->hc, CKPTIO_ENOMEM, "out of memory");
		json_object_foreach(map, name, v) {
			char *fkey;

			if (!found || json_object_get(found, name))
				continue;
			fkey = join(r->id, json_string_value(v));
			st = BAD("%s: tensor '%.200s' of the index is not in it",
				 fkey ? fkey : json_string_value(v), name);
			free(fkey);
			break;
		}
		json_decref(found);
	}
	json_decref(map);
	if (st == CKPTIO_OK)
		st = h->md_new(r->hc, "safetensors", &md);
	for (size_t i = 0; st == CKPTIO_OK && i < r->nfiles; i++)
		for (size_t k = 0; st == CKPTIO_OK && k < r->files[i].h.n; k++) {
			const stfile *f = &r->files[i];
			const stheader_tensor *t = &f->h.t[k];
			static const uint64_t zeros[CKPTIO_MAX_NDIM];
			size_t idx;

			all_crc &= t->has_crc;
			st = h->md_add_item(r->hc, md, t->name,
					    t->is_bytes ? CKPTIO_ITEM_BYTES
							: CKPTIO_ITEM_TENSOR,
					    stheader_dtypes[t->dt].dt, t->is_bytes ? 0
									  : t->ndim,
					    t->shape, &idx);
			if (st == CKPTIO_OK)
				st = h->md_add_chunk(r->hc, md, idx, zeros,
						     t->shape, f->name,
						     f->h.data_start + t->begin,
						     t->end - t->begin,
						     t->has_crc, t->crc);
		}
	if (st == CKPTIO_OK && !all_crc)
		st = h->md_set_attr(r->hc, md, CKPTIO_MD_ATTR_CHECKSUM, "none");
	/* The headers are not needed any more: only the names were. */
	files_free(r);
	if (st != CKPTIO_OK) {
		if (md)
			h->md_free(md);
		return st;
	}
	*out = md;
	return CKPTIO_OK;
}

/* Read again, a few times, while overwrites replace the model under us:
 * a load racing a save gets one whole version, never a mix, and never
 * "corrupt" for files the newer index no longer names. */
static ckptio_status sr_read_metadata(ckptio_reader *rd, ckptio_metadata **out)
{
	st_reader *r = (st_reader *)rd;
	ckptio_status st;
	int again = 0;

	for (int attempt = 0; attempt < 5; attempt++) {
		st = read_metadata_once(r, out, &again);
		if (!again)
			return st;
	}
	return r->host->error(r->hc, CKPTIO_ENOTFOUND,
			      "%s: the model was replaced five times while "
			      "it was being read; try again",
			      *r->id ? r->id : INDEX_KEY);
}

/* The store's read; with crcs (read_data_crc, ABI 1.7, a core that has
 * store_read_crc) the CRC32C of every range too. */
static ckptio_status sr_store_read(st_reader *r, const ckptio_range *ranges,
				   size_t n, uint32_t *crcs)
{
	return crcs ? r->host->store_read_crc(r->store, ranges, n, crcs)
		    : r->store->ops->read(r->store, ranges, n);
}

static ckptio_status sr_read(ckptio_reader *rd, const ckptio_range *ranges,
			     size_t n, uint32_t *crcs)
{
	st_reader *r = (st_reader *)rd;
	ckptio_range *full;
	ckptio_status st = CKPTIO_OK;
	size_t i;

	if (!*r->id)
		return sr_store_read(r, ranges, n, crcs);
	if (!(full = calloc(n ? n : 1, sizeof(*full))))
		return r->host->error(r->hc, CKPTIO_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		full[i] = ranges[i];
		if (!(full[i].key = join(r->id, ranges[i].key))) {
			st = r->host->error(r->hc, CKPTIO_ENOMEM,
					    "out of memory");
			break;
		}
	}
	if (st == CKPTIO_OK)
		st = sr_store_read(r, full, n, crcs);
	for (size_t j = 0; j < i; j++)
		free((void *)full[j].key);
	free(full);
	return st;
}

static ckptio_status sr_read_data(ckptio_reader *rd, const ckptio_range *ranges,
				  size_t n)
{
	return sr_read(rd, ranges, n, NULL);
}

/* Only a 1.7 core calls it, and a 1.7 core has store_read_crc. */
static ckptio_status sr_read_data_crc(ckptio_reader *rd,
				      const ckptio_range *ranges, size_t n,
				      uint32_t *crcs)
{
	return sr_read(rd, ranges, n, crcs);
}

static void sr_free(ckptio_reader *rd)
{
	st_reader *r = (st_reader *)rd;

	if (!r)
		return;
	files_free(r);
	free(r->id);
	free(r);
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

/* The index commits a sharded model, the file itself a single one. */
static const char *const st_commit_keys[] = {INDEX_KEY, SINGLE_KEY, NULL};

static const struct ckptio_layout_ops st_ops = {
	.struct_size = sizeof(struct ckptio_layout_ops),
	.commit_keys = st_commit_keys,
	.writer_setup = sw_setup,
	.prepare_local_plan = sw_local_plan,
	.prepare_global_plan = sw_global_plan,
	.write_data = sw_write_data,
	.finish = sw_finish,
	.abort = sw_abort,
	.writer_free = sw_free,
	.reader_setup = sr_setup,
	.read_metadata = sr_read_metadata,
	.read_data = sr_read_data,
	.reader_free = sr_free,
	.owns_object = st_owns,
	.read_data_crc = sr_read_data_crc,
};

static const char *const st_options[] = {"shard_size", NULL};

static const ckptio_plugin st_plugin = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_LAYOUT,
	.name = "safetensors",
	.description = "Hugging Face safetensors: model.safetensors, or "
		       "shards and model.safetensors.index.json",
	.options = st_options,
	.layout = &st_ops,
};

CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void)
{
	return &st_plugin;
}
