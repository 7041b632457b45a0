/*
 * save.c - save and async_save: the multi-rank plan / write / commit
 * protocol.
 *
 * Save, on every rank, in lock step (DESIGN.md section 7):
 *   1. local plan: the rank's items; the layout may annotate it
 *   2. gather plans on rank 0; it checks them across ranks (same dtype and
 *      shape per name, chunks that tile each tensor, replicated chunks
 *      written once), refuses an existing checkpoint unless overwriting,
 *      and lets the layout see the global plan; broadcast the verdict
 *   3. every rank writes its data objects
 *   4. gather write results on rank 0; it builds the metadata and the
 *      layout commits it (last); broadcast the outcome
 *   5. on any failure every rank removes what it wrote
 * Every rank takes part in every collective even after a local failure,
 * which travels in the messages, so no rank waits forever.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Messages between ranks (JSON through the coordinator)                    */

static json_t *dims_to_json(const uint64_t *v, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer((json_int_t)v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int dims_from_json(json_t *a, unsigned n, uint64_t *out)
{
	json_t *v;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) != n)
		return -1;
	json_array_foreach(a, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return -1;
		out[i] = (uint64_t)json_integer_value(v);
	}
	return 0;
}

/* {"st": status, "msg": text}; NULL only when out of memory.  Messages
 * quote names cut at a byte limit, which may split a UTF-8 character that
 * JSON would refuse: such bytes become '?'. */
static json_t *status_json(ckptio_status st, const char *msg)
{
	char buf[CKPTIO__ERRMSG];

	snprintf(buf, sizeof(buf), "%s", msg ? msg : "");
	ckptio__utf8_scrub(buf);
	return json_pack("{s:i, s:s}", "st", (int)st, "msg", buf);
}

/* A message that could not be built whole is not sent in part: the rank
 * reports the failure instead (e.g. a plan entry that failed to encode
 * must never silently drop an item). */
static json_t *build_failed(json_t *partial, ckptio_status st,
			    const char *fmt, ...) CKPTIO__PRINTF(3, 4);
static json_t *build_failed(json_t *partial, ckptio_status st,
			    const char *fmt, ...)
{
	char msg[CKPTIO__ERRMSG];
	va_list ap;

	json_decref(partial);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return status_json(st, msg);
}

static ckptio_status status_from_json(json_t *o, const char **msg)
{
	json_t *st = json_object_get(o, "st");
	json_t *m = json_object_get(o, "msg");

	*msg = json_is_string(m) ? json_string_value(m) : "";
	if (!json_is_integer(st))
		return CKPTIO_ECOORD;
	return (ckptio_status)json_integer_value(st);
}

/* Gather a JSON object from every rank; rank 0 gets world of them. */
/* The messages of every rank, as rank 0 gathered them: kept as text and
 * parsed one at a time (msgs_take), so that rank 0 never holds every
 * rank's message as a JSON tree at once (a thousand ranks' plans are
 * hundreds of MiB of them). */
typedef struct msgs {
	int world;
	void **bufs; /* NULL on ranks other than 0, or when gathering failed */
	size_t *lens;
} msgs;

static ckptio_status gather_msgs(ckptio_ctx *ctx, const char *location,
				 const ckptio_coord *co, json_t *mine,
				 msgs *all)
{
	char *s = mine ? json_dumps(mine, JSON_COMPACT) : NULL;
	char why[512];
	ckptio_status st;

	*all = (msgs){.world = co->world};
	st = co->gather(co->self, s ? s : "null", s ? strlen(s) : 4,
			&all->bufs, &all->lens);
	free(s);
	if (st != CKPTIO_OK) {
		all->bufs = NULL;
		all->lens = NULL;
		return ckptio__error(ctx, CKPTIO_ECOORD,
				     "%s: rank %d: the coordinator's gather "
				     "failed%s", location, co->rank,
				     ckptio__coord_why(co, why, sizeof(why)));
	}
	return CKPTIO_OK;
}

/* Rank r's message, parsed; its text is freed.  NULL when lost. */
static json_t *msgs_take(msgs *all, int r)
{
	json_t *m;

	if (!all->bufs || !all->bufs[r])
		return NULL;
	m = json_loadb(all->bufs[r], all->lens[r], 0, NULL);
	free(all->bufs[r]);
	all->bufs[r] = NULL;
	return m;
}

static void msgs_free(msgs *all)
{
	for (int r = 0; all->bufs && r < all->world; r++)
		free(all->bufs[r]);
	free(all->bufs);
	free(all->lens);
	memset(all, 0, sizeof(*all));
}

/* Rank r's status in its message m; the first failing rank's goes to
 * *st and err as "rank R: why". */
static void rank_status(json_t *m, int r, ckptio_status *st, char *err,
			size_t errlen)
{
	const char *why = "its message was lost";
	ckptio_status rs = m ? status_from_json(m, &why) : CKPTIO_ECOORD;

	if (*st == CKPTIO_OK && rs != CKPTIO_OK) {
		*st = rs;
		snprintf(err, errlen, "rank %d: %s", r, why);
	}
}

/* Rank 0 passes *obj; the others receive it.  When rank 0 cannot encode
 * it (out of memory), it still broadcasts, a bare status st0 built
 * without allocating: a rank left waiting would hang, and a rank told
 * less than the commit's outcome could remove committed data. */
static ckptio_status bcast_json(ckptio_ctx *ctx, const char *location,
				const ckptio_coord *co, json_t **obj,
				ckptio_status st0)
{
	char why[512];
	char fallback[160];
	char *s = NULL;
	void *buf = NULL;
	size_t len = 0;
	ckptio_status st;

	if (co->rank == 0) {
		s = *obj ? json_dumps(*obj, JSON_COMPACT) : NULL;
		if (!s)
			snprintf(fallback, sizeof(fallback),
				 "{\"st\": %d, \"msg\": \"%s\"}", (int)st0,
				 st0 == CKPTIO_OK ? "" : "rank 0 failed and ran "
				 "out of memory describing why");
		buf = s ? s : fallback;
		len = strlen(buf);
	}
	st = co->broadcast(co->self, &buf, &len);
	if (st != CKPTIO_OK)
		ckptio__error(ctx, CKPTIO_ECOORD, "%s: rank %d: the "
			      "coordinator's broadcast failed%s", location,
			      co->rank, ckptio__coord_why(co, why, sizeof(why)));
	if (co->rank != 0) {
		*obj = st == CKPTIO_OK ? json_loadb(buf, len, 0, NULL) : NULL;
		free(buf);
		if (!*obj)
			st = CKPTIO_ECOORD;
	}
	free(s);
	return st == CKPTIO_OK ? CKPTIO_OK : CKPTIO_ECOORD;
}

static json_t *plan_item_json(const ckptio_plan_item *it)
{
	json_t *g = dims_to_json(it->global_shape, it->ndim);
	json_t *o = dims_to_json(it->offsets, it->ndim);
	json_t *sh = dims_to_json(it->shape, it->ndim);

	if (!g || !o || !sh) {
		json_decref(g);
		json_decref(o);
		json_decref(sh);
		return NULL;
	}
	/* "o" steals the references, also on failure. */
	return json_pack("{s:s, s:i, s:i, s:o, s:o, s:o, s:I}", "n", it->name,
			 "k", (int)it->kind, "d", (int)it->dtype, "g", g, "o",
			 o, "s", sh, "b", (json_int_t)it->nbytes);
}

static json_t *plan_to_json(ckptio_status st, const char *msg,
			    const ckptio_plan *plan)
{
	json_t *o = status_json(st, msg), *items;

	if (!o || st != CKPTIO_OK || !plan)
		return o;
	if (!(items = json_array()) || json_object_set_new(o, "items", items))
		return build_failed(o, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < plan->nitems; i++)
		if (json_array_append_new(items, plan_item_json(&plan->items[i])))
			return build_failed(o, CKPTIO_EINVAL,
					    "rank %d: cannot encode the plan "
					    "entry of item %zu ('%.200s')",
					    plan->rank, i, plan->items[i].name);
	if (plan->storage &&
	    json_object_set_new(o, "storage", json_string(plan->storage)))
		return build_failed(o, CKPTIO_EINVAL,
				    "rank %d: cannot encode the layout's plan "
				    "annotation",
				    plan->rank);
	return o;
}

/* ------------------------------------------------------------------------ */
/* Rank 0: the global plan and the metadata, built once                     */

/* Rank 0 uses its own plan and results where they are, and only the other
 * ranks' arrive as JSON: one rank sends no plan through JSON at all.  The
 * plans are sorted once by (name, box, rank): a name's entries are then
 * adjacent (checked to agree), replicas of a chunk too (the least loaded
 * of its holders writes it: planner.c), and the metadata's items come in
 * name order, so building it is linear after the sort and its seal does
 * not reorder.  Each plan entry remembers its chunk in the metadata; the
 * commit fills in where it went. */

typedef struct where {
	size_t item, chunk; /* in g->md; item (size_t)-1: skipped */
} where;

typedef struct gplan {
	int world;
	ckptio_plan *plans;       /* [0] is rank 0's own plan, borrowed */
	ckptio_plan_item **items; /* items parsed for ranks > 0 ([0] NULL) */
	uint64_t **dims; /* per rank: its items' three dim arrays */
	where **at;     /* per rank, per plan item */
	ckptio_metadata *md;
} gplan;

static void gplan_free(gplan *g)
{
	for (int r = 0; g->plans && r < g->world; r++) {
		free(g->plans[r].storage);
		for (size_t i = 0; r > 0 && g->items && g->items[r] &&
				   i < g->plans[r].nitems; i++)
			free((void *)g->items[r][i].name);
		if (g->items)
			free(g->items[r]);
		if (g->at)
			free(g->at[r]);
		if (g->dims)
			free(g->dims[r]);
	}
	free(g->plans);
	free(g->items);
	free(g->at);
	free(g->dims);
	ckptio__md_free(g->md);
	memset(g, 0, sizeof(*g));
}

static ckptio_status gplan_parse_rank(gplan *g, int r, json_t *msg,
				      char *err, size_t errlen)
{
	json_t *items = json_object_get(msg, "items"), *it;
	json_t *storage = json_object_get(msg, "storage");
	size_t i, n = json_array_size(items), ndims = 0;
	uint64_t *dims;

	json_array_foreach(items, i, it)
		ndims += 3 * json_array_size(json_object_get(it, "g"));
	g->items[r] = calloc(n ? n : 1, sizeof(ckptio_plan_item));
	g->at[r] = calloc(n ? n : 1, sizeof(where));
	g->dims[r] = dims = calloc(ndims ? ndims : 1, sizeof(*dims));
	if (!g->items[r] || !g->at[r] || !dims)
		return CKPTIO_ENOMEM;
	g->plans[r].rank = r;
	g->plans[r].nitems = n;
	g->plans[r].items = g->items[r];
	if (json_is_string(storage) &&
	    !(g->plans[r].storage = strdup(json_string_value(storage))))
		return CKPTIO_ENOMEM;
	json_array_foreach(items, i, it) {
		ckptio_plan_item *pi = &g->items[r][i];
		json_t *nd = json_object_get(it, "g");

		/* Names are copied: the message is freed after this. */
		pi->name = ckptio__strdup(json_string_value(json_object_get(it, "n")));
		pi->kind = (ckptio_item_kind)json_integer_value(
			json_object_get(it, "k"));
		pi->dtype = (ckptio_dtype)json_integer_value(
			json_object_get(it, "d"));
		pi->ndim = (unsigned)json_array_size(nd);
		pi->nbytes = (uint64_t)json_integer_value(
			json_object_get(it, "b"));
		pi->global_shape = dims;
		pi->offsets = dims + pi->ndim;
		pi->shape = dims + 2 * pi->ndim;
		if (!pi->name || pi->ndim > CKPTIO_MAX_NDIM ||
		    dims_from_json(nd, pi->ndim, dims) ||
		    dims_from_json(json_object_get(it, "o"), pi->ndim,
				   dims + pi->ndim) ||
		    dims_from_json(json_object_get(it, "s"), pi->ndim,
				   dims + 2 * pi->ndim)) {
			snprintf(err, errlen, "rank %d sent a malformed plan", r);
			return CKPTIO_ECOORD;
		}
		dims += 3 * pi->ndim;
	}
	return CKPTIO_OK;
}

/* Rank 0's plan as it is (its storage annotation moves into g, and back
 * in apply_own), the others' from their messages, parsed one at a time;
 * the first failing rank's status wins. */
static ckptio_status gplan_parse(gplan *g, ckptio_plan *own, msgs *all,
				 ckptio_status st, char *err, size_t errlen)
{
	int world = all->world;

	g->world = world;
	g->plans = calloc((size_t)world, sizeof(*g->plans));
	g->items = calloc((size_t)world, sizeof(*g->items));
	g->at = calloc((size_t)world, sizeof(*g->at));
	g->dims = calloc((size_t)world, sizeof(*g->dims));
	if ((!g->plans || !g->items || !g->at || !g->dims) && st == CKPTIO_OK)
		st = CKPTIO_ENOMEM;
	for (int r = 0; r < world; r++) {
		json_t *m = msgs_take(all, r);

		rank_status(m, r, &st, err, errlen);
		if (st == CKPTIO_OK && r > 0)
			st = gplan_parse_rank(g, r, m, err, errlen);
		json_decref(m);
	}
	if (st != CKPTIO_OK)
		return st;
	g->plans[0] = *own;
	own->storage = NULL;
	if (!(g->at[0] = calloc(own->nitems ? own->nitems : 1, sizeof(where))))
		return CKPTIO_ENOMEM;
	return CKPTIO_OK;
}

typedef struct ref {
	const ckptio_plan_item *pi;
	int rank;
	size_t idx;
} ref;

static int cmp_dims(const uint64_t *a, const uint64_t *b, unsigned n)
{
	for (unsigned d = 0; d < n; d++)
		if (a[d] != b[d])
			return a[d] < b[d] ? -1 : 1;
	return 0;
}

/* Name, then the chunk's box (bytes items have none), then rank. */
static int ref_cmp(const void *a, const void *b)
{
	const ref *x = a, *y = b;
	const ckptio_plan_item *p = x->pi, *q = y->pi;
	int c = strcmp(p->name, q->name);

	if (c)
		return c;
	if (p->ndim != q->ndim)
		return p->ndim < q->ndim ? -1 : 1;
	if ((c = cmp_dims(p->offsets, q->offsets, p->ndim)) ||
	    (c = cmp_dims(p->shape, q->shape, p->ndim)))
		return c;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* refs in ref_cmp's order.  qsort alone compared names about a million
 * times for 64,000 items (a fifth of the save's planning): first a stable
 * radix sort on the eight bytes after the prefix every name shares, which
 * orders as strcmp does (unsigned bytes, a name that ends first sorts
 * first), then ref_cmp only inside runs whose eight bytes are equal.
 * -1: out of memory. */
static int sort_refs(ref *refs, size_t n)
{
	const char *first = n ? refs[0].pi->name : "";
	size_t lcp = strlen(first);
	ckptio__keyed *k;
	ref *sorted;

	if (n < 2)
		return 0;
	for (size_t i = 1; i < n && lcp; i++) {
		const char *name = refs[i].pi->name;
		size_t m = 0;

		while (m < lcp && name[m] == first[m])
			m++;
		lcp = m;
	}
	k = malloc(n * sizeof(*k));
	sorted = malloc(n * sizeof(*sorted));
	if (!k || !sorted) {
		free(k);
		free(sorted);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *u =
			(const unsigned char *)refs[i].pi->name + lcp;
		uint64_t key = 0;

		for (unsigned d = 0; d < 8 && u[d]; d++)
			key |= (uint64_t)u[d] << (56 - 8 * d);
		k[i] = (ckptio__keyed){key, i};
	}
	if (ckptio__sort_keyed(k, n) != 0) {
		free(k);
		free(sorted);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = refs[k[i].idx];
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && k[j].key == k[i].key; j++)
			;
		if (j - i > 1)
			qsort(sorted + i, j - i, sizeof(*sorted), ref_cmp);
	}
	memcpy(refs, sorted, n * sizeof(*refs));
	free(k);
	free(sorted);
	return 0;
}

/* A bytes item saved by several ranks is one blob: they must agree on its
 * length too (only the lowest rank's copy is written). */
static int same_item(const ckptio_plan_item *a, const ckptio_plan_item *b)
{
	return a->kind == b->kind && a->dtype == b->dtype &&
	       a->ndim == b->ndim &&
	       cmp_dims(a->global_shape, b->global_shape, a->ndim) == 0 &&
	       (a->kind != CKPTIO_ITEM_BYTES || a->nbytes == b->nbytes);
}

/* One chunk of a name on several ranks: the same chunk (a bytes item is
 * one chunk), written by the lowest rank only. */
static int same_chunk(const ckptio_plan_item *a, const ckptio_plan_item *b)
{
	return a->kind == CKPTIO_ITEM_BYTES ||
	       (cmp_dims(a->offsets, b->offsets, a->ndim) == 0 &&
		cmp_dims(a->shape, b->shape, a->ndim) == 0);
}

/* A tensor chunk that several ranks hold: written by the least loaded of
 * them (planner.c), so that a replicated model (data parallelism) is
 * written by every rank, not by rank 0 alone.  A bytes item is written by
 * the lowest rank that has it, as before: its copies may differ (a rank's
 * own counters), and the lowest rank's is the one documented. */
static ckptio_status balance_replicas(gplan *g, const ref *refs, size_t n)
{
	size_t nruns = 0, nheld = 0, k = 0, h = 0;
	ckptio__replica *reps = NULL;
	uint64_t *base = calloc((size_t)g->world, sizeof(*base));
	size_t *start = NULL;
	int *holders = NULL, *writer = NULL;
	ckptio_status st = CKPTIO_ENOMEM;

	/* Runs of one chunk are adjacent; their first entry holds it. */
	for (size_t i = 0; i < n; i++) {
		const where *w = &g->at[refs[i].rank][refs[i].idx];

		if (w->item == (size_t)-1)
			continue;
		if (i + 1 < n && refs[i].pi->kind == CKPTIO_ITEM_TENSOR &&
		    g->at[refs[i + 1].rank][refs[i + 1].idx].item ==
			    (size_t)-1) {
			nruns++;
		} else if (base) {
			base[refs[i].rank] += refs[i].pi->nbytes;
		}
	}
	if (!base)
		goto out;
	if (nruns == 0) {
		st = CKPTIO_OK;
		goto out;
	}
	nheld = n; /* an upper bound */
	reps = malloc(nruns * sizeof(*reps));
	start = malloc(nruns * sizeof(*start));
	holders = malloc(nheld * sizeof(*holders));
	writer = malloc(nruns * sizeof(*writer));
	if (!reps || !start || !holders || !writer)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t j = i + 1;

		if (g->at[refs[i].rank][refs[i].idx].item == (size_t)-1 ||
		    refs[i].pi->kind != CKPTIO_ITEM_TENSOR)
			continue;
		while (j < n && g->at[refs[j].rank][refs[j].idx].item ==
					(size_t)-1)
			j++;
		if (j == i + 1)
			continue;
		start[k] = i;
		reps[k] = (ckptio__replica){refs[i].pi->nbytes, &holders[h],
					    j - i};
		for (size_t m = i; m < j; m++)
			holders[h++] = refs[m].rank;
		k++;
		i = j - 1;
	}
	st = ckptio__plan_replicas(reps, nruns, base, g->world, writer);
	/* Hand each chunk's place in the metadata to its writer. */
	for (size_t r = 0; st == CKPTIO_OK && r < nruns; r++) {
		const ref *first = &refs[start[r]];
		where *from = &g->at[first->rank][first->idx];

		for (size_t m = 0; m < reps[r].nranks; m++) {
			const ref *e = &refs[start[r] + m];

			if (e->rank == writer[r] && e != first) {
				g->at[e->rank][e->idx] = *from;
				from->item = (size_t)-1;
				break;
			}
		}
	}
out:
	free(base);
	free(reps);
	free(start);
	free(holders);
	free(writer);
	return st;
}

/* Check the plans across ranks, mark replicas, and build the metadata
 * with placeholder locations; its seal checks that chunks tile every
 * tensor.  Then spread the replicated chunks over the ranks that hold
 * them. */
static ckptio_status gplan_build(gplan *g, ckptio_host_ctx *hc,
				 const char *layout, char *err, size_t errlen)
{
	size_t n = 0, k = 0, item = (size_t)-1;
	ckptio_status st;
	ref *refs;

	for (int r = 0; r < g->world; r++)
		n += g->plans[r].nitems;
	refs = malloc((n ? n : 1) * sizeof(*refs));
	if (!refs)
		return CKPTIO_ENOMEM;
	for (int r = 0; r < g->world; r++)
		for (size_t i = 0; i < g->plans[r].nitems; i++)
			refs[k++] = (ref){&g->plans[r].items[i], r, i};
	if (sort_refs(refs, n) != 0) {
		free(refs);
		return CKPTIO_ENOMEM;
	}
	st = ckptio__md_new(hc, layout, &g->md);
	if (st == CKPTIO_OK)
		g->md->world = g->world;
	for (size_t i = 0; st == CKPTIO_OK && i < n; i++) {
		const ckptio_plan_item *pi = refs[i].pi;
		const ckptio_plan_item *prev = i ? refs[i - 1].pi : NULL;
		where *w = &g->at[refs[i].rank][refs[i].idx];
		int first = !prev || strcmp(prev->name, pi->name) != 0;

		if (!first && !same_item(prev, pi)) {
			snprintf(err, errlen,
				 "item '%.200s': ranks %d and %d disagree on "
				 "its kind, dtype, global shape or length",
				 pi->name, refs[i - 1].rank, refs[i].rank);
			st = CKPTIO_EINVAL;
			break;
		}
		if (!first && same_chunk(prev, pi)) {
			w->item = (size_t)-1; /* a replica: not written */
			continue;
		}
		if (first)
			st = ckptio__md_add_item(hc, g->md, pi->name, pi->kind,
						 pi->dtype, pi->ndim,
						 pi->global_shape, &item);
		if (st == CKPTIO_OK)
			st = ckptio__md_add_chunk(hc, g->md, item, pi->offsets,
						  pi->shape, "pending", 0,
						  pi->nbytes, 0, 0);
		*w = (where){item, g->md->items[item].nchunks - 1};
	}
	if (st == CKPTIO_OK && g->world > 1)
		st = balance_replicas(g, refs, n);
	free(refs);
	if (st == CKPTIO_OK)
		st = ckptio__md_seal(hc, "save plan", g->md);
	return st;
}

static ckptio_status result_get(ckptio_host_ctx *hc, int r, json_t *e,
				const ckptio_plan_item *pi,
				ckptio_write_result *out)
{
	json_t *name = json_array_get(e, 0), *o = json_array_get(e, 1);
	json_t *jo = json_array_get(e, 2), *jl = json_array_get(e, 3);
	json_t *jc = json_array_get(e, 4);

	if (!json_is_array(e) || json_array_size(e) != 5 ||
	    !json_is_string(name) || !json_is_string(o) ||
	    !json_is_integer(jo) || json_integer_value(jo) < 0 ||
	    !json_is_integer(jl) || json_integer_value(jl) < 0 ||
	    !json_is_integer(jc) || json_integer_value(jc) < 0 ||
	    json_integer_value(jc) > UINT32_MAX)
		return ckptio__hc_error(hc, CKPTIO_ECOORD,
					"rank %d sent a malformed write result "
					"for item '%.200s'",
					r, pi->name);
	if (strcmp(json_string_value(name), pi->name) != 0)
		return ckptio__hc_error(hc, CKPTIO_ECOORD,
					"rank %d: the write result for item "
					"'%.200s' names item '%.200s'; refusing "
					"to commit",
					r, pi->name, json_string_value(name));
	out->object = (char *)json_string_value(o);
	out->offset = (uint64_t)json_integer_value(jo);
	out->length = (uint64_t)json_integer_value(jl);
	out->crc32c = (uint32_t)json_integer_value(jc);
	return CKPTIO_OK;
}

/* Where rank r's chunks went: rank 0's results as they are (res, in the
 * order of its compacted plan), another rank's from its message m. */
static ckptio_status locate_rank(gplan *g, ckptio_host_ctx *hc, int r,
				 const ckptio_write_result *res, json_t *m)
{
	json_t *jr = r ? json_object_get(m, "r") : NULL;
	ckptio_status st = CKPTIO_OK;
	size_t k = 0;

	for (size_t i = 0; st == CKPTIO_OK && i < g->plans[r].nitems; i++) {
		const where *w = &g->at[r][i];
		ckptio_write_result one = {0};

		if (w->item == (size_t)-1)
			continue;
		if (r == 0)
			one = res[k];
		else
			st = result_get(hc, r, json_array_get(jr, k),
					&g->plans[r].items[i], &one);
		k++;
		if (st == CKPTIO_OK)
			st = ckptio__md_set_location(hc, g->md, w->item,
						     w->chunk, one.object,
						     one.offset, one.length,
						     one.crc32c);
	}
	if (st == CKPTIO_OK && r > 0 && json_array_size(jr) != k)
		st = ckptio__hc_error(hc, CKPTIO_ECOORD,
				      "rank %d sent %zu write results for %zu "
				      "items",
				      r, json_array_size(jr), k);
	return st;
}

/* Every rank's write results, one message at a time; the first failing
 * rank's status wins. */
static ckptio_status gplan_locate(gplan *g, ckptio_host_ctx *hc,
				  const ckptio_write_result *res, msgs *all,
				  ckptio_status st, char *err, size_t errlen)
{
	for (int r = 0; r < all->world; r++) {
		json_t *m = msgs_take(all, r);

		rank_status(m, r, &st, err, errlen);
		if (st == CKPTIO_OK)
			st = locate_rank(g, hc, r, res, m);
		json_decref(m);
	}
	return st;
}

/* ------------------------------------------------------------------------ */
/* Save                                                                     */

typedef struct saver {
	ckptio_ctx *ctx;
	const char *location;
	const ckptio_opts *opts;
	const ckptio_coord *co;
	ckptio__loc loc;
	ckptio_host_ctx hc;
	ckptio_store *store;
	ckptio_writer *w;
	const struct ckptio_layout_ops *lo;
	ckptio_plan plan;
	ckptio_plan_item *items; /* this rank's items */
	gplan g;                 /* rank 0 */
	ckptio_write_result *res; /* this rank's, for its compacted plan */
	int overwrite;
	/* One rank: the metadata is built beside write_data (solo_build). */
	int solo;
	ckptio_status step_st;   /* rank 0: status of the last verdict */
} saver;

/* Status and message of this rank so far, for the next message. */
static const char *local_msg(saver *s, ckptio_status st)
{
	if (st == CKPTIO_OK)
		return "";
	if (s->hc.status != CKPTIO_OK)
		return s->hc.msg;
	return s->ctx->errmsg[0] ? s->ctx->errmsg : ckptio_strerror(st);
}

/* Rank 0's message for a verdict st: its own local failure (own) is
 * named "rank 0: ..." when there are other ranks, as theirs are; a failure
 * of the step itself (the commit) is said as it is. */
static void own_msg(saver *s, ckptio_status own, ckptio_status st, char *err,
		    size_t len)
{
	const char *m = local_msg(s, st);

	/* (%.2000s: the message fits err with its prefix) */
	if (own != CKPTIO_OK && s->co->world > 1)
		snprintf(err, len, "rank 0: %.2000s", m);
	else
		snprintf(err, len, "%s", m);
}

static ckptio_status save_local(saver *s, const ckptio_sd *sd)
{
	ckptio_status st;

	/* The caller's mistakes that the coordinator can still carry: every
	 * rank fails, naming this one, instead of waiting for it. */
	if (!s->location || !sd)
		return ckptio__error(s->ctx, CKPTIO_EINVAL,
				     "save: the %s is NULL",
				     !sd ? "state dict (sd)" : "location");
	st = ckptio__flags_check(s->ctx, "save", s->opts ? s->opts->flags : 0,
				 CKPTIO__SAVE_FLAGS, "CKPTIO_SAVE_*");
	if (st != CKPTIO_OK)
		return st;
	st = ckptio__loc_resolve(s->ctx, s->location,
				 s->opts ? s->opts->layout : NULL, &s->loc);
	if (st != CKPTIO_OK)
		return st;
	ckptio__hc_init(&s->hc, s->ctx, s->loc.section, s->loc.defaults);
	s->hc.threads = s->opts && s->opts->threads ? s->opts->threads
						    : s->loc.threads;
	s->lo = s->loc.layout_plugin->desc->layout;
	s->items = calloc(sd->n ? sd->n : 1, sizeof(*s->items));
	if (!s->items)
		return ckptio__error(s->ctx, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < sd->n; i++)
		s->items[i] = sd->items[i].pi;
	s->plan.rank = s->co->rank;
	s->plan.nitems = sd->n;
	s->plan.items = s->items;
	st = ckptio__store_open(s->ctx, &s->loc, &s->hc, 1, &s->store);
	if (st != CKPTIO_OK)
		return st;
	st = s->lo->writer_setup(&ckptio__host, &s->hc, s->store, s->loc.id,
				 s->co->rank, s->co->world, s->co->rank == 0,
				 s->opts && s->opts->threads ? s->opts->threads
							     : s->loc.threads,
				 &s->w);
	if (st == CKPTIO_OK)
		st = s->lo->prepare_local_plan(s->w, &s->plan);
	return st;
}

/* Rank 0: is there a committed checkpoint already? */
static ckptio_status check_absent(saver *s)
{
	ckptio_stat sb;
	ckptio_status st = CKPTIO_ENOTFOUND;

	/* What is left of "never replaces a checkpoint" without it:
	 * docs/design-notes.md section 1. */
	if (!(ckptio__store_caps(s->store) & CKPTIO_STORE_CAP_IF_ABSENT))
		ckptio__log(s->ctx, CKPTIO_LOG_WARN,
			    "%s: store '%s' cannot put an object only if it "
			    "is absent (no if-absent capability as "
			    "configured): this save checks that the "
			    "checkpoint does not exist now and again just "
			    "before its commit, but two first saves of this "
			    "id running at the same time could both succeed; "
			    "the metadata of the last to commit stays, and "
			    "the other's data objects become debris for "
			    "`ckptio rm --gc`",
			    s->location, s->loc.store_plugin->desc->name);
	/* Any commit key makes one (safetensors: the index, or the single
	 * file). */
	for (const char *const *c = s->lo->commit_keys;
	     *c && st == CKPTIO_ENOTFOUND; c++) {
		char *key = ckptio__join(s->loc.id, *c);

		if (!key)
			return CKPTIO_ENOMEM;
		st = s->store->ops->stat(s->store, key, &sb);
		free(key);
	}
	if (st == CKPTIO_ENOTFOUND)
		return CKPTIO_OK;
	if (st == CKPTIO_OK)
		return ckptio__hc_error(&s->hc, CKPTIO_EEXIST,
					"checkpoint %s already exists; save "
					"with CKPTIO_SAVE_OVERWRITE (ckptio "
					"--overwrite) to replace it",
					s->location);
	return st;
}

/* Rank 0: verdict on the gathered plans, with each rank's new storage and
 * the items it must skip (rank 0 takes its own from s->g: apply_own). */
static json_t *global_step(saver *s, msgs *all, ckptio_status st)
{
	char err[CKPTIO__ERRMSG] = "";
	json_t *reply, *plans;
	ckptio_status own = st;

	st = gplan_parse(&s->g, &s->plan, all, st, err, sizeof(err));
	if (st == CKPTIO_OK && !s->solo)
		st = gplan_build(&s->g, &s->hc, s->loc.layout_plugin->desc->name,
				 err, sizeof(err));
	/* Chunks that overlap or leave gaps are the caller's mistake here. */
	if (st == CKPTIO_ECORRUPT)
		st = CKPTIO_EINVAL;
	if (st == CKPTIO_OK && !s->overwrite)
		st = check_absent(s);
	if (st == CKPTIO_OK)
		st = s->lo->prepare_global_plan(s->w, s->g.plans, s->co->world);
	if (st != CKPTIO_OK && !err[0])
		own_msg(s, own, st, err, sizeof(err));
	s->step_st = st;
	reply = status_json(st, err);
	if (!reply || st != CKPTIO_OK)
		return reply;
	if (!(plans = json_array()) ||
	    json_object_set_new(reply, "plans", plans)) {
		s->step_st = CKPTIO_ENOMEM;
		return build_failed(reply, CKPTIO_ENOMEM, "out of memory");
	}
	for (int r = 0; r < s->co->world; r++) {
		json_t *p = json_object(), *skip = json_array();
		int bad = !p || !skip || json_array_append_new(plans, p) ||
			  json_object_set_new(p, "skip", skip);

		for (size_t i = 0; !bad && r > 0 && i < s->g.plans[r].nitems;
		     i++)
			if (s->g.at[r][i].item == (size_t)-1)
				bad = json_array_append_new(
					skip, json_integer((json_int_t)i));
		if (!bad && r > 0 && s->g.plans[r].storage)
			bad = json_object_set_new(
				p, "storage", json_string(s->g.plans[r].storage));
		if (bad) {
			s->step_st = CKPTIO_ENOMEM;
			return build_failed(reply, CKPTIO_ENOMEM,
					    "out of memory building the plan "
					    "of rank %d",
					    r);
		}
	}
	return reply;
}

/* Rank 0 applies the verdict to its own plan from s->g: the layout's
 * annotation comes back, replicas written by no one go. */
static void apply_own(saver *s)
{
	size_t k = 0;

	free(s->plan.storage);
	s->plan.storage = s->g.plans[0].storage;
	s->g.plans[0].storage = NULL;
	for (size_t i = 0; i < s->plan.nitems; i++)
		if (s->g.at[0][i].item != (size_t)-1)
			s->items[k++] = s->items[i];
	s->plan.nitems = k;
}

/* Apply rank 0's verdict to this rank's plan: storage and skipped items.
 * A verdict that does not say exactly what to skip is refused: guessing
 * would drop or duplicate items. */
static ckptio_status apply_global(saver *s, json_t *mine)
{
	json_t *skip = json_object_get(mine, "skip"), *v;
	json_t *storage = json_object_get(mine, "storage");
	size_t i, k = 0, next = 0;

	if (s->co->rank == 0) {
		apply_own(s);
		return CKPTIO_OK;
	}
	if (!json_is_object(mine) || !json_is_array(skip) ||
	    (storage && !json_is_string(storage)))
		return ckptio__error(s->ctx, CKPTIO_ECOORD,
				     "%s: rank %d received a malformed plan "
				     "from rank 0",
				     s->location, s->co->rank);
	free(s->plan.storage);
	s->plan.storage = json_is_string(storage)
				  ? strdup(json_string_value(storage)) : NULL;
	if (json_is_string(storage) && !s->plan.storage)
		return ckptio__error(s->ctx, CKPTIO_ENOMEM, "out of memory");
	/* Skip indices are ascending: compact the item array in place. */
	for (i = 0; i < s->plan.nitems; i++) {
		v = json_array_get(skip, next);
		if (v && json_is_integer(v) &&
		    json_integer_value(v) == (json_int_t)i) {
			next++;
			continue;
		}
		s->items[k++] = s->items[i];
	}
	if (next != json_array_size(skip))
		return ckptio__error(s->ctx, CKPTIO_ECOORD,
				     "%s: rank %d received a plan that skips "
				     "items it does not have",
				     s->location, s->co->rank);
	s->plan.nitems = k;
	return CKPTIO_OK;
}

/* Each result names its item, so rank 0 pairs results with plan entries
 * by name, not by position alone. */
static json_t *results_json(ckptio_status st, const char *msg,
			    const ckptio_plan *plan,
			    const ckptio_write_result *res)
{
	json_t *o = status_json(st, msg), *a;

	if (!o || st != CKPTIO_OK || !plan)
		return o;
	if (!(a = json_array()) || json_object_set_new(o, "r", a))
		return build_failed(o, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < plan->nitems; i++)
		if (!res[i].object ||
		    json_array_append_new(
			    a, json_pack("[s, s, I, I, I]", plan->items[i].name,
					 res[i].object,
					 (json_int_t)res[i].offset,
					 (json_int_t)res[i].length,
					 (json_int_t)res[i].crc32c)))
			return build_failed(o, CKPTIO_EINVAL,
					    "rank %d: cannot encode the write "
					    "result of item '%.200s'",
					    plan->rank, plan->items[i].name);
	return o;
}

/* Rank 0, overwriting: the keys of the objects that the checkpoint being
 * replaced names and the new metadata does not.  Read before the commit,
 * removed after it, and nothing else: a concurrent save's objects are
 * named by no metadata this save read, so they stay (its own commit
 * decides; the loser's objects are debris for gc).  Best effort: when the
 * old metadata cannot be read its objects are left for `ckptio rm --gc`,
 * and the failure does not become the save's error. */
static char **replaced_keys(saver *s, const ckptio_metadata *md, size_t *n)
{
	ckptio__hc_state sv;
	ckptio_reader *r = NULL;
	ckptio_metadata *old = NULL;
	ckptio__strset named = {0}, seen = {0};
	char **keys = NULL;
	ckptio_status st;
	int oom = 0;

	*n = 0;
	ckptio__hc_save(&s->hc, &sv);
	st = s->lo->reader_setup(&ckptio__host, &s->hc, s->store, s->loc.id, &r);
	if (st == CKPTIO_OK)
		st = s->lo->read_metadata(r, &old);
	if (st != CKPTIO_OK && st != CKPTIO_ENOTFOUND)
		ckptio__log(s->ctx, CKPTIO_LOG_WARN,
			    "%s: cannot read the checkpoint being replaced "
			    "(%s); its data objects are left for `ckptio rm "
			    "--gc`",
			    s->location, s->hc.status ? s->hc.msg
						      : ckptio_strerror(st));
	ckptio__hc_restore(&s->hc, &sv);
	for (size_t i = 0; old && i < md->nitems && !oom; i++)
		for (size_t c = 0; c < md->items[i].nchunks && !oom; c++)
			oom = ckptio__strset_add(&named,
						 md->items[i].chunks[c].object) < 0;
	for (size_t i = 0; old && i < old->nitems && !oom; i++)
		for (size_t c = 0; c < old->items[i].nchunks && !oom; c++) {
			const char *obj = old->items[i].chunks[c].object;
			char **v;
			int added;

			if (ckptio__strset_has(&named, obj))
				continue;
			if ((added = ckptio__strset_add(&seen, obj)) <= 0) {
				oom = added < 0;
				continue;
			}
			v = realloc(keys, (*n + 1) * sizeof(*v));
			if (v)
				keys = v;
			if (!v || !(keys[*n] = ckptio__join(s->loc.id, obj)))
				oom = 1;
			else
				(*n)++;
		}
	if (oom) {
		ckptio__log(s->ctx, CKPTIO_LOG_WARN,
			    "%s: out of memory listing the objects of the "
			    "replaced checkpoint; they are left for `ckptio "
			    "rm --gc`",
			    s->location);
		ckptio__strv_free(keys, *n);
		keys = NULL;
		*n = 0;
	}
	ckptio__strset_free(&named);
	ckptio__strset_free(&seen);
	ckptio__md_free(old);
	if (r)
		s->lo->reader_free(r);
	return keys;
}

/* Rank 0: metadata from every rank's results, then the layout commits,
 * then (overwriting) the replaced checkpoint's objects go. */
static json_t *commit_step(saver *s, msgs *all, ckptio_status st)
{
	char err[CKPTIO__ERRMSG] = "";
	ckptio_metadata *md = NULL;
	char **old = NULL;
	size_t nold = 0;
	ckptio_status own = st;

	st = gplan_locate(&s->g, &s->hc, s->res, all, st, err, sizeof(err));
	md = s->g.md;
	if (st == CKPTIO_OK && s->overwrite)
		old = replaced_keys(s, md, &nold);
	if (st == CKPTIO_OK)
		st = s->lo->finish(s->w, md, s->overwrite);
	/* Only after a certain commit: in doubt, the old metadata may still
	 * be (or come back after a crash as) the one in place. */
	if (st == CKPTIO_OK && nold) {
		ckptio__hc_state sv;

		ckptio__hc_save(&s->hc, &sv);
		if (ckptio__store_remove_many(s->store, (const char *const *)old,
					      nold) != CKPTIO_OK)
			ckptio__log(s->ctx, CKPTIO_LOG_WARN,
				    "%s: could not remove every object of the "
				    "replaced checkpoint (%s); `ckptio rm --gc` "
				    "removes them",
				    s->location, s->hc.status ? s->hc.msg : "");
		ckptio__hc_restore(&s->hc, &sv);
	}
	ckptio__strv_free(old, nold);
	if (st != CKPTIO_OK && !err[0])
		own_msg(s, own, st, err, sizeof(err));
	s->step_st = st;
	return status_json(st, err);
}

/* One collective round: everyone sends `mine`, rank 0 computes the verdict
 * with step() (which also sets s->step_st), everyone receives it.  Returns
 * the verdict's status; *lost is set on a rank that did not hear it. */
static ckptio_status round_trip(saver *s, json_t *mine, ckptio_status st,
				json_t *(*step)(saver *, msgs *, ckptio_status),
				json_t **verdict, int *lost)
{
	msgs all;
	ckptio_status cst, bst;
	const char *msg = NULL;

	*lost = 0;
	cst = gather_msgs(s->ctx, s->location, s->co, mine, &all);
	json_decref(mine);
	*verdict = NULL;
	if (s->co->rank == 0) {
		s->step_st = CKPTIO_ENOMEM;
		*verdict = step(s, &all, cst != CKPTIO_OK ? CKPTIO_ECOORD : st);
	}
	msgs_free(&all);
	bst = bcast_json(s->ctx, s->location, s->co, verdict, s->step_st);
	if (s->co->rank == 0) {
		/* Rank 0 knows the outcome whether or not the others heard. */
		cst = s->step_st;
		if (*verdict)
			status_from_json(*verdict, &msg);
		if (cst != CKPTIO_OK)
			ckptio__error(s->ctx, cst, "%s",
				      msg && *msg ? msg : local_msg(s, cst));
		return cst;
	}
	if (bst != CKPTIO_OK || !*verdict) {
		char why[512];

		*lost = 1;
		return ckptio__error(s->ctx, CKPTIO_ECOORD,
				     "%s: lost contact with the other ranks%s",
				     s->location,
				     bst != CKPTIO_OK
					     ? ckptio__coord_why(s->co, why,
								 sizeof(why))
					     : "");
	}
	cst = status_from_json(*verdict, &msg);
	if (cst != CKPTIO_OK)
		ckptio__error(s->ctx, cst, "%s", msg);
	return cst;
}

/* One rank alone (world 1): nothing another rank says can change its
 * plan, since a state dict's names are unique and no replica can be
 * skipped, so the metadata is built on a thread of its own while
 * write_data runs, instead of before it (design-notes section 10).  A
 * plan the build refuses (chunks that leave gaps) fails the save after
 * the writes, and abort removes what they wrote. */
typedef struct solo_build {
	saver *s;
	pthread_t th;
	int started;
	ckptio_status st;
	char err[CKPTIO__ERRMSG];
} solo_build;

static void *solo_build_main(void *arg)
{
	solo_build *b = arg;
	saver *s = b->s;

	b->st = gplan_build(&s->g, &s->hc, s->loc.layout_plugin->desc->name,
			    b->err, sizeof(b->err));
	/* A skipped entry on one rank is a name it holds twice. */
	for (size_t i = 0; b->st == CKPTIO_OK && i < s->g.plans[0].nitems;
	     i++)
		if (s->g.at[0][i].item == (size_t)-1)
			b->st = ckptio__hc_error(
				&s->hc, CKPTIO_EINVAL,
				"item '%.200s' appears twice in the plan",
				s->g.plans[0].items[i].name);
	if (b->st == CKPTIO_ECORRUPT)
		b->st = CKPTIO_EINVAL;
	return NULL;
}

static void solo_build_start(solo_build *b, saver *s)
{
	b->s = s;
	b->st = CKPTIO_OK;
	b->err[0] = '\0';
	/* Without a thread it runs here, before the writes. */
	b->started = pthread_create(&b->th, NULL, solo_build_main, b) == 0;
	if (!b->started)
		solo_build_main(b);
}

/* Joins the build; a failure becomes the save's status (st, when it had
 * none of its own), reported through the context. */
static ckptio_status solo_build_join(solo_build *b, ckptio_status st)
{
	if (b->started)
		pthread_join(b->th, NULL);
	b->started = 0;
	if (st != CKPTIO_OK || b->st == CKPTIO_OK)
		return st;
	return ckptio__error(b->s->ctx, b->st, "%s",
			     b->err[0] ? b->err : local_msg(b->s, b->st));
}

static ckptio_status save_impl(ckptio_ctx *ctx, const char *location,
			       const ckptio_sd *sd, const ckptio_opts *opts)
{
	saver s = {.ctx = ctx, .location = location, .opts = opts};
	solo_build build = {0};
	ckptio_write_result *res = NULL;
	json_t *verdict = NULL, *mine;
	ckptio__progress prog;
	uint64_t total = 0;
	ckptio_status st;
	int lost = 0;

	s.co = opts && opts->coord ? opts->coord : &ckptio__solo_coord;
	s.overwrite = opts && (opts->flags & CKPTIO_SAVE_OVERWRITE);
	s.solo = s.co->world == 1;
	ctx->errmsg[0] = '\0';
	st = save_local(&s, sd);
	/* Rank 0's plan stays where it is (gplan_parse). */
	mine = plan_to_json(st, local_msg(&s, st),
			    st == CKPTIO_OK && s.co->rank > 0 ? &s.plan : NULL);
	st = round_trip(&s, mine, st, global_step, &verdict, &lost);
	if (st == CKPTIO_OK)
		st = apply_global(&s, json_array_get(json_object_get(verdict, "plans"),
						     (size_t)s.co->rank));
	json_decref(verdict);
	for (size_t i = 0; i < s.plan.nitems; i++)
		total += s.plan.items[i].nbytes;
	ckptio__progress_init(&prog, opts, total);
	if (st == CKPTIO_OK &&
	    !(res = calloc(s.plan.nitems ? s.plan.nitems : 1, sizeof(*res))))
		st = ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	if (st == CKPTIO_OK && s.solo)
		solo_build_start(&build, &s);
	if (st == CKPTIO_OK) {
		st = s.lo->write_data(s.w, &s.plan, res, ckptio__progress_add, &prog);
		if (st == CKPTIO_OK && total == 0)
			ckptio__progress_add(&prog, 0);
	}
	st = solo_build_join(&build, st);
	/* Before the commit nothing is in doubt: the save simply failed. */
	if (st == CKPTIO_EINDOUBT)
		st = CKPTIO_EIO;
	s.res = res;
	mine = results_json(st, local_msg(&s, st),
			    s.co->rank > 0 ? &s.plan : NULL, res);
	st = round_trip(&s, mine, st, commit_step, &verdict, &lost);
	json_decref(verdict);
	/* Rank 0 may have committed without this rank hearing of it. */
	if (lost) {
		char why[512];

		st = ckptio__error(ctx, CKPTIO_EINDOUBT,
				   "%s: lost contact with rank 0 during the "
				   "commit%s; this rank's data objects were "
				   "kept", location,
				   ckptio__coord_why(s.co, why, sizeof(why)));
	}
	/* After a commit in doubt every rank keeps what it wrote: the
	 * metadata in place may name it. */
	if (st != CKPTIO_OK && st != CKPTIO_EINDOUBT && s.w)
		s.lo->abort(s.w);
	for (size_t i = 0; res && i < s.plan.nitems; i++)
		free(res[i].object);
	free(res);
	pthread_mutex_destroy(&prog.mu);
	if (s.w)
		s.lo->writer_free(s.w);
	if (s.store)
		s.store->ops->close(s.store);
	if (s.lo)
		ckptio__hc_destroy(&s.hc);
	free(s.plan.storage);
	free(s.items);
	gplan_free(&s.g);
	ckptio__loc_free(&s.loc);
	return st;
}

/* What a save checks on the calling rank alone, before any collective:
 * a context to report in, opts it can read and a coordinator that can
 * reach the other ranks.  The rest (location, sd, flags) is checked by
 * save_local, so that every rank hears of it. */
static ckptio_status save_args(ckptio_ctx *ctx, const char *fn,
			       const ckptio_opts *opts, ckptio_opts *o)
{
	ckptio_status st;

	if (!ctx)
		return ckptio__null_arg(ctx, fn, "ctx");
	st = ckptio__opts_get(ctx, fn, opts, o);
	if (st == CKPTIO_OK)
		st = ckptio__coord_check(ctx, fn, o->coord);
	return st;
}

ckptio_status ckptio_save(ckptio_ctx *ctx, const char *location,
			  const ckptio_sd *sd, const ckptio_opts *opts)
{
	ckptio_opts o;
	ckptio_status st = save_args(ctx, __func__, opts, &o);

	if (st != CKPTIO_OK)
		return st;
	return save_impl(ctx, location, sd, &o);
}

/* ------------------------------------------------------------------------ */
/* Async save                                                               */

struct ckptio_future {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int joining, joined; /* a waiter is in pthread_join / it returned */
	ckptio_status st;
	char msg[CKPTIO__ERRMSG];
	ckptio_ctx *ctx;
	char *location;
	char *layout; /* our copy of opts.layout */
	ckptio_opts opts;
	const ckptio_sd *sd;
	ckptio_sd *staged; /* CKPTIO_SAVE_STAGE: our copy of the items */
};

static void *future_main(void *arg)
{
	ckptio_future *f = arg;
	ckptio_status st = save_impl(f->ctx, f->location, f->sd, &f->opts);

	pthread_mutex_lock(&f->mu);
	f->st = st;
	snprintf(f->msg, sizeof(f->msg), "%s", st ? f->ctx->errmsg : "");
	f->done = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static void staged_free(ckptio_sd *sd)
{
	for (size_t i = 0; sd && i < sd->n; i++)
		if (sd->items[i].wdata)
			free(sd->items[i].wdata);
	ckptio_sd_free(sd);
}

/* Copy every in-memory item so the caller may reuse its buffers. */
static ckptio_status stage(ckptio_ctx *ctx, const ckptio_sd *sd,
			   ckptio_sd **out)
{
	ckptio_sd *c;
	ckptio_status st = ckptio_sd_new(&c);

	for (size_t i = 0; st == CKPTIO_OK && i < sd->n; i++) {
		const ckptio_plan_item *pi = &sd->items[i].pi;
		void *copy = NULL;

		if (pi->data && pi->nbytes && !(copy = malloc(pi->nbytes))) {
			st = CKPTIO_ENOMEM;
			break;
		}
		if (copy)
			memcpy(copy, pi->data, pi->nbytes);
		if (pi->kind == CKPTIO_ITEM_BYTES)
			st = pi->data || !pi->read
				     ? ckptio_sd_add_bytes(c, pi->name, copy,
							   pi->nbytes)
				     : ckptio_sd_add_bytes_fn(c, pi->name,
							      pi->nbytes,
							      pi->read,
							      pi->read_user);
		else if (pi->data || !pi->read)
			st = ckptio_sd_add_tensor(c, pi->name, pi->dtype,
						  pi->ndim, pi->global_shape,
						  pi->offsets, pi->shape, copy);
		else
			st = ckptio_sd_add_tensor_fn(c, pi->name, pi->dtype,
						     pi->ndim, pi->global_shape,
						     pi->offsets, pi->shape,
						     pi->read, pi->read_user);
		if (st == CKPTIO_OK)
			c->items[c->n - 1].wdata = copy;
		else
			free(copy);
	}
	if (st != CKPTIO_OK) {
		staged_free(c);
		return ckptio__error(ctx, st, "staging the state dict: %s",
				     ckptio_last_error());
	}
	*out = c;
	return CKPTIO_OK;
}

ckptio_status ckptio_async_save(ckptio_ctx *ctx, const char *location,
				const ckptio_sd *sd, const ckptio_opts *opts,
				ckptio_future **out)
{
	ckptio_future *f;
	ckptio_opts o;
	ckptio_status st;

	if (out)
		*out = NULL;
	st = save_args(ctx, __func__, opts, &o);
	if (st == CKPTIO_OK && !out)
		st = ckptio__null_arg(ctx, __func__, "out");
	if (st != CKPTIO_OK)
		return st;
	/* A NULL location or sd fails in the save, on every rank. */
	f = calloc(1, sizeof(*f));
	if (!f || (location && !(f->location = strdup(location)))) {
		free(f);
		return ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	}
	f->opts = o;
	/* The caller's layout name need not outlive this call. */
	if (f->opts.layout && !(f->layout = strdup(f->opts.layout)))
		st = ckptio__error(ctx, CKPTIO_ENOMEM, "out of memory");
	f->opts.layout = f->layout;
	f->ctx = ctx;
	f->sd = sd;
	if (st == CKPTIO_OK && sd && (f->opts.flags & CKPTIO_SAVE_STAGE)) {
		st = stage(ctx, sd, &f->staged);
		f->sd = f->staged;
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (st == CKPTIO_OK &&
	    pthread_create(&f->thread, NULL, future_main, f) != 0)
		st = ckptio__error(ctx, CKPTIO_ENOMEM,
				   "cannot start the async save thread");
	if (st != CKPTIO_OK) {
		f->joined = 1;
		f->done = 1;
		ckptio_future_free(f);
		return st;
	}
	*out = f;
	return CKPTIO_OK;
}

int ckptio_future_poll(ckptio_future *f)
{
	int done;

	if (!f)
		return -1;
	pthread_mutex_lock(&f->mu);
	done = f->done;
	pthread_mutex_unlock(&f->mu);
	return done;
}

/* Several threads may wait at once: the first joins the save's thread,
 * the others sleep until it has (joining a thread twice is undefined). */
ckptio_status ckptio_future_wait(ckptio_future *f)
{
	ckptio_status st;

	if (!f)
		return ckptio__set_last_error(CKPTIO_EINVAL, "%s: f is NULL",
					      __func__);
	pthread_mutex_lock(&f->mu);
	while (!f->joined) {
		if (f->joining) {
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		f->joining = 1;
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
		pthread_mutex_lock(&f->mu);
		f->joined = 1;
		pthread_cond_broadcast(&f->cv);
	}
	st = f->st;
	pthread_mutex_unlock(&f->mu);
	return st;
}

const char *ckptio_future_errmsg(const ckptio_future *f)
{
	int done;

	if (!f)
		return ckptio_last_error();
	/* msg is written once, with done, under the lock. */
	pthread_mutex_lock((pthread_mutex_t *)&f->mu);
	done = f->done;
	pthread_mutex_unlock((pthread_mutex_t *)&f->mu);
	return done ? f->msg : "";
}

void ckptio_future_free(ckptio_future *f)
{
	if (!f)
		return;
	ckptio_future_wait(f);
	staged_free(f->staged);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->location);
	free(f->layout);
	free(f);
}
