/*
 * metadata.c - the checkpoint metadata model: building it (for savers and
 * for layout readers through the host table), validating it, and its JSON
 * form (.metadata.json of the native layout), written with jansson and
 * read by a streaming parser that leaves the hard parts to jansson.
 *
 * Everything that comes from outside (a metadata file, a foreign header)
 * goes through md_add_item / md_add_chunk / md_seal, so one set of checks
 * guards every layout: names, dtypes, shapes, chunk bounds, byte lengths,
 * object keys (a hostile "../x" never reaches a store), overlaps and
 * coverage.
 */
#include <jansson.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The public struct first, then what only the builder needs.
 *
 * Memory stays a small multiple of the metadata file (a model's optimizer
 * state has millions of items): names, dims and one-chunk arrays come from
 * an arena freed at once, and object names are interned, since millions of
 * chunks share a few data objects.  An item's chunk array is malloc'd, and
 * grows by doubling, exactly when it holds two chunks or more. */
typedef struct ablock {
	struct ablock *next;
	size_t used, size; /* in words */
	uint64_t data[];
} ablock;

typedef struct md_impl {
	ckptio_metadata pub;
	ckptio_item_meta *items;
	size_t icap;
	char **akeys, **avals;
	size_t acap;
	size_t aclean;   /* attrs [0, aclean) are sorted, their keys unique */
	ablock *arena;
	size_t anext;    /* words in the arena's next block */
	void *objects;   /* tsearch tree of the interned object names */
	const char *last_object;
	int sealed;      /* nothing was added since the last seal */
} md_impl;

#define IMPL(md) ((md_impl *)(md))

#define ARENA_FIRST 512         /* words: 4 KiB */
#define ARENA_MAX (128u << 10)  /* words: 1 MiB */

/* ------------------------------------------------------------------------ */
/* Building                                                                 */

/* n bytes, 8-byte aligned, freed with the metadata. */
static void *arena_alloc(md_impl *m, size_t n)
{
	ablock *b = m->arena;
	size_t words = n ? (n + 7) / 8 : 1, size;

	if (n > SIZE_MAX / 2)
		return NULL;
	if (b && b->size - b->used >= words) {
		b->used += words;
		return b->data + b->used - words;
	}
	size = m->anext ? m->anext : ARENA_FIRST;
	if (words > size / 4) {
		/* A big piece gets a block of its own, behind the current
		 * one, whose free room stays in use. */
		if (!(b = malloc(sizeof(*b) + words * 8)))
			return NULL;
		b->size = b->used = words;
		b->next = m->arena ? m->arena->next : NULL;
		if (m->arena)
			m->arena->next = b;
		else
			m->arena = b;
		return b->data;
	}
	if (!(b = malloc(sizeof(*b) + size * 8)))
		return NULL;
	b->size = size;
	b->used = words;
	b->next = m->arena;
	m->arena = b;
	m->anext = size < ARENA_MAX ? size * 2 : ARENA_MAX;
	return b->data;
}

static char *arena_strdup(md_impl *m, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = arena_alloc(m, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void keep_node(void *p)
{
	(void)p; /* the strings live in the arena */
}

/* The one copy of an object name: chunks mostly repeat the previous
 * chunk's object, and otherwise a balanced tree (tsearch) finds it. */
static const char *intern(md_impl *m, const char *s)
{
	const char **node;
	char *copy;

	if (m->last_object && strcmp(m->last_object, s) == 0)
		return m->last_object;
	node = tfind(s, &m->objects, cmp_str);
	if (!node) {
		if (!(copy = arena_strdup(m, s)) ||
		    !(node = tsearch(copy, &m->objects, cmp_str)))
			return NULL;
	}
	return m->last_object = *node;
}

ckptio_status ckptio__md_new(ckptio_host_ctx *hc, const char *layout,
			     ckptio_metadata **out)
{
	md_impl *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m || !(m->pub.layout = strdup(layout ? layout : "native"))) {
		free(m);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	m->pub.version = CKPTIO__MD_VERSION;
	m->pub.world = 1;
	*out = &m->pub;
	return CKPTIO_OK;
}

void ckptio__md_free(ckptio_metadata *md)
{
	md_impl *m = IMPL(md);
	ablock *b, *next;

	if (!md)
		return;
	for (size_t i = 0; i < md->nitems; i++)
		if (m->items[i].nchunks >= 2)
			free((void *)m->items[i].chunks);
	for (size_t i = 0; i < md->nattrs; i++) {
		free(m->akeys[i]);
		free(m->avals[i]);
	}
	free(m->akeys);
	free(m->avals);
	free(m->items);
	free((void *)md->layout);
	tdestroy(m->objects, keep_node);
	for (b = m->arena; b; b = next) {
		next = b->next;
		free(b);
	}
	free(m);
}

/* Multiply without overflow; 0 on success. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

static int elements(unsigned ndim, const uint64_t *shape, uint64_t *out)
{
	uint64_t n = 1;

	for (unsigned d = 0; d < ndim; d++)
		if (mul_ok(n, shape[d], &n))
			return -1;
	*out = n;
	return 0;
}

ckptio_status ckptio__md_add_item(ckptio_host_ctx *hc, ckptio_metadata *md,
				  const char *name, ckptio_item_kind kind,
				  ckptio_dtype dtype, unsigned ndim,
				  const uint64_t *shape, size_t *index)
{
	md_impl *m = IMPL(md);
	ckptio_item_meta *it;
	uint64_t n = 0, *s = NULL;
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > CKPTIO_MAX_NAME)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item name is %zu bytes; it must be 1 "
					"to %d bytes",
					len, CKPTIO_MAX_NAME);
	if (ckptio__utf8_prefix(name, len) != len)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item name is not valid UTF-8 (byte "
					"%zu)",
					ckptio__utf8_prefix(name, len));
	if (kind != CKPTIO_ITEM_TENSOR && kind != CKPTIO_ITEM_BYTES)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': unknown kind %d", name,
					(int)kind);
	if (kind == CKPTIO_ITEM_TENSOR &&
	    (ckptio_dtype_size(dtype) == 0 || ndim > CKPTIO_MAX_NDIM ||
	     elements(ndim, shape, &n) != 0 ||
	     mul_ok(n, ckptio_dtype_size(dtype), &n) != 0))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': bad dtype, rank (%u) or "
					"shape (too large)",
					name, ndim);
	if (md->nitems == m->icap) {
		size_t cap = m->icap ? m->icap * 2 : 16;
		ckptio_item_meta *items = realloc(m->items, cap * sizeof(*items));

		if (!items)
			return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
		m->items = items;
		m->icap = cap;
		md->items = m->items;
	}
	if (kind == CKPTIO_ITEM_TENSOR && ndim &&
	    (s = arena_alloc(m, ndim * sizeof(*s))))
		memcpy(s, shape, ndim * sizeof(*s));
	it = &m->items[md->nitems];
	memset(it, 0, sizeof(*it));
	it->name = arena_strdup(m, name);
	it->kind = kind;
	it->dtype = kind == CKPTIO_ITEM_TENSOR ? dtype : CKPTIO_DTYPE_INVALID;
	it->ndim = kind == CKPTIO_ITEM_TENSOR ? ndim : 0;
	it->nbytes = n;
	it->shape = s;
	if (!it->name || (it->ndim && !it->shape))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	m->sealed = 0;
	*index = md->nitems++;
	return CKPTIO_OK;
}

/* Chunk inside the tensor and its byte length right. */
static ckptio_status check_chunk(ckptio_host_ctx *hc, const ckptio_item_meta *it,
				 const uint64_t *offsets, const uint64_t *shape,
				 uint64_t length)
{
	uint64_t n, end;

	if (it->kind == CKPTIO_ITEM_BYTES) {
		if (it->nchunks > 0)
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"item '%.200s': a bytes item "
						"has exactly one chunk",
						it->name);
		return CKPTIO_OK;
	}
	for (unsigned d = 0; d < it->ndim; d++)
		if (__builtin_add_overflow(offsets[d], shape[d], &end) ||
		    end > it->shape[d])
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"item '%.200s': chunk out of "
						"bounds in dimension %u",
						it->name, d);
	if (elements(it->ndim, shape, &n) != 0 ||
	    mul_ok(n, ckptio_dtype_size(it->dtype), &n) != 0 || n != length)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk length %llu does "
					"not match its shape and dtype",
					it->name, (unsigned long long)length);
	return CKPTIO_OK;
}

/* Room for one more chunk; the last step of adding one that can fail. */
static ckptio_chunk_meta *chunk_slot(md_impl *m, ckptio_item_meta *it)
{
	size_t n = it->nchunks;
	ckptio_chunk_meta *v = (ckptio_chunk_meta *)it->chunks;

	if (n == 0) {
		v = arena_alloc(m, sizeof(*v));
	} else if (n == 1) {
		if ((v = malloc(2 * sizeof(*v))))
			memcpy(v, it->chunks, sizeof(*v));
	} else if ((n & (n - 1)) == 0) {
		v = n <= SIZE_MAX / 2 / sizeof(*v)
			    ? realloc(v, 2 * n * sizeof(*v)) : NULL;
	}
	if (!v)
		return NULL;
	it->chunks = v;
	return &v[n];
}

ckptio_status ckptio__md_add_chunk(ckptio_host_ctx *hc, ckptio_metadata *md,
				   size_t item, const uint64_t *offsets,
				   const uint64_t *shape, const char *object,
				   uint64_t offset, uint64_t length,
				   int has_crc, uint32_t crc32c)
{
	static const uint64_t no_dims[1];
	md_impl *m = IMPL(md);
	ckptio_item_meta *it;
	ckptio_chunk_meta *c;
	const char *obj;
	uint64_t end, *dims = NULL;
	ckptio_status st;

	if (item >= md->nitems)
		return ckptio__hc_error(hc, CKPTIO_EINVAL, "no item %zu", item);
	it = &m->items[item];
	if (!object || !ckptio__key_valid(object))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': invalid object name "
					"'%.200s'",
					it->name, object ? object : "(null)");
	if (__builtin_add_overflow(offset, length, &end))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk offset overflows",
					it->name);
	st = check_chunk(hc, it, offsets, shape, length);
	if (st != CKPTIO_OK)
		return st;
	if (it->ndim && (dims = arena_alloc(m, 2 * it->ndim * sizeof(*dims)))) {
		memcpy(dims, offsets, it->ndim * sizeof(*dims));
		memcpy(dims + it->ndim, shape, it->ndim * sizeof(*dims));
	}
	if ((it->ndim && !dims) || !(obj = intern(m, object)) ||
	    !(c = chunk_slot(m, it)))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	memset(c, 0, sizeof(*c));
	c->offsets = dims ? dims : no_dims;
	c->shape = dims ? dims + it->ndim : no_dims;
	c->object = obj;
	c->offset = offset;
	c->length = length;
	c->has_crc = has_crc;
	c->crc32c = crc32c;
	it->nchunks++;
	m->sealed = 0;
	return CKPTIO_OK;
}

/* Attributes are appended; a sort keeps the last value of each key.  It
 * runs at seal and whenever the list doubles, so setting n attributes
 * costs O(n log n) and at most twice their memory. */
static ckptio_status attr_append(ckptio_host_ctx *hc, md_impl *m,
				 const char *key, const char *value)
{
	ckptio_metadata *md = &m->pub;

	if (md->nattrs == m->acap) {
		size_t cap = m->acap ? m->acap * 2 : 4;
		char **k = realloc(m->akeys, cap * sizeof(*k));
		char **v = k ? realloc(m->avals, cap * sizeof(*v)) : NULL;

		if (k)
			m->akeys = k;
		if (!v)
			return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
		m->avals = v;
		m->acap = cap;
	}
	m->akeys[md->nattrs] = strdup(key);
	m->avals[md->nattrs] = strdup(value);
	if (!m->akeys[md->nattrs] || !m->avals[md->nattrs]) {
		free(m->akeys[md->nattrs]);
		free(m->avals[md->nattrs]);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	md->nattrs++;
	md->attr_keys = (const char *const *)m->akeys;
	md->attr_values = (const char *const *)m->avals;
	m->sealed = 0;
	return CKPTIO_OK;
}

typedef struct attr_ref {
	char *key, *value;
	size_t seq;
} attr_ref;

static int cmp_attr(const void *a, const void *b)
{
	const attr_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sort the attributes by key and keep the last value set for each; with
 * `what` (a metadata file), a key set twice is an error instead. */
static ckptio_status attrs_sort(ckptio_host_ctx *hc, md_impl *m,
				const char *what)
{
	ckptio_metadata *md = &m->pub;
	size_t n = md->nattrs, k = 0;
	attr_ref *r;

	if (n == m->aclean)
		return CKPTIO_OK;
	if (!(r = malloc(n * sizeof(*r))))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		r[i] = (attr_ref){m->akeys[i], m->avals[i], i};
	qsort(r, n, sizeof(*r), cmp_attr);
	for (size_t i = 1; what && i < n; i++)
		if (strcmp(r[i - 1].key, r[i].key) == 0) {
			const char *key = r[i].key; /* still in m->akeys */

			free(r);
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"%s: attrs: key '%.200s' appears "
						"twice",
						what, key);
		}
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(r[i].key, r[i + 1].key) == 0) {
			free(r[i].key);
			free(r[i].value);
			continue;
		}
		m->akeys[k] = r[i].key;
		m->avals[k++] = r[i].value;
	}
	free(r);
	md->nattrs = m->aclean = k;
	return CKPTIO_OK;
}

ckptio_status ckptio__md_set_attr(ckptio_host_ctx *hc, ckptio_metadata *md,
				  const char *key, const char *value)
{
	md_impl *m = IMPL(md);
	ckptio_status st;

	if (!key || !value)
		return ckptio__hc_error(hc, CKPTIO_EINVAL,
					"attribute %s is NULL",
					key ? "value" : "key");
	/* The metadata is JSON: UTF-8 only, as for item names. */
	if (ckptio__utf8_prefix(key, strlen(key)) != strlen(key) ||
	    ckptio__utf8_prefix(value, strlen(value)) != strlen(value))
		return ckptio__hc_error(hc, CKPTIO_EINVAL,
					"attribute '%.100s': key and value "
					"must be UTF-8",
					key);
	st = attr_append(hc, m, key, value);
	if (st == CKPTIO_OK && md->nattrs >= 16 && md->nattrs >= 2 * m->aclean)
		st = attrs_sort(hc, m, NULL);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Sealing: order and whole-item checks                                     */

static int cmp_items(const void *a, const void *b)
{
	return strcmp(((const ckptio_item_meta *)a)->name,
		      ((const ckptio_item_meta *)b)->name);
}

static int boxes_overlap(unsigned ndim, const ckptio_chunk_meta *a,
			 const ckptio_chunk_meta *b)
{
	for (unsigned d = 0; d < ndim; d++)
		if (a->offsets[d] >= b->offsets[d] + b->shape[d] ||
		    b->offsets[d] >= a->offsets[d] + a->shape[d])
			return 0;
	return 1;
}

/*
 * Do the chunks tile the tensor, every element in exactly one chunk?
 * Chunks are inside the tensor (md_add_chunk); those with no element are
 * left out.  On the tensor's elements x, the indicator of a chunk
 * [a, b) (a product of [a_k, b_k)) expands into "corner" functions
 * Q_p(x) = [x >= p in every dimension]:
 *
 *     [a_k <= x_k < b_k] = Q(a_k) - Q(b_k),  and Q(n_k) = 0 on the tensor,
 *
 * so a chunk is the signed sum of its corners p with p_k in {a_k, b_k},
 * b_k < n_k, sign (-1)^(number of b's), and the whole tensor is Q_0.
 * Let w_p be the signed count of corner p over all chunks, minus 1 at
 * p = 0.  Then (sum of the chunks' indicators - 1) = sum_p w_p Q_p.  If
 * every w_p is 0, every element is in exactly one chunk.  If not, let p*
 * be the lexicographically smallest p with w_p != 0: every other p with
 * w_p != 0 is lexicographically larger, so not <= p* in all dimensions,
 * and Q_p(p*) = 0; hence element p* is in 1 + w_p* chunks: two or more
 * (an overlap), or none (a gap).  Sorting the corners finds p*.
 *
 * A chunk has 2^t corners, t = dimensions where it ends before the
 * tensor does, so the check costs O(C log C) for C corners.  Grids, the
 * usual case, are checked more cheaply first (tiling_grid), and
 * dimensions that every chunk spans whole are dropped.  A tiling with
 * more corners than the budget (16 a chunk, plus 2^20) is checked pair by
 * pair when it has few chunks, so its cost is bounded too, and refused
 * otherwise, with a message that says why.
 */
#define TILE_BUDGET(m) (16 * (m) + ((size_t)1 << 20))
#define TILE_PAIRWISE 2048 /* chunks */
#define NO_CHUNK UINT32_MAX /* the tensor's own corner, at 0 */

typedef struct corner {
	uint32_t chunk; /* index in the item, or NO_CHUNK */
	uint32_t mask;  /* bit j: the end, not the start, in dims[j] */
} corner;

typedef struct tiling {
	const ckptio_item_meta *it;
	unsigned nd;                    /* dimensions kept */
	unsigned dims[CKPTIO_MAX_NDIM]; /* which */
} tiling;

static uint64_t corner_at(const tiling *t, const corner *c, unsigned j)
{
	const ckptio_chunk_meta *k;
	unsigned d = t->dims[j];

	if (c->chunk == NO_CHUNK)
		return 0;
	k = &t->it->chunks[c->chunk];
	return k->offsets[d] + ((c->mask >> j & 1) ? k->shape[d] : 0);
}

static int cmp_corner(const void *a, const void *b, void *arg)
{
	const tiling *t = arg;

	for (unsigned j = 0; j < t->nd; j++) {
		uint64_t x = corner_at(t, a, j), y = corner_at(t, b, j);

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int corner_sign(const corner *c)
{
	if (c->chunk == NO_CHUNK)
		return -1;
	return __builtin_parity(c->mask) ? -1 : 1;
}

static int chunk_empty(const ckptio_chunk_meta *c)
{
	return c->length == 0;
}

/* Bit j set where the chunk ends before the tensor in dims[j]. */
static uint32_t inner_ends(const tiling *t, const ckptio_chunk_meta *c)
{
	uint32_t mask = 0;

	for (unsigned j = 0; j < t->nd; j++)
		if (c->offsets[t->dims[j]] + c->shape[t->dims[j]] <
		    t->it->shape[t->dims[j]])
			mask |= (uint32_t)1 << j;
	return mask;
}

/* The element at corner c (dimensions not kept: 0) as "[i, j, k]". */
static void element_text(const tiling *t, const corner *c, char *buf,
			 size_t len, uint64_t *at)
{
	size_t off = (size_t)snprintf(buf, len, "[");

	memset(at, 0, t->it->ndim * sizeof(*at));
	for (unsigned j = 0; j < t->nd; j++)
		at[t->dims[j]] = corner_at(t, c, j);
	for (unsigned d = 0; d < t->it->ndim && off < len; d++)
		off += (size_t)snprintf(buf + off, len - off, "%s%llu",
					d ? ", " : "",
					(unsigned long long)at[d]);
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

/* Element p* of the comment above is in 1 + w chunks: say which. */
static ckptio_status tiling_error(ckptio_host_ctx *hc, const char *what,
				  const tiling *t, const corner *c, long long w)
{
	const ckptio_item_meta *it = t->it;
	char text[CKPTIO_MAX_NDIM * 22 + 3];
	uint64_t at[CKPTIO_MAX_NDIM];
	size_t first = SIZE_MAX;

	element_text(t, c, text, sizeof(text), at);
	if (w < 0)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks overlap: "
					"element %s is in none of them",
					what, it->name, text);
	for (size_t i = 0; i < it->nchunks; i++) {
		const ckptio_chunk_meta *k = &it->chunks[i];
		unsigned d = 0;

		while (d < it->ndim && k->offsets[d] <= at[d] &&
		       at[d] - k->offsets[d] < k->shape[d])
			d++;
		if (d < it->ndim)
			continue;
		if (first != SIZE_MAX)
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"%s: item '%.200s': chunks %zu "
						"and %zu overlap at element %s",
						what, it->name, first, i, text);
		first = i;
	}
	return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
				"%s: item '%.200s': chunks overlap at element "
				"%s",
				what, it->name, text);
}

/* Few chunks: compare every pair. */
static ckptio_status tiling_pairwise(ckptio_host_ctx *hc, const char *what,
				     const ckptio_item_meta *it)
{
	for (size_t i = 0; i < it->nchunks; i++)
		for (size_t j = 0; j < i && !chunk_empty(&it->chunks[i]); j++)
			if (!chunk_empty(&it->chunks[j]) &&
			    boxes_overlap(it->ndim, &it->chunks[i],
					  &it->chunks[j]))
				return ckptio__hc_error(
					hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks %zu and %zu "
					"overlap",
					what, it->name, j, i);
	return CKPTIO_OK;
}

typedef struct range {
	uint64_t a, b;
} range;

static int cmp_range(const void *x, const void *y)
{
	const range *p = x, *q = y;

	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return (p->b > q->b) - (p->b < q->b);
}

/* Chunks by where they start. */
static int cmp_start(const void *a, const void *b, void *arg)
{
	const corner x = {*(const uint32_t *)a, 0}, y = {*(const uint32_t *)b, 0};

	return cmp_corner(&x, &y, arg);
}

/*
 * The usual case, a grid (rows, columns, blocks, in any number of
 * dimensions), is checked directly.  If in each dimension the chunks'
 * ranges, repeats aside, follow one another from 0 to the tensor's end,
 * every chunk is one cell of the grid they draw, and every cell has
 * elements; the chunks, as many elements in all as the tensor, then tile
 * it exactly when no two start at the same place.  *grid = 0 when the
 * ranges do not follow one another.
 */
static ckptio_status tiling_grid(ckptio_host_ctx *hc, const char *what,
				 const tiling *t, size_t m, int *grid)
{
	const ckptio_item_meta *it = t->it;
	range *r = malloc(m * sizeof(*r));
	uint32_t *order = r ? malloc(m * sizeof(*order)) : NULL;
	ckptio_status st = CKPTIO_OK;
	size_t k = 0;

	*grid = 0;
	if (!order) {
		free(r);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	for (unsigned j = 0; j < t->nd; j++) {
		unsigned d = t->dims[j];
		uint64_t end = 0;

		k = 0;
		for (size_t i = 0; i < it->nchunks; i++) {
			const ckptio_chunk_meta *c = &it->chunks[i];

			if (!chunk_empty(c))
				r[k++] = (range){c->offsets[d],
						 c->offsets[d] + c->shape[d]};
		}
		qsort(r, m, sizeof(*r), cmp_range);
		for (size_t i = 0; i < m; i++) {
			if (i > 0 && cmp_range(&r[i - 1], &r[i]) == 0)
				continue;
			if (r[i].a != end)
				goto out;
			end = r[i].b;
		}
		if (end != it->shape[d])
			goto out;
	}
	*grid = 1;
	k = 0;
	for (size_t i = 0; i < it->nchunks; i++)
		if (!chunk_empty(&it->chunks[i]))
			order[k++] = (uint32_t)i;
	qsort_r(order, m, sizeof(*order), cmp_start, (void *)t);
	for (size_t i = 1; i < m && st == CKPTIO_OK; i++)
		if (cmp_start(&order[i - 1], &order[i], (void *)t) == 0)
			st = tiling_error(hc, what, t,
					  &(corner){order[i], 0}, 1);
out:
	free(order);
	free(r);
	return st;
}

/* Any other tiling, by its corners (see above). */
static ckptio_status tiling_corners(ckptio_host_ctx *hc, const char *what,
				    const tiling *t, size_t m)
{
	const ckptio_item_meta *it = t->it;
	size_t ncorners = 1, k = 0;
	ckptio_status st = CKPTIO_OK;
	corner *v;

	for (size_t i = 0; i < it->nchunks; i++) {
		int bits = __builtin_popcount(inner_ends(t, &it->chunks[i]));

		if (chunk_empty(&it->chunks[i]))
			continue;
		ncorners += bits < 32 ? (size_t)1 << bits : SIZE_MAX / 2;
		if (ncorners > TILE_BUDGET(m))
			break;
	}
	if (ncorners > TILE_BUDGET(m)) {
		if (m <= TILE_PAIRWISE)
			return tiling_pairwise(hc, what, it);
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': its %zu chunks are "
					"cut along %u dimensions in a pattern "
					"too irregular to check that they tile "
					"it (more than %zu corners)",
					what, it->name, m, t->nd,
					TILE_BUDGET(m));
	}
	if (!(v = malloc(ncorners * sizeof(*v))))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < it->nchunks; i++) {
		uint32_t inner = inner_ends(t, &it->chunks[i]), s = inner;

		if (chunk_empty(&it->chunks[i]))
			continue;
		do { /* every subset s of inner */
			v[k++] = (corner){(uint32_t)i, s};
			s = (s - 1) & inner;
		} while (s != inner);
	}
	v[k++] = (corner){NO_CHUNK, 0};
	qsort_r(v, k, sizeof(*v), cmp_corner, (void *)t);
	for (size_t i = 0, j; i < k && st == CKPTIO_OK; i = j) {
		long long w = 0;

		for (j = i; j < k && cmp_corner(&v[i], &v[j], (void *)t) == 0;
		     j++)
			w += corner_sign(&v[j]);
		if (w != 0)
			st = tiling_error(hc, what, t, &v[i], w);
	}
	free(v);
	return st;
}

/* The item has m >= 2 chunks with elements, as many elements in all as
 * the tensor: are they disjoint (so they tile it)?  Dimensions that every
 * chunk spans whole play no part. */
static ckptio_status check_tiling(ckptio_host_ctx *hc, const char *what,
				  const ckptio_item_meta *it, size_t m)
{
	tiling t = {.it = it};
	int grid;
	ckptio_status st;

	if (it->nchunks >= NO_CHUNK)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': more than %u chunks",
					what, it->name, NO_CHUNK - 1);
	for (unsigned d = 0; d < it->ndim; d++)
		for (size_t i = 0; i < it->nchunks; i++) {
			const ckptio_chunk_meta *c = &it->chunks[i];

			if (!chunk_empty(c) &&
			    (c->offsets[d] != 0 || c->shape[d] != it->shape[d])) {
				t.dims[t.nd++] = d;
				break;
			}
		}
	st = tiling_grid(hc, what, &t, m, &grid);
	return st != CKPTIO_OK || grid ? st : tiling_corners(hc, what, &t, m);
}

/* A bytes item is its one chunk.  The chunks of a tensor hold every
 * element once: as many elements in all as the tensor, and disjoint. */
static ckptio_status check_cover(ckptio_host_ctx *hc, const char *what,
				 const ckptio_item_meta *it)
{
	uint64_t total = 0, n;
	size_t esz, m = 0;
	int over = 0;

	if (it->nchunks == 0)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s' has no chunks", what,
					it->name);
	if (it->kind != CKPTIO_ITEM_TENSOR)
		return CKPTIO_OK;
	esz = ckptio_dtype_size(it->dtype);
	n = it->nbytes / esz;
	for (size_t i = 0; i < it->nchunks; i++) {
		m += !chunk_empty(&it->chunks[i]);
		over |= __builtin_add_overflow(total,
					       it->chunks[i].length / esz,
					       &total);
	}
	if (over || total > n)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks overlap: "
					"they hold more elements than its %llu",
					what, it->name, (unsigned long long)n);
	if (total != n)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks cover %llu "
					"of %llu elements",
					what, it->name,
					(unsigned long long)total,
					(unsigned long long)n);
	/* One chunk inside the tensor with all its elements is the tensor. */
	return m < 2 ? CKPTIO_OK : check_tiling(hc, what, it, m);
}

ckptio_status ckptio__md_seal(ckptio_host_ctx *hc, const char *what,
			      ckptio_metadata *md)
{
	md_impl *m = IMPL(md);
	ckptio_status st;

	if (m->sealed)
		return CKPTIO_OK;
	/* Metadata files are written sorted: sort only when needed. */
	for (size_t i = 1; i < md->nitems; i++)
		if (cmp_items(&m->items[i - 1], &m->items[i]) > 0) {
			qsort(m->items, md->nitems, sizeof(*m->items),
			      cmp_items);
			break;
		}
	for (size_t i = 0; i < md->nitems; i++) {
		ckptio_item_meta *it = &m->items[i];

		if (i > 0 && strcmp(m->items[i - 1].name, it->name) == 0)
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"%s: item '%.200s' appears twice",
						what, it->name);
		if (it->kind == CKPTIO_ITEM_BYTES && it->nchunks == 1)
			it->nbytes = it->chunks[0].length;
		st = check_cover(hc, what, it);
		if (st != CKPTIO_OK)
			return st;
	}
	if ((st = attrs_sort(hc, m, NULL)) != CKPTIO_OK)
		return st;
	/* New chunks are rare after this: the tree's nodes can go. */
	tdestroy(m->objects, keep_node);
	m->objects = NULL;
	m->sealed = 1;
	return CKPTIO_OK;
}

size_t ckptio__md_find(const ckptio_metadata *md, const char *name)
{
	size_t lo = 0, hi = md->nitems;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(md->items[mid].name, name);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (size_t)-1;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

static json_t *dims_json(const uint64_t *v, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer((json_int_t)v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *chunk_json(const ckptio_item_meta *it, const ckptio_chunk_meta *c)
{
	json_t *o = json_pack("{s:s, s:I, s:I}", "object", c->object, "offset",
			      (json_int_t)c->offset, "length",
			      (json_int_t)c->length);

	if (o && c->has_crc &&
	    json_object_set_new(o, "crc32c", json_integer(c->crc32c)))
		goto fail;
	if (o && it->kind == CKPTIO_ITEM_TENSOR &&
	    (json_object_set_new(o, "offsets", dims_json(c->offsets, it->ndim)) ||
	     json_object_set_new(o, "shape", dims_json(c->shape, it->ndim))))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *item_json(const ckptio_item_meta *it)
{
	json_t *o = json_pack("{s:s, s:s}", "name", it->name, "kind",
			      it->kind == CKPTIO_ITEM_TENSOR ? "tensor" : "bytes");
	json_t *chunks = json_array();

	if (!o || !chunks)
		goto fail;
	if (it->kind == CKPTIO_ITEM_TENSOR &&
	    (json_object_set_new(o, "dtype",
				 json_string(ckptio_dtype_name(it->dtype))) ||
	     json_object_set_new(o, "shape", dims_json(it->shape, it->ndim))))
		goto fail;
	for (size_t c = 0; c < it->nchunks; c++)
		if (json_array_append_new(chunks, chunk_json(it, &it->chunks[c])))
			goto fail;
	if (json_object_set_new(o, "chunks", chunks) == 0)
		return o;
	chunks = NULL;
fail:
	json_decref(chunks);
	json_decref(o);
	return NULL;
}

char *ckptio__md_to_json(const ckptio_metadata *md, size_t *len)
{
	json_t *root, *items, *attrs;
	char *s = NULL;

	root = json_pack("{s:s, s:i, s:s, s:i}", "format", "ckptio", "version",
			 (int)md->version, "layout", md->layout, "world",
			 md->world);
	items = json_array();
	attrs = json_object();
	if (!root || !items || !attrs)
		goto out;
	for (size_t i = 0; i < md->nattrs; i++)
		if (json_object_set_new(attrs, md->attr_keys[i],
					json_string(md->attr_values[i])))
			goto out;
	for (size_t i = 0; i < md->nitems; i++)
		if (json_array_append_new(items, item_json(&md->items[i])))
			goto out;
	if (json_object_set(root, "attrs", attrs) ||
	    json_object_set(root, "items", items))
		goto out;
	s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s)
		*len = strlen(s);
out:
	json_decref(attrs);
	json_decref(items);
	json_decref(root);
	return s;
}

/*
 * Parsing.  jansson has no streaming parser, and its tree of a metadata
 * file takes about 15 times the file (3.5 GB for 2M items) and most of the
 * time.  So the document is read here in one pass, without a tree: a
 * descent over the metadata's schema that reads the plainest tokens
 * itself (punctuation, strings of printable ASCII without escapes,
 * integers of up to 18 digits) and hands any other value to jansson
 * (json_loadb on that value's bytes), so escapes, Unicode, number syntax
 * and their error messages stay jansson's.  A document is accepted only if
 * it is valid JSON.  Members may come in any order: "items" and an item's
 * "shape" and "chunks" are skipped over and read once what they depend on
 * is known.  A known key given twice is an error; unknown members are
 * checked and ignored.
 *
 * A JSON error gives the line and column, a content error names the
 * member's path (items[3].chunks[0].offset).
 */
#define JSON_DEPTH 2048 /* nesting, as jansson's limit */

typedef struct parser {
	ckptio_host_ctx *hc;
	const char *what;
	const char *buf;
	size_t len, pos;
	char *scratch; /* a string made C string */
	size_t scap;
	int depth;     /* where a content error is: 1 in items[item], 2 in */
	size_t item;   /* its chunks[chunk] */
	size_t chunk;
} parser;

/* A string read: s[0..n) in the input or in j (released by the reader);
 * s is NULL when the value was valid JSON but not a string. */
typedef struct jstr {
	const char *s;
	size_t n;
	json_t *j;
} jstr;

static ckptio_status perr(parser *p, const char *field, const char *problem)
{
	char path[64] = "";
	size_t n = 0;

	if (p->depth >= 1)
		n = (size_t)snprintf(path, sizeof(path), "items[%zu].", p->item);
	if (p->depth >= 2)
		snprintf(path + n, sizeof(path) - n, "chunks[%zu].", p->chunk);
	return ckptio__hc_error(p->hc, CKPTIO_ECORRUPT, "%s: %s%s: %s",
				p->what, path, field, problem);
}

/* A JSON syntax error at byte pos. */
static ckptio_status jerr(parser *p, size_t pos, const char *text)
{
	int line = 1, column = 1;

	for (size_t i = 0; i < pos && i < p->len; i++) {
		if (p->buf[i] == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)p->buf[i] & 0xc0) != 0x80) {
			column++; /* characters, not UTF-8 bytes */
		}
	}
	return ckptio__hc_error(p->hc, CKPTIO_ECORRUPT,
				"%s: malformed JSON at line %d column %d: %s",
				p->what, line, column, text);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next byte that is not white space, or -1 at the end. */
static int peek(parser *p)
{
	while (p->pos < p->len && is_space(p->buf[p->pos]))
		p->pos++;
	return p->pos < p->len ? (unsigned char)p->buf[p->pos] : -1;
}

/* Where the value at pos ends, trusting it (whoever reads it checks it):
 * strings and brackets are matched, a scalar runs to a delimiter. */
static size_t value_end(const parser *p, size_t pos)
{
	size_t depth = 0;
	int str = 0;

	for (size_t i = pos; i < p->len; i++) {
		char c = p->buf[i];

		if (str) {
			if (c == '\\') {
				i++;
			} else if (c == '"') {
				str = 0;
				if (depth == 0)
					return i + 1;
			}
		} else if (c == '"') {
			str = 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return i;
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 && (c == ',' || c == ':' || is_space(c))) {
			return i;
		}
	}
	return p->len;
}

static ckptio_status skip_value(parser *p);

/* A scalar, by jansson, and move past it. */
static ckptio_status load_value(parser *p, json_t **out)
{
	json_error_t e;
	size_t start, end;

	peek(p);
	start = p->pos;
	end = value_end(p, start);
	*out = json_loadb(p->buf + start, end - start, JSON_DECODE_ANY, &e);
	if (!*out)
		return jerr(p, start + (e.position > 0 ? (size_t)e.position : 0),
			    e.text);
	p->pos = end;
	return CKPTIO_OK;
}

/* Containers are checked without building them (jansson would build a
 * tree as large as any hostile value). */
static int is_container(parser *p)
{
	int c = peek(p);

	return c == '{' || c == '[';
}

static ckptio_status read_string(parser *p, jstr *out)
{
	ckptio_status st;

	*out = (jstr){0};
	if (is_container(p))
		return skip_value(p);
	if (peek(p) == '"')
		for (size_t i = p->pos + 1; i < p->len; i++) {
			unsigned char c = (unsigned char)p->buf[i];

			if (c == '"') {
				out->s = p->buf + p->pos + 1;
				out->n = i - p->pos - 1;
				p->pos = i + 1;
				return CKPTIO_OK;
			}
			if (c < 0x20 || c > 0x7e || c == '\\')
				break;
		}
	if ((st = load_value(p, &out->j)) != CKPTIO_OK)
		return st;
	if (json_is_string(out->j)) {
		out->s = json_string_value(out->j);
		out->n = json_string_length(out->j);
	}
	return CKPTIO_OK;
}

/* *ok = 0 when the value is valid but not an integer. */
static ckptio_status read_int(parser *p, json_int_t *v, int *ok)
{
	const char *b = p->buf;
	size_t i, d;
	uint64_t x = 0;
	json_t *j;
	ckptio_status st;

	*ok = 0;
	*v = 0;
	if (is_container(p))
		return skip_value(p);
	i = p->pos + (p->pos < p->len && b[p->pos] == '-');
	for (d = i; i < p->len && i - d < 19 && b[i] >= '0' && b[i] <= '9'; i++)
		x = x * 10 + (uint64_t)(b[i] - '0');
	if (i > d && i - d <= 18 && (b[d] != '0' || i - d == 1) &&
	    (i == p->len || is_space(b[i]) || b[i] == ',' || b[i] == ']' ||
	     b[i] == '}')) {
		*v = b[p->pos] == '-' ? -(json_int_t)x : (json_int_t)x;
		*ok = 1;
		p->pos = i;
		return CKPTIO_OK;
	}
	if ((st = load_value(p, &j)) != CKPTIO_OK)
		return st;
	*ok = json_is_integer(j);
	*v = *ok ? json_integer_value(j) : 0;
	json_decref(j);
	return CKPTIO_OK;
}

static int jstr_is(const jstr *s, const char *text)
{
	return s->s && strncmp(s->s, text, s->n) == 0 && text[s->n] == '\0';
}

/* The string as a C string, valid until the next call (jansson's strings
 * hold no NUL: \u0000 is refused). */
static const char *cstr(parser *p, const jstr *s)
{
	char *b;

	if (s->j)
		return s->s;
	if (s->n >= p->scap) {
		if (!(b = realloc(p->scratch, s->n + 1)))
			return NULL;
		p->scratch = b;
		p->scap = s->n + 1;
	}
	memcpy(p->scratch, s->s, s->n);
	p->scratch[s->n] = '\0';
	return p->scratch;
}

/* A member's key and its colon. */
static ckptio_status read_key(parser *p, jstr *key)
{
	ckptio_status st;

	*key = (jstr){0};
	if (peek(p) != '"')
		return jerr(p, p->pos, "string or '}' expected");
	st = read_string(p, key);
	if (st == CKPTIO_OK && peek(p) != ':')
		st = jerr(p, p->pos, "':' expected");
	if (st != CKPTIO_OK) {
		json_decref(key->j);
		return st;
	}
	p->pos++;
	return CKPTIO_OK;
}

/* Step through an object (after its '{') or array (after its '['): *n
 * counts the members read; *done is set at the closing bracket. */
static ckptio_status next_in(parser *p, char close, size_t *n, int *done)
{
	int c = peek(p);

	*done = c == close;
	if (*done) {
		p->pos++;
		return CKPTIO_OK;
	}
	if (*n > 0 && c != ',')
		return jerr(p, p->pos, close == '}' ? "',' or '}' expected"
						    : "',' or ']' expected");
	p->pos += *n > 0;
	(*n)++;
	return CKPTIO_OK;
}

/* Check the value at p->pos and move past it, building nothing. */
static ckptio_status skip_value(parser *p)
{
	char close[JSON_DEPTH];
	size_t depth = 0;
	jstr s;
	json_int_t v;
	int c, ok;
	ckptio_status st = CKPTIO_OK;

	for (;;) {
		c = peek(p);
		if (c == '{' || c == '[') {
			if (depth == JSON_DEPTH)
				return jerr(p, p->pos,
					    "maximum parsing depth reached");
			close[depth++] = c == '{' ? '}' : ']';
			p->pos++;
			if (peek(p) != close[depth - 1]) {
				if (c == '{' && (st = read_key(p, &s)) == CKPTIO_OK)
					json_decref(s.j);
				if (st != CKPTIO_OK)
					return st;
				continue; /* to the first member */
			}
			p->pos++;
			depth--;
		} else if (c == '"') {
			if ((st = read_string(p, &s)) != CKPTIO_OK)
				return st;
			json_decref(s.j);
		} else if ((st = read_int(p, &v, &ok)) != CKPTIO_OK) {
			return st; /* any other scalar, by jansson */
		}
		/* A value ended: close what ends with it, go to the next. */
		for (;;) {
			if (depth == 0)
				return CKPTIO_OK;
			c = peek(p);
			if (c != close[depth - 1])
				break;
			p->pos++;
			depth--;
		}
		if (c != ',')
			return jerr(p, p->pos, close[depth - 1] == '}'
						       ? "',' or '}' expected"
						       : "',' or ']' expected");
		p->pos++;
		if (close[depth - 1] == '}' && (st = read_key(p, &s)) == CKPTIO_OK)
			json_decref(s.j);
		if (st != CKPTIO_OK)
			return st;
	}
}

/* A value of the wrong type: a JSON error if it is not valid JSON,
 * else the problem. */
static ckptio_status not_a(parser *p, const char *field, const char *problem)
{
	ckptio_status st = skip_value(p);

	return st != CKPTIO_OK ? st : perr(p, field, problem);
}

/* A value passed over, to be read later. */
typedef struct span {
	size_t start, end;
} span;

static void defer(parser *p, span *s)
{
	peek(p);
	s->start = p->pos;
	s->end = p->pos = value_end(p, s->start);
}

/* After reading a deferred value: it ends where the first pass said
 * (always, for valid JSON). */
static ckptio_status ended(parser *p, const span *s, ckptio_status st)
{
	if (st == CKPTIO_OK && p->pos != s->end)
		st = jerr(p, p->pos, "',' or end of value expected");
	p->pos = s->end;
	return st;
}

static ckptio_status get_u64(parser *p, const char *field, uint64_t *out)
{
	json_int_t v;
	int ok;
	ckptio_status st = read_int(p, &v, &ok);

	if (st == CKPTIO_OK && (!ok || v < 0))
		st = perr(p, field, "expected a non-negative integer");
	*out = (uint64_t)v;
	return st;
}

/* Non-negative integers: exactly `want`, or up to CKPTIO_MAX_NDIM when
 * want is -1, their count in *n. */
static ckptio_status get_dims(parser *p, const char *field, int want,
			      uint64_t *out, unsigned *n)
{
	const char *bad = want < 0 ? "expected an array of at most 32 integers"
				   : "expected an array of one integer per "
				     "dimension";
	size_t k = 0, max = want < 0 ? CKPTIO_MAX_NDIM : (size_t)want;
	json_int_t v;
	int ok, done;
	ckptio_status st;

	if (peek(p) != '[')
		return not_a(p, field, bad);
	p->pos++;
	for (;;) {
		if ((st = next_in(p, ']', &k, &done)) != CKPTIO_OK)
			return st;
		if (done)
			break;
		if (k > max)
			return perr(p, field, bad);
		if ((st = read_int(p, &v, &ok)) != CKPTIO_OK)
			return st;
		if (!ok || v < 0)
			return perr(p, field, "expected non-negative integers");
		out[k - 1] = (uint64_t)v;
	}
	if (want >= 0 && k != (size_t)want)
		return perr(p, field, bad);
	*n = (unsigned)k;
	return CKPTIO_OK;
}

/* The index of key in names (NULL-terminated), or -1.  A key seen before
 * (its bit in *seen) is an error. */
static ckptio_status which_key(parser *p, size_t at, const jstr *key,
			       const char *const *names, unsigned *seen,
			       int *which)
{
	*which = -1;
	for (int i = 0; names[i]; i++)
		if (jstr_is(key, names[i])) {
			if (*seen & 1u << i)
				return jerr(p, at, "duplicate object key");
			*seen |= 1u << i;
			*which = i;
			break;
		}
	return CKPTIO_OK;
}

/* Step through an object's members (after its '{'): *which is the key's
 * index in names (-1: unknown), *done is set at the closing '}'. */
static ckptio_status next_member(parser *p, size_t *n,
				 const char *const *names, unsigned *seen,
				 int *which, int *done)
{
	jstr key;
	size_t at;
	ckptio_status st = next_in(p, '}', n, done);

	if (st != CKPTIO_OK || *done)
		return st;
	peek(p);
	at = p->pos;
	if ((st = read_key(p, &key)) != CKPTIO_OK)
		return st;
	st = which_key(p, at, &key, names, seen, which);
	json_decref(key.j);
	return st;
}

enum { C_OBJECT, C_OFFSET, C_LENGTH, C_CRC, C_OFFSETS, C_SHAPE };
static const char *const chunk_keys[] = {"object", "offset", "length",
					 "crc32c", "offsets", "shape", NULL};

static ckptio_status parse_chunk(parser *p, ckptio_metadata *md, size_t idx)
{
	const ckptio_item_meta *it = &md->items[idx];
	uint64_t offsets[CKPTIO_MAX_NDIM] = {0}, shape[CKPTIO_MAX_NDIM] = {0};
	uint64_t off = 0, len = 0, crc = 0;
	jstr obj = {0};
	const char *object;
	unsigned seen = 0, nd;
	size_t n = 0;
	int which, done;
	ckptio_status st;

	if (peek(p) != '{')
		return not_a(p, "chunk", "expected an object");
	p->pos++;
	for (;;) {
		st = next_member(p, &n, chunk_keys, &seen, &which, &done);
		if (st != CKPTIO_OK || done)
			break;
		if (which == C_OBJECT)
			st = read_string(p, &obj);
		else if (which == C_OFFSET)
			st = get_u64(p, "offset", &off);
		else if (which == C_LENGTH)
			st = get_u64(p, "length", &len);
		else if (which == C_CRC)
			st = get_u64(p, "crc32c", &crc);
		else if (which == C_OFFSETS && it->kind == CKPTIO_ITEM_TENSOR)
			st = get_dims(p, "offsets", (int)it->ndim, offsets, &nd);
		else if (which == C_SHAPE && it->kind == CKPTIO_ITEM_TENSOR)
			st = get_dims(p, "shape", (int)it->ndim, shape, &nd);
		else
			st = skip_value(p);
		if (st != CKPTIO_OK)
			break;
	}
	if (st == CKPTIO_OK && !obj.s)
		st = perr(p, "object", "expected a string");
	else if (st == CKPTIO_OK && !(seen & 1u << C_OFFSET))
		st = perr(p, "offset", "missing");
	else if (st == CKPTIO_OK && !(seen & 1u << C_LENGTH))
		st = perr(p, "length", "missing");
	else if (st == CKPTIO_OK && crc > UINT32_MAX)
		st = perr(p, "crc32c", "larger than 32 bits");
	else if (st == CKPTIO_OK && it->kind == CKPTIO_ITEM_TENSOR &&
		 (seen & 3u << C_OFFSETS) != 3u << C_OFFSETS)
		st = perr(p, seen & 1u << C_OFFSETS ? "shape" : "offsets",
			  "expected an array of one integer per dimension");
	if (st == CKPTIO_OK && !(object = cstr(p, &obj)))
		st = ckptio__hc_error(p->hc, CKPTIO_ENOMEM, "out of memory");
	if (st == CKPTIO_OK)
		st = ckptio__md_add_chunk(p->hc, md, idx, offsets, shape,
					  object, off, len,
					  (seen & 1u << C_CRC) != 0,
					  (uint32_t)crc);
	json_decref(obj.j);
	return st;
}

/* The chunks array at p->pos. */
static ckptio_status parse_chunks(parser *p, ckptio_metadata *md, size_t idx)
{
	size_t n = 0;
	int done;
	ckptio_status st;

	if (peek(p) != '[')
		return not_a(p, "chunks", "expected an array");
	p->pos++;
	for (;;) {
		if ((st = next_in(p, ']', &n, &done)) != CKPTIO_OK || done)
			break;
		p->chunk = n - 1;
		p->depth = 2;
		if ((st = parse_chunk(p, md, idx)) != CKPTIO_OK)
			return st;
		p->depth = 1;
	}
	return st;
}

enum { I_NAME, I_KIND, I_DTYPE, I_SHAPE, I_CHUNKS };
static const char *const item_keys[] = {"name", "kind", "dtype", "shape",
					"chunks", NULL};

/* An item being read: what the first pass over its members found. */
typedef struct item {
	jstr name, kind, dtype;
	span at[I_CHUNKS + 1]; /* shape and chunks, passed over */
	unsigned seen, deferred;
} item;

/* Enough is known to add the item and read its chunks. */
static int item_known(const item *it)
{
	return (it->seen & 3u << I_NAME) == 3u << I_NAME &&
	       (jstr_is(&it->kind, "bytes") ||
		(it->seen & 3u << I_DTYPE) == 3u << I_DTYPE);
}

/* Check the item's header, in this order, and add it. */
static ckptio_status add_item(parser *p, ckptio_metadata *md, const item *it,
			      size_t *idx)
{
	uint64_t shape[CKPTIO_MAX_NDIM] = {0};
	char dtype[16] = "";
	size_t back = p->pos;
	unsigned ndim = 0;
	int tensor = jstr_is(&it->kind, "tensor");
	ckptio_dtype dt;
	const char *name;
	ckptio_status st;

	if (tensor && it->dtype.s && it->dtype.n < sizeof(dtype))
		memcpy(dtype, it->dtype.s, it->dtype.n);
	dt = tensor ? ckptio_dtype_from_name(dtype) : CKPTIO_DTYPE_INVALID;
	if (!it->name.s)
		return perr(p, "name", "expected a string");
	if (!tensor && !jstr_is(&it->kind, "bytes"))
		return perr(p, "kind", "expected \"tensor\" or \"bytes\"");
	if (tensor && dt == CKPTIO_DTYPE_INVALID)
		return perr(p, "dtype", "unknown dtype");
	if (tensor && !(it->seen & 1u << I_SHAPE))
		return perr(p, "shape", "expected an array of at most 32 "
					"integers");
	/* A bytes item has no shape, but what is there must be JSON. */
	if (it->deferred & 1u << I_SHAPE) {
		p->pos = it->at[I_SHAPE].start;
		st = ended(p, &it->at[I_SHAPE],
			   tensor ? get_dims(p, "shape", -1, shape, &ndim)
				  : skip_value(p));
		p->pos = back;
		if (st != CKPTIO_OK)
			return st;
	}
	if (!(name = cstr(p, &it->name)))
		return ckptio__hc_error(p->hc, CKPTIO_ENOMEM, "out of memory");
	return ckptio__md_add_item(p->hc, md, name,
				   tensor ? CKPTIO_ITEM_TENSOR
					  : CKPTIO_ITEM_BYTES,
				   dt, ndim, shape, idx);
}

static ckptio_status parse_item(parser *p, ckptio_metadata *md)
{
	item it = {0};
	size_t n = 0, idx = 0, end;
	int which, done, added = 0;
	ckptio_status st;

	if (peek(p) != '{')
		return not_a(p, "item", "expected an object");
	p->pos++;
	for (;;) {
		st = next_member(p, &n, item_keys, &it.seen, &which, &done);
		if (st != CKPTIO_OK || done)
			break;
		if (which == I_NAME)
			st = read_string(p, &it.name);
		else if (which == I_KIND)
			st = read_string(p, &it.kind);
		else if (which == I_DTYPE)
			st = read_string(p, &it.dtype);
		else if (which == I_CHUNKS && item_known(&it)) {
			/* The usual order: read the chunks in place. */
			if ((st = add_item(p, md, &it, &idx)) == CKPTIO_OK)
				st = parse_chunks(p, md, idx);
			added = 1;
		} else if (which == I_SHAPE && jstr_is(&it.kind, "bytes")) {
			st = skip_value(p);
		} else if (which >= 0) {
			defer(p, &it.at[which]);
			it.deferred |= 1u << which;
		} else {
			st = skip_value(p);
		}
		if (st != CKPTIO_OK)
			break;
	}
	if (st == CKPTIO_OK && !added) {
		end = p->pos;
		st = add_item(p, md, &it, &idx);
		if (st == CKPTIO_OK && !(it.seen & 1u << I_CHUNKS))
			st = perr(p, "chunks", "expected an array");
		if (st == CKPTIO_OK) {
			p->pos = it.at[I_CHUNKS].start;
			st = ended(p, &it.at[I_CHUNKS], parse_chunks(p, md, idx));
		}
		p->pos = end;
	}
	json_decref(it.name.j);
	json_decref(it.kind.j);
	json_decref(it.dtype.j);
	return st;
}

static ckptio_status parse_items(parser *p, ckptio_metadata *md)
{
	size_t n = 0;
	int done;
	ckptio_status st;

	if (peek(p) != '[')
		return not_a(p, "items", "expected an array");
	p->pos++;
	for (;;) {
		if ((st = next_in(p, ']', &n, &done)) != CKPTIO_OK || done)
			break;
		p->item = n - 1;
		p->depth = 1;
		if ((st = parse_item(p, md)) != CKPTIO_OK)
			return st;
	}
	p->depth = 0;
	return st;
}

static ckptio_status parse_attrs(parser *p, ckptio_metadata *md)
{
	size_t n = 0;
	jstr key, value;
	const char *v = NULL;
	char *k;
	int done;
	ckptio_status st;

	if (peek(p) != '{')
		return not_a(p, "attrs", "expected an object of strings");
	p->pos++;
	for (;;) {
		if ((st = next_in(p, '}', &n, &done)) != CKPTIO_OK || done)
			break;
		if ((st = read_key(p, &key)) != CKPTIO_OK)
			return st;
		k = strndup(key.s, key.n);
		json_decref(key.j);
		st = read_string(p, &value);
		if (st == CKPTIO_OK && !value.s)
			st = perr(p, "attrs", "expected string values");
		if (st == CKPTIO_OK && (!k || !(v = cstr(p, &value))))
			st = ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
					      "out of memory");
		if (st == CKPTIO_OK)
			st = attr_append(p->hc, IMPL(md), k, v);
		free(k);
		json_decref(value.j);
		if (st != CKPTIO_OK)
			return st;
	}
	return st != CKPTIO_OK ? st : attrs_sort(p->hc, IMPL(md), p->what);
}

enum { R_FORMAT, R_VERSION, R_LAYOUT, R_WORLD, R_ATTRS, R_ITEMS };
static const char *const root_keys[] = {"format", "version", "layout",
					"world", "attrs", "items", NULL};

#define R_HEADER (1u << R_FORMAT | 1u << R_VERSION | 1u << R_WORLD)

/* The root object: its scalars, the members passed over, and the metadata
 * once the header is known. */
typedef struct root {
	jstr format, layout;
	json_int_t version, world;
	int version_ok, world_ok;
	span at[R_ITEMS + 1];
	unsigned seen, deferred;
	ckptio_metadata *md;
} root;

/* Check the header, in this order (a newer version is said so before its
 * items are read), and make the metadata. */
static ckptio_status root_open(parser *p, root *r)
{
	ckptio_status st;

	if (r->md)
		return CKPTIO_OK;
	if (!jstr_is(&r->format, "ckptio"))
		return perr(p, "format", "expected \"ckptio\"");
	if (!r->version_ok || r->version < 1)
		return perr(p, "version", "expected a positive integer");
	if (r->version > CKPTIO__MD_VERSION)
		return ckptio__hc_error(p->hc, CKPTIO_EUNSUPPORTED,
					"%s: metadata version %lld is newer "
					"than this ckptio understands (%d)",
					p->what, (long long)r->version,
					CKPTIO__MD_VERSION);
	if (!r->world_ok || r->world < 1 || r->world > (1 << 24))
		return perr(p, "world", "expected a positive integer");
	if ((st = ckptio__md_new(p->hc, "native", &r->md)) == CKPTIO_OK)
		r->md->world = (int)r->world;
	return st;
}

/* "attrs" or "items" at p->pos. */
static ckptio_status root_member(parser *p, root *r, int which)
{
	ckptio_status st = root_open(p, r);

	if (st != CKPTIO_OK)
		return st;
	return which == R_ATTRS ? parse_attrs(p, r->md) : parse_items(p, r->md);
}

/* The first pass: the header's scalars, and attrs and items too when
 * they follow it (as written), else passed over. */
static ckptio_status parse_top(parser *p, root *r)
{
	size_t n = 0;
	int which, done, c = peek(p);
	ckptio_status st;

	if (c < 0)
		return jerr(p, p->pos, "'{' expected near end of file");
	if (c != '{')
		return not_a(p, "(top)", "expected a JSON object");
	p->pos++;
	for (;;) {
		st = next_member(p, &n, root_keys, &r->seen, &which, &done);
		if (st != CKPTIO_OK || done)
			break;
		if (which == R_FORMAT)
			st = read_string(p, &r->format);
		else if (which == R_VERSION)
			st = read_int(p, &r->version, &r->version_ok);
		else if (which == R_LAYOUT)
			st = read_string(p, &r->layout);
		else if (which == R_WORLD)
			st = read_int(p, &r->world, &r->world_ok);
		else if (which >= 0 && (r->seen & R_HEADER) == R_HEADER)
			st = root_member(p, r, which);
		else if (which >= 0) {
			defer(p, &r->at[which]);
			r->deferred |= 1u << which;
		} else {
			st = skip_value(p);
		}
		if (st != CKPTIO_OK)
			return st;
	}
	if (st == CKPTIO_OK && peek(p) >= 0)
		st = jerr(p, p->pos, "end of file expected");
	return st;
}

static ckptio_status parse_doc(parser *p, ckptio_metadata **out)
{
	root r = {0};
	const char *layout;
	char *copy;
	ckptio_status st = parse_top(p, &r);

	if (st == CKPTIO_OK)
		st = root_open(p, &r);
	for (int w = R_ATTRS; w <= R_ITEMS && st == CKPTIO_OK; w++)
		if (r.deferred & 1u << w) {
			p->pos = r.at[w].start;
			st = ended(p, &r.at[w], root_member(p, &r, w));
		}
	if (st == CKPTIO_OK && !(r.seen & 1u << R_ITEMS))
		st = perr(p, "items", "expected an array");
	if (st == CKPTIO_OK && r.layout.s) {
		if (!(layout = cstr(p, &r.layout)) || !(copy = strdup(layout)))
			st = ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
					      "out of memory");
		else {
			free((void *)r.md->layout);
			r.md->layout = copy;
		}
	}
	json_decref(r.format.j);
	json_decref(r.layout.j);
	*out = r.md;
	return st;
}

ckptio_status ckptio__md_from_json(ckptio_host_ctx *hc, const char *what,
				   const char *buf, size_t len,
				   ckptio_metadata **out)
{
	parser p = {.hc = hc, .what = what, .buf = buf, .len = len};
	ckptio_metadata *md = NULL;
	ckptio_status st = parse_doc(&p, &md);

	free(p.scratch);
	if (st == CKPTIO_OK)
		st = ckptio__md_seal(hc, what, md);
	*out = NULL;
	if (st != CKPTIO_OK) {
		ckptio__md_free(md);
		/* Builder errors do not know the file: name it. */
		ckptio__hc_prefix(hc, what);
		return st;
	}
	*out = md;
	return CKPTIO_OK;
}
